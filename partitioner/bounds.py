"""A lower bound on ``T(B)`` over every multi-context partition, whatever its number of contexts.

CP-SAT's bound of one iteration covers the partitions into at most its K contexts; the search
stops before every K is tried, and on Hailo-8L's large networks that bound stays far from the
answer. :func:`level_bound` bounds every partition into two or more contexts at once, by a
relaxation that keeps what makes contexts expensive — each context runs at *one* level for all
of its layers and all resources, pays a frame time at least that level's and at least the PCIe
time every context pays, a switch, a pipeline fill and its configuration — and drops what makes
the problem hard: which layers share a context (only their volume counts), the order, the
edge-layer limit.

The relaxation (a linear program, solved by GLOP through OR-Tools; exact in rationals up to
GLOP's tolerances, taken off by :data:`SAFETY`):

* ``n_l`` (>= 0): contexts running at level ``l``; ``sum_l n_l >= min_contexts``;
* ``y_il`` (in [0, 1]): the share of layer ``i`` in contexts at level ``l`` (``l`` at most the
  layer's highest level); ``sum_l y_il = 1``;
* volume: ``sum_i d_lir y_il <= limit_r x n_l`` for every level and resource;
* a layer is in one context: ``y_il <= n_l`` (a layer at level ``l`` needs a context there;
  +0.3-2% on the bound of the Hailo-8L detectors for 0.05-0.2 s);
* minimise ``sum_l n_l x (S0 + B x T_l + fill(T_l)) + (W + sum_il cfg_li y_il) / link``

where ``T_l = max(F_l, P)`` and ``P`` is the PCIe time every context pays
(:func:`min_context_pcie_units`). PCIe classes sharpen it (:func:`pcie_classes`): each ``n_l``
is split by the PCIe floor ``Q_j`` its contexts pay (``T_lj = max(F_l, Q_j)``), and at most
``M_j`` contexts pay less than ``Q_j``, because each has its own first layer reading less than
``Q_j`` and its own last layer writing less (a ViT's contexts all cross a token tensor but the
first and the last). Any partition into ``K >= min_contexts`` contexts gives a
solution of the relaxation (``n_l`` = its contexts at level ``l``, ``y_il = 1`` for the level of
layer ``i``'s context) whose objective is at most its ``T(B)`` (the relaxation drops the roundings
up), so the relaxation's optimum is a lower bound on every such partition's ``T(B)``.

Measured at batch 8 against the best partition the search found (this 2-core machine, loaded;
0.5-1.8 s each): YOLO11x on Hailo-8L 9.1% below it (CP-SAT's own bound there: 28%, and only
over the K it tried), YOLOv8m on Hailo-8L 6.8%, ViT-Tiny 22% on Hailo-8 and 24% on Hailo-8L (31%
and 28% without the PCIe classes). What it misses: a context is a convex set of the graph, so
a ViT's slow layers (one per block) cannot share a few slow contexts as the relaxation lets them.
Integer ``n_l`` (SCIP) gained 0.5 points on YOLO11x for 2.3 s: not worth the budget.

The relaxation grows with its fewest contexts (each context pays at least its level's frame,
the PCIe floor, a switch and its configuration), so :func:`count_bounds` re-solves it for ``k =
2, 3, ...``: a bound on every partition into ``k`` or more contexts. Joined with CP-SAT's bound
over the partitions into at most ``K`` contexts (an iteration of the search), ``min(CP-SAT's,
count bound at K + 1)`` covers every count. Measured on the zoo's detectors (current pricing,
2026-12-06): at batch 1 on Hailo-8L it closes the gap over every count once CP-SAT proved its
K (YOLOv8s: 6.2% below the answer with the relaxation alone, 0.1% joined, and the search ends at
2.5 s instead of 5 s); at batch 8 the relaxation gains only 0.1-1.5% per context and the bound
stays that of the first solve: on Hailo-8L SSD-MobileNet-v2 is 24% below its best partition
(itself proven optimal over at most 5 contexts by a 46 s CP-SAT run), YOLOX-tiny 23%, YOLOv8s
7.7%.
What the relaxation lacks there is the packing: each level holds a fraction of a context (16
levels for 4.2 contexts on YOLOv8s), where a real context runs all its layers at one level and
is only as full as its lumps of layers allow.

>>> from partitioner.problem import chain_problem
>>> p = chain_problem(lcus=(30, 40, 40, 30), limit=77)
>>> level_bound(p).bound_units   # two contexts at 2000 FPS: 500 + 500 units; the optimum is 1000
1000
"""

