"""The compiler's flows (issue 13): which caps decide one context, which price its FPS, the
performance flow, required FPS, forced multi-context, 4-bit shares, Hailo's generated layer
names, and the Model Zoo script a zoo model compiles with by default."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from cost_model.caps import MULTI_CONTEXT_CAPS, SINGLE_CONTEXT_CAPS, ResourceCaps
from cost_model.context import context_fit
from cost_model.hardware import PcieLink, preset
from cost_model.layer import Layer, OpKind, Precision
from cost_model.throughput import pcie_time_s
from partitioner.cli import main
from partitioner.compile import compile_network
from partitioner.compile_request import chip_of, prepare_compile
from partitioner.errors import UsageError
from partitioner.flows import (
    COMPRESSION_FRACTION,
    FLOW_PARAMS,
    NO_GPU_LINE,
    PERFORMANCE_CAPS_ERROR,
    REQUIRED_FPS_MULTI_LINE,
    FlowParams,
    resolve_flow,
)
from partitioner.graph import Network
from partitioner.model_script import parse_model_script
from partitioner.report import required_note
from partitioner.settings import compression_precision, hailo_layer_names, merge_settings
from partitioner.zoo_scripts import zoo_row, zoo_script
from tests.nets import conv_chain, pointwise_chain

HW = preset("hailo8")
RAISED = FlowParams(
    raised_caps=ResourceCaps.uniform(1.0),
    raise_multi_context=False,
    multi_raised_caps=None,
    decide_at_raised_caps=False,
)


def flow_of(text: str = "", **flags):
    return resolve_flow(parse_model_script(text) if text else None, **flags)


# -- resolve_flow --------------------------------------------------------------------------------
def test_performance_with_caps_is_ignored_and_the_advice_says_why():
    f = flow_of("resources_param(max_control_utilization=0.9)", performance=True)
    assert f.level == "1" and f.log_lines[0].startswith("--performance ignored: the caps are set")
    assert f.log_lines[1].endswith("(Without the caps this script sets: the two do not combine.)")
    assert not flow_of().log_lines[0].endswith("do not combine.)")


def test_default_flow_decides_at_75_and_60_and_raises_the_single_context():
    f = flow_of(params=RAISED)
    assert (f.name, f.level) == ("default", "1")
    assert f.single_caps == SINGLE_CONTEXT_CAPS and f.multi_caps == MULTI_CONTEXT_CAPS
    assert f.single_fps_caps == ResourceCaps.uniform(1.0)
    assert f.multi_fps_caps == MULTI_CONTEXT_CAPS  # not raised unless the parameter says so
    raised_multi = flow_of(params=replace(RAISED, raise_multi_context=True))
    assert raised_multi.multi_fps_caps == ResourceCaps.uniform(1.0)
    # the multi-context raise may have its own ceiling; explicit caps are never raised
    own = replace(RAISED, raise_multi_context=True, multi_raised_caps=ResourceCaps.uniform(0.8))
    assert flow_of(params=own).multi_fps_caps == ResourceCaps.uniform(0.8)
    assert flow_of(params=own).single_fps_caps == ResourceCaps.uniform(1.0)
    capped = flow_of("resources_param(max_compute_utilization=0.65)", params=own)
    assert (capped.multi_fps_caps.compute, capped.multi_fps_caps.control) == (0.65, 0.8)


def test_one_context_decided_at_the_raised_caps_when_the_parameter_says_so():
    decide = replace(RAISED, decide_at_raised_caps=True)
    f = flow_of(params=decide)
    assert f.single_caps == f.single_fps_caps == ResourceCaps.uniform(1.0)
    assert f.multi_caps == MULTI_CONTEXT_CAPS
    # explicit caps stay as given
    capped = flow_of("resources_param(max_control_utilization=0.8)", params=decide)
    assert capped.single_caps.control == 0.8 and capped.single_caps.compute == 1.0
    # a chain of 110 convs needs 110 LCUs at its lowest rate: over 96 (75%), within 128 (100%)
    net = conv_chain(110)
    pairs = [(x, net.fan_out(x.name)) for x in net.layers]
    assert not context_fit(pairs, HW, SINGLE_CONTEXT_CAPS).fits
    at_75 = merge_settings(net, None, flow_params=RAISED, timeout_s=2)
    at_raised = merge_settings(net, None, flow_params=decide, timeout_s=2)
    assert not compile_network(net, HW, at_75.options, flow=at_75.flow).single_context
    assert compile_network(net, HW, at_raised.options, flow=at_raised.flow).single_context


def test_one_raised_class_rule_keeps_the_75_percent_caps_as_its_base():
    rule = replace(RAISED, decide_at_raised_caps=True, single_raise_one_class=True)
    f = flow_of(params=rule)
    assert f.single_caps == ResourceCaps.uniform(1.0)
    assert f.single_base_caps == SINGLE_CONTEXT_CAPS
    # the user's caps are the base of their own resources
    capped = flow_of("resources_param(max_memory_utilization=0.9)", params=rule)
    assert capped.single_base_caps == SINGLE_CONTEXT_CAPS.with_cap("memory", 0.9)
    # no rule: without the parameter, when one context is decided at 75%, and in the
    # performance flow, which picks its caps itself
    assert flow_of(params=replace(rule, single_raise_one_class=False)).single_base_caps is None
    assert flow_of(params=replace(rule, decide_at_raised_caps=False)).single_base_caps is None
    perf = flow_of("performance_param(compiler_optimization_level=max)", params=rule)
    assert perf.single_base_caps is None


def test_a_network_over_75_percent_on_nodes_and_memory_takes_the_multi_context_flow():
    # 100 1x1 convs on 8x8x64 with 7 cuts of weights each (+ 1 of line buffer): 100 LCUs and
    # 800 L3 cuts at the lowest rate, over 96 and 768 (75%), within 128 and 1024 (100%)
    hw = HW.with_params(l3_cut_bytes=16384, fused_ops=(), extra_nodes_by_op=())
    net = pointwise_chain(100, 7)
    lines: list[str] = []
    for on, single in ((False, True), (True, False)):
        params = replace(RAISED, decide_at_raised_caps=True, single_raise_one_class=on)
        settings = merge_settings(net, None, flow_params=params, timeout_s=2)
        lines.clear()
        report = compile_network(net, hw, settings.options, flow=settings.flow, log=lines.append)
        assert report.search.single_context == single
    assert (
        "Single context flow failed: Recoverable single context error - Resources presolve "
        "failed: LCUs: 100/96, L3 cuts: 800/768"
    ) in lines
    assert any("not on both (ctxfit's rule of one raised class)" in line for line in lines)


def test_explicit_caps_hold_in_both_flows_and_are_never_raised():
    f = flow_of("resources_param(max_compute_utilization=0.9, max_utilization=0.0)", params=RAISED)
    assert f.name == "explicit caps" and f.explicit == ("compute",)
    assert f.single_caps.compute == f.single_fps_caps.compute == f.multi_caps.compute == 0.9
    # the others keep the flow's defaults and their raise
    assert (f.single_caps.control, f.single_fps_caps.control, f.multi_caps.control) == (
        0.75,
        1.0,
        0.6,
    )


def test_max_utilization_zero_means_unset():
    f = flow_of("resources_param(max_utilization=0.0)")
    assert f.name == "default" and f.explicit == ()
    assert flow_of(max_utilization=0.0).name == "default"
    assert flow_of(max_utilization=1.2).single_caps == ResourceCaps.uniform(1.2)


def test_performance_flow_and_its_refusal_of_caps():
    f = flow_of("performance_param(compiler_optimization_level=max)")
    assert (f.name, f.level) == ("performance", "max")
    assert f.single_caps == FLOW_PARAMS.performance_single_caps
    assert f.multi_caps == FLOW_PARAMS.performance_multi_caps
    assert flow_of(performance=True).name == "performance"  # hailomz --performance
    with pytest.raises(UsageError, match=PERFORMANCE_CAPS_ERROR):
        flow_of(
            "performance_param(compiler_optimization_level=max)\n"
            "resources_param(max_control_utilization=0.9)"
        )
    # --performance with caps in the script: ignored, as hailomz adds it to generic scripts only
    capped = flow_of("resources_param(max_utilization=0.8)", performance=True)
    assert capped.name == "explicit caps" and any("ignored" in line for line in capped.log_lines)


def test_optimization_level_key_of_performance_param_is_read():
    assert flow_of("performance_param(optimization_level=max)").level == "max"


def test_required_fps_and_forced_multi_context():
    assert flow_of("performance_param(fps=150)").target_fps == 150.0
    f = flow_of("context_switch_param(mode=enabled)")
    assert (f.context_switch, f.min_contexts) == ("enabled", 2)
    assert flow_of(context_switch="disabled").min_contexts == 1


@pytest.mark.parametrize(
    ("text", "gpu", "share", "line"),
    [
        ("model_optimization_flavor(compression_level=2)", True, 0.4, None),
        ("model_optimization_flavor(compression_level=2)", False, 0.0, NO_GPU_LINE),
        (
            "model_optimization_flavor(optimization_level=0, compression_level=2)",
            True,
            0.0,
            "optimization_level=0: compression won't be used",
        ),
        ("", True, 0.3, None),  # no level: the implicit share of the parameters below
    ],
)
def test_four_bit_share(text, gpu, share, line):
    f = flow_of(text, gpu=gpu, params=replace(FLOW_PARAMS, implicit_compression=0.3))
    assert f.compression_fraction == share
    assert line is None or line in f.log_lines


# -- compile: pricing under the flow ---------------------------------------------------------
def test_single_context_is_priced_at_the_raised_caps():
    net = conv_chain(20)
    settings = merge_settings(net, None, flow_params=RAISED, timeout_s=2)
    lines: list[str] = []
    fast = HW.with_params(  # PCIe never binds: compute at the raised caps sets the rate
        link=PcieLink(generation=3, lanes=4, measured_bytes_per_s=1e12),
        pcie_row_overhead_s=0.0,
        pcie_out_row_overhead_s=0.0,
    )
    report = compile_network(net, fast, settings.options, flow=settings.flow, log=lines.append)
    assert report.single_context
    pairs = [(layer, net.fan_out(layer.name)) for layer in net.layers]
    at_75 = context_fit(pairs, fast, SINGLE_CONTEXT_CAPS)
    at_100 = context_fit(pairs, fast, ResourceCaps.uniform(1.0))
    assert at_100.fps > at_75.fps  # else this test proves nothing
    assert report.contexts[0].fps == pytest.approx(at_100.fps)
    assert "Model fits in single context, but tries to increase utilization" in lines


def test_a_context_is_not_raised_past_its_pcie_rate():
    # on Gen3 x4 this chain's 150,528-byte input takes longer than its compute at the raised
    # caps: the context runs at the PCIe rate, with the SCs that rate needs, at the same FPS
    net = conv_chain(20)
    settings = merge_settings(net, None, flow_params=RAISED, timeout_s=2)
    report = compile_network(net, HW, settings.options, flow=settings.flow)
    pairs = [(layer, net.fan_out(layer.name)) for layer in net.layers]
    at_100 = context_fit(pairs, HW, ResourceCaps.uniform(1.0))
    (timing,) = report.timings
    pcie_fps = 1 / pcie_time_s(timing, HW)
    assert pcie_fps < at_100.fps / 2  # else this test proves nothing
    assert report.contexts[0].fps == pytest.approx(pcie_fps)
    assert report.fps[8] == pytest.approx(pcie_fps)
    assert report.contexts[0].binding == "pcie"
    assert report.contexts[0].usage.subclusters < at_100.usage.subclusters


def test_required_fps_allocates_one_context_for_that_rate():
    net = conv_chain(20)
    settings = merge_settings(net, parse_model_script("performance_param(fps=200)"), timeout_s=2)
    report = compile_network(net, HW, settings.options, flow=settings.flow)
    assert report.fps[1] == pytest.approx(200.0) and report.fps[8] == pytest.approx(200.0)
    # the resources it reports are those of 200 FPS, below the context's maximum
    top = context_fit([(x, 1) for x in net.layers], HW, settings.flow.single_fps_caps)
    assert top.fps > 200 and report.contexts[0].usage.subclusters < top.usage.subclusters
    # the solver line's T(8) is the fastest single context; it says the answer is slower
    plain = merge_settings(net, None, timeout_s=2)
    fastest = compile_network(net, HW, plain.options, flow=plain.flow)
    note = required_note(report)
    assert f"({fastest.fps[8]:,.1f} FPS)" in note and "the required 200 FPS" in note
    assert fastest.fps[8] > 200 and required_note(fastest) == ""


def test_a_required_fps_out_of_reach_names_what_stops_it():
    # 40 convs of 64 channels at 64x64 reach 1,033 FPS at the raised caps, their SCs binding
    net = conv_chain(40, channels=64, hw=64)
    settings = merge_settings(net, parse_model_script("performance_param(fps=5000)"), timeout_s=2)
    lines: list[str] = []
    report = compile_network(net, HW, settings.options, flow=settings.flow, log=lines.append)
    failed = next(line for line in lines if line.startswith("Failed to reach required FPS"))
    assert failed.startswith(
        "Failed to reach required FPS on the following layers: every layer (SCs at the cap) ("
    )
    assert report.fps[8] < 5000


def test_required_fps_is_ignored_in_the_multi_context_flow_with_the_warning():
    net = conv_chain(20)
    script = parse_model_script("performance_param(fps=50)\ncontext_switch_param(mode=enabled)")
    settings = merge_settings(net, script, timeout_s=2)
    lines: list[str] = []
    report = compile_network(net, HW, settings.options, flow=settings.flow, log=lines.append)
    assert REQUIRED_FPS_MULTI_LINE in lines
    assert report.num_contexts >= 2 and report.fps[8] != pytest.approx(50.0)


def test_enabled_mode_never_answers_one_context(capsys, tmp_path):
    # a network that fits one context easily: the multi-context flow still splits it
    net = conv_chain(3)
    path = tmp_path / "tiny.json"
    net.save(path)
    code = main(["compile", str(path), "--context-switch", "enabled", "--timeout", "2"])
    out = capsys.readouterr().out
    assert code == 0
    assert "1 context (multi-context)" not in out
    assert "2 contexts" in out or "3 contexts" in out


# -- Hailo's generated names in quantization_param ------------------------------------------------
def _add_net() -> Network:
    def conv(name, src):
        return Layer(name=name, op=OpKind.CONV, inputs=(src,), input_shapes=((8, 8, 8),),
                     output_shape=(8, 8, 8), kernel=(3, 3), params=584, macs=36864)  # fmt: skip

    add = Layer(name="sum", op=OpKind.ADD, inputs=("a", "b"),
                input_shapes=((8, 8, 8), (8, 8, 8)), output_shape=(8, 8, 8))  # fmt: skip
    return Network("n", [conv("a", "x"), conv("b", "a"), add], inputs={"x": (8, 8, 8)},
                   outputs=["sum"])  # fmt: skip


def test_hailo_names_in_quantization_param():
    net = _add_net()
    assert hailo_layer_names(net) == {
        "conv1": "a",
        "conv2": "b",
        "ew_add1": "sum",
        "output_layer1": "sum",
    }
    script = parse_model_script(
        "quantization_param({ew_add*}, precision_mode=a16_w16)\n"
        "quantization_param(conv2, precision_mode=a8_w4)"
    )
    settings = merge_settings(net, script, gpu=False)
    assert settings.precision == {"sum": Precision.A16_W16, "b": Precision.A8_W4}


def test_compression_share_takes_the_largest_layers():
    net = conv_chain(4, channels=32)
    # conv1..3 have 9,248 params each, conv0 896: 40% of 28,640 needs two of the big ones
    chosen = compression_precision(net, COMPRESSION_FRACTION[2])
    assert sorted(chosen) == ["conv1", "conv2"]


# -- the Model Zoo script of a zoo model ----------------------------------------------------------
def test_zoo_script_lines_of_published_rows():
    r50 = zoo_script("resnet_v1_50", "hailo8")
    assert r50 is not None and r50.fixed_contexts == 1
    assert "model_optimization_flavor(compression_level=1)" in r50.text
    assert "performance_param(compiler_optimization_level=1)" in r50.text
    vit = zoo_script("vit_tiny", "hailo8")
    assert "context_switch_param(mode=enabled)" in vit.text
    assert "quantization_param({ew_add*}, precision_mode=a16_w16)" in vit.text
    assert zoo_script("yolov8s", "hailo8").text.count("\n") == 1  # the script sets nothing
    assert zoo_row("yolov8s", "hailo8").single_context
    assert chip_of(preset("hailo8l")) == "hailo8l"


def test_every_zoo_script_parses_and_resolves():
    from partitioner.zoo_scripts import zoo_rows

    for row in zoo_rows():
        s = zoo_script(row.network, row.device)
        flow = resolve_flow(parse_model_script(s.text, source=row.script))
        assert flow.single_caps.control > 0


def test_prepare_compile_applies_the_zoo_script_unless_told_not_to():
    net = conv_chain(3)
    zoo = prepare_compile(net, HW, None, zoo_name="yolov8m", timeout_s=2)
    assert zoo.zoo is not None and zoo.settings.flow.name == "explicit caps"
    assert any(line.startswith("Model Zoo script generic/yolov8m.alls") for line in zoo.log_lines)
    bare = prepare_compile(net, HW, None, zoo_name="yolov8m", compiler_defaults=True)
    assert bare.zoo is None and bare.settings.flow.name == "default"


def test_cli_compiles_a_zoo_model_with_its_script_and_bare_with_a_flag(capsys, tmp_path):
    out_json = tmp_path / "r.json"
    assert main(["compile", "yolov8n", "--timeout", "2", "--json", str(out_json)]) == 0
    log = capsys.readouterr().out
    assert "Model Zoo script generic/yolov8n.alls: no compile-side lines" in log
    data = json.loads(out_json.read_text())
    assert data["flow"]["name"] == "default" and data["single_context"]
    assert main(["compile", "yolov8n", "--timeout", "2", "--compiler-defaults"]) == 0
    assert "Model Zoo script" not in capsys.readouterr().out


def test_cli_performance_with_explicit_caps_is_the_compilers_error(capsys, tmp_path):
    script = tmp_path / "s.alls"
    script.write_text(
        "performance_param(compiler_optimization_level=max)\nresources_param(max_utilization=0.8)\n"
    )
    assert main(["compile", "yolov8n", "--script", str(script)]) == 2
    assert PERFORMANCE_CAPS_ERROR in capsys.readouterr().err
