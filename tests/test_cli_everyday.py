"""Everyday use of the command line (issue 17): several parts in one run, ``ctxfit parts``,
complete comparisons, inputs of their own aspect ratio, knob values in every result, and the
small things (``--version``, ``--debug`` after the sub-command, 80 columns, ``--quiet`` caveats,
``--clusters`` saying its spread is synthetic).

The multi-part runs use ResNet-18 at width 1.25 and 64x64 saved as a layer graph: one context on
Hailo-8, and several on Hailo-8L with 32 KiB L3 cuts (``tests/data/hailo8l_32k.toml``): its
weights need more L3 cuts than one context of that part allows.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cost_model.hardware import PCIE_LANE_RAW_BYTES_PER_S, load_hardware, preset
from partitioner.cli import caveat_line, main
from partitioner.cmd_compare import input_shapes_of, precision_layers
from partitioner.errors import ModelNotFoundError, UsageError
from partitioner.models import ModelRequest, load_network
from partitioner.sweep import COST_MODEL_VERSION

PART = str(Path(__file__).parent / "data" / "hailo8l_32k.toml")
FACTORIES = "tests/data/factories.py"
SEARCH = ["--timeout", "20", "--workers", "1", "--quiet"]  # ends by itself; one worker: repeatable


@pytest.fixture(autouse=True)
def eighty_columns(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def resnet_graph(tmp_path_factory):
    path = tmp_path_factory.mktemp("graph") / "resnet18_64.json"
    load_network(ModelRequest(spec="resnet_v1_18", width=1.25, resolution=64)).save(path)
    return path


@pytest.fixture(scope="module")
def two_parts(resnet_graph, tmp_path_factory):
    """``compile --hw hailo8 PART --json``, and the two single-part runs' JSON."""
    folder = tmp_path_factory.mktemp("runs")
    paths = {name: folder / f"{name}.json" for name in ("both", "hailo8", "32k")}
    assert main(["compile", str(resnet_graph), "--hw", "hailo8", PART, "--json",
                 str(paths["both"]), *SEARCH]) == 0  # fmt: skip
    assert main(["compile", str(resnet_graph), "--json", str(paths["hailo8"]), *SEARCH]) == 0
    assert main(["compile", str(resnet_graph), "--hw", PART, "--json", str(paths["32k"]),
                 *SEARCH]) == 0  # fmt: skip
    return {name: json.loads(path.read_text()) for name, path in paths.items()}, paths


# -- several parts in one run --------------------------------------------------------------------
def test_several_parts_give_an_array_equal_to_single_part_runs(two_parts):
    data, _ = two_parts
    both = data["both"]
    assert isinstance(both, list) and [r["hardware"] for r in both] == ["hailo8", "hailo8l-32k"]
    for multi, single in zip(both, (data["hailo8"], data["32k"]), strict=True):
        assert multi["num_contexts"] == single["num_contexts"]
        assert multi["fps"] == single["fps"]
        assert multi["latency_ms"] == single["latency_ms"]
        assert [c["layers"] for c in multi["contexts"]] == [c["layers"] for c in single["contexts"]]
        assert multi["solver"]["status"] == single["solver"]["status"]
    assert both[0]["num_contexts"] == 1 and both[1]["num_contexts"] >= 2
    assert both[0]["knob_values"] == {} and input_shapes_of(both[0]) == [[1, 3, 64, 64]]


def test_several_parts_print_one_row_each_at_80_columns(resnet_graph, two_parts, capsys):
    data, _ = two_parts
    code, out, _ = run(capsys, "compile", resnet_graph, "--hw", "hailo8", PART, *SEARCH)
    assert code == 0
    assert "…" not in out and max(len(line) for line in out.splitlines()) <= 80
    rows = {line.split()[0]: line.split() for line in out.splitlines() if "Gen3" in line}
    for r in data["both"]:
        row = rows[r["hardware"]]
        link = load_hardware("hailo8" if r["hardware"] == "hailo8" else PART).link
        assert row[1:3] == [f"Gen{link.generation}", f"x{link.lanes}"]
        assert row[3] == str(r["num_contexts"])
        assert row[4:6] == [f"{r['fps'][b]:,.1f}" for b in ("1", "8")]
        assert row[6] == f"{r['latency_ms']:.2f}"
        assert row[8] == r["solver"]["status"]
    assert rows["hailo8l-32k"][7] == "Memory"  # its weights keep it from one context
    assert "context_0" not in out  # no per-context tables for several parts


