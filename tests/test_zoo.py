"""The reference zoo: published sizes, the width/depth/resolution knobs, names, and fx tracing.

Parameters are ``sum(p.numel() for p in module.parameters())``; MACs are counted by the torch.fx
importer (conv/dense/matmul MACs, 0 for every other op). Each network is built and imported once
(``summary`` is cached) and only its summary is kept.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import math
import subprocess
import sys
from dataclasses import dataclass

import pytest
from torch import fx, nn

from cost_model.layer import OpKind
from partitioner import zoo
from partitioner.errors import CtxfitError, ModelNotFoundError, UsageError
from partitioner.graph import Network
from partitioner.importers.torch_fx import import_module
from partitioner.zoo import ZOO, build_module, resolve_name, yolo_blocks, zoo_names
from partitioner.zoo import resnet as resnet_zoo
from partitioner.zoo import vit as vit_zoo

HAILO_CSV_NETWORKS = (
    "mobilenet_v1",
    "mobilenet_v2_1.0",
    "mobilenet_v2_1.4",
    "regnetx_1.6gf",
    "regnetx_800mf",
    "resnet_v1_18",
    "resnet_v1_34",
    "resnet_v1_50",
    "resnext50_32x4d",
    "squeezenet_v1.1",
    "vit_base",
    "vit_small",
    "vit_tiny",
    "yolov5m",
    "yolov5s",
    "yolov8l",
    "yolov8m",
    "yolov8n",
    "yolov8s",
    "yolov8x",
)
YOLO11 = ("yolov11n", "yolov11s", "yolov11m", "yolov11l", "yolov11x")
CORE = HAILO_CSV_NETWORKS + YOLO11
"""The networks of ``partitioner/zoo/__init__.py``, tested here; those of the catalogs
(``catalog_*.py``) are tested in tests/test_zoo_{classification,detection,dense}.py."""


@dataclass(frozen=True)
class Summary:
    params: int  # sum of the module's parameter sizes
    net: Network  # the importer's layer graph
    leaf_modules: int  # Conv2d, ConvTranspose2d and Linear modules in the module
    traced_leaf_calls: int  # their calls in torch.fx.symbolic_trace's graph

    @property
    def matmul_macs(self) -> int:
        return sum(layer.macs for layer in self.net if layer.op is OpKind.MATMUL)

    def output_shapes(self) -> list[tuple[int, ...]]:
        return [self.net.layer(name).output_shape for name in self.net.outputs]

    def count(self, op: OpKind) -> int:
        return sum(layer.op is op for layer in self.net)


LEAVES = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)


@functools.cache
def summary(name: str, **knobs: float) -> Summary:
    module, shape = build_module(name, **knobs)
    assert not module.training
    traced = fx.symbolic_trace(module)
    calls = sum(
        node.op == "call_module" and isinstance(traced.get_submodule(node.target), LEAVES)
        for node in traced.graph.nodes
    )
    return Summary(
        params=sum(p.numel() for p in module.parameters()),
        net=import_module(module, shape, name=name),
        leaf_modules=sum(isinstance(m, LEAVES) for m in module.modules()),
        traced_leaf_calls=calls,
    )


def rel_err(value: int, reference: int) -> float:
    return abs(value - reference) / reference


@functools.cache
def hailo8_rows() -> dict[str, dict[str, str]]:
    """The Model Zoo table's Hailo-8 rows by network (the packaged copy), as CSV dicts."""
    from partitioner.zoo_scripts import zoo_rows

    return {row.network: row.fields for row in zoo_rows() if row.device == "hailo8"}


# -- published sizes ------------------------------------------------------------------------------

# Reference values that are not the zoo entry's own published number, with the reason.
PARAMS_REFERENCE = {
    # Hailo's table lists 21.12 M for vit_small; timm's vit_small_patch16_224, whose
    # architecture this is, has 22.05 M (model card: 22.1 M; derived by hand in
    # test_vit_matches_hand_count). The same table's vit_tiny and vit_base rows match timm
    # within 0.2%, so we keep timm's architecture.
    "vit_small": 22_100_000,
}
MACS_REFERENCE = {
    # Hailo's table lists 0.39 GMACs (0.78 GOPS); torchvision's squeezenet1_1 card gives 0.35
    # GMACs at 224x224. This network counts 0.388 G at 227x227 (the original Caffe input) or
    # with conv1 padded to 112x112 maps, so Hailo's figure was most likely taken that way.
    "squeezenet_v1.1": 350_000_000,
}
# Hailo's vit_tiny (1.10 GMACs) and vit_small (4.31) rows leave out the two attention matmuls
# (q k^T and attn v: 2 N^2 D MACs per block), as timm's model cards count them (vit_tiny:
# 1.1); its vit_base row (17.59) includes them. Those two rows are compared without them.
WITHOUT_ATTENTION_MATMULS = ("vit_tiny", "vit_small")


