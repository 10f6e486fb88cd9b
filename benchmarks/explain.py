"""Explain: issue 16's goal on the zoo detectors.

``python -m benchmarks.explain`` runs ``ctxfit explain NAME --hw DEVICE --quiet --json`` (a fresh
process, as a user runs it; the imported network may come from the disk cache) for every zoo
YOLOv5 / YOLOv8 / YOLO11 detector on Hailo-8 and Hailo-8L, and writes the "Explain" section of
``benchmarks/RESULTS.md``. Per run: the contexts of the model as ``ctxfit compile`` gives them,
the first verified block-level change that fits one context keeping at least 90% of the MACs
(explain lists the fewest changes first: its count of changes, contexts, FPS at batch 1 and 8,
MACs kept), or explain's one-line reason why it found none, and the wall time of the whole
command. Goals: every multi-context pair gets such a change or a
reason line (better: a proof), each run within 30 s. ``--smoke`` explains one model and writes
nothing.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.common import command_line, header, md_table, verdict, write_section

SECTION = "Explain"
DEVICES = ("hailo8", "hailo8l")
FAMILIES = ("yolov5", "yolov8", "yolov11")
MIN_MACS_KEPT = 0.9
GOAL_S = 30.0
SMOKE = (("yolov8n", "hailo8l"),)
PROOF = "none: none exists"
"""How an answer cell starts when explain proved that no block-level change can fit."""


def detectors() -> list[str]:
    """The zoo's YOLOv5 / v8 / 11 detectors (no segmentation or pose heads), in zoo order."""
    from partitioner.zoo import ZOO

    return [
        name
        for name, entry in ZOO.items()
        if name.startswith(FAMILIES) and "detection" in entry.task and "seg" not in name
    ]


def explain_once(name: str, device: str) -> dict:
    """One ``ctxfit explain`` run: its JSON, exit code and wall time."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "explain.json"
        argv = [sys.executable, "-m", "partitioner.cli", "explain", name, "--hw", device]
        started = time.perf_counter()
        done = subprocess.run(
            [*argv, "--quiet", "--json", str(out)], capture_output=True, text=True, check=False
        )
        wall = time.perf_counter() - started
        data = json.loads(out.read_text()) if out.exists() else None
    return {"name": name, "device": device, "code": done.returncode, "wall_s": wall, "data": data}


def answer(run: dict) -> tuple[str, bool]:
    """The cell explain's answer gives, and whether it meets the goal (a change or a reason)."""
    data = run["data"]
    if data is None:
        return f"exit {run['code']}, no answer", False
    if data["num_contexts"] == 1:
        return "fits one context", True
    for s in data["suggestions"]:
        if s["kind"] == "blocks" and s["num_contexts"] == 1 and s["macs_kept"] >= MIN_MACS_KEPT:
            fps = s["fps"]
            return (
                f"{s['change']} (1 context, {fps.get('1', 0):.1f} / {fps.get('8', 0):.1f} FPS, "
                f"MACs {s['macs_kept']:.1%} of the original's)",  # a plain block may add MACs
                True,
            )
    reasons = [u["reason"] for u in data["unreachable"] if u["kind"] == "blocks"]
    return ("none: " + reasons[0], True) if reasons else ("no change and no reason", False)


def first_change(run: dict) -> dict | None:
    """The suggestion :func:`answer` reports (``None``: a reason or no answer)."""
    data = run["data"]
    if data is None or data["num_contexts"] == 1:
        return None
    return next(
        (
            s
            for s in data["suggestions"]
            if s["kind"] == "blocks" and s["num_contexts"] == 1 and s["macs_kept"] >= MIN_MACS_KEPT
        ),
        None,
    )


def report(runs: Sequence[dict], command: str) -> list[str]:
    rows, answered, multi = [], 0, 0
    for run in runs:
        text, ok = answer(run)
        contexts = run["data"]["num_contexts"] if run["data"] else "-"
        multi += contexts != 1
        answered += ok and contexts != 1
        first = first_change(run)
        count = first.get("value", "-") if first is not None else "-"
        rows.append([run["name"], run["device"], contexts, count, text, f"{run['wall_s']:.1f}"])
    walls = [r["wall_s"] for r in runs]
    counts = [r[3] for r in rows if isinstance(r[3], int)]
    proven = sum(1 for r in rows if str(r[4]).startswith(PROOF))
    found = sum(1 for r in rows if r[2] != 1 and not str(r[4]).startswith("none"))
    return [
        *header(command),
        "",
        "Each zoo YOLOv5 / v8 / 11 detector on both chips, `ctxfit explain NAME --hw DEVICE "
        "--quiet --json F` in a fresh process (the network from the disk cache when there). "
        "*answer*: the first verified block-level change that fits one context keeping at least "
        "90% of the MACs (explain lists them fewest changes first, then most MACs), or explain's "
        "one-line reason. *changes*: what a user edits for it: one per architecture change (a "
        "row's repeats, a plain block, a block or the P5 head scale dropped), one for all 4-bit "
        "weights together (one `quantization_param` line listing the blocks), one for raised "
        'caps (one `resources_param` line). A reason starting "none exists" is a '
        "proof over the block-level changes it names (a lower bound over every combination "
        "keeping 90% of the MACs: LCUs one per fused layer, or L3 cuts with every weight in 4 "
        "bits and the offered rows at their narrowest, at the highest caps explain suggests); "
        'one starting "none found" comes from a search and is not.',
        "",
        *md_table(["model", "device", "contexts", "changes", "answer", "wall s"], rows),
        "",
        f"- a verified change or a reason line for every multi-context pair: "
        f"{verdict(answered == multi)} ({found} changes, {multi - found} reasons of which "
        f"{proven} proven, over {multi} pairs)",
        f"- a verified change or a proof for every multi-context pair: "
        f"{verdict(found + proven == multi)} ({multi - found - proven} unproven reasons)",
        f"- within {GOAL_S:.0f} s: {verdict(max(walls) <= GOAL_S)} (longest {max(walls):.1f} s)",
        f"- changes per verified answer: {min(counts, default=0)} to {max(counts, default=0)} "
        f"(median {sorted(counts)[len(counts) // 2] if counts else 0})",
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.explain", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="one model, nothing written")
    parser.add_argument("--no-write", action="store_true", help="print, do not write RESULTS.md")
    args = parser.parse_args(argv)
    pairs = SMOKE if args.smoke else [(n, d) for n in detectors() for d in DEVICES]
    runs = []
    for name, device in pairs:
        runs.append(explain_once(name, device))
        print(f"{name} {device}: {answer(runs[-1])[0][:100]} ({runs[-1]['wall_s']:.1f} s)")
    body = report(runs, command_line("python -m benchmarks.explain", argv))
    print("\n".join(body))
    if not (args.smoke or args.no_write):
        write_section(SECTION, body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
