"""``ctxfit sweep``: grids, cache keys, the resumable cache, the process pool and the outputs.

The grid used end to end is ResNet-18 on Hailo-8L with 32 KiB L3 cuts (``tests/data/
hailo8l_32k.toml``) at width {1.0, 1.25} x resolution {64, 96}, compiled as ``ctxfit compile
--compiler-defaults``: at width 1.25 its weights (1.56 x those at width 1) need more L3 cuts than
one context allows, at width 1 they fit, so the one-context boundary runs between the two rows.
"""

from __future__ import annotations

import dataclasses
import json
import pickle
import shutil
import socket
from pathlib import Path

import pytest

from cost_model.caps import cap_limit
from cost_model.hardware import load_hardware, preset
from partitioner.cli import main
from partitioner.cmd_sweep import boundary_segments, grid_values
from partitioner.compile import compile_network
from partitioner.compile_request import prepare_compile
from partitioner.errors import UsageError
from partitioner.models import ModelRequest, load_network
from partitioner.sweep import (
    CACHE_DIR,
    COST_MODEL_VERSION,
    RESULT_FIELDS,
    Point,
    SweepCache,
    cache_key,
    check_out_dir,
    csv_text,
    dask_address,
    default_out_dir,
    iter_processes,
    parse_range,
    plan_sweep,
    run_sweep,
    source_digest,
)

TIMEOUT_S = 20.0  # generous: every point's search ends by itself well before (deterministic)


PART = Path(__file__).parent / "data" / "hailo8l_32k.toml"
PART_NAME = "hailo8l-32k"


def resnet_plan(widths=(1.0, 1.25), resolutions=(64, 96)):
    return plan_sweep(
        "resnet_v1_18",
        hardware=[load_hardware(str(PART))],
        widths=widths,
        resolutions=resolutions,
        timeout_s=TIMEOUT_S,
    )


def results(run):
    return [
        {k: r[k] for k in ("hardware", "width", "resolution", *RESULT_FIELDS)} for r in run.records
    ]


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    """The 2x2 grid computed inline, and its cache folder."""
    root = tmp_path_factory.mktemp("sweep") / CACHE_DIR
    plan = resnet_plan()
    return plan, run_sweep(plan, SweepCache(root), jobs=1), root


# -- grids and keys ------------------------------------------------------------------------------
def test_parse_range_includes_stop_and_rejects_bad_syntax():
    assert parse_range("0.25:1.0:0.125", flag="--width") == tuple(k / 8 for k in range(2, 9))
    assert parse_range("320:640:32", flag="--res", integer=True) == tuple(range(320, 641, 32))
    assert parse_range("0.1:0.3:0.1", flag="--width") == (0.1, 0.2, 0.3)  # no 0.30000000000000004
    for bad in ("0.25:1.0", "a:b:c", "1:0.5:0.1", "0.5:1:0", "", "0.5:1:0.1:2"):
        with pytest.raises(UsageError, match="--width"):
            parse_range(bad, flag="--width")
    with pytest.raises(UsageError, match="whole numbers"):
        parse_range("320:400:12.5", flag="--res", integer=True)


def test_cost_model_version_is_a_hash_of_the_sources(tmp_path):
    import cost_model

    assert COST_MODEL_VERSION == source_digest(Path(cost_model.__file__).parent)
    (tmp_path / "a.py").write_text("X = 1\n")
    (tmp_path / "__pycache__").mkdir()
    before = source_digest(tmp_path)
    (tmp_path / "__pycache__" / "a.cpython.pyc").write_bytes(b"\0")  # not a source
    assert source_digest(tmp_path) == before
    (tmp_path / "a.py").write_text("X = 2\n")  # a changed rule changes every key
    assert source_digest(tmp_path) != before


