"""Smoke runs of every benchmark (tiny sizes, short limits, nothing written), and their helpers.

The full runs are manual (``python -m benchmarks.NAME``); these keep the scripts from rotting.
"""

from __future__ import annotations

import dataclasses
import doctest
import json
import threading

import pytest

import benchmarks.calibrate as calibrate
import benchmarks.common as common
import benchmarks.fidelity as fidelity
import benchmarks.quality as quality
import benchmarks.scaling as scaling
import benchmarks.speed as speed
import benchmarks.synthetic as synthetic
import partitioner.compile
from cost_model.caps import (
    MODEL_ZOO_MULTI_CONTEXT_CAPS,
    MODEL_ZOO_SINGLE_CONTEXT_CAPS,
    MULTI_CONTEXT_CAPS,
    SINGLE_CONTEXT_CAPS,
)


@pytest.fixture
def no_results_write(monkeypatch):
    """Fail if a smoke run writes RESULTS.md."""

    def refuse(title, body, path=None):
        raise AssertionError(f"a smoke run tried to write the {title!r} section")

    for module in (scaling, speed, quality, fidelity, calibrate):
        monkeypatch.setattr(module, "write_section", refuse)


# -- helpers ------------------------------------------------------------------------------------
@pytest.mark.parametrize("module", [common, synthetic, quality])
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_replace_section_keeps_other_sections():
    text = "# Results\n\n## Calibration\n\ncal 1\ncal 2\n\n## Speed\n\nold\n\n## Quality\n\nq\n"
    out = common.replace_section(text, "Speed", ["new 1", "", "new 2", ""])
    assert out == (
        "# Results\n\n## Calibration\n\ncal 1\ncal 2\n\n## Speed\n\nnew 1\n\nnew 2\n\n"
        "## Quality\n\nq\n"
    )
    appended = common.replace_section(out, "Scaling", ["s"])
    assert appended == out + "\n## Scaling\n\ns\n"
    assert common.replace_section("", "Speed", ["x"]) == "# Results\n\n## Speed\n\nx\n"
    last = common.replace_section(appended, "Scaling", ["t"])
    assert last == out + "\n## Scaling\n\nt\n"


def test_replace_section_refuses_a_level_two_heading_in_the_body():
    with pytest.raises(ValueError, match="contains a '## ' heading"):
        common.replace_section("# Results\n", "Speed", ["## Quality"])


def test_concurrent_writers_of_different_sections_lose_nothing(tmp_path):
    path = tmp_path / "RESULTS.md"

    def writer(title):
        for i in range(15):
            common.write_section(title, [f"{title} line {i}"], path)

    threads = [threading.Thread(target=writer, args=(t,)) for t in ("A", "B", "C")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    text = path.read_text()
    for title in ("A", "B", "C"):
        assert text.count(f"## {title}\n") == 1
        assert f"{title} line 14" in text


def test_fit_exponent_recovers_a_power_law():
    sizes = [50, 200, 1000, 5000]
    assert common.fit_exponent(sizes, [3e-4 * n**1.5 for n in sizes]) == pytest.approx(1.5)
    assert common.fit_exponent(sizes, [7.0 for _ in sizes]) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="positive"):
        common.fit_exponent([1, 2], [1.0, 0.0])
    with pytest.raises(ValueError, match="two distinct sizes"):
        common.fit_exponent([5, 5], [1.0, 2.0])


def test_md_table_aligns_numeric_columns_right():
    rows = [["a", "1.5", "<= 2.0", "FEASIBLE"], ["b", "-", "not reached", "OPTIMAL"]]
    lines = common.md_table(["x", "s", "gap s", "status"], rows)
    assert lines[1] == "|:--|--:|:--|:--|"
    assert lines[3] == "| b | - | not reached | OPTIMAL |"


