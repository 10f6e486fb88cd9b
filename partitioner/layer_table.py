"""Per-layer costs of a partition, as the profiler lists them: context, op, SCs, LCUs, L3 cuts,
precision and the rate each layer was allocated for.

Every layer of a context is lowered at the context's rate (``cost_model.lowering.price_layers``
with the rate the report priced the context at), so the rows of one context add up to that
context's usage exactly.

>>> from cost_model.hardware import preset
>>> from cost_model.layer import Layer, OpKind
>>> from partitioner.graph import Network
>>> def conv(name, src):
...     return Layer(name=name, op=OpKind.CONV, inputs=(src,), input_shapes=((64, 56, 56),),
...                  output_shape=(64, 56, 56), kernel=(3, 3), params=36928, macs=115_605_504)
>>> net = Network("two", [conv("a", "x"), conv("b", "a")], inputs={"x": (64, 56, 56)},
...               outputs=["b"])
>>> rows = layer_rows(net, preset("hailo8"), [(0, ("a",), 500.0), (1, ("b",), 500.0)])
>>> [(r.name, r.context, r.precision, r.fps) for r in rows]
[('a', 0, 'a8_w8', 500.0), ('b', 1, 'a8_w8', 500.0)]
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from cost_model.hardware import HardwareSpec
from cost_model.lowering import LayerCost, price_layers
from cost_model.resources import Resources
from partitioner.graph import Network


@dataclass(frozen=True, kw_only=True)
class LayerRow:
    """One layer as allocated.

    Attributes:
        name, op: the layer and its op (``conv+silu``).
        context: its context, or ``None`` when no context holds it (``profile --hw`` of a
            network that does not fit one context).
        precision: ``a8_w8``, ``a8_w4`` or ``a16_w16``.
        resources: its SCs, LCUs, L3 cuts, APUs and input aligners at ``fps``.
        fps: the rate it was allocated for (its context's rate; 0.0 for a lowest-demand row).
        nodes: the nodes it was split into (combiner and shortcut included).
        macs, weight_bytes: per frame; loaded at a switch.
    """

    name: str
    op: str
    context: int | None
    precision: str
    resources: Resources
    fps: float
    nodes: int
    macs: int
    weight_bytes: int

    def to_dict(self) -> dict[str, Any]:
        """The row in the compile JSON (``layers``)."""
        return {
            "name": self.name,
            "context": self.context,
            "op": self.op,
            "precision": self.precision,
            "subclusters": self.resources.subclusters,
            "lcus": self.resources.lcus,
            "l3_cuts": self.resources.l3_cuts,
            "apus": self.resources.apus,
            "input_aligners": self.resources.input_aligners,
            "fps": self.fps,
            "nodes": self.nodes,
            "macs": self.macs,
            "weight_bytes": self.weight_bytes,
        }


def op_label(net: Network, name: str) -> str:
    """The op with its fused activation, as ``ctxfit profile`` prints it (``conv+silu``)."""
    layer = net.layer(name)
    return layer.op.value + (f"+{layer.activation}" if layer.activation else "")


def rows_from_costs(
    net: Network, costs: Iterable[LayerCost], context: int | None, *, fps: float | None = None
) -> tuple[LayerRow, ...]:
    """Rows of already-lowered layers (``fps`` overrides the rate shown, e.g. 0.0 for the
    lowest demand of a context that does not fit)."""
    return tuple(
        LayerRow(
            name=cost.layer,
            op=op_label(net, cost.layer),
            context=context,
            precision=net.layer(cost.layer).precision.value,
            resources=cost.resources,
            fps=cost.fps if fps is None else fps,
            nodes=cost.nodes,
            macs=cost.macs,
            weight_bytes=cost.weight_bytes,
        )
        for cost in costs
    )


def layer_rows(
    net: Network, hw: HardwareSpec, contexts: Sequence[tuple[int, Sequence[str], float]]
) -> tuple[LayerRow, ...]:
    """Every layer of ``contexts`` (``(index, layer names, rate)``) lowered at its context's
    rate, in context order then the given layer order.

    Raises:
        PricingError: a rate that is not positive.
    """
    rows: list[LayerRow] = []
    for index, names, rate in contexts:
        pairs = [(net.layer(n), net.fan_out(n)) for n in names]
        rows += rows_from_costs(net, price_layers(pairs, hw, rate), index)
    return tuple(rows)


def totals(rows: Iterable[LayerRow]) -> Resources:
    """The rows' resources added up."""
    return sum((r.resources for r in rows), Resources.zeros())


__all__ = ["LayerRow", "layer_rows", "op_label", "rows_from_costs", "totals"]
