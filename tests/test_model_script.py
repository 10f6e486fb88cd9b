"""Model scripts (.alls): each command's values, each error with its line, warnings, round trips."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cost_model.layer import Precision
from partitioner.errors import CtxfitError, ModelScriptError
from partitioner.model_script import (
    CapOverrides,
    ModelScript,
    emit_partition_script,
    layer_matches,
    parse_duration_s,
    parse_model_script,
    read_model_script,
)

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def parse(text: str) -> ModelScript:
    return parse_model_script(text, source="net.alls")


def error_of(text: str) -> str:
    with pytest.raises(ModelScriptError) as info:
        parse(text)
    return str(info.value)


# ---------------------------------------------------------------------------- resources_param


def test_empty_script_is_all_defaults():
    script = parse("# nothing but a comment\n\n   \n")
    assert script == ModelScript(source="net.alls")
    assert script.caps.is_empty
    assert script.context_switch == "allowed"
    assert script.warnings == ()


def test_resources_param_reads_each_cap():
    script = parse(
        "resources_param(max_control_utilization=0.81, max_compute_utilization=0.82, "
        "max_compute_16bit_utilization=0.83, max_memory_utilization=0.84, "
        "max_input_aligner_utilization=0.85, max_apu_utilization=0.86)"
    )
    assert script.caps == CapOverrides(
        control=0.81, compute=0.82, compute_16bit=0.83, memory=0.84, input_aligner=0.85, apu=0.86
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [("80%", 0.8), ("62.5%", 0.625), ("0.6", 0.6), ("1", 1.0), ("100%", 1.0), ("1e-1", 0.1)],
)
def test_cap_as_fraction_or_percentage(text, expected):
    assert parse(f"resources_param(max_memory_utilization={text})").caps.memory == expected


def test_max_utilization_sets_all_six_caps():
    caps = parse("resources_param(max_utilization=0.7)").caps
    assert caps.as_dict() == dict.fromkeys(
        ["control", "compute", "compute_16bit", "memory", "input_aligner", "apu"], 0.7
    )


def test_a_specific_cap_beats_max_utilization_in_the_same_command_whatever_the_order():
    caps = parse("resources_param(max_control_utilization=1.1, max_utilization=0.7)").caps
    assert (caps.control, caps.compute, caps.memory, caps.apu) == (1.1, 0.7, 0.7, 0.7)


def test_max_utilization_zero_means_not_set_as_the_model_zoo_writes_it():
    script = parse(
        "resources_param(max_apu_utilization=1.0, max_compute_utilization=1.0, "
        "max_control_utilization=1.0, max_input_aligner_utilization=1.0, "
        "max_memory_utilization=0.85, max_utilization=0.0)"
    )
    assert script.caps == CapOverrides(
        control=1.0, compute=1.0, memory=0.85, input_aligner=1.0, apu=1.0
    )


def test_a_later_resources_param_overrides_only_the_caps_it_names():
    script = parse(
        "resources_param(max_utilization=0.6)\nresources_param(max_memory_utilization=0.9)"
    )
    assert (script.caps.memory, script.caps.control, script.caps.compute) == (0.9, 0.6, 0.6)


@pytest.mark.parametrize("value", ["1.1", "1.2", "1.5", "150%"])
def test_control_caps_above_one_are_accepted_without_a_warning(value):
    script = parse(f"resources_param(max_control_utilization={value})")
    assert script.caps.control == float(value.rstrip("%")) / (100 if "%" in value else 1)
    assert script.warnings == ()


def test_a_memory_cap_above_one_is_accepted_with_a_warning():
    script = parse("resources_param(max_memory_utilization=1.2)")
    assert script.caps.memory == 1.2
    assert script.warnings == (
        "line 1: caps above 100% let one context use more than the chip has: memory=1.2",
    )


def test_max_utilization_above_one_warns_once_for_the_resources_it_overfills():
    script = parse("resources_param(max_utilization=1.1, max_control_utilization=1.2)")
    assert script.caps.as_dict() == {
        "control": 1.2,
        "compute": 1.1,
        "compute_16bit": 1.1,
        "memory": 1.1,
        "input_aligner": 1.1,
        "apu": 1.1,
    }
    assert script.warnings == (
        "line 1: caps above 100% let one context use more than the chip has: "
        "compute=1.1, memory=1.1, input_aligner=1.1, apu=1.1",
    )


def test_compute_16bit_cap_is_stored_and_flagged_as_not_modelled_once():
    script = parse(
        "resources_param(max_compute_16bit_utilization=0.9)\n"
        "resources_param(max_compute_16bit_utilization=0.8)"
    )
    assert script.caps.compute_16bit == 0.8
    assert len(script.warnings) == 1
    assert script.warnings[0].startswith("line 1: max_compute_16bit_utilization is stored but not")


def test_strategy_is_a_known_resources_param_keyword_that_is_ignored():
    script = parse("resources_param(strategy=greedy, max_utilization=0.8)")
    assert script.caps.control == 0.8
    assert script.warnings == (
        "line 1: ignoring resources_param(strategy=...) (ctxfit does not model it)",
    )


# ---------------------------------------------------------------------- the other commands


@pytest.mark.parametrize("mode", ["allowed", "enabled", "disabled"])
def test_context_switch_mode(mode):
    assert parse(f"context_switch_param(mode={mode})").context_switch == mode


def test_the_last_context_switch_mode_wins():
    text = "context_switch_param(mode=disabled)\ncontext_switch_param(mode=enabled)"
    assert parse(text).context_switch == "enabled"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("600", 600.0),
        ("600s", 600.0),
        ("20m", 1200.0),  # 20 x 60
        ("1h", 3600.0),
        ("1h30m", 5400.0),  # 3600 + 30 x 60
        ("2.5m", 150.0),  # 2.5 x 60
        ("1h0m30s", 3630.0),  # 3600 + 0 + 30
        ("90.5", 90.5),
    ],
)
def test_allocator_timeout(text, seconds):
    assert parse(f"allocator_param(timeout={text})").timeout_s == seconds
    assert parse_duration_s(text) == seconds


@pytest.mark.parametrize("text", ["20x", "m", "h1", "1m1h", "1h30", "-5", "1.5.2s", "20 m", ""])
def test_not_durations(text):
    assert parse_duration_s(text) is None


@pytest.mark.parametrize(("text", "level"), [("max", "max"), ("0", 0), ("1", 1), ("2", 2)])
def test_compiler_optimization_level(text, level):
    script = parse(f"performance_param(compiler_optimization_level={text})")
    assert script.optimization_level == level
    assert type(script.optimization_level) is type(level)


@pytest.mark.parametrize("batch", [1, 8, 63])
def test_optimize_for_batch(batch):
    assert parse(f"performance_param(optimize_for_batch={batch})").optimize_for_batch == batch


def test_fps_and_batch_in_one_command():
    script = parse("performance_param(fps=150, optimize_for_batch=8)")
    assert (script.target_fps, script.optimize_for_batch) == (150.0, 8)


@pytest.mark.parametrize("level", [0, 1, 5])
def test_compression_level(level):
    text = f"model_optimization_flavor(optimization_level=2, compression_level={level})"
    assert parse(text).compression_level == level


# ------------------------------------------------------------------------- quantization_param


def test_quantization_param_single_list_and_set():
    script = parse(
        "quantization_param(conv1, precision_mode=a8_w4)\n"
        "quantization_param([conv2, yolov8n/conv3], precision_mode=a16_w16)\n"
        "quantization_param({ew_add*}, precision_mode=a8_w8)\n"
    )
    assert script.precision == (
        ("conv1", Precision.A8_W4),
        ("conv2", Precision.A16_W16),
        ("yolov8n/conv3", Precision.A16_W16),
        ("ew_add*", Precision.A8_W8),
    )
    assert script.precision_lines == (1, 2, 2, 3)


def test_precision_of_uses_globs_scopes_and_the_last_matching_rule():
    script = parse(
        "quantization_param({deit_base/ew_add*}, precision_mode=a16_w16)\n"
        "quantization_param({deit_base/ew_add1}, precision_mode=a8_w8)\n"
    )
    assert script.precision_of("ew_add1") is Precision.A8_W8  # the later rule wins
    assert script.precision_of("ew_add12") is Precision.A16_W16
    assert script.precision_of("deit_base/ew_add3") is Precision.A16_W16
    assert script.precision_of("conv1") is None


def test_precision_by_layer_maps_the_network_names():
    script = parse(
        "quantization_param([net/conv1, conv3], precision_mode=a8_w4)\n"
        "quantization_param({fc*}, precision_mode=a16_w16)\n"
        "quantization_param({nothing_matches*}, precision_mode=a8_w8)\n"
    )
    names = ["conv1", "conv2", "conv3", "fc", "fc_out"]
    assert script.precision_by_layer(names) == {
        "conv1": Precision.A8_W4,
        "conv3": Precision.A8_W4,
        "fc": Precision.A16_W16,
        "fc_out": Precision.A16_W16,
    }


def test_precision_by_layer_rejects_an_exact_name_the_network_lacks():
    script = parse("\nquantization_param([conv1, conv99], precision_mode=a8_w4)")
    with pytest.raises(ModelScriptError) as info:
        script.precision_by_layer(["conv1", "conv9"])
    assert str(info.value).startswith(
        "net.alls:2: quantization_param: the network has no layer 'conv99'; did you mean 'conv9'?"
    )


def test_quantization_param_without_precision_mode_only_warns():
    script = parse("quantization_param({*}, max_elementwise_feed_repeat=1)")
    assert script.precision == ()
    assert script.warnings == (
        "line 1: ignoring quantization_param(max_elementwise_feed_repeat=...) "
        "(ctxfit does not model it)",
    )


@pytest.mark.parametrize(
    ("pattern", "name", "expected"),
    [
        ("conv1", "conv1", True),
        ("conv1", "conv12", False),
        ("conv*", "conv12", True),
        ("yolov8n/conv1", "conv1", True),
        ("yolov8n/conv1", "yolov8n/conv1", True),
        ("/model.0/conv/Conv", "/model.0/conv/Conv", True),  # an ONNX-style name, no scope
        ("/model.0/conv/Conv", "model.0/conv/Conv", False),
        ("layer4.?.conv2", "layer4.1.conv2", True),
    ],
)
def test_layer_matches(pattern, name, expected):
    assert layer_matches(pattern, name) is expected


# --------------------------------------------------------------------------- pinned contexts


def test_pinned_contexts_in_any_order_come_back_by_index():
    script = parse(
        "context_1 = context([conv3, conv4])\n"
        "# a comment between\n"
        "context_0 = context([conv1, conv2])\n"
        "context_2 = context([head])  # trailing comment\n"
    )
    assert script.pinned == (("conv1", "conv2"), ("conv3", "conv4"), ("head",))
    assert script.pinned_lines == (3, 1, 4)


def test_resolve_pinned_matches_names_with_or_without_the_network_scope():
    script = parse("context_0 = context([yolov8n/conv1, conv2])\ncontext_1 = context([conv3])")
    assert script.resolve_pinned(["conv1", "conv2", "conv3", "conv4"]) == {
        "conv1": 0,
        "conv2": 0,
        "conv3": 1,
    }


def test_resolve_pinned_rejects_an_unknown_layer_with_its_line():
    script = parse("context_0 = context([conv1])\ncontext_1 = context([conv33])")
    with pytest.raises(ModelScriptError) as info:
        script.resolve_pinned(["conv1", "conv3"])
    assert str(info.value).startswith(
        "net.alls:2: context_1: the network has no layer 'conv33'; did you mean 'conv3'?"
    )


def test_resolve_pinned_rejects_two_names_for_one_layer():
    script = parse("context_0 = context([net/conv1])\ncontext_1 = context([conv1])")
    with pytest.raises(ModelScriptError, match=r"^net\.alls:2: context_1: layer 'conv1' is alr"):
        script.resolve_pinned(["conv1"])


# ------------------------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "\n\nresources_param(max_control_utilization=1.7x)",
            "net.alls:3: resources_param: max_control_utilization=1.7x is not a number; "
            "write a fraction like 0.8 or a percentage like 80%",
        ),
        (
            "resources_param(max_contrl_utilization=0.8)",
            "net.alls:1: resources_param: unknown keyword 'max_contrl_utilization'; "
            "did you mean 'max_control_utilization'?",
        ),
        ("resources_param(foo=1)", "net.alls:1: resources_param: unknown keyword 'foo'; "),
        (
            "allocator_param(timout=20m)",
            "net.alls:1: allocator_param: unknown keyword 'timout'; did you mean 'timeout'?",
        ),
        (
            "performance_param(optimise_for_batch=8)",
            "net.alls:1: performance_param: unknown keyword 'optimise_for_batch'; "
            "did you mean 'optimize_for_batch'?",
        ),
        ("context_switch_param(mod=disabled)", "net.alls:1: context_switch_param: unknown keyword"),
        (
            "resources_param(max_utilization=0.8",
            "net.alls:1: unbalanced brackets: '(' at column 16 is never closed",
        ),
        (
            "resources_param(max_utilization=0.8))",
            "net.alls:1: unbalanced brackets: ')' at column 37 closes nothing",
        ),
        (
            "context_0 = context([a, b)]",
            "net.alls:1: unbalanced brackets: '[' at column 21 is closed by ')' at column 26",
        ),
        (
            "x\nresources_param(max_memory_utilization=0)",
            None,  # line 1 fails first: 'x' is not a command
        ),
        (
            "resources_param(max_memory_utilization=0)",
            "net.alls:1: resources_param: max_memory_utilization=0 is outside 0.05..1.5 "
            "(5% to 150%)",
        ),
        (
            "resources_param(max_compute_utilization=-0.5)",
            "net.alls:1: resources_param: max_compute_utilization=-0.5 is outside 0.05..1.5",
        ),
        (
            "resources_param(max_control_utilization=1.51)",
            "net.alls:1: resources_param: max_control_utilization=1.51 is outside 0.05..1.5",
        ),
        (
            "resources_param(max_utilization=80)",
            "net.alls:1: resources_param: max_utilization=80 is outside 0 (not set) or 0.05..1.5",
        ),
        (
            "performance_param(optimize_for_batch=0)",
            "net.alls:1: performance_param: optimize_for_batch=0 is outside 1..63",
        ),
        (
            "performance_param(optimize_for_batch=64)",
            "net.alls:1: performance_param: optimize_for_batch=64 is outside 1..63",
        ),
        (
            "performance_param(optimize_for_batch=8.0)",
            "net.alls:1: performance_param: optimize_for_batch=8.0 is not a whole number",
        ),
        (
            "performance_param(compiler_optimization_level=3)",
            "net.alls:1: performance_param: compiler_optimization_level=3 is not a known value; "
            "write one of 0, 1, 2, max",
        ),
        (
            "performance_param(fps=0)",
            "net.alls:1: performance_param: fps=0 must be a finite number > 0 and <= 1e+07 FPS",
        ),
        (
            "quantization_param(conv1, precision_mode=a4_w4)",
            "net.alls:1: quantization_param: precision_mode=a4_w4 is not a known value; "
            "write one of a8_w8, a8_w4, a16_w16",
        ),
        (
            "quantization_param(precision_mode=a8_w4)",
            "net.alls:1: quantization_param takes one list of layers, got 0 positional",
        ),
        (
            "context_switch_param(mode=off)",
            "net.alls:1: context_switch_param: mode=off is not a known value; "
            "write one of allowed, enabled, disabled",
        ),
        (
            "allocator_param(timeout=20x)",
            "net.alls:1: allocator_param: timeout=20x is not a duration; write seconds (600) or "
            "a duration like 600s, 20m, 1h, 1h30m",
        ),
        (
            "allocator_param(timeout=0s)",
            "net.alls:1: allocator_param: timeout=0s is 0 s, outside 0.1..86400 s (one day)",
        ),
        (
            "model_optimization_flavor(compression_level=6)",
            "net.alls:1: model_optimization_flavor: compression_level=6 is outside 0..5",
        ),
        (
            "context_0 = context([a, b])\n# gap\ncontext_2 = context([c])",
            "net.alls:3: context_2 is defined but context_1 is not; "
            "number pinned contexts 0, 1, 2, ... without gaps",
        ),
        (
            "context_1 = context([a])",
            "net.alls:1: context_1 is defined but context_0 is not",
        ),
        (
            "context_0 = context([a, b])\ncontext_1 = context([c, a])",
            "net.alls:2: layer 'a' is pinned to context_0 and to context_1; "
            "pin each layer to one context",
        ),
        (
            "context_0 = context([a, a])",
            "net.alls:1: layer 'a' is pinned to context_0 and to context_0",
        ),
        (
            "context_0 = context([a])\ncontext_0 = context([b])",
            "net.alls:2: context_0 is defined twice (first on line 1)",
        ),
        ("context_0 = context([])", "net.alls:1: context_0 pins no layer"),
        ("context([a])", "net.alls:1: context(...) must be assigned to one context_N"),
        ("ctx = context([a])", "net.alls:1: context(...) is assigned to 'ctx'"),
        ("context_0 = context(a)", "net.alls:1: context(a) is not a list of layers"),
        ("context_0 = context({a})", "net.alls:1: context({a}) is not a list of layers"),
        ("context_0 = context([[a, b]])", "net.alls:1: context: layers [a, b] is a nested list"),
        ("context_0 = context([a], k=1)", "net.alls:1: context: unknown keyword 'k'"),
        (
            "x = resources_param(max_utilization=0.8)",
            "net.alls:1: resources_param(...) is assigned to x",
        ),
        ("resources_param(0.8)", "net.alls:1: resources_param takes keywords only, got 0.8"),
        (
            "resources_param(max_utilization=0.8, max_utilization=0.7)",
            "net.alls:1: keyword 'max_utilization' is given twice",
        ),
        ("hello world", "net.alls:1: expected '(' after 'hello', found 'world' at column 7"),
        ("foo(a b)", "net.alls:1: expected ',' between arguments, found 'b' at column 7"),
        ("foo(a=)", "net.alls:1: expected a value, found ')' at column 7"),
        ("= foo()", "net.alls:1: expected a command name, found '='"),
        ("foo() bar()", "net.alls:1: unexpected 'bar' at column 7 after the command"),
        ('nms_postprocess("config.json)', "net.alls:1: unterminated string starting at column 17"),
    ],
)
def test_errors_carry_the_line_and_the_fix(text, message):
    got = error_of(text)
    if message is None:
        assert got.startswith("net.alls:1: ")
    else:
        assert got.startswith(message), got
    assert "; " in got  # every message says what to do


def test_errors_are_ctxfit_errors_naming_the_source():
    with pytest.raises(CtxfitError, match=r"^models/my net\.alls:2: "):
        parse_model_script("\nfoo(", source="models/my net.alls")


def test_a_malformed_line_of_an_unsupported_command_is_still_an_error():
    assert error_of("nms_postprocess(config.json, meta_arch=yolov8").startswith(
        "net.alls:1: unbalanced brackets"
    )


# ---------------------------------------------------------------------------------- warnings


def test_one_warning_per_unsupported_command_name_at_its_first_line():
    script = parse(
        "normalization1 = normalization([0.0, 0.0, 0.0], [255.0, 255.0, 255.0])\n"
        "post_quantization_optimization(bias_correction, policy=enabled)\n"
        "post_quantization_optimization(finetune, policy=disabled)\n"
        "resources_param(max_utilization=0.8)\n"
        "post_quantization_optimization(adaround, policy=enabled)\n"
        "a, b, c = defuse(dw8, 3, defuse_type=SUPER_DW)\n"
    )
    assert script.warnings == (
        "line 1: ignoring unsupported command 'normalization' (ctxfit does not model it)",
        "line 2: ignoring unsupported command 'post_quantization_optimization' "
        "(ctxfit does not model it)",
        "line 6: ignoring unsupported command 'defuse' (ctxfit does not model it)",
    )
    assert script.caps.control == 0.8


def test_unmodelled_keywords_warn_once_per_keyword_grouped_by_line():
    script = parse(
        "allocator_param(automatic_ddr=True, timeout=20m, enable_fixer=max_adjcents)\n"
        "allocator_param(automatic_ddr=False, splitter_timeout=1200)\n"
        "allocator_param(automatic_ddr=False)\n"
    )
    assert script.timeout_s == 1200.0
    assert script.warnings == (
        "line 1: ignoring allocator_param(automatic_ddr=..., enable_fixer=...) "
        "(ctxfit does not model them)",
        "line 2: ignoring allocator_param(splitter_timeout=...) (ctxfit does not model it)",
    )


def test_an_unknown_keyword_far_from_any_read_keyword_only_warns():
    script = parse("allocator_param(enable_new_thing=True)")
    assert script.warnings == (
        "line 1: ignoring allocator_param(enable_new_thing=...) "
        "(ctxfit does not know it; check the spelling)",
    )


# ---------------------------------------------------------------------------- lexical details


def test_hash_inside_a_string_is_not_a_comment():
    script = parse("nms_postprocess('a#b.json', meta_arch=yolov8)  # real comment ( [")
    assert script.warnings == (
        "line 1: ignoring unsupported command 'nms_postprocess' (ctxfit does not model it)",
    )


def test_crlf_line_endings_a_bom_and_trailing_commas():
    script = parse(
        "\ufeffresources_param(max_utilization=0.8,)\r\ncontext_0 = context([a, b,])\r\n"
    )
    assert script.caps.apu == 0.8
    assert script.pinned == (("a", "b"),)


def test_quoted_layer_names():
    script = parse(r"""context_0 = context(["a b", 'c,d', "e\"f", conv1])""")
    assert script.pinned == (("a b", "c,d", 'e"f', "conv1"),)


def test_a_realistic_model_zoo_style_script():
    script = parse(
        "normalization1 = normalization([0.0, 0.0, 0.0], [255.0, 255.0, 255.0])\n"
        "model_optimization_config(calibration, batch_size=2)\n"
        "change_output_activation(conv58, sigmoid)\n"
        'nms_postprocess("../../postprocess_config/yolov8m_nms_config.json", meta_arch=yolov8, '
        "engine=cpu)\n"
        "\n"
        "resources_param(max_control_utilization=0.9, max_compute_utilization=0.9, "
        "max_compute_16bit_utilization=0.9, max_memory_utilization=0.85, "
        "max_input_aligner_utilization=0.9, max_apu_utilization=0.9)\n"
        "performance_param(optimize_for_batch=8)\n"
        "allocator_param(enable_partial_row_buffers=disabled, splitter_timeout=1200)\n"
        "context_switch_param(auto_partition_to_buckets=True, berkitizer_bucket_size=30, "
        "mode=enabled, toposort_mode=pushdown)\n"
        "quantization_param({yolov8m/ew_add*}, precision_mode=a16_w16)\n"
        "performance_param(compiler_optimization_level=max)\n"
    )
    assert script.caps == CapOverrides(
        control=0.9, compute=0.9, compute_16bit=0.9, memory=0.85, input_aligner=0.9, apu=0.9
    )
    assert script.optimize_for_batch == 8
    assert script.optimization_level == "max"
    assert script.context_switch == "enabled"
    assert script.timeout_s is None
    assert script.precision == (("yolov8m/ew_add*", Precision.A16_W16),)
    # 4 unsupported commands + compute_16bit + allocator line + context_switch line
    assert len(script.warnings) == 7


# ------------------------------------------------------------------------------- the emitter


def test_emit_exact_text_with_a_header():
    text = emit_partition_script(
        [["conv1", "conv2"], ["yolov8n/conv3"], ["model.22.cv2.0"]],
        header="ctxfit partition for yolov8n on hailo8\n3 contexts",
    )
    assert text == (
        "# ctxfit partition for yolov8n on hailo8\n"
        "# 3 contexts\n"
        "context_0 = context([conv1, conv2])\n"
        "context_1 = context([yolov8n/conv3])\n"
        "context_2 = context([model.22.cv2.0])\n"
    )


def test_emit_quotes_names_that_are_not_bare_words():
    text = emit_partition_script([["a b", "c#d", 'e"f', "g\\h", "[i]", "j=k", "l,m"]])
    assert text == ('context_0 = context(["a b", "c#d", "e\\"f", "g\\\\h", "[i]", "j=k", "l,m"])\n')
    assert parse(text).pinned == (("a b", "c#d", 'e"f', "g\\h", "[i]", "j=k", "l,m"),)


@pytest.mark.parametrize(
    ("contexts", "message"),
    [
        ([], "cannot emit a partition with no context"),
        ([["a"], []], "context 1 has no layer"),
        ([["a", "b"], ["c", "a"]], "layer 'a' is in context 0 and context 1"),
        (["ab"], "context 0 is the string 'ab'"),
        ([["a\nb"]], "context 0: layer name 'a\\nb' cannot be written"),
        ([[""]], "context 0: layer name '' cannot be written"),
    ],
)
def test_emit_rejects_what_cannot_be_read_back(contexts, message):
    with pytest.raises(ModelScriptError) as info:
        emit_partition_script(contexts)
    assert str(info.value).startswith(message)


def test_round_trip_emit_then_parse_gives_the_same_contexts_and_assignment():
    contexts = [("images_conv", "model.0.conv"), ("model.1/conv", "model.2.cv1"), ("head_0",)]
    script = parse(emit_partition_script(contexts, header="round trip"))
    assert script.pinned == tuple(contexts)
    assert script.warnings == ()
    names = [name for ctx in contexts for name in ctx]
    assert script.resolve_pinned(names) == {n: i for i, ctx in enumerate(contexts) for n in ctx}


def partitions(alphabet):
    names = st.lists(
        st.text(alphabet=alphabet, min_size=1, max_size=12), min_size=1, max_size=25, unique=True
    )

    @st.composite
    def build(draw):
        layer_names = draw(names)
        cuts = draw(st.sets(st.integers(1, len(layer_names) - 1))) if len(layer_names) > 1 else []
        bounds = [0, *sorted(cuts), len(layer_names)]
        return [tuple(layer_names[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]

    return build()


@settings(max_examples=150, deadline=None)
@given(partitions("abcxyz0189/._"))
def test_hypothesis_emitted_partitions_parse_back_identically(contexts):
    script = parse(emit_partition_script(contexts))
    assert script.pinned == tuple(contexts)
    assert script.pinned_lines == tuple(range(1, len(contexts) + 1))


@settings(max_examples=100, deadline=None)
@given(partitions("ab/._ ,()[]{}=#'\"\\%*"), st.text(alphabet="ab #(\n", max_size=20))
def test_hypothesis_awkward_names_and_headers_round_trip(contexts, header):
    script = parse(emit_partition_script(contexts, header=header))
    assert script.pinned == tuple(contexts)


@settings(max_examples=100, deadline=None)
@given(partitions(st.characters(blacklist_characters="\n\r")))
def test_hypothesis_any_one_line_unicode_names_round_trip(contexts):
    assert parse(emit_partition_script(contexts)).pinned == tuple(contexts)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab=,()[]{}#\"'\\ 0.%_/\n")) | st.characters()))
def test_hypothesis_any_text_parses_or_raises_a_model_script_error(text):
    try:
        script = parse(text)
    except ModelScriptError as err:
        assert str(err).startswith("net.alls:")
    else:
        assert isinstance(script, ModelScript)


# ------------------------------------------------------------------------------ files, examples


def test_read_model_script_names_the_file_in_errors(tmp_path):
    path = tmp_path / "bad.alls"
    path.write_text("resources_param(max_utilization=0.8)\nallocator_param(timeout=20x)\n")
    with pytest.raises(ModelScriptError, match=r"bad\.alls:2: allocator_param: timeout=20x"):
        read_model_script(path)


def test_read_model_script_missing_file(tmp_path):
    missing = tmp_path / "nope.alls"
    with pytest.raises(ModelScriptError) as info:
        read_model_script(missing)
    assert str(missing) in str(info.value)
    assert "does not exist" in str(info.value)


def test_read_model_script_not_utf8(tmp_path):
    path = tmp_path / "latin1.alls"
    path.write_bytes(b"# caf\xe9\nresources_param(max_utilization=0.8)\n")
    with pytest.raises(ModelScriptError, match="cannot read model script"):
        read_model_script(path)


def test_example_yolov8m_hailo8():
    script = read_model_script(EXAMPLES / "yolov8m_hailo8.alls")
    assert script.caps == CapOverrides(
        control=0.9, compute=0.9, memory=0.85, input_aligner=0.9, apu=0.9
    )
    # the comments' arithmetic: caps of the Hailo-8 totals (128 LCUs, 512 SCs, 1024 L3 cuts)
    assert [math.ceil(0.9 * 128), math.ceil(0.9 * 512), math.ceil(0.85 * 1024)] == [116, 461, 871]
    assert (script.context_switch, script.optimize_for_batch, script.timeout_s) == (
        "allowed",
        8,
        1200.0,
    )
    assert len(script.warnings) == 2  # normalization, allocator_param(automatic_ddr)


def test_example_resnet50_4bit_hailo8l():
    script = read_model_script(EXAMPLES / "resnet50_4bit_hailo8l.alls")
    assert script.compression_level == 1
    assert script.caps == CapOverrides(memory=0.8)
    assert script.warnings == ()
    names = [
        "stem",
        "layer3.0.conv1",
        "layer3.0.conv2",
        "layer3.5.conv2",
        "layer3.5.conv3",
        "layer4.0.conv1",
        "layer4.2.shortcut",
        "head.fc",
    ]
    assert script.precision_by_layer(names) == {
        "stem": Precision.A16_W16,
        "layer3.0.conv2": Precision.A8_W4,
        "layer3.5.conv2": Precision.A8_W4,
        "layer4.0.conv1": Precision.A8_W4,
        "layer4.2.shortcut": Precision.A8_W4,
    }