# -- scaling ------------------------------------------------------------------------------------
def test_scaling_smoke(monkeypatch, no_results_write, capsys):
    seen = []
    real_run = scaling.run
    monkeypatch.setattr(scaling, "run", lambda args: seen.extend(real_run(args)) or seen)
    assert scaling.main(["--smoke"]) == 0
    rows = seen
    assert [(r.family, r.layers) for r in rows] == [
        (f, n) for n in scaling.SMOKE_SIZES for f in scaling.FAMILIES
    ]
    for r in rows:
        assert not r.error and 1 <= r.k0 <= r.contexts
        assert r.first_feasible_s <= r.first_cpsat_total_s
        assert r.objective_units <= r.dp_units  # CP-SAT, hinted with the DP split, never worse
        assert r.bound_units <= r.objective_units
        if r.gap_s is not None:
            assert r.gap_total_s >= r.first_cpsat_total_s
            assert r.final_gap is not None
    out = capsys.readouterr().out
    for n in scaling.SMOKE_SIZES:
        assert sum(line.startswith(f"| chain | {n} | ") for line in out.splitlines()) == 1
    assert "Growth exponents" in out


def test_scaling_child_process_reports_its_own_memory():
    args = scaling.parse_args(["--time-limit", "1"])
    row = scaling.measure_isolated("chain", 40, args)
    assert row.error == "" and row.isolated
    assert row.layers == 40 and row.contexts == 1  # 40 convs fit one context at 60% caps
    assert row.rss_peak_mb >= row.rss_base_mb > 0


def test_scaling_goal_lines_name_the_margin():
    row = scaling.ScalingRow(
        family="chain",
        layers=scaling.GOAL_LAYERS,
        k0=60,
        contexts=70,
        pricing_s=30.0,
        greedy_s=20.0,
        dp_s=40.0,
        model_s=10.0,
        solve_s=100.0,
        first_solution_s=5.0,
        gap_s=None,
        gap_at_end_only=False,
        status="FEASIBLE",
        final_gap=0.2,
        dp_units=100,
        objective_units=90,
        bound_units=70,
        rss_base_mb=100.0,
        rss_peak_mb=3072.0,
        isolated=True,
    )
    lines = scaling.goals([row])
    assert lines[0] == (
        "- chain 5000 layers, feasible within 60 s: MISSED for the DP split (90.0 s, 1.5x the "
        "goal), MISSED for CP-SAT's first solution (105.0 s, 1.8x the goal)"
    )
    assert lines[1] == "- chain 5000 layers, at most 2048 MB: MISSED (peak 3072 MB, 1.5x the goal)"


