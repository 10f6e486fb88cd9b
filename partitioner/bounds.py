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

>>> from partitioner.problem import chain_problem
>>> p = chain_problem(lcus=(30, 40, 40, 30), limit=77)
>>> level_bound(p).bound_units   # two contexts at 2000 FPS: 500 + 500 units; the optimum is 1000
1000
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

from ortools.linear_solver import pywraplp

from partitioner.problem import PartitionProblem, redundant_resources

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
    load, input_load = p.output_load, p.input_load
    into = min(
        sum(load[u] for u in p.producers[v]) + sum(input_load[g] for g in p.inputs_read[v])
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
    load, input_load = p.output_load, p.input_load
    ins = sorted(
        p.pcie_units(
            sum(load[u] for u in p.producers[v]) + sum(input_load[g] for g in p.inputs_read[v])
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
    p = problem
    solver = pywraplp.Solver.CreateSolver("GLOP")
    if solver is None:  # an OR-Tools build without GLOP: no bound rather than a wrong one
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
    skip = redundant_resources(p)
    for lv in levels:
        row = p.demand[lv]
        for r, limit in enumerate(p.limits):
            terms = [d[r] * y[i][lv] for i, d in enumerate(row) if d is not None and d[r]]
            if r not in skip and terms:
                solver.Add(solver.Sum(terms) <= limit * n[lv])
    solver.Add(solver.Sum(n) >= min_contexts)
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
    if solver.Solve() != pywraplp.Solver.OPTIMAL:
        return None
    best = solver.Objective().Value()
    if not math.isfinite(best) or best <= 0:
        return None
    return LevelBound(
        # every T(B) is a whole number of units: the bound rounds up
        bound_units=max(0, math.ceil(best - SAFETY * max(1.0, best))),
        min_contexts=min_contexts,
        contexts=sum(v.solution_value() for row in n_lj for v in row),
    )


__all__ = [
    "SAFETY",
    "LevelBound",
    "PcieClass",
    "level_bound",
    "min_context_pcie_units",
    "pcie_classes",
]
