"""Fidelity: what ``ctxfit compile`` predicts against what the Hailo Model Zoo publishes.

``python -m benchmarks.fidelity`` compiles every network of the calibration table
(``data/hailo_model_zoo_calibration.csv``, read with :mod:`benchmarks.calibrate`'s loader) on its
device with ``ctxfit compile``'s options (optimise for batch 8, 10 s budget), and compares the
FPS at batch 1 and 8 and single/multi context with the published rows, then the context counts
known from compile logs (HAILO.md section 3). It writes the "Fidelity" section of
``benchmarks/RESULTS.md``.

It compiles every row twice, at two sets of caps, and writes one table for each: first at the
Model Zoo caps (``MODEL_ZOO_*_CAPS``, 100%), the caps ``benchmarks.calibrate`` fits the cost
model's constants with, so the like-for-like comparison with the published figures; then at
``ctxfit compile``'s default caps (the compiler's defaults, 75% single-context and 60%
multi-context). ``--caps zoo`` or ``--caps default`` compiles and writes only that one.

This is the end-to-end path (importer, cost model, search, validator). The "Calibration" section
(``benchmarks.calibrate``) fits the cost model's parameters with its own fast contiguous split
and reports that model's error; it is not repeated here.

``--from PATH`` reuses the batch-8 runs that ``benchmarks.quality --dump PATH`` saved instead of
compiling again (each run records its caps; a dump written before runs did is at the default
caps). ``--smoke`` compiles one small network on one device, at the default caps unless
``--caps`` says otherwise, and writes nothing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path

from benchmarks.calibrate import Row, csv_path, load_rows
from benchmarks.common import command_line, header, load_text, md_table, verdict, write_section
from benchmarks.quality import CAPS, DEFAULT_CAPS, QualityRow, caps_flag, caps_text
from benchmarks.quality import run as run_quality

SECTION = "Fidelity"
OPTIMIZE_FOR_BATCH = 8
TIMEOUT_S = 10.0
SMOKE_NETWORKS = ("squeezenet_v1.1",)
SMOKE_DEVICES = ("hailo8",)
SMOKE_TIMEOUT_S = 2.0
FULL_CAPS = ("zoo", "default")  # the tables of a run without --caps, in this order
CAPS_TITLES = {
    "zoo": "At the Model Zoo caps (the calibrated comparison)",
    "default": "At ctxfit compile's default caps",
}
CAPS_NOTES = {
    "zoo": "These are the caps `benchmarks.calibrate` fits the cost model's constants with "
    "(the Model Zoo's scripts raise the compiler's caps), so this table is the like-for-like "
    "comparison with the published figures.",
    "default": "These are the compiler's defaults, what `ctxfit compile` uses without "
    "`--max-utilization` or a model script; the published figures were compiled with raised "
    "caps and the constants were not fitted at these, so errors here include the caps.",
}

KNOWN_CONTEXTS: tuple[tuple[str, str, str, int], ...] = (
    # (what HAILO.md section 3 names, zoo name or "", device, contexts)
    ("ResNet-50", "resnet_v1_50", "hailo8", 1),
    ("YOLOv8n", "yolov8n", "hailo8", 1),
    ("ViT-Base", "vit_base", "hailo8", 8),
    ("DeiT-Base", "", "hailo8", 8),
    ("YOLOv8s", "yolov8s", "hailo8l", 4),
)
"""Context counts published in compile logs (HAILO.md section 3; ViT-Base: 9 in an older DFC)."""


def _err(pred: float, pub: float) -> float:
    """Relative error of a prediction, in percent."""
    return 100.0 * (pred - pub) / pub


def compare(rows: Sequence[Row], runs: Sequence[QualityRow]) -> list[list[str]]:
    """One table row per published row that has a prediction."""
    by_key = {(r.model, r.hardware): r for r in runs if not r.error}
    out = []
    for row in rows:
        run = by_key.get((row.network, row.device))
        if run is None:
            continue
        b1, b8 = run.fps_by_batch["1"], run.fps_by_batch["8"]
        agree = run.single_context == row.single
        out.append(
            [
                row.device,
                row.network,
                f"{row.fps_b1:g}",
                f"{b1:.1f}",
                f"{_err(b1, row.fps_b1):+.0f}%",
                f"{row.fps_b8:g}",
                f"{b8:.1f}",
                f"{_err(b8, row.fps_b8):+.0f}%",
                "single" if row.single else "multi",
                f"{run.contexts}" + ("" if agree else " (WRONG)"),
            ]
        )
    return out


def summary(rows: Sequence[Row], runs: Sequence[QualityRow]) -> list[str]:
    by_key = {(r.model, r.hardware): r for r in runs if not r.error}
    keyed = [(row, (row.network, row.device)) for row in rows]
    pairs = [(row, by_key[key]) for row, key in keyed if key in by_key]
    if not pairs:
        return ["- no published row has a prediction"]
    lines = []
    for batch in ("1", "8"):

        def error(pair: tuple[Row, QualityRow], batch: str = batch) -> float:
            row, run = pair
            published = row.fps_b1 if batch == "1" else row.fps_b8
            return abs(_err(run.fps_by_batch[batch], published))

        worst = max(pairs, key=error)
        lines.append(
            f"- FPS at batch {batch}: median |error| "
            f"{statistics.median(error(p) for p in pairs):.0f}%, worst {error(worst):.0f}% "
            f"({worst[0].network} on {worst[0].device})"
        )
    right = sum(run.single_context == row.single for row, run in pairs)
    lines.append(f"- single/multi context right on {right}/{len(pairs)} rows")
    missing = [f"{r.network}/{r.device}" for r in rows if (r.network, r.device) not in by_key]
    if missing:
        lines.append(f"- no prediction (not compiled or failed): {', '.join(missing)}")
    return lines


def known_counts(runs: Sequence[QualityRow]) -> list[str]:
    by_key = {(r.model, r.hardware): r for r in runs if not r.error}
    body = []
    for label, zoo, device, published in KNOWN_CONTEXTS:
        run = by_key.get((zoo, device))
        if run is None:
            why = "not in the zoo" if not zoo else "not compiled in this run"
            body.append([label, device, str(published), "-", why])
            continue
        body.append(
            [
                label,
                device,
                str(published),
                str(run.contexts),
                verdict(run.contexts == published)
                + ("" if run.contexts == published else f" (off by {run.contexts - published:+d})"),
            ]
        )
    return md_table(["network", "device", "published contexts", "ctxfit contexts", "match"], body)


def load_runs(path: Path) -> list[QualityRow]:
    """The batch-``OPTIMIZE_FOR_BATCH`` runs saved by ``benchmarks.quality --dump`` (at any
    caps; a run saved without its caps was at the defaults)."""
    runs = [QualityRow(**json.loads(line)) for line in path.read_text().splitlines() if line]
    return [r for r in runs if r.batch == OPTIMIZE_FOR_BATCH]


def caps_table(
    caps: str, rows: Sequence[Row], runs: Sequence[QualityRow], args: argparse.Namespace
) -> list[str]:
    """The ``### `` subsection of one caps: what they are, the table, its summary."""
    lines = [
        f"### {CAPS_TITLES[caps]}",
        "",
        f"Caps ({caps_text(caps)}), i.e. `ctxfit compile NETWORK --hw DEVICE{caps_flag(caps)}`. "
        + CAPS_NOTES[caps],
        "",
    ]
    if not runs:
        where = f" in `{args.source}`" if args.source else ""
        make = (
            f"`python -m benchmarks.quality --caps {caps} --batches {OPTIMIZE_FOR_BATCH} "
            f"--dump {args.source}` adds them"
        )
        return [*lines, f"No runs at these caps{where}; {make}.", ""]
    return [
        *lines,
        *md_table(
            [
                "device",
                "network",
                "pub b1",
                "ctxfit b1",
                "err b1",
                "pub b8",
                "ctxfit b8",
                "err b8",
                "published",
                "ctxfit contexts",
            ],
            compare(rows, runs),
        ),
        "",
        *summary(rows, runs),
        "",
        "Context counts known from compile logs (HAILO.md section 3):",
        "",
        *known_counts(runs),
        "",
    ]