def test_a_part_that_fails_is_a_row_and_exit_2(resnet_graph, capsys):
    argv = ["compile", resnet_graph, "--hw", "hailo8", PART, "--context-switch", "disabled"]
    code, out, err = run(capsys, *argv, *SEARCH, "--json", "-")
    assert code == 2
    ok, failed = json.loads(out)
    assert ok["hardware"] == "hailo8" and ok["num_contexts"] == 1
    assert failed["hardware"] == "hailo8l-32k" and failed["status"] == "failed"
    assert "Context switch is disabled" in failed["error"]
    assert err.startswith("error: on hailo8l-32k: Context switch is disabled")
    code, out, _ = run(capsys, *argv, *SEARCH)
    row = next(line.split() for line in out.splitlines() if line.startswith("hailo8l-32k"))
    assert code == 2 and row[-2:] == ["failed", "-"]
    code, out, err = run(capsys, "compile", resnet_graph, "--hw", PART, "hailo8l",
                         "--context-switch", "disabled", *SEARCH)  # fmt: skip
    assert code == 2 and out == ""  # every part failed: the first one's error, one line
    assert err.startswith("error: Context switch is disabled") and err.count("error:") == 1


def test_one_partition_flags_take_one_part(resnet_graph, tmp_path, capsys):
    script = tmp_path / "p.alls"
    code, _, err = run(capsys, "compile", resnet_graph, "--hw", "hailo8", "hailo8l",
                       "--emit-script", script)  # fmt: skip
    assert code == 2 and "--emit-script describes one partition" in err
    assert not script.exists()


def test_parts_lists_presets_and_bundled_files_with_their_link(capsys):
    code, out, _ = run(capsys, "parts", "--json", "-")
    assert code == 0
    rows = {r["name"]: r for r in json.loads(out)}
    assert rows["hailo8"]["source"] == "preset" and rows["hailo8"]["link"] == "PCIe Gen3 x4"
    pi = rows["rpi5_hailo8l"]
    assert (pi["part"], pi["chip"], pi["link"]) == ("hailo8l-rpi5", "hailo8l", "PCIe Gen3 x1")
    efficiency = load_hardware("rpi5_hailo8l").link.efficiency
    assert pi["gbytes_per_s"] == pytest.approx(PCIE_LANE_RAW_BYTES_PER_S[3] * efficiency / 1e9)
    assert rows["rpi5_hailo8l_gen2"]["link"] == "PCIe Gen2 x1"
    code, out, _ = run(capsys, "parts")
    assert code == 0 and "rpi5_hailo8l" in out and "…" not in out


# -- complete comparisons ------------------------------------------------------------------------
def test_compare_shows_solver_link_energy_precision_and_knobs(two_parts, capsys):
    data, paths = two_parts
    code, out, _ = run(capsys, "compare", paths["hailo8"], paths["32k"], "--json", "-")
    assert code == 0
    cmp = json.loads(out)
    b = data["32k"]
    assert cmp["solver"] == [
        {"status": d["solver"]["status"], "gap": d["solver"]["gap"]}
        for d in (data["hailo8"], data["32k"])
    ]
    assert cmp["bandwidth_gbps"] == [preset("hailo8").link.bytes_per_s / 1e9,
                                     load_hardware(PART).link.bytes_per_s / 1e9]  # fmt: skip
    assert cmp["energy_mj_per_frame"] == [data["hailo8"]["energy_mj_per_frame"],
                                          data["32k"]["energy_mj_per_frame"]]  # fmt: skip
    assert cmp["precision_layers"] == [precision_layers(data["hailo8"]), precision_layers(b)]
    layers = sum(precision_layers(data["hailo8"]).values())
    assert layers == sum(len(c["layers"]) for c in data["hailo8"]["contexts"])
    code, out, _ = run(capsys, "compare", paths["hailo8"], paths["32k"])
    assert code == 0
    flat = " ".join(out.split())
    a, b = data["hailo8"], data["32k"]
    assert f"{a['pcie']['bandwidth_gbps']:.2f} GB/s" in flat
    assert f"{b['energy_mj_per_frame']:.3f} mJ" in flat
    assert f"{a['solver']['status']} (gap {a['solver']['gap']:.2%})" in flat
    assert "1x3x64x64" in out and "precision" in out and "knobs" in out  # cells wrap at 80
    assert cmp["input_shapes"] == [[[1, 3, 64, 64]]] * 2
    assert cmp["compression_fraction"] == [a["flow"]["compression_fraction"]] * 2
    assert "…" not in out


