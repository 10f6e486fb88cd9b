"""Where a search's gap is: the bound's looseness or the best partition's distance from optimal.

``python -m benchmarks.gap_split RUN [RUN ...]`` (a run is ``MODEL:HW:BATCH``, e.g.
``yolov8m:hailo8l:8``) runs, per run and on the same priced problem,

1. the search at the default budget (``ctxfit compile``'s, wall clock on): its best ``T(B)``
   and its proven bound;
2. a longer search (``--long``, 60 s by default): a better best, if there is one;
3. :func:`~partitioner.column_bound.generation_bound` offline (``--generation``, 180 s by
   default), started from both searches' best partitions and the DP split: the nearly tight
   set-partitioning bound over real contexts, over every count of contexts the search covers.

With ``P`` the better best and ``L`` the higher bound of the three, the default run's gap
``1 - bound / best`` splits into the primal part ``1 - P / best`` (how far the default run's
partition is from the best known), the bound part ``(L - bound) / best`` (how much its bound
is below the best proven one) and what is left, ``(P - L) / best``, which neither side is known
to owe. Prints a markdown table; ``--dump PATH`` appends every run as JSON lines.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from benchmarks.common import command_line, header, md_table

DEFAULT_RUNS = (
    "yolov11n:hailo8l:8",
    "yolov5m_seg:hailo8l:8",
    "ssd_mobilenet_v2:hailo8l:1",
    "yolov11x:hailo8:8",
    "yolov9c:hailo8l:1",
    "yolov8m:hailo8l:8",
    "yolov7:hailo8l:8",
    "resnet_v1_50:hailo8l:8",
)
DEFAULT_TIMEOUT_S = 10.0  # ctxfit compile's default budget


@dataclass(frozen=True, kw_only=True)
class GapSplit:
    """One run's gap, split. Times of ``T(B)`` in the problem's time units."""

    model: str
    hardware: str
    batch: int
    best: int
    bound: int | None
    search_s: float
    long_best: int
    long_bound: int | None
    long_s: float
    generation: int | None
    generation_converged: bool
    generation_rounds: int
    generation_s: float

    @property
    def primal(self) -> int:
        """The best ``T(B)`` known (either search's)."""
        return min(self.best, self.long_best)

    @property
    def proven(self) -> int:
        """The best bound known (any of the three)."""
        values = [v for v in (self.bound, self.long_bound, self.generation) if v is not None]
        return min(max(values, default=0), self.primal)

    @property
    def gap(self) -> float:
        return 1 - (self.bound or 0) / self.best

    @property
    def primal_part(self) -> float:
        return 1 - self.primal / self.best

    @property
    def bound_part(self) -> float:
        return (self.proven - (self.bound or 0)) / self.best

    @property
    def unknown_part(self) -> float:
        return (self.primal - self.proven) / self.best


def parse_run(text: str) -> tuple[str, str, int]:
    """``"yolov8m:hailo8l:8"`` -> ``("yolov8m", "hailo8l", 8)``."""
    model, hw, batch = text.split(":")
    return model, hw, int(batch)


def measure(
    model: str, hw_name: str, batch: int, *, timeout_s: float, long_s: float, generation_s: float
) -> GapSplit:
    """Both searches and the generation bound for one run (module docstring)."""
    from cost_model.hardware import preset
    from partitioner.column_bound import generation_bound
    from partitioner.models import ModelRequest, load_network
    from partitioner.search import SearchOptions, resource_lower_bound, search
    from partitioner.splits import dp_split

    net = load_network(ModelRequest(spec=model))
    hw = preset(hw_name)

    def run(budget: float):
        options = SearchOptions(batch=batch, timeout_s=budget, wall_clock=True)
        started = time.perf_counter()
        found = search(net, hw, options)
        assert found.result is not None and found.problem is not None, "a multi-context run"
        return found, time.perf_counter() - started

    short, short_s = run(timeout_s)
    long, long_wall = run(long_s)
    problem = short.problem
    unit = problem.TIME_UNIT_S

    def units(seconds: float | None) -> int | None:
        return None if seconds is None else round(seconds / unit)

    partitions = [short.result.partition, long.result.partition, dp_split(problem)]
    k0 = resource_lower_bound(problem)[0]
    generated = generation_bound(
        problem,
        partitions=tuple(p for p in partitions if p is not None),
        first=max(2, k0),
        time_limit_s=generation_s,
    )
    by_count = None if generated is None else generated.by_count
    return GapSplit(
        model=model,
        hardware=hw_name,
        batch=batch,
        best=short.result.objective_units,
        bound=units(short.bound_s),
        search_s=short_s,
        long_best=long.result.objective_units,
        long_bound=units(long.bound_s),
        long_s=long_wall,
        generation=None if by_count is None else by_count.units[0],
        generation_converged=generated is not None and generated.converged,
        generation_rounds=0 if generated is None else generated.rounds,
        generation_s=0.0 if generated is None else generated.seconds,
    )


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def table(rows: Sequence[GapSplit]) -> list[str]:
    """The markdown table of the runs: gaps relative to the default run's best."""
    return md_table(
        (
            "run",
            "gap",
            "primal part",
            "bound part",
            "unknown",
            "long best",
            "long gap",
            "generation bound",
            "gen. rounds, s",
        ),
        [
            (
                f"{r.model} {r.hardware} b{r.batch}",
                _pct(r.gap),
                _pct(r.primal_part),
                _pct(r.bound_part),
                _pct(r.unknown_part),
                _pct(r.long_best / r.best - 1),
                _pct(None if r.long_bound is None else 1 - r.long_bound / r.long_best),
                _pct(None if r.generation is None else 1 - r.generation / r.primal)
                + (" (conv.)" if r.generation_converged else ""),
                f"{r.generation_rounds}, {r.generation_s:.0f}",
            )
            for r in rows
        ],
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gap_split", description=__doc__)
    parser.add_argument("runs", nargs="*", default=list(DEFAULT_RUNS), help="MODEL:HW:BATCH")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S)
    parser.add_argument("--long", type=float, default=60.0, help="the longer search's budget")
    parser.add_argument("--generation", type=float, default=180.0, help="generation_bound limit")
    parser.add_argument("--dump", type=Path, help="append every run as JSON to this file")
    args = parser.parse_args(argv)
    print("\n".join(header(command_line("python -m benchmarks.gap_split", argv))), flush=True)
    rows = []
    for text in args.runs:
        model, hw, batch = parse_run(text)
        row = measure(
            model,
            hw,
            batch,
            timeout_s=args.timeout,
            long_s=args.long,
            generation_s=args.generation,
        )
        rows.append(row)
        print(f"{text}: {json.dumps(asdict(row))}", flush=True)
        if args.dump is not None:
            with args.dump.open("a") as f:
                f.write(json.dumps(asdict(row)) + "\n")
    print("\n".join(table(rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
