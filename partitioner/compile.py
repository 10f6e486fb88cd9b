"""``ctxfit compile``: search, validate, and the figures of the chosen partition.

:func:`compile_network` runs :func:`partitioner.search.search`, passes the chosen partition to
the independent validator (every reported partition passes it, in this code path), and turns the
validated per-context timings into FPS per batch, latency, PCIe traffic, dynamic energy and
power with :mod:`cost_model.throughput` and :mod:`cost_model.power`, with every layer's cost at
its context's rate (:mod:`partitioner.layer_table`) and the calibration's error band
(:mod:`partitioner.error_bands`). :meth:`CompileReport.to_dict` is the stable JSON contract
(``schema`` 1, documented in README.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cost_model.caps import ResourceCaps
from cost_model.context import FitMargin, raised_fps, utilization
from cost_model.hardware import HardwareSpec
from cost_model.power import PowerEstimate, context_running_power_w, partition_power
from cost_model.resources import COMPILER_LABELS, Resources
from cost_model.throughput import (
    ContextTiming,
    energy_per_frame_j,
    fps_at_batch,
    frame_time_s,
    latency_s,
    pcie_time_s,
    switch_time_s,
    time_in_batch_s,
)
from partitioner.error_bands import ErrorBand, VerdictBand, band_for, verdict_band
from partitioner.flows import REQUIRED_FPS_MULTI_LINE, Flow
from partitioner.graph import Network
from partitioner.layer_table import LayerRow, layer_rows
from partitioner.pin_check import check_pinned_contexts
from partitioner.pricing import validate_result
from partitioner.search import Iteration, Log, OnProgress, SearchOptions, SearchResult, search
from partitioner.validator import ContextCheck, ValidationReport, check_partition

JSON_SCHEMA = 1
DEFAULT_BATCHES = (1, 8)


@dataclass(frozen=True, kw_only=True)
class ContextReport:
    """One context of the chosen partition, as validated.

    Attributes:
        index: context number.
        layers: its layers in topological order.
        usage: resources at its rate; ``limits``: the caps multiplied out.
        control, compute, memory: usage over the chip's totals (the profiler's Total row).
        fps: its compute rate; ``frame_ms``: its time per frame (compute or PCIe, the slower).
        switch_ms: its switch cost ``S_c`` (0 for a single context).
        weight_bytes, config_bytes: loaded at each switch.
        boundary_in_bytes, boundary_out_bytes: per frame, from / to host memory (graph inputs
            and outputs included).
        edge_layers: tensors into or out of it.
        binding: what stops its rate rising (resource name, ``layer`` or ``pcie``), or why it
            runs below its highest rate: ``reload`` (one of several contexts kept at the search's
            rate, where a higher one adds more configuration to every switch than it saves in
            frames) or ``target`` (a single context at its required FPS).
        power_w: watts while it runs its frames, static included
            (:func:`cost_model.power.context_running_power_w`).
    """

    index: int
    layers: tuple[str, ...]
    usage: Resources
    limits: Resources
    control: float
    compute: float
    memory: float
    fps: float
    frame_ms: float
    switch_ms: float
    weight_bytes: int
    config_bytes: int
    boundary_in_bytes: int
    boundary_out_bytes: int
    edge_layers: int
    binding: str
    power_w: float = 0.0


@dataclass(frozen=True, kw_only=True)
class CompileReport:
    """Everything ``ctxfit compile`` reports about one model on one part.

    ``energy_mj_per_frame`` is dynamic energy only; ``power`` adds the part's static power
    (:func:`cost_model.power.partition_power`) at each batch. ``layers`` holds every layer at
    its context's rate; ``error_band`` the calibration's |FPS error| for this kind of network
    (``None`` without the band table); ``options`` the search settings used (budget, batch,
    seed, workers); ``input_shapes`` the network's inputs (C, H, W); ``knobs`` what the user
    asked of the model (``width``, ``depth``, ``resolution``, ``input_shape``; ``None`` =
    the model's own).
    """

    model: str
    hardware: HardwareSpec
    caps: ResourceCaps
    search: SearchResult
    flow: Flow | None = None
    validation: ValidationReport
    contexts: tuple[ContextReport, ...]
    timings: tuple[ContextTiming, ...]
    fps: dict[int, float]
    latency_ms: float
    reload_bytes_per_batch: int
    inter_context_bytes_per_frame: int
    energy_mj_per_frame: dict[int, float]
    power: dict[int, PowerEstimate] = field(default_factory=dict)
    layers: tuple[LayerRow, ...] = ()
    error_band: ErrorBand | None = None
    verdict_band: VerdictBand | None = None
    options: SearchOptions | None = None
    input_shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    knobs: dict[str, Any] = field(default_factory=dict)

    @property
    def num_contexts(self) -> int:
        """Contexts in the partition."""
        return len(self.contexts)

    @property
    def single_context(self) -> bool:
        """The network compiled into one context."""
        return self.search.single_context

    @property
    def single_context_margin(self) -> FitMargin | None:
        """How close the one-context-or-several verdict was: the single-context fit's
        :class:`~cost_model.context.FitMargin` at the deciding caps; ``None`` when the
        multi-context flow was forced (context switch enabled, layers pinned to later
        contexts), so that no fit decided."""
        s = self.search
        if self.options is not None:
            forced = self.options.multi_context_forced
        else:
            forced = s.single_fit.fits and not s.single_context
        return None if forced else s.single_fit.margin

    def to_dict(self) -> dict[str, Any]:
        """The JSON contract (schema 1): keys of README.md "JSON output", plus extras."""
        s = self.search
        b = s.batch
        return {
            "schema": JSON_SCHEMA,
            "model": self.model,
            "hardware": self.hardware.name,
            "num_contexts": self.num_contexts,
            "single_context": self.single_context,
            "fps": {str(k): v for k, v in self.fps.items()},
            "latency_ms": self.latency_ms,
            "contexts": [_context_dict(c) for c in self.contexts],
            "pcie": {
                "bandwidth_gbps": self.hardware.link.bytes_per_s / 1e9,
                "link": self.hardware.link.label,
                "compiler_link": self.hardware.deciding().link.label,
                "reload_bytes_per_batch": self.reload_bytes_per_batch,
                "inter_context_bytes_per_frame": self.inter_context_bytes_per_frame,
            },
            "energy_mj_per_frame": self.energy_mj_per_frame[b],
            "energy_mj_per_frame_by_batch": {
                str(k): v for k, v in self.energy_mj_per_frame.items()
            },
            "optimize_for_batch": b,
            "caps": {
                "control": self.caps.control,
                "compute": self.caps.compute,
                "memory": self.caps.memory,
                "apu": self.caps.apu,
                "input_aligner": self.caps.input_aligner,
            },
            "solver": {
                "status": s.status,
                "objective": s.objective_s,
                "bound": s.bound_s,
                "gap": s.gap,
                "bound_contexts": s.bound_contexts,
                "bound_scope": s.bound_scope,
                "stop_reason": s.stop_reason.value,
                "contexts_tried": list(s.contexts_tried),
                "wall_seconds": s.wall_seconds,
                "interrupted": s.interrupted,
                "iterations": [_iteration_dict(it) for it in s.iterations],
            },
            "validated": self.validation.valid,
            "flow": None if self.flow is None else _flow_dict(self.flow),
            **self._details_dict(),
        }

    def _details_dict(self) -> dict[str, Any]:
        """Power, the error band, the settings used and every layer (issue 17)."""
        b = self.search.batch
        return {
            "energy_is": "dynamic (compute + PCIe); static power is in power_w",
            "power_w": {str(k): _power_dict(p) for k, p in self.power.items()},
            "static_power_w": self.hardware.static_power_w,
            "typical_power_w": self.hardware.typical_power_w,
            "error_band": None if self.error_band is None else self.error_band.to_dict(),
            "single_context_margin": _margin_dict(self.single_context_margin, self.verdict_band),
            "fps_band_pct": (
                None
                if self.error_band is None
                else {str(k): self.error_band.median_pct(k) for k in self.fps}
            ),
            "knobs": dict(self.knobs),
            "input_shapes": {k: list(v) for k, v in self.input_shapes.items()},
            "precision": _precision_dict(self.layers),
            "search_budget": None if self.options is None else _options_dict(self.options, b),
            "layers": [row.to_dict() for row in self.layers],
        }


def _margin_dict(m: FitMargin | None, band: VerdictBand | None) -> dict[str, Any] | None:
    if m is None:
        return None
    return {**m.to_dict(), "verdict": None if band is None else band.to_dict(m.share)}


def _power_dict(p: PowerEstimate) -> dict[str, float]:
    return {
        "total": p.total_w,
        "static": p.static_w,
        "dynamic": p.dynamic_w,
        "fps": p.fps,
        "dynamic_mj_per_frame": p.dynamic_mj_per_frame,
    }


def _precision_dict(rows: Sequence[LayerRow]) -> dict[str, Any]:
    """Layers per precision, and the names of those not at a8_w8."""
    counts: dict[str, int] = {}
    others: dict[str, list[str]] = {}
    for row in rows:
        counts[row.precision] = counts.get(row.precision, 0) + 1
        if row.precision != "a8_w8":
            others.setdefault(row.precision, []).append(row.name)
    return {"layers_by_precision": counts, "layers_not_a8_w8": others}


def _options_dict(o: SearchOptions, batch: int) -> dict[str, Any]:
    return {
        "timeout_s": o.timeout_s,
        "iteration_timeout_s": o.iteration_timeout_s,
        "optimize_for_batch": batch,
        "seed": o.seed,
        "workers": o.workers,
        "context_switch": o.context_switch,
        "min_contexts": o.min_contexts,
        "max_contexts": o.max_contexts,
        "pinned_layers": len(o.pins),
    }


def _flow_dict(flow: Flow) -> dict[str, Any]:
    def caps(c: ResourceCaps) -> dict[str, float]:
        return {"control": c.control, "compute": c.compute, "memory": c.memory,
                "apu": c.apu, "input_aligner": c.input_aligner}  # fmt: skip

    return {
        "name": flow.name,
        "compiler_optimization_level": flow.level,
        "single_context_caps": caps(flow.single_caps),
        "single_context_fps_caps": caps(flow.single_fps_caps),
        "multi_context_caps": caps(flow.multi_caps),
        "multi_context_fps_caps": caps(flow.multi_fps_caps),
        "explicit_caps": list(flow.explicit),
        "required_fps": flow.target_fps,
        "context_switch": flow.context_switch,
        "compression_fraction": flow.compression_fraction,
    }


def _context_dict(c: ContextReport) -> dict[str, Any]:
    return {
        "index": c.index,
        "layers": list(c.layers),
        "lcus": c.usage.lcus,
        "subclusters": c.usage.subclusters,
        "l3_cuts": c.usage.l3_cuts,
        "apus": c.usage.apus,
        "input_aligners": c.usage.input_aligners,
        "limits": c.limits.as_dict(),
        "utilization": {"control": c.control, "compute": c.compute, "memory": c.memory},
        "fps": c.fps,
        "frame_ms": c.frame_ms,
        "switch_ms": c.switch_ms,
        "weight_bytes": c.weight_bytes,
        "config_bytes": c.config_bytes,
        "boundary_in_bytes": c.boundary_in_bytes,
        "boundary_out_bytes": c.boundary_out_bytes,
        "edge_layers": c.edge_layers,
        "binding": c.binding,
        "power_w_running": c.power_w,
    }


def _iteration_dict(it: Iteration) -> dict[str, Any]:
    return {
        "index": it.index,
        "contexts": it.num_contexts,
        "outcome": it.outcome,
        "message": it.message,
        "fps": it.fps,
        "best_fps": it.best_fps,
        "contexts_used": it.contexts_used,
        "bound": it.bound_s,
        "wall_seconds": it.wall_seconds,
    }


def compile_network(
    net: Network,
    hw: HardwareSpec,
    options: SearchOptions,
    *,
    batches: Sequence[int] = DEFAULT_BATCHES,
    log: Log = lambda _: None,
    progress: OnProgress | None = None,
    flow: Flow | None = None,
    zoo_name: str | None = None,
    knobs: Mapping[str, Any] | None = None,
) -> CompileReport:
    """Search, validate and price the chosen partition.

    ``zoo_name`` picks the error band of the network's task family (other models get the band
    over all rows); ``knobs`` is recorded in the report as given.

    With a ``flow`` (:func:`partitioner.flows.resolve_flow`), a single context that fits is
    priced at the flow's raised caps (or at its required FPS), and the contexts of a
    multi-context answer at the flow's multi-context FPS caps; without one, at the caps of the
    search.

    Raises:
        InfeasiblePartitionError: from the search (see :func:`partitioner.search.search`), or
            when the validator rejects the chosen partition (a bug, reported with numbers).
    """
    check_pinned_contexts(net, hw, options)  # a pinned context over a cap fails at once
    deciding = hw.deciding()
    if deciding is not hw:
        log(
            f"Partition decided at the compiler's link ({deciding.link.label}); "
            f"FPS priced on the host link ({hw.link.label})"
        )
    found = search(net, deciding, options, log=log, progress=progress)
    if found.single_context:
        caps = options.single_caps
        report = check_partition(
            net,
            deciding,
            caps,
            found.assignment,
            batch=found.batch,
            claimed_fps=found.batch / found.objective_s,
        )
        if deciding is not hw:
            report = check_partition(net, hw, caps, found.assignment, batch=found.batch)
        if flow is not None:
            caps, report = _single_context_pricing(net, hw, found, flow, report, log)
    else:
        assert found.problem is not None and found.result is not None
        caps = options.multi_caps
        report = validate_result(net, deciding, caps, found.problem, found.result)
        if flow is not None and flow.target_fps is not None:
            log(REQUIRED_FPS_MULTI_LINE)
        if flow is not None and flow.multi_fps_caps != caps:
            log("Raising each context's utilization for FPS (multi-context flow)")
            caps = flow.multi_fps_caps
        if deciding is not hw or caps != options.multi_caps:
            report = check_partition(net, hw, caps, found.assignment, batch=found.batch)
    report = _priced_for_fps(net, hw, caps, found, report)
    timings = report.timings
    contexts = tuple(
        _context_report(check, timing, hw, caps, multi=len(timings) > 1)
        for check, timing in zip(report.contexts, timings, strict=True)
    )
    all_batches = sorted({*batches, found.batch})
    inter = sum(c.boundary_out_bytes for c in contexts) - _graph_output_bytes(net)
    rates = [(c.index, c.layers, t.compute_fps) for c, t in zip(contexts, timings, strict=True)]
    rows = layer_rows(net, hw, rates)
    return CompileReport(
        model=net.name,
        hardware=hw,
        caps=caps,
        search=found,
        flow=flow,
        validation=report,
        contexts=contexts,
        timings=timings,
        fps={b: fps_at_batch(timings, b, hw) for b in all_batches},
        latency_ms=latency_s(timings, hw) * 1e3,
        reload_bytes_per_batch=(
            0 if len(timings) == 1 else sum(t.weight_bytes + t.config_bytes for t in timings)
        ),
        inter_context_bytes_per_frame=inter,
        energy_mj_per_frame={b: energy_per_frame_j(timings, b, hw) * 1e3 for b in all_batches},
        power={b: partition_power(timings, b, hw) for b in all_batches},
        layers=rows,
        error_band=band_for(zoo_name),
        verdict_band=verdict_band(),
        options=options,
        input_shapes=dict(net.inputs),
        knobs=dict(knobs or {}),
    )


def _priced_for_fps(
    net: Network,
    hw: HardwareSpec,
    caps: ResourceCaps,
    found: SearchResult,
    report: ValidationReport,
) -> ValidationReport:
    """``report`` with each context at the rate that serves FPS (utilization is raised for FPS):
    its highest rate within ``caps`` but no faster than its PCIe traffic allows
    (:func:`cost_model.context.raised_fps`: a rate past it adds nodes, never frames); with several
    contexts, the search's own rate for the context instead where that adds less to ``T(B)`` at
    the batch the search optimised (:func:`cost_model.throughput.time_in_batch_s`: a higher rate
    has more nodes, whose configuration every switch reloads). So the answer is never slower at
    that batch than the partition the search chose, and a single context's FPS is its frame
    time's as before."""
    priced = {tuple(t.compute_fps for t in report.timings): report}

    def at(rates: list[float]) -> ValidationReport:  # each set of rates validated once
        key = tuple(rates)
        if key not in priced:
            priced[key] = check_partition(
                net, hw, caps, found.assignment, batch=found.batch, context_fps=rates
            )
        return priced[key]

    rates = [raised_fps(t, hw) for t in report.timings]
    if not found.single_context and found.problem is not None and found.result is not None:
        levels = found.problem.levels_fps
        searched = [float(levels[lv]) for lv in found.result.partition.level_of]
        pairs = zip(at(rates).timings, at(searched).timings, strict=True)
        rates = [
            a.compute_fps
            if time_in_batch_s(a, found.batch, hw) <= time_in_batch_s(b, found.batch, hw)
            else b.compute_fps
            for a, b in pairs
        ]
    return at(rates)


