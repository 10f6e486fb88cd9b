"""The level relaxation's bound: hand cases, and never above any partition found by brute force."""

from __future__ import annotations

import itertools
import sys
from dataclasses import replace
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from partitioner.bounds import (
    NO_PARTITION,
    count_bounds,
    heaviest_path,
    level_bound,
    min_context_pcie_units,
    path_bound,
    pcie_classes,
)
from partitioner.problem import (
    Partition,
    PartitionProblem,
    batch_time_units,
    best_level,
    chain_problem,
    violations,
)

sys.path.insert(0, str(Path(__file__).parent))
from test_cpsat_hypothesis import SETTINGS, problems  # noqa: E402


def every_partition(problem: PartitionProblem, min_contexts: int):
    """Every valid partition into ``min_contexts`` or more contexts, at every level its
    contexts can run at (brute force)."""
    n = problem.num_layers
    for context_of in itertools.product(range(n), repeat=n):
        k = max(context_of) + 1
        if k < min_contexts or sorted(set(context_of)) != list(range(k)):
            continue
        layers = [[i for i in range(n) if context_of[i] == c] for c in range(k)]
        tops = [best_level(problem, members) for members in layers]
        if any(top is None for top in tops):
            continue
        for levels in itertools.product(*(range(top + 1) for top in tops)):
            partition = Partition(
                layer_names=problem.layer_names, context_of=context_of, level_of=levels
            )
            if not violations(problem, partition):
                yield partition


def test_two_contexts_at_the_fast_level_is_the_bound_and_the_optimum():
    # 140 LCUs over 77 per context: at least 2 contexts; both fit the 2000 FPS level (500 us)
    p = chain_problem(lcus=(30, 40, 40, 30), limit=77)
    assert level_bound(p).bound_units == 500 + 500
    assert min(batch_time_units(p, q) for q in every_partition(p, 2)) == 1000


def test_the_bound_counts_contexts_at_their_level():
    # at 2000 FPS a layer needs twice its LCUs (growth 2): 4 x 30 = 120 LCUs at level 1 fill
    # 120/77 = 1.56 contexts of 500 units; two contexts at least, and two at level 1 (1000
    # units) cost less than 1.56 at level 1 plus 0.44 at level 0 (779 + 442 units)
    p = chain_problem(lcus=(15, 15, 15, 15), limit=77, growth=(1.0, 2.0))
    best = min(batch_time_units(p, q) for q in every_partition(p, 2))
    assert best == 500 + 500  # {l0, l1} | {l2, l3}: 60 LCUs each at level 1
    assert level_bound(p).bound_units == 1000


def test_fewer_contexts_proven_impossible_raise_the_bound():
    p = chain_problem(lcus=(30, 30, 30), limit=77)
    assert level_bound(p, min_contexts=2).bound_units == 1000
    assert level_bound(p, min_contexts=3).bound_units == 1500


def test_every_context_pays_its_smallest_crossing():
    # l0 reads the 2800-byte input (1 unit); every layer writes 14,000 bytes (5 units at 2800
    # B/unit): a context's first layer reads at least 1 unit, its last writes 5 units
    p = chain_problem(lcus=(30, 40, 40, 30), limit=77, output_bytes=14_000)
    assert min_context_pcie_units(p) == 5
    # so no context runs faster than 5 units however few layers it holds; the bound has the
    # two contexts at their 500-unit level, which is slower
    assert level_bound(p).bound_units == 1000
    fast = replace(p, levels_fps=(1000.0, 400_000.0))  # 3-unit frames at level 1: PCIe binds
    assert level_bound(fast).bound_units == 5 + 5


def test_only_one_context_can_skip_the_big_tensors():
    # the input x and the graph output l3 are 2800 B (1 unit), l0..l2 write 28,000 B (10 units):
    # a context paying less than 10 units must both start at l0 and end at l3: one at most
    p = replace(
        chain_problem(lcus=(30, 40, 40, 30), limit=77, levels_fps=(1000.0, 400_000.0)),
        output_bytes=(28_000, 28_000, 28_000, 2800),
    )
    assert [(c.floor_units, c.below_cap) for c in pcie_classes(p)] == [(1, None), (10, 1)]
    # two contexts at the 3-unit level: one may pay 3 units, the other pays 10
    assert level_bound(p).bound_units == 3 + 10
    assert min(batch_time_units(p, q) for q in every_partition(p, 2)) == 10 + 10


