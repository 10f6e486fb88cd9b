"""A lower bound on ``T(B)`` over multi-context partitions from whole contexts (set partitioning).

The level relaxation of :mod:`partitioner.bounds` lets every level hold a *fraction* of a
context, so on Hailo-8L a network's slow layers (those with a low highest level) share a tiny
slow context and its other layers fill fractions of many fast ones. Here the relaxation is the
set-partitioning (Dantzig-Wolfe) master: a column is a whole context ``(S, l)``, a set ``S`` of
layers run at level ``l``; every layer is covered once, at least ``k`` contexts are used::

    min  sum_(S,l) c(S, l) x_(S,l) + W / link
    s.t. sum_((S,l) : i in S) x_(S,l) = 1   for every layer i,     sum x >= k,     x >= 0

with the cost a context adds to ``T(B)`` (:func:`~partitioner.problem.batch_time_units`),
under-estimated: ``c(S, l) = S0 + B x T + fill(T) + cfg_l(S) / link``, ``T = max(F_l, Q)``
where ``Q`` is the PCIe floor of the context's class (:func:`~partitioner.bounds.pcie_classes`;
at most ``M_j`` contexts are in the classes below ``Q_j``) and ``cfg_l(S)`` its configuration;
``W / link`` the weights' reload (all weights, once per batch). Every partition into ``K >= k``
contexts is an integer point of it (its contexts as the columns) costing at most its ``T(B)``
(the reload and the PCIe and fill times are rounded up in ``T(B)``, not here).

The columns are the contexts that are **convex** sets of the graph (a layer on a path between
two layers of ``S`` is in ``S``: data flows forward from context to context, so a context
holds everything between its layers) and that **fit** the limits at ``l``. Pricing a column
(the most negative reduced cost) is then a precedence-constrained knapsack per level. Column
generation with that pricing solved as a linear program (the convex hull of the fractional
contexts) converges to the optimum of one compact LP, which is what :func:`column_bound` solves
at once (the standard Dantzig-Wolfe equivalence: the cone over a polytope is the set of
``(n, Y)`` with ``Y`` in ``n`` times the polytope). Per level ``l`` (aggregated over the
contexts at ``l``; ``n_l`` their number, split by PCIe class as in the level relaxation)::

    y_il in [0, 1], sum_l y_il = 1            (layer i is in a context at level l)
    sum_i d_lir y_il <= limit_r n_l           (volume: each context fits)
    y_il <= n_l                               (a layer is once in a context: perspective)
    y_il = b_il - e_il, 0 <= e_il <= b_il <= n_l,
    b_vl <= b_ul and e_vl <= e_ul for each edge u -> v     (convexity, below)

Proof that every partition gives a feasible point: for a context ``c`` at level ``l`` with
layers ``S_c``, let ``b^c`` mark ``S_c`` and its ancestors and ``e^c`` its ancestors outside
``S_c``; ``b^c - e^c`` marks ``S_c``. Both are closed under producers: a producer ``u`` of a
layer ``v`` marked by ``b^c`` is an ancestor of ``S_c``; if ``v`` is marked by ``e^c`` (``v``
outside ``S_c`` and an ancestor of ``w`` in ``S_c``) then ``u`` is not in ``S_c``, else ``v``
would lie on the path ``u -> v -> w`` between two layers of the convex ``S_c``. Summing over
the contexts at ``l`` gives ``b_il``, ``e_il`` (each at most ``n_l``, one per context) meeting
every constraint, and ``y_il`` 1 at the level of layer ``i``'s context.

The LP's optimum, taken off by :data:`~partitioner.bounds.SAFETY` and rounded up, is then a
lower bound on ``T(B)`` of every partition into ``k`` or more contexts (the LP solver must
prove the optimum, else there is no bound).

What the LP gives up against column generation with integer columns is the knapsack's
integrality, and that is worth little here: on YOLOv8s / Hailo-8L / batch 8, column generation
over integer contexts without convexity (pricing by the knapsack LP, columns rounded from it)
stood at 60,080 units after 200 rounds and 10 s, its restricted master still falling (so the
integer-column bound is at most that), where this LP without convexity gives 59,968; with
convexity it gives 62,028 (1-2 s). The best partition known costs 63,478, the level relaxation
proved 58,718 (before its ``y_il <= n_l`` rows, taken from here). The convexity rows are most
of the LP (a ``b`` per layer and level, two rows per edge and level).

Column generation
-----------------
:func:`generation_bound` prices *real* contexts instead: a column ``(S, l)`` is a convex set that
fits level ``l`` and the edge-layer limit, and costs exactly what it adds to ``T(B)`` but for the
reload's rounding, ``c(S, l) = S0 + B x t + fill(t) + cfg_l(S) / link`` with ``t = max(F_l,
in(S), out(S))`` its frame time, PCIe of its own boundary included (:func:`context_cost`). The
master over the columns found so far is solved (CLP or GLOP); its covering duals ``pi_i`` price
each level by CP-SAT (:class:`_Pricing`): the most ``pi(S) - c(S, l)`` over such contexts,
with CP-SAT's proven upper bound ``g_l`` on it (integers: the values rounded up, the frame time
and fill exactly as ``T(B)`` rounds them, so ``g_l`` is never below the true maximum).

Why each round bounds, whether or not the generation has converged (the Lagrangian argument):
take any partition into ``K`` contexts ``(S_c, l_c)``. Each layer is in exactly one context, so
``sum_c pi(S_c) = sum_i pi_i =: Pi`` for any numbers ``pi``, and

    T(B) >= W / link + sum_c c(S_c, l_c)
          = W / link + Pi + sum_c (c(S_c, l_c) - pi(S_c))
         >= W / link + Pi - K x max_l g_l

(each context is one of the priced sets, so ``c - pi(S) >= -g_l``). Every round that priced
every level gives such a line in ``K``; so does ``T(B) >= W / link + K x c_min`` (every
context costs at least its level's frame, the PCIe floor :func:`~partitioner.bounds.
min_context_pcie_units` and the switch). The bound over the partitions into ``k`` or more
contexts is the least over ``K = k..n`` of the best line at ``K``: no cap on the count of
contexts is assumed, and a count the lines cannot bound well falls to the ``c_min`` line. When
no context prices out (``max_l g_l`` is the count row's dual, up to the values' rounding) the
line at ``K`` is the master's value: the Dantzig-Wolfe bound itself.

Measured on Hailo-8L against the search's best partition (20-40 s searches; this 2-core
machine at load 2-4, CP-SAT pricing with one worker at most 2 s a level, started from the best
partition and the DP and greedy splits, 240 s at most): converged, so the Dantzig-Wolfe bound
itself, on SSD-MobileNet-v2 at batch 8 (23,710: the best partition is optimal over every count
of contexts; 73 rounds, 89 s; 46 rounds with :data:`SMOOTHING`), YOLOv8s at batch 8 (0.61%
below the best; level relaxation 7.5%, :func:`column_bound` 2.3%; 174 s), YOLOv8m at batch 8
(0.83%; 5.8% and 3.9%; 111 s) and YOLOv8s at batch 1 (1.6%; 6.2% and 2.8%; 66 s); stopped at
240 s with the lines so far: YOLOv11s at batch 8 2.2% (9.6% and 5.0%), YOLOv11n at batch 1
3.4% (16.5% and 7.9%), YOLOX-tiny at batch 8 7.5% (its master had reached the best partition,
its duals had not settled); YOLO11x at batch 8 (263 layers) gave no useful line in 249 s (33
rounds: a line from unsettled duals is far below the level relaxation's). ViT-Base at batch 8
converged to the DP split's optimum (81 s), which the path bound proves at once.

Since then the master starts from every run of the layers' order that fits a context (the DP
split's chunks, :func:`_chunk_columns`), each pricing solve adds its last improving solutions
too (:data:`COLUMNS_PER_SOLVE`, hinted with the level's last best) and a level is priced only
when its fractional-knapsack ceiling may hold the round's most (:meth:`_Pricing.ceiling`).
Measured to convergence (2-core machine at load 2-6, 2026-12-06), rounds and seconds before ->
after: ResNet-50 / Hailo-8L / batch 8 from the DP split 28, 72 s -> 7, 32 s; from the DP
split and the search's best partitions before, the DP split after: SSD-MobileNet-v2 / Hailo-8L
/ batch 1 68, 164 s -> 28, 102 s; YOLOv5m-seg / Hailo-8L / batch 8 50, 143 s -> 23, 133 s;
YOLO11n / Hailo-8L / batch 8 51, 169 s -> 13, 115 s (the same bounds, 0.0-0.34% below the
best partition known). Still 10x the search's default budget: the time is CP-SAT
pricing (~26 solves a round, 0.1-0.3 s each), where the ceilings rarely spare a level.

Measured and left out (session 10, 2026-12-06; YOLOv8m, YOLOv5s, YOLOv8s on Hailo-8L at batch
8, YOLOv5m on Hailo-8L at batch 1, YOLOv8l on Hailo-8 at batch 8, the default flow's caps):
dual-feasible-function rows (``sum_i u_k(d_ilr / limit_r) y_il <= n_l``, k = 1, 2, 3: two layers
each over half a limit cannot share a context) left every bound unchanged to the unit, so the
fractional packing of large layers is not where this LP is weak; solving at each integer count
of contexts (``sum n = K``) instead of ``>= k`` raised the bounds by 0.00-0.02% (160,102 ->
160,114 units on YOLOv8m against the DP split's 164,948).

Measured and left out (session 11, 2026-12-06; the default flow, 10 s searches, one-off scripts):
the PCIe of a context's own boundary is not what this LP misses. In the best partitions of
YOLOv8s / Hailo-8L / batch 8 (gap 2.60%), YOLOv5m / Hailo-8L / batch 1 (2.99%) and YOLOv8l /
Hailo-8 / batch 8 (3.40%) no context is PCIe-bound (``max(in, out)`` of every context is below
its level's frame time, e.g. 1,387 against 2,368 units), so rows for the boundary traffic
could not raise the bound. Integer contexts per level (``n_l`` integer, the LP otherwise as it
is, solved as a MIP by SCIP) raised the bound on YOLOv8s / Hailo-8L / batch 8 from 2.60% to
2.22% below the best partition, in 57 s against 0.7 s: too slow for the budget and still short
of 1%. What is left is the packing of the layers themselves (whole layers, convex contexts),
which only the generation of real contexts above captures.

Measured (session 13, 2026-12-07; the default flow, 10 s searches, one-off script, load 1-2): on
each of the 58 quality runs whose gap was above 1% (``benchmarks/RESULTS.md`` "Quality"), this LP
solved to the end (up to 90 s, CLP) against the search's bound within its budget. It raises 18
of them, the large networks where it does not finish in the search's share of the budget (3-14 s
on YOLO11m/l/x, YOLOv9-C, YOLOv5l-seg, OSNet, YOLOX-L; 0.4-2.7 s on the rest): YOLO11x /
Hailo-8 / batch 8 9.6% -> 4.2%, OSNet / Hailo-8 / batch 8 12.1% -> 3.9%, the widest 14.5% ->
7.4%. None of the 58 comes within 1% by it (one, YOLOv5m6 / Hailo-8 / batch 8, closed on that
run by the search itself). On YOLO11x / Hailo-8 / batch 8 (load 1-2: another search ran beside
it) CLP's dual simplex took 10 s, its barrier 12 s and its primal 65 s; in a second run at load
2 HiGHS's dual simplex (``HIGHS_LP``) took 17 s, CLP 20 s and GLOP 19 s: no solver brings it
into the budget. Column generation (above, ``benchmarks.
gap_split``) put YOLO11x / Hailo-8 / batch 8 within 0.35% of the best partition in 206 s (the
search's best was 0.15% from the best found in 60 s: the gap is the bound's).

>>> from partitioner.problem import chain_problem
>>> column_bound(chain_problem(lcus=(30, 40, 40, 30), limit=77)).by_count.units[:2]
(1000, 1500)
"""

