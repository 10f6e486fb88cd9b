"""The CP-SAT model of context partitioning: the only module that touches CP-SAT variables.

For a problem and a number of contexts K, :class:`PartitionModel` builds one CP-SAT model from
small ``add_*`` functions over a :class:`ContextVars` container, hints it with the better
baseline, solves it and returns a :class:`~partitioner.problem.PartitionResult`.

Variables (names in brackets; ``<layer>`` is the layer's name):

* ``le[i][c]`` [``le_<layer>_c<c>``]: layer i sits in context c or earlier (order encoding of
  its context). ``x[i][c]`` [``x_<layer>_c<c>``] = ``le[i][c] and not le[i][c-1]``. Only the
  contexts of the layer's window exist (:func:`~partitioner.problem.context_windows`: its
  ancestors must fit before it, its descendants after it); outside it ``le`` is a constant.
* ``used[c]`` [``used_c<c>``]: context c holds a layer. Used contexts form a prefix and each is
  non-empty (symmetry breaking); with ``exact=True`` all K are used.
* ``ge[c][l]`` [``lvl_c<c>_ge<l>``]: context c runs at level l or faster (order encoding, l >= 1).
* ``in[u][c]``, ``out[u][c]`` [``in_<layer>_c<c>``, ``out_<layer>_c<c>``]: layer u's output
  crosses into / out of context c; ``gin[g][c]`` [``gin_<input>_c<c>``]: graph input g is read
  in c.
* ``t[c]``, ``fill[c]``, ``cfg[c]``, ``reload``: frame time, pipeline fill (time units),
  configuration bytes of context c, and the reload time of the batch.

Constraints, one function each: order encoding, precedence (``le[w][c] -> le[u][c]`` for an
edge u -> w), symmetry, level order, the caps at each level (``sum_i demand[l][i] x[i][c] <=
limit`` enforced by ``ge[c][l]``), levels a layer cannot reach, crossings, the edge-layer limit,
frame times, redundant work cuts, switch costs, pins. The objective is ``T(B)`` in integer
:data:`~partitioner.problem.TIME_UNIT_S` (1 us): the problem turned every float into integers
(frame units per level, the link rate as an exact fraction of bytes per unit).

Determinism: with ``deterministic=True`` (the default) a solve with a fixed ``seed`` and
``workers`` stops on a deterministic budget (one worker, or CP-SAT's ``interleave_search`` for
several), so the same input gives the same partition (see :meth:`PartitionModel.solve`).

>>> from partitioner.problem import chain_problem
>>> p = chain_problem(lcus=(30, 40, 40, 30), limit=77)
>>> result = PartitionModel(p, num_contexts=3).solve(time_limit_s=5)
>>> result.status.value, result.partition.context_of, result.objective_units
('OPTIMAL', (0, 0, 1, 1), 1000)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from ortools.sat.python import cp_model

from partitioner.errors import GraphError, InfeasiblePartitionError
from partitioner.problem import (
    Partition,
    PartitionProblem,
    PartitionResult,
    Status,
    batch_time_units,
    config_bytes_of,
    context_frame_units,
    context_windows,
    make_partition,
    redundant_resources,
    traffic,
    violations,
)
from partitioner.splits import dp_split, greedy_split

DETERMINISTIC_UNITS_PER_S = 0.3
"""CP-SAT deterministic-time units per second of ``time_limit_s`` for the search (one worker,
no LP).

A solve stops after ``DETERMINISTIC_UNITS_PER_S x time_limit_s`` deterministic units, so the same
input gives the same answer on any load. Measured on the zoo's Hailo-8 problems (2-core machine,
2026-11-22): 0.19-0.32 units per wall second with the machine otherwise idle (0.19-0.22 on
YOLO11x, 0.3 on the ViTs), 0.18-0.27 with another job on it; the budget lands near the requested
wall time on an idle machine and up to ~1.5x later on a busy one or a slow problem. A
wall-clock cap of ``WALL_SAFETY_FACTOR x time_limit_s`` stops a run on a much slower machine, at
the price of determinism for that run."""
PORTFOLIO_UNITS_PER_S = 0.5
"""The same for the LP bound's solve (``workers >= 2``): 0.53-0.77 units per wall second measured
with one worker, 0.45-0.8 for CP-SAT's interleaved portfolio."""
LP_BUDGET_FRACTION = 0.3
"""The LP bound's solve gets this fraction of an iteration's budget: its bound comes mostly from
the root LP and early cuts, and while it runs it slows the search (measured 1.4x on YOLO11x with
both on this 2-core machine), so it ends early and leaves the search alone for the rest."""
WALL_SAFETY_FACTOR = 2.0
EXACT_PAIRS_MAX = 8_000
"""(layer, context) pairs in the windows above which a model searches the neighbourhood of its
starting partition instead (:class:`PartitionModel`). The zoo's models stay exact (measured at
the multi-context caps, batch 1 and 8: YOLO11x has 605 pairs at its DP split's K on Hailo-8 and
2,043 on Hailo-8L, 3,621 at K = 20; ViT-Base on Hailo-8L 998). On the synthetic networks of
``benchmarks/scaling.py`` (Hailo-8, batch 8, K = the DP split's count) a 500-layer chain has
3,600 pairs, a 500-layer transformer 9,200, 1,000-layer ones 11,000-38,000 and 5,000-layer ones
270,000-940,000 (K - k0 grows with n: the exact model grows as n^2); the exact models of
9,000-14,000 pairs gave no CP-SAT solution within 20 s (the presolve), where a neighbourhood
model gives its first 0.2-2 s after it is built (load ~10 on 2 cores)."""
NEIGHBOURHOOD_CONTEXTS = 2
"""Contexts each side of a layer's starting context that a neighbourhood model allows: the
model then has at most 5 x layers (layer, context) pairs, so it grows linearly."""

_STATUS = {
    cp_model.OPTIMAL: Status.OPTIMAL,
    cp_model.FEASIBLE: Status.FEASIBLE,
    cp_model.INFEASIBLE: Status.INFEASIBLE,
}

Lit = cp_model.IntVar  # a Boolean variable (or its negation)
MaybeLit = Lit | bool  # a literal, or a Python constant outside a layer's window


