"""The Model Zoo's classification networks of ``catalog_classification``: published sizes,
tracing, where the graph ends, the knobs, and ONNX parity.

Parameters are ``sum(p.numel() for p in module.parameters())``; MACs are counted by the torch.fx
importer. Each network is built and imported once (``summary`` is cached). The published values
are the hailo8 rows of ``partitioner/data/model_zoo_v2.18.csv`` (``ops_G`` = 2 x MACs).
"""

from __future__ import annotations

import os
from collections import Counter

import pytest
import torch
from torch import nn

from cost_model.layer import OpKind
from partitioner.graph import Network
from partitioner.importers.torch_fx import import_module
from partitioner.zoo import ZOO, build_module, catalog_classification, resolve_name
from partitioner.zoo import efficientnet as effnet
from partitioner.zoo import hardnet as hardnet_zoo
from partitioner.zoo import inception as inception_zoo
from partitioner.zoo import levit as levit_zoo
from partitioner.zoo import mobilenet_v3 as mbv3
from partitioner.zoo import resnet as resnet_zoo
from partitioner.zoo import vit_bn as vit_bn_zoo
from tests.test_zoo import hailo8_rows, rel_err, summary

NETWORKS = (
    "mobilenet_v3",
    "efficientnet_lite0",
    "efficientnet_lite1",
    "efficientnet_lite2",
    "efficientnet_lite3",
    "efficientnet_lite4",
    "efficientnet_s",
    "efficientnet_m",
    "efficientnet_l",
    "inception_v1",
    "resnext26_32x4d",
    "repvgg_a1",
    "repvgg_a2",
    "hardnet68",
    "hardnet39ds",
    "vit_tiny_bn",
    "vit_small_bn",
    "vit_base_bn",
    "levit128",
    "levit192",
    "levit256",
    "levit384",
    "resmlp12_relu",
)
TOLERANCE = 0.03


# -- the catalog against the Model Zoo table -------------------------------------------------------
def test_catalog_lists_the_networks_in_order():
    assert [entry.name for entry in catalog_classification.ENTRIES] == list(NETWORKS)
    assert set(catalog_classification.RECIPES) == set(NETWORKS)


@pytest.mark.parametrize("name", NETWORKS)
def test_entry_is_the_hailo8_row(name):
    row, entry = hailo8_rows()[name], ZOO[name]
    h, w, c = (int(v) for v in row["input_hwc"].split("x"))
    assert entry.input_chw == (c, h, w)
    assert entry.task == row["task"] == "classification"
    assert entry.source_family == row["source_family"]
    assert entry.published_params == round(float(row["params_M"]) * 1e6)
    assert entry.published_macs == round(float(row["ops_G"]) * 1e9 / 2)
    # the default input is accepted by the knob checks (260 and 300 are no multiples of 32)
    assert build_module(name, resolution=h)[1] == (1, c, h, w)


# -- published sizes -------------------------------------------------------------------------------
# Reference values that are not the row's own, with the reason.
PARAMS_REFERENCE = {
    # The vit_*_bn rows repeat the vit_* rows; Hailo's vit_small row lists 21.12 M where timm's
    # vit_small_patch16_224 has 22.05 M (test_zoo.py explains it). A batch norm has the same
    # parameters as the layer norm it replaces, so the reference is timm's count.
    "vit_small_bn": 22_100_000,
}
# As their vit_tiny and vit_small rows, Hailo's vit_tiny_bn and vit_small_bn rows leave out the
# two attention matmuls (2 N^2 D MACs per block), its vit_base_bn row includes them.
WITHOUT_ATTENTION_MATMULS = ("vit_tiny_bn", "vit_small_bn")


@pytest.mark.parametrize("name", NETWORKS)
def test_params_match_published(name):
    s = summary(name)
    reference = PARAMS_REFERENCE.get(name, ZOO[name].published_params)
    assert rel_err(s.params, reference) <= TOLERANCE, s.params
    # the importer counts every parameter once (batch norms fused into their convs)
    assert s.net.total_params == s.params