from __future__ import annotations

import math
import os
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass

from ortools.linear_solver import pywraplp
from ortools.sat.python import cp_model

from partitioner.bounds import (
    SAFETY,
    CountBounds,
    min_context_pcie_units,
    pcie_classes,
    proven_units,
    sweep_counts,
)
from partitioner.problem import (
    ContextTraffic,
    Partition,
    PartitionProblem,
    config_bytes_of,
    context_frame_units,
    fits,
    redundant_resources,
)
from partitioner.splits import WindowScanner


@dataclass(frozen=True, kw_only=True)
class ColumnBound:
    """The compact set-partitioning LP's answer.

    Attributes:
        by_count: lower bounds on ``T(B)`` of the partitions into ``k`` or more contexts, for
            ``k`` from ``by_count.first`` on (:class:`~partitioner.bounds.CountBounds`).
        contexts: the LP's count of contexts at the first count (fractional).
        first_s: wall time until the first count's bound (the model's build included).
        seconds: wall time it took, every count.
    """

    by_count: CountBounds
    contexts: float
    first_s: float
    seconds: float

    @property
    def bound_units(self) -> int:
        """The bound for the first count (every partition into ``first`` or more contexts)."""
        return self.by_count.units[0]


def column_bound(
    problem: PartitionProblem,
    *,
    first: int = 2,
    max_counts: int = 16,
    enough_units: int | None = None,
    time_limit_s: float = 5.0,
    more_s: float = 1.0,
) -> ColumnBound | None:
    """The compact set-partitioning LP (module docstring) for ``k = first, first + 1, ...``
    contexts, as :func:`~partitioner.bounds.count_bounds` does for the level relaxation: the
    first count has ``time_limit_s`` (wall clock), the next ones ``more_s`` together (each
    re-solved from the last basis); stops at ``max_counts`` counts, at the first bound above
    ``enough_units`` or at a count the solver does not prove. ``None`` when even ``first`` has
    no proven bound, or no partition into ``first`` or more contexts exists (a layer that fits
    no context alone, fewer layers than ``first``).
    """
    started = time.perf_counter()
    if problem.num_layers < first:
        return None
    lp = _ContextLp(problem, first)
    if lp.solver is None:
        return None
    first_s = 0.0

    def solve_count(k: int, until: float) -> tuple[int, float] | None:
        nonlocal first_s
        found = lp.solve_count(k, until)
        if found is not None and not first_s:
            first_s = time.perf_counter() - started
        return found

    units, first_found = sweep_counts(
        solve_count,
        first=first,
        last=min(problem.num_layers, first + max_counts - 1),
        enough_units=enough_units,
        first_until=started + time_limit_s,
        more_s=more_s,
    )
    if first_found is None:
        return None
    return ColumnBound(
        by_count=CountBounds(first=first, units=tuple(units), num_layers=problem.num_layers),
        contexts=first_found[1],
        first_s=first_s,
        seconds=time.perf_counter() - started,
    )