def _single_context_pricing(
    net: Network,
    hw: HardwareSpec,
    found: SearchResult,
    flow: Flow,
    report: ValidationReport,
    log: Log,
) -> tuple[ResourceCaps, ValidationReport]:
    """A fitting single context at the flow's raised utilization, or at its required FPS."""
    caps = flow.single_fps_caps
    if caps != flow.single_caps:
        log("Model fits in single context, but tries to increase utilization")
        report = check_partition(net, hw, caps, found.assignment, batch=found.batch)
        log("Applying higher utilization solution")
    if flow.target_fps is None:
        return caps, report
    top = report.contexts[0].fit
    if flow.target_fps > top.fps:
        where = (
            repr(top.capping_layer)
            if top.capping_layer
            else f"every layer ({COMPILER_LABELS.get(top.binding, top.binding)} at the cap)"
        )
        log(
            f"Failed to reach required FPS on the following layers: {where} "
            f"({top.fps:,.1f} < {flow.target_fps:g} FPS); answering the highest rate"
        )
        return caps, report
    log(f"Resources optimization guidelines: Objective -> REQUIRED_FPS ({flow.target_fps:g})")
    at_target = check_partition(
        net, hw, caps, found.assignment, batch=found.batch, context_fps=[flow.target_fps]
    )
    return caps, at_target


