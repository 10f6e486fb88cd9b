"""Fidelity: what ``ctxfit compile`` predicts against what the Hailo Model Zoo publishes, each row
at the flow its figure was compiled with.

``python -m benchmarks.fidelity`` compiles every row of the Model Zoo table whose network the zoo
builds (:func:`benchmarks.calibrate.load_rows`) the way ``ctxfit compile NAME --hw DEVICE`` does
by default: the network's Model Zoo script for that chip, resolved into its flow, the real
search (CP-SAT iterations, 10 s deterministic budget) and the validator
(:func:`partitioner.compile_request.prepare_compile` and
:func:`partitioner.compile.compile_network`, the code of the CLI). The part is the preset with
the host link the Model Zoo measured on (``MODEL_ZOO_LINK_LANES``, calibrated); the partition is
decided at the chip's compiler link (``HardwareSpec.deciding``), as for any host.

Two passes:

* **in-sample**: at the constants in the code (``cost_model/params.py``,
  ``partitioner/flows.py``), which ``benchmarks.calibrate`` fitted on all rows;
* **leave-one-network-out**: each network at the parameters ``benchmarks.calibrate --write``
  refitted without it (``benchmarks/data/calibration.json``).

It reports, per pass: single/multi right, median and worst |FPS error| at batch 1 and 8, the same
per task family, the goals of issue 13, the published context counts (HAILO.md section 3), and
how far the calibration's proxy is from the real search. ``--smoke`` compiles one small network
in-sample and writes nothing; ``--dump F`` saves the runs, ``--from F`` reports saved runs.
``--write-bands`` writes the error bands ``ctxfit compile`` shows with its answers
(``partitioner/data/error_bands.json``, this script its only writer), e.g. from the saved runs:
``python -m benchmarks.fidelity --from RUNS.jsonl --no-write --write-bands``.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from benchmarks.calibrate import (
    MODEL_ZOO_LINK_LANES,
    SAVED,
    Row,
    load_rows,
    params_from_dict,
    task_family,
)
from benchmarks.common import command_line, header, md_table, verdict, write_section

SECTION = "Fidelity"
TIMEOUT_S = 10.0  # ctxfit compile's default budget
SMOKE = (("squeezenet_v1.1", "hailo8"),)
GOAL_SINGLE_MULTI = 0.97
GOAL_MEDIAN_PCT = 12.0
GOAL_WORST_RATIO = 1.8
KNOWN_CONTEXTS: tuple[tuple[str, str, str, int], ...] = (
    # (what HAILO.md section 3 names, zoo name or "", device, contexts)
    ("ResNet-50", "resnet_v1_50", "hailo8", 1),
    ("YOLOv8n", "yolov8n", "hailo8", 1),
    ("ViT-Base", "vit_base", "hailo8", 8),
    ("DeiT-Base", "", "hailo8", 8),
    ("YOLOv8s", "yolov8s", "hailo8l", 4),
)
"""Context counts published in compile logs (HAILO.md section 3; ViT-Base: 9 in an older DFC)."""
NO_SCRIPT_ROWS = (
    ("yolov5s", "hailo8"),
    ("yolov8s", "hailo8"),
    ("resnet_v1_34", "hailo8"),
    ("resnext50_32x4d", "hailo8"),
)
"""Rows whose Model Zoo script sets nothing: a default compile must give the published count."""


@dataclass(frozen=True, kw_only=True)
class Run:
    """One ``ctxfit compile`` of a row: contexts and FPS, or the error."""

    device: str
    network: str
    mode: str  # "insample" or "loo"
    contexts: int = 0
    fps_b1: float = 0.0
    fps_b8: float = 0.0
    status: str = ""
    wall_s: float = 0.0
    error: str = ""
    margin: float | None = None  # the single-context fit's used / limit (None: flow forced)

    @property
    def single(self) -> bool:
        return self.contexts == 1


def compile_row(job: tuple[str, str, str, dict | None, float]) -> Run:
    """``ctxfit compile NETWORK --hw DEVICE`` (its Model Zoo script) at ``params`` (None: the
    constants in the code), on the Model Zoo's link."""
    network, device, mode, params, timeout = job
    from cost_model.hardware import PcieLink, preset
    from partitioner.compile import compile_network
    from partitioner.compile_request import prepare_compile
    from partitioner.flows import FLOW_PARAMS
    from partitioner.models import ModelRequest, load_network

    started = time.perf_counter()
    try:
        if params is None:
            hw = preset(device).with_params(link=PcieLink(generation=3, lanes=MODEL_ZOO_LINK_LANES))
            flow_params = FLOW_PARAMS
        else:
            p = params_from_dict(params)
            hw, flow_params = p.spec(device), p.flow_params()
        net = load_network(ModelRequest(spec=network))
        prepared = prepare_compile(
            net, hw, None, zoo_name=network, flow_params=flow_params, timeout_s=timeout
        )
        report = compile_network(
            prepared.net, hw, prepared.settings.options, flow=prepared.settings.flow
        )
    except Exception as err:  # a failed row is reported, not fatal
        return Run(device=device, network=network, mode=mode, error=f"{type(err).__name__}: {err}")
    return Run(
        device=device,
        network=network,
        mode=mode,
        contexts=report.num_contexts,
        fps_b1=report.fps[1],
        fps_b8=report.fps[8],
        status=report.search.status,
        wall_s=time.perf_counter() - started,
        margin=None if report.single_context_margin is None else report.single_context_margin.share,
    )