class _ContextLp:
    """The compact LP of the module docstring as one model whose count of contexts can be
    raised and re-solved. Rows are built coefficient by coefficient (``_row``): the convexity
    blocks hold most of them, and OR-Tools' expression objects cost more than the solve."""

    def __init__(self, problem: PartitionProblem, first: int) -> None:
        p = self.problem = problem
        self.solver = s = _lp_solver()
        if s is None or min(_alone_levels(p)) < 0:
            self.solver = None  # no LP solver, or a layer that fits no context: no partition
            return
        inf = s.infinity()
        levels = range(p.num_levels)
        classes = pcie_classes(p)
        # n_lj: contexts at level l in PCIe class j; n[l] = sum_j n_lj (one row each)
        self.n_lj = [[s.NumVar(0.0, inf, f"n_{lv}_{j}") for j in classes] for lv in levels]
        self.n = [s.NumVar(0.0, inf, f"n_{lv}") for lv in levels]
        for lv in levels:
            self._row(0.0, 0.0, [(self.n[lv], 1.0)] + [(v, -1.0) for v in self.n_lj[lv]])
        # a layer is at the levels where it fits a context alone (a prefix: demands grow)
        self.y = [
            {lv: s.NumVar(0.0, 1.0, f"y_{i}_{lv}") for lv in range(top + 1)}
            for i, top in enumerate(_alone_levels(p))
        ]
        for shares in self.y:
            self._row(1.0, 1.0, [(v, 1.0) for v in shares.values()])
        skip = redundant_resources(p)
        for lv in levels:
            row = p.demand[lv]
            for r, limit in enumerate(p.limits):
                terms = [
                    (self.y[i][lv], d[r]) for i, d in enumerate(row) if lv in self.y[i] and d[r]
                ]
                if r not in skip and terms:
                    self._row(-inf, 0.0, [*terms, (self.n[lv], -limit)])
            self._add_convexity(lv)
        self.count = self._row(first, inf, [(v, 1.0) for v in self.n])
        for j, pcie in enumerate(classes):
            if pcie.below_cap is not None:
                below = [(self.n_lj[lv][i], 1.0) for lv in levels for i in range(j)]
                self._row(-inf, pcie.below_cap, below)
        self._set_objective(classes)

    def _row(self, lb: float, ub: float, terms: list) -> pywraplp.Constraint:
        row = self.solver.Constraint(lb, ub)
        for var, coefficient in terms:
            row.SetCoefficient(var, coefficient)
        return row

    def _add_convexity(self, lv: int) -> None:
        """The convexity block of level ``lv`` (module docstring), with ``e = b - y``
        substituted: ``y_il <= b_il <= n_l``, ``b_vl <= b_ul``, ``b_vl - y_vl <= b_ul - y_ul``
        (``y_il <= n_l`` follows)."""
        p, s, n, inf = self.problem, self.solver, self.n[lv], self.solver.infinity()
        y = [shares.get(lv) for shares in self.y]
        b = [s.NumVar(0.0, inf, f"b_{i}_{lv}") for i in range(p.num_layers)]
        for i in range(p.num_layers):
            if not p.producers[i]:  # b_il <= b_ul <= n_l for a producer u: implied
                self._row(-inf, 0.0, [(b[i], 1.0), (n, -1.0)])
            if y[i] is not None:
                self._row(0.0, inf, [(b[i], 1.0), (y[i], -1.0)])
        for u, v in p.edges:
            self._row(-inf, 0.0, [(b[v], 1.0), (b[u], -1.0)])
            if y[u] is not None or y[v] is not None:
                terms = [(b[v], 1.0), (b[u], -1.0)]
                terms += [(y[v], -1.0)] if y[v] is not None else []
                terms += [(y[u], 1.0)] if y[u] is not None else []
                self._row(-inf, 0.0, terms)

    def _set_objective(self, classes: tuple) -> None:
        p = self.problem
        rate = float(p.link_bytes_per_unit)
        objective = self.solver.Objective()
        for lv, row in enumerate(self.n_lj):
            for var, pcie in zip(row, classes, strict=True):
                t = max(p.frame_units[lv], pcie.floor_units)
                objective.SetCoefficient(var, p.switch_fixed_units + p.batch * t + p.fill_units(t))
        for i, shares in enumerate(self.y):
            for lv, share in shares.items():
                objective.SetCoefficient(share, p.config_bytes[lv][i] / rate)
        objective.SetOffset(p.total_weight_bytes / rate)
        objective.SetMinimization()

    def _used(self, lv: int) -> float:
        """Contexts at level ``lv`` in the last solution."""
        return self.n[lv].solution_value()

    def solve(self, until: float) -> tuple[int, float] | None:
        """``(bound in units, contexts)`` of the LP as it is, or ``None`` (not proven)."""
        left = until - time.perf_counter()
        if left <= 0:
            return None
        limit = limit_ms(self.solver, left)
        self.solver.SetTimeLimit(limit)
        units = proven_units(self.solver, lambda: solve_passing_ctrl_c(self.solver, limit / 1000))
        if units is None:
            return None
        return units, sum(self._used(lv) for lv in range(self.problem.num_levels))

    def solve_count(self, k: int, until: float) -> tuple[int, float] | None:
        """The LP with at least ``k`` contexts (re-solved from the last basis)."""
        self.count.SetLb(float(k))
        return self.solve(until)


