"""Hailo's generated layer names on zoo models, and the Model Zoo scripts' lines the table leaves
out (``partitioner/data/zoo_script_lines.csv``).

The evidence for the parser's order (:func:`partitioner.settings.hailo_parser_order`) is in the
public scripts themselves: YOLOv5m's fine-tuning loss names its three detection outputs, and its
``a8_w4`` lines name the layers whose weights matter most for memory, the largest ones."""

from __future__ import annotations

import functools

import pytest

from cost_model.hardware import preset
from cost_model.layer import OpKind, Precision
from partitioner.compile_request import prepare_compile
from partitioner.models import ModelRequest, load_network
from partitioner.settings import hailo_layer_names
from partitioner.zoo_scripts import extra_script_lines, zoo_row, zoo_rows, zoo_script

YOLOV5M_A8_W4 = ("conv45", "conv46", "conv51", "conv53", "conv84", "conv89", "conv91")
WO_SPP_A8_W4 = ("conv45", "conv46", "conv50", "conv52", "conv83", "conv88", "conv90")


@functools.cache
def _net(name: str):
    return load_network(ModelRequest(spec=name))


@pytest.mark.parametrize(
    ("network", "loss_layers"),
    [
        ("yolov5m", ("conv75", "conv85", "conv94")),
        ("yolov5m_wo_spp", ("conv74", "conv84", "conv93")),
    ],
)
def test_the_scripts_loss_layers_are_the_detection_outputs(network, loss_layers):
    # loss_layer_names=[conv94, conv85, conv75] in the public yolov5m.alls: the P5, P4, P3 outputs
    net = _net(network)
    names = hailo_layer_names(net)
    assert tuple(names[c] for c in loss_layers) == net.outputs  # P3, P4, P5 in that order
    # the export's own order numbers the outputs last: conv92..94 (conv91..93 without SPP)
    assert sum(1 for n in net.topological_order() if net.layer(n).op == OpKind.CONV) == int(
        loss_layers[-1][4:]
    )


@pytest.mark.parametrize(
    ("network", "a8_w4", "in_top7"),
    [("yolov5m", YOLOV5M_A8_W4, 6), ("yolov5m_wo_spp", WO_SPP_A8_W4, 7)],
)
def test_the_scripts_4bit_layers_are_the_largest_convolutions(network, a8_w4, in_top7):
    net = _net(network)
    names = hailo_layer_names(net)
    params = {n: net.layer(n).params for n in net.topological_order()}
    top7 = sorted(params, key=params.__getitem__, reverse=True)[:7]
    chosen = [names[c] for c in a8_w4]
    assert names["conv45"] == "model.7.conv" and params["model.7.conv"] == 2_655_744  # 3x3 384->768
    assert len(set(chosen) & set(top7)) == in_top7
    # YOLOv5m's one exception: SPP's first 1x1 (768 -> 384), not its second
    assert set(chosen) - set(top7) <= {"model.8.cv1.conv"}


def test_added_lines_cover_the_tables_counts():
    # every script with added lines: its named layers are exactly the count the table gives
    scripts = extra_script_lines()
    rows = [r for r in zoo_rows() if r.script in scripts]
    assert sorted({r.network for r in rows}) == [
        "fast_depth",
        "tiny_yolov4",
        "vit_tiny",
        "whisper_tiny_10s_encoder",
        "yolov3_416",
        "yolov5m",
        "yolov5m_wo_spp",
    ]
    assert len(rows) == 14  # both chips each
    for row in rows:
        s = zoo_script(row.network, row.device)
        assert s.notes == ()
        for line in scripts[row.script]:
            assert line in s.text
    assert zoo_script("yolov3", "hailo8").notes == (
        "3 layers set to a16_w16 by name in the Model Zoo script are not reproduced",
    )


@pytest.mark.parametrize(
    ("network", "outputs"), [("yolov3_416", 3), ("tiny_yolov4", 2), ("fast_depth", 1)]
)
def test_output_layer_lines_cover_every_output(network, outputs):
    # output_layer1..N set to 16 bits: every output of the network, whatever their order
    net = _net(network)
    request = prepare_compile(net, preset("hailo8"), None, zoo_name=network, timeout_s=1)
    sixteen = {n for n, p in request.settings.precision.items() if p == Precision.A16_W16}
    assert len(net.outputs) == outputs and sixteen == set(net.outputs)


