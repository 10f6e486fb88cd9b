"""The CP-SAT model, one constraint at a time: a feasible and an infeasible case on tiny chains.

Units: chain_problem's link moves 2800 bytes per time unit (1 us), its levels are 1000 and 2000
FPS (1000 and 500 units per frame), and every tensor is 2800 bytes (1 unit) unless stated.
"""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest

from partitioner.baselines import dp_partition
from partitioner.cpsat_model import PartitionModel
from partitioner.errors import GraphError, InfeasiblePartitionError
from partitioner.problem import (
    Status,
    batch_time_units,
    chain_problem,
    context_windows,
    redundant_resources,
    violations,
)


def solve(problem, k, **kwargs):
    opts = {"time_limit_s": 5.0}
    model_args = {key: kwargs.pop(key) for key in ("exact", "pins", "use_hint") if key in kwargs}
    opts.update(kwargs)
    result = PartitionModel(problem, num_contexts=k, **model_args).solve(**opts)
    if result.partition is not None:
        assert violations(problem, result.partition) == []
        assert result.objective_units == batch_time_units(problem, result.partition)
    return result


# -- caps ----------------------------------------------------------------------------------------
def test_caps_force_a_second_context():
    # 30 + 40 + 40 = 110 LCUs > 77: one context is infeasible
    p = chain_problem(lcus=(30, 40, 40), limit=77)
    assert solve(p, 1).status is Status.INFEASIBLE
    # two contexts: {l0,l1} = 70 and {l2} = 40 is the only split ({l1,l2} = 80 > 77)
    r = solve(p, 2)
    assert r.status is Status.OPTIMAL
    assert r.partition.context_of == (0, 0, 1)
    # both run at 2000 FPS (500 units), nothing reloaded, B = 1: T = 500 + 500
    assert r.objective_units == 1000


def test_caps_raised_give_one_context():
    p = chain_problem(lcus=(30, 40, 40), limit=110)
    r = solve(p, 3)
    assert r.status is Status.OPTIMAL
    assert r.partition.context_of == (0, 0, 0)
    assert r.objective_units == 500  # one context at 2000 FPS, B x t = 500


def test_caps_at_the_level_decide_the_rate():
    # one layer of 40 LCUs at 1000 FPS, 80 at 2000 FPS (growth 2)
    slow = chain_problem(lcus=(40,), limit=77, growth=(1.0, 2.0))
    r = solve(slow, 1)
    assert (r.partition.level_of, r.objective_units) == ((0,), 1000)  # 80 > 77 at level 1
    fast = chain_problem(lcus=(40,), limit=80, growth=(1.0, 2.0))
    r = solve(fast, 1)
    assert (r.partition.level_of, r.objective_units) == ((1,), 500)


def test_infeasible_result_has_no_numbers():
    r = solve(chain_problem(lcus=(80,), limit=77), 3)
    assert r.status is Status.INFEASIBLE
    assert (r.partition, r.objective_units, r.fps, r.gap) == (None, None, None, None)


# -- precedence ----------------------------------------------------------------------------------
def test_precedence_forbids_reading_from_a_later_context():
    p = chain_problem(lcus=(30, 30, 30), limit=77)
    assert solve(p, 2, pins={"l2": 0, "l1": 1}).status is Status.INFEASIBLE


def test_precedence_with_compatible_pins():
    p = chain_problem(lcus=(30, 30, 30), limit=77)  # 90 > 77: two contexts
    r = solve(p, 2, pins={"l0": 0, "l2": 1})
    assert r.status is Status.OPTIMAL
    assert r.partition.context_of[0] == 0 and r.partition.context_of[2] == 1
    assert r.objective_units == 1000


# -- edge layers ---------------------------------------------------------------------------------
# l0 -> l1 -> l2 and a skip l0 -> l2. Split {l0,l1}{l2}: context 0 takes x and gives l0 and l1
# (3 edge layers), context 1 takes l0 and l1 and gives l2 (3). Split {l0}{l1,l2}: 2 and 2.
SKIP = {"edges": ((0, 1), (1, 2), (0, 2)), "lcus": (30, 40, 30), "limit": 77}


def test_edge_limit_picks_the_split_with_fewer_crossings():
    r = solve(chain_problem(**SKIP, edge_layer_limit=2), 2)
    assert r.status is Status.OPTIMAL
    assert r.partition.context_of == (0, 1, 1)


