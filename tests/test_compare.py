"""``ctxfit compare``: runs of moved layers, headline changes, bad inputs, and two real compile
results through the CLI."""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console

from partitioner.cli import main
from partitioner.cmd_compare import (
    binding_summary,
    compare_dict,
    contexts_table,
    layer_moves,
    load_result,
    summary_table,
    unmatched_layers,
)
from partitioner.errors import UsageError
from tests.nets import conv_chain


def render(table) -> str:
    console = Console(file=io.StringIO(), width=100, color_system=None)
    console.print(table)
    return console.file.getvalue()


def result(contexts, *, fps=None, model="net", hardware="hailo8", bindings=None):
    """A minimal schema-1 compile result with ``contexts`` as lists of layer names."""
    bindings = bindings or ["lcus"] * len(contexts)
    return {
        "schema": 1,
        "model": model,
        "hardware": hardware,
        "num_contexts": len(contexts),
        "single_context": len(contexts) == 1,
        "fps": fps or {"1": 100.0, "8": 200.0},
        "latency_ms": 10.0,
        "contexts": [
            {
                "index": i,
                "layers": list(layers),
                "utilization": {"control": 0.5, "compute": 0.25, "memory": 0.125},
                "fps": 1000.0,
                "binding": binding,
            }
            for i, (layers, binding) in enumerate(zip(contexts, bindings, strict=True))
        ],
    }


NAMES = [f"l{i}" for i in range(10)]


def cells(line: str) -> list[str]:
    """The stripped cells of one rendered table row."""
    return [c.strip() for c in line.split("│")[1:-1]]


def rows_by_label(text: str) -> dict[str, list[str]]:
    return {cells(line)[0]: cells(line) for line in text.splitlines() if line.startswith("│")}


def test_runs_of_moved_layers():
    a = result([NAMES[:4], NAMES[4:7], NAMES[7:]])
    b = result([NAMES[:2], NAMES[2:8], NAMES[8:]])
    moves = layer_moves(a, b)
    # l2, l3: context 0 -> 1; l4..l6 stay in 1; l7: 2 -> 1; l8, l9 stay in 2
    assert [(m.from_context, m.to_context, m.layers) for m in moves] == [
        (0, 1, ("l2", "l3")),
        (2, 1, ("l7",)),
    ]
    assert [m.describe() for m in moves] == ["l2, l3", "l7"]


def test_a_long_run_is_described_by_its_ends():
    a = result([NAMES])
    b = result([NAMES[:1], NAMES[1:]])
    (move,) = layer_moves(a, b)
    assert move.describe() == "l1 .. l9 (9 layers)"


def test_identical_partitions_move_nothing():
    a = result([NAMES[:5], NAMES[5:]])
    assert layer_moves(a, a) == ()
    assert unmatched_layers(a, a) == ((), ())


def test_layers_in_only_one_result():
    a = result([NAMES[:6]])
    b = result([NAMES[2:8]])
    assert unmatched_layers(a, b) == (("l0", "l1"), ("l6", "l7"))
    assert layer_moves(a, b) == ()


def test_binding_summary_counts_contexts():
    three = result([["a"], ["b"], ["c"]], bindings=["pcie", "subclusters", "subclusters"])
    assert binding_summary(three) == "Compute (SCs) x2, PCIe x1"
    assert binding_summary(result([["a"]], bindings=["l3_cuts"])) == "Memory (L3 cuts)"


def test_summary_table_shows_the_change_from_a_to_b():
    a = result([NAMES], fps={"1": 400.0, "8": 400.0})
    b = result([NAMES[:5], NAMES[5:]], fps={"1": 100.0, "8": 500.0})
    text = render(summary_table(a, b, label_a="a.json", label_b="b.json"))
    rows = rows_by_label(text)
    assert rows["contexts"] == ["contexts", "1", "2", "+1"]
    # 100 / 400 - 1 = -75.0%; 500 / 400 - 1 = +25.0%
    assert rows["FPS at batch 1"] == ["FPS at batch 1", "400.0 FPS", "100.0 FPS", "-75.0%"]
    assert rows["FPS at batch 8"] == ["FPS at batch 8", "400.0 FPS", "500.0 FPS", "+25.0%"]
    assert rows["binding"] == ["binding", "Control (LCUs)", "Control (LCUs) x2", ""]
    assert "differs" not in text


def test_contexts_table_pairs_each_context_of_a_and_b():
    a = result([NAMES[:4], NAMES[4:]], bindings=["pcie", "subclusters"])
    b = result([NAMES])
    text = render(contexts_table(a, b, label_a="a.json", label_b="b.json"))
    rows = [cells(line) for line in text.splitlines() if line.startswith("│")]
    assert rows == [
        ["context_0", "a.json", "4", "50.0%", "25.0%", "12.5%", "1,000.0", "PCIe"],
        ["", "b.json", "10", "50.0%", "25.0%", "12.5%", "1,000.0", "Control (LCUs)"],
        ["context_1", "a.json", "6", "50.0%", "25.0%", "12.5%", "1,000.0", "Compute (SCs)"],
        ["", "b.json", "-", "-", "-", "-", "-", "-"],
    ]


