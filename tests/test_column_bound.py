"""The set-partitioning bound over whole convex contexts: hand cases, never above any partition
found by brute force, and above the level relaxation where a context must hold everything
between its layers."""

from __future__ import annotations

import signal
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ortools.linear_solver import pywraplp

from partitioner.bounds import NO_PARTITION, count_bounds
from partitioner.column_bound import (
    column_bound,
    context_cost,
    generation_bound,
    solve_passing_ctrl_c,
)
from partitioner.problem import batch_time_units, chain_problem, fits, make_partition

sys.path.insert(0, str(Path(__file__).parent))
from test_bounds import every_partition  # noqa: E402
from test_cpsat_hypothesis import SETTINGS, problems  # noqa: E402


def test_two_contexts_at_the_fast_level_then_one_more_frame_per_context():
    # 140 LCUs over 77 per context: two contexts of 500 us frames (2000 FPS) at least; each
    # further context adds a 500 us frame (no switch, fill, weights or configuration)
    p = chain_problem(lcus=(30, 40, 40, 30), limit=77)
    found = column_bound(p)
    assert found.by_count.units == (1000, 1500, 2000)
    assert found.bound_units == 1000
    assert found.by_count.at_least(5) == NO_PARTITION  # more contexts than layers
    # a bound above what the caller needs ends the counts: every larger count is above it too
    assert column_bound(p, enough_units=999).by_count.units == (1000,)
    assert column_bound(p, first=3).by_count.units == (1500, 2000)


def slow_ends_problem():
    """l0 -> l1 -> l2: l0 and l2 (10 LCUs each) reach only 1000 FPS (1000 us frames), l1 (70
    LCUs) also 2000 FPS (500 us); 77 LCUs per context."""
    p = chain_problem(lcus=(10, 70, 10), limit=77)
    return replace(p, demand=(p.demand[0], (None, p.demand[1][1], None)))


def test_a_context_holds_everything_between_its_layers():
    p = slow_ends_problem()
    # the level relaxation: l0 and l2 run only at 1000 FPS, so a whole context is at that
    # level (y <= n), and two contexts at least: the other at 500 us, 1000 + 500 (without
    # y <= n: n_0 = 20/77 at 1000, n_1 = 2 - 20/77 at 500, 1130)
    assert count_bounds(p).units[0] == 1500
    # whole convex contexts: a slow context holding l0 and l2 holds l1 too, so with a share a
    # of l1 at 1000 FPS the slow contexts number n_0 >= 2 - a (two contexts, or one holding all
    # three), their volume 20 + 70 a <= 77 n_0, and l1's remaining 1 - a needs n_1 >= 1 - a
    # fast contexts; two contexts at least: n_1 >= a. Best: a = 134/147 (the volume binds),
    # 1000 (2 - a) + 500 a = 2000 - 500 x 134/147 = 1544.2
    assert column_bound(p).bound_units == 1545
    # the optimum: {l0} {l1} {l2}, 1000 + 500 + 1000 (l0 and l1 need 80 LCUs together)
    assert min(batch_time_units(p, q) for q in every_partition(p, 2)) == 2500


def test_weights_configuration_and_switches_count_as_in_the_batch_time():
    p = replace(
        chain_problem(lcus=(30, 40, 40, 30), limit=77, switch_overhead_s=100e-6),
        weight_bytes=(2800, 0, 0, 2800),  # 2 units of reload
        config_bytes=((0,) * 4, (2800, 2800, 2800, 2800)),  # 4 units at 2000 FPS
    )
    # two contexts at 2000 FPS: 2 x (100 + 500) + 2 + 4 (one at 1000 FPS costs 500 more)
    assert column_bound(p).bound_units == 1206
    assert min(batch_time_units(p, q) for q in every_partition(p, 2)) == 1206


def test_no_bound_without_a_partition():
    assert column_bound(chain_problem(lcus=(30,), limit=77)) is None  # one layer: no 2 contexts
    too_big = chain_problem(lcus=(30, 80), limit=77)  # l1 fits no context
    assert column_bound(too_big) is None


@SETTINGS
@given(problem=problems(max_layers=5), k=st.integers(2, 4))
def test_never_above_a_partition_found_by_brute_force(problem, k):
    found = column_bound(problem, first=2)
    costs = [batch_time_units(problem, q) for q in every_partition(problem, k)]
    if not costs:
        return
    assert found is not None
    assert found.by_count.at_least(k) <= min(costs)