from __future__ import annotations

import bisect
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from ortools.linear_solver import pywraplp

from partitioner.problem import PartitionProblem, redundant_resources
from partitioner.splits import contiguous_multi_cost

SAFETY = 1e-6
"""Relative margin taken off the LP's floating-point optimum before rounding it up to a whole
unit (every ``T(B)`` is one) (GLOP's
tolerances are 1e-7 or tighter relative to the zoo's magnitudes), so the bound stays a bound."""


@dataclass(frozen=True, kw_only=True)
class LevelBound:
    """The relaxation's answer.

    Attributes:
        bound_units: a lower bound on ``T(B)`` of every partition into at least
            ``min_contexts`` contexts, in time units.
        min_contexts: the fewest contexts the bound assumes (2, or more when fewer were
            proven impossible).
        contexts: the relaxation's context count, ``sum_l n_l`` (fractional).
    """

    bound_units: int
    min_contexts: int
    contexts: float


def min_context_pcie_units(problem: PartitionProblem) -> int:
    """Frame time every context of a multi-context partition pays for PCIe, at least.

    A context has a first layer (no producer in it: all its producers and graph inputs cross in)
    and a last layer (no reader in it: its output crosses out if anything reads it or it is a
    graph output). So each context moves at least the smallest such load in, and the smallest
    such load out, and its frame time is at least the slower of the two directions.

    >>> from partitioner.problem import chain_problem
    >>> min_context_pcie_units(chain_problem(lcus=(1, 1, 1)))   # 2800 B each way at 2800 B/unit
    1
    """
    p = problem
    load, read, input_load = p.output_load, p.read_load, p.input_load
    into = min(
        sum(read[u] for u in p.producers[v]) + sum(input_load[g] for g in p.inputs_read[v])
        for v in range(p.num_layers)
    )
    out = min(load[v] if (p.consumers[v] or p.is_output[v]) else 0 for v in range(p.num_layers))
    return max(p.pcie_units(into), p.pcie_units(out))


@dataclass(frozen=True, kw_only=True)
class PcieClass:
    """Contexts paying at least ``floor_units`` of PCIe per frame; at most ``below_cap``
    contexts pay less than ``floor_units`` (``None``: no limit, the lowest class)."""

    floor_units: int
    below_cap: int | None


def pcie_classes(problem: PartitionProblem, *, max_classes: int = 8) -> tuple[PcieClass, ...]:
    """PCIe floors of contexts, ascending, the first :func:`min_context_pcie_units`.

    A context's first layer ``v`` reads ``in(v)`` (its producers' outputs and graph inputs, all
    from outside), its last layer writes ``out(v)``; it pays at least ``max(in(first),
    out(last))``. First layers of different contexts are different layers (and last layers),
    so at most ``min(#{v: in(v) < Q}, #{v: out(v) < Q})`` contexts pay less than ``Q``. The
    floors ``Q`` are the distinct per-layer values (at most ``max_classes`` of them, spread
    over their range: any subset gives a valid bound).

    >>> from partitioner.problem import chain_problem
    >>> [(c.floor_units, c.below_cap) for c in pcie_classes(chain_problem(lcus=(1, 1, 1)))]
    [(1, None)]
    """
    p = problem
    load, read, input_load = p.output_load, p.read_load, p.input_load
    ins = sorted(
        p.pcie_units(
            sum(read[u] for u in p.producers[v]) + sum(input_load[g] for g in p.inputs_read[v])
        )
        for v in range(p.num_layers)
    )
    outs = sorted(
        p.pcie_units(load[v]) if (p.consumers[v] or p.is_output[v]) else 0
        for v in range(p.num_layers)
    )
    low = max(ins[0], outs[0])
    floors = sorted({q for q in (*ins, *outs) if q > low})
    if len(floors) > max_classes - 1:
        step = len(floors) / (max_classes - 1)
        floors = sorted({floors[int(j * step)] for j in range(max_classes - 1)})
    classes = [PcieClass(floor_units=low, below_cap=None)]
    for q in floors:
        cap = min(bisect.bisect_left(ins, q), bisect.bisect_left(outs, q))
        classes.append(PcieClass(floor_units=q, below_cap=cap))
    return tuple(classes)


