"""Smoke runs of every benchmark (tiny sizes, short limits, nothing written), and their helpers.

The full runs are manual (``python -m benchmarks.NAME``); these keep the scripts from rotting.
"""

from __future__ import annotations

import dataclasses
import doctest
import json
import math
import threading

import pytest

import benchmarks.calibrate as calibrate
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

    for module in (scaling, speed, quality, fidelity, calibrate):
        monkeypatch.setattr(module, "write_section", refuse)


# -- helpers ------------------------------------------------------------------------------------
@pytest.mark.parametrize("module", [common, synthetic, quality, calibrate, fidelity])
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
def test_quality_smoke(no_results_write, tmp_path, capsys):
    dump = tmp_path / "runs.jsonl"
    assert quality.main(["--smoke", "--dump", str(dump)]) == 0
    (run,) = [json.loads(line) for line in dump.read_text().splitlines()]
    assert (run["model"], run["hardware"], run["batch"]) == ("vit_tiny", "hailo8", 8)
    assert run["validated"] and not run["single_context"] and run["contexts"] >= 2
    # the DP is the best contiguous split (exact to one time unit), greedy one of them
    assert 0 < run["greedy_fps"] <= run["dp_fps"] * (1 + 1e-3)
    # a short smoke budget may end before a bound covers the chosen count; one that exists holds
    if run["bound_fps"] is not None:
        assert run["bound_fps"] >= run["cpsat_fps"] * (1 - 1e-9)
    else:
        assert run["status"] == "FEASIBLE"  # no bound, no claim of optimality
    fps = run["fps_by_batch"]
    assert fps["8"] > fps["1"]  # several contexts: batch 8 spreads the switches over 8 frames
    assert run["caps"] == "default"