# -- column generation over real contexts ------------------------------------------------------
VALUE_SCALE = 1000
"""Pricing values are in thousandths of a time unit (CP-SAT takes integers)."""
SMOOTHING = 0.5
"""Dual smoothing (Wentges): a round prices at this mix of the best line's duals and the
master's (then at the master's alone when that finds nothing), which damps the duals'
oscillation; any duals give a valid line."""


@dataclass(frozen=True, kw_only=True)
class GenerationBound:
    """What :func:`generation_bound` proved.

    Attributes:
        by_count: lower bounds on ``T(B)`` of the partitions into ``k`` or more contexts, for
            ``k`` from ``by_count.first`` on; ``None`` when no round priced every level.
        master_units: the last restricted master's value (an upper bound on the relaxation's,
            the bound when the generation converged).
        rounds: pricing rounds run.
        columns: contexts in the master.
        converged: the last round proved that no context has a negative reduced cost.
        seconds: wall time.
    """

    by_count: CountBounds | None
    master_units: float
    rounds: int
    columns: int
    converged: bool
    seconds: float


def generation_bound(
    problem: PartitionProblem,
    *,
    partitions: tuple[Partition, ...] = (),
    first: int = 2,
    time_limit_s: float = 60.0,
    price_s: float = 2.0,
    max_counts: int = 16,
    smoothing: float = SMOOTHING,
    chunks: bool = True,
) -> GenerationBound | None:
    """The set-partitioning bound by column generation over *real* contexts (module docstring,
    "Column generation"): columns are convex sets that fit a level and the edge-layer limit,
    costed exactly (their PCIe time included), started from the contexts of ``partitions``
    (e.g. the search's best and the DP split), of single layers and, with ``chunks``, of the
    runs of the layers' order (:func:`_chunk_columns`). Each round solves the master and
    prices the levels (:func:`_price_round`: CP-SAT, at most ``price_s`` each, for the levels
    whose cheap ceiling may hold the round's most, :meth:`_Pricing.ceiling`); every round that
    bounded every level adds a proven Lagrangian line. Stops when no context prices out (the
    master's value is then the relaxation's), or after ``time_limit_s`` (the lines so far
    still bound). ``None`` without an LP solver or when no partition exists.
    """
    started = time.perf_counter()
    if problem.num_layers < first or min(_alone_levels(problem)) < 0:
        return None
    master = _Master.build(problem, first)
    if master is None:
        return None
    for partition in partitions:
        for c, _ in enumerate(partition.level_of):
            layers = partition.layers_in(c)
            for lv in range(problem.num_levels):
                if fits(problem, layers, lv):
                    master.add(layers, lv)
    if chunks:
        for layers, lv in _chunk_columns(problem):
            master.add(layers, lv)
    pricing = _Pricing(problem)
    floor = min_context_pcie_units(problem)
    cheapest = min(
        problem.switch_fixed_units + problem.batch * t + problem.fill_units(t)
        for t in (max(f, floor) for f in problem.frame_units)
    )
    lines: list[tuple[float, float]] = [(0.0, float(cheapest))]  # T - W/link >= a + K b
    rounds, converged, value = 0, False, math.nan
    center: list[float] | None = None  # the duals of the best line so far
    best = -math.inf

    def keep(line: tuple[float, float] | None, at: list[float]) -> None:
        nonlocal center, best
        if line is None:
            return
        lines.append(line)
        score = _lines_bounds([lines[0], line], 0.0, first, problem.num_layers, 1).units[0]
        if score > best:
            center, best = at, score

    while time.perf_counter() - started < time_limit_s:
        solved = master.solve()
        if solved is None:
            break
        value, duals, mu = solved
        rounds += 1
        at = duals
        if center is not None and smoothing > 0:
            at = [smoothing * c + (1 - smoothing) * d for c, d in zip(center, duals, strict=True)]
        added, line = _price_round(master, pricing, at, duals, mu, value, price_s)
        keep(line, at)
        if not added and at is not duals:  # the smoothed duals priced nothing out: the master's
            added, line = _price_round(master, pricing, duals, duals, mu, value, price_s)
            keep(line, duals)
        if not added:
            converged = line is not None
            break
    counts = _lines_bounds(lines, master.reload, first, problem.num_layers, max_counts)
    return GenerationBound(
        by_count=None if len(lines) == 1 else counts,
        master_units=value,
        rounds=rounds,
        columns=len(master.columns),
        converged=converged,
        seconds=time.perf_counter() - started,
    )


