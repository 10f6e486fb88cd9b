"""The bridge from a network and the cost model to a :class:`PartitionProblem`.

This is the only place that prices layers for the solver: every layer is lowered at every FPS
level at once with :func:`cost_model.lowering.price_matrix` (the numbers of
:func:`~cost_model.lowering.lower_layer`; its fan-out decides the shortcut node), and
the integer demands, configuration bytes, caps and link figures are copied into the problem.

The level grid (:func:`level_grid`) is geometric. The full span of rates a layer can take is too
wide for one grid (from the rate at which every layer needs its minimum, ~1-500 FPS, to the
fastest layer's cap, ~10^6 FPS: 55-80 levels at ratio 1.2 on the zoo), so it is found in two
passes: a coarse grid over the full span locates the rates the contexts of the best contiguous
split run at, then a fine grid (ratio ~1.2, at most ``MAX_LEVELS`` levels) covers those rates
with one coarse step of margin on each side.

>>> from cost_model.caps import MULTI_CONTEXT_CAPS
>>> from cost_model.hardware import preset
>>> from cost_model.layer import Layer, OpKind
>>> from cost_model.lowering import lower_layer
>>> from partitioner.graph import Network
>>> conv = Layer(name="conv", op=OpKind.CONV, inputs=("x",), input_shapes=((64, 56, 56),),
...              output_shape=(64, 56, 56), kernel=(3, 3), params=36928, macs=115_605_504)
>>> net = Network("one", [conv], inputs={"x": (64, 56, 56)}, outputs=["conv"])
>>> hw = preset("hailo8")
>>> p = build_problem(net, hw, MULTI_CONTEXT_CAPS, batch=1, levels=[1000.0, 2000.0])
>>> p.demand[0][0] == lower_layer(conv, hw, 1000.0).resources.as_tuple()
True
>>> p.limits, p.graph_inputs[0].bytes_per_frame, p.is_output
((77, 308, 615, 96, 154), 200704, (True,))
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from cost_model.caps import CAP_RESOURCE, ResourceCaps, limits
from cost_model.hardware import HardwareSpec
from cost_model.lowering import LevelPrices, max_layer_fps, price_matrix, tensor_rows
from cost_model.resources import COMPILER_LABELS, RESOURCE_NAMES
from partitioner.errors import InfeasiblePartitionError
from partitioner.graph import Network
from partitioner.problem import GraphInput, PartitionProblem, PartitionResult, rounding_units
from partitioner.splits import dp_split
from partitioner.validator import DEFAULT_TOLERANCE, ValidationReport, check_partition

MAX_LEVELS = 24  # model size grows with the level count; 24 keeps 400-layer models compact
FINE_RATIO = 1.2  # target ratio of neighbouring levels (1.15-1.25): t_c is at most 20% above
# the rate the context could really reach
COARSE_LEVELS = 16  # levels of the first pass over the full span


def minimum_rate(network: Network, hw: HardwareSpec) -> float:
    """The rate below which no layer's demand falls further: every layer needs one SC.

    A layer's cap is ``max_nodes_per_layer x max_subclusters_per_node x clock / W``
    (:func:`cost_model.lowering.max_layer_fps`), so one SC carries it up to
    ``cap / (max_nodes_per_layer x max_subclusters_per_node)``; the minimum over layers.
    """
    per_layer_scs = hw.max_nodes_per_layer * hw.max_subclusters_per_node
    return min(max_layer_fps(layer, hw) for layer in network.layers) / per_layer_scs


def maximum_rate(network: Network, hw: HardwareSpec) -> float:
    """The fastest layer cap: no context can run faster."""
    return max(max_layer_fps(layer, hw) for layer in network.layers)


def geometric(lo: float, hi: float, count: int) -> tuple[float, ...]:
    """``count`` rates from ``lo`` to ``hi`` in a constant ratio (one rate if ``lo >= hi``).

    >>> geometric(100.0, 400.0, 3)
    (100.0, 200.0, 400.0)
    """
    if count <= 1 or hi <= lo:
        return (lo,)
    ratio = (hi / lo) ** (1.0 / (count - 1))
    return tuple(lo * ratio**k for k in range(count - 1)) + (hi,)


def fine_grid(lo: float, hi: float) -> tuple[float, ...]:
    """A grid from ``lo`` to ``hi`` at ratio ``FINE_RATIO``, or coarser to stay within
    ``MAX_LEVELS`` levels.

    >>> len(fine_grid(100.0, 100.0 * 1.2**10)), len(fine_grid(1.0, 1e6))
    (11, 24)
    """
    if hi <= lo:
        return (lo,)
    count = min(MAX_LEVELS, math.ceil(math.log(hi / lo) / math.log(FINE_RATIO) - 1e-9) + 1)
    return geometric(lo, hi, count)


def level_grid(
    network: Network, hw: HardwareSpec, caps: ResourceCaps, *, batch: int
) -> tuple[float, ...]:
    """The FPS levels for ``network``: a coarse pass, then a fine grid around its contexts.

    Coarse: ``COARSE_LEVELS`` rates from :func:`minimum_rate` to :func:`maximum_rate`. The best
    contiguous split on that grid (:func:`~partitioner.splits.dp_split`) runs its contexts
    at coarse levels ``a..b``; the fine grid spans ``coarse[a-1]`` to ``coarse[b+1]`` (clamped
    to the span). If no split is valid, the coarse grid is returned (pricing will say why).
    """
    lo, hi = minimum_rate(network, hw), maximum_rate(network, hw)
    coarse = geometric(lo, hi, COARSE_LEVELS)
    split = dp_split(_build(network, hw, caps, batch=batch, levels=coarse))
    if split is None:
        return coarse
    first, last = min(split.level_of), max(split.level_of)
    return fine_grid(coarse[max(0, first - 1)], coarse[min(len(coarse) - 1, last + 1)])


def build_problem(
    network: Network,
    hw: HardwareSpec,
    caps: ResourceCaps,
    *,
    batch: int,
    levels: Sequence[float] | None = None,
) -> PartitionProblem:
    """The partition problem of ``network`` on ``hw`` under ``caps`` at batch ``batch``.

    ``levels`` (ascending FPS) defaults to :func:`level_grid`. A layer is priced at each level
    with ``lower_layer(layer, hw, fps, fan_out=network.fan_out(name))``; a level above its
    ``max_layer_fps`` is marked unreachable.

    Raises:
        InfeasiblePartitionError: a layer does not fit one context even at the lowest level
            (the message names the layer, the resource, the numbers and the cap).
        PricingError: a layer the cost model cannot price.
    """
    grid = tuple(levels) if levels is not None else level_grid(network, hw, caps, batch=batch)
    problem = _build(network, hw, caps, batch=batch, levels=grid)
    _check_single_layers(problem, caps, hw)
    return problem


def _build(
    network: Network, hw: HardwareSpec, caps: ResourceCaps, *, batch: int, levels: Sequence[float]
) -> PartitionProblem:
    order = network.topological_order()
    index = {name: i for i, name in enumerate(order)}
    layers = [network.layer(name) for name in order]
    pairs = [(layer, network.fan_out(name)) for layer, name in zip(layers, order, strict=True)]
    demand, config = _monotone(price_matrix(pairs, hw, levels))
    return PartitionProblem(
        name=network.name,
        layer_names=order,
        edges=tuple(sorted((index[u], index[v]) for v in order for u in network.predecessors(v))),
        output_bytes=tuple(layer.output_bytes for layer in layers),
        output_rows=tuple(tensor_rows(layer.output_shape) for layer in layers),
        is_output=tuple(name in network.outputs for name in order),
        graph_inputs=tuple(
            GraphInput(
                name=name,
                bytes_per_frame=network.tensor_bytes(name),
                consumers=tuple(index[c] for c in network.input_consumers(name)),
                rows=tensor_rows(shape),
            )
            for name, shape in network.inputs.items()
        ),
        weight_bytes=tuple(layer.weight_bytes for layer in layers),
        config_bytes=config,
        levels_fps=tuple(float(f) for f in levels),
        demand=demand,
        resource_names=RESOURCE_NAMES,
        limits=limits(caps, hw).as_tuple(),
        edge_layer_limit=hw.edge_layers_per_context,
        link_bytes_per_s=hw.link.bytes_per_s,
        pcie_row_overhead_s=hw.pcie_row_overhead_s,
        pcie_transfer_overhead_s=hw.pcie_transfer_overhead_s,
        pcie_out_row_overhead_s=hw.pcie_out_row_overhead_s,
        overhead_between_contexts=hw.pcie_overhead_between_contexts,
        switch_overhead_s=hw.context_switch_overhead_s,
        pipeline_fill_frames=hw.pipeline_fill_frames,
        batch=batch,
    )


def _monotone(prices: LevelPrices) -> tuple[tuple, tuple]:
    """The problem's ``demand`` and ``config_bytes`` rows from the priced arrays.

    A layer is unreachable from its first unreachable level up; where reachable, its demand and
    configuration are the running maximum over the levels (the cost model's demands already never
    decrease; this keeps the problem's invariant if a rule ever breaks it). An unreachable entry's
    configuration stays as priced (no reader uses it).
    """
    reach = np.logical_and.accumulate(prices.reachable, axis=0)
    demand = np.maximum.accumulate(prices.demand, axis=0).tolist()
    config = np.where(
        reach, np.maximum.accumulate(prices.config_bytes, axis=0), prices.config_bytes
    )
    rows = tuple(
        tuple(tuple(d) if ok else None for d, ok in zip(level, oks, strict=True))
        for level, oks in zip(demand, reach.tolist(), strict=True)
    )
    return rows, tuple(tuple(row) for row in config.tolist())


def _check_single_layers(problem: PartitionProblem, caps: ResourceCaps, hw: HardwareSpec) -> None:
    cap_of = {resource: cap for cap, resource in CAP_RESOURCE.items()}
    totals = hw.totals().as_dict()
    for i, d in enumerate(problem.demand[0]):
        for name, need, limit in zip(RESOURCE_NAMES, d or (), problem.limits, strict=True):
            if need > limit:
                cap = cap_of[name]
                raise InfeasiblePartitionError(
                    f"layer {problem.layer_names[i]!r} needs {need} {COMPILER_LABELS[name]} but "
                    f"one context allows {limit} ({cap} cap {getattr(caps, cap):.2f} x "
                    f"{totals[name]}); lower its precision or raise the cap"
                )


def validate_result(
    network: Network,
    hw: HardwareSpec,
    caps: ResourceCaps,
    problem: PartitionProblem,
    result: PartitionResult,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
) -> ValidationReport:
    """Run the independent validator on a solver result: its assignment, the rate of each
    context's level and its FPS at the problem's batch. Call it on every partition reported.

    Raises:
        InfeasiblePartitionError: the result has no partition, or the validator rejects it.
    """
    if result.partition is None:
        raise InfeasiblePartitionError(
            f"no partition of {network.name!r} into at most {result.num_contexts} contexts was "
            f"found ({result.status.value}); allow more contexts, raise the caps or the time limit"
        )
    part = result.partition
    return check_partition(
        network,
        hw,
        caps,
        part.assignment,
        batch=problem.batch,
        claimed_fps=result.fps,
        context_fps=[problem.levels_fps[lv] for lv in part.level_of],
        tolerance=tolerance,
        claimed_slack_s=rounding_units(problem, part.num_contexts) * problem.TIME_UNIT_S,
    )


__all__ = [
    "COARSE_LEVELS",
    "FINE_RATIO",
    "MAX_LEVELS",
    "build_problem",
    "fine_grid",
    "geometric",
    "level_grid",
    "maximum_rate",
    "minimum_rate",
    "validate_result",
]
