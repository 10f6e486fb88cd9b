"""Pricing a network at every level at once gives lower_layer's numbers, layer by layer."""

from __future__ import annotations

from benchmarks.synthetic import generate
from cost_model.caps import MULTI_CONTEXT_CAPS
from cost_model.hardware import preset
from cost_model.lowering import lower_layer
from partitioner.pricing import build_problem


def test_build_problem_holds_lower_layer_at_every_level():
    net, hw = generate("yolo_like", 60), preset("hailo8l")
    levels = [20.0, 400.0, 3000.0, 40_000.0, 400_000.0]  # the top two are out of some layers' reach
    p = build_problem(net, hw, MULTI_CONTEXT_CAPS, batch=8, levels=levels)
    unreachable = 0
    for i, name in enumerate(p.layer_names):
        reached = True
        for lv, fps in enumerate(levels):
            cost = lower_layer(net.layer(name), hw, fps, fan_out=net.fan_out(name))
            reached = reached and cost.reachable
            if reached:
                assert p.demand[lv][i] == cost.resources.as_tuple(), (name, fps)
                assert p.config_bytes[lv][i] == cost.config_bytes, (name, fps)
            else:
                assert p.demand[lv][i] is None, (name, fps)
                unreachable += 1
    assert unreachable > 0  # the grid does reach past some layers' caps
