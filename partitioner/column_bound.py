"""PROTOTYPE: set-partitioning (column generation) lower bound on multi-context T(B)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
from ortools.linear_solver import pywraplp

from partitioner.bounds import SAFETY, CountBounds, min_context_pcie_units
from partitioner.problem import Partition, PartitionProblem, redundant_resources


@dataclass(frozen=True, kw_only=True)
class ColumnBound:
    by_count: CountBounds
    master_units: float
    columns: int
    rounds: int
    converged: bool
    seconds: float


class _Costs:
    """Per-level fixed cost of a context and per-layer configuration cost, in time units."""

    def __init__(self, p: PartitionProblem) -> None:
        rate = float(p.link_bytes_per_unit)
        floor = min_context_pcie_units(p) if p.num_layers > 1 else 0
        self.fixed = np.array(
            [
                p.switch_fixed_units + p.batch * t + p.fill_units(t)
                for t in (max(f, floor) for f in p.frame_units)
            ],
            dtype=float,
        )
        self.config = np.array(p.config_bytes, dtype=float) / rate  # [level][layer]
        self.reload = p.total_weight_bytes / rate
        keep = [r for r in range(len(p.limits)) if r not in redundant_resources(p)]
        self.limits = np.array([p.limits[r] for r in keep], dtype=float)
        self.items: list[np.ndarray] = []  # layers that fit a context alone at each level
        self.demand: list[np.ndarray] = []  # their demands, [item][resource]
        for lv in range(p.num_levels):
            rows = p.demand[lv]
            ok = [
                i
                for i, d in enumerate(rows)
                if d is not None and all(d[r] <= p.limits[r] for r in range(len(p.limits)))
            ]
            self.items.append(np.array(ok, dtype=int))
            self.demand.append(
                np.array([[rows[i][r] for r in keep] for i in ok], dtype=float).reshape(
                    len(ok), len(keep)
                )
            )


class _Pricing:
    """Knapsack LP of one level: max v.x, D x <= L, 0 <= x <= 1."""

    def __init__(self, costs: _Costs, level: int) -> None:
        self.level = level
        self.items = costs.items[level]
        self.d = costs.demand[level]
        self.limits = costs.limits
        self.config = costs.config[level][self.items]
        s = pywraplp.Solver.CreateSolver("GLOP")
        self.solver = s
        self.x = [s.NumVar(0.0, 1.0, f"x{i}") for i in self.items]
        self.rows = []
        for r, lim in enumerate(self.limits):
            self.rows.append(
                s.Add(s.Sum([self.d[j, r] * self.x[j] for j in range(len(self.items)) if self.d[j, r]]) <= lim)
            )
        s.Maximize(s.Sum([]))

    def solve(self, duals: np.ndarray, theta: float = 1.0):
        v = theta * duals[self.items] - self.config
        obj = self.solver.Objective()
        for j, var in enumerate(self.x):
            obj.SetCoefficient(var, float(v[j]))
        obj.SetMaximization()
        status = self.solver.Solve()
        lam_candidates = []
        x = None
        if status == pywraplp.Solver.OPTIMAL:
            dual = np.array([row.dual_value() for row in self.rows])
            lam_candidates = [np.maximum(dual, 0.0), np.maximum(-dual, 0.0)]
            x = np.array([var.solution_value() for var in self.x])
        lam_candidates.append(np.zeros(len(self.limits)))
        upper = min(self.upper(v, lam) for lam in lam_candidates)
        return v, x, upper

    def upper(self, v: np.ndarray, lam: np.ndarray) -> float:
        """Weak-duality bound on the best column's value at this level, valid for any lam >= 0."""
        return float(lam @ self.limits + np.maximum(0.0, v - self.d @ lam).sum())

    def column(self, v: np.ndarray, x: np.ndarray | None) -> tuple[list[int], float]:
        """A good integer column: items by LP value then by value density, first fit."""
        weight = self.d / np.maximum(self.limits, 1.0)
        density = v / np.maximum(weight.sum(axis=1), 1e-9)
        best: tuple[list[int], float] = ([], 0.0)
        orders = [np.argsort(-density, kind="stable")]
        if x is not None:
            orders.append(np.lexsort((-density, -np.round(x, 6))))
        for order in orders:
            used = np.zeros(len(self.limits))
            chosen = []
            value = 0.0
            for j in order:
                if v[j] <= 0:
                    continue
                if np.all(used + self.d[j] <= self.limits + 1e-9):
                    used += self.d[j]
                    chosen.append(int(j))
                    value += v[j]
            if value > best[1]:
                best = (chosen, value)
        return [int(self.items[j]) for j in best[0]], best[1]


