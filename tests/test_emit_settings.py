"""``--emit-script`` writes the settings that produced the partition as well as its contexts;
read back alone it gives the same partition; a pinned context over a cap fails at once."""

from __future__ import annotations

import pytest

from cost_model.hardware import preset
from partitioner.cli import main
from partitioner.compile import compile_network
from partitioner.compile_request import prepare_compile
from partitioner.emit_script import compile_script
from partitioner.errors import InfeasiblePartitionError
from partitioner.model_script import parse_model_script
from partitioner.pin_check import check_pinned_contexts
from partitioner.search import SearchOptions
from partitioner.settings import compression_precision
from tests.nets import conv_chain

HW = preset("hailo8")
SCRIPT = """
resources_param(max_control_utilization=0.7)
model_optimization_flavor(compression_level=2)
performance_param(optimize_for_batch=4)
allocator_param(timeout=3s)
"""


def compile_with(net, script):
    prepared = prepare_compile(net, HW, script)
    settings = prepared.settings
    report = compile_network(prepared.net, HW, settings.options, flow=settings.flow)
    return prepared, report


@pytest.fixture(scope="module")
def emitted():
    net = conv_chain(120)  # 120 LCUs: over 96, so several contexts of <= ceil(0.7 x 128) = 90
    prepared, report = compile_with(net, parse_model_script(SCRIPT))
    return net, prepared, report, compile_script(report)


def test_emitted_script_holds_the_settings(emitted):
    net, prepared, report, text = emitted
    lines = text.splitlines()
    assert "resources_param(max_control_utilization=0.7)" in lines
    assert "model_optimization_flavor(compression_level=0)" in lines
    assert "performance_param(optimize_for_batch=4)" in lines
    assert "allocator_param(timeout=3s)" in lines
    assert sum(line.startswith("context_") for line in lines) == report.num_contexts >= 2
    back = parse_model_script(text)
    four_bit = {name for name in net.topological_order() if back.precision_of(name)}
    # compression_level=2 puts 40% of the parameters in 4 bits, largest layers first
    assert four_bit == set(compression_precision(net, 0.4)) == set(prepared.settings.precision)


def test_emitted_script_read_back_alone_gives_the_same_partition(emitted):
    net, _, report, text = emitted
    _, again = compile_with(net, parse_model_script(text, source="emitted.alls"))
    assert [c.layers for c in again.contexts] == [c.layers for c in report.contexts]
    assert again.fps == pytest.approx(report.fps)
    assert [r.precision for r in again.layers] == [r.precision for r in report.layers]
    assert again.caps == report.caps


def test_single_context_script_has_no_caps_line_under_the_default_flow():
    net = conv_chain(20)
    _, report = compile_with(net, None)
    text = compile_script(report)
    assert "resources_param" not in text  # the flow's own caps are comments, not settings
    assert "# caps: the flow's own; one context: control 110%" in text
    assert text.endswith(f"context_0 = context([{', '.join(net.topological_order())}])\n")


def pins_100():
    net = conv_chain(100)
    names = net.topological_order()
    return net, {**{n: 0 for n in names[:10]}, **{n: 1 for n in names[10:]}}


def test_pinned_context_over_a_cap_fails_before_the_search():
    net, pins = pins_100()
    with pytest.raises(InfeasiblePartitionError) as err:
        check_pinned_contexts(net, HW, SearchOptions(pins=pins))
    assert str(err.value) == (
        "context_1 (pinned, 90 layers) needs LCUs: 90/77 at its lowest rate under the "
        "multi-context caps; move layers out of context_1 or raise max_control_utilization"
    )
    ok = {n: (0 if c == 0 else 1) for n, c in pins.items()}
    ok.update({n: 0 for n in net.topological_order()[10:40]})  # 40 + 60 layers: both fit 77
    check_pinned_contexts(net, HW, SearchOptions(pins=ok))


def test_pinned_context_over_a_cap_is_one_line_exit_2(capsys, tmp_path):
    net, pins = pins_100()
    graph, script = tmp_path / "chain.json", tmp_path / "pins.alls"
    net.save(graph)
    names = net.topological_order()
    script.write_text(
        f"context_0 = context([{', '.join(names[:10])}])\n"
        f"context_1 = context([{', '.join(names[10:])}])\n"
    )
    code = main(["compile", str(graph), "--script", str(script), "--quiet"])
    _, err = capsys.readouterr()
    assert code == 2 and "Traceback" not in err
    assert err.startswith("error: context_1 (pinned, 90 layers) needs LCUs: 90/77")


def test_zoo_model_script_read_back_through_the_cli(capsys, tmp_path):
    """resnet_v1_18's Model Zoo script sets compression_level=2 and the caps of hailo8's flow:
    the emitted script alone gives the same contexts, precisions and FPS."""
    import json

    first, second, script = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "r18.alls"
    argv = ["compile", "resnet_v1_18", "--quiet", "--json"]
    assert main([*argv, str(first), "--emit-script", str(script)]) == 0
    assert main([*argv, str(second), "--script", str(script)]) == 0
    capsys.readouterr()
    a, b = json.loads(first.read_text()), json.loads(second.read_text())
    assert [c["layers"] for c in a["contexts"]] == [c["layers"] for c in b["contexts"]]
    assert a["precision"] == b["precision"] and a["precision"]["layers_not_a8_w8"]["a8_w4"]
    assert a["fps"] == b["fps"]
    assert a["error_band"]["family"] == "classification" and a["error_band"]["note"] == ""
    assert "model_optimization_flavor(compression_level=0)" in script.read_text()
