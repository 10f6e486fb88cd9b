"""Block-level changes of ``ctxfit explain``: the zoo YOLO knobs (``YoloEdits``), blocks and
reasons, layer-graph bypasses, and one zoo detector explained end to end.

Layer counts of YOLOv8n (95 fused layers, ``ctxfit profile yolov8n``), derived per row:

* a C2f with n bottlenecks is cv1, split, 2 convs (+ an add with shortcut) per bottleneck, concat,
  cv2; as a plain block it is cv1 and the bottlenecks: 3 layers fewer (split, concat, cv2), so
  all 8 C2f rows plain: 95 - 24 = 71;
* SPPF (row 9) is cv1, 3 max-pools, concat, cv2: dropping it removes 6 layers: 89;
* row 4 runs 2 bottlenecks (6 x 0.33 = 2) with shortcuts: one fewer removes cv1, cv2, add: 92;
* the stride-32 head scale: rows 19 (conv), 20 (concat), 21 (C2f, n = 1: 6 layers) and the head's
  last box and class branches (3 convs each): 14 layers: 81.
"""

from __future__ import annotations

import pytest

from cost_model.caps import ResourceCaps
from cost_model.context import context_fit
from cost_model.hardware import preset
from cost_model.layer import Layer, OpKind
from partitioner.blocks import block_of, block_table, reason_lines
from partitioner.compile import compile_network
from partitioner.compile_request import prepare_compile
from partitioner.explain import explain
from partitioner.graph import Network
from partitioner.importers.torch_fx import import_module
from partitioner.model_script import parse_model_script
from partitioner.models import ModelRequest
from partitioner.tweaks import bypass, bypassable, sub_block_of
from partitioner.zoo.yolo import NO_EDITS, YoloEdits, yolov8
from partitioner.zoo_scripts import zoo_script

RAISED = ResourceCaps(control=1.1, compute=0.75, memory=0.92, apu=1.1, input_aligner=1.1)


def v8n(edits: YoloEdits = NO_EDITS) -> Network:
    return import_module(yolov8("n", width=1.0, depth=1.0, edits=edits).eval(),
                         (1, 3, 640, 640), name="yolov8n")  # fmt: skip


@pytest.fixture(scope="module")
def yolov8n_net():
    return v8n()


def test_no_edits_is_the_published_network(yolov8n_net):
    assert len(yolov8n_net) == 95
    assert sum(p.numel() for p in yolov8("n", width=1.0, depth=1.0).parameters()) == 3157184


@pytest.mark.parametrize(
    ("edits", "layers"),
    [
        (YoloEdits(plain=(2, 4, 6, 8, 12, 15, 18, 21)), 71),
        (YoloEdits(drop=(9,)), 89),
        (YoloEdits(repeats=((4, 1),)), 92),
        (YoloEdits(drop_last_scale=True), 81),
    ],
)
def test_yolo_edits_remove_the_hand_counted_layers(edits, layers):
    assert len(v8n(edits)) == layers


def test_yolo_edits_refuse_rows_of_another_kind():
    with pytest.raises(ValueError, match="row 9 is a SPPF, not a CSP block"):
        yolov8("n", width=1.0, depth=1.0, edits=YoloEdits(repeats=((9, 1),)))
    with pytest.raises(ValueError, match="row 8 is a C2f; only SPPF, SPP, C2PSA can be dropped"):
        yolov8("n", width=1.0, depth=1.0, edits=YoloEdits(drop=(8,)))


def test_narrowing_a_row_keeps_the_layers_and_lowers_the_macs(yolov8n_net):
    narrow = v8n(YoloEdits(narrow=((8, 0.5),)))
    assert len(narrow) == 95 and narrow.total_macs < yolov8n_net.total_macs
    # model.8's last 1x1 conv: c_in x c_out weights + 2 c_out folded batch-norm parameters;
    # published 384 -> 256 channels, narrowed 192 -> 128
    assert yolov8n_net.layer("model.8.cv2.conv").params == 384 * 256 + 2 * 256
    assert narrow.layer("model.8.cv2.conv").params == 192 * 128 + 2 * 128


def test_block_table_sums_to_the_single_context_demand(yolov8n_net):
    hw = preset("hailo8l")
    fit = context_fit([(x, yolov8n_net.fan_out(x.name)) for x in yolov8n_net.layers], hw, RAISED)
    rows = block_table(yolov8n_net, fit)
    assert [r.block for r in rows[:3]] == ["model.0", "model.1", "model.2"]
    assert len(rows) == 23  # rows 0-22 of the table, each its own block
    assert sum(r.layers for r in rows) == 95
    assert sum(r.lcus for r in rows) == fit.usage.lcus
    assert sum(r.l3_cuts for r in rows) == fit.usage.l3_cuts
    assert {r.block: r.layers for r in rows}["model.9"] == 6  # SPPF
    (lcus, *_) = reason_lines(yolov8n_net, fit, rows, hw, RAISED)
    takers = sum(1 for c in fit.layer_costs if c.resources.lcus > 0)
    assert lcus.startswith(
        f"LCUs: {takers} of the 95 fused layers take at least one LCU each ({fit.usage.lcus} in "
        f"all); one context allows 71 (110% of 64): {takers - 71} layers too many"
    )