def test_edge_limit_infeasible_when_pinned_to_the_wide_split():
    assert solve(chain_problem(**SKIP, edge_layer_limit=2), 2, pins={"l1": 0}).status is (
        Status.INFEASIBLE
    )
    r = solve(chain_problem(**SKIP, edge_layer_limit=3), 2, pins={"l1": 0})
    assert r.partition.context_of == (0, 0, 1)


def test_edge_limit_counts_graph_inputs_and_outputs():
    # a single context takes x and gives l1: 2 edge layers
    p = chain_problem(lcus=(10, 10), limit=77, edge_layer_limit=1)
    assert solve(p, 1).status is Status.INFEASIBLE
    assert solve(replace(p, edge_layer_limit=2), 1).status is Status.OPTIMAL


# -- beyond one topological order ---------------------------------------------------------------
def test_cpsat_groups_branches_that_the_order_interleaves():
    # s -> a1 -> a2 -> j and s -> b1 -> b2 -> j, in the order s, a1, b1, a2, b2, j; 20 LCUs each
    # (120 > 77: two contexts). a1 and b1 output 2.8 MB (1000 units), the rest 2800 B (1 unit).
    edges = ((0, 1), (1, 3), (3, 5), (0, 2), (2, 4), (4, 5))
    p = chain_problem(lcus=(20,) * 6, limit=77, edges=edges)
    p = replace(p, output_bytes=(2800, 2_800_000, 2_800_000, 2800, 2800, 2800))
    # in two contexts the only valid cut of the order, after b1, moves a1 and b1 out and back
    # in: context 0 writes 2000 units per frame, context 1 reads 2000 (each direction alone)
    dp = dp_partition(p, max_contexts=2)
    assert dp.context_of == (0, 0, 0, 1, 1, 1)
    assert batch_time_units(p, dp) == 2000 + 2000
    # CP-SAT keeps each branch whole: {s, a1, a2} | {b1, b2, j} crosses only s and a2
    r = solve(p, 2)
    assert r.partition.context_of == (0, 0, 1, 0, 1, 1)
    assert r.objective_units == 500 + 500


# -- levels a layer cannot reach -----------------------------------------------------------------
def test_unreachable_level_slows_its_context():
    p = chain_problem(lcus=(30, 30), limit=77)
    reachable = solve(p, 2)
    assert (reachable.partition.context_of, reachable.objective_units) == ((0, 0), 500)
    # l1 cannot run at 2000 FPS: one context at 1000 FPS (1000) beats l0 at 500 + l1 at 1000
    demand = (p.demand[0], (p.demand[1][0], None))
    r = solve(replace(p, demand=demand), 2)
    assert r.partition.context_of == (0, 0)
    assert (r.partition.level_of, r.objective_units) == ((0,), 1000)


# -- frame time: PCIe ----------------------------------------------------------------------------
def test_pcie_traffic_bounds_the_frame_time():
    # every layer output is 2.8 MB = 1000 units; the graph input 2800 B = 1 unit
    p = chain_problem(lcus=(30, 40, 40), limit=77, output_bytes=2_800_000)
    r = solve(p, 2)
    # PCIe is full duplex, each direction on its own: context 0 {l0,l1} reads x (1 unit) and
    # writes l1 (1000) > 500; context 1 reads l1 (1000) and writes l2 (1000)
    assert r.partition.context_of == (0, 0, 1)
    assert r.objective_units == 1000 + 1000
    # one direction alone: x grows to 2.8 MB, so a single context of l0 reads 1000 units
    wide = replace(chain_problem(lcus=(30,), limit=77), output_bytes=(2800,))
    wide = replace(wide, graph_inputs=(replace(wide.graph_inputs[0], bytes_per_frame=2_800_000),))
    assert solve(wide, 1).objective_units == 1000


# -- switch costs --------------------------------------------------------------------------------
def test_switch_costs_hand_computed():
    p = replace(
        chain_problem(lcus=(30, 40, 40), limit=77, batch=4, switch_overhead_s=0.5e-3),
        weight_bytes=(280_000, 280_000, 0),
        pipeline_fill_frames=1.0,
    )
    r = solve(p, 3)
    # two contexts at 500 units/frame:
    fixed = 2 * 500  # 0.5 ms per context
    reload = 560_000 // 2800  # all weights once per batch: 200 units
    frames = 2 * (4 * 500 + 500)  # B x t + one frame of pipeline fill, per context
    assert r.partition.context_of == (0, 0, 1)
    assert r.objective_units == fixed + reload + frames == 6200