@pytest.mark.parametrize("name", NETWORKS)
def test_macs_match_published(name):
    s = summary(name)
    macs = s.net.total_macs - (s.matmul_macs if name in WITHOUT_ATTENTION_MATMULS else 0)
    assert rel_err(macs, ZOO[name].published_macs) <= TOLERANCE, macs


def test_efficientnet_lite0_matches_hand_count():
    # B0's table without SE: per block (c_in, c_mid, c_out, k, output side); 1x1 expansion
    # (absent when c_mid == c_in), kxk depthwise, 1x1 projection.
    table = [
        (32, 32, 16, 3, 112), (16, 96, 24, 3, 56), (24, 144, 24, 3, 56),
        (24, 144, 40, 5, 28), (40, 240, 40, 5, 28), (40, 240, 80, 3, 14),
        *[(80, 480, 80, 3, 14)] * 2, (80, 480, 112, 5, 14), *[(112, 672, 112, 5, 14)] * 2,
        (112, 672, 192, 5, 7), *[(192, 1152, 192, 5, 7)] * 3, (192, 1152, 320, 3, 7),
    ]  # fmt: skip
    in_sides = [112, 112, 56, 56, 28, 28, 14, 14, 14, 14, 14, 14, 7, 7, 7, 7]
    macs = 32 * 112 * 112 * 3 * 9  # stem 3x3/2
    params = 32 * 27 + 2 * 32
    for (c_in, c_mid, c_out, k, side), side_in in zip(table, in_sides, strict=True):
        if c_mid != c_in:
            macs += c_mid * side_in * side_in * c_in
            params += c_in * c_mid + 2 * c_mid
        macs += c_mid * side * side * k * k + c_out * side * side * c_mid
        params += c_mid * k * k + 2 * c_mid + c_mid * c_out + 2 * c_out
    macs += 1280 * 7 * 7 * 320 + 1000 * 1280  # head 1x1 conv, classifier
    params += 320 * 1280 + 2 * 1280 + 1280 * 1000 + 1000
    s = summary("efficientnet_lite0")
    assert (s.params, s.net.total_macs) == (params, macs)


def test_edgetpu_fused_block_expands_at_full_resolution_and_projects_with_the_stride():
    # efficientnet_s's second block (tensorflow's MBConvBlockWithoutDepthwise): 3x3 stride-1
    # expansion 24 -> 192 on the 112x112 map, then a 1x1 stride-2 projection to 32.
    module, _ = build_module("efficientnet_s")
    block = module.blocks[1]
    assert isinstance(block, effnet.FusedMBConv)
    assert (block.expand.conv.kernel_size, block.expand.conv.stride) == ((3, 3), (1, 1))
    assert (block.expand.conv.in_channels, block.expand.conv.out_channels) == (24, 192)
    assert (block.project.conv.kernel_size, block.project.conv.stride) == ((1, 1), (2, 2))
    assert not module.blocks[0].residual  # "noskip": 32 -> 96 -> 24, no add
    assert module.blocks[0].expand.conv.in_channels == 32
    assert _count(module, effnet.FusedMBConv) == 7 and _count(module, effnet.MBConv) == 11


def test_mobilenet_v3_is_the_edgetpu_variant():
    module, _ = build_module("mobilenet_v3")
    assert len(module.blocks) == 22  # 10 fused, 12 with a depthwise conv
    assert all(isinstance(block, mbv3.ExpandedConv) for block in module.blocks)
    first, second = module.blocks[0], module.blocks[1]
    # the first block does not widen 32 channels: a bare 1x1 projection to 16
    assert first.expand is None and first.dw is None and first.project.conv.in_channels == 32
    # fused: a strided 3x3 expansion conv (16 -> 128), no depthwise
    assert second.dw is None and second.expand.conv.stride == (2, 2)
    assert second.expand.conv.out_channels == 128
    assert _count(module, nn.Hardswish) == 0 and _count(module, nn.ReLU) > 0
    assert summary("mobilenet_v3").count(OpKind.DWCONV) == 13
    # the 96-wide block with expansion 8 keeps its shape but has no skip connection
    assert [b.residual for b in module.blocks[13:15]] == [False, True]


