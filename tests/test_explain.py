"""``ctxfit explain``: the search helpers, and suggestions checked against hand-derived values.

The ONNX chain below is the workhorse: N 1x1 convs of 8 channels, one node each, so at the
lowest demand the single context needs exactly N LCUs (1 per layer). On Hailo-8L the
single-context caps allow ceil(0.75 x 64) = 48 LCUs, so 60 convs do not fit and:

* the control cap that fits is the first u on the 0.05 grid with ceil(u x 64) >= 60: 0.95
  (0.90 allows 58);
* the longest prefix that fits keeps 48 convs (one tensor in, one out), which the importer
  gives for ``--end-nodes conv47``;
* 4-bit weights cannot help (the weights are not what binds).
"""

from __future__ import annotations

import io
import json
import math
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
    prefix_network,
    resolution_candidates,
)
from partitioner.graph import Network
from partitioner.models import ModelRequest, load_network
from partitioner.search import SearchOptions


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
def chain60_on_hailo8l(chain60):
    return explain(ModelRequest(spec=str(chain60)), preset("hailo8l"), timeout_s=1.0)


# The cost-model constants these tests' hand numbers were derived at (before the calibration
# under each Model Zoo row's flow): the tests check explain's logic, not the calibration.
PINNED = {
    "compute_efficiency": 0.66125, "dwconv_efficiency": 0.014, "matmul_efficiency": 0.5,
    "elements_per_sc_per_cycle": 0.4165, "sc_cycles_per_row": 5600.0, "max_nodes_per_layer": 4,
    "l3_cut_bytes": 32768, "config_bytes_per_node": 19497, "context_switch_overhead_s": 0.575e-3,
    "pcie_row_overhead_s": 1.275e-6, "pcie_transfer_overhead_s": 0.0,
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
def test_onnx_chain_needs_n_lcus_at_the_lowest_demand(chain60_on_hailo8l):
    e = chain60_on_hailo8l
    hw = preset("hailo8l")
    assert e.layers == 60 and e.knobs == {}
    assert e.single_fit.over[0] == ("lcus", 60, cap_limit(0.75, hw.lcus_total))  # 60/48
    assert e.report is not None and e.report.num_contexts >= 2
    assert [c.index for c in e.contexts] == list(range(e.report.num_contexts))


def test_onnx_chain_cap_suggestion_is_the_hand_derived_one(chain60_on_hailo8l):
    (caps,) = [s for s in chain60_on_hailo8l.suggestions if s.kind == "caps"]
    assert caps.value == 0.95  # ceil(0.95 x 64) = 61 >= 60 > 58 = ceil(0.90 x 64)
    assert caps.apply == "resources_param(max_control_utilization=0.95)"
    assert caps.num_contexts == 1 and caps.fps[1] == pytest.approx(caps.fps[8])


def test_onnx_chain_cut_keeps_48_layers(chain60, chain60_on_hailo8l):
    (cut,) = [s for s in chain60_on_hailo8l.suggestions if s.kind == "cut"]
    assert cut.value == 48 and cut.layers == 48  # 48 LCUs = the 75% limit of 64
    assert cut.apply == "--end-nodes conv47"  # verified by importing the file with it
    net = load_network(ModelRequest(spec=str(chain60)))
    assert fits(prefix_network(net, 48), "hailo8l")
    assert not fits(prefix_network(net, 49), "hailo8l")
    # the reported FPS is the partitioner's, compiled again here
    report = compile_network(prefix_network(net, 48), preset("hailo8l"), SearchOptions())
    assert report.single_context and report.fps[8] == pytest.approx(cut.fps[8])


def test_onnx_chain_has_no_architecture_suggestion_and_4bit_cannot_help(chain60_on_hailo8l):
    e = chain60_on_hailo8l
    assert {s.kind for s in e.suggestions} == {"caps", "cut"}
    (precision,) = [u for u in e.unreachable if u.kind == "precision"]
    assert "LCUs: 60/48" in precision.reason


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
    # Hailo-8L's single context allows (ceil(0.75 x 512) = 384).
    request = ModelRequest(spec="resnet_v1_18", resolution=64)
    e = explain(request, pinned("hailo8l"), kinds=("width", "depth"), timeout_s=1.0)
    assert [s.kind for s in e.suggestions] == ["width", "depth"]
    width, depth = e.suggestions
    assert depth.value == 0.6875 and depth.num_contexts == 1
    assert depth.layers < e.layers and depth.params < e.params
    # the first width step below 1 already fits (0.88 x the weights)
    assert width.value == 0.9375 and width.apply == "--width 0.9375"
    assert width.num_contexts == 1 and width.params < e.params


def test_factory_depth_suggestion_is_the_hand_derived_one(tmp_path):
    # int(60 x depth) 1x1 convs of 8 channels, one LCU each (as the ONNX chain): Hailo-8L's
    # single context allows 48, so depth must give <= 48 convs: int(60 x 0.8125) = 48 fits,
    # int(60 x 0.875) = 52 does not; 0.8125 is the largest such depth on the 1/16 grid.
    factory = tmp_path / "deep.py"
    factory.write_text(
        "from torch import nn\n\n"
        "def build(depth=1.0):\n"
        "    net = nn.Sequential(*[nn.Conv2d(8, 8, 1) for _ in range(int(60 * depth))])\n"
        "    net.input_shape = (1, 8, 32, 32)\n"
        "    return net\n"
    )
    request = ModelRequest(spec=f"{factory}:build")
    e = explain(request, preset("hailo8l"), kinds=("depth",), timeout_s=1.0)
    assert e.single_fit.over[0] == ("lcus", 60, 48)
    (depth,) = e.suggestions
    assert (depth.value, depth.layers, depth.apply) == (0.8125, 48, "depth=0.8125")


# -- the command ---------------------------------------------------------------------------------
def test_cli_json_and_table(chain60, capsys):
    assert main(["explain", str(chain60), "--hw", "hailo8l", "--json", "-", "--quiet"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["kind"] == "ctxfit.explain" and data["single_context"] is False
    assert data["single_context_over"][0] == {"resource": "lcus", "used": 60, "limit": 48}
    assert {s["kind"]: s["value"] for s in data["suggestions"]} == {"caps": 0.95, "cut": 48}
    assert set(data["suggestions"][0]["fps"]) == {"1", "8"}


def test_rendered_view(chain60_on_hailo8l):
    console = Console(file=io.StringIO(), width=100, color_system=None)
    console.print(explanation_view(chain60_on_hailo8l))
    text = console.file.getvalue()
    assert "One context at the 75% caps needs LCUs: 60/48" in text
    assert "resources_param(max_control_utilization=0.95)" in text
    assert "precision: cannot reach one context: even every weight in 4 bits" in text


def test_cli_errors_exit_2(chain60, capsys):
    assert main(["explain", str(chain60), "--width", "0.5"]) == 2
    assert main(["explain", str(chain60), "--only", "colour"]) == 2
    err = capsys.readouterr().err
    assert "--width cannot change an .onnx file" in err
    assert "unknown kind of change 'colour'" in err
