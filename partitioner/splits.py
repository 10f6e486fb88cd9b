"""Contiguous splits of the topological order in time linear in the layers: greedy and DP.

The same two baselines as :mod:`partitioner.baselines` (first fit at each target level, and the
optimal contiguous split by dynamic programming), with the same answers, but every chunk
``[start, end]`` is evaluated only up to the last end whose layers still fit one context at the
lowest level. Demands are never negative, so a chunk that breaks a cap at level 0 breaks it for
every longer end, and at every level: the chunks left out are exactly those the baselines price
as invalid. With at most ``w`` layers in one context that is ``O(n x w)`` chunk evaluations
instead of ``O(n^2)`` (a 5,000-layer chain: ``w`` ~ 150, 30x fewer), and ``O(n x w)`` memory.

>>> from partitioner.problem import chain_problem
>>> p = chain_problem(lcus=(30, 40, 40, 30), limit=77)
>>> greedy_split(p).context_of, dp_split(p).context_of
((0, 0, 1, 1), (0, 0, 1, 1))
>>> dp_split(p, max_contexts=1) is None          # 140 LCUs never fit one context of 77
True
>>> last_fitting_end(p)                           # [0, 1], [1, 1], [2, 3], [3, 3]
(1, 1, 3, 3)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from functools import lru_cache

import numpy as np

from partitioner.problem import (
    Partition,
    PartitionProblem,
    batch_time_units,
    make_partition,
)

_UNREACHABLE = 2**40  # demand of a layer at a level it cannot reach: never fits any limit


def last_fitting_end(problem: PartitionProblem) -> tuple[int, ...]:
    """For each start, the last end whose chunk ``[start, end]`` fits one context at level 0
    (``start`` itself when not even the one layer fits): every longer chunk breaks a cap."""
    base = np.asarray(problem.demand[0], dtype=np.int64).reshape(problem.num_layers, -1)
    prefix = np.zeros((problem.num_layers + 1, base.shape[1]), dtype=np.int64)
    np.cumsum(base, axis=0, out=prefix[1:])
    ends = np.full(problem.num_layers, problem.num_layers - 1, dtype=np.int64)
    for r, limit in enumerate(problem.limits):
        column = prefix[:, r]
        ends = np.minimum(ends, np.searchsorted(column, column[:-1] + limit, side="right") - 2)
    return tuple(max(s, int(e)) for s, e in enumerate(ends))


class WindowScanner:
    """Every chunk starting at a layer, up to its last fitting end (:func:`last_fitting_end`, or
    the ends given as ``last_end``).

    Resource sums come from prefix sums over the order; edge layers and the PCIe load are
    updated one layer at a time as the end moves.
    """

    def __init__(self, problem: PartitionProblem, *, last_end: Sequence[int] | None = None) -> None:
        self.problem = problem
        n, levels, res = problem.num_layers, problem.num_levels, len(problem.resource_names)
        demand = np.full((levels, n, res), _UNREACHABLE, dtype=np.int64)
        for lv in range(levels):
            for i, d in enumerate(problem.demand[lv]):
                if d is not None:
                    demand[lv, i] = d
        self._prefix = np.zeros((levels, n + 1, res), dtype=np.int64)
        np.cumsum(demand, axis=1, out=self._prefix[:, 1:, :])
        self._config = np.zeros((levels, n + 1), dtype=np.int64)
        np.cumsum(np.asarray(problem.config_bytes, dtype=np.int64), axis=1, out=self._config[:, 1:])
        self._frame = np.asarray(problem.frame_units, dtype=np.int64)[:, None]
        self._limits = np.asarray(problem.limits, dtype=np.int64)
        self._last_reader = [max(c) if c else -1 for c in problem.consumers]
        self._finishing: list[list[int]] = [[] for _ in range(n)]  # u whose last reader is e
        for u, last in enumerate(self._last_reader):
            if last >= 0 and not problem.is_output[u]:
                self._finishing[last].append(u)
        self.last_end = tuple(last_end) if last_end is not None else last_fitting_end(problem)

    def best_levels(self, start: int) -> np.ndarray:
        """Best level of every chunk ``[start, e]`` (index ``e - start``) up to the last fitting
        end, -1 if none fits."""
        stop = self.last_end[start] + 1
        sums = self._prefix[:, start + 1 : stop + 1, :] - self._prefix[:, start : start + 1, :]
        fit = (sums <= self._limits).all(axis=2)  # (levels, ends); monotone down the levels
        return fit.sum(axis=0).astype(np.int64) - 1

    def levels_and_edges(self, start: int) -> Iterator[tuple[int, int, int]]:
        """``(end, best level or -1, edge layers)`` of the chunks from ``start``."""
        levels = self.best_levels(start)
        for e, edge_layers, _, _ in self._boundaries(start):
            yield e, int(levels[e - start]), edge_layers

    def _boundaries(self, start: int) -> Iterator[tuple[int, int, int, int]]:
        """``(end, edge layers, PCIe load in, PCIe load out)`` of the chunks from ``start``."""
        p = self.problem
        load, read, input_load = p.output_load, p.read_load, p.input_load
        producers, inputs_read, is_output = p.producers, p.inputs_read, p.is_output
        ins: set[int] = set()
        inputs: set[int] = set()
        in_bytes = out_bytes = outs = 0
        for e in range(start, self.last_end[start] + 1):
            for u in producers[e]:
                if u < start and u not in ins:
                    ins.add(u)
                    in_bytes += read[u]
            for g in inputs_read[e]:
                if g not in inputs:
                    inputs.add(g)
                    in_bytes += input_load[g]
            if is_output[e] or self._last_reader[e] > e:
                outs += 1
                out_bytes += load[e]
            for u in self._finishing[e]:
                if u >= start:  # its last reader joined the chunk: it no longer leaves
                    outs -= 1
                    out_bytes -= load[u]
            yield e, len(ins) + outs + len(inputs), in_bytes, out_bytes

    def costs(self, start: int) -> tuple[np.ndarray, np.ndarray]:
        """Cost of every chunk ``[start, e]`` up to the last fitting end as the only context
        (``B x t`` at its best level) and as one of several
        (:func:`~partitioner.problem.level_cost` at its cheapest level, plus the fixed switch
        overhead); ``inf`` where the chunk is invalid."""
        p = self.problem
        stop = self.last_end[start] + 1
        walk = np.array(list(self._boundaries(start)), dtype=np.int64).reshape(-1, 4)
        best = self.best_levels(start)
        best[walk[:, 1] > p.edge_layer_limit] = -1
        rate = p.link_bytes_per_unit
        load = np.maximum(walk[:, 2], walk[:, 3])  # full duplex: the slower direction
        pcie = -(-load * rate.denominator // rate.numerator)
        t = np.maximum(self._frame, pcie[None, :])  # (levels, ends)
        fill = p.fill_fraction
        fill_units = -(-t * fill.numerator // fill.denominator)
        config = self._config[:, start + 1 : stop + 1] - self._config[:, start : start + 1]
        multi = p.batch * t + fill_units + config * (rate.denominator / rate.numerator)
        levels = np.arange(p.num_levels)[:, None]
        multi = np.where(levels <= best[None, :], multi, np.inf).min(axis=0)
        multi = multi + p.switch_fixed_units
        single = np.where(best >= 0, p.batch * t[np.maximum(best, 0), np.arange(len(walk))], np.inf)
        return single.astype(np.float64), multi


def from_cuts(problem: PartitionProblem, starts: list[int]) -> Partition | None:
    """The partition whose contexts begin at the given layer indices (ascending, from 0)."""
    context_of = []
    for c, (s, e) in enumerate(zip(starts, [*starts[1:], problem.num_layers], strict=True)):
        context_of.extend([c] * (e - s))
    return make_partition(problem, context_of)


def best_greedy(
    problem: PartitionProblem, starts_at: Callable[[int], list[int] | None]
) -> Partition | None:
    """The best batch time over the first-fit splits at each target level (``starts_at(L)``:
    the chunk starts of the split at target level ``L``, or None); the one loop of both
    :func:`greedy_split` and :func:`partitioner.baselines.greedy_partition`."""
    best: Partition | None = None
    best_units = 0
    seen: set[tuple[int, ...]] = set()
    for target in range(problem.num_levels):
        starts = starts_at(target)
        if starts is None or tuple(starts) in seen:
            continue
        seen.add(tuple(starts))
        candidate = from_cuts(problem, starts)
        if candidate is None:
            continue
        units = batch_time_units(problem, candidate)
        if best is None or units < best_units:
            best, best_units = candidate, units
    return best


@lru_cache(maxsize=4)  # the search asks again for every K it tries
def greedy_split(problem: PartitionProblem) -> Partition | None:
    """First fit in topological order at each target level; the best batch time wins (the
    answer of :func:`partitioner.baselines.greedy_partition`).

    At target level ``L`` a context keeps taking the next layer while the run fits the caps at
    ``min(L, the slowest layer's highest level)`` and has at most ``edge_layer_limit`` edge
    layers. ``None`` when no target gives a valid split.
    """
    scanner = WindowScanner(problem)
    return best_greedy(problem, lambda target: _greedy_starts(problem, scanner, target))


def _greedy_starts(
    problem: PartitionProblem, scanner: WindowScanner, target: int
) -> list[int] | None:
    starts = [0]
    while True:
        start, last_ok, slowest = starts[-1], None, problem.num_levels
        for end, level, edge_layers in scanner.levels_and_edges(start):
            slowest = min(slowest, problem.max_level[end])
            if level < min(target, slowest) or edge_layers > problem.edge_layer_limit:
                break
            last_ok = end
        if last_ok is None:
            return None
        if last_ok == problem.num_layers - 1:
            return starts
        starts.append(last_ok + 1)


def dp_split(problem: PartitionProblem, *, max_contexts: int | None = None) -> Partition | None:
    """The contiguous split of the topological order with the least ``T(B)``, into at most
    ``max_contexts`` contexts when given (the answer of
    :func:`partitioner.baselines.dp_partition`); ``None`` when no contiguous split is valid.

    For K > 1, ``T`` is a sum of per-chunk costs plus the weight reload (a constant), exact to
    one time unit (the reload is rounded once); the single context is compared separately.
    """
    return best_contiguous(problem, _chunk_costs(problem), max_contexts)


def best_contiguous(
    problem: PartitionProblem,
    rows: Sequence[tuple[np.ndarray, np.ndarray]],
    max_contexts: int | None,
) -> Partition | None:
    """The DP over chunk costs (``rows[start] = (single, multi)`` costs of the chunks from
    ``start``, as far as they are priced): the one DP of both :func:`dp_split` and
    :func:`partitioner.baselines.dp_partition`, which differ in how far they price chunks."""
    n = problem.num_layers
    single_row = rows[0][0]
    single = single_row[n - 1] if len(single_row) == n else np.inf
    best = (single, [0]) if np.isfinite(single) else (np.inf, None)
    if max_contexts is None or max_contexts >= 2:
        k_rows = 1 if max_contexts is None else min(max_contexts, n)
        multi = _multi_split(
            problem, [r[1] for r in rows], rows=k_rows, counted=max_contexts is not None
        )
        if multi is not None and multi[0] < best[0]:
            best = multi
    return None if best[1] is None else from_cuts(problem, best[1])


def least_multi_cost(
    problem: PartitionProblem, rows: Sequence[tuple[np.ndarray, np.ndarray]]
) -> float | None:
    """The least K > 1 cost of any contiguous split over the chunk costs ``rows``."""
    multi = _multi_split(problem, [r[1] for r in rows], rows=1, counted=False)
    return None if multi is None else multi[0]


def contiguous_multi_cost(problem: PartitionProblem) -> float | None:
    """The least multi-context ``T(B)`` over every contiguous split of the order into one or
    more chunks, each chunk paying its switch, fill and configuration and the split paying the
    reload of all weights: :func:`partitioner.baselines.contiguous_multi_cost` in O(n x w).

    >>> from partitioner.problem import chain_problem
    >>> contiguous_multi_cost(chain_problem(lcus=(30, 40, 40, 30), limit=77))
    1000.0
    """
    return least_multi_cost(problem, _chunk_costs(problem))


@lru_cache(maxsize=4)  # the same for every context cap
def _chunk_costs(problem: PartitionProblem) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    scanner = WindowScanner(problem)
    return tuple(scanner.costs(start) for start in range(problem.num_layers))


def _multi_split(
    problem: PartitionProblem, chunk_costs: list[np.ndarray], *, rows: int, counted: bool
) -> tuple[float, list[int]] | None:
    """Best split under the K > 1 cost: ``(units, chunk starts)`` or None.

    ``dp[k][e]`` is the least cost of layers ``0..e-1`` cut into ``k + 1`` chunks (``counted``,
    every count updated at once) or into any number of chunks (one row, not ``counted``).
    """
    n = problem.num_layers
    dp = np.full((rows, n + 1), np.inf)
    parent = np.full((rows, n + 1), -1, dtype=np.int64)
    first = chunk_costs[0]
    dp[0, 1 : 1 + len(first)] = first
    parent[0, 1:] = 0
    src, dst = (slice(0, rows - 1), slice(1, rows)) if counted else (slice(0, 1), slice(0, 1))
    for start in range(1, n):
        step = chunk_costs[start]
        ends = slice(start + 1, start + 1 + len(step))
        base = dp[src, start]
        if not np.isfinite(base).any():
            continue
        candidate = base[:, None] + step[None, :]
        region = dp[dst, ends]
        better = candidate < region
        region[better] = candidate[better]
        parent[dst, ends][better] = start
    first_row = 1 if counted else 0
    if rows <= first_row:
        return None
    k = int(np.argmin(dp[first_row:, n])) + first_row
    if not np.isfinite(dp[k, n]):
        return None
    starts, end, row = [], n, k
    while end > 0:
        end = int(parent[row, end])
        starts.append(end)
        row = row - 1 if counted else row
    return float(dp[k, n]) + problem.pcie_units(problem.total_weight_bytes), sorted(starts)


__all__ = [
    "WindowScanner",
    "best_contiguous",
    "best_greedy",
    "contiguous_multi_cost",
    "dp_split",
    "from_cuts",
    "greedy_split",
    "last_fitting_end",
    "least_multi_cost",
]