def test_switch_costs_and_reload_are_in_the_bound():
    # 1 ms per switch (1000 units), 28,000 bytes of weights (10 units), no configuration
    p = replace(
        chain_problem(lcus=(30, 40, 40, 30), limit=77, switch_overhead_s=1e-3),
        weight_bytes=(7000, 7000, 7000, 7000),
    )
    assert level_bound(p).bound_units == 2 * 1000 + 10 + 500 + 500
    assert min(batch_time_units(p, q) for q in every_partition(p, 2)) == 3010


def test_the_path_bound_keeps_the_heaviest_path_and_every_weight():
    # l0 -> l1 -> l3 and l0 -> l2 -> l3: l2 (40 LCUs) is heavier than l1 (10), so the path is
    # l0, l2, l3; l1's weights still count (their reload does not depend on the partition)
    p = replace(
        chain_problem(lcus=(30, 10, 40, 30), limit=77, edges=((0, 1), (1, 3), (0, 2), (2, 3))),
        weight_bytes=(0, 28_000, 0, 0),
    )
    assert heaviest_path(p) == (0, 2, 3)
    # the path's 100 LCUs need two contexts of 500 units; 28,000 B of weights are 10 units
    assert path_bound(p) == 500 + 500 + 10 - 1
    assert min(batch_time_units(p, q) for q in every_partition(p, 2)) == 1010


@SETTINGS
@given(problem=problems(max_layers=5), min_contexts=st.integers(2, 3))
def test_the_bounds_are_never_above_a_partition(problem, min_contexts):
    bound = level_bound(problem, min_contexts=min_contexts)
    times = [batch_time_units(problem, q) for q in every_partition(problem, min_contexts)]
    if bound is None:
        assert not times  # the relaxation is infeasible only when no partition exists
        return
    assert bound.bound_units >= 0
    assert all(t >= bound.bound_units for t in times), (bound, min(times))
    path = path_bound(problem)  # over two or more contexts: min_contexts 2 and 3 alike
    if times:
        assert path is not None  # the path of a problem with partitions has partitions
        assert all(t >= path for t in times), (path, min(times))


def test_the_bounds_for_more_contexts_grow_by_a_context_each():
    # each context runs at 2000 FPS at best (500 units): 2, 3, 4 contexts cost 1000, 1500, 2000
    p = chain_problem(lcus=(30, 40, 40, 30), limit=77)
    counts = count_bounds(p)
    assert counts.units == (1000, 1500, 2000)
    for k, units in zip((2, 3, 4), counts.units, strict=True):
        assert min(batch_time_units(p, q) for q in every_partition(p, k)) == units
    assert counts.at_least(1) is None  # below the first count: not covered
    assert counts.at_least(3) == 1500
    assert counts.at_least(5) == NO_PARTITION  # 4 layers have no 5-context partition


def test_the_bounds_for_more_contexts_stop_past_enough():
    p = chain_problem(lcus=(30, 40, 40, 30), limit=77)
    counts = count_bounds(p, enough_units=1200)
    assert counts.units == (1000, 1500)  # 1500 > 1200: larger counts are above it too
    assert counts.at_least(4) == 1500  # the last holds for every larger count


@SETTINGS
@given(problem=problems(max_layers=5), first=st.integers(2, 3))
def test_the_bounds_for_more_contexts_are_never_above_a_partition(problem, first):
    counts = count_bounds(problem, first=first)
    least: dict[int, int] = {}  # contexts -> the least T(B) of a partition into that many
    for q in every_partition(problem, first):
        units = batch_time_units(problem, q)
        least[q.num_contexts] = min(units, least.get(q.num_contexts, units))
    if counts is None:
        assert not least
        return
    assert counts.first == first and counts.units == tuple(sorted(counts.units))
    for k in range(first, problem.num_layers + 2):
        bound = counts.at_least(k)
        more = [units for n, units in least.items() if n >= k]
        assert all(units >= bound for units in more), (k, bound, min(more))
        single = level_bound(problem, min_contexts=k)
        if single is not None and k <= problem.num_layers:
            # the re-solved LP is the same relaxation (to a unit of floating-point rounding)
            assert bound <= single.bound_units + 1