def _price_round(
    master: _Master,
    pricing: _Pricing,
    at: list[float],
    duals: list[float],
    mu: float,
    value: float,
    price_s: float,
) -> tuple[int, tuple[float, float] | None]:
    """Bound every level's most ``at(S) - c(S, l)`` at the duals ``at``; add the contexts found
    whose reduced cost at the master's ``duals`` and ``mu`` is negative. ``(contexts added, the
    round's line)``, the line ``None`` when a level was not bounded.

    The levels go in the order of their cheap ceilings (:meth:`_Pricing.ceiling`), highest
    first; CP-SAT prices a level only when its ceiling is above both the most proven so far
    (else the line's ``max_l g_l`` does not change) and ``-mu`` (else none of its contexts has
    a negative reduced cost at the master's duals, up to smoothing): its ceiling is its
    ``g_l`` then."""
    p = master.problem
    ceilings = [pricing.ceiling(lv, at) for lv in range(p.num_levels)]
    added, most = 0, -math.inf
    for lv in sorted(range(p.num_levels), key=lambda lv: -ceilings[lv]):
        if ceilings[lv] <= max(most, -mu):
            most = max(most, ceilings[lv])
            continue
        found = pricing.price(lv, at, price_s)
        if found is None:
            return added, None
        columns, gain = found  # gain >= max_S (at(S) - c(S, l)), proven
        most = max(most, min(gain, ceilings[lv]))
        for layers in columns:
            if layers and master.reduced_cost(layers, lv, duals, mu) < -1e-7 * value:
                added += master.add(layers, lv)
    return added, (float(sum(at)), -most)