def run_all(jobs: Sequence[tuple], processes: int) -> list[Run]:
    """Compile every job, ``processes`` at a time (each compile is deterministic)."""
    if processes <= 1:
        return [compile_row(job) for job in jobs]
    import multiprocessing as mp

    with mp.get_context("fork").Pool(processes) as pool:
        return pool.map(compile_row, jobs, chunksize=1)


# -- reporting -----------------------------------------------------------------------------------
def _pct(pred: float, pub: float) -> float:
    return 100.0 * (pred - pub) / pub


def _ratio(pred: float, pub: float) -> float:
    """How many times off a prediction is (>= 1)."""
    return max(pred / pub, pub / pred) if pred > 0 else math.inf


def pairs_of(rows: Sequence[Row], runs: Sequence[Run]) -> list[tuple[Row, Run]]:
    by_key = {(r.network, r.device): r for r in runs if not r.error}
    return [
        (row, by_key[row.network, row.device])
        for row in rows
        if (row.network, row.device) in by_key
    ]


def stats(pairs: Sequence[tuple[Row, Run]]) -> dict[str, float]:
    """Single/multi share right, median |error| and worst ratio at batch 1 and 8."""
    out: dict[str, float] = {"n": len(pairs)}
    if not pairs:
        return out
    out["right"] = sum(run.single == row.single for row, run in pairs) / len(pairs)
    for b in ("1", "8"):
        errs = [
            abs(_pct(getattr(run, f"fps_b{b}"), getattr(row, f"fps_b{b}"))) for row, run in pairs
        ]
        ratios = [
            _ratio(getattr(run, f"fps_b{b}"), getattr(row, f"fps_b{b}")) for row, run in pairs
        ]
        out[f"median{b}"] = statistics.median(errs)
        out[f"worst{b}"] = max(ratios)
    return out


def summary_table(rows: Sequence[Row], runs: Sequence[Run]) -> list[str]:
    """All rows, then each task family."""
    pairs = pairs_of(rows, runs)
    groups: dict[str, list] = {"all": pairs}
    for row, run in pairs:
        groups.setdefault(task_family(row.network, row.task), []).append((row, run))
    body = []
    for name, group in groups.items():
        s = stats(group)
        if not group:
            continue
        body.append(
            [
                name,
                int(s["n"]),
                f"{s['right'] * 100:.0f}%",
                f"{s['median1']:.1f}%",
                f"{s['worst1']:.2f}x",
                f"{s['median8']:.1f}%",
                f"{s['worst8']:.2f}x",
            ]
        )
    return md_table(
        ["rows", "n", "single/multi right", "median b1", "worst b1", "median b8", "worst b8"],
        body,
    )


def goals(rows: Sequence[Row], runs: Sequence[Run]) -> list[str]:
    """Issue 13's goals, each met or MISSED with its figure."""
    s = stats(pairs_of(rows, runs))
    if not s.get("n"):
        return ["- no row compiled"]
    failed = [r for r in runs if r.error]
    lines = [
        f"- single/multi right on >= {GOAL_SINGLE_MULTI:.0%} of rows: {s['right']:.1%} "
        f"({verdict(s['right'] >= GOAL_SINGLE_MULTI)})",
        f"- median |FPS error| <= {GOAL_MEDIAN_PCT:g}%: batch 1 {s['median1']:.1f}%, batch 8 "
        f"{s['median8']:.1f}% ({verdict(max(s['median1'], s['median8']) <= GOAL_MEDIAN_PCT)})",
        f"- worst <= {GOAL_WORST_RATIO:g}x: batch 1 {s['worst1']:.2f}x, batch 8 "
        f"{s['worst8']:.2f}x ({verdict(max(s['worst1'], s['worst8']) <= GOAL_WORST_RATIO)})",
    ]
    if failed:
        lines.append(
            f"- {len(failed)} rows failed to compile: "
            + "; ".join(f"{r.network}/{r.device} ({r.error[:80]})" for r in failed)
        )
    return lines


