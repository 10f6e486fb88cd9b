"""Scaling: how partitioning time and memory grow with the network, on synthetic graphs.

``python -m benchmarks.scaling`` partitions chains, YOLO-like graphs and transformer stacks
(:mod:`benchmarks.synthetic`) of 50 to 5,000 layers on Hailo-8 at the multi-context caps and
batch 8, each size in a fresh process (so its peak memory is its own), and writes the
"Scaling" section of ``benchmarks/RESULTS.md``. Per size it measures the pipeline one
iteration of ``ctxfit compile``'s multi-context flow runs:

1. *pricing*: :func:`partitioner.pricing.build_problem` (level grid and integer demands);
2. *baselines*: greedy and DP (:mod:`partitioner.splits`, the answers of
   :mod:`partitioner.baselines` in time linear in the layers); the DP split is the first valid
   partition ctxfit holds, and the CP-SAT hint;
3. *model*: :class:`~partitioner.cpsat_model.PartitionModel` for K = the DP's context count
   (above ``EXACT_PAIRS_MAX`` (layer, context) pairs, the neighbourhood of the DP split: the
   status column then says ``neighbourhood``);
4. *solve*: CP-SAT (the tool's settings: deterministic, 2 workers, seed 0) with the
   ``on_solution`` events giving the time of the first solution and of the first solution
   within 1% of the bound; the solve stops there, or at the time limit.

Times to the first feasible partition and to a 1% gap count from the generated network
(pricing included). Growth exponents are least-squares slopes of log(time) on log(layers).
``--smoke`` runs tiny sizes in this process and writes nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from benchmarks.common import (
    ROOT,
    fit_exponent,
    fmt_s,
    header,
    load_text,
    md_table,
    peak_rss_mb,
    verdict,
    write_section,
)

SECTION = "Scaling"
FAMILIES = ("chain", "yolo_like", "transformer")
FULL_SIZES = (50, 100, 200, 500, 1000, 2000, 5000)
SMOKE_SIZES = (40, 80)
FULL_TIME_LIMIT_S = 60.0
SMOKE_TIME_LIMIT_S = 1.0
GAP_TARGET = 0.01
GOAL_LAYERS = 5000
GOAL_FEASIBLE_S = 60.0
GOAL_MEMORY_MB = 2048.0
GOAL_EXPONENT = 1.5
ASYMPTOTIC_FROM = 500  # exponents are also fitted on sizes >= this, where constants fade
CHILD_GRACE_S = 900.0  # a child may overrun its solve limit by the deterministic wall cap and this
MAX_CHILD_RSS_MB = 8192.0  # a child past this resident memory is stopped (and reported so)


@dataclass(frozen=True, kw_only=True)
class ScalingRow:
    """One measurement: a family at one size.

    Times are seconds. ``first_solution_s`` and ``gap_s`` count from the start of the solve;
    the ``*_total_s`` properties from the generated network.
    """

    family: str
    layers: int
    k0: int
    contexts: int
    pricing_s: float
    greedy_s: float
    dp_s: float
    model_s: float
    solve_s: float
    first_solution_s: float | None
    gap_s: float | None
    gap_at_end_only: bool
    status: str
    final_gap: float | None
    dp_units: int
    objective_units: int | None
    bound_units: int | None
    rss_base_mb: float
    rss_peak_mb: float
    isolated: bool
    error: str = ""
    measured_at: str = ""
    load_1m: float = -1.0  # 1-minute load average when the measurement started (-1: unknown)

    @property
    def first_feasible_s(self) -> float:
        """Pricing + baselines: when the DP split, a valid partition, is in hand."""
        return self.pricing_s + self.greedy_s + self.dp_s

    @property
    def before_solve_s(self) -> float:
        return self.first_feasible_s + self.model_s

    @property
    def first_cpsat_total_s(self) -> float | None:
        """From the network to CP-SAT's first solution."""
        if self.first_solution_s is None:
            return None
        return self.before_solve_s + self.first_solution_s

    @property
    def gap_total_s(self) -> float | None:
        """From the network to a solution within ``GAP_TARGET`` of the bound."""
        return None if self.gap_s is None else self.before_solve_s + self.gap_s