def test_inception_v1_module_widths_are_googlenets():
    # GoogLeNet's concatenated widths (Table 1 of the paper), with 3x3 convs in the "5x5" branch
    module, _ = build_module("inception_v1")
    mixed = [m for m in module.mixed if isinstance(m, inception_zoo.InceptionModule)]
    assert [m.c_out for m in mixed] == [256, 480, 512, 512, 512, 528, 832, 832, 1024]
    assert {m.branch2[1].conv.kernel_size for m in mixed} == {(3, 3)}
    net = summary("inception_v1").net
    assert sum(layer.op is OpKind.CONCAT for layer in net) == 9
    assert net.layer("mixed.10.branch0.conv").output_shape == (384, 7, 7)  # Mixed_5c


def test_resnext26_is_resnext50_with_two_units_per_stage():
    # 8 bottlenecks, each a 3x3 conv in 32 groups of 4, 8, 16, 32 channels per stage
    net = summary("resnext26_32x4d").net
    grouped = [layer for layer in net if layer.name.endswith("conv2.conv")]
    assert [layer.output_shape[0] for layer in grouped] == [
        128,
        128,
        256,
        256,
        512,
        512,
        1024,
        1024,
    ]
    # the first grouped conv: 128 x 56 x 56 outputs, 128 / 32 = 4 inputs each, 3 x 3
    assert grouped[0].macs == 128 * 56 * 56 * 4 * 9
    # depth 1.5: round(2 x 1.5) = 3 units per stage
    assert _count(build_module("resnext26_32x4d", depth=1.5)[0], resnet_zoo.Bottleneck) == 12


@pytest.mark.parametrize(("name", "a", "b"), [("repvgg_a1", 1.0, 2.5), ("repvgg_a2", 1.5, 2.75)])
def test_repvgg_is_the_deployed_plain_stack(name, a, b):
    # deployed: one 3x3 conv with bias + ReLU per block, no branch, no add
    widths = [min(64, int(64 * a))] + [int(64 * a)] * 2 + [int(128 * a)] * 4
    widths += [int(256 * a)] * 14 + [int(512 * b)]
    c_in, side, params, macs = 3, 224, 0, 0
    for i, c in enumerate(widths):
        side //= 2 if i in (0, 1, 3, 7, 21) else 1  # the first block of each stage has stride 2
        params += c * c_in * 9 + c
        macs += c * side * side * c_in * 9
        c_in = c
    params += c_in * 1000 + 1000
    macs += c_in * 1000
    s = summary(name)
    assert (s.params, s.net.total_macs) == (params, macs)
    assert s.count(OpKind.CONV) == 22 and s.count(OpKind.ADD) == 0


def test_hardnet_block_links_and_widths():
    # the first block of HarDNet-39DS: 48 input channels, growth 16, 4 layers; layer widths
    # 16, 26 (16 x 1.6), 16, 40 (16 x 1.6^2); inputs 48, 16+48, 26, 40+26+48 (links 3, 2, 0);
    # output: layers 1, 3 and 4 = 16 + 16 + 40 = 72 channels
    module, _ = build_module("hardnet39ds")
    block = module.stages[0][0]
    assert isinstance(block, hardnet_zoo.HarDBlock)
    assert block.links == [(0,), (1, 0), (2,), (3, 2, 0)]
    assert [layer[0].conv.in_channels for layer in block.layers] == [48, 64, 26, 90]
    assert [layer[0].conv.out_channels for layer in block.layers] == [16, 26, 16, 40]
    assert block.c_out == 72
    net = summary("hardnet39ds").net
    # every block layer is a 1x1 conv + a depthwise 3x3; plus 1 stem and 3 downsampling dws
    assert sum(layer.op is OpKind.DWCONV for layer in net) == 4 + 16 + 8 + 4 + 1 + 3
    assert net.layer("stages.3.1.conv").output_shape == (1024, 7, 7)


