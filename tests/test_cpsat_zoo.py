"""Zoo networks end to end: pricing, baselines, CP-SAT and the independent validator.

CP-SAT is hinted with the better baseline, so it must never end worse than greedy or DP; every
partition it returns must pass the validator, whose FPS at the claimed context rates must match
the solver's to 1%.
"""

from __future__ import annotations

import pytest

from cost_model.caps import MULTI_CONTEXT_CAPS
from cost_model.hardware import preset
from partitioner.baselines import dp_partition, greedy_partition
from partitioner.cpsat_model import PartitionModel
from partitioner.models import ModelRequest, load_network
from partitioner.pricing import build_problem, validate_result
from partitioner.problem import batch_time_units, violations

NETWORKS = ("resnet_v1_18", "yolov8n")


@pytest.fixture(scope="module", params=NETWORKS)
def network(request):
    return load_network(ModelRequest(spec=request.param))


@pytest.mark.parametrize("hw_name", ["hailo8", "hailo8l"])
def test_cpsat_never_worse_than_the_baselines_and_validated(network, hw_name):
    hw = preset(hw_name)
    problem = build_problem(network, hw, MULTI_CONTEXT_CAPS, batch=8)
    greedy, dp = greedy_partition(problem), dp_partition(problem)
    assert greedy is not None and dp is not None
    k = max(greedy.num_contexts, dp.num_contexts)
    result = PartitionModel(problem, num_contexts=k).solve(time_limit_s=1.0)
    assert violations(problem, result.partition) == []
    assert result.objective_units <= batch_time_units(problem, greedy)
    assert result.objective_units <= batch_time_units(problem, dp)
    report = validate_result(network, hw, MULTI_CONTEXT_CAPS, problem, result)
    assert report.valid
    assert report.fps_at_claimed_rates == pytest.approx(result.fps, rel=0.01)
    assert len(report.contexts) == result.partition.num_contexts
