"""Issue 15: every bad input gets one clear line and exit 2 (argparse: its usage and exit 2), no
traceback, no hang; nothing the user gave is overwritten; user text is printed as written.

Models are small saved layer graphs (no torch), so each case runs in well under a second.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import pytest

from cost_model.hardware import load_hardware, preset
from partitioner.cli import main
from partitioner.graph import Network
from partitioner.model_script import parse_model_script
from tests.nets import conv, conv_chain

FACTORIES = "tests/data/factories.py"


@pytest.fixture(autouse=True)
def fixed_width(monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")


@pytest.fixture
def chain(tmp_path: Path) -> Path:
    path = tmp_path / "chain.json"
    conv_chain(4).save(path)
    return path


def run(capsys, *argv: object) -> tuple[int, str, str]:
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exit_:  # argparse's own errors
        code = int(exit_.code or 0)
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def error_of(capsys, *argv: object) -> str:
    """The one error line of a run that must fail with exit 2 (rich wraps nothing: one line)."""
    code, _, err = run(capsys, *argv)
    assert code == 2, err
    lines = [line for line in err.splitlines() if not line.startswith(("[info]", "usage", " "))]
    assert len(lines) == 1, err
    return lines[0]


def named_net(path: Path, *names: str) -> Path:
    """A chain of convs with these layer names, saved as a layer graph."""
    layers, src = [], "images"
    for i, name in enumerate(names):
        layers.append(conv(name, src, 3 if i == 0 else 16, 16, 32))
        src = name
    Network("named", layers, inputs={"images": (3, 32, 32)}, outputs=[src]).save(path)
    return path


# -- D3/D4: user text is never markup, control characters are shown, printing is linear ------------
@pytest.mark.parametrize(
    ("model", "fragment"),
    [
        ("x[/]y.onnx", "error: model file 'x[/]y.onnx' does not exist"),
        ("x[/]y.json", "error: model file 'x[/]y.json' does not exist"),
        ("yolo[bold]v8n", "error: unknown model 'yolo[bold]v8n'; did you mean 'yolov8n'"),
    ],
)
def test_markup_in_a_model_argument_is_printed_as_written(capsys, model, fragment):
    assert error_of(capsys, "compile", model).startswith(fragment)


def test_markup_and_ansi_escapes_in_layer_names_are_shown_not_applied(capsys, tmp_path):
    path = named_net(tmp_path / "n.json", "[red]bold0[/]", "conv\x1b[31m1", "tab\t2")
    code, out, _ = run(capsys, "profile", path)
    assert code == 0
    assert "[red]bold0[/]" in out
    assert "conv\\x1b[31m1" in out and "tab\\t2" in out
    assert "\x1b" not in out and "\t" not in out


def test_hardware_errors_keep_their_brackets(capsys, chain, tmp_path):
    toml = tmp_path / "empty.toml"
    toml.write_text('name = "x"\n')
    line = error_of(capsys, "compile", chain, "--hw", toml)
    assert line == f"error: hardware file {str(toml)!r}: missing table [link] (generation, lanes)"


def test_script_hints_keep_their_brackets(capsys, chain, tmp_path):
    script = tmp_path / "s.alls"
    script.write_text("context_0 = context(conv0)\n")
    line = error_of(capsys, "compile", chain, "--script", script)
    assert line.endswith("write context_N = context([layer, ...]) with N = 0, 1, 2, ...")


def test_a_megabyte_of_backslashes_gives_one_short_line(capsys, chain, tmp_path):
    script = tmp_path / "bs.alls"
    script.write_text('resources_param(max_utilization="' + "\\\\" * 500_000 + '")\n')
    line = error_of(capsys, "compile", chain, "--script", script)
    assert line.startswith(f"error: {script}:1: resources_param: max_utilization=")
    assert len(line) < 5000 and "characters" in line


# -- D5/D6/D14/D21: hardware files -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("clock_hz = nan", "clock_hz = nan must be a finite number from 1e+06 to 1e+10 Hz"),
        ("clock_hz = inf", "clock_hz = inf must be a finite number from 1e+06 to 1e+10 Hz"),
        ("compute_efficiency = nan", "compute_efficiency = nan must be a finite number > 0 and"),
        ("pcie_pj_per_byte = nan", "pcie_pj_per_byte = nan must be a finite number from 0 to"),
        ("context_switch_overhead_s = inf", "context_switch_overhead_s = inf must be a finite"),
        ("lcus_total = 100000000000000000", "lcus_total = 100000000000000000 must be a whole"),
        ("[link]\nbytes_per_s = nan", "link.bytes_per_s = nan must be a finite number from 1e+06"),
        ("[link]\nbytes_per_s = 1e-300", "link.bytes_per_s = 1e-300 must be a finite number"),
        ("cluster_ids = [0, 0, 0, 0, 0, 0, 0, 0]", "cluster_ids [0, 0, 0, 0, 0, 0, 0, 0] repeats"),
        (
            "cluster_ids = [-1, 1, 2, 3, 4, 5, 6, 7]",
            "cluster_ids [-1, 1, 2, 3, 4, 5, 6, 7] has -1; give 8 distinct",
        ),
        ("cluster_ids = [0, 1]", "cluster_ids [0, 1] should list 8 clusters"),
    ],
)
def test_a_bad_number_in_a_hardware_file_names_the_file_and_key(
    capsys, chain, tmp_path, line, message
):
    toml = tmp_path / "hw.toml"
    toml.write_text(f'base = "hailo8"\n{line}\n')
    prefix = f"error: hardware file {str(toml)!r}: "
    assert error_of(capsys, "compile", chain, "--hw", toml).startswith(prefix + message)
    assert error_of(capsys, "profile", chain, "--hw", toml).startswith(prefix + message)


def test_a_hardware_file_that_is_not_utf8_is_named(capsys, chain, tmp_path):
    toml = tmp_path / "latin1.toml"
    toml.write_bytes(b'base = "hailo8"\nname = "caf\xe9"\n')
    assert error_of(capsys, "compile", chain, "--hw", toml) == (
        f"error: hardware file {str(toml)!r} is not UTF-8 text (byte 0xe9 at offset 27); "
        "save it as UTF-8"
    )


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
@pytest.mark.parametrize("flag", ["--script", "--hw"])
def test_a_fifo_is_refused_not_read(capsys, chain, tmp_path, flag):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    line = error_of(capsys, "compile", chain, flag, fifo)
    assert f"{str(fifo)!r} is not a regular file (a directory, a FIFO or a device)" in line


def test_the_full_example_repeats_the_hailo8_preset_on_a_gen3_x2_link():
    hw = load_hardware("hailo8_full_example")
    h8 = preset("hailo8")
    assert hw.link.label == "PCIe Gen3 x2"
    assert hw.with_params(name="hailo8", link=h8.link) == h8  # l3_cut_bytes 32 KiB included


# -- D12/D18/D19: outputs --------------------------------------------------------------------------
@pytest.mark.parametrize("flag", ["--json", "--html", "--emit-script"])
def test_compile_never_writes_over_the_hardware_file(capsys, chain, tmp_path, flag):
    toml = tmp_path / "my.toml"
    toml.write_text('base = "hailo8"\n')
    line = error_of(capsys, "compile", chain, "--hw", toml, flag, toml)
    assert line.startswith(f"error: {flag} {str(toml)!r} is the input file;")
    assert toml.read_text() == 'base = "hailo8"\n'


@pytest.mark.parametrize("command", ["profile", "explain"])
def test_profile_and_explain_never_write_over_the_hardware_file(capsys, chain, tmp_path, command):
    toml = tmp_path / "my.toml"
    toml.write_text('base = "hailo8"\n')
    spelled = f"{tmp_path}/./my.toml"
    line = error_of(capsys, command, chain, "--hw", toml, "--json", spelled)
    assert line.startswith(f"error: --json {spelled!r} is the input file {str(toml)!r} (the same")
    assert toml.read_text() == 'base = "hailo8"\n'


def test_no_command_writes_over_the_python_file_of_a_factory(capsys, tmp_path):
    source = tmp_path / "f.py"
    source.write_text(Path(FACTORIES).read_text())
    before = source.read_text()
    for argv in (
        ["profile", f"{source}:tiny", "--input-shape", "1x3x8x8", "--json", source],
        ["compile", f"{source}:tiny", "--input-shape", "1x3x8x8", "--emit-script", source],
    ):
        assert "is the input file" in error_of(capsys, *argv)
    assert source.read_text() == before


def test_a_hard_link_to_the_model_is_the_model(capsys, chain, tmp_path):
    link = tmp_path / "hard.json"
    os.link(chain, link)
    before = chain.read_text()
    line = error_of(capsys, "compile", chain, "--json", link)
    assert line.startswith(f"error: --json {str(link)!r} is the input file {str(chain)!r}")
    assert chain.read_text() == before


def test_compare_never_writes_over_a_hard_link_to_its_inputs(capsys, chain, tmp_path):
    result = tmp_path / "a.json"
    assert run(capsys, "compile", chain, "--json", result)[0] == 0
    link = tmp_path / "b.json"
    os.link(result, link)
    assert "is the input file" in error_of(capsys, "compare", result, result, "--json", link)


def test_sweep_never_writes_over_the_hardware_file(capsys, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    toml = out / "sweep.csv"  # a hardware file where the sweep would write its table
    toml.write_text('base = "hailo8"\n')
    line = error_of(capsys, "sweep", "yolov8n", "--width", "0.25", "--hw", toml, "--out", out)
    assert "is in the way of the sweep's outputs" in line
    assert toml.read_text() == 'base = "hailo8"\n'


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--json", "-", "--emit-script", "-"],
            "error: --json and --emit-script both write to stdout (-); send one of them to a file",
        ),
        (["--json", ""], "error: --json '' is empty; give a file path, or - for stdout"),
        (["--emit-script", ""], "error: --emit-script '' is empty; give a file path, or - for"),
        (["--html", ""], "error: --html '' is empty; give a file path"),
        (["--html", "-"], "error: --html cannot write to stdout (-); give a file name such as"),
        (["--json", "x.json", "--html", "x.json"], "error: --json and --html both write 'x.json'"),
    ],
)
def test_odd_output_targets_are_refused_before_the_compile(
    capsys, chain, tmp_path, monkeypatch, argv, message
):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "compile", chain, *argv)
    assert code == 2 and err.startswith(message), err
    assert "[info]" not in out  # nothing was compiled


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("new\nline", "; a name must be non-empty and on one line"),
        ("esc\x1b[0m", ": it holds a control character"),  # a terminal escape in a node name
        ("bad\ufffdbytes", ": it holds a control character, or bytes that are not UTF-8"),
    ],
)
def test_a_layer_name_no_script_can_hold_fails_before_the_compile(capsys, tmp_path, name, why):
    path = named_net(tmp_path / "n.json", "conv0", name)
    code, out, err = run(capsys, "compile", path, "--emit-script", tmp_path / "p.alls")
    assert code == 2
    assert err.startswith(f"error: layer name {name!r} cannot be written to a model script")
    assert why in err
    assert "[info]" not in out and not (tmp_path / "p.alls").exists()


# -- D10/D15/D23 and numbers in model scripts ------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("context_0 = context(" + "[" * 50_000 + "]" * 50_000 + ")", ":1: brackets nested more"),
        ("resources_param(max_memory_utilization=٠.٨)", "max_memory_utilization=٠.٨ is not a num"),
        (
            "resources_param(max_memory_utilization=０.8)",
            "max_memory_utilization=０.8 is not a num",
        ),
        ("resources_param(max_memory_utilization=0x10)", "max_memory_utilization=0x10 is not a n"),
        ("resources_param(max_memory_utilization=nan)", "max_memory_utilization=nan is not a num"),
        ("resources_param(max_utilization=0.01)", "max_utilization=0.01 is outside 0 (not set)"),
        ("resources_param(max_control_utilization=1.6)", "max_control_utilization=1.6 is outside"),
        ("performance_param(optimize_for_batch=٣)", "optimize_for_batch=٣ is not a whole number"),
        ("performance_param(optimize_for_batch=" + "9" * 5000 + ")", "is not a whole number"),
        ("performance_param(fps=1e999)", "fps=1e999 must be a finite number > 0"),
        ("allocator_param(timeout=100000)", "timeout=100000 is 100000 s, outside 0.1..86400 s"),
        ("context_" + "9" * 5000 + " = context([conv0])", "context(...) is assigned to 'context_"),
    ],
)
def test_bad_script_values_name_the_line_and_value(capsys, chain, tmp_path, text, message):
    script = tmp_path / "s.alls"
    script.write_text(text + "\n", encoding="utf-8")
    line = error_of(capsys, "compile", chain, "--script", script)
    assert line.startswith(f"error: {script}:1: ") and message in line, line


def test_max_utilization_zero_in_a_script_means_not_set():
    script = parse_model_script("resources_param(max_utilization=0.0, max_control_utilization=1.2)")
    assert script.caps.as_dict() == {"control": 1.2}


def test_disabled_context_switching_with_pins_names_both_lines(capsys, chain, tmp_path):
    script = tmp_path / "s.alls"
    script.write_text(
        "context_switch_param(mode=disabled)\n"
        "context_0 = context([conv0])\n"
        "context_1 = context([conv1])\n"
    )
    assert error_of(capsys, "compile", chain, "--script", script) == (
        f"error: {script}:3: context_1 pins layers to a second context, but line 1 disables "
        "context switching (context_switch_param(mode=disabled)); remove the pins after "
        "context_0 or allow context switching"
    )
    script.write_text("context_0 = context([conv0])\ncontext_1 = context([conv1])\n")
    line = error_of(capsys, "compile", chain, "--script", script, "--context-switch", "disabled")
    assert "but --context-switch disabled disables context switching" in line
    code, _, _ = run(capsys, "compile", chain, "--script", script, "--context-switch", "allowed")
    assert code == 0


def test_a_quantization_glob_that_matches_nothing_is_reported():
    script = parse_model_script(
        "quantization_param(conv*, precision_mode=a8_w4)\n"
        "quantization_param(head*, precision_mode=a8_w4)\n"
    )
    rules = script.precision_rules_matched(["conv0", "conv1", "fc"])
    assert [(r.pattern, r.line, r.matched) for r in rules] == [("conv*", 1, 2), ("head*", 2, 0)]
    assert rules[1].message.startswith("line 2: quantization_param(head*) matches no layer")


# -- D11/D20/D23 and caps on the command line ------------------------------------------------------
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--seed", "99999999999999999999"], "--seed: '99999999999999999999' must be a whole"),
        (["--seed", "2147483648"], "--seed: '2147483648' must be a whole number from 0 to 21474"),
        (["--timeout", "inf"], "--timeout: 'inf' must be a finite number from 0.1 to 86400 s"),
        (["--timeout", "1e308"], "--timeout: '1e308' must be a finite number from 0.1 to 86400"),
        (["--timeout", "1e-9"], "--timeout: '1e-9' must be a finite number from 0.1 to 86400 s"),
        (["--timeout", "nan"], "--timeout: 'nan' must be a finite number from 0.1 to 86400 s"),
        (["--iteration-timeout", "nan"], "--iteration-timeout: 'nan' must be a finite number"),
        (["--iteration-timeout", "inf"], "--iteration-timeout: 'inf' must be a finite number"),
        (["--max-utilization", "0.01"], "--max-utilization: '0.01' must be a finite number from"),
        (["--max-utilization", "1.6"], "--max-utilization: '1.6' must be a finite number from 0.0"),
        (["--max-utilization", "160%"], "--max-utilization: '160%' is 1.6, which must be a finite"),
        (["--max-utilization", "x%"], "--max-utilization: 'x%' is not a number; write a fraction"),
        (["--batch", "٣"], "--batch: '٣' is not a whole number; write ASCII digits"),
        (["--workers", "1_0"], "--workers: '1_0' is not a whole number; write ASCII digits"),
        (["--width", "nan"], "--width: 'nan' must be a finite number > 0 and <= 100"),
    ],
)
def test_bad_numbers_on_the_command_line_say_what_is_accepted(capsys, chain, argv, message):
    code, _, err = run(capsys, "compile", chain, *argv)
    assert code == 2
    (line,) = err.splitlines()  # one line, no usage dump
    assert line.startswith(f"error: ctxfit compile: argument {message}"), err
    assert line.endswith("(`ctxfit compile --help` lists the arguments)")


@pytest.mark.parametrize("value", ["nan", "inf", "0"])
def test_explain_target_fps_must_be_a_positive_finite_rate(capsys, chain, value):
    code, _, err = run(capsys, "explain", chain, "--target-fps", value)
    assert code == 2
    assert f"argument --target-fps: '{value}' must be a finite number > 0 and <= 1e+07 FPS" in err


def test_caps_above_one_are_accepted_up_to_one_and_a_half(capsys, chain):
    code, out, _ = run(capsys, "compile", chain, "--max-utilization", "1.5")
    assert code == 0 and "1 context" in out


def test_a_cap_as_a_percentage_is_the_same_cap(capsys, chain, tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert run(capsys, "compile", chain, "--max-utilization", "80%", "--json", a)[0] == 0
    assert run(capsys, "compile", chain, "--max-utilization", "0.8", "--json", b)[0] == 0
    caps_a, caps_b = (json.loads(p.read_text())["caps"] for p in (a, b))
    assert caps_a == caps_b and caps_a["control"] == pytest.approx(0.8)


# -- D17 and --input-shape hints -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("shape", "message"),
    [
        (
            "5x7x640x640",
            "error: --input-shape 5x7x640x640 has batch 5 (the batch size is --batch) and 7 "
            "channels ('yolov8n' takes 3); pass 1x3x640x640",
        ),
        ("1x1x640x640", "error: --input-shape 1x1x640x640 has 1 channels ('yolov8n' takes 3)"),
        ("3x512x512", "error: zoo model 'yolov8n' takes a 4-D input shape NxCxHxW, got "),
        ("1x3x4294967296x4294967296", "error: input shape '1x3x4294967296x4294967296' is not u"),
        ("1x3x٣x4", "error: input shape '1x3x٣x4' is not understood"),
    ],
)
def test_zoo_input_shapes_are_checked_whole(capsys, shape, message):
    assert error_of(capsys, "compile", "yolov8n", "--input-shape", shape).startswith(message)


def test_a_3d_factory_shape_suggests_the_batch_first(capsys):
    line = error_of(capsys, "profile", f"{FACTORIES}:tiny", "--input-shape", "3x512x512")
    assert line == (
        f"error: --input-shape 3x512x512 for '{FACTORIES}:tiny' has no batch dimension; pass "
        "1x3x512x512 (NxCxHxW with N = 1)"
    )


# -- D22: messages ---------------------------------------------------------------------------------
def test_a_factory_error_names_the_factory_once(capsys):
    line = error_of(capsys, "profile", f"{FACTORIES}:raises", "--input-shape", "1x3x8x8")
    assert line.count("raised") == 1 and "raised RuntimeError: weights not found" in line


def test_a_factory_that_exits_is_an_error_not_ctxfits_exit(capsys):
    line = error_of(capsys, "profile", f"{FACTORIES}:exits", "--input-shape", "1x3x8x8")
    assert line == (
        f"error: factory '{FACTORIES}:exits' called sys.exit(3); make it return the model "
        "instead of exiting"
    )


def test_info_lines_are_not_hard_wrapped_on_a_pipe(capsys, chain, tmp_path, monkeypatch):
    monkeypatch.delenv("COLUMNS")
    script = tmp_path / "s.alls"
    script.write_text(f"{'x' * 120}_param(a=1)\n")
    code, out, err = run(capsys, "compile", chain, "--script", script, "--json", "-")
    assert code == 0
    note = [line for line in err.splitlines() if "ignoring unsupported command" in line]
    assert note == [
        f"[warning] line 1: ignoring unsupported command '{'x' * 120}_param' (ctxfit does "
        "not model it)"
    ]
    assert json.loads(out)["num_contexts"] == 1


def test_script_warnings_are_printed_with_quiet_too(capsys, chain, tmp_path):
    script = tmp_path / "s.alls"
    script.write_text("quantization_param({zzz*}, precision_mode=a16_w16)\nfoo_param(a=1)\n")
    code, out, err = run(capsys, "compile", chain, "--script", script, "--quiet")
    assert code == 0 and "[warning]" not in out
    assert [line for line in err.splitlines() if line.startswith("[warning]")] == [
        "[warning] line 1: quantization_param(zzz*) matches no layer; check the pattern "
        "against the names `ctxfit profile MODEL` prints",
        "[warning] line 2: ignoring unsupported command 'foo_param' (ctxfit does not model it)",
    ]
    assert "[info]" not in err  # --quiet keeps only what needs the user's eye


def test_html_with_odd_layer_names_leaks_no_font_warning(capsys, tmp_path):
    path = named_net(tmp_path / "n.json", "tab\tname", "dollar$\\frac{x", "ctl\x07")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code, _, err = run(capsys, "compile", path, "--html", tmp_path / "r.html")
    assert code == 0, err
    assert not [w for w in caught if "Glyph" in str(w.message)]
    assert (tmp_path / "r.html").stat().st_size > 0


def test_every_number_of_a_hardware_spec_has_a_documented_range():
    from dataclasses import fields

    from cost_model.hardware import HardwareSpec
    from cost_model.ranges import HARDWARE_RANGES

    numeric = {f.name for f in fields(HardwareSpec) if f.type in ("int", "float")}
    assert numeric and numeric <= set(HARDWARE_RANGES)
    assert all(HARDWARE_RANGES[key].contains(getattr(preset("hailo8"), key)) for key in numeric)
