"""``ctxfit explain``: the search helpers, and suggestions checked against hand-derived values.

The ONNX chain below is the workhorse: N 1x1 convs of 8 channels, one node each, so at the
lowest demand the single context needs exactly N LCUs (1 per layer). explain runs the flow
``ctxfit compile`` runs (an ONNX file: the compiler's defaults), whose single context is decided
at the raised control cap of 1.1 (``FlowParams.raised_caps``, ``decide_at_raised_caps``): on
Hailo-8L ceil(1.1 x 64) = 71 LCUs. So 75 convs do not fit (60 did at the old 75% caps: the
chain grew from 60 to 75 when explain moved onto compile's flow) and:

* raising the control cap from 1.1 in steps of 0.05: 1.15 allows ceil(73.6) = 74 < 75, 1.2
  allows ceil(76.8) = 77 >= 75 (the highest explain suggests, ``CAP_LIMITS``);
* the longest prefix that fits keeps 71 convs (one tensor in, one out), which the importer
  gives for ``--end-nodes conv70``; the host runs the other 4 (4/75 = 5% of the MACs);
* bypassing any 4 convs on the layer graph fits (71 LCUs), an approximation keeping 71/75 of
  the MACs;
* 4-bit weights cannot help (the weights are not what binds).
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper
from rich.console import Console

from cost_model.caps import SINGLE_CONTEXT_CAPS, ResourceCaps, cap_limit
from cost_model.context import context_fit
from cost_model.hardware import preset
from cost_model.layer import Layer, OpKind
from partitioner.cli import main
from partitioner.cmd_explain import explanation_view
from partitioner.compile import compile_network
from partitioner.explain import (
    cap_candidates,
    caps_script,
    changed_request,
    cut_candidates,
    end_layers,
    explain,
    first_passing,
    model_knobs,
    multiplier_candidates,
    order_suggestions,
    prefix_network,
    resolution_candidates,
)
from partitioner.graph import Network
from partitioner.model_script import parse_model_script
from partitioner.models import ModelRequest, load_network
from partitioner.search import SearchOptions
from tests.nets import pointwise_chain


# -- fixtures ------------------------------------------------------------------------------------
def conv_chain_onnx(directory: Path, n: int, channels: int = 8, side: int = 32) -> Path:
    """``n`` 1x1 convs in a chain, ``channels`` in and out, input 1 x C x side x side."""
    nodes, inits, prev = [], [], "x"
    for i in range(n):
        w = np.zeros((channels, channels, 1, 1), np.float32)
        inits.append(numpy_helper.from_array(w, f"w{i}"))
        nodes.append(helper.make_node("Conv", [prev, f"w{i}"], [f"c{i}"], name=f"conv{i}"))
        prev = f"c{i}"
    graph = helper.make_graph(
        nodes,
        "chain",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, channels, side, side])],
        [helper.make_tensor_value_info(prev, TensorProto.FLOAT, None)],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = directory / f"chain{n}.onnx"
    onnx.save(model, path)
    return path


@pytest.fixture(scope="module")
def chain60(tmp_path_factory):
    return conv_chain_onnx(tmp_path_factory.mktemp("onnx"), 60)


@pytest.fixture(scope="module")
def chain75(tmp_path_factory):
    return conv_chain_onnx(tmp_path_factory.mktemp("onnx"), 75)


@pytest.fixture(scope="module")
def chain75_on_hailo8l(chain75):
    return explain(ModelRequest(spec=str(chain75)), preset("hailo8l"), timeout_s=1.0)


RAISED = ResourceCaps(control=1.1, compute=0.75, memory=0.92, apu=1.1, input_aligner=1.1)
"""The default flow's single-context caps (``FlowParams.raised_caps``)."""

# The cost-model constants these tests' hand numbers were derived at (before the calibration
# under each Model Zoo row's flow): the tests check explain's logic, not the calibration.
PINNED = {
    "compute_efficiency": 0.66125, "dwconv_efficiency": 0.014, "matmul_efficiency": 0.5,
    "elements_per_sc_per_cycle": 0.4165, "sc_cycles_per_row": 5600.0, "max_nodes_per_layer": 4,
    "l3_cut_bytes": 32768, "config_bytes_per_node": 19497, "context_switch_overhead_s": 0.575e-3,
    "pcie_row_overhead_s": 1.275e-6, "pcie_transfer_overhead_s": 0.0,
    "pcie_out_row_overhead_s": 1.275e-6,
}  # fmt: skip