def _graph_output_bytes(net: Network) -> int:
    return sum(net.tensor_bytes(o) for o in set(net.outputs))


def _context_report(
    check: ContextCheck, timing: ContextTiming, hw: HardwareSpec, caps: ResourceCaps, *, multi: bool
) -> ContextReport:
    usage = check.usage_at_claimed or check.fit.usage
    u = utilization(usage, hw)
    frame = frame_time_s(timing, hw)
    binding = check.fit.binding
    if pcie_time_s(timing, hw) * timing.compute_fps >= 1.0 - 1e-9:
        binding = "pcie"  # as slow as its compute (capped there) or slower
    elif timing.compute_fps < check.fit.fps * (1 - 1e-9):
        binding = "reload" if multi else "target"  # kept below its highest rate
    out_bytes = check.pcie_out_bytes_per_frame
    return ContextReport(
        index=check.index,
        layers=check.layers,
        usage=usage,
        limits=check.fit.limits,
        control=u.control,
        compute=u.compute,
        memory=u.memory,
        fps=timing.compute_fps,
        frame_ms=frame * 1e3,
        switch_ms=switch_time_s(timing, hw) * 1e3 if multi else 0.0,
        weight_bytes=timing.weight_bytes,
        config_bytes=timing.config_bytes,
        boundary_in_bytes=check.pcie_bytes_per_frame - out_bytes,
        boundary_out_bytes=out_bytes,
        edge_layers=check.edge_layers,
        binding=binding,
        power_w=context_running_power_w(timing, hw),
    )


__all__ = [
    "DEFAULT_BATCHES",
    "JSON_SCHEMA",
    "CompileReport",
    "ContextReport",
    "compile_network",
]