def column_bound(
    problem: PartitionProblem,
    *,
    first: int = 2,
    partitions: tuple[Partition, ...] = (),
    time_limit_s: float = 2.0,
    max_rounds: int = 200,
    verbose: bool = False,
) -> ColumnBound | None:
    started = time.perf_counter()
    p = problem
    n = p.num_layers
    if n < first:
        return None
    costs = _Costs(p)
    s = pywraplp.Solver.CreateSolver("GLOP")
    cover = [s.Add(s.Sum([]) >= 1) for _ in range(n)]
    count = s.Add(s.Sum([]) >= first)
    obj = s.Objective()
    obj.SetMinimization()
    columns: set[tuple[int, tuple[int, ...]]] = set()

    def add(level: int, layers: list[int] | tuple[int, ...]) -> bool:
        key = (level, tuple(sorted(layers)))
        if key in columns or not layers:
            return False
        columns.add(key)
        var = s.NumVar(0.0, s.infinity(), f"c{len(columns)}")
        for i in layers:
            cover[i].SetCoefficient(var, 1.0)
        count.SetCoefficient(var, 1.0)
        obj.SetCoefficient(var, float(costs.fixed[level] + costs.config[level][list(layers)].sum()))
        return True

    for i in range(n):
        if i not in set(costs.items[0].tolist()):
            return None  # a layer fits no context: no partition
        add(0, [i])
    for part in partitions:
        for c, lv in enumerate(part.level_of):
            add(lv, part.layers_in(c))
    pricers = [_Pricing(costs, lv) for lv in range(p.num_levels)]
    lines: list[tuple[float, float]] = [(0.0, float(costs.fixed.min()))]  # T - R >= a + K s
    rounds = 0
    converged = False
    master = math.nan
    while rounds < max_rounds and time.perf_counter() - started < time_limit_s:
        rounds += 1
        if s.Solve() != pywraplp.Solver.OPTIMAL:
            break
        master = obj.Value() + costs.reload
        pi = np.array([c.dual_value() for c in cover])
        mu = count.dual_value()
        sigma = math.inf
        added = 0
        for pr in pricers:
            v, x, upper = pr.solve(pi)
            sigma = min(sigma, costs.fixed[pr.level] - upper)
            layers, value = pr.column(v, x)
            if costs.fixed[pr.level] - mu - value < -1e-6 * max(1.0, master):
                added += add(pr.level, layers)
        lines.append((float(pi.sum()), sigma))
        if verbose:
            lb = _count_units(lines, costs.reload, first, n, 1)[0]
            print(f"round {rounds}: master {master:.1f} mu {mu:.2f} sigma {sigma:.2f} lb {lb} added {added} cols {len(columns)} t {time.perf_counter()-started:.2f}")
        if not added:
            converged = True
            break
    units = _count_units(lines, costs.reload, first, n, 16)
    return ColumnBound(
        by_count=CountBounds(first=first, units=units, num_layers=n),
        master_units=master,
        columns=len(columns),
        rounds=rounds,
        converged=converged,
        seconds=time.perf_counter() - started,
    )


def _count_units(lines, reload: float, first: int, n: int, counts: int) -> tuple[int, ...]:
    a = np.array([line[0] for line in lines])
    b = np.array([line[1] for line in lines])
    ks = np.arange(first, n + 1, dtype=float)
    lower = reload + (a[None, :] + ks[:, None] * b[None, :]).max(axis=1)  # per K
    # bound for >= k: min over K >= k
    suffix = np.minimum.accumulate(lower[::-1])[::-1]
    out = []
    for j in range(min(counts, len(ks))):
        value = suffix[j]
        out.append(max(0, math.ceil(value - SAFETY * max(1.0, abs(value)))))
    return tuple(out)