def level_bound(
    problem: PartitionProblem, *, min_contexts: int = 2, time_limit_s: float = 5.0
) -> LevelBound | None:
    """The level relaxation's bound (see the module docstring), or ``None`` when GLOP did not
    prove the LP's optimum within ``time_limit_s`` (an unproven LP value is no bound), or the
    relaxation is infeasible (no partition into ``min_contexts`` or more contexts exists)."""
    lp = _LevelLp.build(problem, min_contexts=min_contexts, time_limit_s=time_limit_s)
    found = None if lp is None else lp.solve(min_contexts)
    if found is None:
        return None
    units, contexts = found
    return LevelBound(bound_units=units, min_contexts=min_contexts, contexts=contexts)


@dataclass(frozen=True, kw_only=True)
class CountBounds:
    """Lower bounds on ``T(B)`` of the partitions into at least ``k`` contexts, for ``k`` from
    ``first`` on: ``units[j]`` holds for ``k = first + j`` and, the relaxation only growing
    with ``k``, for every larger ``k`` too (:func:`count_bounds`)."""

    first: int
    units: tuple[int, ...]
    num_layers: int

    def at_least(self, k: int) -> int | None:
        """A lower bound on ``T(B)`` of every partition into ``k`` or more contexts; ``None``
        for ``k`` below :attr:`first` (not covered), :data:`NO_PARTITION` for more contexts
        than layers (no such partition).

        >>> b = CountBounds(first=2, units=(100, 120), num_layers=5)
        >>> b.at_least(1), b.at_least(2), b.at_least(3), b.at_least(5), b.at_least(6)
        (None, 100, 120, 120, 4611686018427387904)
        """
        if k > self.num_layers:
            return NO_PARTITION
        if k < self.first or not self.units:
            return None
        return self.units[min(k - self.first, len(self.units) - 1)]


NO_PARTITION = 2**62
""":meth:`CountBounds.at_least` of a count of contexts no partition has (more than its layers)."""


def count_bounds(
    problem: PartitionProblem,
    *,
    first: int = 2,
    enough_units: int | None = None,
    max_counts: int = 16,
    time_limit_s: float = 5.0,
    more_s: float = 1.0,
) -> CountBounds | None:
    """The level relaxation with at least ``k`` contexts, for ``k = first, first + 1, ...``:
    one LP, re-solved from its last basis after raising ``sum_l n_l >= k`` (a handful of
    pivots each). The first solve has ``time_limit_s``; the next counts are solved for at most
    ``more_s`` (wall clock) after it. Stops at ``max_counts`` counts, at the first bound above
    ``enough_units`` (every larger count is above it too: more is not needed), when that time is
    spent or at a count GLOP does not prove; ``None`` when even ``first`` has no proven bound.

    Each is a lower bound on every partition into ``k`` or more contexts (the relaxation of
    :func:`level_bound` with ``min_contexts = k``). Together with a bound over the partitions
    into at most ``K`` contexts (CP-SAT's, for the K an iteration tried), ``min(that,
    at_least(K + 1))`` bounds every partition whatever its count: on the zoo's detectors at
    batch 1 each context pays a PCIe floor and configuration the relaxation counts, and a few
    more contexts than the answer's already cost more than it.

    >>> from partitioner.problem import chain_problem
    >>> count_bounds(chain_problem(lcus=(30, 40, 40, 30), limit=77)).units  # 500 per context
    (1000, 1500, 2000)
    """
    lp = _LevelLp.build(problem, min_contexts=first, time_limit_s=time_limit_s)
    if lp is None:
        return None
    units, _ = sweep_counts(
        lambda k, until: lp.solve(
            k, time_limit_s=None if until == math.inf else until - time.perf_counter()
        ),
        first=first,
        last=min(problem.num_layers, first + max_counts - 1),
        enough_units=enough_units,
        first_until=math.inf,  # the model's own time limit
        more_s=more_s,
    )
    if not units:
        return None
    return CountBounds(first=first, units=tuple(units), num_layers=problem.num_layers)