def test_compare_dict_lists_moves_and_fps_pairs():
    a = result([NAMES[:5], NAMES[5:]], fps={"1": 100.0, "8": 200.0})
    b = result([NAMES[:6], NAMES[6:]], fps={"8": 210.0, "16": 220.0})
    data = compare_dict(a, b)
    assert data["fps"] == {"1": [100.0, None], "8": [200.0, 210.0], "16": [None, 220.0]}
    assert data["moves"] == [{"from": 1, "to": 0, "layers": ["l5"]}]
    assert data["num_contexts"] == [2, 2]


# -- bad inputs ----------------------------------------------------------------------------------
def test_load_result_names_the_problem(tmp_path):
    with pytest.raises(UsageError, match=r"cannot read '.*missing.json': No such file"):
        load_result(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(UsageError, match=r"'.*bad.json' is not JSON \(.* at line 1\)"):
        load_result(bad)
    graph = tmp_path / "graph.json"
    conv_chain(3).save(graph)  # a layer graph, not a compile result
    with pytest.raises(UsageError, match=r"is not a compile result"):
        load_result(graph)
    future = tmp_path / "future.json"
    future.write_text(json.dumps({**result([["a"]]), "schema": 2}))
    with pytest.raises(UsageError, match=r"has schema 2; this ctxfit reads schema 1"):
        load_result(future)
    partial = tmp_path / "partial.json"
    data = result([["a"]])
    del data["contexts"][0]["binding"], data["latency_ms"]
    partial.write_text(json.dumps(data))
    with pytest.raises(UsageError, match=r"lacks latency_ms, contexts\[0\]\.binding"):
        load_result(partial)


def test_a_file_not_in_utf8_or_with_a_wrong_value_is_named(tmp_path):
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe{}")
    with pytest.raises(UsageError, match=r"binary\.json' is not UTF-8 text \(byte 0\)"):
        load_result(binary)
    parts = tmp_path / "parts.json"
    parts.write_text(json.dumps([result([["a"]]), result([["a"]])]))
    with pytest.raises(UsageError, match=r"holds 2 compile results \(several --hw parts\)"):
        load_result(parts)
    words = tmp_path / "words.json"
    words.write_text(json.dumps({**result([["a"]]), "fps": {"1": "fast"}}))
    with pytest.raises(UsageError, match=r"words\.json' has a malformed value \(ValueError: "):
        load_result(words)


def test_cli_reports_a_bad_file_as_a_user_error(tmp_path, capsys):
    good = tmp_path / "good.json"
    good.write_text(json.dumps(result([["a"]])))
    assert main(["compare", str(good), str(tmp_path / "nope.json")]) == 2
    assert "error: cannot read" in capsys.readouterr().err


# -- real compile results ------------------------------------------------------------------------
def test_compare_two_compiles_of_one_network(tmp_path, capsys):
    model = tmp_path / "chain60.json"
    conv_chain(80).save(model)
    multi, single = tmp_path / "hailo8l.json", tmp_path / "hailo8.json"
    base = ["compile", str(model), "--timeout", "2", "--quiet"]
    assert main([*base, "--hw", "hailo8l", "--json", str(multi)]) == 0
    # 80 LCUs fit one Hailo-8 context (its default flow decides at ceil(1.1 x 128) = 141), not
    # one Hailo-8L context (ceil(1.1 x 64) = 71)
    assert main([*base, "--hw", "hailo8", "--json", str(single)]) == 0
    capsys.readouterr()
    a, b = load_result(multi), load_result(single)
    assert b["num_contexts"] == 1 and a["num_contexts"] >= 2

    assert main(["compare", str(multi), str(single)]) == 0
    out = capsys.readouterr().out
    assert "hailo8l.json" in out and "hailo8.json" in out
    rows = rows_by_label(out)
    k = a["num_contexts"]
    assert rows["contexts"] == ["contexts", str(k), "1", f"{1 - k:+d}"]
    assert rows["one context"] == ["one context", "no", "yes", ""]
    # 80 one-LCU layers against 71 and 141 LCUs: 113% and 57% of the one-context limit
    assert rows["one-context limit"] == [
        "one-context limit", "113% (LCUs 80/71)", "57% (LCUs 80/141)", "differs"
    ]  # fmt: skip
    fps_a, fps_b = float(a["fps"]["8"]), float(b["fps"]["8"])
    assert rows["FPS at batch 8"] == [
        "FPS at batch 8",
        f"{fps_a:,.1f} FPS",
        f"{fps_b:,.1f} FPS",
        f"{fps_b / fps_a - 1:+.1%}",
    ]
    assert rows["hardware"] == ["hardware", "hailo8l", "hailo8", "differs"]
    # every layer outside A's context_0 moved to context_0
    moved = sum(len(c["layers"]) for c in a["contexts"][1:])
    assert f"layers that moved between contexts: {moved}" in out

    assert main(["compare", str(multi), str(single), "--json", "-"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert sum(len(m["layers"]) for m in data["moves"]) == moved
    assert all(m["to"] == 0 for m in data["moves"])
    assert data["hardware"] == ["hailo8l", "hailo8"]
    assert [m["used"] for m in data["single_context_margin"]] == [80, 80]