def test_block_and_sub_block_names():
    assert block_of("model.22.cv2.0.2") == "model.22"
    assert block_of("/model.8/m.0/cv1/conv/Conv") == "model.8"
    assert sub_block_of("model.2.m.0.cv1.conv") == "model.2.m.0"
    assert sub_block_of("model.9.cv1.conv") is None


def _act(name, *src):
    return Layer(name=name, op=OpKind.ACTIVATION, inputs=src, input_shapes=((4, 8, 8),) * len(src),
                 output_shape=(4, 8, 8))  # fmt: skip


def test_bypass_needs_one_input_one_output_of_the_same_shape():
    # x -> a -> b.0 -> b.1 -> c(a, b.1): block b reads a only and only b.1 leaves it
    net = Network(
        "n",
        [_act("a", "x"), _act("b.0", "a"), _act("b.1", "b.0"), _act("c", "a", "b.1")],
        inputs={"x": (4, 8, 8)},
        outputs=["c"],
    )
    assert bypassable(net, ["b.0", "b.1"]) == ("a", "b.1")
    assert bypassable(net, ["a", "b.0"]) is None  # a is read outside too: two leave
    assert bypassable(net, ["c"]) is None  # a graph output
    short = bypass(net, ["b.0", "b.1"])
    assert short.topological_order() == ("a", "c") and short.layer("c").inputs == ("a", "a")


def test_yolov8n_on_hailo8l_gets_a_verified_block_change():
    request = ModelRequest(spec="yolov8n")
    hw = preset("hailo8l")
    e = explain(request, hw, kinds=("blocks",), timeout_s=1.0)
    assert e.report is not None and e.report.num_contexts > 1
    blocks = [s for s in e.suggestions if s.kind == "blocks"]
    assert blocks and all(s.num_contexts == 1 for s in blocks)
    best = blocks[0]
    assert best.macs_kept >= 0.9 and not best.approximate
    assert best.apply.startswith("yolov8('n', width=1, depth=1, edits=YoloEdits(")
    # the fewest changes (tests/test_explain_rows.py): the P5 scale dropped, control cap 1.2
    assert best.value == 2 and best.change.count(";") == 1
    # verified independently: rebuild the edited network, append the printed script lines to
    # the Model Zoo script and compile it as ctxfit compile does
    call, *lines = best.apply.split("; ")  # yolov8('n', width=1, depth=1, edits=...); script lines
    edits = eval(call[call.index("YoloEdits") : -1], {"YoloEdits": YoloEdits})
    module = eval(call, {"yolov8": yolov8, "YoloEdits": YoloEdits})  # runs as printed
    assert sum(p.numel() for p in module.parameters()) > 0
    net = v8n(edits)
    assert len(net) == best.layers and net.total_macs == best.macs
    zoo = zoo_script("yolov8n", "hailo8l")
    script = parse_model_script("\n".join([zoo.text if zoo else "", *lines]))
    prepared = prepare_compile(net, hw, script)
    report = compile_network(
        prepared.net, hw, prepared.settings.options, flow=prepared.settings.flow
    )
    assert report.single_context and report.fps[8] == pytest.approx(best.fps[8])


def test_a_scripts_positional_layer_names_stay_on_their_layers_in_the_changes(yolov8n_net):
    # Hailo's conv62 / conv63 are YOLOv8n's last box and class outputs (the P5 scale) in the
    # parser's order. A change that drops the P5 scale removes them: explain must neither stop
    # on the missing names nor give them to the 62nd / 63rd conv of the changed network.
    from partitioner.settings import anchor_layer_names, hailo_layer_names, without_absent_layers

    script = parse_model_script("quantization_param([conv62, conv63], precision_mode=a16_w16)")
    names = hailo_layer_names(yolov8n_net)
    anchored = anchor_layer_names(yolov8n_net, script)
    assert [p for p, _ in anchored.precision] == [names["conv62"], names["conv63"]]
    assert {names["conv62"], names["conv63"]} <= set(yolov8n_net.outputs)
    dropped = v8n(YoloEdits(drop_last_scale=True))
    assert without_absent_layers(dropped, anchored).precision == ()
    narrow = v8n(YoloEdits(plain=(2,)))  # keeps the head: the rules keep their layers
    assert without_absent_layers(narrow, anchored).precision == anchored.precision
    e = explain(ModelRequest(spec="yolov8n"), preset("hailo8l"), kinds=("blocks",),
                timeout_s=1.0, script=script)  # fmt: skip
    assert e.report is not None and [s for s in e.suggestions if s.kind == "blocks"]