def pinned(name: str):
    return preset(name).with_params(**PINNED)


def fits(net: Network, hw_name: str, caps: ResourceCaps = SINGLE_CONTEXT_CAPS) -> bool:
    layers = [(x, net.fan_out(x.name)) for x in net.layers]
    return context_fit(layers, preset(hw_name), caps).fits


# -- search helpers ------------------------------------------------------------------------------
@given(count=st.integers(0, 200), threshold=st.integers(0, 220))
def test_first_passing_finds_the_first_pass_in_logarithmic_calls(count, threshold):
    calls: list[int] = []

    def passes(i):
        calls.append(i)
        return i >= threshold

    found = first_passing(count, passes)
    assert found == (threshold if threshold < count else None)
    if found is not None and found > 0:
        assert found - 1 in calls  # the answer's predecessor was seen to fail
    # the last first; galloping 0, 1, 3, ... reaches index i in floor(log2(i + 1)) + 1 probes,
    # then at most as many bisection steps
    if threshold >= count:
        assert calls == ([count - 1] if count else [])
    bound = 1 + 2 * (math.floor(math.log2(count + 1)) + 1)
    assert len(calls) <= bound


def test_candidate_grids():
    assert multiplier_candidates(1.0) == [k / 16 for k in range(15, 0, -1)]
    assert multiplier_candidates(0.0625) == []
    assert resolution_candidates(640, 32) == list(range(608, 0, -32))
    assert resolution_candidates(224, 16)[:3] == [208, 192, 176]
    caps = cap_candidates(SINGLE_CONTEXT_CAPS, ["lcus", "apus"])
    assert [(c.control, c.apu, c.memory) for c in caps] == [
        (u, u, 0.75) for u in (0.8, 0.85, 0.9, 0.95, 1.0)
    ]
    assert cap_candidates(ResourceCaps.uniform(1.0), ["lcus"]) == []
    assert caps_script(caps[0], ["lcus", "apus"]) == (
        "resources_param(max_control_utilization=0.8, max_apu_utilization=0.8)"
    )


def _relu(name, *src):
    return Layer(
        name=name,
        op=OpKind.ACTIVATION,
        inputs=src,
        input_shapes=((4, 8, 8),) * len(src),
        output_shape=(4, 8, 8),
    )


def test_prefix_network_ends_where_tensors_leave_it():
    # x -> a -> b -> c(a, b) -> d; the output d. A cut after b leaves a and b (both read by c).
    net = Network(
        "n",
        [_relu("a", "x"), _relu("b", "a"), _relu("c", "a", "b"), _relu("d", "c")],
        inputs={"x": (4, 8, 8)},
        outputs=["d"],
    )
    assert end_layers(net, 2) == ("a", "b")
    assert end_layers(net, 3) == ("c",)
    cut = prefix_network(net, 3)
    assert cut.topological_order() == ("a", "b", "c") and cut.outputs == ("c",)
    # edges per cut: 1 input + (1, 2, 1) end layers; the whole network is not a cut
    assert cut_candidates(net, 3) == [3, 2, 1]
    assert cut_candidates(net, 2) == [3, 1]


def test_changed_request_keeps_the_input_shape_in_step():
    base = ModelRequest(spec="resnet18", input_shape=(1, 3, 224, 224))
    assert changed_request(base, "resolution", 160).input_shape == (1, 3, 160, 160)
    assert changed_request(base, "width", 0.5) == ModelRequest(
        spec="resnet18", input_shape=(1, 3, 224, 224), width=0.5
    )


