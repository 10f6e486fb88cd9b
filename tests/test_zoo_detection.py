"""The Model Zoo's detectors (``catalog_detection``): the table's sizes, Hailo's cut, the knobs,
torch.fx tracing and ONNX parity.

Parameters are ``sum(p.numel() for p in module.parameters())``; MACs are counted by the torch.fx
importer. Each network is built and imported once (``summary`` is cached).
"""

from __future__ import annotations

import os
from collections import Counter

import pytest
from torch import nn

from cost_model.hardware import preset
from cost_model.layer import OpKind
from partitioner.graph import Network
from partitioner.importers.onnx_import import read_onnx
from partitioner.importers.torch_fx import import_module
from partitioner.zoo import ZOO, build_module, catalog_detection, darknet, yolov7
from partitioner.zoo.yolo_blocks import Bottleneck
from tests.onnx_fixtures import export
from tests.test_zoo import hailo8_rows, rel_err, summary

DETECTORS = tuple(catalog_detection.RECIPES)


# -- the catalog against the Model Zoo table ------------------------------------------------------


def test_catalog_lists_twenty_two_detectors_in_the_zoo():
    assert len(DETECTORS) == 22
    assert {entry.name for entry in catalog_detection.ENTRIES} == set(DETECTORS)
    assert all(name in ZOO for name in DETECTORS)


@pytest.mark.parametrize("name", DETECTORS)
def test_entry_matches_its_hailo8_row(name):
    row, entry = hailo8_rows()[name], ZOO[name]
    h, w, c = (int(v) for v in row["input_hwc"].split("x"))
    assert entry.input_chw == (c, h, w)
    assert entry.task == row["task"] == "object_detection"
    assert entry.source_family == row["source_family"]
    assert entry.published_params == round(float(row["params_M"]) * 1e6)
    assert entry.published_macs == round(float(row["ops_G"]) * 1e9 / 2)


# -- published sizes ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", DETECTORS)
def test_params_match_the_model_zoo(name):
    s = summary(name)
    # All within 0.6% of the table (batch norms count 2 parameters per channel here, where the
    # graph the Model Zoo reads has a folded bias of 1).
    assert rel_err(s.params, ZOO[name].published_params) <= 0.03, s.params
    assert s.net.total_params == s.params


def model_zoo_macs(net: Network) -> int:
    """MACs as the Model Zoo counts them: a transposed conv of stride s costs s x s times its
    true MACs (k x k x C_in per *output* element, as if it ran on the zero-upsampled input).

    Evidence: yolov6n (two 2x2/2 transposed convs) matches the table exactly this way (0.7%
    under it otherwise) and centernet_resnet_v1_18_postprocess (three 4x4/2) within 0.7% (16%
    under otherwise).
    """
    extra = sum(
        layer.macs * (layer.stride[0] * layer.stride[1] - 1)
        for layer in net
        if layer.op is OpKind.DECONV
    )
    return net.total_macs + extra


@pytest.mark.parametrize("name", DETECTORS)
def test_macs_match_the_model_zoo(name):
    macs = model_zoo_macs(summary(name).net)
    assert rel_err(macs, ZOO[name].published_macs) <= 0.03, macs


def test_model_zoo_counts_transposed_convs_per_output_pixel():
    net = summary("centernet_resnet_v1_18_postprocess").net
    # 4x4/2 transposed convs 256 -> 256 (16 -> 32), 128 -> 128 (32 -> 64), 64 -> 64 (64 -> 128)
    true_macs = [c * c * 16 * side * side for c, side in ((256, 16), (128, 32), (64, 64))]
    assert [layer.macs for layer in net if layer.op is OpKind.DECONV] == true_macs
    assert model_zoo_macs(net) - net.total_macs == 3 * sum(true_macs)
    assert rel_err(net.total_macs, ZOO["centernet_resnet_v1_18_postprocess"].published_macs) > 0.15