def sweep_counts(
    solve: Callable[[int, float], tuple[int, float] | None],
    *,
    first: int,
    last: int,
    enough_units: int | None,
    first_until: float,
    more_s: float,
) -> tuple[list[int], tuple[int, float] | None]:
    """An LP's bounds for at least ``k = first .. last`` contexts: ``solve(k, until)`` (``(units,
    contexts)``, or ``None`` when not proven by ``until``, a ``time.perf_counter()``) is called
    up to ``first_until`` for the first count and for ``more_s`` more seconds after it for the
    others; stops at the first bound above ``enough_units`` (every larger count is above it
    too) or an unproven count. Returns the bounds (made non-decreasing: each holds for every
    larger count) and the first count's answer.

    >>> sweep_counts(lambda k, until: (100 * k, 1.0), first=2, last=9, enough_units=450,
    ...              first_until=float("inf"), more_s=1.0)
    ([200, 300, 400, 500], (200, 1.0))
    """
    units: list[int] = []
    first_found = None
    until = first_until
    for k in range(first, last + 1):
        if until - time.perf_counter() <= 0:
            break
        found = solve(k, until)
        if found is None:
            break
        if first_found is None:
            first_found, until = found, time.perf_counter() + more_s
        units.append(max(found[0], units[-1] if units else 0))
        if enough_units is not None and units[-1] > enough_units:
            break
    return units, first_found


class _LevelLp:
    """The level relaxation as one GLOP model whose count of contexts can be raised and
    re-solved (see the module docstring)."""

    def __init__(self, solver: pywraplp.Solver, count: pywraplp.Constraint, n: list) -> None:
        self.solver, self.count, self.n = solver, count, n

    @classmethod
    def build(
        cls, problem: PartitionProblem, *, min_contexts: int, time_limit_s: float
    ) -> _LevelLp | None:
        """The model with ``sum_l n_l >= min_contexts``; ``None`` without GLOP (an OR-Tools
        build without it: no bound rather than a wrong one)."""
        p = problem
        solver = pywraplp.Solver.CreateSolver("GLOP")
        if solver is None:
            return None
        solver.SetTimeLimit(max(1, int(time_limit_s * 1000)))
        rate = float(p.link_bytes_per_unit)  # bytes per time unit
        classes = pcie_classes(p)
        levels = range(p.num_levels)
        # n_lj: contexts at level l paying PCIe class j's floor; n[lv] their sum
        n_lj = [
            [solver.NumVar(0.0, p.num_layers, f"n_{lv}_{j}") for j in range(len(classes))]
            for lv in levels
        ]
        n = [solver.Sum(row) for row in n_lj]
        y = [
            {lv: solver.NumVar(0.0, 1.0, f"y_{i}_{lv}") for lv in range(p.max_level[i] + 1)}
            for i in range(p.num_layers)
        ]
        for shares in y:
            solver.Add(solver.Sum(list(shares.values())) == 1)
            for lv, share in shares.items():
                solver.Add(share <= n[lv])  # a layer at level l is in a context at level l
        skip = redundant_resources(p)
        for lv in levels:
            row = p.demand[lv]
            for r, limit in enumerate(p.limits):
                terms = [d[r] * y[i][lv] for i, d in enumerate(row) if d is not None and d[r]]
                if r not in skip and terms:
                    solver.Add(solver.Sum(terms) <= limit * n[lv])
        count = solver.Add(solver.Sum(n) >= min_contexts)
        for j, pcie in enumerate(classes):
            if pcie.below_cap is not None:
                solver.Add(
                    solver.Sum([n_lj[lv][i] for lv in levels for i in range(j)]) <= pcie.below_cap
                )
        cost = []
        for lv in levels:
            for j, pcie in enumerate(classes):
                t = max(p.frame_units[lv], pcie.floor_units)
                cost.append((p.switch_fixed_units + p.batch * t + p.fill_units(t)) * n_lj[lv][j])
        config = [
            p.config_bytes[lv][i] / rate * share
            for i, shares in enumerate(y)
            for lv, share in shares.items()
            if p.config_bytes[lv][i]
        ]
        solver.Minimize(solver.Sum(cost + config) + p.total_weight_bytes / rate)
        return cls(solver, count, [v for row in n_lj for v in row])

    def solve(
        self, min_contexts: int, *, time_limit_s: float | None = None
    ) -> tuple[int, float] | None:
        """``(bound in units, sum_l n_l)`` with at least ``min_contexts`` contexts, or ``None``
        when GLOP did not prove the optimum (or the relaxation is infeasible)."""
        self.count.SetLb(float(min_contexts))
        if time_limit_s is not None:
            self.solver.SetTimeLimit(max(1, int(time_limit_s * 1000)))
        units = proven_units(self.solver)
        if units is None:
            return None
        return units, sum(v.solution_value() for v in self.n)