@dataclass(frozen=True, kw_only=True)
class SolutionEvent:
    """One improving solution, as the solver reports it during the search."""

    objective_units: int
    bound_units: int
    wall_seconds: float


class ContextVars:
    """The decision variables of one model, with query methods; built once, read by ``add_*``.

    Layers may be given by index (problem order) or by name.
    """

    def __init__(
        self,
        model: cp_model.CpModel,
        problem: PartitionProblem,
        k: int,
        *,
        windows: Sequence[tuple[int, int]] | None = None,
    ) -> None:
        self.model, self.problem, self.k = model, problem, k
        self.windows = tuple(windows) if windows is not None else context_windows(problem, k)
        self._members: list[list[int]] = [[] for _ in range(k)]
        for i, (first, last) in enumerate(self.windows):
            for c in range(max(0, first), min(k - 1, last) + 1):
                self._members[c].append(i)
        self._le = [self._make_le(i) for i in range(problem.num_layers)]
        self._x = [self._make_x(i) for i in range(problem.num_layers)]
        self._used = [model.new_bool_var(f"used_c{c}") for c in range(k)]
        self._ge = [
            [model.new_bool_var(f"lvl_c{c}_ge{lv}") for lv in range(1, problem.num_levels)]
            for c in range(k)
        ]
        self._cin: dict[tuple[int, int], Lit] = {}
        self._cout: dict[tuple[int, int], Lit] = {}
        self._gin: dict[tuple[int, int], Lit] = {}
        self._crossing_at: list[list[tuple[str, int, Lit]]] = [[] for _ in range(k)]
        self.horizon = max(problem.frame_units[0], problem.pcie_units(_max_context_bytes(problem)))
        self._t = [model.new_int_var(0, self.horizon, f"t_c{c}") for c in range(k)]
        fill = problem.fill_fraction
        fill_max = -(-self.horizon * fill.numerator // fill.denominator)
        self._fill = [model.new_int_var(0, fill_max, f"fill_c{c}") for c in range(k)]
        max_config = sum(max(col) for col in zip(*problem.config_bytes, strict=True))
        self._config = [model.new_int_var(0, max_config, f"cfg_c{c}") for c in range(k)]
        self._reload = model.new_int_var(0, problem.reload_units(max_config), "reload")

    def _make_le(self, i: int) -> dict[int, Lit]:
        first, last = self.windows[i]
        name = self.problem.layer_names[i]
        return {c: self.model.new_bool_var(f"le_{name}_c{c}") for c in range(first, last)}

    def _make_x(self, i: int) -> dict[int, Lit]:
        first, last = self.windows[i]
        if first >= last:
            return {first: self.model.new_constant(1)} if first == last else {}
        le, name = self._le[i], self.problem.layer_names[i]
        x = {first: le[first], last: le[last - 1].Not()}
        for c in range(first + 1, last):
            var = self.model.new_bool_var(f"x_{name}_c{c}")
            self.model.add(var + le[c - 1] == le[c])
            x[c] = var
        return x

    def layer(self, layer: int | str) -> int:
        """Index of a layer given by index or name."""
        return layer if isinstance(layer, int) else self.problem.index(layer)

    # -- queries -------------------------------------------------------------------------------
    def contexts(self, layer: int | str) -> range:
        """Contexts the layer may sit in (its window)."""
        first, last = self.windows[self.layer(layer)]
        return range(first, last + 1)

    def layers_in_window(self, c: int) -> list[int]:
        """Layers that may sit in context ``c``."""
        return self._members[c]

    def in_context(self, layer: int | str, c: int) -> MaybeLit:
        """True when the layer sits in context ``c`` (``False`` outside its window)."""
        return self._x[self.layer(layer)].get(c, False)

    def at_or_before(self, layer: int | str, c: int) -> MaybeLit:
        """True when the layer sits in context ``c`` or an earlier one (a constant outside
        its window)."""
        i = self.layer(layer)
        first, last = self.windows[i]
        if c < first:
            return False
        if c >= last:
            return True
        return self._le[i][c]

    def context_of(self, layer: int | str) -> cp_model.LinearExprT:
        """The layer's context index, ``0..K-1``."""
        i = self.layer(layer)
        return self.windows[i][1] - sum(self._le[i].values())

    def is_used(self, c: int) -> Lit:
        """True when context ``c`` holds at least one layer."""
        return self._used[c]

    def level_at_least(self, c: int, level: int) -> MaybeLit:
        """True when context ``c`` runs at ``level`` or faster (``True`` for level 0)."""
        return True if level == 0 else self._ge[c][level - 1]

    def level_of(self, c: int) -> cp_model.LinearExprT:
        """Context ``c``'s level index."""
        return sum(self._ge[c])

    def level_literals(self, c: int) -> list[Lit]:
        """``ge[c][1..L-1]``: context ``c`` runs at level 1 or faster, level 2 or faster, ..."""
        return self._ge[c]

    def usage(self, resource: int | str, c: int, level: int) -> cp_model.LinearExprT:
        """Units of a resource the layers of context ``c`` need at ``level`` (the layers that
        can reach it; the others are excluded from such a context by :func:`add_reachability`)."""
        r = resource if isinstance(resource, int) else self.problem.resource_names.index(resource)
        row = self.problem.demand[level]
        return self.weighted(
            c, ((d[r], i) for i in self.layers_in_window(c) if (d := row[i]) is not None and d[r])
        )

    def configuration(self, c: int, level: int) -> cp_model.LinearExprT:
        """Configuration bytes the layers of context ``c`` need at ``level``."""
        row, demand = self.problem.config_bytes[level], self.problem.demand[level]
        return self.weighted(
            c, ((row[i], i) for i in self.layers_in_window(c) if row[i] and demand[i] is not None)
        )

    def weighted(self, c: int, terms: Iterable[tuple[int, int]]) -> cp_model.LinearExprT:
        """``sum coefficient x x[i][c]`` over ``(coefficient, layer)`` terms (layers whose
        window holds ``c``)."""
        x = self._x
        pairs = [(x[i][c], coef) for coef, i in terms]
        if not pairs:
            return 0
        return cp_model.LinearExpr.weighted_sum([a for a, _ in pairs], [b for _, b in pairs])

    def crosses_in(self, u: int, c: int) -> Lit:
        """Layer ``u``'s output is read in context ``c`` but produced earlier."""
        return self._crossing(self._cin, "in", u, c)

    def crosses_out(self, u: int, c: int) -> Lit:
        """Layer ``u``'s output leaves context ``c`` (read later, or a graph output)."""
        return self._crossing(self._cout, "out", u, c)

    def reads_input(self, g: int, c: int) -> Lit:
        """Graph input ``g`` is read in context ``c``."""
        if (g, c) not in self._gin:
            name = self.problem.graph_inputs[g].name
            lit = self._gin[(g, c)] = self.model.new_bool_var(f"gin_{name}_c{c}")
            self._crossing_at[c].append(("gin", g, lit))
        return self._gin[(g, c)]

    def _crossing(self, table: dict[tuple[int, int], Lit], kind: str, u: int, c: int) -> Lit:
        if (u, c) not in table:
            name = f"{kind}_{self.problem.layer_names[u]}_c{c}"
            lit = table[(u, c)] = self.model.new_bool_var(name)
            self._crossing_at[c].append((kind, u, lit))
        return table[(u, c)]

    def all_crossings(self) -> list[tuple[tuple[str, int, int], Lit]]:
        """``((kind, index, context), literal)`` of every crossing literal made so far."""
        tables = (("in", self._cin), ("out", self._cout), ("gin", self._gin))
        return [((kind, i, c), lit) for kind, table in tables for (i, c), lit in table.items()]

    def boundary(self, c: int, direction: str | None = None) -> list[tuple[int, Lit]]:
        """``(PCIe load per frame, literal)`` of every tensor that may cross context ``c``'s
        edge; ``direction`` ``"in"`` (graph inputs, tensors read back) or ``"out"`` keeps one
        direction."""
        p = self.problem
        out = []
        for kind, i, lit in sorted(self._crossing_at[c], key=lambda t: _KIND_ORDER[t[0]]):
            if direction is not None and (kind == "out") != (direction == "out"):
                continue
            load = {"gin": p.input_load, "in": p.read_load, "out": p.output_load}[kind]
            out.append((load[i], lit))
        return out

    def frame_time(self, c: int) -> cp_model.IntVar:
        """Context ``c``'s frame time ``t_c`` in time units."""
        return self._t[c]

    def fill_units(self, c: int) -> cp_model.IntVar:
        """Pipeline fill of context ``c`` in time units (counted only when multi-context)."""
        return self._fill[c]

    def config_bytes(self, c: int) -> cp_model.IntVar:
        """Configuration bytes of context ``c`` at its level."""
        return self._config[c]

    def reload_units(self) -> cp_model.IntVar:
        """Reload of all weights and configuration per batch (0 with a single context)."""
        return self._reload

    def extract(
        self, solver: cp_model.CpSolver | cp_model.CpSolverSolutionCallback
    ) -> tuple[int, ...]:
        """Each layer's context in the solver's (or a solution callback's) solution."""
        return tuple(
            last - sum(int(solver.boolean_value(v)) for v in le.values())
            for (_, last), le in zip(self.windows, self._le, strict=True)
        )


_KIND_ORDER = {"in": 0, "out": 1, "gin": 2}  # the order of all_crossings()


def window_pairs(windows: Sequence[tuple[int, int]], k: int) -> int:
    """(layer, context) pairs the windows allow among contexts ``0..k-1``: the model's size
    (its x, le and crossing literals, and each cap's terms per level, grow with it)."""
    return sum(max(0, min(k - 1, last) - max(0, first) + 1) for first, last in windows)


def around(
    context_of: Sequence[int], windows: Sequence[tuple[int, int]], radius: int
) -> tuple[tuple[int, int], ...]:
    """Each layer's window cut to ``radius`` contexts either side of its context in
    ``context_of`` (which must lie in the window).

    >>> around((0, 1, 3), ((0, 4), (0, 4), (2, 3)), 1)
    ((0, 1), (0, 2), (2, 3))
    """
    return tuple(
        (max(first, c - radius), min(last, c + radius))
        for c, (first, last) in zip(context_of, windows, strict=True)
    )


def _max_context_bytes(problem: PartitionProblem) -> int:
    """Most bytes one context can move per frame: every tensor in and out, every input."""
    return sum(problem.output_load) + sum(problem.read_load) + sum(problem.input_load)


# -- small helpers over literals that may be Python constants ----------------------------------
def _clause(model: cp_model.CpModel, literals: Sequence[MaybeLit]) -> None:
    """At least one literal holds; constants are folded (True: nothing to add)."""
    if any(lit is True for lit in literals):
        return
    model.add_bool_or([lit for lit in literals if lit is not False])


def _not(lit: MaybeLit) -> MaybeLit:
    return (not lit) if isinstance(lit, bool) else lit.Not()


def _implies(model: cp_model.CpModel, a: MaybeLit, b: MaybeLit) -> None:
    """``a -> b``."""
    _clause(model, [_not(a), b])


# -- constraints ---------------------------------------------------------------------------------
def add_order_encoding(model: cp_model.CpModel, v: ContextVars) -> None:
    """``le[i][c] -> le[i][c+1]``: 'in c or before' implies 'in c+1 or before'."""
    for i in range(v.problem.num_layers):
        first, last = v.windows[i]
        for c in range(first, last - 1):
            model.add_implication(v.at_or_before(i, c), v.at_or_before(i, c + 1))


def add_precedence(model: cp_model.CpModel, v: ContextVars) -> None:
    """Data flows forward: ``le[w][c] -> le[u][c]`` for every edge u -> w (only the contexts
    where the clause is not a constant: ``le[w][c]`` is False before w's window and ``le[u][c]``
    True from the end of u's)."""
    windows = v.windows
    for u, w in v.problem.edges:
        for c in range(max(0, windows[w][0]), min(v.k - 1, windows[u][1])):
            _implies(model, v.at_or_before(w, c), v.at_or_before(u, c))


def add_used_prefix(
    model: cp_model.CpModel, v: ContextVars, *, exact: bool, at_least: int = 1
) -> None:
    """Symmetry breaking: used contexts are ``0..K'-1``, each non-empty; all K when ``exact``,
    at least ``at_least`` (``context_switch_param(mode=enabled)`` splits even a network that fits
    one context: at least 2).

    (Fixing the first ``k0`` contexts as used, ``k0`` from the level-0 demand, was measured to
    slow the one-worker proofs on the ViTs by 10-40%: it is left out.)
    """
    model.add(v.is_used(0) == 1)
    for c in range(v.k):
        if c > 0:
            model.add_implication(v.is_used(c), v.is_used(c - 1))
            if exact or c < at_least:
                model.add(v.is_used(c) == 1)
        members = [v.in_context(i, c) for i in v.layers_in_window(c)]
        for lit in members:
            _implies(model, lit, v.is_used(c))
        _clause(model, [v.is_used(c).Not(), *members])


def add_level_order(model: cp_model.CpModel, v: ContextVars) -> None:
    """``ge[c][l] -> ge[c][l-1]``: running at level l means running at every level below."""
    for c in range(v.k):
        for lv in range(2, v.problem.num_levels):
            model.add_implication(v.level_at_least(c, lv), v.level_at_least(c, lv - 1))


def add_resource_caps(model: cp_model.CpModel, v: ContextVars) -> None:
    """At its level, a context's layers fit every limit.

    Skipped: resources implied by another (:func:`~partitioner.problem.redundant_resources`),
    levels whose demands equal the level below, and contexts whose window layers fit anyway.
    """
    p = v.problem
    skip = redundant_resources(p)
    for lv in range(p.num_levels):
        for r, limit in enumerate(p.limits):
            if r in skip or (lv > 0 and _same_column(p, lv, r)):
                continue
            for c in range(v.k):
                row = p.demand[lv]
                window = v.layers_in_window(c)
                if sum(d[r] for i in window if (d := row[i]) is not None) <= limit:
                    continue
                cap = model.add(v.usage(r, c, lv) <= limit)
                if lv > 0:
                    cap.only_enforce_if(v.level_at_least(c, lv))


def _same_column(p: PartitionProblem, lv: int, r: int) -> bool:
    """Every layer that reaches ``lv`` needs as much of resource ``r`` as at ``lv - 1``."""
    below = p.demand[lv - 1]
    return all(d is None or below[i][r] == d[r] for i, d in enumerate(p.demand[lv]))  # type: ignore[index]


def add_reachability(model: cp_model.CpModel, v: ContextVars) -> None:
    """A context never runs faster than its slowest layer can: ``x[i][c] -> not ge[c][m_i+1]``."""
    p = v.problem
    for i, top in enumerate(p.max_level):
        if top + 1 < p.num_levels:
            for c in v.contexts(i):
                _implies(model, v.in_context(i, c), _not(v.level_at_least(c, top + 1)))


def add_crossings(model: cp_model.CpModel, v: ContextVars) -> None:
    """Define the crossing literals (only forced up; the limits and the objective push them down).

    * into c: a reader w in c and the producer u before c: ``x[w][c] and le[u][c-1] -> in``;
    * out of c: u in c and a reader after c: ``x[u][c] and not le[w][c] -> out``; a graph output
      always leaves the context it is made in;
    * a graph input is read in c when one of its readers is.
    """
    p = v.problem
    for u, readers in enumerate(p.consumers):
        for w in readers:
            for c in v.contexts(w):
                before = v.at_or_before(u, c - 1) if c > 0 else False
                if before is not False:
                    _clause(model, [_not(v.in_context(w, c)), _not(before), v.crosses_in(u, c)])
            if p.is_output[u]:
                continue
            for c in v.contexts(u):
                after = _not(v.at_or_before(w, c))
                if after is not False:
                    _clause(model, [_not(v.in_context(u, c)), _not(after), v.crosses_out(u, c)])
        if p.is_output[u]:
            for c in v.contexts(u):
                _implies(model, v.in_context(u, c), v.crosses_out(u, c))
    for g, graph_input in enumerate(p.graph_inputs):
        for w in graph_input.consumers:
            for c in v.contexts(w):
                _implies(model, v.in_context(w, c), v.reads_input(g, c))


def add_edge_limits(model: cp_model.CpModel, v: ContextVars) -> None:
    """At most ``edge_layer_limit`` tensors cross each context's boundary."""
    for c in range(v.k):
        lits = [lit for _, lit in v.boundary(c)]
        if len(lits) > v.problem.edge_layer_limit:
            model.add(sum(lits) <= v.problem.edge_layer_limit)


def add_frame_times(model: cp_model.CpModel, v: ContextVars) -> None:
    """``t_c >= frame time of its level`` (if used) and ``t_c x link >=`` the PCIe load of c
    in each direction.

    The level term is linear in the ``ge`` literals: ``F_0 - sum_l (F_{l-1} - F_l) ge[c][l]``.
    The PCIe term uses the exact link fraction ``num/den`` bytes per unit.
    """
    p = v.problem
    units = p.frame_units
    rate = p.link_bytes_per_unit
    for c in range(v.k):
        steps = [units[lv - 1] - units[lv] for lv in range(1, len(units))]
        level_time = units[0] - cp_model.LinearExpr.weighted_sum(v.level_literals(c), steps)
        model.add(v.frame_time(c) >= level_time).only_enforce_if(v.is_used(c))
        for direction in ("in", "out"):  # PCIe is full duplex: each direction on its own
            crossing = v.boundary(c, direction)
            if crossing:
                load = cp_model.LinearExpr.weighted_sum(
                    [lit for _, lit in crossing], [rate.denominator * b for b, _ in crossing]
                )
                model.add(rate.numerator * v.frame_time(c) >= load)


def add_work_cuts(model: cp_model.CpModel, v: ContextVars) -> None:
    """Redundant cuts that give the LP a bound: ``limit_r x t_c >= sum_i a_ir x[i][c]``.

    At its level l a context has ``t_c >= F_l`` (frame units) and ``sum_i d_lir x[i][c] <=
    limit_r``, so ``limit_r x t_c >= F_l x sum_i d_lir x[i][c] >= sum_i a_ir x[i][c]`` with
    ``a_ir = min_l F_l x d_lir`` over the levels layer i reaches. Valid for every partition.
    Summed over the contexts (every layer sits in one): ``limit_r x sum_c t_c >= sum_i a_ir``,
    a constant bound that the search without LP propagates into the objective from the start.
    """
    p = v.problem
    for r, limit in enumerate(p.limits):
        work = [
            min(
                p.frame_units[lv] * p.demand[lv][i][r]  # type: ignore[index]
                for lv in range(p.max_level[i] + 1)
            )
            for i in range(p.num_layers)
        ]
        if sum(work) <= limit * p.frame_units[-1]:
            continue  # never above the fastest level's frame time: the cut adds nothing
        for c in range(v.k):
            terms = ((a, i) for i in v.layers_in_window(c) if (a := work[i]))
            model.add(limit * v.frame_time(c) >= v.weighted(c, terms))
        model.add(limit * sum(v.frame_time(c) for c in range(v.k)) >= sum(work))


def add_switch_costs(model: cp_model.CpModel, v: ContextVars) -> None:
    """Reload and fill, paid only when more than one context is used (``multi = used[1]``).

    * ``cfg[c] >= configuration of c at level l`` enforced by ``ge[c][l]`` (it grows with the
      level; the level-0 sum is unconditional);
    * ``reload x link >= all weights + sum_c cfg[c]`` when multi (one rounding for all);
    * ``fill[c] x den >= num x t[c]`` when multi (``pipeline_fill_frames = num/den``).
    """
    p = v.problem
    if v.k == 1:
        return
    multi = v.is_used(1)
    fill = p.fill_fraction
    for c in range(v.k):
        for lv in range(p.num_levels):
            if lv > 0 and p.config_bytes[lv] == p.config_bytes[lv - 1]:
                continue
            bound = model.add(v.config_bytes(c) >= v.configuration(c, lv))
            if lv > 0:
                bound.only_enforce_if(v.level_at_least(c, lv))
        if fill:
            model.add(
                fill.denominator * v.fill_units(c) >= fill.numerator * v.frame_time(c)
            ).only_enforce_if(multi)
    rate = p.link_bytes_per_unit
    configs = sum(v.config_bytes(c) for c in range(v.k))
    model.add(
        rate.numerator * v.reload_units() >= rate.denominator * (p.total_weight_bytes + configs)
    ).only_enforce_if(multi)


def add_pins(model: cp_model.CpModel, v: ContextVars, pins: Mapping[str, int]) -> None:
    """Fix layers to contexts (a model script's ``context_0 = context([...])``).

    A pin outside the layer's window makes the model infeasible (its ancestors or descendants
    cannot fit around it).

    Raises:
        GraphError: a pinned name is not a layer.
        InfeasiblePartitionError: a pin names a context outside ``0..K-1``.
    """
    for name, c in pins.items():
        if name not in v.problem.layer_names:
            raise GraphError(
                f"context pin names {name!r}, which is not a layer of {v.problem.name!r}; "
                "run `ctxfit profile` to list the layer names"
            )
        if not 0 <= c < v.k:
            raise InfeasiblePartitionError(
                f"layer {name!r} is pinned to context_{c} but this search allows contexts "
                f"0..{v.k - 1}; allow more contexts or change the pin"
            )
        _clause(model, [v.in_context(name, c)])


def batch_time_expr(v: ContextVars, *, exact: bool) -> cp_model.LinearExprT:
    """``T(B)`` in time units.

    ``sum_c (B x t[c] + fill[c])  +  reload  +  fixed x (#used - 1 + multi)``: with one context
    used (``multi`` false) the fill, reload and fixed terms vanish (fill and reload are only
    bounded below when multi, and the objective pushes them to 0 otherwise).
    """
    p, k = v.problem, v.k
    frames = sum(p.batch * v.frame_time(c) for c in range(k))
    if k == 1:
        return frames
    fills = sum(v.fill_units(c) for c in range(k)) if p.fill_fraction else 0
    if exact:
        fixed = k * p.switch_fixed_units
    else:
        n_used = sum(v.is_used(c) for c in range(k))
        fixed = p.switch_fixed_units * (n_used - 1 + v.is_used(1))
    return frames + fills + v.reload_units() + fixed


CONSTRAINTS = (
    add_order_encoding,
    add_precedence,
    add_level_order,
    add_resource_caps,
    add_reachability,
    add_crossings,
    add_edge_limits,
    add_frame_times,
    add_work_cuts,
    add_switch_costs,
)


# -- the model -----------------------------------------------------------------------------------
class PartitionModel:
    """CP-SAT model of one problem with at most (or, ``exact``, exactly) ``num_contexts`` contexts.

    Args:
        problem: the problem, ready to solve.
        num_contexts: K, the most contexts (``exact``: the exact count).
        exact: require all K contexts non-empty.
        pins: ``{layer name: context}`` to fix.
        hint: a partition to start from (the search passes its best so far); the model starts
            from the best of it, greedy and DP among those that fit K, the pins and the windows.
            ``use_hint=False`` gives no hint.
        cutoff_units: look only for partitions with ``T(B) <= cutoff_units`` (the search's
            "faster than the best so far by more than IMPROVEMENT_EPS"). When none exists the
            result is the starting partition with the proven bound ``cutoff_units + 1``: on the
            zoo such a proof is up to 10x faster than proving the starting partition optimal
            (YOLO11x on Hailo-8, 6 contexts after the 5-context optimum: 0.9 s instead of 8 s),
            because the many partitions within a hair of the optimum need not be refuted one by
            one. Needs a starting partition.
        neighbourhood: search only within this many contexts of the starting partition's
            context of each layer (a large-neighbourhood step; ``None``: every context of the
            layer's window). A heuristic: the result is never ``OPTIMAL`` and has no bound.
            By default (``neighbourhood=None``, ``max_exact_pairs`` given) a model whose windows
            hold more than ``max_exact_pairs`` (layer, context) pairs is built on the
            neighbourhood :data:`NEIGHBOURHOOD_CONTEXTS` of its starting partition, when it
            has one: the exact model grows as layers x (K - k0), i.e. as n^2 on large networks
            (a 5,000-layer chain at its DP split's K = 136 has 344,563 pairs, 69 contexts per
            layer, each pair with a cap term per level and resource).
        max_exact_pairs: see ``neighbourhood``; ``None`` always builds the exact model.

    Raises:
        GraphError / InfeasiblePartitionError: a bad pin (see :func:`add_pins`).
        ValueError: ``cutoff_units`` without a starting partition.
    """

    def __init__(
        self,
        problem: PartitionProblem,
        *,
        num_contexts: int,
        exact: bool = False,
        pins: Mapping[str, int] | None = None,
        hint: Partition | None = None,
        use_hint: bool = True,
        cutoff_units: int | None = None,
        min_contexts: int = 1,
        neighbourhood: int | None = None,
        max_exact_pairs: int | None = EXACT_PAIRS_MAX,
    ) -> None:
        if num_contexts < max(1, min_contexts):
            raise ValueError(
                f"num_contexts must be >= max(1, min_contexts={min_contexts}), got {num_contexts!r}"
            )
        self.problem, self.k, self.exact = problem, num_contexts, exact
        self.min_contexts = min_contexts
        self.pins = dict(pins or {})
        self.model = cp_model.CpModel()
        self._windows = context_windows(problem, num_contexts)  # sound: every partition's
        self.hint: Partition | None = None
        if use_hint:
            self.hint = self._best_start(hint)
        if neighbourhood is None and max_exact_pairs is not None and self.hint is not None:
            if window_pairs(self._windows, num_contexts) > max_exact_pairs:
                neighbourhood = NEIGHBOURHOOD_CONTEXTS
        self.neighbourhood = neighbourhood if self.hint is not None else None
        windows = self._windows
        if self.neighbourhood is not None:
            windows = around(self.hint.context_of, self._windows, self.neighbourhood)  # type: ignore[union-attr]
        self.vars = ContextVars(self.model, problem, num_contexts, windows=windows)
        if any(first > last for first, last in self.vars.windows):
            self.model.add_bool_or([])  # some layer fits no context: infeasible for this K
        for add in CONSTRAINTS:
            add(self.model, self.vars)
        add_used_prefix(self.model, self.vars, exact=exact, at_least=min_contexts)
        add_pins(self.model, self.vars, self.pins)
        objective = batch_time_expr(self.vars, exact=exact)
        self.model.minimize(objective)
        if self.hint is not None:
            self._add_hint(self.hint)
        self.cutoff_units = cutoff_units
        if cutoff_units is not None:
            if self.hint is None:
                raise ValueError("cutoff_units needs a starting partition (a hint that fits K)")
            self.model.add(objective <= cutoff_units)
        self._stop = threading.Event()
        self._solvers: list[cp_model.CpSolver] = []

    # -- hint ----------------------------------------------------------------------------------
    def baseline(self) -> Partition | None:
        """The better of greedy and DP among those that fit K (exactly K if ``exact``), the
        pins and the windows; ``None`` if neither does."""
        candidates = [
            greedy_split(self.problem),
            dp_split(self.problem, max_contexts=self.k),
        ]
        ok = [c for c in candidates if c is not None and self._hint_fits(c)]
        return min(ok, key=lambda c: batch_time_units(self.problem, c), default=None)

    def _best_start(self, hint: Partition | None) -> Partition | None:
        """The faster of ``hint`` (if it fits) and :meth:`baseline`."""
        base = self.baseline()
        if hint is None or not self._hint_fits(hint):
            return base
        if base is None or batch_time_units(self.problem, hint) <= batch_time_units(
            self.problem, base
        ):
            return hint
        return base

    def _hint_fits(self, hint: Partition) -> bool:
        k = hint.num_contexts
        return (
            (k == self.k if self.exact else self.min_contexts <= k <= self.k)
            and all(hint.assignment.get(name) == c for name, c in self.pins.items())
            and all(
                first <= c <= last
                for c, (first, last) in zip(hint.context_of, self._windows, strict=True)
            )
        )

    def _add_hint(self, hint: Partition) -> None:
        """Hint every variable, so CP-SAT starts from a complete feasible solution."""
        m, v, p = self.model, self.vars, self.problem
        for i, ci in enumerate(hint.context_of):
            first, last = v.windows[i]
            for c in range(first, last):
                m.add_hint(v.at_or_before(i, c), ci <= c)
            for c in range(first + 1, last):
                m.add_hint(v.in_context(i, c), ci == c)
        crossing = _hint_crossings(p, hint.context_of)
        for key, lit in v.all_crossings():
            m.add_hint(lit, key in crossing)
        flows = traffic(p, hint.context_of)
        multi, configs = hint.num_contexts > 1, 0
        members: list[list[int]] = [[] for _ in range(hint.num_contexts)]
        for i, ci in enumerate(hint.context_of):
            members[ci].append(i)
        for c in range(self.k):
            used = c < hint.num_contexts
            level = hint.level_of[c] if used else 0
            m.add_hint(v.is_used(c), used)
            for lv in range(1, p.num_levels):
                m.add_hint(v.level_at_least(c, lv), used and level >= lv)
            t = context_frame_units(p, level, flows[c]) if used else 0
            m.add_hint(v.frame_time(c), t)
            m.add_hint(v.fill_units(c), p.fill_units(t) if multi else 0)
            config = config_bytes_of(p, members[c], level) if used else 0
            m.add_hint(v.config_bytes(c), config)
            configs += config
        m.add_hint(v.reload_units(), p.reload_units(configs) if multi else 0)

    # -- solving -------------------------------------------------------------------------------
    def stop(self) -> None:
        """Ask a running :meth:`solve` (in another thread) to stop and return its best so far.

        A stopped model stays stopped: a later :meth:`solve` returns at its first solution.
        """
        self._stop.set()
        for solver in list(self._solvers):
            solver.stop_search()

    def solve(
        self,
        *,
        time_limit_s: float = 10.0,
        workers: int = 2,
        seed: int = 0,
        deterministic: bool = True,
        on_solution: Callable[[SolutionEvent], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        log: bool = False,
    ) -> PartitionResult:
        """Solve and return the result.

        The search is one CP-SAT worker without the LP relaxation, after CP-SAT's presolve:
        measured on the zoo's Hailo-8 problems, it proves the optimum 2-10x sooner than CP-SAT's
        portfolio with the LP, whose bound stays 20-30% below the optimum (each context's rate is
        a discrete level), so the proofs come from the tree search. With ``workers >= 2`` a
        second solve runs alongside it in another thread, with the LP (``linearization_level=2``,
        no presolve; ``workers - 1`` workers, interleaved when more than one): when the search
        proves its answer that solve is stopped and ignored; when the search runs to its budget,
        the answer takes the higher of the two bounds and the faster of the two partitions (on
        Hailo-8L's ViTs and large YOLOs the LP bound is within 8-27% where the search's own is
        50-77% off).

        A neighbourhood model (see :class:`PartitionModel`) runs the search alone: the LP
        solve's bound would hold only for the neighbourhood.

        With ``deterministic`` each solve stops after its deterministic budget,
        ``DETERMINISTIC_UNITS_PER_S x time_limit_s`` units for the search and
        ``PORTFOLIO_UNITS_PER_S x LP_BUDGET_FRACTION x time_limit_s`` for the LP solve: the same
        input, seed and
        workers give the same answer on any load (the LP solve is only used when both ran to
        their end). A wall-clock cap of ``WALL_SAFETY_FACTOR x time_limit_s`` guards against a
        very slow machine (a run stopped by it may differ). Without ``deterministic`` the solves
        run for ``time_limit_s`` wall seconds.

        ``on_solution`` is called at every improving solution; ``should_stop`` is polled then,
        and :meth:`stop` stops the search from another thread. The partition is returned with
        each context at its cheapest level (:func:`~partitioner.problem.make_partition`).
        """
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers!r}")
        search = self._solver_for(
            time_limit_s, workers=1, seed=seed, lp=False, deterministic=deterministic, log=log
        )
        bounder = None
        if workers > 1 and self.neighbourhood is None:  # a neighbourhood's bound proves nothing
            bounder = self._solver_for(
                LP_BUDGET_FRACTION * time_limit_s,
                workers=workers - 1,
                seed=seed,
                lp=True,
                deterministic=deterministic,
                log=False,
            )
        callback = _Progress(self.vars, on_solution, should_stop, self._stop)
        bounder_callback = _Progress(self.vars, None, None, self._stop)
        started = time.perf_counter()
        solved = not self._stop.is_set()
        codes: dict[str, int] = {}
        thread = None
        if solved and bounder is not None:
            thread = threading.Thread(
                target=lambda: codes.setdefault("lp", bounder.solve(self.model, bounder_callback)),
                name="ctxfit-cpsat-lp",
                daemon=True,
            )
            self._solvers.append(bounder)
            thread.start()
        self._solvers.append(search)
        try:
            code = search.solve(self.model, callback) if solved else cp_model.UNKNOWN
            if thread is not None:
                if code in (cp_model.OPTIMAL, cp_model.INFEASIBLE) or self._stop.is_set():
                    bounder.stop_search()  # proven: the bound's solve adds nothing
                thread.join()
        finally:
            self._solvers.clear()
        wall = time.perf_counter() - started
        result = self._result(search, callback, code, wall)
        work = 0.0 if not solved else search.deterministic_time / DETERMINISTIC_UNITS_PER_S
        proven = code in (cp_model.OPTIMAL, cp_model.INFEASIBLE)
        if thread is not None and not proven and not self._stop.is_set():
            # the search ran to its budget: the LP solve also ran to its own (deterministic)
            # end, so its bound and solution can be used without losing determinism
            other = self._result(bounder, bounder_callback, codes.get("lp", cp_model.UNKNOWN), wall)
            result = _combine(result, other)
            work = max(work, bounder.deterministic_time / PORTFOLIO_UNITS_PER_S)  # <= the search's
        if not deterministic:
            work = wall
        return replace(result, work_seconds=work)

    def _solver_for(
        self,
        time_limit_s: float,
        *,
        workers: int,
        seed: int,
        lp: bool,
        deterministic: bool,
        log: bool,
    ) -> cp_model.CpSolver:
        """A CP-SAT solver: the search without LP (after presolve), or the LP bound's solve."""
        solver = cp_model.CpSolver()
        params = solver.parameters
        params.num_workers, params.random_seed = workers, seed
        params.log_search_progress = log
        # CP-SAT's own SIGINT handler replaces Python's and outlives the solve (a Ctrl-C then
        # aborts the process with std::bad_function_call); Ctrl-C stays Python's
        # KeyboardInterrupt, which the search turns into stop() and its best so far
        params.catch_sigint_signal = False
        params.cp_model_probing_level = 0
        if lp:
            params.linearization_level = 2  # the LP bound needs the enforced caps linearised
            # the presolve's linear-overlap rewrite weakens the LP bound (measured 10x on
            # synthetic 60-300 layer problems); the model is already compact
            params.cp_model_presolve = False
            params.interleave_search = deterministic and workers > 1
            rate = PORTFOLIO_UNITS_PER_S
        else:
            params.linearization_level = 0
            rate = DETERMINISTIC_UNITS_PER_S
            if self.neighbourhood is not None:
                # measured on 1,000-5,000-layer synthetic networks: the presolve takes 6-20 s
                # (and 10 s of a 5,000-layer chain's 10 s) before the hint is even loaded, and
                # neither with nor without it did the search improve on the DP split in 15 s;
                # the symmetry detection took 22 s on a 5,000-layer transformer (415 contexts)
                params.cp_model_presolve = False
                params.symmetry_level = 0
        if deterministic:
            params.max_deterministic_time = rate * time_limit_s
            params.max_time_in_seconds = WALL_SAFETY_FACTOR * time_limit_s
        else:
            params.max_time_in_seconds = time_limit_s
        return solver

    def _result(
        self, solver: cp_model.CpSolver, callback: _Progress, code: int, wall: float
    ) -> PartitionResult:
        """The solver's partition at each context's cheapest level; the hint instead when the
        solver has none or a worse one (when stopped early, when nothing beats the cutoff, or
        by the one unit of rounding in the reload time).

        The bound is CP-SAT's proven bound, also when it stopped without a solution; with a
        cutoff it covers only the partitions at or under it, every other one being slower than
        ``cutoff + 1``, so the bound is the smaller of the two (``cutoff + 1`` alone when CP-SAT
        proved that nothing is under the cutoff).

        The assignment is the one captured at the last improving solution: after a stop from
        the solution callback, CP-SAT 9.15's final response can hold no values.
        """
        status = _STATUS.get(code, Status.UNKNOWN)
        cutoff = self.cutoff_units
        no_partition = status is Status.INFEASIBLE and cutoff is None  # nothing fits K at all
        if status is Status.INFEASIBLE:
            proven: int | None = None if cutoff is None else cutoff + 1
        else:
            proven = _proven_bound(solver)
            if cutoff is not None:
                proven = cutoff + 1 if proven is None else min(proven, cutoff + 1)
        partition = objective = None
        if status in (Status.OPTIMAL, Status.FEASIBLE):
            assignment = callback.assignment or self.vars.extract(solver)
            partition = make_partition(self.problem, assignment)
            problems = (
                ["no level fits"] if partition is None else violations(self.problem, partition)
            )
            if partition is None or problems:
                raise RuntimeError(f"CP-SAT returned an invalid partition: {problems}")
            objective = batch_time_units(self.problem, partition)
        from_hint = False
        if self.hint is not None and not no_partition:
            hint_units = batch_time_units(self.problem, self.hint)
            if objective is None or hint_units < objective:
                partition, objective, from_hint = self.hint, hint_units, True
        bound = None
        if objective is not None:
            bound = None if proven is None else min(proven, objective)
            solver_optimum = status is Status.OPTIMAL and not from_hint  # (up to that rounding)
            status = (
                Status.OPTIMAL
                if solver_optimum or (bound is not None and bound >= objective)
                else Status.FEASIBLE
            )
        if self.neighbourhood is not None:
            # the model saw only part of the partitions: its bound and a proof of optimality
            # or infeasibility hold for that part alone
            bound = None
            status = Status.FEASIBLE if partition is not None else Status.UNKNOWN
        return PartitionResult(
            status=status,
            partition=partition,
            objective_units=objective,
            bound_units=bound,
            wall_seconds=wall,
            num_contexts=self.k,
            batch=self.problem.batch,
            from_hint=from_hint,
            neighbourhood=self.neighbourhood,
        )


def _proven_bound(solver: cp_model.CpSolver) -> int | None:
    """CP-SAT's proven lower bound on the objective, rounded up; ``None`` when the solver was
    never run (stopped before it started)."""
    try:
        return -int(-solver.best_objective_bound // 1)
    except RuntimeError:  # "solve() has not been called"
        return None


def _combine(search: PartitionResult, lp: PartitionResult) -> PartitionResult:
    """The search's result, with the LP solve's bound when higher and its partition when
    faster (a tie keeps the search's)."""
    best = search
    if lp.objective_units is not None and (
        search.objective_units is None or lp.objective_units < search.objective_units
    ):
        best = lp
    bounds = [b for b in (search.bound_units, lp.bound_units) if b is not None]
    bound = max(bounds) if bounds and best.objective_units is not None else None
    if bound is not None:
        bound = min(bound, best.objective_units)  # type: ignore[type-var]
    status = best.status
    if Status.INFEASIBLE in (search.status, lp.status):
        status = Status.INFEASIBLE
    elif bound is not None and bound >= best.objective_units:  # type: ignore[operator]
        status = Status.OPTIMAL
    elif best.partition is not None:
        status = Status.FEASIBLE
    return replace(best, status=status, bound_units=bound)


def _hint_crossings(p: PartitionProblem, context_of: Sequence[int]) -> set[tuple[str, int, int]]:
    out: set[tuple[str, int, int]] = set()
    for u, readers in enumerate(p.consumers):
        cu = context_of[u]
        for w in readers:
            if context_of[w] != cu:
                out.add(("in", u, context_of[w]))
                out.add(("out", u, cu))
        if p.is_output[u]:
            out.add(("out", u, cu))
    for g, graph_input in enumerate(p.graph_inputs):
        for w in graph_input.consumers:
            out.add(("gin", g, context_of[w]))
    return out


class _Progress(cp_model.CpSolverSolutionCallback):
    """Captures each improving solution's assignment, reports it, and polls for a stop."""

    def __init__(
        self,
        variables: ContextVars,
        on_solution: Callable[[SolutionEvent], None] | None,
        should_stop: Callable[[], bool] | None,
        stop: threading.Event,
    ) -> None:
        super().__init__()
        self._vars = variables
        self._on_solution, self._should_stop, self._stop = on_solution, should_stop, stop
        self.assignment: tuple[int, ...] | None = None

    def on_solution_callback(self) -> None:
        self.assignment = self._vars.extract(self)
        if self._on_solution is not None:
            self._on_solution(
                SolutionEvent(
                    objective_units=round(self.objective_value),
                    bound_units=round(self.best_objective_bound),
                    wall_seconds=self.wall_time,
                )
            )
        if self._stop.is_set() or (self._should_stop is not None and self._should_stop()):
            self.stop_search()


__all__ = [
    "CONSTRAINTS",
    "ContextVars",
    "PartitionModel",
    "SolutionEvent",
    "add_crossings",
    "add_edge_limits",
    "add_frame_times",
    "add_level_order",
    "add_order_encoding",
    "add_pins",
    "add_precedence",
    "add_reachability",
    "add_resource_caps",
    "add_switch_costs",
    "add_used_prefix",
    "add_work_cuts",
    "batch_time_expr",
]


def stop_keeping_bounds(model: PartitionModel) -> None:
    """Stop a running :meth:`PartitionModel.solve` (from another thread) as its time limit
    would: both solves return their best so far and the answer still takes the better bound of
    the two. :meth:`PartitionModel.stop` (Ctrl-C's) leaves the LP solve's result unused instead.
    Call it again while the solve runs: a solver that had not started yet is stopped then."""
    for solver in list(model._solvers):
        solver.stop_search()