def test_single_context_pays_no_switch():
    p = replace(
        chain_problem(lcus=(30, 40), limit=77, batch=4, switch_overhead_s=0.5e-3),
        weight_bytes=(280_000, 280_000),
        pipeline_fill_frames=1.0,
    )
    r = solve(p, 2)
    assert r.partition.context_of == (0, 0)
    assert r.objective_units == 4 * 500  # B x t only


def test_pcie_bound_context_runs_at_the_level_with_less_configuration():
    # context 0 is PCIe-bound (1000 units at both levels); at 2000 FPS l0 would load 2.8 MB more
    # configuration (1000 units), so context 0 stays at level 0; context 1 (1000 units of PCIe)
    # has no configuration and takes the higher level on the tie.
    p = chain_problem(lcus=(30, 40, 40), limit=77, output_bytes=2_800_000)
    p = replace(p, config_bytes=((0, 0, 0), (2_800_000, 0, 0)))
    r = solve(p, 2)
    assert r.partition.level_of == (0, 1)
    assert r.objective_units == 1000 + 1000


# -- pins and symmetry ---------------------------------------------------------------------------
def test_pin_errors_name_the_problem():
    p = chain_problem(lcus=(30, 30), limit=77)
    with pytest.raises(InfeasiblePartitionError, match=r"pinned to context_5 .* contexts 0\.\.1"):
        PartitionModel(p, num_contexts=2, pins={"l0": 5})
    with pytest.raises(GraphError, match="'conv9'"):
        PartitionModel(p, num_contexts=2, pins={"conv9": 0})


def test_exact_uses_every_context_and_prefix_does_not():
    p = chain_problem(lcus=(10, 10, 10), limit=77)
    exact = solve(p, 3, exact=True)
    assert exact.partition.context_of == (0, 1, 2)
    assert exact.objective_units == 3 * 500
    free = solve(p, 3)
    assert free.partition.context_of == (0, 0, 0)
    assert free.objective_units == 500


def test_windows_restrict_contexts_by_ancestors_and_descendants():
    p = chain_problem(lcus=(30, 40, 40, 30), limit=77)
    # l2 and its ancestors need 110 LCUs (2 contexts); l1 and its descendants need 110 too
    assert context_windows(p, 3) == ((0, 1), (0, 1), (1, 2), (1, 2))
    assert context_windows(p, 1)[0] == (0, -1)  # no room: infeasible with one context