# -- inputs as users have them, and the knob values ----------------------------------------------
def test_zoo_model_takes_an_input_of_its_own_aspect_ratio(capsys):
    code, out, err = run(capsys, "profile", "mobilenet_v1", "--input-shape", "1x3x96x160")
    assert code == 0, err
    # the stem is a stride-2 3x3 conv with 32 channels: 32 x 48 x 80
    assert "32x48x80" in out
    code, _, err = run(capsys, "profile", "vit_tiny", "--input-shape", "1x3x224x320")
    assert code == 2 and "takes square inputs only" in err and "1x3x224x224" in err
    code, _, err = run(capsys, "profile", "mobilenet_v1", "--input-shape", "1x3x96x150")
    assert code == 2 and "input width 150" in " ".join(err.split())


def test_compile_shows_and_writes_the_knob_values(capsys):
    argv = ["compile", "mobilenet_v1", "--width", "0.5", "--resolution", "96", *SEARCH]
    code, out, _ = run(capsys, *argv, "--json", "-")
    assert code == 0
    data = json.loads(out)
    # the effective values; mobilenet_v1 has no depth knob
    assert data["knob_values"] == {"width": 0.5, "resolution": 96}
    assert input_shapes_of(data) == [[1, 3, 96, 96]]
    code, out, _ = run(capsys, *argv)
    assert code == 0
    assert "knobs: width 0.5, resolution 96; input 1x3x96x96" in out