def test_cache_key_covers_model_knobs_hardware_and_cost_model(monkeypatch):
    plan = resnet_plan()
    h8l, h8 = preset("hailo8l"), preset("hailo8")
    point = Point(width=0.75, resolution=64)
    key = cache_key(plan.key_data(point, h8l))
    assert key == cache_key(plan.key_data(Point(width=0.75, resolution=64), h8l))
    others = [
        plan.key_data(Point(width=1.0, resolution=64), h8l),
        plan.key_data(Point(width=0.75, resolution=96), h8l),
        plan.key_data(point, h8),
        plan.key_data(point, h8l.with_params(context_switch_overhead_s=1e-3)),
        plan.key_data(point, h8l) | {"model": "zoo:resnet_v1_34"},
    ]
    assert len({key, *(cache_key(d) for d in others)}) == 6
    monkeypatch.setattr("partitioner.sweep.COST_MODEL_VERSION", "0" * 12)
    assert cache_key(plan.key_data(point, h8l)) != key


def test_plan_rejects_what_the_model_lacks(tmp_path):
    h8 = [preset("hailo8")]
    with pytest.raises(UsageError, match="'mobilenet_v1' has no depth knob"):
        plan_sweep("mobilenet_v1", hardware=h8, depths=(0.5, 1.0))
    with pytest.raises(UsageError, match="multiples of 16"):
        plan_sweep("vit_tiny", hardware=h8, resolutions=(200,))
    with pytest.raises(UsageError, match="at most two"):
        plan_sweep("yolov8n", hardware=h8, widths=(1.0,), depths=(1.0,), resolutions=(320,))
    parts_alone = plan_sweep("yolov8n", hardware=h8)  # no knob: the parts alone, one point
    assert parts_alone.swept == () and parts_alone.points() == [Point()]
    with pytest.raises(UsageError, match="no width, depth or resolution knob"):
        plan_sweep(str(tmp_path / "m.onnx"), hardware=h8, widths=(0.5,))
    factory = tmp_path / "f.py"
    factory.write_text("def build(width=1.0):\n    return None\n")
    with pytest.raises(UsageError, match="no 'resolution' keyword"):
        plan_sweep(f"{factory}:build", hardware=h8, resolutions=(64,))
    plan = plan_sweep(f"{factory}:build", hardware=h8 * 2, widths=(0.5, 0.5, 1.0))
    assert plan.axes["width"] == (0.5, 1.0) and len(plan.hardware) == 1  # repeats dropped


def test_small_helpers():
    assert dask_address("dask://localhost:8786") == "tcp://localhost:8786"
    with pytest.raises(UsageError, match="dask://HOST:PORT"):
        dask_address("dask://localhost:99999")
    assert default_out_dir("yolov8n") == Path("sweep-yolov8n")
    # one-context cells (1) against multi-context cells: one vertical and one horizontal edge
    assert boundary_segments([[1, 2], [1, 1]]) == [((1, 0), (1, 1)), ((1, 1), (2, 1))]
    assert boundary_segments([[3, None], [1, 1]]) == [((0, 1), (1, 1))]  # missing cells: none


# -- running -------------------------------------------------------------------------------------
def test_local_run_has_the_boundary_between_the_widths(local):
    plan, run, _ = local
    assert (run.total, run.computed, run.cached, run.failed) == (4, 4, 0, 0)
    by_width = {}
    for r in run.records:
        assert r["status"] == "ok" and r["cost_model_version"] == COST_MODEL_VERSION
        by_width.setdefault(r["width"], []).append(r)
    for r in by_width[1.0]:  # one context: the same FPS at every batch (HAILO.md section 3)
        assert r["single_context"] and r["num_contexts"] == 1
        assert r["fps"]["1"] == r["fps"]["8"]
    for r in by_width[1.25]:  # several contexts: faster at batch 8 (the switch cost is shared)
        assert not r["single_context"] and r["num_contexts"] >= 2
        assert r["fps"]["8"] > r["fps"]["1"]
        assert r["binding"] == "l3_cuts"  # what keeps it from one context
    fps, contexts = grid_values(plan, run, PART_NAME, 8)
    assert [[k == 1 for k in row] for row in contexts] == [[True, True], [False, False]]
    assert boundary_segments(contexts) == [((0, 1), (1, 1)), ((1, 1), (2, 1))]