def proven_units(solver: pywraplp.Solver, solve: Callable[[], int] | None = None) -> int | None:
    """The LP's optimum as a bound in whole time units (every ``T(B)`` is one: the value, less
    :data:`SAFETY`, rounds up), or ``None`` when the solver did not prove it (an unproven LP
    value is no bound) or it is not positive. ``solve`` runs the solve (``solver.Solve``)."""
    if (solver.Solve if solve is None else solve)() != pywraplp.Solver.OPTIMAL:
        return None
    best = solver.Objective().Value()
    if not math.isfinite(best) or best <= 0:
        return None
    return max(0, math.ceil(best - SAFETY * max(1.0, best)))


# -- the path bound ------------------------------------------------------------------------------
def heaviest_path(problem: PartitionProblem, *, slowest: bool = False) -> tuple[int, ...]:
    """The path of direct edges (each layer reads the one before) with the most level-0 demand,
    each resource counted as a share of its limit (``slowest``: through the layers with the
    lowest highest level, those that hold their contexts' rate down): the part of the network
    that the path bound keeps.

    >>> from partitioner.problem import chain_problem
    >>> heaviest_path(chain_problem(lcus=(10, 20, 30), edges=((0, 1), (0, 2))))
    (0, 2)
    """
    p = problem
    if slowest:
        weight = [p.num_levels - p.max_level[i] + 1e-9 for i in range(p.num_layers)]
    else:
        weight = [
            sum(d / lim for d, lim in zip(p.demand[0][i] or (), p.limits, strict=True) if lim)
            + 1e-9
            for i in range(p.num_layers)
        ]
    best = list(weight)
    parent = [-1] * p.num_layers
    for v in range(p.num_layers):
        for u in p.producers[v]:
            if best[u] + weight[v] > best[v]:
                best[v], parent[v] = best[u] + weight[v], u
    v = max(range(p.num_layers), key=best.__getitem__)
    path = []
    while v >= 0:
        path.append(v)
        v = parent[v]
    return tuple(reversed(path))


def sub_problem(problem: PartitionProblem, keep: tuple[int, ...]) -> PartitionProblem:
    """The problem restricted to the layers ``keep`` (ascending): their demands, configuration
    and edges, the graph inputs they read; the weights of every layer (their reload does not
    depend on the partition) and the least configuration of each dropped layer are given to
    the first kept layer. Every multi-context partition of the whole, restricted to ``keep``,
    is a partition of this one whose multi-context ``T(B)`` is no more (fewer layers, tensors,
    contexts and bytes), so the least multi-context ``T(B)`` here bounds the whole's.
    """
    p = problem
    index = {old: new for new, old in enumerate(keep)}
    inputs = tuple(
        replace(g, consumers=tuple(index[v] for v in g.consumers if v in index))
        for g in p.graph_inputs
        if any(v in index for v in g.consumers)
    )
    dropped = [v for v in range(p.num_layers) if v not in index]
    extra_config = sum(min(row[v] for row in p.config_bytes) for v in dropped)

    def pick(values: tuple, extra: int | None = None) -> tuple:
        out = [values[i] for i in keep]
        if extra is not None:
            out[0] += extra
        return tuple(out)

    return replace(
        p,
        name=f"{p.name} (path)",
        layer_names=pick(p.layer_names),
        edges=tuple((index[u], index[v]) for u, v in p.edges if u in index and v in index),
        output_bytes=pick(p.output_bytes),
        output_rows=pick(p.output_rows) if p.output_rows else (),
        is_output=pick(p.is_output),
        graph_inputs=inputs,
        weight_bytes=pick(p.weight_bytes, sum(p.weight_bytes[v] for v in dropped)),
        config_bytes=tuple(pick(row, extra_config) for row in p.config_bytes),
        demand=tuple(pick(row) for row in p.demand),
    )