def test_width_is_documented_relative_to_the_published_model(capsys):
    with pytest.raises(SystemExit):
        main(["compile", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "relative to the published model" in out


# -- small things --------------------------------------------------------------------------------
def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out == f"ctxfit 0.1.0 (cost model {COST_MODEL_VERSION})\n"


def test_debug_is_accepted_after_the_sub_command(capsys):
    with pytest.raises(ModelNotFoundError):  # --debug: the traceback, not the one line
        main(["compile", "no_such_model_x", "--debug"])
    code, _, err = run(capsys, "compile", "no_such_model_x")
    assert code == 2 and err.startswith("error: unknown model")


def test_single_part_tables_are_whole_at_80_columns(capsys):
    code, out, _ = run(capsys, "compile", f"{FACTORIES}:tiny", "--input-shape", "1x3x64x64",
                       "--clusters", *SEARCH)  # fmt: skip
    assert code == 0
    assert "…" not in out
    flat = " ".join(out.split())  # the per-context column says what it is
    assert "context rate: frames per second of that context alone while it runs" in flat
    assert "knobs: input 1x3x64x64" in out  # a factory's knobs: only those passed to it
    assert "per-cluster spread is synthetic" in out


def test_quiet_keeps_the_modelling_caveats_as_one_line(tmp_path, capsys):
    from tests.onnx_fixtures import make_model, node, save, weight

    nodes = [node("GridSample", ["x", "grid"], ["g0"]), node("Relu", ["g0"], ["y"])]
    model = make_model(nodes, {"x": [1, 3, 8, 8]}, ["y"], [weight("grid", 1, 8, 8, 2)])
    path = save(model, tmp_path)
    code, out, err = run(capsys, "compile", path, "--allow-unknown", *SEARCH)
    assert code == 0, err
    lines = [line for line in out.splitlines() if line.startswith("caveats:")]
    assert lines == [
        "caveats: priced 1 GridSample node (first 'g0') as generic elementwise layers because "
        "of --allow-unknown (details without --quiet)"
    ]
    assert "[info]" not in out and err == ""


def test_caveat_line_keeps_the_head_of_each_message():
    line = caveat_line(["cut the graph at 3 head outputs: the last 40 nodes", "opset 9; rough"])
    assert line == "caveats: cut the graph at 3 head outputs; opset 9 (details without --quiet)"


# -- sweep over parts alone ----------------------------------------------------------------------
def test_sweep_takes_a_saved_graph_and_sweeps_the_parts_alone(resnet_graph, two_parts, tmp_path,
                                                              capsys):  # fmt: skip
    data, _ = two_parts
    out_dir = tmp_path / "sw"
    argv = ["sweep", resnet_graph, "--hw", "hailo8", PART, "--out", out_dir, "--jobs", "1"]
    code, out, err = run(capsys, *argv, "--timeout", "20")
    assert code == 0, err
    doc = json.loads((out_dir / "sweep.json").read_text())
    by_part = {p["hardware"]: p for p in doc["points"]}
    assert by_part["hailo8l-32k"]["num_contexts"] == data["32k"]["num_contexts"]
    assert by_part["hailo8l-32k"]["solver_status"] == data["32k"]["solver"]["status"]
    assert by_part["hailo8l-32k"]["input_shapes"] == [[1, 3, 64, 64]]
    assert by_part["hailo8"]["gap"] == 0.0 and by_part["hailo8"]["num_contexts"] == 1
    header = (out_dir / "sweep.csv").read_text().splitlines()[0]
    assert header.endswith("binding,one_context_share,one_context_limit,solver_status,gap,error")
    # the title wraps at the table's width (a long file path): read it with the lines joined
    assert "results (input 1x3x64x64)" in " ".join(out.split()) and "…" not in out
    table = [line.split() for line in out.splitlines() if line.startswith("hailo8")]
    assert [row[0] for row in table] == ["hailo8", "hailo8l-32k"]
    assert table[1][1] == str(data["32k"]["num_contexts"])


def test_sweep_rejects_a_knob_on_a_file(resnet_graph, tmp_path):
    from partitioner.sweep import plan_sweep

    with pytest.raises(UsageError, match="sweep its parts alone"):
        plan_sweep(str(resnet_graph), hardware=[preset("hailo8")], widths=(0.5,))
    with pytest.raises(ModelNotFoundError):
        plan_sweep(str(tmp_path / "missing.onnx"), hardware=[preset("hailo8")])


def test_zoo_listing_is_whole_at_80_columns(capsys):
    code, out, _ = run(capsys, "zoo")
    assert code == 0 and "…" not in out
    assert max(len(line) for line in out.splitlines()) <= 80
    row = next(line.split() for line in out.splitlines() if line.startswith("yolov8n "))
    # the Model Zoo v2.18 row: 3.2M params, 8.74 GOPs = 4.37 GMACs
    assert row == ["yolov8n", "object_detection", "3x640x640", "3.20M", "4.37", "w", "d", "r"]


def test_square_only_modules_are_the_builders_without_input_hw():
    import importlib
    import inspect

    from partitioner.zoo import _RECIPES, SQUARE_ONLY_MODULES

    square = set()
    for module_name, function_name, _ in _RECIPES.values():
        module = importlib.import_module(f"partitioner.zoo.{module_name}")
        declared = inspect.signature(getattr(module, function_name)).parameters
        if "resolution" in declared and "input_hw" not in declared:
            square.add(module_name)
    assert square == set(SQUARE_ONLY_MODULES)


def test_non_square_zoo_inputs_are_cached_apart():
    square = load_network(ModelRequest(spec="mobilenet_v1", input_shape=(1, 3, 96, 96)))
    wide = load_network(ModelRequest(spec="mobilenet_v1", input_shape=(1, 3, 96, 160)))
    again = load_network(ModelRequest(spec="mobilenet_v1", input_shape=(1, 3, 96, 160)))
    assert square.layers[0].output_shape == (32, 48, 48)
    assert wide.layers[0].output_shape == again.layers[0].output_shape == (32, 48, 80)


def test_a_parts_alone_sweep_draws_one_bar_per_part():
    from partitioner.cmd_sweep import fit_map
    from partitioner.sweep import SweepRun, plan_sweep

    plan = plan_sweep("yolov8n", hardware=[preset("hailo8"), preset("hailo8l")], batches=(1, 8))
    records = tuple(
        {"hardware": name, "status": "ok", "num_contexts": k, "fps": {"1": f1, "8": f8}}
        for name, k, f1, f8 in (("hailo8", 1, 877.2, 877.2), ("hailo8l", 3, 154.0, 288.9))
    )
    run = SweepRun(records=records, total=2, cached=0, computed=2, failed=0)
    figure = fit_map(plan, run)
    panels = figure.axes
    assert [ax.get_title() for ax in panels] == ["batch 1: FPS per part", "batch 8: FPS per part"]
    assert [round(bar.get_height(), 1) for bar in panels[1].patches] == [877.2, 288.9]
    assert [t.get_text() for t in panels[1].texts] == ["1 ctx", "3 ctx"]


def test_profile_with_a_part_is_whole_at_80_columns(capsys):
    code, out, _ = run(capsys, "profile", "yolov8n", "--hw", "hailo8")
    assert code == 0 and "…" not in out
    assert max(len(line) for line in out.splitlines()) <= 80
    total = next(line.split() for line in out.splitlines() if line.split()[:1] == ["total"])
    # the Model Zoo v2.18 row: 3.2M params, 8.74 GOPs = 4.37 GMACs
    assert total[1:3] == ["3.16M", "4.37G"]
    # the per-layer SCs, LCUs and L3 cuts add up to compile's single context (same flow)
    code, out, _ = run(capsys, "compile", "yolov8n", "--hw", "hailo8", "--json", "-", "--quiet")
    context = json.loads(out)["contexts"][0]
    assert [int(v) for v in total[-3:]] == [
        context["subclusters"],
        context["lcus"],
        context["l3_cuts"],
    ]


def test_sweep_imports_an_onnx_file_with_the_compile_flags(tmp_path, capsys):
    from tests.onnx_fixtures import make_model, node, save, weight

    # conv -> relu -> GridSample: without --allow-unknown the GridSample cannot be priced
    nodes = [
        node("Conv", ["x", "w"], ["c0"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        node("Relu", ["c0"], ["r0"]),
        node("GridSample", ["r0", "grid"], ["y"]),
    ]
    model = make_model(
        nodes, {"x": [1, 3, 8, 8]}, ["y"], [weight("w", 4, 3, 3, 3), weight("grid", 1, 8, 8, 2)]
    )
    path = save(model, tmp_path)
    base = ["sweep", path, "--hw", "hailo8", "--jobs", "1", "--timeout", "5"]
    code, out, err = run(capsys, *base, "--out", tmp_path / "plain")
    failed = json.loads((tmp_path / "plain" / "sweep.json").read_text())["points"][0]
    assert failed["status"] == "failed" and "GridSample" in failed["error"]
    assert code == 2  # no point has an answer: exit 2, as compile
    assert "constrained_layout" not in err  # the empty map's matplotlib note is not shown

    for flags, name in ((["--end-nodes", "r0"], "cut"), (["--allow-unknown"], "all")):
        code, out, err = run(capsys, *base, "--out", tmp_path / name, *flags)
        assert code == 0, err
        point = json.loads((tmp_path / name / "sweep.json").read_text())["points"][0]
        # the same answer as `ctxfit compile` with the same flags, at the sweep's defaults
        argv = ["compile", path, *flags, "--compiler-defaults", "--workers", "1", "--timeout", "5"]
        code, out, err = run(capsys, *argv, "--json", "-", "--quiet")
        compiled = json.loads(out)
        assert point["status"] == "ok" and point["num_contexts"] == compiled["num_contexts"] == 1
        assert point["fps"]["8"] == pytest.approx(compiled["fps"]["8"], rel=1e-9)


def test_sweep_refuses_onnx_flags_for_other_models(tmp_path, capsys):
    code, _, err = run(capsys, "sweep", "yolov8n", "--end-nodes", "x", "--out", tmp_path / "s")
    assert code == 2 and "--end-nodes apply to .onnx models only" in err
