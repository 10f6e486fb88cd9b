"""The search with the bounds over every count of contexts: CP-SAT's for the counts it tried
joined with the level relaxation's for more."""

from __future__ import annotations

from cost_model.hardware import preset
from partitioner.bounds import AnyCountBound, CountBounds
from partitioner.search import IMPROVEMENT_EPS, SearchOptions, search
from tests.nets import SCENARIO_HW_PARAMS, conv_chain

HW = preset("hailo8")


def test_cpsat_bound_for_few_contexts_and_the_relaxation_for_more_cover_every_count(monkeypatch):
    # a weak bound over every count (1 unit), but the relaxation's bound for 4 or more contexts
    # (injected: 10^9 units) is above the answer: once CP-SAT proves 3 contexts, the lower of
    # its bound and that one covers every count, and the search stops there
    from partitioner import search as search_module

    def weak(problem, **_):
        counts = CountBounds(first=3, units=(1, 10**9), num_layers=problem.num_layers)
        return AnyCountBound(bound_units=1, level_units=1, path_units=None, by_count=counts)

    monkeypatch.setattr(search_module, "any_count_bound", weak)
    monkeypatch.setattr(
        search_module, "_whole_contexts", lambda p, relaxed, counts, *_: (relaxed, counts)
    )
    lines: list[str] = []
    found = search(conv_chain(170), HW, SearchOptions(timeout_s=20), log=lines.append)
    assert found.contexts_tried == (2, 3)  # 2 ruled out by the LCUs, 4 never solved
    assert found.status == "OPTIMAL" and found.stop_reason.value == "proof"
    assert found.bound_all_contexts and found.bound_contexts is None
    assert found.gap <= IMPROVEMENT_EPS
    assert any("up to 3 contexts by CP-SAT, more by the level relaxation" in s for s in lines)


def test_a_weak_bound_for_more_contexts_leaves_the_bound_to_the_counts_tried(monkeypatch):
    from partitioner import search as search_module

    def weak(problem, **_):
        counts = CountBounds(first=3, units=(1, 2), num_layers=problem.num_layers)
        return AnyCountBound(bound_units=1, level_units=1, path_units=None, by_count=counts)

    monkeypatch.setattr(search_module, "any_count_bound", weak)
    monkeypatch.setattr(
        search_module, "_whole_contexts", lambda p, relaxed, counts, *_: (relaxed, counts)
    )
    hw = HW.with_params(**SCENARIO_HW_PARAMS)
    found = search(conv_chain(170), hw, SearchOptions(timeout_s=20))
    assert found.contexts_tried == (2, 3, 4)
    assert not found.bound_all_contexts and found.bound_contexts == 4


def test_with_the_wall_clock_a_bound_is_skipped_when_the_baselines_show_it_would_overrun(
    monkeypatch,
):
    # the baselines take 0.5 s (slowed here as under load); with a 1.5 s wall-clock budget about
    # 0.85 s is left, under BOUND_COST_FACTORS[1] x 0.5 s: the level relaxation is skipped. The
    # deterministic search (no wall clock) computes both bounds whatever the baselines took.
    import time

    from partitioner import search as search_module

    asked: list[tuple[bool, bool]] = []
    real_baselines = search_module._baselines

    def slow_baselines(problem, options):
        time.sleep(0.5)
        return real_baselines(problem, options)

    def record(problem, *, with_path=True, with_level=True, **_):
        asked.append((with_path, with_level))
        return None

    monkeypatch.setattr(search_module, "_baselines", slow_baselines)
    monkeypatch.setattr(search_module, "any_count_bound", record)
    assert search_module.BOUND_COST_FACTORS[1] * 0.5 > 0.92 * 1.5 - 0.5
    search(conv_chain(170), HW, SearchOptions(timeout_s=1.5, wall_clock=True))
    search(conv_chain(170), HW, SearchOptions(timeout_s=1.5))
    assert asked[0][1] is False  # wall clock: no level relaxation
    assert asked[1] == (True, True)  # deterministic: both


def test_a_baseline_split_replaces_the_best_only_when_faster_by_more_than_the_tolerance():
    # the iterations' rule for a new best applies to the greedy and DP splits too: a split that
    # is faster by less than IMPROVEMENT_EPS (here one time unit) does not replace the answer
    from dataclasses import replace

    from partitioner import search as search_module
    from partitioner.pricing import build_problem
    from partitioner.problem import batch_time_units
    from partitioner.splits import dp_split

    options = SearchOptions()
    problem = build_problem(conv_chain(170), HW, options.multi_caps, batch=8)
    split = dp_split(problem)
    units = batch_time_units(problem, split)
    answer = search_module._split_result(problem, split, units)
    barely = replace(answer, objective_units=units + 1)  # the split is 1 unit faster
    clearly = replace(answer, objective_units=round(units * 1.01))  # 1% faster
    splits = (("DP", split),)
    kept = search_module._no_worse_than_baselines(problem, barely, splits, options, print)
    assert kept is barely
    taken = search_module._no_worse_than_baselines(problem, clearly, splits, options, print)
    assert taken.objective_units == units


def test_whole_contexts_raise_the_bound_when_the_level_relaxation_is_weak(monkeypatch):
    # the level relaxation (injected: 1 unit for every count) proves nothing; the
    # set-partitioning bound over whole contexts of the 170-conv chain (at least 3 contexts by
    # its LCUs) is 3,817 units at batch 8, i.e. at most 8 / 3.817 ms = 2,095.9 FPS, against
    # the DP split's 1,885.5; the iterations then prove the 3-context answer
    from partitioner import search as search_module

    def weak(problem, **_):
        counts = CountBounds(first=2, units=(1,), num_layers=problem.num_layers)
        return AnyCountBound(bound_units=1, level_units=1, path_units=None, by_count=counts)

    monkeypatch.setattr(search_module, "any_count_bound", weak)
    lines: list[str] = []
    # the constants the numbers were derived at (the 140-row fit)
    hw = HW.with_params(
        compute_efficiency=0.7,
        sc_cycles_per_row=4307.422175,
        max_nodes_per_layer=8,
        config_bytes_per_node=32113,
        elements_per_sc_per_cycle=0.674820317148,
        pcie_transfer_overhead_s=100e-6,
        pcie_out_row_overhead_s=0.85e-6,
    )
    found = search(conv_chain(170), hw, SearchOptions(timeout_s=20), log=lines.append)
    assert any("at most 2,095.9 FPS (whole contexts, " in s for s in lines)
    assert found.bound_s is not None and found.bound_s >= 3817e-6 - 1e-12
    assert found.status == "OPTIMAL" and found.gap <= IMPROVEMENT_EPS


def test_bounds_per_count_join_at_each_count():
    from partitioner.search import _max_counts

    a = CountBounds(first=2, units=(100, 120), num_layers=9)
    b = CountBounds(first=3, units=(110, 140), num_layers=9)
    # k = 2: only a covers it; k = 3: the higher of 120 and 110; k = 4: a's last (120) holds
    # for every larger count, b says 140
    assert _max_counts(a, b).units == (100, 120, 140)
    assert _max_counts(None, b) is b
