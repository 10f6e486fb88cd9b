"""benchmarks.gap_split: a run's gap split into the primal's and the bound's parts."""

from __future__ import annotations

from benchmarks.gap_split import GapSplit, parse_run, table


def split(**changes) -> GapSplit:
    values = dict(
        model="m",
        hardware="hailo8l",
        batch=8,
        best=1000,
        bound=900,
        search_s=9.2,
        long_best=980,
        long_bound=950,
        long_s=55.0,
        generation=970,
        generation_converged=True,
        generation_rounds=7,
        generation_s=30.0,
    )
    return GapSplit(**{**values, **changes})


def test_the_gap_is_the_primal_part_the_bound_part_and_what_is_left():
    s = split()
    # best 1000, bound 900: a 10% gap; the best known partition 980 (2%), the best bound 970
    # (7% above the default run's), 10 units (1%) neither side is known to owe
    assert s.primal == 980 and s.proven == 970
    assert round(s.gap, 6) == 0.1
    assert (round(s.primal_part, 6), round(s.bound_part, 6), round(s.unknown_part, 6)) == (
        0.02,
        0.07,
        0.01,
    )
    assert round(s.primal_part + s.bound_part + s.unknown_part, 6) == round(s.gap, 6)


def test_no_bound_is_above_the_best_partition_known():
    s = split(generation=None, long_bound=990)  # a bound above the primal is capped at it
    assert s.proven == 980 and s.unknown_part == 0


def test_runs_and_the_table():
    assert parse_run("yolov8m:hailo8l:8") == ("yolov8m", "hailo8l", 8)
    lines = table([split()])
    # the long run's gap 1 - 950 / 980, the generation bound's below the best known 1 - 970 / 980
    assert lines[-1] == (
        "| m hailo8l b8 | 10.00% | 2.00% | 7.00% | 1.00% | -2.00% | 3.06% | 1.02% (conv.) | 7, 30 |"
    )