def test_yolov3_matches_darknet_hand_count():
    # Darknet-53 at 416x416 without its classifier plus the YOLOv3 head, MACs of every conv by
    # hand: c_out x h x w x c_in x k x k; maps 416, 208, 104, 52, 26, 13.
    def conv(c_in, c_out, k, side):
        return c_out * side * side * c_in * k * k

    residual = {c: conv(c, c // 2, 1, s) + conv(c // 2, c, 3, s) for c, s in
                ((64, 208), (128, 104), (256, 52), (512, 26), (1024, 13))}  # fmt: skip
    backbone = (
        conv(3, 32, 3, 416)
        + conv(32, 64, 3, 208) + residual[64]
        + conv(64, 128, 3, 104) + 2 * residual[128]
        + conv(128, 256, 3, 52) + 8 * residual[256]
        + conv(256, 512, 3, 26) + 8 * residual[512]
        + conv(512, 1024, 3, 13) + 4 * residual[1024]
    )  # fmt: skip

    def scale(c_in, c, side):  # five convs, the 3x3 and the 255-channel output
        return (conv(c_in, c, 1, side) + 2 * conv(c, 2 * c, 3, side) + 2 * conv(2 * c, c, 1, side)
                + conv(c, 2 * c, 3, side) + conv(2 * c, 255, 1, side))  # fmt: skip

    head = (
        scale(1024, 512, 13) + conv(512, 256, 1, 13)
        + scale(768, 256, 26) + conv(256, 128, 1, 26)
        + scale(384, 128, 52)
    )  # fmt: skip
    assert summary("yolov3_416").net.total_macs == backbone + head


def test_yolov3_tiny_matches_darknet_hand_count():
    # yolov3-tiny.cfg at 416: 3x3 convs 3-16-32-64-128-256 on maps 416 to 26 (each then a 2x2/2
    # max-pool), 3x3 256->512 and 512->1024 at 13 (a 2x2/1 max-pool between); head 1x1
    # 1024->256, 3x3 256->512, 1x1 512->255 at 13; 1x1 256->128, upsample, 3x3 384->256 and
    # 1x1 256->255 at 26. Batch norms: 2 parameters per channel; output convs biased.
    def conv(c_in, c_out, k, side):
        return c_out * side * side * c_in * k * k

    chain = ((3, 16, 416), (16, 32, 208), (32, 64, 104), (64, 128, 52), (128, 256, 26))
    macs = sum(conv(c_in, c_out, 3, side) for c_in, c_out, side in chain)
    macs += conv(256, 512, 3, 13) + conv(512, 1024, 3, 13) + conv(1024, 256, 1, 13)
    macs += conv(256, 512, 3, 13) + conv(512, 255, 1, 13) + conv(256, 128, 1, 13)
    macs += conv(384, 256, 3, 26) + conv(256, 255, 1, 26)
    bn = [16, 32, 64, 128, 256, 512, 1024, 256, 512, 128, 256]
    weights = sum(c_in * c_out * 9 for c_in, c_out, _ in chain)
    weights += 9 * (256 * 512 + 512 * 1024 + 256 * 512 + 384 * 256) + 1024 * 256 + 256 * 128
    s = summary("tiny_yolov3")
    assert s.params == weights + 2 * sum(bn) + (512 + 1) * 255 + (256 + 1) * 255 == 8_852_366
    assert s.net.total_macs == macs


# -- torch.fx and the outputs ---------------------------------------------------------------------


@pytest.mark.parametrize("name", DETECTORS)
def test_every_detector_traces_with_fx(name):
    s = summary(name)
    assert s.traced_leaf_calls == s.leaf_modules > 0


def _per_scale(channels, sides):
    return [(c, s, s) for s in sides for c in channels]


@pytest.mark.parametrize(
    ("name", "shapes"),
    [
        # Anchor-based heads: one 1x1 conv per scale to 3 anchors x (4 + 1 + 80) = 255.
        ("yolov5m_wo_spp", _per_scale([255], [80, 40, 20])),
        ("yolov5xs_wo_spp", _per_scale([255], [64, 32, 16])),
        ("yolov7", _per_scale([255], [80, 40, 20])),
        ("yolov3_416", _per_scale([255], [52, 26, 13])),
        ("yolov5m_6.1", _per_scale([255], [80, 40, 20])),
        ("yolov5m6_6.1", _per_scale([255], [160, 80, 40, 20])),  # P6: four scales
        ("tiny_yolov4", _per_scale([255], [26, 13])),  # two scales only
        ("tiny_yolov3", _per_scale([255], [26, 13])),
        # Decoupled heads: box (4), objectness (1), classes (80) per scale.
        ("yolox_tiny", _per_scale([4, 1, 80], [52, 26, 13])),
        ("yolov6n", _per_scale([4, 1, 80], [80, 40, 20])),
        # YOLOv6 0.2.1: no objectness branch.
        ("yolov6n_0.2.1", _per_scale([4, 80], [80, 40, 20])),
        # Cut before DFL: 4 x 16 box bins and 80 classes per scale.
        ("yolov9c", _per_scale([64, 80], [80, 40, 20])),
        # SSD: box (anchors x 4) and class (anchors x 91) convs on six maps, 3 then 6 anchors.
        (
            "ssd_mobilenet_v1",
            [(12, 19, 19), (273, 19, 19)] + _per_scale([24, 546], [10, 5, 3, 2, 1]),
        ),
    ],
)
def test_outputs_end_where_hailo_cuts(name, shapes):
    net = summary(name).net
    assert summary(name).output_shapes() == shapes
    assert all(net.layer(out).op is OpKind.CONV for out in net.outputs)


@pytest.mark.parametrize("name", ["yolox_s_leaky", "yolov6n"])
def test_decoupled_heads_end_in_sigmoids_on_objectness_and_classes(name):
    # Hailo's parser ends at Conv (box), Sigmoid (objectness), Sigmoid (classes) per scale: the
    # sigmoids run on the chip, fused into their convs.
    net = summary(name).net
    assert [net.layer(out).activation for out in net.outputs] == [None, "sigmoid", "sigmoid"] * 3


def test_centernet_ends_at_the_thresholded_heatmap_and_two_convs():
    # Parser end nodes: threshold_confidence/.../Relu (after the heatmap's sigmoid), the size
    # conv and the offset conv, all at stride 4.
    net = summary("centernet_resnet_v1_18_postprocess").net
    heat, wh, offset = (net.layer(out) for out in net.outputs)
    assert (heat.op, heat.activation, heat.output_shape) == (
        OpKind.ACTIVATION,
        "relu",
        (80, 128, 128),
    )
    (heat_conv,) = heat.inputs
    assert (net.layer(heat_conv).op, net.layer(heat_conv).activation) == (OpKind.CONV, "sigmoid")
    assert [(x.op, x.output_shape) for x in (wh, offset)] == [(OpKind.CONV, (2, 128, 128))] * 2


def test_centernet_resnet50_upsamples_the_2048_channel_map():
    # GluonCV's ResNet-50 v1b ends at 2048 channels, stride 32 (16x16 at 512); the three
    # up-sampling stages bring it to 64 channels at stride 4, as ResNet-18's 512.
    net = summary("centernet_resnet_v1_50_postprocess").net
    first = net.layer("deconv.0.conv.conv")
    assert (first.input_shapes[0], first.output_shape) == ((2048, 16, 16), (256, 16, 16))
    assert summary("centernet_resnet_v1_50_postprocess").output_shapes() == [
        (80, 128, 128),
        (2, 128, 128),
        (2, 128, 128),
    ]


# -- knobs ----------------------------------------------------------------------------------------


def test_yolov5xs_wo_spp_is_yolov5s_wo_spp_at_512():
    xs, s512 = summary("yolov5xs_wo_spp"), summary("yolov5s_wo_spp", resolution=512)
    assert (xs.params, xs.net.total_macs) == (s512.params, s512.net.total_macs)
    assert s512.net.total_macs * 25 == summary("yolov5s_wo_spp").net.total_macs * 16


@pytest.mark.parametrize(
    ("small", "knobs", "large"),
    [
        # The knobs multiply the network's own gains: s (0.33, 0.50) x (0.67 / 0.33, 1.5) is m.
        ("yolov5s_wo_spp", {"width": 1.5, "depth": 0.67 / 0.33}, "yolov5m_wo_spp"),
        # yolox s (0.33, 0.50) x (1 / 0.33, 2) is l; the activation does not change the size.
        ("yolox_s_leaky", {"width": 2.0, "depth": 1 / 0.33}, "yolox_l_leaky"),
    ],
)
def test_knobs_reach_the_larger_sibling(small, knobs, large):
    module, _ = build_module(small, **knobs)
    assert sum(p.numel() for p in module.parameters()) == summary(large).params


def test_half_width_quarters_every_inner_conv_of_yolov7_tiny():
    full, half = summary("yolov7_tiny").net, summary("yolov7_tiny", width=0.5).net
    assert [layer.name for layer in full] == [layer.name for layer in half]
    for layer in full:
        if layer.macs == 0:
            continue
        # Channels halve on both sides of every conv, except the stem's 3 input channels and
        # the 255 outputs of the detection convs: MACs / 2 there.
        divisor = 2 if layer.name == "stem.0.conv" or layer.name in full.outputs else 4
        assert half.layer(layer.name).macs * divisor == layer.macs, layer.name


@pytest.mark.parametrize("name", ["yolov6n", "yolov7_tiny"])
def test_half_resolution_quarters_the_macs(name):
    # Every map (transposed-conv upsampling included) has half the side.
    side = ZOO[name].input_chw[1] // 2
    full, small = summary(name), summary(name, resolution=side)
    assert small.net.total_macs * 4 == full.net.total_macs
    assert small.params == full.params


def _count(module: nn.Module, kind: type) -> int:
    return sum(isinstance(m, kind) for m in module.modules())


def test_ssd_takes_its_sides_in_steps_of_4():
    # TF's SAME padding rounds every strided map up: 320 -> 160, 80, 40, 20, 10, 5, 3, 2, 1.
    assert summary("ssd_mobilenet_v2", resolution=320).output_shapes()[::2] == [
        (12, 20, 20), (24, 10, 10), (24, 5, 5), (24, 3, 3), (24, 2, 2), (24, 1, 1)
    ]  # fmt: skip


def test_ssd_mobilenet_v2_reads_the_layer_15_expansion():
    # The first map is layer_15's 1x1 expansion (96 x 6 = 576 channels at stride 16), before its
    # strided depthwise conv; width 0.5 halves it (48 x 6 = 288).
    for width, channels in ((1.0, 576), (0.5, 288)):
        net, _ = build_module("ssd_mobilenet_v2", width=width)
        assert net.box[0].in_channels == net.cls[0].in_channels == channels


def test_depth_scales_darknet53_residuals():
    # (1, 2, 8, 8, 4) residual units; at depth 0.5, round half up: (1, 1, 4, 4, 2).
    assert _count(build_module("yolov3_416")[0], darknet.DarkResidual) == 23
    assert _count(build_module("yolov3_416", depth=0.5)[0], darknet.DarkResidual) == 12


def test_depth_scales_the_yolov9_repncsp_bottlenecks():
    # Eight RepNCSPELAN4 blocks with two RepNCSP each, one bottleneck per RepNCSP in YOLOv9-C.
    assert _count(build_module("yolov9c")[0], Bottleneck) == 16
    assert _count(build_module("yolov9c", depth=2.0)[0], Bottleneck) == 32


def test_yolov7_elan_taps():
    # The backbone ELANs concatenate every other conv of their 4-conv chain, the head ELANs all
    # of them: output channels of the 1x1 fuse input = 2 branches + taps x chain width.
    net, _ = build_module("yolov7")
    assert net.stage3.cv3.conv.in_channels == 2 * 128 + 2 * 128
    assert net.top_down3.cv3.conv.in_channels == 2 * 128 + 4 * 64
    assert _count(net, yolov7.ELAN) == 8


# -- ONNX parity ----------------------------------------------------------------------------------

# One network per block family runs by default with CTXFIT_QUICK=1; all of them otherwise.
REPRESENTATIVES = {
    "yolov5s_wo_spp",  # v2.0 BottleneckCSP, Focus, leaky convs
    "yolov7_tiny",  # ELAN, SPPCSPC, max-pool transitions
    "yolox_tiny",  # CSP layers, SPP, decoupled head with sigmoids
    "tiny_yolov4",  # channel split of the CSP-tiny stage
    "tiny_yolov3",  # replication pad and 2x2/1 max-pool
    "yolov6n",  # RepVGG convs, transposed-conv upsampling
    "yolov5m_6.1",  # v6.1: 6x6 stem, C3, SPPF, SiLU
    "yolov9c",  # RepNCSPELAN4 (chunk), ADown (2x2/1 average pool), 4-group head convs
    "ssd_mobilenet_v2",  # inverted residuals tapped at an expansion, depthwise extra layers
    "centernet_resnet_v1_18_postprocess",  # 4x4/2 transposed convs, standalone threshold ReLU
}
FULL = os.environ.get("CTXFIT_QUICK") != "1"


def _small(name: str) -> dict:
    knobs: dict = {"resolution": max(32, ZOO[name].resolution_step), "width": 0.25}
    if "depth" in ZOO[name].knobs:
        knobs["depth"] = 0.34
    return knobs


def verdict(net: Network) -> tuple[bool, int]:
    from partitioner.compile import compile_network
    from partitioner.search import SearchOptions

    report = compile_network(net, preset("hailo8"), SearchOptions(timeout_s=3))
    return report.single_context, report.num_contexts


@pytest.mark.parametrize("name", DETECTORS)
def test_onnx_parity_with_the_torch_importer(tmp_path, name):
    if name not in REPRESENTATIVES and not FULL:
        pytest.skip("same blocks as a representative; CTXFIT_QUICK=1 skips it")
    module, shape = build_module(name, **_small(name))
    torch_net = import_module(module, shape, name=name)
    result = read_onnx(export(module, shape, tmp_path / f"{name}.onnx"), None)
    onnx_net = result.network
    assert result.postprocess is None and result.warnings == ()
    assert len(onnx_net) == len(torch_net)
    assert Counter(layer.op for layer in onnx_net) == Counter(layer.op for layer in torch_net)
    assert onnx_net.total_macs == torch_net.total_macs
    # the exporter folds each batch norm into its conv: a bias of C replaces the 2 C of the norm
    assert onnx_net.total_params <= torch_net.total_params
    assert onnx_net.total_params == pytest.approx(torch_net.total_params, rel=0.01)
    assert verdict(onnx_net) == verdict(torch_net)