def test_whispers_16bit_layers_are_every_blocks_out_fc1_and_fc2():
    # conv4, 6, ..., 18 and conv5, 9, 13, 17 in the script: with the two stem convolutions and
    # four per block (qkv, out, fc1, fc2) these are all but the qkv of the four blocks
    net = _net("whisper_tiny_10s_encoder")
    request = prepare_compile(net, preset("hailo8"), None, zoo_name="whisper_tiny_10s_encoder")
    sixteen = {n for n, p in request.settings.precision.items() if p == Precision.A16_W16}
    expected = {f"blocks.{b}.{n}" for b in range(4) for n in ("attn.proj", "mlp.fc1", "mlp.fc2")}
    assert {n for n in sixteen if net.layer(n).op == OpKind.DENSE} == expected
    names = hailo_layer_names(net)
    assert names["conv1"] == "conv1" and names["conv3"] == "blocks.0.attn.qkv"
    assert request.settings.options.batch == 1  # the script's performance_param


@pytest.mark.parametrize("device", ["hailo8", "hailo8l"])
def test_a_zoo_yolov5m_compiles_with_its_seven_4bit_layers(device):
    net = _net("yolov5m")
    request = prepare_compile(net, preset(device), None, zoo_name="yolov5m", timeout_s=1)
    four_bit = {n for n, p in request.settings.precision.items() if p == Precision.A8_W4}
    names = hailo_layer_names(net)
    assert {names[c] for c in YOLOV5M_A8_W4} <= four_bit
    assert zoo_row("yolov5m", device).fields["a8_w4_layers"] == "7"


def test_centerposes_named_heads_are_its_outputs_in_the_parsers_order():
    # its script (the older base/centerpose_regnetx_800mf.alls): loss_layer_names=[conv60 ...
    # conv65], sigmoid on conv60 and conv64: the six heads, the two heatmaps sigmoid
    net = _net("centerpose_regnetx_800mf")
    names = hailo_layer_names(net)
    assert tuple(names[f"conv{i}"] for i in range(60, 66)) == net.outputs
    assert (names["conv60"], names["conv64"]) == ("heads.hm.2", "heads.hm_hp.2")
    export = [n for n in net.topological_order() if net.layer(n).op == OpKind.CONV]
    assert export[59] != "heads.hm.2"  # the export's own order numbers the heads otherwise


def test_vit_tinys_16bit_layers_are_one_blocks_mlp():
    # quantization_param([vit_tiny/conv32], ...), [vit_tiny/conv33]: the patch embedding and four
    # convs a block (qkv, proj, fc1, fc2) put them at block 7's fc1 and fc2, one MLP
    net = _net("vit_tiny")
    request = prepare_compile(net, preset("hailo8"), None, zoo_name="vit_tiny", timeout_s=1)
    sixteen = {n for n, p in request.settings.precision.items() if p == Precision.A16_W16}
    assert {n for n in sixteen if net.layer(n).op == OpKind.DENSE} == {
        "blocks.7.mlp.fc1",
        "blocks.7.mlp.fc2",
    }
    assert hailo_layer_names(net)["fc1"] == "head"  # the classifier on the class token


def test_a_zoo_model_at_other_knobs_keeps_the_scripts_layers_by_what_they_name():
    # --depth changes the layer count, so Hailo's conv45 would be another layer (or none): the
    # script's named layers are the published network's, kept where the changed one has them
    published = _net("yolov5m")
    names = hailo_layer_names(published)
    chosen = {names[c] for c in YOLOV5M_A8_W4}
    shallow = load_network(ModelRequest(spec="yolov5m", depth=0.33))
    request = prepare_compile(shallow, preset("hailo8"), None, zoo_name="yolov5m", timeout_s=1)
    four_bit = {n for n, p in request.settings.precision.items() if p == Precision.A8_W4}
    assert four_bit == chosen & set(shallow.topological_order())
    dropped = len(chosen) - len(four_bit)
    assert dropped == 2  # model.9's and model.23's second bottleneck (n = 2 -> 1)
    assert f"{dropped} layers the Model Zoo script names are not in this network" in " ".join(
        request.log_lines
    )


def test_explain_at_other_knobs_keeps_the_scripts_layers():
    # the model at --depth 0.33 lacks two of the seven layers YOLOv5m's script puts in 4 bits;
    # explain prepares it and its changes from the published network's names, without stopping
    from partitioner.explain import explain

    e = explain(ModelRequest(spec="yolov5m", depth=0.33), preset("hailo8"), kinds=("precision",),
                timeout_s=1.0)  # fmt: skip
    assert e.report is not None and e.error is None