def test_model_knobs_of_zoo_factory_and_onnx(tmp_path, chain60):
    knobs, notes = model_knobs(ModelRequest(spec="mobilenet_v1", resolution=160))
    assert {k: v.current for k, v in knobs.items()} == {"width": 1.0, "resolution": 160}
    assert knobs["resolution"].candidates == (128, 96, 64, 32) and notes == ()
    vit, _ = model_knobs(ModelRequest(spec="vit_tiny"))
    assert vit["resolution"].candidates[:2] == (208, 192)  # ViT patch 16
    factory = tmp_path / "net.py"
    factory.write_text(
        "import torch\n\ndef build(width=0.5, depth=None, channels=8):\n"
        "    return torch.nn.Conv2d(3, channels, 1)\n"
    )
    knobs, notes = model_knobs(ModelRequest(spec=f"{factory}:build"))
    assert list(knobs) == ["width"] and knobs["width"].current == 0.5
    assert [n.kind for n in notes] == ["depth"]  # no numeric default to search below
    assert model_knobs(ModelRequest(spec=str(chain60))) == ({}, ())


# -- suggestions on the ONNX chain (no rebuild) --------------------------------------------------
def test_onnx_chain_needs_n_lcus_at_the_lowest_demand(chain75_on_hailo8l):
    e = chain75_on_hailo8l
    hw = preset("hailo8l")
    assert e.layers == 75 and e.knobs == {} and e.flow == "default"
    assert e.single_fit.over[0] == ("lcus", 75, cap_limit(1.1, hw.lcus_total))  # 75/71
    assert e.report is not None and e.report.num_contexts >= 2
    assert [c.index for c in e.contexts] == list(range(e.report.num_contexts))


def test_onnx_chain_reason_names_the_layer_count(chain75_on_hailo8l):
    (reason,) = chain75_on_hailo8l.reasons
    assert reason.startswith(
        "LCUs: 75 of the 75 fused layers take at least one LCU each (75 in all); one context "
        "allows 71 (110% of 64): 4 layers too many. Width, resolution and 4-bit weights change "
        "LCUs per layer, not the layer count"
    )


def test_onnx_chain_blocks_are_its_layers(chain75_on_hailo8l):
    rows = chain75_on_hailo8l.blocks
    assert [r.block for r in rows[:3]] == ["conv0", "conv1", "conv2"] and len(rows) == 75
    assert {(r.layers, r.lcus) for r in rows} == {(1, 1)}  # one LCU per conv


def test_onnx_chain_cap_suggestion_follows_control_to_1_2(chain75_on_hailo8l):
    (caps,) = [s for s in chain75_on_hailo8l.suggestions if s.kind == "caps"]
    assert caps.value == 1.2  # ceil(1.2 x 64) = 77 >= 75 > 74 = ceil(1.15 x 64)
    assert caps.apply == "resources_param(max_control_utilization=1.2)"
    assert caps.num_contexts == 1 and caps.fps[1] == pytest.approx(caps.fps[8])


def test_onnx_chain_block_bypass_keeps_71_layers(chain75_on_hailo8l):
    (blocks,) = [s for s in chain75_on_hailo8l.suggestions if s.kind == "blocks"]
    assert blocks.layers == 71 and blocks.value == 4 and blocks.approximate
    assert blocks.macs_kept == pytest.approx(71 / 75)
    assert blocks.num_contexts == 1 and "approximation" in blocks.note


def test_onnx_chain_cut_keeps_71_layers(chain75, chain75_on_hailo8l):
    (cut,) = [s for s in chain75_on_hailo8l.suggestions if s.kind == "cut"]
    assert cut.value == 71 and cut.layers == 71  # 71 LCUs = the 110% limit of 64
    assert cut.apply == "--end-nodes conv70"  # verified by importing the file with it
    assert cut.note == "the host runs the other 4 layers (5% of the MACs)"
    net = load_network(ModelRequest(spec=str(chain75)))
    assert fits(prefix_network(net, 71), "hailo8l", RAISED)
    assert not fits(prefix_network(net, 72), "hailo8l", RAISED)
    # the reported FPS is the partitioner's, compiled again here
    options = SearchOptions(single_caps=RAISED)
    report = compile_network(prefix_network(net, 71), preset("hailo8l"), options)
    assert report.single_context and report.fps[8] == pytest.approx(cut.fps[8], rel=0.2)