def test_zoo_holds_the_hailo_table_and_yolo11():
    from partitioner.zoo import catalog_classification, catalog_dense, catalog_detection

    catalogs = (catalog_classification, catalog_detection, catalog_dense)
    in_catalogs = [e.name for c in catalogs for e in c.ENTRIES]
    assert sorted(zoo_names()) == sorted(CORE + tuple(in_catalogs))
    assert zoo_names()[: len(CORE)] == sorted(CORE, key=zoo_names().index)
    assert list(ZOO) == zoo_names()
    assert {ZOO[n].task for n in HAILO_CSV_NETWORKS if n.startswith("yolo")} == {"object_detection"}
    # Published values: params_M and ops_G / 2 of the Hailo table, FLOPs / 2 of Ultralytics.
    assert ZOO["resnet_v1_50"].published_params == 25_530_000
    assert ZOO["resnet_v1_50"].published_macs == 3_490_000_000  # 6.98 GOPS
    assert ZOO["vit_base"].published_macs == 17_594_000_000  # 35.188 GOPS
    assert ZOO["yolov11n"].published_macs == 3_250_000_000  # 6.5 GFLOPs
    assert "Ultralytics" in ZOO["yolov11x"].source and "Hailo" in ZOO["yolov8x"].source


@pytest.mark.parametrize("name", CORE)
def test_params_match_published(name):
    s = summary(name)
    reference = PARAMS_REFERENCE.get(name, ZOO[name].published_params)
    assert rel_err(s.params, reference) <= 0.02, (s.params, reference)
    # The importer counts every parameter exactly once (batch norms fused into their convs).
    assert s.net.total_params == s.params


@pytest.mark.parametrize("name", CORE)
def test_macs_match_published(name):
    s = summary(name)
    macs = s.net.total_macs - (s.matmul_macs if name in WITHOUT_ATTENTION_MATMULS else 0)
    reference = MACS_REFERENCE.get(name, ZOO[name].published_macs)
    assert rel_err(macs, reference) <= 0.05, (macs, reference)


def test_resnet_v1_50_uses_the_tf_slim_stride_layout():
    # TF-slim strides the 3x3 conv of the LAST unit of stages 1-3 (shortcut: 1x1/2 max-pool);
    # torchvision's layout (stride in the first unit of stages 2-4) costs 4.09 GMACs instead.
    module, _ = build_module("resnet_v1_50")
    strides = [[b.conv2.conv.stride[0] for b in stage] for stage in (
        module.layer1, module.layer2, module.layer3, module.layer4)]  # fmt: skip
    assert strides == [[1, 1, 2], [1, 1, 1, 2], [1, 1, 1, 1, 1, 2], [1, 1, 1]]
    assert isinstance(module.layer1[2].shortcut, nn.MaxPool2d)
    assert rel_err(summary("resnet_v1_50").net.total_macs, 3_490_000_000) <= 0.005