def measure(
    family: str,
    n: int,
    *,
    hw_name: str = "hailo8",
    batch: int = 8,
    time_limit_s: float = FULL_TIME_LIMIT_S,
    gap_target: float = GAP_TARGET,
    isolated: bool = False,
    progress: Callable[[dict[str, float | int]], None] = lambda _: None,
) -> ScalingRow:
    """Generate, price, run the baselines, build and solve; see the module docstring.

    ``progress`` receives the fields measured so far after each phase (a process killed later
    still reports them)."""
    from benchmarks.synthetic import generate
    from cost_model.caps import MULTI_CONTEXT_CAPS
    from cost_model.hardware import preset
    from partitioner.cpsat_model import PartitionModel, SolutionEvent
    from partitioner.pricing import build_problem
    from partitioner.problem import batch_time_units, violations
    from partitioner.search import resource_lower_bound
    from partitioner.splits import dp_split, greedy_split

    rss_base = peak_rss_mb()
    measured_at, load_1m = _now(), os.getloadavg()[0]
    hw = preset(hw_name)
    net = generate(family, n)
    t0 = time.perf_counter()
    problem = build_problem(net, hw, MULTI_CONTEXT_CAPS, batch=batch)
    t1 = time.perf_counter()
    progress({"pricing_s": t1 - t0, "k0": resource_lower_bound(problem)[0]})
    greedy_split(problem)
    t2 = time.perf_counter()
    dp = dp_split(problem)
    t3 = time.perf_counter()
    if dp is None:
        raise RuntimeError(f"{family} {n}: no contiguous split fits the caps")
    dp_units = batch_time_units(problem, dp)
    progress(
        {
            "greedy_s": t2 - t1,
            "dp_s": t3 - t2,
            "contexts": dp.num_contexts,
            "dp_units": dp_units,
            "rss_peak_mb": peak_rss_mb(),
        }
    )
    model = PartitionModel(problem, num_contexts=dp.num_contexts, hint=dp)
    t4 = time.perf_counter()
    progress({"model_s": t4 - t3, "rss_peak_mb": peak_rss_mb()})
    events: list[SolutionEvent] = []

    def within_target(e: SolutionEvent) -> bool:
        return e.objective_units > 0 and (e.objective_units - e.bound_units) <= (
            gap_target * e.objective_units
        )

    result = model.solve(
        time_limit_s=time_limit_s,
        on_solution=events.append,
        should_stop=lambda: bool(events) and within_target(events[-1]),
    )
    t5 = time.perf_counter()
    if result.partition is None or violations(problem, result.partition):
        raise RuntimeError(f"{family} {n}: the solver returned no valid partition")
    gap_s = next((e.wall_seconds for e in events if within_target(e)), None)
    at_end = gap_s is None and result.gap is not None and result.gap <= gap_target
    return ScalingRow(
        family=family,
        layers=n,
        k0=resource_lower_bound(problem)[0],
        contexts=dp.num_contexts,
        pricing_s=t1 - t0,
        greedy_s=t2 - t1,
        dp_s=t3 - t2,
        model_s=t4 - t3,
        solve_s=t5 - t4,
        first_solution_s=events[0].wall_seconds if events else None,
        gap_s=result.wall_seconds if at_end else gap_s,
        gap_at_end_only=at_end,
        status=result.status.value
        + (" (hint)" if result.from_hint else "")
        + (f" (neighbourhood {result.neighbourhood})" if result.neighbourhood is not None else ""),
        final_gap=result.gap,
        dp_units=dp_units,
        objective_units=result.objective_units,
        bound_units=result.bound_units,
        rss_base_mb=rss_base,
        rss_peak_mb=peak_rss_mb(),
        isolated=isolated,
        measured_at=measured_at,
        load_1m=load_1m,
    )


def _now() -> str:
    return datetime.now().isoformat(timespec="minutes")