def test_redundant_resources_follow_from_the_lcu_cap():
    # resource 1 is always half of resource 0 with the same limit: implied; resource 2 is not
    p = chain_problem(lcus=(10, 20), limit=77)
    demand = tuple(tuple((d[0], d[0] // 2, 30 - d[0]) for d in row) for row in p.demand)
    p = replace(p, demand=demand, resource_names=("a", "b", "c"), limits=(77, 77, 77))
    assert redundant_resources(p) == frozenset({1})


# -- determinism, callbacks, stopping ------------------------------------------------------------
def _wide_problem():
    # 12 layers in two parallel branches joined at the end; 20 LCUs each, 77 per context
    edges = [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (0, 6), (6, 7), (7, 8), (8, 9), (9, 10)]
    edges += [(5, 11), (10, 11)]
    growth = (1.0, 1.5, 2.0, 2.5)
    return chain_problem(
        lcus=(20,) * 12, limit=77, edges=edges, levels_fps=(500, 1000, 1500, 2000), growth=growth
    )


def test_same_input_same_answer():
    p = _wide_problem()
    first = solve(p, 6, time_limit_s=2.0)
    second = solve(p, 6, time_limit_s=2.0)
    assert first.partition == second.partition
    assert first.objective_units == second.objective_units
    assert first.status == second.status


def test_each_improving_solution_is_reported():
    events = []
    r = solve(_wide_problem(), 6, on_solution=events.append)
    assert events, "the hint alone is a first solution"
    assert all(e.objective_units >= e.bound_units for e in events)
    objectives = [e.objective_units for e in events]
    assert objectives == sorted(objectives, reverse=True)
    assert r.objective_units <= objectives[-1]


def test_should_stop_ends_the_search_at_the_first_solution():
    events = []
    r = solve(_wide_problem(), 6, on_solution=events.append, should_stop=lambda: True)
    assert len(events) == 1
    assert r.partition is not None and r.status in (Status.FEASIBLE, Status.OPTIMAL)


def test_stop_from_another_thread():
    model = PartitionModel(_wide_problem(), num_contexts=6)
    running, results = threading.Event(), []

    def run():
        results.append(model.solve(time_limit_s=30.0, on_solution=lambda _: running.set()))

    worker = threading.Thread(target=run)
    worker.start()
    running.wait()
    model.stop()
    worker.join()
    assert results[0].partition is not None
    assert violations(model.problem, results[0].partition) == []
    # a stopped model stays stopped: the next solve returns the hint without searching
    again = model.solve(time_limit_s=30.0)
    assert again.from_hint and again.partition == model.hint


def test_without_hint_the_solver_still_finds_the_optimum():
    p = chain_problem(lcus=(30, 40, 40), limit=77)
    r = solve(p, 2, use_hint=False)
    assert (r.status, r.partition.context_of, r.from_hint) == (Status.OPTIMAL, (0, 0, 1), False)


# -- cutoff ----------------------------------------------------------------------------------------
def test_nothing_under_the_cutoff_keeps_the_start_with_the_cutoff_as_bound():
    # (30, 40, 40) LCUs at 77: the start {l0,l1} | {l2} is the optimum, 1000 units
    p = chain_problem(lcus=(30, 40, 40), limit=77)
    r = PartitionModel(p, num_contexts=3, cutoff_units=998).solve(time_limit_s=5)
    assert r.from_hint and r.partition.context_of == (0, 0, 1)
    # no partition takes 998 units or less: 999 is a proven bound, 0.1% under the objective
    assert (r.objective_units, r.bound_units, r.status) == (1000, 999, Status.FEASIBLE)
    assert r.gap == pytest.approx(0.001)
    at_it = PartitionModel(p, num_contexts=3, cutoff_units=999).solve(time_limit_s=5)
    assert (at_it.bound_units, at_it.status) == (1000, Status.OPTIMAL)  # 1000 > 999: exact


def test_a_cutoff_over_the_optimum_still_finds_it():
    p = _branches_problem()  # optimum 1000 units; the best baseline for 3 contexts 2502
    start = PartitionModel(p, num_contexts=3).hint
    assert batch_time_units(p, start) == 2502
    r = PartitionModel(p, num_contexts=3, cutoff_units=2499).solve(time_limit_s=5)
    assert (r.objective_units, r.bound_units, r.status, r.from_hint) == (
        1000,
        1000,
        Status.OPTIMAL,
        False,
    )
    assert violations(p, r.partition) == []


def test_a_cutoff_needs_a_start():
    p = chain_problem(lcus=(30, 40, 40), limit=77)
    with pytest.raises(ValueError, match="cutoff_units needs a starting partition"):
        PartitionModel(p, num_contexts=3, use_hint=False, cutoff_units=998)


# -- search strategy and hints --------------------------------------------------------------------
def test_one_worker_and_the_portfolio_prove_the_same_optimum():
    p = _wide_problem()
    one = solve(p, 6, workers=1)
    two = solve(p, 6, workers=2)
    assert one.status is Status.OPTIMAL and two.status is Status.OPTIMAL
    assert one.objective_units == two.objective_units == one.bound_units == two.bound_units


def test_zero_workers_is_an_error():
    with pytest.raises(ValueError, match="workers must be >= 1"):
        PartitionModel(chain_problem(lcus=(30,)), num_contexts=1).solve(workers=0)


def _branches_problem():
    """Two branches that the topological order interleaves (see the grouping test above)."""
    edges = ((0, 1), (1, 3), (3, 5), (0, 2), (2, 4), (4, 5))
    p = chain_problem(lcus=(20,) * 6, limit=77, edges=edges)
    return replace(p, output_bytes=(2800, 2_800_000, 2_800_000, 2800, 2800, 2800))


def test_a_hint_faster_than_the_baselines_is_the_start():
    p = _branches_problem()
    best = solve(p, 2).partition  # 1000 units; the DP's cut of the order costs 4000
    model = PartitionModel(p, num_contexts=3, hint=best)
    assert model.hint == best
    assert batch_time_units(p, best) == 1000 < batch_time_units(p, model.baseline())


def test_a_hint_slower_than_the_baselines_gives_way():
    p = chain_problem(lcus=(30, 40, 40), limit=77)
    slow = PartitionModel(p, num_contexts=3).baseline()  # two contexts
    spread = replace(slow, context_of=(0, 1, 2), level_of=(1, 1, 1))  # three: more switches
    assert violations(p, spread) == []
    assert batch_time_units(p, spread) > batch_time_units(p, slow)
    assert PartitionModel(p, num_contexts=3, hint=spread).hint == slow


def test_combine_takes_the_higher_bound_and_the_faster_partition():
    from partitioner.cpsat_model import _combine
    from partitioner.problem import PartitionResult

    p = chain_problem(lcus=(30, 40, 40), limit=77)
    two = PartitionModel(p, num_contexts=2).baseline()  # 1000 units
    three = replace(two, context_of=(0, 1, 2), level_of=(1, 1, 1))  # 1500 units

    def result(partition, bound, status=Status.FEASIBLE):
        return PartitionResult(
            status=status,
            partition=partition,
            objective_units=None if partition is None else batch_time_units(p, partition),
            bound_units=bound,
            wall_seconds=1.0,
            num_contexts=3,
            batch=1,
        )

    # the search's partition is faster; the LP's bound is higher and meets it: proven
    both = _combine(result(two, 400), result(three, 1000))
    assert (both.partition, both.bound_units, both.status) == (two, 1000, Status.OPTIMAL)
    # the LP found the faster partition; the search's bound is the higher one
    both = _combine(result(three, 900), result(two, 500))
    assert (both.partition, both.bound_units, both.status) == (two, 900, Status.FEASIBLE)
    # a tie keeps the search's partition; a bound above the objective is clipped to it
    tie = replace(two, level_of=(1, 1))
    both = _combine(result(two, None), result(tie, 2000))
    assert both.partition is two and both.bound_units == 1000 and both.status is Status.OPTIMAL
    # neither has a partition: no bound either
    assert _combine(result(None, 300), result(None, 700)).bound_units is None


# -- large networks: the neighbourhood of the starting partition --------------------------------
def test_a_model_over_the_pair_limit_searches_the_neighbourhood_and_claims_no_proof():
    # 30 + 40 + 40 + 30 LCUs, limit 77, K = 3: every layer's window is 2 contexts wide (8 pairs)
    p = chain_problem(lcus=(30, 40, 40, 30), limit=77)
    exact = PartitionModel(p, num_contexts=3).solve(time_limit_s=5)
    assert exact.status is Status.OPTIMAL and exact.neighbourhood is None
    model = PartitionModel(p, num_contexts=3, max_exact_pairs=7)
    assert model.neighbourhood == 2
    result = model.solve(time_limit_s=5)
    # the same partition (the DP split (0, 0, 1, 1) is optimal), but the model saw only part
    # of the partitions: no bound, and never OPTIMAL
    assert result.partition.context_of == exact.partition.context_of == (0, 0, 1, 1)
    assert result.objective_units == exact.objective_units == 1000
    assert result.status is Status.FEASIBLE
    assert result.bound_units is None and result.gap is None
    assert result.neighbourhood == 2


def test_a_neighbourhood_of_zero_keeps_every_layer_in_its_starting_context():
    p = chain_problem(lcus=(30, 40, 40, 30), limit=77)
    model = PartitionModel(p, num_contexts=3, neighbourhood=0)
    assert model.vars.windows == ((0, 0), (0, 0), (1, 1), (1, 1))  # the DP split's contexts
    assert model.solve(time_limit_s=5).partition.context_of == (0, 0, 1, 1)


def test_a_neighbourhood_never_leaves_the_sound_window():
    # windows ((0, 1), (0, 1), (1, 2), (1, 2)) at K = 3; radius 5 adds nothing to them
    p = chain_problem(lcus=(30, 40, 40, 30), limit=77)
    model = PartitionModel(p, num_contexts=3, neighbourhood=5)
    assert model.vars.windows == context_windows(p, 3)


def test_without_a_starting_partition_the_model_stays_exact():
    p = chain_problem(lcus=(30, 40, 40, 30), limit=77)
    model = PartitionModel(p, num_contexts=3, use_hint=False, max_exact_pairs=0)
    assert model.neighbourhood is None
    assert model.solve(time_limit_s=5).status is Status.OPTIMAL


def test_a_neighbourhood_with_nothing_under_the_cutoff_proves_nothing():
    # the DP split (0, 0, 1, 1) takes 1000 units; nothing in its neighbourhood is under 999
    p = chain_problem(lcus=(30, 40, 40, 30), limit=77)
    exact = PartitionModel(p, num_contexts=3, cutoff_units=998).solve(time_limit_s=5)
    assert exact.from_hint and exact.bound_units == 999  # proven: no partition under 999
    near = PartitionModel(p, num_contexts=3, cutoff_units=998, neighbourhood=1)
    result = near.solve(time_limit_s=5)
    assert result.partition.context_of == (0, 0, 1, 1) and result.from_hint
    assert result.status is Status.FEASIBLE and result.bound_units is None
