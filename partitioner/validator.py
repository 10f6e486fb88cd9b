"""An independent check of a partition, straight from the network and the cost model.

It shares no code with the problem, the pricing bridge or the CP-SAT model: it reads the
:class:`~partitioner.graph.Network`, the hardware and the caps, and re-derives everything.

Checks, each with the numbers in its message:

1. the assignment names every layer exactly once, and contexts are ``0..K-1``, none empty;
2. data flows forward: no layer reads a tensor made in a later context;
3. each context fits the caps (``cost_model.context.context_fit``), and, when the claimed rate
   of each context is given, fits at that rate ("context 3 uses 81/77 LCUs at 1200 FPS");
4. each context has at most ``hw.edge_layers_per_context`` edge layers (tensors into or out of
   it, graph inputs and outputs included); its PCIe traffic is split by direction (PCIe is full
   duplex) with the rows of each tensor, as ``cost_model.throughput`` wants it;
5. the FPS recomputed with ``cost_model.throughput`` matches the claim: at the claimed context
   rates within ``tolerance`` (default 1%), a claim slower by at most ``claimed_slack_s`` of
   ``T(B)`` besides (the solver rounds each term of ``T(B)`` up to 1 us: on a tiny network whose
   frames take tens of microseconds that alone is more than 1%), and the claim never exceeds
   the cost model's FPS with every context at its highest rate by more than ``tolerance`` (a
   context running a little below its top rate can save configuration bytes).

>>> from cost_model.caps import MULTI_CONTEXT_CAPS
>>> from cost_model.hardware import preset
>>> from cost_model.layer import Layer, OpKind
>>> from partitioner.graph import Network
>>> def conv(name, src):
...     return Layer(name=name, op=OpKind.CONV, inputs=(src,), input_shapes=((64, 56, 56),),
...                  output_shape=(64, 56, 56), kernel=(3, 3), params=36928, macs=115_605_504)
>>> net = Network("two", [conv("a", "x"), conv("b", "a")], inputs={"x": (64, 56, 56)},
...               outputs=["b"])
>>> hw = preset("hailo8")
>>> report = validate_partition(net, hw, MULTI_CONTEXT_CAPS, {"a": 0, "b": 1}, batch=8)
>>> report.valid, [c.edge_layers for c in report.contexts]
(True, [2, 2])
>>> validate_partition(net, hw, MULTI_CONTEXT_CAPS, {"a": 1, "b": 0}, batch=8).errors
("layer 'b' (context 0) reads 'a' from a later context 1",)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from cost_model.caps import ResourceCaps, limits
from cost_model.context import ContextFit, context_fit
from cost_model.hardware import HardwareSpec
from cost_model.lowering import price_layers, tensor_rows
from cost_model.resources import EDGE_LAYERS, Resources, format_over
from cost_model.throughput import ContextTiming, fps_at_batch, pays_overhead
from partitioner.errors import InfeasiblePartitionError
from partitioner.graph import Network

DEFAULT_TOLERANCE = 0.01
"""Relative FPS difference accepted between a claim and the recomputation (1%)."""


@dataclass(frozen=True, kw_only=True)
class ContextCheck:
    """One context as the validator sees it.

    Attributes:
        index: the context number.
        layers: its layers, in the network's topological order.
        fit: ``context_fit`` of its layers (highest rate, usage, limits).
        edge_layers: tensors crossing its boundary (in, out, graph inputs and outputs).
        pcie_bytes_per_frame: bytes of those tensors per frame (both directions).
        pcie_out_bytes_per_frame: the part written to the host (outputs, tensors read later).
        pcie_rows_per_frame, pcie_out_rows_per_frame: the rows of those that pay the row
            cost (all, or only graph inputs and outputs: ``pays_overhead``), likewise.
        pcie_transfers_per_frame, pcie_out_transfers_per_frame: those tensors, likewise.
        claimed_fps: the rate the partition claims for it, if given.
        usage_at_claimed: resources its layers need at that rate.
    """

    index: int
    layers: tuple[str, ...]
    fit: ContextFit
    edge_layers: int
    pcie_bytes_per_frame: int
    pcie_out_bytes_per_frame: int
    pcie_rows_per_frame: int
    pcie_out_rows_per_frame: int
    pcie_transfers_per_frame: int = 0
    pcie_out_transfers_per_frame: int = 0
    claimed_fps: float | None = None
    usage_at_claimed: Resources | None = None


@dataclass(frozen=True, kw_only=True)
class ValidationReport:
    """The verdict on one partition.

    Attributes:
        errors: every rule broken, with numbers; empty when valid.
        contexts: per-context details (empty when the assignment itself is malformed).
        batch: the batch size B.
        fps: the cost model's FPS with every context at its highest rate (``None`` if invalid).
        fps_at_claimed_rates: the cost model's FPS at the claimed context rates, if given.
        claimed_fps: the FPS the partition claims, if given.
        tolerance: the relative tolerance the FPS comparison used.
        timings: each context's :class:`ContextTiming` behind the reported figures: at the
            claimed rates when given, else at each context's highest rate (empty if invalid).
    """

    errors: tuple[str, ...]
    contexts: tuple[ContextCheck, ...]
    batch: int
    fps: float | None
    fps_at_claimed_rates: float | None
    claimed_fps: float | None
    tolerance: float
    timings: tuple[ContextTiming, ...] = ()

    @property
    def valid(self) -> bool:
        """True when no rule is broken."""
        return not self.errors


def validate_partition(
    network: Network,
    hw: HardwareSpec,
    caps: ResourceCaps,
    assignment: Mapping[str, int],
    *,
    batch: int,
    claimed_fps: float | None = None,
    context_fps: Sequence[float] | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    claimed_slack_s: float = 0.0,
) -> ValidationReport:
    """Check ``assignment`` (layer name -> context) against the network, caps and cost model.

    ``context_fps`` is the rate claimed for each context (the solver's levels); ``claimed_fps``
    the claimed FPS at ``batch``, whose ``T(B)`` may be up to ``claimed_slack_s`` seconds above
    the cost model's for its rounding. Never raises for an invalid partition (see
    :func:`check_partition`).
    """
    errors = _assignment_errors(network, assignment)
    if errors:
        return _report(errors, (), batch, None, None, claimed_fps, tolerance)
    k = max(assignment.values()) + 1
    if context_fps is not None and len(context_fps) != k:
        errors.append(f"{len(context_fps)} context rates are claimed for {k} contexts")
        context_fps = None
    errors += _precedence_errors(network, assignment)
    crossing = _crossings(network, assignment, k)
    contexts = tuple(
        _check_context(network, hw, caps, assignment, c, crossing[c], context_fps) for c in range(k)
    )
    for ctx in contexts:
        errors += _context_errors(ctx, hw, caps)
    if errors:
        return _report(errors, contexts, batch, None, None, claimed_fps, tolerance)
    timings = tuple(_timing_at_top(ctx) for ctx in contexts)
    fps = fps_at_batch(timings, batch, hw)
    at_claimed = None
    if context_fps is not None:
        timings = tuple(_timing_at_claimed(network, hw, ctx) for ctx in contexts)
        at_claimed = fps_at_batch(timings, batch, hw)
    errors += _fps_errors(claimed_fps, fps, at_claimed, tolerance, batch, claimed_slack_s)
    report = _report(errors, contexts, batch, fps, at_claimed, claimed_fps, tolerance)
    return replace(report, timings=timings) if not errors else report


def check_partition(
    network: Network,
    hw: HardwareSpec,
    caps: ResourceCaps,
    assignment: Mapping[str, int],
    *,
    batch: int,
    claimed_fps: float | None = None,
    context_fps: Sequence[float] | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    claimed_slack_s: float = 0.0,
) -> ValidationReport:
    """:func:`validate_partition`, raising when the partition is invalid.

    Raises:
        InfeasiblePartitionError: the partition breaks a rule; the message lists every rule
            broken, with numbers.
    """
    report = validate_partition(
        network,
        hw,
        caps,
        assignment,
        batch=batch,
        claimed_fps=claimed_fps,
        context_fps=context_fps,
        tolerance=tolerance,
        claimed_slack_s=claimed_slack_s,
    )
    if not report.valid:
        raise InfeasiblePartitionError(
            f"invalid partition of {network.name!r}: " + "; ".join(report.errors)
        )
    return report


def _report(
    errors: list[str],
    contexts: tuple[ContextCheck, ...],
    batch: int,
    fps: float | None,
    at_claimed: float | None,
    claimed: float | None,
    tolerance: float,
) -> ValidationReport:
    return ValidationReport(
        errors=tuple(errors),
        contexts=contexts,
        batch=batch,
        fps=fps,
        fps_at_claimed_rates=at_claimed,
        claimed_fps=claimed,
        tolerance=tolerance,
    )


# -- the rules -----------------------------------------------------------------------------------
def _assignment_errors(network: Network, assignment: Mapping[str, int]) -> list[str]:
    unknown = sorted(name for name in assignment if name not in network)
    missing = [name for name in network.topological_order() if name not in assignment]
    errors = [f"{name!r} is not a layer of {network.name!r}" for name in unknown[:3]]
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        errors.append(f"no context for layer(s) {', '.join(map(repr, missing[:3]))}{more}")
    if errors or not assignment:
        return errors or ["the assignment is empty"]
    used = sorted(set(assignment.values()))
    if used[0] < 0 or used != list(range(used[-1] + 1)):
        errors.append(f"contexts must be numbered 0..K-1 with none empty, got {used}")
    return errors


def _precedence_errors(network: Network, assignment: Mapping[str, int]) -> list[str]:
    errors = []
    for consumer in network.topological_order():
        for producer in network.predecessors(consumer):
            if assignment[producer] > assignment[consumer]:
                errors.append(
                    f"layer {consumer!r} (context {assignment[consumer]}) reads {producer!r} "
                    f"from a later context {assignment[producer]}"
                )
    return errors


@dataclass(frozen=True)
class _Boundary:
    into: frozenset[str]  # tensors read from the host: graph inputs, tensors made earlier
    out_of: frozenset[str]  # tensors written to the host: graph outputs, tensors read later


def _crossings(network: Network, assignment: Mapping[str, int], k: int) -> list[_Boundary]:
    """Tensors that cross each context's boundary: a layer output read in a later context
    (out of its producer's context, into each reader's), a graph output (out of its producer's
    context), a graph input (into every context that reads it)."""
    into: list[set[str]] = [set() for _ in range(k)]
    out_of: list[set[str]] = [set() for _ in range(k)]
    for name in network.topological_order():
        home = assignment[name]
        readers = {assignment[r] for r in network.successors(name)} - {home}
        if readers or name in network.outputs:
            out_of[home].add(name)
        for c in readers:
            into[c].add(name)
    for graph_input in network.inputs:
        for reader in network.input_consumers(graph_input):
            into[assignment[reader]].add(graph_input)
    return [_Boundary(frozenset(i), frozenset(o)) for i, o in zip(into, out_of, strict=True)]


def _shape(network: Network, tensor: str) -> tuple[int, ...]:
    if tensor in network.inputs:
        return network.inputs[tensor]
    return network.layer(tensor).output_shape


def _pcie(
    network: Network, tensors: frozenset[str], hw: HardwareSpec, graph: set[str]
) -> tuple[int, int, int]:
    """Bytes per frame of the tensors, and the rows and number of those that pay the row and
    transfer costs (:func:`cost_model.throughput.pays_overhead`): in ``graph`` (the graph
    inputs a context reads, or the graph outputs it writes; a graph output read back by a later
    context is a tensor between contexts there)."""
    paying = [t for t in tensors if pays_overhead(hw, graph_tensor=t in graph)]
    return (
        sum(network.tensor_bytes(t) for t in tensors),
        sum(tensor_rows(_shape(network, t)) for t in paying),
        len(paying),
    )


def _check_context(
    network: Network,
    hw: HardwareSpec,
    caps: ResourceCaps,
    assignment: Mapping[str, int],
    c: int,
    boundary: _Boundary,
    context_fps: Sequence[float] | None,
) -> ContextCheck:
    names = tuple(n for n in network.topological_order() if assignment[n] == c)
    pairs = [(network.layer(n), network.fan_out(n)) for n in names]
    claimed = None if context_fps is None else float(context_fps[c])
    usage = None
    if claimed is not None and claimed > 0:
        costs = price_layers(pairs, hw, claimed)
        usage = sum((cost.resources for cost in costs), Resources.zeros())
        slow = [cost.layer for cost in costs if not cost.reachable]
        if slow:
            usage = None  # reported as an error below via the fit's rate
    in_bytes, in_rows, in_n = _pcie(network, boundary.into, hw, set(network.inputs))
    out_bytes, out_rows, out_n = _pcie(network, boundary.out_of, hw, set(network.outputs))
    return ContextCheck(
        index=c,
        layers=names,
        fit=context_fit(pairs, hw, caps),
        edge_layers=len(boundary.into) + len(boundary.out_of),
        pcie_bytes_per_frame=in_bytes + out_bytes,
        pcie_out_bytes_per_frame=out_bytes,
        pcie_rows_per_frame=in_rows + out_rows,
        pcie_out_rows_per_frame=out_rows,
        pcie_transfers_per_frame=in_n + out_n,
        pcie_out_transfers_per_frame=out_n,
        claimed_fps=claimed,
        usage_at_claimed=usage,
    )


def _context_errors(ctx: ContextCheck, hw: HardwareSpec, caps: ResourceCaps) -> list[str]:
    c, errors = ctx.index, []
    resources_over = [o for o in ctx.fit.over if o[0] != EDGE_LAYERS]  # edge layers: below
    if not ctx.fit.fits and (resources_over or not ctx.fit.over):
        errors.append(
            f"context {c} does not fit even at its lowest rate: {format_over(resources_over)} "
            f"({len(ctx.layers)} layers)"
        )
    elif ctx.claimed_fps is not None:
        if ctx.claimed_fps > ctx.fit.fps * (1 + 1e-9) or ctx.usage_at_claimed is None:
            errors.append(
                f"context {c} is claimed at {ctx.claimed_fps:.6g} FPS but reaches at most "
                f"{ctx.fit.fps:.6g} FPS (binding: {ctx.fit.binding or 'none'})"
            )
        else:
            over = ctx.usage_at_claimed.over(limits(caps, hw))
            if over:
                errors.append(f"context {c} uses {format_over(over)} at {ctx.claimed_fps:.6g} FPS")
    if ctx.edge_layers > hw.edge_layers_per_context:
        errors.append(
            f"context {c} has {ctx.edge_layers} edge layers (tensors in or out); "
            f"the limit is {hw.edge_layers_per_context}"
        )
    return errors


def _timing_at_top(ctx: ContextCheck) -> ContextTiming:
    return replace(ctx.fit.timing(ctx.pcie_bytes_per_frame), **_pcie_fields(ctx))


def _pcie_fields(ctx: ContextCheck) -> dict[str, int]:
    return {
        "pcie_bytes_per_frame": ctx.pcie_bytes_per_frame,
        "pcie_rows_per_frame": ctx.pcie_rows_per_frame,
        "pcie_out_bytes_per_frame": ctx.pcie_out_bytes_per_frame,
        "pcie_out_rows_per_frame": ctx.pcie_out_rows_per_frame,
        "pcie_transfers_per_frame": ctx.pcie_transfers_per_frame,
        "pcie_out_transfers_per_frame": ctx.pcie_out_transfers_per_frame,
    }


def _timing_at_claimed(network: Network, hw: HardwareSpec, ctx: ContextCheck) -> ContextTiming:
    rate = float(ctx.claimed_fps or ctx.fit.fps)
    pairs = [(network.layer(n), network.fan_out(n)) for n in ctx.layers]
    costs = price_layers(pairs, hw, rate)
    return ContextTiming(
        compute_fps=rate,
        weight_bytes=sum(cost.weight_bytes for cost in costs),
        config_bytes=sum(cost.config_bytes for cost in costs),
        macs_per_frame=sum(cost.macs for cost in costs),
        **_pcie_fields(ctx),
    )


def _fps_errors(
    claimed: float | None,
    at_top: float,
    at_claimed: float | None,
    tolerance: float,
    batch: int = 1,
    slack_s: float = 0.0,
) -> list[str]:
    """The claim against the cost model; a claim whose ``T(batch)`` is up to ``slack_s`` longer
    than the tolerance allows still matches (the solver's rounding).

    >>> len(_fps_errors(900.0, 1000.0, 1000.0, 0.01, 8))   # T(8) 8.89 ms against 8 ms
    1
    >>> _fps_errors(900.0, 1000.0, 1000.0, 0.01, 8, slack_s=0.001)   # 8.08 ms + 1 ms allowed
    []
    """
    if claimed is None:
        return []
    errors = []
    if at_claimed is not None:
        lowest = batch / (batch / (at_claimed * (1 - tolerance)) + slack_s)
    if at_claimed is not None and (claimed < lowest or claimed > at_claimed * (1 + tolerance)):
        slack = " and the claim's rounding" if slack_s > 0 else ""
        errors.append(
            f"claimed {claimed:.6g} FPS but the cost model gives {at_claimed:.6g} FPS at the "
            f"claimed context rates (tolerance {tolerance:.0%}{slack})"
        )
    best = max(at_top, at_claimed or 0.0)
    if claimed > best * (1 + tolerance):
        errors.append(
            f"claimed {claimed:.6g} FPS but the cost model gives at most {best:.6g} FPS "
            f"(tolerance {tolerance:.0%})"
        )
    return errors


__all__ = [
    "DEFAULT_TOLERANCE",
    "ContextCheck",
    "ValidationReport",
    "check_partition",
    "validate_partition",
]