def context_cost(problem: PartitionProblem, layers: Sequence[int], level: int) -> float:
    """What a context of ``layers`` at ``level`` adds to a multi-context ``T(B)``, at least:
    the switch, ``B x t + fill(t)`` with ``t`` its frame time (PCIe included) and its
    configuration over the link (the reload is rounded once for all contexts, not here)."""
    p = problem
    members = set(layers)
    ins = {u for v in members for u in p.producers[v] if u not in members}
    outs = {u for u in members if p.is_output[u] or any(v not in members for v in p.consumers[u])}
    reads = {g for v in members for g in p.inputs_read[v]}
    flow = ContextTraffic(
        edge_layers=len(ins) + len(outs) + len(reads),
        in_bytes=sum(p.read_load[u] for u in ins) + sum(p.input_load[g] for g in reads),
        out_bytes=sum(p.output_load[u] for u in outs),
    )
    t = context_frame_units(p, level, flow)
    config = config_bytes_of(p, layers, level) / float(p.link_bytes_per_unit)
    return p.switch_fixed_units + p.batch * t + p.fill_units(t) + config


class _Master:
    """The restricted master LP: covering rows (>= 1) and the count row."""

    def __init__(self, problem: PartitionProblem, solver: pywraplp.Solver, first: int) -> None:
        self.problem, self.solver = problem, solver
        inf = solver.infinity()
        self.cover = [solver.Constraint(1.0, inf) for _ in range(problem.num_layers)]
        self.count = solver.Constraint(float(first), inf)
        self.objective = solver.Objective()
        self.objective.SetMinimization()
        self.reload = problem.total_weight_bytes / float(problem.link_bytes_per_unit)
        self.columns: dict[tuple[int, tuple[int, ...]], float] = {}
        for i in range(problem.num_layers):
            self.add((i,), 0)

    @classmethod
    def build(cls, problem: PartitionProblem, first: int) -> _Master | None:
        solver = _lp_solver()
        return None if solver is None else cls(problem, solver, first)

    def add(self, layers: Sequence[int], level: int) -> bool:
        """Add the context (once); whether it was new."""
        key = (level, tuple(sorted(layers)))
        if key in self.columns:
            return False
        cost = context_cost(self.problem, key[1], level)
        self.columns[key] = cost
        x = self.solver.NumVar(0.0, self.solver.infinity(), f"x{len(self.columns)}")
        for i in key[1]:
            self.cover[i].SetCoefficient(x, 1.0)
        self.count.SetCoefficient(x, 1.0)
        self.objective.SetCoefficient(x, cost)
        return True

    def reduced_cost(self, layers: Sequence[int], level: int, duals: list, mu: float) -> float:
        cost = context_cost(self.problem, layers, level)
        return cost - sum(duals[i] for i in layers) - mu

    def solve(self) -> tuple[float, list[float], float] | None:
        """``(value, covering duals, count dual)``, or ``None`` when not solved to optimality."""
        if solve_passing_ctrl_c(self.solver) != pywraplp.Solver.OPTIMAL:
            return None
        duals = [max(0.0, row.dual_value()) for row in self.cover]
        mu = max(0.0, self.count.dual_value())
        return self.objective.Value() + self.reload, duals, mu