@pytest.mark.parametrize(
    ("name", "dim"), [("vit_tiny", 192), ("vit_small", 384), ("vit_base", 768)]
)
def test_vit_matches_hand_count(name, dim):
    patches, blocks = (224 // 16) ** 2, 12
    tokens = patches + 1  # class token
    params = (
        3 * 16 * 16 * dim + dim  # patch conv, weight + bias
        + dim + tokens * dim  # class token, position embedding
        + blocks * (12 * dim * dim + 13 * dim)  # qkv, proj, fc1, fc2 (+ biases), 2 layer norms
        + 2 * dim  # final layer norm
        + 1000 * dim + 1000  # head
    )  # fmt: skip
    macs = (
        patches * 3 * 16 * 16 * dim  # patch conv
        + blocks * tokens * 12 * dim * dim  # qkv 3D^2, proj D^2, mlp 8D^2 per token
        + blocks * 2 * tokens * tokens * dim  # q k^T and attn v, all heads together
        + 1000 * dim  # head on the class token
    )
    s = summary(name)
    assert (s.params, s.net.total_macs) == (params, macs)
    assert s.matmul_macs == blocks * 2 * tokens * tokens * dim


# -- torch.fx and the outputs ---------------------------------------------------------------------


@pytest.mark.parametrize("name", CORE)
def test_every_model_traces_with_fx(name):
    s = summary(name)
    # symbolic_trace sees every Conv2d and Linear of the module, each called exactly once.
    assert s.traced_leaf_calls == s.leaf_modules > 0


@pytest.mark.parametrize(
    ("name", "shapes"),
    [
        ("resnet_v1_50", [(1000,)]),
        ("vit_base", [(1000,)]),
        # v5: one 1x1 conv per scale to 3 anchors x (4 box + 1 objectness + 80 classes).
        ("yolov5s", [(255, 80, 80), (255, 40, 40), (255, 20, 20)]),
        # v8/11: box (4 x 16 DFL bins) and class (80) maps per scale, cut before DFL.
        ("yolov8n", [(64, 80, 80), (80, 80, 80), (64, 40, 40), (80, 40, 40), (64, 20, 20),
                     (80, 20, 20)]),
        ("yolov11x", [(64, 80, 80), (80, 80, 80), (64, 40, 40), (80, 40, 40), (64, 20, 20),
                      (80, 20, 20)]),
    ],
)  # fmt: skip
def test_outputs_end_where_hailo_cuts(name, shapes):
    assert summary(name).output_shapes() == shapes


# -- knobs ----------------------------------------------------------------------------------------


def test_half_width_quarters_every_inner_conv_of_resnet18():
    full = summary("resnet_v1_18").net
    half = summary("resnet_v1_18", width=0.5).net
    assert [layer.name for layer in full] == [layer.name for layer in half]
    for layer in full:
        if layer.macs == 0:
            continue
        # Channels halve on both sides of every conv (MACs / 4), except the stem (3 input
        # channels stay 3) and the classifier (1000 outputs stay 1000): MACs / 2.
        divisor = 2 if layer.name in ("stem.conv", "head.fc") else 4
        assert half.layer(layer.name).macs * divisor == layer.macs, layer.name
    assert 0.25 < half.total_macs / full.total_macs < 0.27


def test_resolution_320_quarters_yolov8n():
    full, small = summary("yolov8n").net, summary("yolov8n", resolution=320).net
    assert small.total_macs * 4 == full.total_macs  # every map has half the side
    assert small.total_params == full.total_params


def test_resolution_320_on_yolo11n_quarters_all_but_attention():
    full, small = summary("yolov11n"), summary("yolov11n", resolution=320)
    convs = full.net.total_macs - full.matmul_macs
    # Conv MACs scale with H x W (/ 4); the PSA attention matmuls with (H x W)^2 (/ 16).
    assert 16 * small.net.total_macs == 4 * convs + full.matmul_macs
    assert full.matmul_macs > 0


def test_vit_resolution_changes_the_position_embedding():
    module, shape = build_module("vit_tiny", resolution=384)
    assert shape == (1, 3, 384, 384)
    assert tuple(module.pos_embed.shape) == (1, (384 // 16) ** 2 + 1, 192)
    extra_tokens = (384 // 16) ** 2 - (224 // 16) ** 2
    params = sum(p.numel() for p in module.parameters())
    assert params == summary("vit_tiny").params + extra_tokens * 192


def _count(module: nn.Module, kind: type) -> int:
    return sum(isinstance(m, kind) for m in module.modules())


def test_depth_changes_the_block_count():
    # ResNet-50 (3, 4, 6, 3) units at depth 0.5: round-half-up gives (2, 2, 3, 2).
    assert _count(build_module("resnet_v1_50")[0], resnet_zoo.Bottleneck) == 16
    assert _count(build_module("resnet_v1_50", depth=0.5)[0], resnet_zoo.Bottleneck) == 9
    # YOLOv8n: C2f repeats (3, 6, 6, 3, 3, 3, 3, 3) x 0.33 -> (1, 2, 2, 1, 1, 1, 1, 1) = 10
    # bottlenecks; depth 2 makes the gain 0.66 -> (2, 4, 4, 2, 2, 2, 2, 2) = 20.
    assert _count(build_module("yolov8n")[0], yolo_blocks.Bottleneck) == 10
    assert _count(build_module("yolov8n", depth=2.0)[0], yolo_blocks.Bottleneck) == 20
    assert _count(build_module("vit_base", depth=0.5)[0], vit_zoo.Block) == 6


@pytest.mark.parametrize(
    ("small", "knobs", "large"),
    [
        # The knobs multiply the network's own gains: yolov8n's width gain 0.25 x 2 is
        # yolov8s's 0.5 (same depth gain and channel cap); likewise YOLO11 n -> s and
        # MobileNetV2 alpha 1.0 x 1.4.
        ("yolov8n", {"width": 2.0}, "yolov8s"),
        ("yolov11n", {"width": 2.0}, "yolov11s"),
        ("mobilenet_v2_1.0", {"width": 1.4}, "mobilenet_v2_1.4"),
    ],
)
def test_width_multiplier_reaches_the_larger_sibling(small, knobs, large):
    module, _ = build_module(small, **knobs)
    assert sum(p.numel() for p in module.parameters()) == summary(large).params


@pytest.mark.parametrize(
    ("name", "knobs", "fragment"),
    [
        ("mobilenet_v1", {"depth": 2.0}, "model 'mobilenet_v1' has no depth knob"),
        ("squeezenet", {"depth": 0.5}, "its knobs are width, resolution"),
        ("resnet50", {"width": 0.0}, "width 0.0 for model 'resnet_v1_50' is out of range"),
        ("resnet50", {"width": -1.0}, "use a multiplier in (0, 4]"),
        ("resnet50", {"depth": math.nan}, "use a multiplier in (0, 4]"),
        ("yolov8n", {"depth": 5.0}, "use a multiplier in (0, 4]"),
        ("yolov8n", {"resolution": 650}, "use a multiple of 32 between 32 and 2048"),
        ("yolov8n", {"resolution": 4096}, "use a multiple of 32 between 32 and 2048"),
        ("vit_base", {"resolution": 200}, "use a multiple of 16 between 16 and 2048"),
        ("vit_base", {"resolution": 0}, "resolution 0 for model 'vit_base' is not accepted"),
    ],
)
def test_bad_knobs_are_usage_errors(name, knobs, fragment):
    with pytest.raises(UsageError) as err:
        build_module(name, **knobs)
    assert fragment in str(err.value)
    assert isinstance(err.value, CtxfitError)


@pytest.mark.parametrize("name", zoo_names())
def test_builders_declare_exactly_the_listed_knobs(name):
    # A knob listed in ZooEntry.knobs must reach the builder (and no other knob); resolution
    # only changes a ViT's parameters (its position embedding), so only ViT builders take it.
    module_name, function_name, _ = zoo._RECIPES[name]
    build = getattr(importlib.import_module(f"partitioner.zoo.{module_name}"), function_name)
    declared = set(inspect.signature(build).parameters) & {"width", "depth", "resolution"}
    if name in CORE:
        expected = set(ZOO[name].knobs) - ({"resolution"} if ZOO[name].family != "vit" else set())
        assert declared == expected
    else:  # the catalogs' builders may take the resolution as input_hw instead
        assert set(ZOO[name].knobs) - {"resolution"} <= declared <= set(ZOO[name].knobs)


def test_listing_the_zoo_does_not_import_torch():
    code = (
        "import sys, partitioner.zoo as z; z.resolve_name('yolo11n'); print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_default_input_shapes():
    assert build_module("yolov8n", resolution=320)[1] == (1, 3, 320, 320)
    assert ZOO["yolov5s"].input_chw == (3, 640, 640)
    assert ZOO["mobilenet_v1"].input_chw == (3, 224, 224)
    assert ZOO["mobilenet_v1"].knobs == ("width", "resolution")


# -- names ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("alias", "name"),
    [
        ("resnet50", "resnet_v1_50"),
        ("ResNet-18", "resnet_v1_18"),
        ("mobilenet_v2", "mobilenet_v2_1.0"),
        ("YOLO11n", "yolov11n"),
        ("yolo11x", "yolov11x"),
        ("yolov8m", "yolov8m"),
        ("squeezenet1_1", "squeezenet_v1.1"),
        ("vit_base_patch16_224", "vit_base"),
        ("regnet_x_1_6gf", "regnetx_1.6gf"),
        (" resnext50 ", "resnext50_32x4d"),
    ],
)
def test_aliases_resolve(alias, name):
    assert resolve_name(alias).name == name


def test_every_alias_is_unique_and_resolves_to_its_entry():
    seen = set()
    for entry in ZOO.values():
        for key in (entry.name, *entry.aliases):
            assert key.lower() not in seen
            seen.add(key.lower())
            assert resolve_name(key.upper()) is entry


def test_unknown_name_suggests_close_names():
    with pytest.raises(ModelNotFoundError) as err:
        resolve_name("yolov8q")
    assert str(err.value) == (
        "unknown model 'yolov8q'; did you mean 'yolov8n', 'yolov8s', 'yolov8m'? "
        "Run `ctxfit zoo` for the list"
    )
    with pytest.raises(ModelNotFoundError) as err:
        build_module("resnet51")
    assert "did you mean" in str(err.value) and "'resnet_v1_50'" in str(err.value)


def test_unknown_name_without_close_match():
    with pytest.raises(ModelNotFoundError) as err:
        resolve_name("bert")
    assert str(err.value) == "unknown model 'bert'. Run `ctxfit zoo` for the list"