def rows_table(rows: Sequence[Row], runs: Sequence[Run]) -> list[str]:
    body = []
    for row, run in pairs_of(rows, runs):
        agree = run.single == row.single
        body.append(
            [
                row.device,
                row.network,
                f"{row.fps_b1:g}",
                f"{run.fps_b1:.1f}",
                f"{_pct(run.fps_b1, row.fps_b1):+.0f}%",
                f"{row.fps_b8:g}",
                f"{run.fps_b8:.1f}",
                f"{_pct(run.fps_b8, row.fps_b8):+.0f}%",
                "single" if row.single else "multi",
                f"{run.contexts}" + ("" if agree else " (WRONG)"),
            ]
        )
    return md_table(
        ["device", "network", "pub b1", "ctxfit b1", "err b1", "pub b8", "ctxfit b8", "err b8",
         "published", "ctxfit contexts"],
        body,
    )  # fmt: skip


def known_counts(runs: Sequence[Run]) -> list[str]:
    by_key = {(r.network, r.device): r for r in runs if not r.error}
    body = []
    for label, zoo, device, published in KNOWN_CONTEXTS:
        run = by_key.get((zoo, device))
        if run is None:
            why = "not in the zoo" if not zoo else "not compiled in this run"
            body.append([label, device, str(published), "-", why])
            continue
        off = run.contexts - published
        body.append(
            [label, device, str(published), str(run.contexts),
             verdict(abs(off) <= 1) + ("" if off == 0 else f" (off by {off:+d})")]
        )  # fmt: skip
    return md_table(["network", "device", "published", "ctxfit", "within +-1"], body)


def no_script_rows(rows: Sequence[Row], runs: Sequence[Run]) -> list[str]:
    by_key = {(r.network, r.device): r for r in runs if not r.error}
    published = {(r.network, r.device): r for r in rows}
    lines = []
    for net, dev in NO_SCRIPT_ROWS:
        run, row = by_key.get((net, dev)), published.get((net, dev))
        if run is None or row is None:
            continue
        want = "1" if row.single else "several"
        got_ok = run.single == row.single
        lines.append(
            f"- {net} on {dev} (script sets nothing): published {want} context(s), "
            f"ctxfit {run.contexts} ({verdict(got_ok)})"
        )
    return lines


def proxy_gap(runs: Sequence[Run], mode: str, saved: dict | None) -> list[str]:
    """Median and worst |proxy - real| / real at batch 1 and 8."""
    if not saved:
        return []
    proxy = {(p["network"], p["device"]): p[mode] for p in saved["proxy"] if p.get(mode)}
    gaps: dict[str, list[float]] = {"1": [], "8": []}
    ctx_same = n = 0
    for run in runs:
        p = proxy.get((run.network, run.device))
        if run.error or p is None:
            continue
        n += 1
        ctx_same += p["contexts"] == run.contexts
        for b in ("1", "8"):
            gaps[b].append(abs(_pct(p[f"fps_b{b}"], getattr(run, f"fps_b{b}"))))
    if not n:
        return []
    return [
        f"- proxy vs real search ({n} rows): |FPS difference| median "
        f"{statistics.median(gaps['1']):.1f}% / worst {max(gaps['1']):.0f}% at batch 1, median "
        f"{statistics.median(gaps['8']):.1f}% / worst {max(gaps['8']):.0f}% at batch 8; same "
        f"context count on {ctx_same}/{n}",
    ]


BORDERLINE_GRID = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5)
"""Half-widths tried for the borderline band of the single/multi verdict, smallest first."""
CLEAR_VERDICT_RIGHT = 0.99
"""A verdict outside the borderline band must have been right on at least this share of rows."""
MARGIN_BINS = (0.8, 0.9, 1.0, 1.1, 1.2)