def test_hardnet68_block_widths_and_max_pools():
    # HarDNet-68's first block: 64 input channels, growth 14, multiplier 1.7; layer widths 14,
    # 24 (14 x 1.7), 14, 40 (14 x 1.7^2); inputs 64, 14+64, 24, 14+24+64 (links 3, 2, 0)
    module, _ = build_module("hardnet68")
    block = module.stages[0][0]
    assert [layer[0].conv.out_channels for layer in block.layers[:4]] == [14, 24, 14, 40]
    assert [layer[0].conv.in_channels for layer in block.layers[:4]] == [64, 78, 24, 102]
    assert {layer[0].conv.kernel_size for layer in block.layers} == {(3, 3)}
    net = summary("hardnet68").net
    assert sum(layer.op is OpKind.DWCONV for layer in net) == 0
    # stem max-pool 3x3/2 and a 2x2/2 max-pool after blocks 1, 3 and 4: 224 -> 7
    assert net.layer("stages.4.1.conv").output_shape == (1024, 7, 7)


@pytest.mark.parametrize(
    ("name", "dim"), [("vit_tiny_bn", 192), ("vit_small_bn", 384), ("vit_base_bn", 768)]
)
def test_vit_bn_matches_hand_count(name, dim):
    patches, blocks = (224 // 16) ** 2, 12
    tokens = patches + 1  # class token
    params = (
        3 * 16 * 16 * dim + dim  # patch conv, weight + bias
        + dim + tokens * dim  # class token, position embedding
        + blocks * (12 * dim * dim + 13 * dim)  # qkv, proj, fc1, fc2 (+ biases), 2 batch norms
        + 2 * dim  # final batch norm
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
    assert s.params == _params(name.removesuffix("_bn"))  # the layer-norm ViT's count


def test_vit_bn_has_batch_norms_where_vit_has_layer_norms():
    module, _ = build_module("vit_tiny_bn")
    assert _count(module, nn.LayerNorm) == 0
    assert _count(module, vit_bn_zoo.TokenBatchNorm) == _count(module, nn.BatchNorm1d) == 25
    net = summary("vit_tiny_bn").net
    norms = [layer for layer in net if layer.op is OpKind.AFFINE]
    # one per norm, over the 197 tokens x 192 channels, with no transpose around it: a batch
    # norm is a per-channel affine (Hailo's mul_and_add), priced without layer norm's extra nodes
    assert len(norms) == 25 and {layer.output_shape for layer in norms} == {(197, 192)}
    assert sum(layer.op is OpKind.TRANSPOSE for layer in net) == 0


def test_vit_bn_input_sets_the_position_embedding():
    module, shape = build_module("vit_tiny_bn", resolution=384)
    assert shape == (1, 3, 384, 384)
    assert tuple(module.pos_embed.shape) == (1, 24 * 24 + 1, 192)


def _offsets(side: int, stride: int) -> int:
    # LeViT's reference code: the distinct (|dy|, |dx|) between every query of the grid
    # subsampled by `stride` and every key of the grid
    queries = range(0, side, stride)
    return len({(abs(qy - ky), abs(qx - kx)) for qy in queries for qx in queries
                for ky in range(side) for kx in range(side)})  # fmt: skip


@pytest.mark.parametrize(("side", "stride"), [(14, 1), (14, 2), (7, 1), (7, 2), (4, 1), (5, 2)])
def test_levit_bias_table_has_one_entry_per_offset(side, stride):
    bias = levit_zoo.AttentionBias(3, (side, side), stride)
    assert bias.attention_biases.shape == (3, _offsets(side, stride))
    with torch.no_grad():
        bias.attention_biases.copy_(torch.arange(3 * side * side).view(3, side * side))
    table = bias()
    queries = len(range(0, side, stride))
    assert table.shape == (3, queries**2, side * side)
    # query (qy, qx) = (1, 0) of the subsampled grid sits at (stride, 0); key (0, 2)
    assert table[0, queries, 2] == stride * side + 2  # offset (|dy|, |dx|) = (stride, 2)
    assert table[2, 0, 0] == 2 * side * side  # head 2, offset (0, 0)


def test_levit128_stages():
    net = summary("levit128").net
    # 14x14 grid of 128 channels, then 7x7 of 256, then 4x4 of 384
    assert net.layer("patch_embed.6").output_shape == (128, 14, 14)
    assert net.layer("blocks.8.proj").output_shape == (49, 256)
    assert net.layer("blocks.18.proj").output_shape == (16, 384)
    # the bias tables: heads x offsets, one ADD per attention
    biases = [layer.params for layer in net if layer.op is OpKind.ADD and layer.params]
    assert biases == [4 * 196] * 4 + [8 * 196] + [8 * 49] * 4 + [16 * 49] + [12 * 16] * 4
    # hard-swish: 3 in the stem (fused), 14 attentions (standalone), 14 MLPs (fused)
    assert summary("levit128").count(OpKind.ACTIVATION) == 14
    assert sum(layer.activation == "hardswish" for layer in net) == 3 + 14 + 14
    assert summary("levit128").count(OpKind.TRANSPOSE) == 0
    module, _ = build_module("levit128", depth=0.5)
    assert _count(module, levit_zoo.Attention) == 2 * 3 + 2


class _PatchesThenAffine(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.patch = nn.Conv2d(3, 8, 4, 4)
        self.alpha = nn.Parameter(torch.ones(8))
        self.mix = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.patch(x).flatten(2).transpose(1, 2)
        return self.mix((self.alpha * tokens).transpose(1, 2))


def test_affine_on_the_patch_tokens_keeps_its_parameters():
    # ResMLP's first affine reads the patch conv through the map -> tokens transpose, which
    # is no layer: its 8 parameters go to the conv (8 x 3 x 4 x 4 + 8 + 8), not away
    net = import_module(_PatchesThenAffine(), (1, 3, 8, 8), name="affine")
    assert [(layer.name, layer.params) for layer in net] == [("patch", 400), ("mix", 20)]


def test_resmlp_matches_hand_count():
    dim, tokens, blocks, hidden = 384, 196, 12, 1536
    params = (
        3 * 16 * 16 * dim + dim  # patch conv
        + blocks * (
            4 * dim  # two affines (scale, shift)
            + tokens * tokens + tokens  # token mixing
            + dim * hidden + hidden + hidden * dim + dim  # MLP
            + 2 * dim  # layer scales
        )
        + 2 * dim  # final affine
        + dim * 1000 + 1000  # head
    )  # fmt: skip
    macs = (
        tokens * 3 * 16 * 16 * dim
        + blocks * (dim * tokens * tokens + 2 * tokens * dim * hidden)
        + dim * 1000
    )
    s = summary("resmlp12_relu")
    assert (s.params, s.net.total_macs) == (params, macs)
    # per block: token dense, transpose back, add, fc1 (relu), fc2, add; the affines folded
    assert s.count(OpKind.DENSE) == 3 * blocks + 1 and s.count(OpKind.ADD) == 2 * blocks
    assert s.net.layer("blocks.0.mlp.fc1").activation == "relu"
    module, _ = build_module("resmlp12_relu", resolution=256)
    assert module.blocks[0].linear_tokens.in_features == 16 * 16


# -- torch.fx and the outputs ----------------------------------------------------------------------
@pytest.mark.parametrize("name", NETWORKS)
def test_every_network_traces_with_fx(name):
    s = summary(name)
    assert s.traced_leaf_calls == s.leaf_modules > 0


@pytest.mark.parametrize(
    ("name", "shapes"),
    [
        ("mobilenet_v3", [(1001, 1, 1)]),  # a 1x1 logits conv; 1001 classes (background first)
        ("efficientnet_lite0", [(1000,)]),
        ("efficientnet_lite4", [(1000,)]),
        ("efficientnet_s", [(1001,)]),
        ("efficientnet_l", [(1001,)]),
        ("inception_v1", [(1001, 1, 1)]),
        ("resnext26_32x4d", [(1000,)]),
        ("repvgg_a2", [(1000,)]),
        ("hardnet68", [(1000,)]),
        ("hardnet39ds", [(1000,)]),
        ("vit_base_bn", [(1000,)]),
        ("levit128", [(1000,)]),  # the average of the class and distillation heads
        ("levit384", [(1000,)]),
        ("resmlp12_relu", [(1000,)]),
    ],
)
def test_outputs_are_the_logits(name, shapes):
    # the graph ends at the logits layer, as the zoo's first 25 classifiers: no class softmax
    s = summary(name)
    assert s.output_shapes() == shapes
    assert s.net.layer(s.net.outputs[0]).op in (OpKind.DENSE, OpKind.CONV, OpKind.ADD)


# -- knobs -----------------------------------------------------------------------------------------
def _count(module: nn.Module, kind: type) -> int:
    return sum(isinstance(m, kind) for m in module.modules())


def _params(name: str, **knobs: float) -> int:
    return sum(p.numel() for p in build_module(name, **knobs)[0].parameters())


@pytest.mark.parametrize(
    ("small", "knobs", "large"),
    [
        # The knobs multiply the network's own coefficients: Lite2 is Lite0 at (1.1, 1.2),
        # EdgeTPU-M is S at depth 1.1 (only the input differs, which sets no parameter).
        ("efficientnet_lite0", {"width": 1.1, "depth": 1.2}, "efficientnet_lite2"),
        ("efficientnet_lite0", {"depth": 1.1}, "efficientnet_lite1"),
        ("efficientnet_s", {"depth": 1.1}, "efficientnet_m"),
    ],
)
def test_knobs_reach_the_larger_sibling(small, knobs, large):
    assert _params(small, **knobs) == summary(large).params


def test_depth_rounds_the_repeats_up():
    # Lite: ceil(d x repeats) for stages 2-6, stages 1 and 7 fixed: (1, 2, 2, 3, 3, 4, 1) = 16
    # blocks at 1.0; (1, 4, 4, 6, 6, 8, 1) = 30 at 2.0; (1, 1, 1, 2, 2, 2, 1) = 10 at 0.5.
    assert _count(build_module("efficientnet_lite0")[0], effnet.MBConv) == 16
    assert _count(build_module("efficientnet_lite0", depth=2.0)[0], effnet.MBConv) == 30
    assert _count(build_module("efficientnet_lite0", depth=0.5)[0], effnet.MBConv) == 10
    # EdgeTPU scales every stage: L is (1.2, 1.4): (2, 3, 6, 7, 6, 3) = 27 blocks
    module = build_module("efficientnet_l")[0]
    assert _count(module, effnet.FusedMBConv) + _count(module, effnet.MBConv) == 27


def test_lite_keeps_stem_and_head_fixed_while_edgetpu_scales_them():
    lite4, large = build_module("efficientnet_lite4")[0], build_module("efficientnet_l")[0]
    assert (lite4.stem.conv.out_channels, lite4.head_conv.conv.out_channels) == (32, 1280)
    assert lite4.blocks[-1].project.conv.out_channels == 448  # 320 x 1.4
    assert (large.stem.conv.out_channels, large.head_conv.conv.out_channels) == (40, 1536)


def test_width_scales_mobilenet_v3_and_its_last_conv():
    half = build_module("mobilenet_v3", width=0.5)[0]
    assert half.stem.conv.out_channels == 16 and half.last.conv.out_channels == 640
    assert half.blocks[-1].project.conv.out_channels == 96


def test_resolution_scales_the_maps():
    full, half = summary("efficientnet_s"), summary("efficientnet_s", resolution=112)
    # 224 -> 112 quarters every map down to 7x7 -> 4x4 (ceil), so conv MACs fall by about 4
    assert 3.6 < full.net.total_macs / half.net.total_macs < 4.0
    assert full.params == half.params
    assert half.output_shapes() == [(1001,)]


def test_odd_maps_use_same_padding():
    # 260 -> 130 -> 65 -> 33 -> 17 -> 9, as TF's SAME padding (ceil(H / 2) per stride)
    net = summary("efficientnet_lite2").net
    assert net.layer("head_conv.conv").output_shape == (1280, 9, 9)
    assert net.layer("stem.conv").output_shape == (32, 130, 130)


@pytest.mark.parametrize("alias", ["tf_efficientnet_lite2", "efficientnetlite2"])
def test_aliases(alias):
    assert resolve_name(alias).name == "efficientnet_lite2"
    assert resolve_name("mobilenet-edgetpu").name == "mobilenet_v3"
    assert resolve_name("tf_efficientnet_el").name == "efficientnet_l"


# -- ONNX parity -----------------------------------------------------------------------------------
SMALL = {"resolution": 32, "width": 0.25}


def _small(name: str) -> dict[str, float]:
    knobs = dict(SMALL)
    if name.startswith("levit"):
        # a 6x6 -> 3x3 -> 2x2 token grid: at 32 the last grid is one token, whose mean the
        # ONNX importer reads as a view and the torch importer as a global pool
        knobs["resolution"] = 96
    if "depth" in ZOO[name].knobs:
        knobs["depth"] = 0.34
    return knobs


def verdict(net: Network) -> tuple[bool, int]:
    from cost_model.hardware import preset
    from partitioner.compile import compile_network
    from partitioner.search import SearchOptions

    report = compile_network(net, preset("hailo8"), SearchOptions(timeout_s=3))
    return report.single_context, report.num_contexts


PARITY = (
    "mobilenet_v3",  # fused and depthwise expanded convs, 1x1 logits conv
    "efficientnet_lite0",  # inverted residuals with relu6
    "efficientnet_s",  # EdgeTPU fused blocks: strided 1x1 projections
    "inception_v1",  # four-branch concats, stride-1 max-pools
    "resnext26_32x4d",  # grouped 3x3 convs
    "repvgg_a1",  # plain 3x3 convs with bias
    "hardnet39ds",  # harmonic concats, depthwise convs without activation
    "hardnet68",  # harmonic concats of 3x3 convs, max-pool downsampling
    "vit_tiny_bn",  # attention, batch norm over tokens
    "levit128",  # attention biases, strided token subsampling, hard-swish, two heads
    "resmlp12_relu",  # token-mixing dense layers, folded affines
)


ALL = tuple(entry.name for entry in catalog_classification.ENTRIES)
FULL = os.environ.get("CTXFIT_QUICK") != "1"


@pytest.mark.parametrize("name", ALL)
def test_onnx_parity(tmp_path, name):
    # every network by default; with CTXFIT_QUICK=1 one per block family (PARITY)
    if name not in PARITY and not FULL:
        pytest.skip("same blocks as a representative; CTXFIT_QUICK=1 skips it")
    from partitioner.importers.onnx_import import read_onnx
    from tests.onnx_fixtures import export

    module, shape = build_module(name, **_small(name))
    torch_net = import_module(module, shape, name=name)
    result = read_onnx(export(module, shape, tmp_path / f"{name}.onnx"), None)
    onnx_net = result.network
    assert result.postprocess is None and result.warnings == ()
    assert len(onnx_net) == len(torch_net)
    assert Counter(layer.op for layer in onnx_net) == Counter(layer.op for layer in torch_net)
    assert onnx_net.total_macs == torch_net.total_macs
    assert onnx_net.total_params == pytest.approx(torch_net.total_params, rel=0.01)
    assert verdict(onnx_net) == verdict(torch_net)
