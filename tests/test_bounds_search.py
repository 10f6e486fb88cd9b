"""The search with the bounds over every count of contexts: CP-SAT's for the counts it tried
joined with the level relaxation's for more."""

from __future__ import annotations

from cost_model.hardware import preset
from partitioner.bounds import AnyCountBound, CountBounds
from partitioner.search import IMPROVEMENT_EPS, SearchOptions, search
from tests.nets import conv_chain

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
    found = search(conv_chain(170), HW, SearchOptions(timeout_s=20))
    assert found.contexts_tried == (2, 3, 4)
    assert not found.bound_all_contexts and found.bound_contexts == 4