def section(
    rows: Sequence[Row],
    runs_by_caps: dict[str, list[QualityRow]],
    args: argparse.Namespace,
    head: Sequence[str],
) -> list[str]:
    """The whole section: the header, then one subsection per caps, in ``runs_by_caps`` order."""
    source = f"the runs saved in `{args.source}`" if args.source else "this run's compiles"
    which = " and ".join(f"`{c}`" for c in runs_by_caps)
    if len(runs_by_caps) > 1:
        which += " caps (one table each, in this order)"
    else:
        which += " caps"
    lines = [
        *head,
        f"Load at the end: {load_text()}.",
        "",
        f"Predictions of `ctxfit compile NETWORK --hw DEVICE` (optimise for batch "
        f"{OPTIMIZE_FOR_BATCH}, {args.timeout:g} s budget, current cost-model constants) from "
        f"{source}, at the {which}, against `{csv_path().name}` (Model "
        "Zoo v2.18, DFC 3.33). Published single/multi: equal FPS at batch 1 and 8 means one "
        "context (HAILO.md section 3). Errors are (predicted - published) / published.",
        "",
    ]
    for caps, runs in runs_by_caps.items():
        lines += caps_table(caps, rows, runs, args)
    while lines[-1] == "":
        lines.pop()
    return lines


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fidelity", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="one small network, no write")
    parser.add_argument("--from", dest="source", type=Path, help="quality.py --dump output")
    parser.add_argument("--timeout", type=float, help="search budget per compile, seconds")
    parser.add_argument(
        "--caps",
        choices=tuple(CAPS),
        help="only these caps: zoo (MODEL_ZOO_*_CAPS, calibrated) or default (the compiler's); "
        "default: both, zoo first (--smoke: default only)",
    )
    parser.add_argument("--no-write", action="store_true", help="print, do not write RESULTS.md")
    args = parser.parse_args(argv)
    if args.timeout is None:
        args.timeout = SMOKE_TIMEOUT_S if args.smoke else TIMEOUT_S
    return args