def test_onnx_chain_has_no_architecture_suggestion_and_4bit_cannot_help(chain75_on_hailo8l):
    e = chain75_on_hailo8l
    assert {s.kind for s in e.suggestions} == {"blocks", "caps", "cut"}
    (precision,) = [u for u in e.unreachable if u.kind == "precision"]
    assert "LCUs: 75/71" in precision.reason
    # the cut keeps 95% of the MACs too; nothing here is below 90%: the order is the kinds'
    assert [s.kind for s in e.suggestions] == ["blocks", "caps", "cut"]


def test_explain_numbers_are_compiles(chain60, capsys):
    # 60 convs fit one Hailo-8L context in compile's flow (60 <= 71 LCUs): explain must say so
    # and give compile's FPS (before, explain decided at 75% and found several contexts)
    e = explain(ModelRequest(spec=str(chain60)), preset("hailo8l"), kinds=("caps",))
    assert e.single_fit.fits and e.report is not None and e.report.single_context
    assert main(["compile", str(chain60), "--hw", "hailo8l", "--json", "-", "--quiet"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {int(b): f for b, f in data["fps"].items()} == pytest.approx(e.report.fps)


def test_a_model_that_fits_is_asked_for_125_percent_fps(chain60):
    # On Hailo-8 the 60 convs fit at 6 SCs each (360 of ceil(0.75 x 512) = 384 SCs), and the rate
    # of each is proportional to its SCs. 1.25 x the FPS needs 7.5 -> 8 SCs per conv: 480 SCs,
    # which a compute cap of 0.95 allows (ceil(0.95 x 512) = 487) and 0.90 does not (461).
    e = explain(ModelRequest(spec=str(chain60)), pinned("hailo8"), timeout_s=1.0)
    assert e.single_fit.fits and e.report is not None and e.report.num_contexts == 1
    assert (e.contexts[0].binding, e.contexts[0].used) == ("subclusters", 360)
    base_fps = e.report.fps[1]
    assert e.target_fps == pytest.approx(1.25 * base_fps) and not e.goal_met
    assert [s.kind for s in e.suggestions] == ["caps"]  # a cut removes work: not offered
    (caps,) = e.suggestions
    assert caps.value == 0.95 and caps.num_contexts == 1
    assert caps.fps[1] == pytest.approx(base_fps * 8 / 6)


# -- zoo models (rebuilt) ------------------------------------------------------------------------
def test_resnet18_width_and_depth_suggestions():
    # ResNet-18 has 2 units per stage; a depth d gives floor(2 d + 0.5) units, so one unit per
    # stage for d < 0.75: on the 1/16 grid, 0.6875. With 2 units it needs more L3 cuts than
    # Hailo-8L's single context allows (ceil(0.75 x 512) = 384). The caps are held at 0.75 by a
    # script (explain runs compile's flow, whose default decides one context at raised caps).
    request = ModelRequest(spec="resnet_v1_18", resolution=64)
    at_75 = parse_model_script("resources_param(max_utilization=0.75)")
    e = explain(request, pinned("hailo8l"), kinds=("width", "depth"), timeout_s=1.0, script=at_75)
    assert [s.kind for s in e.suggestions] == ["width", "depth"]
    width, depth = e.suggestions
    assert depth.value == 0.6875 and depth.num_contexts == 1
    assert depth.layers < e.layers and depth.params < e.params
    # the first width step below 1 already fits (0.88 x the weights)
    assert width.value == 0.9375 and width.apply == "--width 0.9375"
    assert width.num_contexts == 1 and width.params < e.params


def test_factory_depth_suggestion_is_the_hand_derived_one(tmp_path):
    # int(80 x depth) 1x1 convs of 8 channels, one LCU each (as the ONNX chain): Hailo-8L's
    # single context allows 71 (compile's flow; 48 at the old 75% caps, with 60 convs), so
    # depth must give <= 71 convs: int(80 x 0.875) = 70 fits, int(80 x 0.9375) = 75 does not;
    # 0.875 is the largest such depth on the 1/16 grid.
    factory = tmp_path / "deep.py"
    factory.write_text(
        "from torch import nn\n\n"
        "def build(depth=1.0):\n"
        "    net = nn.Sequential(*[nn.Conv2d(8, 8, 1) for _ in range(int(80 * depth))])\n"
        "    net.input_shape = (1, 8, 32, 32)\n"
        "    return net\n"
    )
    request = ModelRequest(spec=f"{factory}:build")
    e = explain(request, preset("hailo8l"), kinds=("depth",), timeout_s=1.0)
    assert e.single_fit.over[0] == ("lcus", 80, 71)
    (depth,) = e.suggestions
    assert (depth.value, depth.layers, depth.apply) == (0.875, 70, "depth=0.875")


# -- the command ---------------------------------------------------------------------------------
def test_cli_json_and_table(chain75, capsys):
    args = ["explain", str(chain75), "--hw", "hailo8l", "--json", "-", "--quiet"]
    assert main([*args, "--timeout", "1"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["kind"] == "ctxfit.explain" and data["single_context"] is False
    assert data["single_context_over"][0] == {"resource": "lcus", "used": 75, "limit": 71}
    values = {s["kind"]: s["value"] for s in data["suggestions"]}
    assert values == {"blocks": 4, "caps": 1.2, "cut": 71}
    assert set(data["suggestions"][0]["fps"]) == {"1", "8"}
    assert data["suggestions"][0]["macs_kept"] == pytest.approx(71 / 75)
    assert data["reasons"][0].startswith("LCUs: 75 of the 75 fused layers")
    assert data["blocks"][0] == {
        "block": "conv0", "layers": 1, "lcus": 1, "subclusters": data["blocks"][0]["subclusters"],
        "l3_cuts": data["blocks"][0]["l3_cuts"], "apus": 1, "input_aligners": 1,
        "params": 64, "macs": 64 * 32 * 32,
    }  # fmt: skip


def test_rendered_view(chain75_on_hailo8l):
    # wide enough that no script line folds (the FPS columns take 8 characters each)
    console = Console(file=io.StringIO(), width=120, color_system=None)
    console.print(explanation_view(chain75_on_hailo8l))
    text = console.file.getvalue()
    assert "One context (default flow) needs LCUs: 75/71" in text
    assert "- LCUs: 75 of the 75 fused layers take at least one LCU each" in text
    assert "Where the single-context budget goes" in text
    assert "resources_param(max_control_utilization=1.2)" in text
    assert "precision: cannot reach one context: even every weight in 4 bits" in text


def test_cli_errors_exit_2(chain75, capsys):
    assert main(["explain", str(chain75), "--width", "0.5"]) == 2
    assert main(["explain", str(chain75), "--only", "colour"]) == 2
    err = capsys.readouterr().err
    assert "--width cannot change an .onnx file" in err
    assert "unknown kind of change 'colour'" in err


def test_suggestions_below_90_percent_of_the_macs_come_last_and_are_marked(chain75_on_hailo8l):
    blocks, caps, cut = chain75_on_hailo8l.suggestions
    low = replace(cut, macs_kept=0.5)
    assert order_suggestions([low, blocks, caps]) == (blocks, caps, low)
    shown = replace(chain75_on_hailo8l, suggestions=(blocks, caps, low))
    # wide enough that no script line folds (the FPS columns take 8 characters each)
    console = Console(file=io.StringIO(), width=120, color_system=None)
    console.print(explanation_view(shown))
    assert "[!] keeps only 50.0% of the MACs on the chip" in console.file.getvalue()


def test_ctrl_c_returns_what_was_verified_so_far(chain75, chain75_on_hailo8l, monkeypatch, capsys):
    # Ctrl-C as the change search starts: explain stops searching, the unchanged model's compile
    # in its worker thread stops with its best partition, and the answer is printed (exit 130,
    # as compile), not a KeyboardInterrupt after waiting for the worker
    import _thread
    import signal

    import partitioner.explain as explain_module

    real = explain_module._search_all

    def interrupted_search(explorer, *args, **kwargs):
        _thread.interrupt_main()  # handled at the next bytecode: before any change is checked
        return real(explorer, *args, **kwargs)

    monkeypatch.setattr(explain_module, "_search_all", interrupted_search)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal
    lines: list[str] = []
    try:
        result = explain(
            ModelRequest(spec=str(chain75)), preset("hailo8l"), timeout_s=1.0, log=lines.append
        )
        code = main(["explain", str(chain75), "--hw", "hailo8l", "--timeout", "1"])
    finally:
        signal.signal(signal.SIGINT, previous)
    assert result.interrupted and result.to_dict()["interrupted"] is True
    assert "Interrupted: keeping the changes verified so far" in lines
    assert result.report is not None and result.report.num_contexts >= 2  # its best so far
    assert result.suggestions == ()  # the search took no check after Ctrl-C
    assert code == 130
    assert "Interrupted (Ctrl-C)" in capsys.readouterr().out
    # the same run without Ctrl-C is complete
    assert not chain75_on_hailo8l.interrupted and chain75_on_hailo8l.suggestions


def test_a_network_over_75_percent_on_nodes_and_memory_is_explained_by_the_rule(tmp_path):
    # 100 1x1 convs, each 1 LCU and 7 + 1 L3 cuts of 16 KiB: within the default flow's raised
    # caps (141 LCUs, 943 cuts), over 75% on both (96, 768), so the rule of one raised class
    # sends it to the multi-context flow, and either class brought under 75% would do
    path = tmp_path / "both.json"
    path.write_text(json.dumps(pointwise_chain(100, 7).to_dict()))
    hw = preset("hailo8").with_params(l3_cut_bytes=16384, fused_ops=())
    result = explain(ModelRequest(spec=str(path)), hw, kinds=("caps",), timeout_s=1.0)
    assert result.single_fit.both_classes
    lcus, l3 = result.reasons
    assert "one context allows 96 (75% of 128): 4 layers too many" in lcus
    assert "L3 cuts: 800 at the lowest rate; one context allows 768 (75% of 1024): 32 over" in l3
    console = Console(file=io.StringIO(), width=240, color_system=None)
    console.print(explanation_view(result))
    assert (
        "needs LCUs: 100/96, L3 cuts: 800/768 (either the nodes or the L3 cuts under those limits "
        "would do: ctxfit's rule of one raised class)"
    ) in console.file.getvalue()
    # the caps suggestion raises one class only (the nodes, as close to 75% as L3): one step
    # above the flow's 110%; a cap the script sets is that class's own limit (1.15 x 128 = 148
    # LCUs), so the nodes are no longer over it and the rule passes (before: both classes raised)
    (caps,) = [s for s in result.suggestions if s.kind == "caps"]
    assert caps.apply == "resources_param(max_control_utilization=1.15)"
    assert caps.num_contexts == 1


def test_caps_raised_until_pcie_binds_say_how_far_they_got(tmp_path, capsys):
    """A one-context chain on Hailo-8 whose compute binds at the flow's caps (2,297 FPS) and
    whose PCIe allows 2,655: the compute cap raised to 0.9 reaches the PCIe rate, short of the
    goal (1.25 x 2,297). The reason says so, not that PCIe binds instead of a cap."""
    from tests.nets import conv_chain

    path = tmp_path / "chain.json"
    conv_chain(22, channels=24, hw=160).save(path)
    assert main(["explain", str(path), "--hw", "hailo8", "--json", "-", "--quiet"]) == 0
    found = json.loads(capsys.readouterr().out)
    (caps,) = [u for u in found["unreachable"] if u["kind"] == "caps"]
    assert caps["reason"] == (
        "even resources_param(max_compute_utilization=0.9): 2,655.0 FPS, then PCIe binds, not a cap"
    )


def test_a_kind_asked_for_that_does_not_apply_says_so_and_a_cut_says_how(tmp_path, capsys):
    """A saved graph has no width, depth or resolution knob: ``--only depth`` says so instead
    of nothing; a cut of a model that is not an ONNX file names ctxfit's layers and how to get
    the nodes for ``--end-nodes`` (they only apply to ONNX files)."""
    from tests.nets import conv_chain

    graph = tmp_path / "chain75.json"
    conv_chain(75).save(graph)
    args = ["explain", str(graph), "--hw", "hailo8l", "--json", "-", "--quiet", "--timeout", "1"]
    assert main([*args, "--only", "depth", "cut"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {"kind": "depth", "reason": "this model has no depth knob"} in data["unreachable"]
    (cut,) = [s for s in data["suggestions"] if s["kind"] == "cut"]
    assert cut["apply"].startswith("end the graph after conv70 (ctxfit's layer names: export")