# -- column generation over real contexts ----------------------------------------------------------
def test_generation_proves_the_optimum_where_a_context_holds_everything_between_its_layers():
    p = slow_ends_problem()
    found = generation_bound(p)
    assert found.converged
    # {l0} {l1} {l2}: the only partition (l0 and l1, or l1 and l2, need 80 LCUs): 2500 units
    assert found.by_count.units == (2500, 2500)
    assert found.by_count.at_least(4) == NO_PARTITION


def test_a_context_pays_its_pcie_time():
    # 20 x 14,000-byte outputs (5 units each at 2800 B/unit) and a 2800-byte input: a cut
    # costs its tensor's 5 units in each context it crosses, above the 500-unit frames only
    # when the context's frame is shorter; with frames of 4 units (250,000 FPS) every context
    # is PCIe bound
    p = chain_problem(lcus=(30, 40, 40, 30), limit=77, levels_fps=(250_000.0,), growth=(1.0,))
    p = replace(p, output_bytes=(14_000,) * 4)
    assert p.frame_units == (4,)
    best = min(batch_time_units(p, q) for q in every_partition(p, 2))
    assert best == 5 + 5  # {l0 l1} {l2 l3}: 5 units out of the first, 5 in and out of the second
    assert generation_bound(p).by_count.units[0] == best
    assert context_cost(p, (0, 1), 0) == 5  # out: l1's 14,000 bytes; in: the 2800-byte input


def test_generation_starts_from_given_partitions_and_covers_every_count():
    p = chain_problem(lcus=(30, 40, 40, 30), limit=77)
    start = make_partition(p, (0, 0, 1, 1))
    found = generation_bound(p, partitions=(start,))
    assert found.by_count.units == (1000, 1500, 2000)
    assert found.columns >= 2 + 4  # the start's two contexts at two levels, the 4 single layers


@SETTINGS
@given(problem=problems(max_layers=5), k=st.integers(2, 4))
def test_generation_never_above_a_partition_found_by_brute_force(problem, k):
    found = generation_bound(problem, first=2, time_limit_s=20.0)
    costs = [batch_time_units(problem, q) for q in every_partition(problem, k)]
    if not costs:
        return
    assert found is not None and found.by_count is not None
    assert found.by_count.at_least(k) <= min(costs)


def test_a_tensor_read_back_costs_its_read_load_not_its_output_load():
    # l0 is a graph output (10 rows of 1 us overhead: 30,800 bytes, 11 units out) that l1
    # reads back without the overhead (2,800 bytes, 1 unit); frames of 4 units
    p = chain_problem(lcus=(1, 1), levels_fps=(250_000.0,), growth=(1.0,))
    p = replace(
        p,
        output_rows=(10, 0),
        pcie_row_overhead_s=1e-6,
        overhead_between_contexts=False,
        is_output=(True, True),
        output_bytes=(2800, 28),
    )
    assert (p.output_load, p.read_load) == ((30800, 28), (2800, 28))
    assert context_cost(p, (1,), 0) == 4  # in: 1 unit (was priced at 11, above its real time)
    best = min(batch_time_units(p, q) for q in every_partition(p, 2))
    assert best == 11 + 4
    assert generation_bound(p).by_count.units[0] == best


def _convex(problem, layers) -> bool:
    """No path leaves the set and comes back (brute force over the edges' closure)."""
    inside = set(layers)
    after = {u: {v for w, v in problem.edges if w == u} for u in range(problem.num_layers)}
    for u in inside:  # layers reachable from u through outside layers only
        seen, todo = set(), [v for v in after[u] if v not in inside]
        while todo:
            v = todo.pop()
            if v in seen:
                continue
            seen.add(v)
            if any(w in inside for w in after[v]):
                return False
            todo += [w for w in after[v] if w not in inside]
    return True


def _edge_layers(problem, layers) -> int:
    inside = set(layers)
    ins = {u for v in inside for u in problem.producers[v] if u not in inside}
    outs = {
        u
        for u in inside
        if problem.is_output[u] or any(v not in inside for v in problem.consumers[u])
    }
    reads = {g for v in inside for g in problem.inputs_read[v]}
    return len(ins) + len(outs) + len(reads)