def caps_wanted(args: argparse.Namespace) -> tuple[str, ...]:
    """The caps to report: ``--caps``, else the default caps for a smoke run, else both."""
    if args.caps:
        return (args.caps,)
    return (DEFAULT_CAPS,) if args.smoke else FULL_CAPS


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    head = header(command_line("python -m benchmarks.fidelity", argv))
    rows = load_rows(csv_path())
    wanted = caps_wanted(args)
    if args.source is not None:
        saved = load_runs(args.source)
        runs_by_caps = {c: [r for r in saved if r.caps == c] for c in wanted}
        if not any(runs_by_caps.values()):
            raise SystemExit(
                f"{args.source} has no batch-{OPTIMIZE_FOR_BATCH} runs at the "
                f"{' or '.join(wanted)} caps"
            )
    else:
        networks = SMOKE_NETWORKS if args.smoke else tuple(dict.fromkeys(r.network for r in rows))
        devices = SMOKE_DEVICES if args.smoke else tuple(dict.fromkeys(r.device for r in rows))
        runs_by_caps = {
            c: run_quality(networks, devices, [OPTIMIZE_FOR_BATCH], args.timeout, caps=c)
            for c in wanted
        }
    if args.smoke:
        keys = {(r.model, r.hardware) for runs in runs_by_caps.values() for r in runs}
        rows = [r for r in rows if (r.network, r.device) in keys]
    lines = section(rows, runs_by_caps, args, head)
    print("\n".join(lines))
    if not args.smoke and not args.no_write:
        write_section(SECTION, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