def verdict_band(pairs: Sequence[tuple[Row, Run]]) -> dict | None:
    """The borderline band of the single/multi verdict: the smallest half-width of
    ``BORDERLINE_GRID`` outside which the verdicts were right on ``CLEAR_VERDICT_RIGHT`` of the
    rows (the last one if none is), with the rows and right verdicts inside and outside it.
    Rows whose flow forced several contexts (no margin) are left out. ``None`` without any.

    >>> def pair(single, contexts, margin):
    ...     return (Row(device="d", network="n", task="t", fps_b1=1.0,
    ...                 fps_b8=1.0 if single else 2.0),
    ...             Run(device="d", network="n", mode="loo", contexts=contexts, margin=margin))
    >>> verdict_band([pair(True, 1, 0.5), pair(False, 1, 0.93), pair(True, 3, 1.12),
    ...               pair(False, 4, 1.6)])
    {'borderline': 0.15, 'inside_rows': 2, 'inside_right': 0, 'outside_rows': 2, 'outside_right': 2}
    """
    decided = [(row, run) for row, run in pairs if run.margin is not None]
    if not decided:
        return None
    for half in BORDERLINE_GRID:
        outside = [(row, run) for row, run in decided if abs(run.margin - 1) >= half]
        right = sum(run.single == row.single for row, run in outside)
        if right >= CLEAR_VERDICT_RIGHT * len(outside):
            break
    inside = [(row, run) for row, run in decided if abs(run.margin - 1) < half]
    return {
        "borderline": half,
        "inside_rows": len(inside),
        "inside_right": sum(run.single == row.single for row, run in inside),
        "outside_rows": len(outside),
        "outside_right": right,
    }


def margin_table(rows: Sequence[Row], runs: Sequence[Run]) -> list[str]:
    """Rows and right verdicts by the single-context fit's used / limit (its margin)."""
    decided = [(row, run) for row, run in pairs_of(rows, runs) if run.margin is not None]
    if not decided:
        return []
    edges = (0.0, *MARGIN_BINS, math.inf)
    body = []
    for lo, hi in zip(edges, edges[1:], strict=False):
        group = [(row, run) for row, run in decided if lo <= run.margin < hi]
        wrong = [f"{row.network}/{row.device}" for row, run in group if run.single != row.single]
        if lo == 0:
            label = f"under {hi:.0%}"
        elif hi == math.inf:
            label = f"{lo:.0%} or more"
        else:
            label = f"{lo:.0%}-{hi:.0%}"
        body.append([label, len(group), len(group) - len(wrong), ", ".join(wrong) or "-"])
    return md_table(["used / limit at the lowest demand", "rows", "right", "wrong"], body)


def section(rows: Sequence[Row], runs: Sequence[Run], argv, saved: dict | None) -> list[str]:
    lines = [
        *header(command_line("python -m benchmarks.fidelity", argv)),
        "",
        f"{len(rows)} rows of the Model Zoo v2.18 table whose network the zoo builds, each "
        "compiled as `ctxfit compile NAME --hw DEVICE` compiles it by default (its Model Zoo "
        "script's compile-side lines, the real search with the default 10 s budget, the "
        "validator), the partition decided at the chip's compiler link and priced on the Gen3 "
        "x4 host link the Model Zoo measured on.",
        "",
    ]
    for mode, title in (
        ("insample", "In-sample (the constants in the code)"),
        ("loo", "Leave one network out (each network at the parameters refitted without it)"),
    ):
        got = [r for r in runs if r.mode == mode]
        if not got:
            continue
        lines += [f"### {title}", "", *summary_table(rows, got), "", *goals(rows, got)]
        lines += proxy_gap(got, mode, saved)
        lines += ["", "Published context counts (HAILO.md section 3):", "", *known_counts(got)]
        band = verdict_band(pairs_of(rows, got))
        if band is not None:
            lines += [
                "",
                "The single/multi verdict by how close the single-context fit was (its deciding "
                "used / limit at the lowest demand, `cost_model.context.FitMargin`; rows whose "
                "flow forces several contexts left out). Borderline band: within "
                f"{band['borderline']:.0%} of the limit, {band['inside_right']}/"
                f"{band['inside_rows']} right inside, {band['outside_right']}/"
                f"{band['outside_rows']} outside (`verdict_band`: the smallest half-width of "
                f"the grid with >= {CLEAR_VERDICT_RIGHT:.0%} right outside).",
                "",
                *margin_table(rows, got),
            ]
        lines += ["", *no_script_rows(rows, got), "", *rows_table(rows, got), ""]
    return lines


