"""The command line: listings, profiles, compile output and JSON, and one clear line for every
bad input (exit 2, no traceback)."""

from __future__ import annotations

import json

import pytest

from partitioner.cli import main

FACTORIES = "tests/data/factories.py"


@pytest.fixture(autouse=True)
def fixed_width(monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_user_error(code, err, *fragments):
    assert code == 2
    assert "Traceback" not in err
    assert err.startswith("error: ")
    assert err.count("\n") <= 2  # one message (rich may wrap it once at 100 columns)
    for fragment in fragments:
        assert fragment in " ".join(err.split()), err


def test_zoo_lists_every_model(capsys):
    code, out, _ = run(capsys, "zoo", "--json", "-")
    assert code == 0
    entries = {entry["name"]: entry for entry in json.loads(out)}
    assert {"yolov8n", "resnet_v1_50", "vit_base", "yolov11x", "mobilenet_v2_1.4"} <= set(entries)
    from partitioner.zoo import ZOO

    assert len(entries) == len(ZOO) >= 55  # 25 + the catalogs' (issue 14: at least 30 more)
    assert entries["yolov8n"]["source_family"] == "ultralytics"
    assert entries["yolov11n"]["source_family"] == "ultralytics"
    assert entries["espcn_x2"]["input_chw"] == [1, 156, 240]
    assert entries["retinaface_mobilenet_v1"]["task"] == "face_detection"


def test_profile_factory_and_json_round_trip(capsys, tmp_path):
    path = tmp_path / "tiny.json"
    code, _, _ = run(
        capsys, "profile", f"{FACTORIES}:tiny", "--input-shape", "1x3x32x32", "--json", str(path)
    )
    assert code == 0
    data = json.loads(path.read_text())
    # conv + bn + relu fuse into one layer: 16*3*9 + 16 (bias) + 2*16 (bn) params
    assert [layer["name"] for layer in data["layers"]] == ["conv"]
    assert data["layers"][0]["params"] == 16 * 27 + 16 + 32
    code, out, _ = run(capsys, "profile", str(path))
    assert code == 0
    assert "conv+relu" in out and "tiny: 1 layers" in out


def test_profile_with_width_knob(capsys):
    code, out, _ = run(
        capsys, "profile", f"{FACTORIES}:tiny", "--input-shape", "1x3x32x32", "--width", "0.5"
    )
    assert code == 0
    assert "8x32x32" in out  # 16 * 0.5 output channels


@pytest.mark.parametrize(
    ("argv", "fragments"),
    [
        (["profile", "yolov8q"], ["unknown model 'yolov8q'", "did you mean 'yolov8n'"]),
        (["profile", "yolov8n", "--input-shape", "1x3xfoo"], ["input shape '1x3xfoo'", "NxCxHxW"]),
        (["profile", "missing.json"], ["'missing.json' does not exist"]),
        (["profile", "missing.onnx"], ["'missing.onnx' does not exist"]),
        (
            ["profile", f"{FACTORIES}:uses_fft", "--input-shape", "1x3x8x8"],
            ["fft", "factories.py"],
        ),
        (
            ["profile", f"{FACTORIES}:raises", "--input-shape", "1x3x8x8"],
            ["raised RuntimeError: weights not found"],
        ),
        (["profile", f"{FACTORIES}:not_a_module", "--input-shape", "1x3x8x8"], ["nn.Module"]),
        (["profile", f"{FACTORIES}:nope", "--input-shape", "1x3x8x8"], ["nope"]),
        (["profile", f"{FACTORIES}:tiny"], ["--input-shape"]),
        (["profile", "resnet_v1_18", "--hw", "hailo9"], ["hailo9"]),
        (["compile", "resnet_v1_18", "--script", "missing.alls"], ["missing.alls"]),
    ],
)
def test_bad_inputs_are_one_line(capsys, argv, fragments):
    code, _, err = run(capsys, *argv)
    assert_user_error(code, err, *fragments)


def test_bad_json_graph(capsys, tmp_path):
    path = tmp_path / "bad.json"
    path.write_text("{not json")
    code, _, err = run(capsys, "profile", str(path))
    assert_user_error(code, err, "not valid JSON")


def test_bad_script_line(capsys, tmp_path):
    script = tmp_path / "bad.alls"
    script.write_text("resources_param(max_control_utilization=1.7x)\n")
    code, _, err = run(capsys, "compile", "resnet_v1_18", "--script", str(script))
    assert_user_error(code, err, "bad.alls:1")


def test_impossible_cap(capsys):
    code, _, err = run(capsys, "compile", "resnet_v1_18", "--max-utilization", "0.05")
    assert_user_error(code, err)


def test_compile_json_contract_and_emitted_script(capsys, tmp_path):
    script = tmp_path / "part.alls"
    code, out, err = run(
        capsys,
        "compile",
        f"{FACTORIES}:tiny",
        "--input-shape",
        "1x3x64x64",
        "--json",
        "-",
        "--emit-script",
        str(script),
    )
    assert code == 0, err
    data = json.loads(out)
    for key in (
        "schema",
        "model",
        "hardware",
        "num_contexts",
        "single_context",
        "fps",
        "latency_ms",
        "contexts",
        "pcie",
        "energy_mj_per_frame",
        "solver",
    ):
        assert key in data
    assert data["schema"] == 1 and data["hardware"] == "hailo8"
    assert set(data["fps"]) == {"1", "8"}
    assert data["single_context"] is True and data["num_contexts"] == 1
    context = data["contexts"][0]
    for key in (
        "index",
        "layers",
        "lcus",
        "subclusters",
        "l3_cuts",
        "utilization",
        "fps",
        "switch_ms",
        "weight_bytes",
        "boundary_in_bytes",
        "boundary_out_bytes",
    ):
        assert key in context
    assert set(context["utilization"]) == {"control", "compute", "memory"}
    assert set(data["pcie"]) == {
        "bandwidth_gbps",
        "link",
        "compiler_link",
        "reload_bytes_per_batch",
        "inter_context_bytes_per_frame",
    }
    for key in ("status", "objective", "bound", "gap", "wall_seconds", "iterations"):
        assert key in data["solver"]
    assert "context_0 = context([conv])" in script.read_text()


def test_output_never_overwrites_the_input(capsys, tmp_path):
    path = tmp_path / "net.json"
    run(capsys, "profile", f"{FACTORIES}:tiny", "--input-shape", "1x3x32x32", "--json", str(path))
    before = path.read_text()
    code, _, err = run(capsys, "profile", str(path), "--json", str(path))
    assert_user_error(code, err, "is the input file")
    assert path.read_text() == before


def test_compile_tables_use_the_compiler_vocabulary(capsys):
    code, out, _ = run(
        capsys, "compile", f"{FACTORIES}:tiny", "--input-shape", "1x3x64x64", "--quiet"
    )
    assert code == 0
    assert "[info]" not in out
    for word in ("Control", "Compute", "Memory", "LCUs", "context_0", "FPS at batch 8"):
        assert word in out


def test_profile_prices_layers_on_the_hardware(capsys):
    code, out, _ = run(
        capsys,
        "profile",
        f"{FACTORIES}:tiny",
        "--input-shape",
        "1x3x64x64",
        "--hw",
        "hailo8l",
    )
    assert code == 0
    for column in ("SCs", "LCUs", "L3 cuts"):
        assert column in out
    assert "Single context: fits on hailo8l at" in " ".join(out.split())


def test_profile_verdict_when_one_context_is_not_enough(capsys, tmp_path):
    from tests.nets import conv_chain

    path = tmp_path / "chain170.json"
    # 170 layers, one LCU each; a file compiles at the compiler's defaults, whose single context
    # is decided at the raised control cap: ceil(1.1 x 128) = ceil(140.8) = 141 LCUs
    conv_chain(170).save(path)
    code, out, _ = run(capsys, "profile", str(path), "--hw", "hailo8")
    assert code == 0
    text = " ".join(out.split())
    assert "Single context: does not fit on hailo8" in text
    assert "LCUs: 170/141" in text
    assert "lowest demand LCUs 170/141 (121% of the limit)" in text  # 170 / 141 = 1.206