def test_fidelity_smoke_compiles_with_the_model_zoo_script(no_results_write, capsys):
    assert fidelity.main(["--smoke"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("| hailo8 | squeezenet_v1.1 |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[2] == "3034" and cells[5] == "3034" and cells[8] == "single"
    assert cells[9] == "1"  # published single, predicted single: no "(WRONG)"
    assert "| ViT-Base | hailo8 | 8 | - | not compiled in this run |" in out
    assert "| DeiT-Base | hailo8 | 8 | - | not in the zoo |" in out
    assert "### In-sample" in out and "### Leave one network out" not in out


def _run(network, device, mode, contexts, b1, b8):
    return fidelity.Run(
        device=device, network=network, mode=mode, contexts=contexts, fps_b1=b1, fps_b8=b8
    )


def test_fidelity_statistics_and_goals_by_hand():
    rows = [
        calibrate.Row(device="hailo8", network="yolov8n", task="object_detection",
                      fps_b1=1000.0, fps_b8=1000.0),
        calibrate.Row(device="hailo8", network="yolov8m", task="object_detection",
                      fps_b1=100.0, fps_b8=200.0),
        calibrate.Row(device="hailo8", network="resnet_v1_18", task="classification",
                      fps_b1=2000.0, fps_b8=2000.0),
    ]  # fmt: skip
    runs = [
        _run("yolov8n", "hailo8", "insample", 1, 900.0, 900.0),  # -10%
        _run("yolov8m", "hailo8", "insample", 1, 50.0, 50.0),  # -50% / -75%, wrong verdict
        _run("resnet_v1_18", "hailo8", "insample", 1, 2400.0, 2400.0),  # +20%
    ]
    s = fidelity.stats(fidelity.pairs_of(rows, runs))
    assert s["right"] == pytest.approx(2 / 3)
    assert s["median1"] == pytest.approx(20.0) and s["median8"] == pytest.approx(20.0)
    assert s["worst1"] == pytest.approx(2.0) and s["worst8"] == pytest.approx(4.0)
    lines = fidelity.goals(rows, runs)
    assert lines[0] == "- single/multi right on >= 97% of rows: 66.7% (MISSED)"
    assert "batch 1 20.0%, batch 8 20.0% (MISSED)" in lines[1]
    assert "batch 1 2.00x, batch 8 4.00x (MISSED)" in lines[2]
    table = "\n".join(fidelity.summary_table(rows, runs))
    assert "| detection | 2 | 50% | 30.0% | 2.00x | 42.5% | 4.00x |" in table


def test_fidelity_from_a_dump(no_results_write, tmp_path, capsys):
    dump = tmp_path / "runs.jsonl"
    runs = [_run("yolov8n", "hailo8", "insample", 1, 1036.0, 1036.0),
            _run("yolov8n", "hailo8", "loo", 2, 518.0, 1036.0)]  # fmt: skip
    dump.write_text("".join(json.dumps(dataclasses.asdict(r)) + "\n" for r in runs))
    assert fidelity.main(["--from", str(dump), "--networks", "yolov8n", "--no-write"]) == 0
    out = capsys.readouterr().out
    assert "### In-sample" in out and "### Leave one network out" in out
    assert "| YOLOv8n | hailo8 | 1 | 1 | met |" in out
    assert "| YOLOv8n | hailo8 | 1 | 2 | met (off by +1) |" in out


def test_calibrate_loss_by_hand():
    row = calibrate.Row(device="hailo8", network="yolov8n", task="object_detection",
                        fps_b1=100.0, fps_b8=100.0)  # fmt: skip
    pred = calibrate.Prediction(contexts=2, fps_b1=50.0, fps_b8=200.0)
    far = calibrate.Prediction(contexts=1, fps_b1=1000.0, fps_b8=100.0)
    # squared: log(1/2)^2 + log(2)^2 + 1 (multi where the row is single)
    assert calibrate.row_loss(row, pred, "squared") == pytest.approx(2 * math.log(2) ** 2 + 1)
    assert calibrate.row_loss(row, None, "squared") == pytest.approx(2 * math.log(4) ** 2 + 1)
    assert calibrate.row_loss(row, far, "squared") == pytest.approx(math.log(4) ** 2)  # clipped
    # absolute (the default): |log(1/2)| + |log(2)| + 1
    assert calibrate.LOSS == "absolute"
    assert calibrate.row_loss(row, pred) == pytest.approx(2 * math.log(2) + 1)
    assert calibrate.row_loss(row, None) == pytest.approx(2 * math.log(4) + 1)
    assert calibrate.row_loss(row, far) == pytest.approx(math.log(4))  # clipped at log 4
    # a published context count: YOLOv8s on Hailo-8L ran in 4, a prediction of 2 adds |log(1/2)|
    row8l = calibrate.Row(device="hailo8l", network="yolov8s", task="object_detection",
                          fps_b1=100.0, fps_b8=200.0)  # fmt: skip
    two = calibrate.Prediction(contexts=2, fps_b1=100.0, fps_b8=200.0)
    assert calibrate.row_loss(row8l, two) == pytest.approx(math.log(2))


def test_calibrate_rows_are_buildable_zoo_rows_with_their_flows():
    rows = calibrate.load_rows()
    from partitioner.zoo import ZOO

    assert rows and all(r.network in ZOO and r.fps_b8 > 0 for r in rows)
    assert {(r.network, r.device) for r in rows} >= {("yolov8n", "hailo8"), ("vit_tiny", "hailo8l")}
    assert calibrate.task_family("vit_tiny", "classification") == "transformers"
    assert calibrate.task_family("yolov5n_seg", "instance_segmentation") == "segmentation"


def test_calibrate_params_round_trip_and_flow_params():
    p = calibrate.current_params().with_value("raised_control", 1.1)
    back = calibrate.params_from_dict(json.loads(json.dumps(p.as_dict(), default=list)))
    assert back == p
    fp = back.flow_params()
    assert fp.raised_caps.control == 1.1 and fp.raised_caps.apu == 1.1
    assert back.spec("hailo8l").link.lanes == calibrate.MODEL_ZOO_LINK_LANES


def test_calibrate_writes_its_section_through_write_section(tmp_path):
    path = tmp_path / "RESULTS.md"
    path.write_text("# Results\n\n## Calibration\n\nold\n\n## Speed\n\nspeed\n")
    calibrate.write_results(["## Calibration", "", "new 1", "", "### In-sample", "", "t"], path)
    assert path.read_text() == (
        "# Results\n\n## Calibration\n\nnew 1\n\n### In-sample\n\nt\n\n## Speed\n\nspeed\n"
    )
    with pytest.raises(ValueError, match="not '## Calibration'"):
        calibrate.write_results(["## Speed", "", "x"], path)


def test_explain_answer_cells():
    import benchmarks.explain as explain

    change = {
        "kind": "blocks",
        "num_contexts": 1,
        "macs_kept": 0.927,
        "fps": {"1": 80.0, "8": 80.0},
        "change": "drop the stride-32 head scale (P5 output)",
    }
    low = {**change, "macs_kept": 0.89}
    silu = {"kind": "activation", "reason": "SiLU -> ReLU changes no resource here"}
    none = {"kind": "blocks", "reason": "none found that fits one context: LCUs: 45 over"}

    def run(num_contexts, suggestions=(), unreachable=()):
        data = {"num_contexts": num_contexts, "suggestions": list(suggestions),
                "unreachable": list(unreachable)}  # fmt: skip
        return {"data": data, "code": 0}

    assert explain.answer(run(1)) == ("fits one context", True)
    text, ok = explain.answer(run(3, [low, change]))
    assert ok and text.startswith("drop the stride-32") and "MACs 92.7% of the original's" in text
    assert explain.answer(run(3, [low], [silu, none])) == ("none: " + none["reason"], True)
    assert explain.answer(run(3, [low], [silu])) == ("no change and no reason", False)
    assert explain.answer({"data": None, "code": 2}) == ("exit 2, no answer", False)
    assert "yolov8n" in explain.detectors() and "yolov5m_seg" not in explain.detectors()