def test_a_record_is_the_partitioners_answer(local):
    _, run, _ = local
    record = next(r for r in run.records if r["width"] == 1.25 and r["resolution"] == 64)
    net = load_network(ModelRequest(spec="resnet_v1_18", width=1.25, resolution=64))
    hw = load_hardware(str(PART))
    prepared = prepare_compile(net, hw, None, timeout_s=TIMEOUT_S, workers=1)
    options, flow = prepared.settings.options, prepared.settings.flow
    report = compile_network(prepared.net, hw, options, batches=(1, 8), flow=flow)
    assert record["num_contexts"] == report.num_contexts
    assert record["fps"] == {"1": report.fps[1], "8": report.fps[8]}
    assert (record["solver_status"], record["gap"]) == (report.search.status, report.search.gap)
    assert record["knobs"] == {"width": 1.25, "depth": 1, "resolution": 64}
    assert record["input_shapes"] == [[1, 3, 64, 64]]
    (over,) = report.search.single_fit.over
    limit = cap_limit(options.single_caps.memory, hw.l3_cuts_total)
    assert over[0] == "l3_cuts" and over[2] == limit
    # how close the verdict was: the same L3 cuts over the same limit, as a share
    margin = record["one_context"]
    assert (margin["resource"], margin["used"], margin["limit"]) == over
    assert margin["share"] == pytest.approx(over[1] / over[2]) and margin["share"] > 1


def test_rerun_reads_everything_from_the_cache(local):
    plan, run, root = local
    again = run_sweep(plan, SweepCache(root), jobs=1)
    assert (again.computed, again.cached) == (0, 4)
    assert results(again) == results(run)


def test_an_interrupted_sweep_keeps_what_finished(local, tmp_path):
    plan, run, root = local
    shutil.copytree(root, tmp_path / "cache")
    cache = SweepCache(tmp_path / "cache")
    keys = [cache_key(plan.key_data(p, plan.hardware[0])) for p in plan.points()]
    for key in keys[1:3]:  # forget two points
        cache.path(key).unlink()
    assert len(cache) == 2

    def stop_after_one(progress):
        if progress.done == 3:  # 2 cached + 1 computed
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(plan, cache, jobs=1, on_progress=stop_after_one)
    assert len(cache) == 3  # the point finished before Ctrl-C is stored
    resumed = run_sweep(plan, cache, jobs=1)
    assert (resumed.computed, resumed.cached) == (1, 3)
    assert results(resumed) == results(run)


def test_a_search_that_ctrl_c_cut_short_is_not_cached_as_the_points_answer(
    local, tmp_path, monkeypatch
):
    """Inline, the search takes the Ctrl-C (its best so far, ``interrupted``): the sweep stops
    there and caches nothing of that point (it had gone on, storing the cut-short answer)."""
    import partitioner.compile

    plan, _, root = local
    real = partitioner.compile.compile_network

    def cut_short(*args, **kwargs):
        report = real(*args, **kwargs)
        search = dataclasses.replace(report.search, interrupted=True)
        return dataclasses.replace(report, search=search)

    monkeypatch.setattr(partitioner.compile, "compile_network", cut_short)
    cache = SweepCache(tmp_path / "cache")
    with pytest.raises(KeyboardInterrupt):
        run_sweep(plan, cache, jobs=1)
    assert len(cache) == 0


def test_tasks_are_picklable_and_a_process_pool_gives_the_same_record(local):
    plan, run, _ = local
    task = plan.task(plan.points()[2], plan.hardware)  # width 1.25, resolution 64: 2+ contexts
    assert pickle.loads(pickle.dumps(task)) == task
    ((done, (record,)),) = list(iter_processes([task], jobs=1))  # a fresh spawned process
    assert done == task
    expected = run.records[2]
    assert (expected["width"], expected["resolution"]) == (1.25, 64)
    assert {k: record[k] for k in RESULT_FIELDS} == {k: expected[k] for k in RESULT_FIELDS}


