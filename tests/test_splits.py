"""Contiguous splits in linear time (partitioner.splits): the baselines' answers, chunk by chunk.

Units as in tests/test_cpsat_model.py: chain_problem's link moves 2800 bytes per time unit.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from benchmarks.synthetic import generate
from cost_model.caps import MULTI_CONTEXT_CAPS
from cost_model.hardware import preset
from partitioner.baselines import ChunkScanner, dp_partition, greedy_partition
from partitioner.pricing import build_problem
from partitioner.problem import chain_problem, violations
from partitioner.splits import WindowScanner, dp_split, greedy_split, last_fitting_end
from tests.test_cpsat_hypothesis import SETTINGS, problems


def test_last_fitting_end_stops_at_the_first_broken_cap():
    # limit 77: [0..1] = 70 fits, [0..2] = 110 does not; [1..2] = 80 does not; [2..4] = 70 fits
    p = chain_problem(lcus=(30, 40, 40, 20, 10), limit=77)
    assert last_fitting_end(p) == (1, 1, 4, 4, 4)


def test_a_layer_over_the_cap_alone_keeps_its_own_chunk():
    # l1 needs 90 > 77 on its own: its chunk is [1, 1] (priced invalid), and no split exists
    p = chain_problem(lcus=(30, 90, 10), limit=77)
    assert last_fitting_end(p) == (0, 1, 2)
    assert dp_split(p) is None and greedy_split(p) is None


def test_window_costs_are_the_full_scan_up_to_the_last_fitting_end():
    p = build_problem(generate("yolo_like", 120), preset("hailo8"), MULTI_CONTEXT_CAPS, batch=8)
    full, window = ChunkScanner(p), WindowScanner(p)
    for start in range(0, p.num_layers, 7):
        stop = window.last_end[start] - start + 1
        for a, b in zip(full.costs(start), window.costs(start), strict=True):
            assert len(b) == stop
            np.testing.assert_array_equal(a[:stop], b)
            assert np.isinf(a[stop:]).all()  # past the last fitting end nothing is valid


@SETTINGS
@given(problem=problems(max_layers=12), cap=st.sampled_from([None, 1, 2, 3, 5]))
def test_same_answers_as_the_baselines(problem, cap):
    assert greedy_split(problem) == greedy_partition(problem)
    assert dp_split(problem, max_contexts=cap) == dp_partition(problem, max_contexts=cap)


def test_same_answers_on_a_synthetic_transformer_on_hailo8l():
    p = build_problem(generate("transformer", 150), preset("hailo8l"), MULTI_CONTEXT_CAPS, batch=8)
    dp = dp_split(p)
    assert dp is not None and violations(p, dp) == []
    assert dp == dp_partition(p)
    assert greedy_split(p) == greedy_partition(p)
    for cap in (dp.num_contexts - 1, dp.num_contexts, dp.num_contexts + 3):
        assert dp_split(p, max_contexts=cap) == dp_partition(p, max_contexts=cap)


@SETTINGS
@given(problem=problems(max_layers=12))
def test_contiguous_multi_cost_equals_the_baselines_one(problem):
    from partitioner import baselines, splits

    assert splits.contiguous_multi_cost(problem) == baselines.contiguous_multi_cost(problem)