def path_bound(problem: PartitionProblem) -> int | None:
    """A lower bound on ``T(B)`` of every partition into two or more contexts, from the
    heaviest path and the slowest one (:func:`heaviest_path`, :func:`sub_problem`), the higher
    of the two (YOLOv5m-seg on Hailo-8L, batch 8: 9.5% below the best partition known through
    the slowest path, 41% through the heaviest).

    On a path every layer reads the one before, so every partition of it is a contiguous split
    of its order, and the DP over contiguous splits
    (:func:`~partitioner.splits.contiguous_multi_cost`) finds the least multi-context
    ``T(B)`` to one unit (the reload is rounded once, for all contexts): that, less one unit,
    bounds the path's partitions and so the whole network's. When the whole network is one path
    (a ViT: its residual edges join layers of the path) the bound is the optimum, to a unit.
    ``None`` when the path has no partition (then the network has none either).

    >>> from partitioner.problem import chain_problem
    >>> path_bound(chain_problem(lcus=(30, 40, 40, 30), limit=77))   # the optimum, 1000, less 1
    999
    """
    paths = {heaviest_path(problem), heaviest_path(problem, slowest=True)}
    costs = [contiguous_multi_cost(sub_problem(problem, path)) for path in paths]
    if any(cost is None for cost in costs):
        return None  # a path without a partition: the network has none
    cost = max(costs)  # type: ignore[type-var]
    return max(0, math.ceil(cost - 1 - SAFETY * max(1.0, cost)))


# -- both ------------------------------------------------------------------------------------------
LEVEL_BOUND_MAX_VARIABLES = 20_000
"""The level relaxation is solved when it has at most this many variables (layers x levels;
YOLO11x on Hailo-8L has 3,100 and takes 0.3-1.8 s), so that a very large network does not
spend its budget on it."""
PATH_BOUND_MAX_LAYERS = 2_000
"""The path bound is computed for paths of at most this many layers (its DP is quadratic)."""


@dataclass(frozen=True, kw_only=True)
class AnyCountBound:
    """A lower bound on ``T(B)`` of every partition into ``min_contexts`` or more contexts,
    whatever their number: the higher of the level relaxation's and the path bound's (each
    ``None`` when skipped or without an answer); ``by_count``: the level relaxation's bounds
    for more contexts (:func:`count_bounds`), when it was solved."""

    bound_units: int
    level_units: int | None
    path_units: int | None
    by_count: CountBounds | None = None


def any_count_bound(
    problem: PartitionProblem,
    *,
    min_contexts: int = 2,
    enough_units: int | None = None,
    with_path: bool = True,
    with_level: bool = True,
    upper_units: int | None = None,
    more_s: float = 1.0,
) -> AnyCountBound | None:
    """:func:`level_bound` and :func:`path_bound` together (``min_contexts`` >= 2), or ``None``
    when neither gives a bound. The path bound comes first; when it reaches ``enough_units``
    (a bound that already proves what the caller needs) the level relaxation is skipped.
    ``with_path`` / ``with_level`` turn either off (a search short of time). The level
    relaxation is also solved for more contexts (:func:`count_bounds`, for ``more_s`` at most)
    until its bound passes ``upper_units`` (a partition's ``T(B)``, e.g. the DP split's).

    >>> from partitioner.problem import chain_problem
    >>> found = any_count_bound(chain_problem(lcus=(30, 40, 40, 30), limit=77))
    >>> found.bound_units, found.level_units, found.path_units
    (1000, 1000, 999)
    """
    level = path = counts = None
    if with_path and problem.num_layers <= PATH_BOUND_MAX_LAYERS:
        path = path_bound(problem)
    enough = enough_units is not None and path is not None and path >= enough_units
    small = problem.num_layers * problem.num_levels <= LEVEL_BOUND_MAX_VARIABLES
    if with_level and not enough and small:
        counts = count_bounds(problem, first=min_contexts, enough_units=upper_units, more_s=more_s)
        level = None if counts is None else counts.units[0]
    found = [b for b in (level, path) if b is not None]
    if not found:
        return None
    return AnyCountBound(
        bound_units=max(found), level_units=level, path_units=path, by_count=counts
    )


__all__ = [
    "LEVEL_BOUND_MAX_VARIABLES",
    "PATH_BOUND_MAX_LAYERS",
    "SAFETY",
    "NO_PARTITION",
    "AnyCountBound",
    "CountBounds",
    "any_count_bound",
    "count_bounds",
    "LevelBound",
    "PcieClass",
    "heaviest_path",
    "level_bound",
    "min_context_pcie_units",
    "path_bound",
    "sub_problem",
    "pcie_classes",
    "proven_units",
    "sweep_counts",
]
