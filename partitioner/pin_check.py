"""Pinned contexts checked before the search: a context whose pinned layers alone pass a cap
fails at once, naming the context and the resource.

Every layer needs at least its lowest demand wherever it runs, so if the layers pinned to
``context_N`` pass a cap at their lowest demand (``cost_model.context.context_fit``), no partition
honours the pins; without this check the search would try every context count before saying so.

A chain of 100 one-LCU layers with 90 pinned to ``context_1`` fails on Hailo-8 with
``context_1 (pinned, 90 layers) needs LCUs: 90/77 at its lowest rate under the multi-context caps;
move layers out of context_1 or raise max_control_utilization`` (tests/test_emit_settings.py).
"""

from __future__ import annotations

from cost_model.context import context_fit
from cost_model.hardware import HardwareSpec
from cost_model.resources import EDGE_LAYERS, format_over
from partitioner.errors import InfeasiblePartitionError
from partitioner.graph import Network
from partitioner.search import SearchOptions

CAP_KEYWORDS = {
    "lcus": "max_control_utilization",
    "subclusters": "max_compute_utilization",
    "l3_cuts": "max_memory_utilization",
    "apus": "max_apu_utilization",
    "input_aligners": "max_input_aligner_utilization",
}
"""The ``resources_param`` keyword that raises each resource's cap."""


def check_pinned_contexts(net: Network, hw: HardwareSpec, options: SearchOptions) -> None:
    """Raise when the layers pinned to one context pass a cap at their lowest demand.

    The caps are the multi-context flow's, unless only ``context_0`` is pinned and the whole
    network fits one context (the single-context flow answers then, pins honoured).

    Raises:
        InfeasiblePartitionError: ``"context_N (pinned, L layers) needs LCUs: 90/77 ..."``.
    """
    if not options.pins:
        return
    groups: dict[int, list[str]] = {}
    for name in net.topological_order():
        if name in options.pins:
            groups.setdefault(options.pins[name], []).append(name)
    if set(groups) == {0} and options.context_switch != "enabled":
        layers = [(layer, net.fan_out(layer.name)) for layer in net.layers]
        if context_fit(layers, hw, options.single_caps, base_caps=options.single_base_caps).fits:
            return
    for index, names in sorted(groups.items()):
        pairs = [(net.layer(n), net.fan_out(n)) for n in names]
        over = [o for o in context_fit(pairs, hw, options.multi_caps).over if o[0] != EDGE_LAYERS]
        if over:
            raise InfeasiblePartitionError(
                f"context_{index} (pinned, {len(names)} layers) needs {format_over(over)} at its "
                f"lowest rate under the multi-context caps; move layers out of context_{index} "
                f"or raise {CAP_KEYWORDS.get(over[0][0], 'the caps')}"
            )


__all__ = ["check_pinned_contexts"]
