"""A network's blocks (torch module prefixes, ONNX name prefixes) and where its single-context
budget goes: per block its fused layers, LCUs, SCs and L3 cuts at the single-context rate, and
one line per resource that does not fit saying what drives it, in numbers.

A layer's block is its name up to and including the first purely numeric component within the
first three (``model.22.cv2.0.2`` -> ``model.22``, ``layer3.2.conv1`` -> ``layer3.2``,
``/model.8/m.0/cv1/conv/Conv`` -> ``model.8``); a name without one is its own first component
(``conv47``, ``stem``).

>>> block_of("model.22.cv2.0.2"), block_of("layer3.2.conv1"), block_of("/model.8/m.0/cv1/Conv")
('model.22', 'layer3.2', 'model.8')
>>> block_of("features.3.conv.0"), block_of("conv47"), block_of("stem.conv")
('features.3', 'conv47', 'stem')
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from cost_model.caps import CAP_RESOURCE, ResourceCaps
from cost_model.context import ContextFit
from cost_model.hardware import HardwareSpec
from cost_model.resources import COMPILER_LABELS, EDGE_LAYERS
from partitioner.graph import Network

PER_LAYER_RESOURCES = ("lcus", "apus", "input_aligners")
"""Resources every fused layer takes at least one of (at its lowest demand): their count is
bounded below by the number of layers, whatever the width, resolution or precision."""

TOP_BLOCKS = 3
"""Blocks named in a reason line as the largest users of a resource."""

_SPLIT = re.compile(r"[./]")


def block_of(name: str) -> str:
    """The block a layer name belongs to (see the module docstring)."""
    parts = [p for p in _SPLIT.split(name) if p]
    if not parts:
        return name
    for i, part in enumerate(parts[:3]):
        if part.isdigit() and i > 0:
            return ".".join(parts[: i + 1])
    return parts[0]


@dataclass(frozen=True, kw_only=True)
class BlockRow:
    """One block's share of the single-context budget (at the single-context rate: the rate the
    single-context attempt reached, or the lowest demand when it does not fit).

    Attributes:
        block: the name prefix.
        layers: its fused layers (in order of first appearance: ``names``).
        lcus, subclusters, l3_cuts, apus, input_aligners: its demand.
        params, macs: its size.
    """

    block: str
    names: tuple[str, ...]
    lcus: int
    subclusters: int
    l3_cuts: int
    apus: int
    input_aligners: int
    params: int
    macs: int

    @property
    def layers(self) -> int:
        """How many fused layers the block holds."""
        return len(self.names)

    def to_dict(self) -> dict[str, object]:
        """Plain data for ``--json``."""
        return {
            "block": self.block,
            "layers": self.layers,
            "lcus": self.lcus,
            "subclusters": self.subclusters,
            "l3_cuts": self.l3_cuts,
            "apus": self.apus,
            "input_aligners": self.input_aligners,
            "params": self.params,
            "macs": self.macs,
        }


def block_table(net: Network, fit: ContextFit) -> tuple[BlockRow, ...]:
    """Every block of ``net`` with its layers' demand in ``fit`` (the whole network as one
    context), in the order of the blocks' first layers."""
    costs = {c.layer: c for c in fit.layer_costs}
    groups: dict[str, list[str]] = {}
    for name in net.topological_order():
        groups.setdefault(block_of(name), []).append(name)
    rows = []
    for block, names in groups.items():
        demand = [costs[n].resources for n in names if n in costs]
        rows.append(
            BlockRow(
                block=block,
                names=tuple(names),
                **{r: sum(getattr(d, r) for d in demand) for r in _RESOURCES},
                params=sum(net.layer(n).params for n in names),
                macs=sum(net.layer(n).macs for n in names),
            )
        )
    return tuple(rows)


_RESOURCES = ("lcus", "subclusters", "l3_cuts", "apus", "input_aligners")


def _layers(n: int) -> str:
    return f"{n} layer" if n == 1 else f"{n} layers"


def largest_blocks(
    rows: Sequence[BlockRow], resource: str, top: int = TOP_BLOCKS
) -> tuple[BlockRow, ...]:
    """The ``top`` blocks using most of ``resource``, largest first."""
    return tuple(sorted(rows, key=lambda r: (-getattr(r, resource), r.block))[:top])


def _cap_of(resource: str) -> str:
    return {v: k for k, v in CAP_RESOURCE.items()}[resource]


def reason_lines(
    net: Network,
    fit: ContextFit,
    rows: Sequence[BlockRow],
    hw: HardwareSpec,
    caps: ResourceCaps,
) -> tuple[str, ...]:
    """One line per resource over its single-context limit in ``fit``, saying what drives it
    in this network, with the numbers (empty when it fits)."""
    totals = hw.totals()
    lines = []
    for resource, used, limit in fit.over:
        label = COMPILER_LABELS.get(resource, resource)
        if resource == EDGE_LAYERS:
            lines.append(
                f"{label}: {used} tensors in and out of one context; at most {limit} are allowed"
            )
            continue
        cap = getattr(caps, _cap_of(resource))
        allows = f"one context allows {limit} ({cap:.0%} of {getattr(totals, resource)})"
        top = ", ".join(
            f"{r.block} ({getattr(r, resource)})" for r in largest_blocks(rows, resource)
        )
        takers = sum(1 for c in fit.layer_costs if getattr(c.resources, resource) > 0)
        if resource in PER_LAYER_RESOURCES and takers > limit:
            lines.append(
                f"{label}: {takers} of the {len(net)} fused layers take at least one {label[:-1]} "
                f"each ({used} in all); {allows}: {_layers(takers - limit)} too many. Width, "
                f"resolution and 4-bit weights change {label} per layer, not the layer count: "
                "fewer layers (blocks) or a higher cap can"
            )
        elif resource in PER_LAYER_RESOURCES:
            lines.append(
                f"{label}: {used} for {takers} layers that take one; {allows}: {used - limit} "
                f"over. Layers split in several parts take more than one; largest: {top}"
            )
        elif resource == "l3_cuts":
            weights = sum(net.layer(n).weight_bytes for n in net.topological_order())
            lines.append(
                f"{label}: {used} at the lowest rate; {allows}: {used - limit} over. "
                f"{weights / 2**20:.1f} MiB of weights plus line buffers; largest: {top}. "
                "4-bit weights or narrower blocks there lower it"
            )
        else:
            lines.append(
                f"{label}: {used} at the lowest rate; {allows}: {used - limit} over. "
                f"They follow the MACs ({net.total_macs / 1e9:.2f} G per frame); largest: {top}. "
                "Lower resolution or narrower blocks lower it"
            )
    return tuple(lines)


__all__ = [
    "PER_LAYER_RESOURCES",
    "BlockRow",
    "block_of",
    "block_table",
    "largest_blocks",
    "reason_lines",
]