# -- the command ---------------------------------------------------------------------------------
def test_cli_writes_its_files_and_leaves_others_alone(local, tmp_path, capsys):
    plan, run, root = local
    out = tmp_path / "out"
    shutil.copytree(root, out / CACHE_DIR)  # finished points: the command only reads them
    (out / "notes.txt").write_text("mine")
    args = ["sweep", "resnet_v1_18", "--width", "1.0:1.25:0.25", "--res", "64:96:32"]
    args += ["--hw", str(PART), "--out", str(out), "--jobs", "1", "--timeout", str(TIMEOUT_S)]
    assert main(args) == 0
    assert "0 computed, 4 from the cache, 0 failed" in capsys.readouterr().out
    assert (out / "notes.txt").read_text() == "mine"
    assert (out / "sweep.csv").read_text() == csv_text(plan, run)
    rows = (out / "sweep.csv").read_text().splitlines()
    assert rows[0] == (
        "model,hardware,width,depth,resolution,status,contexts,single_context,fps_b1,fps_b8,"
        "binding,one_context_share,one_context_limit,solver_status,gap,error"
    )
    # the depth not swept holds ResNet-18's published value (1.0)
    assert len(rows) == 5 and rows[1].startswith("resnet_v1_18,hailo8l-32k,1.0,1,64,ok,1,true,")
    assert rows[1].endswith(",OPTIMAL,0.0,")  # one context: proven at once, no gap
    data = json.loads((out / "sweep.json").read_text())
    assert data["kind"] == "ctxfit.sweep" and data["complete"] is True
    assert data["axes"] == {"width": [1.0, 1.25], "resolution": [64, 96]}
    assert [p["num_contexts"] == 1 for p in data["points"]] == [True, True, False, False]
    assert (out / "fitmap.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in (out / "fitmap.svg").read_bytes()[:400]
    check_out_dir(out)  # a second run into its own folder is fine


def test_out_dir_rules(tmp_path):
    check_out_dir(tmp_path / "new")
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError, match="is a file"):
        check_out_dir(tmp_path / "file")
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "sweep.csv").write_text("a,b\n")
    with pytest.raises(UsageError, match="not written by ctxfit sweep"):
        check_out_dir(theirs)
    (theirs / "sweep.json").write_text('{"kind": "something else"}')
    with pytest.raises(UsageError, match="sweep.json' exists and was not written"):
        check_out_dir(theirs)


def _closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_cli_errors_exit_2(tmp_path, capsys):
    base = ["sweep", "resnet_v1_18", "--out", str(tmp_path / "o")]
    assert main([*base, "--width", "0.25:1.0"]) == 2
    assert main(["sweep", "mobilenet_v1", "--depth", "0.5:1:0.5"]) == 2
    port = _closed_port()
    assert main([*base, "--width", "0.5", "--executor", f"dask://127.0.0.1:{port}"]) == 2
    assert main([*base, "--width", "0.5", "--executor", "spark://x"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 4
    assert "--width '0.25:1.0' is not START:STOP:STEP" in err[0]
    assert "has no depth knob" in err[1]
    assert f"cannot reach the Dask scheduler at dask://127.0.0.1:{port}" in err[2]
    assert "is not dask://HOST:PORT" in err[3]
    assert not (tmp_path / "o").exists()  # nothing was written


def test_the_results_table_never_rounds_a_fitting_share_onto_the_limit(local):
    """A point that fits at 99.68% of its one-context limit reads 99.7%, not the 100% that
    means at the limit (the table says: under 100% fits)."""
    from rich.console import Console

    from partitioner.cmd_sweep import results_table

    plan, run, _ = local
    first = {**run.records[0], "one_context": {**run.records[0]["one_context"], "share": 0.9968}}
    edited = dataclasses.replace(run, records=(first, *run.records[1:]))
    console = Console(width=200, record=True)
    console.print(results_table(plan, edited))
    assert "99.7%" in console.export_text()


def test_a_failed_point_keeps_the_knobs_it_did_not_sweep(monkeypatch):
    """A point whose compile fails still records the effective value of the knobs not swept
    (the README's promise; its depth was empty while the points that compiled had 1)."""
    import partitioner.compile
    from partitioner.errors import InfeasiblePartitionError
    from partitioner.sweep import knob_value, run_task

    def fails(*args, **kwargs):
        raise InfeasiblePartitionError("no partition")

    monkeypatch.setattr(partitioner.compile, "compile_network", fails)
    plan = resnet_plan(widths=(1.0,), resolutions=(64,))
    (record,) = run_task(plan.task(plan.points()[0], plan.hardware))
    assert record["status"] == "failed" and record["depth"] is None
    assert knob_value(record, "depth") == 1.0 and knob_value(record, "resolution") == 64
