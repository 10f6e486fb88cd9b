"""Quality: CP-SAT against the greedy and DP baselines, and its proven bound, on the zoo.

``python -m benchmarks.quality`` compiles every zoo model on Hailo-8 and Hailo-8L, optimising
for batch 1 and for batch 8, exactly as ``ctxfit compile MODEL --hw HW --optimize-for-batch B``
does (:func:`partitioner.compile.compile_network`: search, then the independent validator), and
writes the "Quality" section of ``benchmarks/RESULTS.md``. Per run: the number of contexts, FPS
of CP-SAT's partition (its objective ``T(B)`` as ``B / T``), of the greedy and DP splits on the
same problem, the FPS the CP-SAT bound allows (``B / bound``, an upper bound on FPS for at most
``bound K`` contexts), the gap and the search's wall time. A single-context answer has no
multi-context problem, so no baseline and a gap of 0.

Every run is at the compiler's default caps (75% single-context, 60% multi-context; ``--caps
default``, the only choice since the calibration fits each Model Zoo row under its own flow:
``benchmarks.fidelity``).

``--dump PATH`` saves every run as JSON lines, with its caps (``--from PATH`` rebuilds this
section from them); ``--smoke`` compiles one small model once with a short budget and writes
nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from benchmarks.common import command_line, header, md_table, verdict, write_section
from cost_model.caps import (
    MULTI_CONTEXT_CAPS,
    SINGLE_CONTEXT_CAPS,
    ResourceCaps,
)
from partitioner.graph import Network

SECTION = "Quality"
HARDWARE = ("hailo8", "hailo8l")
BATCHES = (1, 8)
FULL_TIMEOUT_S = 10.0  # ctxfit compile's default budget
SMOKE_TIMEOUT_S = 2.0
SMOKE_MODELS = ("vit_tiny",)
SMOKE_HARDWARE = ("hailo8",)
SMOKE_BATCHES = (8,)
GOAL_GAP = 0.01
GOAL_SECONDS = 10.0

CAPS: dict[str, tuple[ResourceCaps, ResourceCaps]] = {
    "default": (SINGLE_CONTEXT_CAPS, MULTI_CONTEXT_CAPS),
}
"""The ``--caps`` choices: (single-context caps, multi-context caps) of the search."""
CAPS_NAMES = {
    "default": "`SINGLE_CONTEXT_CAPS` / `MULTI_CONTEXT_CAPS`",
}
DEFAULT_CAPS = "default"


def caps_percent(caps: ResourceCaps) -> str:
    """``"60%"`` for uniform caps, else each cap.

    >>> caps_percent(MULTI_CONTEXT_CAPS), caps_percent(MULTI_CONTEXT_CAPS.with_cap("apu", 1.2))
    ('60%', 'control 60%, compute 60%, memory 60%, apu 120%, input_aligner 60%')
    """
    values = asdict(caps)
    if len(set(values.values())) == 1:
        return f"{100 * caps.control:g}%"
    return ", ".join(f"{k} {100 * v:g}%" for k, v in values.items())


def caps_text(name: str) -> str:
    """What ``--caps name`` means, for a results section.

    >>> caps_text("default").split(": ")[1]
    '75% single-context, 60% multi-context'
    """
    single, multi = CAPS[name]
    return (
        f"{CAPS_NAMES[name]} of `cost_model/caps.py`: {caps_percent(single)} single-context, "
        f"{caps_percent(multi)} multi-context"
    )


def caps_flag(name: str) -> str:
    """The ``ctxfit compile`` option giving these caps (``""`` for the defaults or none).

    >>> caps_flag("default")
    ''
    """
    single, multi = CAPS[name]
    if name == "default" or single != multi or len(set(asdict(single).values())) != 1:
        return ""
    return f" --max-utilization {single.control:g}"


@dataclass(frozen=True, kw_only=True)
class QualityRow:
    """One compile: a model on a part, optimised for one batch. FPS are at that batch."""

    model: str
    hardware: str
    batch: int
    layers: int
    contexts: int
    single_context: bool
    status: str
    cpsat_fps: float
    greedy_fps: float | None
    dp_fps: float | None
    bound_fps: float | None
    bound_contexts: int | None
    gap: float | None
    search_s: float
    validated: bool
    fps_by_batch: dict[str, float] = field(default_factory=dict)
    error: str = ""
    caps: str = DEFAULT_CAPS  # a key of CAPS; dumps written before it existed used the defaults
    bound_all_contexts: bool = False  # the bound covers any number of contexts (level relaxation)
    stop_reason: str = ""  # what ended the search (partitioner.search.StopReason)

    @property
    def baseline_fps(self) -> float | None:
        """The better baseline."""
        values = [v for v in (self.greedy_fps, self.dp_fps) if v is not None]
        return max(values) if values else None


def _bound_k(r: QualityRow) -> str:
    """What the bound covers: at most K contexts, ``any`` number, or ``-`` (no bound)."""
    if r.bound_all_contexts and r.bound_fps is not None:
        return "any"
    return "-" if r.bound_contexts is None else str(r.bound_contexts)


def _fps(batch: int, units: int | None) -> float | None:
    from partitioner.problem import TIME_UNIT_S

    return None if not units else batch / (units * TIME_UNIT_S)


def compile_row(
    net: Network, hw_name: str, batch: int, timeout_s: float, caps: str = DEFAULT_CAPS
) -> QualityRow:
    """Compile ``net`` on ``hw_name`` for ``batch`` at ``CAPS[caps]`` and measure the baselines
    on its problem."""
    from cost_model.hardware import preset
    from partitioner.baselines import dp_partition, greedy_partition
    from partitioner.compile import compile_network
    from partitioner.problem import batch_time_units
    from partitioner.search import SearchOptions

    hw = preset(hw_name)
    single_caps, multi_caps = CAPS[caps]
    options = SearchOptions(
        batch=batch,
        timeout_s=timeout_s,
        single_caps=single_caps,
        multi_caps=multi_caps,
        wall_clock=True,  # as ctxfit compile --timeout
    )
    report = compile_network(net, hw, options, batches=BATCHES)
    s = report.search
    greedy = dp = None
    if not s.single_context and s.problem is not None:
        g, d = greedy_partition(s.problem), dp_partition(s.problem)
        greedy = _fps(batch, batch_time_units(s.problem, g) if g else None)
        dp = _fps(batch, batch_time_units(s.problem, d) if d else None)
    return QualityRow(
        model=net.name,
        hardware=hw_name,
        batch=batch,
        layers=len(net),
        contexts=report.num_contexts,
        single_context=s.single_context,
        status=s.status,
        cpsat_fps=batch / s.objective_s,
        greedy_fps=greedy,
        dp_fps=dp,
        bound_fps=None if not s.bound_s else batch / s.bound_s,
        bound_contexts=s.bound_contexts,
        gap=s.gap,
        search_s=s.wall_seconds,
        validated=report.validation.valid,
        fps_by_batch={str(k): v for k, v in report.fps.items()},
        caps=caps,
        bound_all_contexts=s.bound_all_contexts,
        stop_reason=s.stop_reason.value,
    )


def _failed(model: str, hw: str, batch: int, error: str, caps: str) -> QualityRow:
    return QualityRow(
        model=model,
        hardware=hw,
        batch=batch,
        layers=0,
        contexts=0,
        single_context=False,
        status="FAILED",
        cpsat_fps=0.0,
        greedy_fps=None,
        dp_fps=None,
        bound_fps=None,
        bound_contexts=None,
        gap=None,
        search_s=0.0,
        validated=False,
        error=error,
        caps=caps,
    )


def run(
    models: Sequence[str],
    hardware: Sequence[str],
    batches: Sequence[int],
    timeout_s: float,
    dump: Path | None = None,
    caps: str = DEFAULT_CAPS,
) -> list[QualityRow]:
    """Import each model once and compile it for every part and batch at ``CAPS[caps]``; errors
    become rows."""
    from cost_model.errors import CtxfitError
    from partitioner.models import ModelRequest, load_network

    rows = []
    for name in models:
        try:
            net = load_network(ModelRequest(spec=name))
        except CtxfitError as err:
            rows += [
                _failed(name, hw, b, f"import: {err}", caps) for hw in hardware for b in batches
            ]
            continue
        for hw in hardware:
            for b in batches:
                try:
                    row = compile_row(net, hw, b, timeout_s, caps)
                except CtxfitError as err:
                    row = _failed(name, hw, b, str(err), caps)
                rows.append(row)
                print(_progress(row), flush=True)
                if dump is not None:
                    with dump.open("a") as f:
                        f.write(json.dumps(asdict(row)) + "\n")
    return rows


def _progress(r: QualityRow) -> str:
    if r.error:
        return f"{r.model:18s} {r.hardware:8s} b{r.batch} {r.caps} caps: FAILED {r.error}"
    return (
        f"{r.model:18s} {r.hardware:8s} b{r.batch} {r.caps} caps: {r.contexts} ctx, "
        f"{r.cpsat_fps:.1f} FPS, gap {_pct(r.gap)} (bound K {_bound_k(r)}), {r.search_s:.1f} s, "
        f"{r.status}, stopped by {r.stop_reason or '-'}"
    )


# -- reporting ------------------------------------------------------------------------------------
def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def _f(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def table(rows: Sequence[QualityRow]) -> list[str]:
    """The runs as a markdown table, with a caps column when they used more than one."""
    mixed = len({r.caps for r in rows}) > 1
    body = []
    for r in rows:
        key = [r.model, r.hardware, *([r.caps] if mixed else []), r.batch]
        if r.error:
            body.append([*key, *["-"] * 9, f"FAILED: {r.error}"])
            continue
        base = r.baseline_fps
        gain = "-" if base is None else f"{100 * (r.cpsat_fps / base - 1):+.1f}%"
        body.append(
            [
                *key,
                r.contexts,
                _f(r.cpsat_fps),
                _f(r.greedy_fps),
                _f(r.dp_fps),
                gain,
                _f(r.bound_fps),
                _bound_k(r),
                _pct(r.gap),
                f"{r.search_s:.1f}",
                r.status + ("" if r.validated else ", NOT VALIDATED"),
            ]
        )
    return md_table(
        [
            "model",
            "hw",
            *(["caps"] if mixed else []),
            "B",
            "contexts",
            "CP-SAT FPS",
            "greedy FPS",
            "DP FPS",
            "CP-SAT vs best baseline",
            "bound FPS",
            "bound K",
            "gap",
            "search s",
            "status",
        ],
        body,
    )


def scope_line(within: Sequence[QualityRow]) -> str:
    """What the bounds of the runs within the gap goal cover: one context (proven, nothing to
    bound), every count of contexts, or only the counts the search tried (its status may still
    be OPTIMAL when the search ended by its own rule; more contexts were not looked at)."""
    single = sum(1 for r in within if r.contexts == 1)
    every = sum(1 for r in within if r.contexts > 1 and r.bound_all_contexts)
    tried = len(within) - single - every
    return (
        f"  - of these, {single} are one context, {every} multi-context with a bound over any "
        f"number of contexts, {tried} with a bound over only the counts tried"
    )


def goal_lines(rows: Sequence[QualityRow]) -> list[str]:
    ok = [r for r in rows if not r.error]
    wide = [r for r in ok if r.gap is None or r.gap > GOAL_GAP]
    slow = [r for r in ok if r.search_s > GOAL_SECONDS]
    worse = [r for r in ok if r.baseline_fps is not None and r.cpsat_fps < r.baseline_fps * 0.999]
    invalid = [r for r in ok if not r.validated]

    def names(items: Sequence[QualityRow], what: str) -> str:
        return ", ".join(f"{r.model}/{r.hardware}/b{r.batch} {what(r)}" for r in items)

    out = [
        f"- gap of {100 * GOAL_GAP:g}% or less: {verdict(not wide)}, "
        f"{len(ok) - len(wide)}/{len(ok)} runs"
        + (f"; wider: {names(wide, lambda r: _pct(r.gap))}" if wide else ""),
        scope_line([r for r in ok if r not in wide]),
        f"- search within {GOAL_SECONDS:g} s (import excluded, see Speed): {verdict(not slow)}, "
        f"{len(ok) - len(slow)}/{len(ok)} runs"
        + (f"; slower: {names(slow, lambda r: f'{r.search_s:.1f} s')}" if slow else ""),
        f"- CP-SAT never worse than the better baseline: {verdict(not worse)}"
        + (f"; worse: {names(worse, lambda r: _f(r.cpsat_fps))}" if worse else ""),
        f"- every partition accepted by the independent validator: {verdict(not invalid)}",
    ]
    failed = [r for r in rows if r.error]
    if failed:
        out.append(f"- {len(failed)} run(s) failed: {names(failed, lambda r: r.error)}")
    return out


def section(rows: Sequence[QualityRow], args: argparse.Namespace, head: Sequence[str]) -> list[str]:
    used = sorted({r.caps for r in rows}) or [args.caps or DEFAULT_CAPS]
    flag = caps_flag(used[0]) if len(used) == 1 else ""
    caps = "; ".join(f"`--caps {name}`: {caps_text(name)}" for name in used)
    multi = " or ".join(caps_percent(CAPS[name][1]) for name in used)
    return [
        *head,
        *([args.note] if args.note else []),
        "",
        f"`ctxfit compile MODEL --hw HW --optimize-for-batch B{flag}` with a {args.timeout:g} s "
        "search budget, a wall-clock promise as in `ctxfit compile` (default options otherwise: "
        "2 workers, seed 0; a run stopped by the wall clock depends on the load). "
        f"Caps ({caps}). FPS at batch B. "
        "*bound FPS* is the most FPS any partition into at most *bound K* contexts can reach "
        "(the higher of CP-SAT's proven bound on T(B) and the relaxations', the level one's and "
        "the whole contexts', whose *bound K* is *any*: every number of contexts); "
        "*gap* = (objective - bound) / objective. "
        "Greedy and DP "
        f"are evaluated on the same multi-context problem ({multi} caps); a single-context "
        "answer has neither. *search s* is the search's own wall time.",
        "",
        *table(rows),
        "",
        "Goals (issue #8):",
        "",
        *goal_lines(rows),
    ]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.quality", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="one small model, no write")
    parser.add_argument("--models", help="comma-separated zoo names (default: the whole zoo)")
    parser.add_argument("--hw", help="comma-separated parts (default: hailo8,hailo8l)")
    parser.add_argument("--batches", help="comma-separated batch sizes (default: 1,8)")
    parser.add_argument("--timeout", type=float, help="search budget per compile, seconds")
    parser.add_argument(
        "--caps",
        choices=tuple(CAPS),
        help="caps of both flows: default (the compiler's, 75%%/60%%; the only choice); with "
        "--from, keep only the runs at these caps",
    )
    parser.add_argument("--dump", type=Path, help="append every run as JSON to this file")
    parser.add_argument("--no-write", action="store_true", help="print, do not write RESULTS.md")
    parser.add_argument("--from", dest="source", type=Path, help="rebuild the table from a dump")
    parser.add_argument("--note", help="a sentence added under the header (e.g. about --from)")
    args = parser.parse_args(argv)
    if args.timeout is None:
        args.timeout = SMOKE_TIMEOUT_S if args.smoke else FULL_TIMEOUT_S
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    head = header(command_line("python -m benchmarks.quality", argv))
    from partitioner.zoo import zoo_names

    def pick(given: str | None, smoke: Sequence, full: Sequence) -> list:
        return given.split(",") if given else list(smoke if args.smoke else full)

    models = pick(args.models, SMOKE_MODELS, zoo_names())
    hardware = pick(args.hw, SMOKE_HARDWARE, HARDWARE)
    batches = [int(b) for b in pick(args.batches, SMOKE_BATCHES, BATCHES)]
    t0 = time.perf_counter()
    if args.source is not None:
        rows = [
            QualityRow(**json.loads(line)) for line in args.source.read_text().splitlines() if line
        ]
        if args.caps:
            rows = [r for r in rows if r.caps == args.caps]
    else:
        rows = run(models, hardware, batches, args.timeout, args.dump, args.caps or DEFAULT_CAPS)
    lines = section(rows, args, head)
    if args.source is None:
        lines += ["", f"Wall time of the whole benchmark: {time.perf_counter() - t0:.0f} s."]
    print("\n".join(lines))
    if not args.smoke and not args.no_write:
        write_section(SECTION, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
