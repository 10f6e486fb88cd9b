"""A gap above zero never prints as the 0.00% of a proven answer (``search_types.gap_text``)."""

from partitioner.cmd_compare import solver_status
from partitioner.search_types import gap_text


def test_gap_text_rounds_only_where_it_cannot_read_as_proven():
    assert gap_text(None) == "-"
    assert gap_text(0.0) == "0.00%"
    assert gap_text(0.00004) == "<0.01%"  # would round to 0.00%
    assert gap_text(0.00005) == "0.01%"
    assert gap_text(0.0315) == "3.15%"


def test_compare_solver_line_uses_it():
    feasible = {"solver": {"status": "FEASIBLE", "gap": 0.00002}}
    assert solver_status(feasible) == "FEASIBLE (gap <0.01%)"
    assert solver_status({"solver": {"status": "OPTIMAL", "gap": 0.0}}) == "OPTIMAL (gap 0.00%)"