class _Pricing:
    """Per level, the context with the most ``sum of duals - cost`` (CP-SAT): a convex set
    (``x = b - e`` with ``b``, ``e`` closed under producers, ``e <= b``) that fits the level's
    limits and the edge-layer limit, its frame time ``t`` at least the level's and each PCIe
    direction's (bytes rounded down, so ``t`` is never above the real one)."""

    def __init__(self, problem: PartitionProblem) -> None:
        self.problem = problem
        self.tops = _alone_levels(problem)
        self.last: dict[int, list[int]] = {}  # per level, the last best context: CP-SAT's hint
        self.floor = min_context_pcie_units(problem)

    def _values(self, level: int, duals: list[float]) -> dict[int, int]:
        """Each layer's value in a context at ``level``, in 1/VALUE_SCALE units rounded up
        (past float noise: the objective never under-states a gain)."""
        p = self.problem
        rate, config = p.link_bytes_per_unit, p.config_bytes[level]
        return {
            i: math.ceil(VALUE_SCALE * (duals[i] - float(config[i] / rate)) + 1e-6)
            for i in range(p.num_layers)
            if self.tops[i] >= level
        }

    def ceiling(self, level: int, duals: list[float]) -> float:
        """An upper bound on ``max_S (duals(S) - c(S, level))`` without CP-SAT: the layers'
        values (:meth:`_values`) that fit the level's limit of each resource, as a fractional
        knapsack (the least over the resources), less the switch and the frame and fill of
        the level's frame time or the PCIe floor every context pays, the slower
        (:func:`~partitioner.bounds.min_context_pcie_units`)."""
        p = self.problem
        values = {i: v for i, v in self._values(level, duals).items() if v > 0}
        most = math.inf
        for r, limit in enumerate(p.limits):
            room, total = float(limit), 0.0
            demand = {i: p.demand[level][i][r] for i in values}
            # the densest first (no demand: taken whole, first)
            for i in sorted(values, key=lambda i: -values[i] / max(demand[i], 1e-300)):
                d = demand[i]
                if d <= room:
                    total, room = total + values[i], room - d
                else:
                    total += values[i] * room / d
                    break
            most = min(most, total)
        if most == math.inf:
            most = float(sum(values.values()))
        t = max(p.frame_units[level], self.floor)
        frame = VALUE_SCALE * (p.batch * t + p.fill_units(t))
        return (most - frame) / VALUE_SCALE - p.switch_fixed_units + 1e-6

    def price(
        self, level: int, duals: list[float], limit_s: float
    ) -> tuple[list[list[int]], float] | None:
        """``(layers of the contexts CP-SAT found, best last; proven upper bound on max_S
        (duals(S) - c(S, level)))``, or ``None`` when CP-SAT proved nothing. Every improving
        solution of the solve is a context: several columns for one solve."""
        p = self.problem
        rate = p.link_bytes_per_unit  # exact: the loads round down, the values up
        m = cp_model.CpModel()
        x = {i: m.NewBoolVar(f"x{i}") for i in range(p.num_layers) if self.tops[i] >= level}

        def inside(i: int) -> cp_model.IntVar | int:
            return x.get(i, 0)

        b = [m.NewBoolVar(f"b{i}") for i in range(p.num_layers)]
        e = [m.NewBoolVar(f"e{i}") for i in range(p.num_layers)]
        for i in range(p.num_layers):
            m.Add(b[i] - e[i] == inside(i))
        for u, v in p.edges:
            m.Add(b[v] <= b[u])
            m.Add(e[v] <= e[u])
        for r, limit in enumerate(p.limits):
            m.Add(sum(p.demand[level][i][r] * var for i, var in x.items()) <= limit)
        out = [m.NewBoolVar(f"o{i}") for i in range(p.num_layers)]
        into = [m.NewBoolVar(f"i{i}") for i in range(p.num_layers)]
        reads = [m.NewBoolVar(f"g{g}") for g in range(len(p.graph_inputs))]
        for u, v in p.edges:
            m.Add(out[u] >= inside(u) - inside(v))
            m.Add(into[u] >= inside(v) - inside(u))
        for u in range(p.num_layers):
            if p.is_output[u]:
                m.Add(out[u] >= inside(u))
        for g, graph_input in enumerate(p.graph_inputs):
            for v in graph_input.consumers:
                m.Add(reads[g] >= inside(v))
        m.Add(sum(out) + sum(into) + sum(reads) <= p.edge_layer_limit)
        # t: the frame time in units, exactly as batch_time_units has it (PCIe bytes over the
        # link rounded up: num x t >= den x bytes); fill: fill(t), rounded up likewise
        num, den = rate.numerator, rate.denominator
        t = m.NewIntVar(p.frame_units[level], 2**40, "t")
        m.Add(num * t >= den * sum(p.output_load[u] * out[u] for u in range(p.num_layers)))
        taken = [p.read_load[u] * into[u] for u in range(p.num_layers)]
        taken += [p.input_load[g] * reads[g] for g in range(len(reads))]
        m.Add(num * t >= den * sum(taken))
        fill = p.fill_fraction
        fill_t = m.NewIntVar(0, 2**40, "fill")
        m.Add(fill.denominator * fill_t >= fill.numerator * t)
        values = self._values(level, duals)
        m.Maximize(
            sum(values[i] * var for i, var in x.items()) - VALUE_SCALE * (p.batch * t + fill_t)
        )
        hint = set(self.last.get(level, ()))
        for i, var in x.items():
            m.AddHint(var, i in hint)
        solver = cp_model.CpSolver()
        solver.parameters.max_time_in_seconds = limit_s
        solver.parameters.num_workers = 1
        found = _Columns(x)
        status = solver.Solve(m, found)
        if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return None
        best = [i for i, var in x.items() if solver.Value(var)]
        self.last[level] = best
        gain = solver.BestObjectiveBound() / VALUE_SCALE - p.switch_fixed_units
        return [*found.columns[-COLUMNS_PER_SOLVE:-1], best], gain


COLUMNS_PER_SOLVE = 5
"""Improving solutions of one pricing solve added as columns (the last ones, the best among
them): each is a context, and the later ones usually price out too."""


class _Columns(cp_model.CpSolverSolutionCallback):
    """The layers of each improving solution of a pricing solve."""

    def __init__(self, x: dict[int, cp_model.IntVar]) -> None:
        super().__init__()
        self.x = x
        self.columns: list[list[int]] = []

    def on_solution_callback(self) -> None:
        self.columns.append([i for i, var in self.x.items() if self.Value(var)])