# -- the error bands ``ctxfit compile`` shows (partitioner/data/error_bands.json) ----------------
def _p90(values: Sequence[float]) -> float:
    """90th percentile (inclusive method: within the observed range even for a few rows)."""
    if len(values) < 2:
        return float(values[0])
    return statistics.quantiles(values, n=10, method="inclusive")[-1]


def _band_row(pairs: Sequence[tuple[Row, Run]]) -> dict[str, float | int]:
    out: dict[str, float | int] = {"rows": len(pairs)}
    for b in ("1", "8"):
        errs = [
            abs(_pct(getattr(run, f"fps_b{b}"), getattr(row, f"fps_b{b}"))) for row, run in pairs
        ]
        out[f"median_b{b}_pct"] = round(statistics.median(errs), 1)
        out[f"p90_b{b}_pct"] = round(_p90(errs), 1)
    out["single_multi_right"] = round(
        sum(run.single == row.single for row, run in pairs) / len(pairs), 3
    )
    return out


def error_bands(rows: Sequence[Row], runs: Sequence[Run], argv) -> dict:
    """The band table :mod:`partitioner.error_bands` reads: per task family and over all rows,
    median and 90th percentile |FPS error| at batch 1 and 8 and single/multi right, from the
    leave-one-network-out runs (the in-sample ones when there are none), plus the family of
    every zoo network (:func:`benchmarks.calibrate.task_family`)."""
    from datetime import date

    from partitioner.zoo import ZOO

    mode = "loo" if any(r.mode == "loo" for r in runs) else "insample"
    pairs = pairs_of(rows, [r for r in runs if r.mode == mode])
    if not pairs:
        raise SystemExit("no compiled row to measure error bands on; nothing written")
    groups: dict[str, list] = {"all": pairs}
    for row, run in pairs:
        groups.setdefault(task_family(row.network, row.task), []).append((row, run))
    return {
        "schema": 1,
        "what": "|FPS error| of ctxfit compile against the Model Zoo v2.18 published FPS, "
        "per task family and over all rows (in percent)",
        "pass": mode,
        "command": command_line("python -m benchmarks.fidelity", argv),
        "date": date.today().isoformat(),
        "families": {name: _band_row(group) for name, group in groups.items()},
        "verdict": verdict_band(pairs),
        "networks": {name: task_family(name, e.task) for name, e in sorted(ZOO.items())},
    }


def write_bands(data: dict) -> Path:
    """Write the band table as package data (the only writer of the file)."""
    from partitioner.error_bands import BANDS_PATH

    BANDS_PATH.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n")
    return BANDS_PATH


def load_saved() -> dict | None:
    return json.loads(SAVED.read_text()) if SAVED.is_file() else None


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fidelity", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="one small network, nothing written")
    parser.add_argument("--no-loo", action="store_true", help="only the in-sample pass")
    parser.add_argument("--networks", nargs="+", help="only these networks")
    parser.add_argument("--processes", type=int, default=2, help="compiles at a time")
    parser.add_argument("--timeout", type=float, default=TIMEOUT_S, help="search budget (s)")
    parser.add_argument("--dump", type=Path, help="save the runs as JSON lines")
    parser.add_argument("--from", dest="source", type=Path, help="report runs saved by --dump")
    parser.add_argument("--no-write", action="store_true", help="do not write RESULTS.md")
    parser.add_argument(
        "--write-bands",
        action="store_true",
        help="write the error bands ctxfit compile shows (partitioner/data/error_bands.json)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    saved = load_saved()
    rows = load_rows()
    if args.smoke:
        rows = [r for r in rows if (r.network, r.device) in SMOKE]
    elif args.networks:
        rows = [r for r in rows if r.network in args.networks]
    if args.source is not None:
        runs = [Run(**json.loads(line)) for line in args.source.read_text().splitlines() if line]
    else:
        jobs = [(r.network, r.device, "insample", None, args.timeout) for r in rows]
        if not (args.smoke or args.no_loo) and saved:
            loo = saved["loo_params"]
            jobs += [
                (r.network, r.device, "loo", loo[r.network], args.timeout)
                for r in rows
                if r.network in loo
            ]
        runs = run_all(jobs, args.processes)
    if args.dump is not None:
        args.dump.write_text("".join(json.dumps(asdict(r)) + "\n" for r in runs))
    body = section(rows, runs, argv, saved)
    print("\n".join(body))
    if not (args.smoke or args.no_write):
        write_section(SECTION, body)
    if args.write_bands:
        print(f"error bands written to {write_bands(error_bands(rows, runs, argv))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
