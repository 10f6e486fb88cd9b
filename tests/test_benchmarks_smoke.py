"""Smoke runs of every benchmark (tiny sizes, short limits, nothing written), and their helpers.

The full runs are manual (``python -m benchmarks.NAME``); these keep the scripts from rotting.
"""

from __future__ import annotations

import doctest
import json
import threading

import pytest

import benchmarks.common as common
import benchmarks.fidelity as fidelity
import benchmarks.quality as quality
import benchmarks.scaling as scaling
import benchmarks.speed as speed
import benchmarks.synthetic as synthetic


@pytest.fixture
def no_results_write(monkeypatch):
    """Fail if a smoke run writes RESULTS.md."""

    def refuse(title, body, path=None):
        raise AssertionError(f"a smoke run tried to write the {title!r} section")

    for module in (scaling, speed, quality, fidelity):
        monkeypatch.setattr(module, "write_section", refuse)


# -- helpers ------------------------------------------------------------------------------------
@pytest.mark.parametrize("module", [common, synthetic])
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