def _chunk_columns(problem: PartitionProblem) -> list[tuple[tuple[int, ...], int]]:
    """Runs of the layers' order (a topological order: a run is convex) that fit one context
    and the edge-layer limit, each at its highest level: ``(layers, level)`` for each start and
    each end up to the last that fits (the DP split's chunks, :class:`~partitioner.splits.
    WindowScanner`)."""
    scanner = WindowScanner(problem)
    found = []
    for start in range(problem.num_layers):
        for end, level, edges in scanner.levels_and_edges(start):
            if level >= 0 and edges <= problem.edge_layer_limit:
                found.append((tuple(range(start, end + 1)), level))
    return found


def _lines_bounds(
    lines: list[tuple[float, float]], reload: float, first: int, n: int, counts: int
) -> CountBounds:
    """Every partition into ``K`` contexts has ``T(B) >= reload + a + K b`` for every line;
    the bound for ``k`` or more contexts is the least over ``K = k..n`` of the best line."""
    per_k = [reload + max(a + k * b for a, b in lines) for k in range(first, n + 1)]
    suffix = per_k[:]
    for j in range(len(suffix) - 2, -1, -1):
        suffix[j] = min(suffix[j], suffix[j + 1])
    units = tuple(max(0, math.ceil(v - SAFETY * max(1.0, abs(v)))) for v in suffix[:counts])
    return CountBounds(first=first, units=units, num_layers=n)


LP_SOLVERS = ("CLP", "GLOP")
"""OR-Tools LP solvers tried in turn. CLP (dual simplex) solved this LP 1.3-5x faster than GLOP
on the zoo's detectors on Hailo-8L (YOLO11x, batch 8: 3.8 s against 18-22 s at load 3 on this
2-core machine; YOLOv8s 0.8 s against 1.1-2.0 s), to the same optimum."""


def cpu_share() -> float:
    """The share of one CPU this process can expect now: the CPUs over the 1-minute load
    average, at most 1 (1 where the load is not known)."""
    try:
        load = os.getloadavg()[0]
    except (OSError, AttributeError):  # pragma: no cover - no load average on this OS
        return 1.0
    return min(1.0, (os.cpu_count() or 1) / max(load, 1e-9))


def limit_ms(solver: pywraplp.Solver, wall_s: float) -> int:
    """The time limit, in ms, that stops ``solver`` within ``wall_s`` seconds of the wall
    clock: CLP counts its limit in CPU seconds (COIN's ``CoinCpuTime``), so under load it ran
    7.8 s of wall clock against a 3 s limit (load 6 on 2 CPUs); its limit is the wall budget
    times :func:`cpu_share`. GLOP counts wall seconds.

    >>> from ortools.linear_solver import pywraplp
    >>> limit_ms(pywraplp.Solver.CreateSolver("GLOP"), 2.5)
    2500
    """
    share = cpu_share() if solver.SolverVersion().startswith("Clp") else 1.0
    return max(1, int(wall_s * share * 1000))


def solve_passing_ctrl_c(solver: pywraplp.Solver, limit_s: float | None = None) -> int:
    """``solver.Solve()``, with a Ctrl-C that CLP took passed on to Python.

    While it solves, CLP replaces the process's SIGINT handler with its own, which stops the
    solve (an unproven ``FEASIBLE``) and keeps the signal from Python: ``ctxfit compile`` went on
    to its full budget after a Ctrl-C there. So a CLP solve that ends ``FEASIBLE`` before
    :data:`INTERRUPT_SHARE` of its limit (``limit_s``, CPU seconds as CLP counts them; ``None``:
    no limit) of CPU time raises SIGINT again, and Python's handler runs: the search's, or
    ``KeyboardInterrupt``. GLOP and HiGHS leave the handler alone (measured: a SIGINT during
    their solve reaches Python when it returns)."""
    started = time.process_time()
    status = solver.Solve()
    if (
        status == pywraplp.Solver.FEASIBLE
        and solver.SolverVersion().startswith("Clp")
        and (limit_s is None or time.process_time() - started < INTERRUPT_SHARE * limit_s)
    ):
        signal.raise_signal(signal.SIGINT)
    return status


INTERRUPT_SHARE = 0.9
"""A CLP solve stopped unproven before this share of its CPU-time limit was stopped by Ctrl-C."""


def _lp_solver() -> pywraplp.Solver | None:
    """The first of :data:`LP_SOLVERS` this OR-Tools build has, or ``None``."""
    for name in LP_SOLVERS:
        solver = pywraplp.Solver.CreateSolver(name)
        if solver is not None:
            return solver
    return None


def _alone_levels(problem: PartitionProblem) -> list[int]:
    """Highest level at which each layer fits a context alone, -1 when not even the lowest."""
    tops = []
    for i in range(problem.num_layers):
        top = -1
        for lv in range(problem.max_level[i] + 1):
            d = problem.demand[lv][i]
            if d is None or any(a > b for a, b in zip(d, problem.limits, strict=True)):
                break
            top = lv
        tops.append(top)
    return tops


__all__ = [
    "LP_SOLVERS",
    "ColumnBound",
    "GenerationBound",
    "column_bound",
    "context_cost",
    "generation_bound",
    "solve_passing_ctrl_c",
]
