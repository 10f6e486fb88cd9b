"""Two baselines on the same problem and objective as the CP-SAT model: greedy and DP.

Both cut the problem's topological order into contiguous runs, one run per context, so
precedence holds by construction; each context then runs at its cheapest level
(:func:`partitioner.problem.make_partition`). CP-SAT is hinted with the better of the two and must
never end worse than either.

* :func:`greedy_partition` — first fit: walk the layers in order and open a new context when the
  next layer does not fit the current one (caps at the target level, or the edge-layer limit).
  It is run once per level of the grid as the target and keeps the best batch time.
* :func:`dp_partition` — the optimal contiguous split of the order by dynamic programming,
  minimising ``T(B)`` (to one time unit: the reload is rounded once for the whole split); O(n^2)
  chunk evaluations (plus O(K n^2) steps with a cap of K contexts), the resource checks
  vectorised over all chunk ends with numpy.

>>> from partitioner.problem import batch_time_units, chain_problem
>>> p = chain_problem(lcus=(30, 40, 40, 30), limit=77)
>>> greedy_partition(p).context_of, dp_partition(p).context_of
((0, 0, 1, 1), (0, 0, 1, 1))
>>> dp_partition(p, max_contexts=1) is None          # 140 LCUs never fit one context of 77
True
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from partitioner.problem import (
    ContextTraffic,
    Partition,
    PartitionProblem,
    context_frame_units,
)
from partitioner.splits import WindowScanner, best_contiguous, best_greedy, least_multi_cost


@dataclass(frozen=True, kw_only=True)
class Chunk:
    """One contiguous run ``[start, end]`` of the order, as a context: its best level (or
    ``None`` when it does not fit even the lowest), edge layers and PCIe load per frame in each
    direction (:class:`~partitioner.problem.ContextTraffic`)."""

    start: int
    end: int
    level: int | None
    edge_layers: int
    in_bytes: int
    out_bytes: int


class ChunkScanner(WindowScanner):
    """Evaluates every chunk starting at a given layer, extending its end one layer at a time
    to the last layer: the window scanner of :mod:`partitioner.splits` without its cut-off at
    the last fitting end (the reference ``O(n^2)`` scan the tests compare the splits with).
    """

    def __init__(self, problem: PartitionProblem) -> None:
        super().__init__(problem, last_end=(problem.num_layers - 1,) * problem.num_layers)

    def scan(self, start: int) -> Iterator[Chunk]:
        """Chunks ``[start, start]``, ``[start, start + 1]``, ... to the last layer."""
        levels = self.best_levels(start)
        for e, edge_layers, in_bytes, out_bytes in self._boundaries(start):
            level = int(levels[e - start])
            yield Chunk(
                start=start,
                end=e,
                level=None if level < 0 else level,
                edge_layers=edge_layers,
                in_bytes=in_bytes,
                out_bytes=out_bytes,
            )

    def frame_units(self, chunk: Chunk) -> int | None:
        """``t_c`` of a chunk in time units, ``None`` when it breaks a cap or the edge limit."""
        if chunk.level is None or chunk.edge_layers > self.problem.edge_layer_limit:
            return None
        flow = ContextTraffic(
            edge_layers=chunk.edge_layers, in_bytes=chunk.in_bytes, out_bytes=chunk.out_bytes
        )
        return context_frame_units(self.problem, chunk.level, flow)


@lru_cache(maxsize=4)  # the search driver asks again for every K it tries
def greedy_partition(problem: PartitionProblem) -> Partition | None:
    """First-fit in topological order at each target level; the best batch time wins.

    At target level ``L`` a context keeps taking the next layer while the run fits the caps at
    ``min(L, the slowest layer's highest level)`` and has at most ``edge_layer_limit`` edge
    layers. Returns ``None`` when no target gives a valid split (a single layer breaks a cap or
    the edge limit).
    """
    scanner = ChunkScanner(problem)
    return best_greedy(problem, lambda target: _greedy_starts(problem, scanner, target))


def _greedy_starts(
    problem: PartitionProblem, scanner: ChunkScanner, target: int
) -> list[int] | None:
    starts = [0]
    while True:
        start, last_ok, slowest = starts[-1], None, problem.num_levels
        for chunk in scanner.scan(start):
            slowest = min(slowest, problem.max_level[chunk.end])
            level_ok = chunk.level is not None and chunk.level >= min(target, slowest)
            if not level_ok or chunk.edge_layers > problem.edge_layer_limit:
                break
            last_ok = chunk.end
        if last_ok is None:
            return None
        if last_ok == problem.num_layers - 1:
            return starts
        starts.append(last_ok + 1)


def dp_partition(problem: PartitionProblem, *, max_contexts: int | None = None) -> Partition | None:
    """The contiguous split of the topological order with the least ``T(B)``.

    With ``max_contexts`` the split uses at most that many contexts. Returns ``None`` when no
    contiguous split is valid. For K > 1, ``T`` is a sum of per-chunk costs (``B x t + fill +
    config / link + switch_fixed``, see :meth:`ChunkScanner.costs`) plus the weight reload, a
    constant; the reload is rounded once for the whole split, so the DP is exact to one time
    unit. The single context (``B x t``, nothing reloaded) is compared separately. A split into
    one chunk under the K > 1 cost always costs more than that single context, so the uncapped
    DP needs no count of chunks.
    """
    return best_contiguous(problem, _chunk_costs(problem), max_contexts)


def contiguous_multi_cost(problem: PartitionProblem) -> float | None:
    """The least multi-context ``T(B)`` over every contiguous split of the order into one or
    more chunks, each chunk paying its switch, fill and configuration and the split paying the
    reload of all weights (one chunk too), before the reload's one rounding: every split's
    ``T(B)`` with two or more contexts is more than this less one unit. ``None`` when no split
    is valid.

    >>> from partitioner.problem import chain_problem
    >>> contiguous_multi_cost(chain_problem(lcus=(30, 40, 40, 30), limit=77))
    1000.0
    """
    return least_multi_cost(problem, _chunk_costs(problem))


@lru_cache(maxsize=4)  # O(n^2) chunk evaluations, the same for every context cap
def _chunk_costs(problem: PartitionProblem) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    scanner = ChunkScanner(problem)
    return tuple(scanner.costs(start) for start in range(problem.num_layers))


__all__ = ["Chunk", "ChunkScanner", "contiguous_multi_cost", "dp_partition", "greedy_partition"]