# -- speed ----------------------------------------------------------------------------------------
def test_speed_smoke(no_results_write, capsys):
    assert speed.main(["--smoke"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("| squeezenet_v1.1 |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    # model, hw, layers, import, pricing, solving, validate, compile, total, sd, contexts, gap
    assert cells[:3] == ["squeezenet_v1.1", "hailo8", "38"]
    import_s, pricing, solving, validate, compile_s, total = map(float, cells[3:9])
    assert compile_s == pytest.approx(pricing + solving + validate, abs=0.011)
    assert total == pytest.approx(import_s + compile_s, abs=0.011)
    assert cells[10:12] == ["1", "0.00%"]  # one context on Hailo-8 (published b1 == b8)
    pricing_rows = [line for line in out.splitlines() if line.startswith("| price_layers")]
    assert len(pricing_rows) == 2


# -- quality and fidelity ------------------------------------------------------------------------
def test_quality_and_fidelity_smoke(no_results_write, tmp_path, capsys):
    dump = tmp_path / "runs.jsonl"
    assert quality.main(["--smoke", "--dump", str(dump)]) == 0
    (run,) = [json.loads(line) for line in dump.read_text().splitlines()]
    assert (run["model"], run["hardware"], run["batch"]) == ("vit_tiny", "hailo8", 8)
    assert run["validated"] and not run["single_context"] and run["contexts"] >= 2
    # the DP is the best contiguous split (exact to one time unit), greedy one of them
    assert 0 < run["greedy_fps"] <= run["dp_fps"] * (1 + 1e-3)
    assert run["bound_fps"] >= run["cpsat_fps"] * (1 - 1e-9)
    fps = run["fps_by_batch"]
    assert fps["8"] > fps["1"]  # several contexts: batch 8 spreads the switches over 8 frames
    capsys.readouterr()
    assert fidelity.main(["--smoke", "--from", str(dump)]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("| hailo8 | vit_tiny |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[2] == "89.2" and cells[5] == "406" and cells[8] == "multi"
    assert cells[9] == str(run["contexts"])  # published multi, predicted multi: no "(WRONG)"
    assert "| ViT-Base | hailo8 | 8 | - | not compiled in this run |" in out
    assert "| DeiT-Base | hailo8 | 8 | - | not in the zoo |" in out
    assert run["caps"] == "default"
    assert "### At ctxfit compile's default caps" in out
    assert "Model Zoo caps" not in out  # a smoke run reports the default caps only


@pytest.fixture
def search_caps(monkeypatch):
    """The (single, multi) caps of every SearchOptions that reaches compile_network."""
    seen = []
    real = partitioner.compile.compile_network

    def spy(net, hw, options, **kwargs):
        seen.append((options.single_caps, options.multi_caps))
        return real(net, hw, options, **kwargs)

    monkeypatch.setattr(partitioner.compile, "compile_network", spy)
    return seen


@pytest.mark.parametrize(
    ("argv", "caps"),
    [
        ([], (SINGLE_CONTEXT_CAPS, MULTI_CONTEXT_CAPS)),
        (["--caps", "zoo"], (MODEL_ZOO_SINGLE_CONTEXT_CAPS, MODEL_ZOO_MULTI_CONTEXT_CAPS)),
    ],
)
def test_fidelity_smoke_caps_reach_the_search(
    no_results_write, search_caps, monkeypatch, capsys, argv, caps
):
    assert MODEL_ZOO_MULTI_CONTEXT_CAPS != MULTI_CONTEXT_CAPS  # else this test proves nothing
    runs = []
    real_run = fidelity.run_quality
    monkeypatch.setattr(
        fidelity, "run_quality", lambda *a, **k: runs.extend(real_run(*a, **k)) or runs
    )
    assert fidelity.main(["--smoke", *argv]) == 0
    assert search_caps == [caps]  # one compile (squeezenet on Hailo-8), at the asked caps
    name = argv[-1] if argv else "default"
    assert [(r.model, r.caps, r.error) for r in runs] == [("squeezenet_v1.1", name, "")]
    out = capsys.readouterr().out
    assert out.count("\n### ") == 1
    assert ("--max-utilization 1`" in out) == (name == "zoo")
    assert sum(line.startswith("| hailo8 | squeezenet_v1.1 |") for line in out.splitlines()) == 1


def _fake_runs(caps):
    """One batch-8 run per calibration row at ``caps``: zoo caps 10% high, default 50% low."""
    factor = 1.1 if caps == "zoo" else 0.5
    return [
        quality.QualityRow(
            model=r.network,
            hardware=r.device,
            batch=fidelity.OPTIMIZE_FOR_BATCH,
            layers=10,
            contexts=1 if r.single else 3,
            single_context=r.single,
            status="OPTIMAL",
            cpsat_fps=factor * r.fps_b8,
            greedy_fps=None,
            dp_fps=None,
            bound_fps=None,
            bound_contexts=None,
            gap=0.0,
            search_s=0.1,
            validated=True,
            fps_by_batch={"1": factor * r.fps_b1, "8": factor * r.fps_b8},
            caps=caps,
        )
        for r in calibrate.load_rows(calibrate.csv_path())
    ]


def _subsections(out):
    """``{### title: its lines}`` of a printed section."""
    parts = out.split("\n### ")[1:]
    return {p.splitlines()[0]: p.splitlines()[1:] for p in parts}


def test_fidelity_full_run_writes_zoo_then_default_caps(monkeypatch, capsys):
    asked = []

    def fake_run(networks, devices, batches, timeout_s, caps="default"):
        asked.append(caps)
        return _fake_runs(caps)

    written = {}
    monkeypatch.setattr(fidelity, "run_quality", fake_run)
    monkeypatch.setattr(fidelity, "write_section", lambda t, body: written.update({t: body}))
    assert fidelity.main([]) == 0
    assert asked == ["zoo", "default"]
    out = capsys.readouterr().out
    assert "\n".join(written["Fidelity"]) == out.rstrip("\n")
    assert out.startswith("`python -m benchmarks.fidelity` on ")
    titles = list(_subsections(out))
    assert titles == [fidelity.CAPS_TITLES["zoo"], fidelity.CAPS_TITLES["default"]]
    zoo, default = _subsections(out).values()
    assert any("100% single-context, 100% multi-context" in line for line in zoo)
    assert any("75% single-context, 60% multi-context" in line for line in default)
    n = len(calibrate.load_rows(calibrate.csv_path()))
    for lines, err in ((zoo, 10), (default, 50)):
        assert f"- FPS at batch 1: median |error| {err}%, worst {err}%" in " ".join(lines)
        assert f"- single/multi context right on {n}/{n} rows" in lines
        assert "| YOLOv8n | hailo8 | 1 | 1 | met |" in lines

    # --caps default: only that table
    asked.clear()
    assert fidelity.main(["--caps", "default"]) == 0
    assert asked == ["default"]
    assert list(_subsections(capsys.readouterr().out)) == [fidelity.CAPS_TITLES["default"]]


def test_fidelity_from_a_dump_splits_the_runs_by_caps(no_results_write, tmp_path, capsys):
    dump = tmp_path / "runs.jsonl"
    lines = [json.dumps(dataclasses.asdict(r)) for c in ("default", "zoo") for r in _fake_runs(c)]
    dump.write_text("\n".join(lines) + "\n")
    assert fidelity.main(["--from", str(dump), "--no-write"]) == 0
    sections = _subsections(capsys.readouterr().out)
    assert list(sections) == [fidelity.CAPS_TITLES["zoo"], fidelity.CAPS_TITLES["default"]]
    assert "- FPS at batch 8: median |error| 10%" in " ".join(sections[fidelity.CAPS_TITLES["zoo"]])

    # a dump from before runs recorded their caps: all at the default caps
    old = []
    for r in _fake_runs("default"):
        row = dataclasses.asdict(r)
        del row["caps"]
        old.append(json.dumps(row))
    dump.write_text("\n".join(old) + "\n")
    assert {r.caps for r in fidelity.load_runs(dump)} == {"default"}
    assert fidelity.main(["--from", str(dump), "--no-write"]) == 0
    sections = _subsections(capsys.readouterr().out)
    zoo = sections[fidelity.CAPS_TITLES["zoo"]]
    assert any(line.startswith("No runs at these caps in ") for line in zoo)
    assert "| hailo8 | resnet_v1_50 |" in " ".join(sections[fidelity.CAPS_TITLES["default"]])
    with pytest.raises(SystemExit, match="no batch-8 runs at the zoo caps"):
        fidelity.main(["--from", str(dump), "--caps", "zoo", "--no-write"])


def test_quality_caps_option_and_old_dumps(no_results_write, tmp_path, capsys):
    assert quality.parse_args([]).caps is None  # run() then compiles at DEFAULT_CAPS
    assert quality.DEFAULT_CAPS == "default"
    dump = tmp_path / "runs.jsonl"
    rows = _fake_runs("zoo")[:2] + _fake_runs("default")[:1]
    dump.write_text("\n".join(json.dumps(dataclasses.asdict(r)) for r in rows) + "\n")
    assert quality.main(["--from", str(dump), "--no-write"]) == 0
    out = capsys.readouterr().out
    assert "| model | hw | caps | B |" in out  # mixed caps: a caps column
    assert quality.main(["--from", str(dump), "--caps", "zoo", "--no-write"]) == 0
    out = capsys.readouterr().out
    assert "| model | hw | B |" in out and "--max-utilization 1`" in out
    assert "(100% caps)" in out


def test_calibrate_writes_its_section_through_write_section(tmp_path):
    path = tmp_path / "RESULTS.md"
    path.write_text("# Results\n\n## Calibration\n\nold\n\n## Speed\n\nspeed\n")
    calibrate.write_results(["## Calibration", "", "new 1", "", "### In-sample", "", "t"], path)
    assert path.read_text() == (
        "# Results\n\n## Calibration\n\nnew 1\n\n### In-sample\n\nt\n\n## Speed\n\nspeed\n"
    )
    with pytest.raises(ValueError, match="not '## Calibration'"):
        calibrate.write_results(["## Speed", "", "x"], path)