def _rss_mb(pid: int) -> float:
    """Current resident memory of process ``pid`` in MB (0 when it is gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


PHASE_PREFIX = "PHASE "


def measure_isolated(family: str, n: int, args: argparse.Namespace) -> ScalingRow:
    """:func:`measure` in a fresh ``python -m benchmarks.scaling --one`` process, killed if it
    runs past its time or past ``args.max_rss_mb`` of resident memory; a killed or failed
    process is reported with the phases it finished."""
    command = [
        sys.executable,
        "-m",
        "benchmarks.scaling",
        "--one",
        family,
        str(n),
        "--hw",
        args.hw,
        "--batch",
        str(args.batch),
        "--time-limit",
        str(args.time_limit),
    ]
    limit = 4 * args.time_limit + CHILD_GRACE_S
    started = time.perf_counter()
    when = {"measured_at": _now(), "load_1m": os.getloadavg()[0]}
    killed, peak = "", 0.0
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        with subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=err, text=True) as child:
            while child.poll() is None:
                rss = _rss_mb(child.pid)
                peak = max(peak, rss)
                if rss > args.max_rss_mb:
                    killed = f"killed at {rss:.0f} MB resident (limit {args.max_rss_mb:.0f} MB)"
                elif time.perf_counter() - started > limit:
                    killed = f"killed after {limit:.0f} s"
                if killed:
                    child.kill()
                    child.wait()
                    break
                time.sleep(0.2)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    if not killed and child.returncode == 0 and lines:
        return ScalingRow(**json.loads(lines[-1]))
    partial: dict = {"rss_peak_mb": peak, **when}
    for line in stdout.splitlines():
        if line.startswith(PHASE_PREFIX):
            partial.update(json.loads(line[len(PHASE_PREFIX) :]))
    partial["rss_peak_mb"] = max(peak, partial["rss_peak_mb"])
    if not killed:
        killed = f"exit {child.returncode}: " + (stderr.strip().splitlines() or ["no output"])[-1]
    return _failed(family, n, killed, **partial)


def _failed(family: str, n: int, error: str, **partial: float | int) -> ScalingRow:
    """A row for a run that did not finish, with the fields it measured before it stopped."""
    fields: dict = {
        "k0": 0,
        "contexts": 0,
        "pricing_s": 0.0,
        "greedy_s": 0.0,
        "dp_s": 0.0,
        "model_s": 0.0,
        "dp_units": 0,
        "rss_peak_mb": 0.0,
        "measured_at": "",
        "load_1m": -1.0,
    }
    fields.update(partial)
    return ScalingRow(
        family=family,
        layers=n,
        solve_s=0.0,
        first_solution_s=None,
        gap_s=None,
        gap_at_end_only=False,
        status="FAILED",
        final_gap=None,
        objective_units=None,
        bound_units=None,
        rss_base_mb=0.0,
        isolated=True,
        error=error,
        **fields,
    )


# -- reporting ----------------------------------------------------------------------------------
def _pct(gap: float | None) -> str:
    return "-" if gap is None else f"{100 * gap:.2f}%"


def _gain(r: ScalingRow) -> str:
    """How much shorter CP-SAT's batch time is than the DP split's."""
    if r.dp_units == 0 or r.objective_units is None:
        return "-"
    return f"{100 * (r.dp_units - r.objective_units) / r.dp_units:.1f}%"


def table(rows: Sequence[ScalingRow]) -> list[str]:
    """The per-size table."""
    body = []
    for r in rows:
        gap_total = fmt_s(r.gap_total_s, 1)
        if r.gap_at_end_only:
            gap_total = f"<= {gap_total}"

        def done(seconds: float, digits: int = 2) -> str:
            return fmt_s(seconds if seconds > 0 else None, digits)  # 0: the phase never ran

        body.append(
            [
                r.family,
                r.layers,
                f"{r.k0} / {r.contexts}" if r.contexts else "-",
                done(r.pricing_s),
                done(r.greedy_s),
                done(r.dp_s),
                done(r.model_s),
                done(r.first_feasible_s if r.dp_s > 0 else 0.0, 1),
                fmt_s(r.first_cpsat_total_s, 1),
                "-" if r.error else gap_total if r.gap_s is not None else "not reached",
                done(r.solve_s, 1),
                _pct(r.final_gap),
                done(r.rss_peak_mb, 0),
                "-" if r.error else f"{r.rss_peak_mb - r.rss_base_mb:.0f}",
                _gain(r),
                "-" if r.load_1m < 0 else f"{r.load_1m:.1f}",
                f"FAILED: {r.error}" if r.error else r.status,
            ]
        )
    return md_table(
        [
            "family",
            "layers",
            "k0 / K",
            "pricing s",
            "greedy s",
            "DP s",
            "model s",
            "first feasible s",
            "first CP-SAT s",
            "1% gap s",
            "solve s",
            "final gap",
            "peak MB",
            "MB above start",
            "CP-SAT vs DP",
            "load",
            "status",
        ],
        body,
    )


def _pricing(r: ScalingRow) -> float | None:
    return r.pricing_s or None


def _dp(r: ScalingRow) -> float | None:
    return r.first_feasible_s if r.dp_s > 0 else None


def _finished(get: Callable[[ScalingRow], float | None]) -> Callable[[ScalingRow], float | None]:
    """A metric that only a run that finished has (a stopped run's peak is a lower bound)."""
    return lambda r: None if r.error else get(r)


METRICS: dict[str, Callable[[ScalingRow], float | None]] = {
    "pricing": _pricing,
    "first feasible (DP)": _dp,
    "first CP-SAT solution": _finished(lambda r: r.first_cpsat_total_s),
    "1% gap": _finished(lambda r: r.gap_total_s),
    "peak memory above start": _finished(lambda r: r.rss_peak_mb - r.rss_base_mb),
}
"""What the growth exponents are fitted on; a metric a row lacks returns None."""

Fit = tuple[float, int, int] | None  # (exponent, smallest size, largest size)


def exponents(rows: Sequence[ScalingRow], smallest: int = 0) -> dict[str, dict[str, Fit]]:
    """``{family: {metric: (exponent, from, to) or None}}`` over the sizes ``>= smallest`` that
    have the metric."""
    out: dict[str, dict[str, Fit]] = {}
    for family in dict.fromkeys(r.family for r in rows):
        mine = [r for r in rows if r.family == family and r.layers >= smallest]
        out[family] = {}
        for name, get in METRICS.items():
            points = [(r.layers, v) for r in mine if (v := get(r)) is not None and v > 0]
            try:
                e = fit_exponent([p[0] for p in points], [p[1] for p in points])
            except ValueError:
                out[family][name] = None
                continue
            out[family][name] = (e, points[0][0], points[-1][0])
    return out


def _fit_cells(fit: Fit) -> list[str]:
    return ["-", "-"] if fit is None else [f"{fit[0]:.2f}", f"{fit[1]}-{fit[2]}"]


def exponent_table(rows: Sequence[ScalingRow]) -> list[str]:
    every, tail = exponents(rows), exponents(rows, ASYMPTOTIC_FROM)
    body = [
        [family, metric, *_fit_cells(every[family][metric]), *_fit_cells(tail[family][metric])]
        for family in every
        for metric in METRICS
    ]
    return md_table(
        [
            "family",
            "quantity",
            "exponent, all sizes",
            "layers",
            f"exponent, sizes >= {ASYMPTOTIC_FROM}",
            "layers",
        ],
        body,
    )


def _over(value: float, goal: float) -> str:
    """``", 1.3x the goal"`` when ``value`` passes ``goal``, else nothing."""
    return f", {value / goal:.1f}x the goal" if value > goal else ""


def goals(rows: Sequence[ScalingRow]) -> list[str]:
    """Goal lines of issue #8, with the margin when missed."""
    out = []
    big = [r for r in rows if r.layers == GOAL_LAYERS]
    for r in big:
        dp, first = r.first_feasible_s, r.first_cpsat_total_s
        first_ok = first is not None and first <= GOAL_FEASIBLE_S
        dp_text = (
            f"{verdict(dp <= GOAL_FEASIBLE_S)} for the DP split ({dp:.1f} s"
            f"{_over(dp, GOAL_FEASIBLE_S)})"
            if r.dp_s > 0
            else "MISSED for the DP split (not reached)"
        )
        cpsat_text = (
            f"({fmt_s(first, 1)} s{_over(first or 0.0, GOAL_FEASIBLE_S)})"
            if first is not None
            else "(not reached)"
        )
        stopped = f"; the run stopped: {r.error}" if r.error else ""
        out.append(
            f"- {r.family} {GOAL_LAYERS} layers, feasible within {GOAL_FEASIBLE_S:.0f} s: "
            f"{dp_text}, {verdict(first_ok)} for CP-SAT's first solution {cpsat_text}{stopped}"
        )
        peak = r.rss_peak_mb
        at_least = "at least " if r.error else ""
        out.append(
            f"- {r.family} {GOAL_LAYERS} layers, at most {GOAL_MEMORY_MB:.0f} MB: "
            f"{verdict(peak <= GOAL_MEMORY_MB and not r.error)} (peak {at_least}{peak:.0f} MB"
            f"{_over(peak, GOAL_MEMORY_MB)})"
        )
    if not big:
        out.append(f"- no {GOAL_LAYERS}-layer run in this table: the size goals are not checked")
    tail = exponents(rows, ASYMPTOTIC_FROM)
    for family, metrics in tail.items():
        for metric in ("first feasible (DP)", "first CP-SAT solution"):
            fit = metrics[metric]
            if fit is None:
                continue
            e, lo, hi = fit
            out.append(
                f"- {family}: time to the {metric} grows as n^{e:.2f} over {lo}-{hi} layers: "
                f"{verdict(e <= GOAL_EXPONENT + 0.05)} (goal about n^{GOAL_EXPONENT}"
                f"{'' if e <= GOAL_EXPONENT + 0.05 else f', missed by n^{e - GOAL_EXPONENT:.2f}'})"
            )
    return out


def section(rows: Sequence[ScalingRow], args: argparse.Namespace, head: Sequence[str]) -> list[str]:
    from partitioner.cpsat_model import EXACT_PAIRS_MAX

    mode = "each size in a fresh process" if not args.smoke else "in one process"
    return [
        *head,
        f"Load at the end: {load_text()}.",
        *([args.note] if args.note else []),
        "",
        f"Hardware {args.hw}, multi-context caps (60%), batch {args.batch}; CP-SAT with the "
        f"tool's settings (deterministic, 2 workers, seed 0), solve limit {args.time_limit:g} s "
        f"(deterministic budget; the wall-clock cap is 4x), stopped at the first solution within "
        f"{100 * GAP_TARGET:g}% of its bound; {mode}. K is the DP split's context count, k0 the "
        "resource lower bound. *first feasible* = pricing + greedy + DP (the DP split is valid); "
        "*first CP-SAT* adds the model build and CP-SAT's first solution; *1% gap* the first "
        "solution within 1% of the bound (`<=`: only the final bound closed it). *CP-SAT vs DP*: "
        "how much shorter the batch time is than the DP split's. Peak MB is the process's peak "
        "RSS (Python, ortools, numpy and networkx loaded: the *above start* column removes them); "
        "a process past the memory limit is stopped, and its row keeps the phases it finished. "
        "*load*: the 1-minute load average (2 CPUs) when the size started. *neighbourhood r* in "
        f"the status: above {EXACT_PAIRS_MAX:,} (layer, context) pairs the model allows each "
        "layer only its DP context +- r (a heuristic: one worker, no presolve, no bound, never "
        "OPTIMAL; its final gap is -).",
        "",
        *table(rows),
        "",
        "Growth exponents (least squares of log value on log layers):",
        "",
        *exponent_table(rows),
        "",
        "Goals (issue #8):",
        "",
        *goals(rows),
    ]


# -- command line ---------------------------------------------------------------------------------
def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scaling", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, in-process, no write")
    parser.add_argument("--families", default=",".join(FAMILIES), help="comma-separated")
    parser.add_argument("--sizes", help="comma-separated layer counts (default: 50..5000)")
    parser.add_argument("--hw", default="hailo8")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--time-limit", type=float, help="CP-SAT limit per solve, seconds")
    parser.add_argument("--in-process", action="store_true", help="no fresh process per size")
    parser.add_argument(
        "--max-rss-mb",
        type=float,
        default=MAX_CHILD_RSS_MB,
        help="stop a size's process past this resident memory (default %(default)g)",
    )
    parser.add_argument("--no-write", action="store_true", help="print, do not write RESULTS.md")
    parser.add_argument("--log", type=Path, help="append each row as JSON to this file")
    parser.add_argument("--note", help="a sentence added under the header (e.g. about reuse)")
    parser.add_argument("--reuse", type=Path, help="take rows already in this JSON-lines file")
    parser.add_argument("--one", nargs=2, metavar=("FAMILY", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.time_limit is None:
        args.time_limit = SMOKE_TIME_LIMIT_S if args.smoke else FULL_TIME_LIMIT_S
    return args


def run(args: argparse.Namespace) -> list[ScalingRow]:
    """Measure every (family, size) of ``args``, reusing logged rows; returns the rows."""
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else None
    sizes = sizes or list(SMOKE_SIZES if args.smoke else FULL_SIZES)
    families = [f for f in args.families.split(",") if f]
    known: dict[tuple[str, int], ScalingRow] = {}
    if args.reuse and args.reuse.is_file():
        for line in args.reuse.read_text().splitlines():
            row = ScalingRow(**json.loads(line))
            known[(row.family, row.layers)] = row  # failed rows too: delete a line to rerun it
    rows = []
    for n in sizes:
        for family in families:
            row = known.get((family, n))
            if row is None:
                in_process = args.smoke or args.in_process
                if in_process:
                    row = measure(
                        family, n, hw_name=args.hw, batch=args.batch, time_limit_s=args.time_limit
                    )
                else:
                    row = measure_isolated(family, n, args)
                if args.log:
                    with args.log.open("a") as f:
                        f.write(json.dumps(asdict(row)) + "\n")
            print(f"{family:12s} {n:5d}: " + " | ".join(table([row])[2].split(" | ")[2:]))
            rows.append(row)
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.one:
        family, n = args.one[0], int(args.one[1])
        row = measure(
            family,
            n,
            hw_name=args.hw,
            batch=args.batch,
            time_limit_s=args.time_limit,
            isolated=True,
            progress=lambda done: print(PHASE_PREFIX + json.dumps(done), flush=True),
        )
        print(json.dumps(asdict(row)))
        return 0
    head = header("python -m benchmarks.scaling" + (" --smoke" if args.smoke else ""))
    rows = run(args)
    lines = section(rows, args, head)
    print("\n".join(lines))
    if not args.smoke and not args.no_write:
        write_section(SECTION, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