@SETTINGS
@given(problem=problems(max_layers=6), data=st.data())
def test_pricing_and_its_ceiling_are_never_below_the_best_context(problem, data):
    # brute force over every convex set that fits a level and the edge-layer limit: CP-SAT's
    # proven gain and the cheap ceiling are at least its most duals(S) - c(S, l); the contexts
    # CP-SAT returns are such sets
    import itertools

    from partitioner.column_bound import _chunk_columns, _Pricing

    n = problem.num_layers
    duals = [data.draw(st.floats(0, 3000, allow_nan=False)) for _ in range(n)]
    pricing = _Pricing(problem)
    for level in range(problem.num_levels):
        gains = [
            sum(duals[i] for i in s) - context_cost(problem, s, level)
            for size in range(1, n + 1)
            for s in itertools.combinations(range(n), size)
            if fits(problem, s, level)
            and _convex(problem, s)
            and _edge_layers(problem, s) <= problem.edge_layer_limit
        ]
        if not gains:
            continue
        found = pricing.price(level, duals, 10.0)
        assert found is not None
        columns, gain = found
        assert gain >= max(gains) - 1e-6
        assert pricing.ceiling(level, duals) >= gain - 1e-6
        for layers in columns:
            assert fits(problem, layers, level) and _convex(problem, layers)
    for layers, level in _chunk_columns(problem):
        assert layers == tuple(range(layers[0], layers[-1] + 1)) and _convex(problem, layers)
        assert fits(problem, layers, level)  # at the highest level that fits
        assert level + 1 == problem.num_levels or not fits(problem, layers, level + 1)


def test_clp_limit_is_the_wall_budget_at_the_cpu_share_under_load(monkeypatch):
    """CLP counts CPU seconds: at load 6 on 2 CPUs a 3 s wall budget is 1 s of CPU; GLOP and
    an idle machine keep the wall budget."""
    import os

    from ortools.linear_solver import pywraplp

    from partitioner import column_bound as cb

    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(os, "getloadavg", lambda: (6.0, 5.0, 4.0))
    glop = pywraplp.Solver.CreateSolver("GLOP")
    clp = pywraplp.Solver.CreateSolver("CLP")
    assert abs(cb.cpu_share() - 1 / 3) < 1e-12
    assert cb.limit_ms(glop, 3.0) == 3000
    if clp is not None:
        assert cb.limit_ms(clp, 3.0) == 1000
    monkeypatch.setattr(os, "getloadavg", lambda: (0.5, 0.5, 0.5))
    assert cb.cpu_share() == 1.0
    if clp is not None:
        assert cb.limit_ms(clp, 3.0) == 3000


# -- Ctrl-C during a CLP solve ---------------------------------------------------------------------
class _FakeLp:
    """A solver that ends as CLP does when its own SIGINT handler took a Ctrl-C (FEASIBLE, at
    once), or as GLOP does."""

    def __init__(self, version: str, status: int) -> None:
        self.version, self.status = version, status

    def SolverVersion(self) -> str:  # noqa: N802 - pywraplp's name
        return self.version

    def Solve(self) -> int:  # noqa: N802
        return self.status


@pytest.mark.parametrize(
    ("version", "status", "limit_s", "passed_on"),
    [
        ("Clp 1.17.10", pywraplp.Solver.FEASIBLE, 5.0, True),  # stopped long before its limit
        ("Clp 1.17.10", pywraplp.Solver.FEASIBLE, None, True),  # no limit: only Ctrl-C stops it
        ("Clp 1.17.10", pywraplp.Solver.FEASIBLE, 0.0, False),  # at its limit: the clock
        ("Clp 1.17.10", pywraplp.Solver.OPTIMAL, 5.0, False),
        ("Glop solver v9.15", pywraplp.Solver.FEASIBLE, 5.0, False),  # GLOP keeps the handler
    ],
)
def test_a_ctrl_c_that_clp_took_reaches_python(monkeypatch, version, status, limit_s, passed_on):
    raised: list[int] = []
    monkeypatch.setattr(signal, "raise_signal", raised.append)
    assert solve_passing_ctrl_c(_FakeLp(version, status), limit_s) == status
    assert raised == ([signal.SIGINT] if passed_on else [])
