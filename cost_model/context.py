"""One context: the highest rate at which its layers fit under the caps.

This is the compiler's "increase utilization" step: every layer is lowered at a common rate F
(:mod:`cost_model.lowering`) and F is raised until a resource total would pass its cap limit or a
layer can split no further. Demands are non-decreasing step functions of F that change only
where some layer's SC count rises, so the answer is found exactly by walking those steps: the
returned ``fps`` fits, and any higher rate does not.

>>> from cost_model.caps import SINGLE_CONTEXT_CAPS
>>> from cost_model.hardware import preset
>>> from cost_model.layer import Layer, OpKind
>>> conv = Layer(name="conv", op=OpKind.CONV, inputs=("x",), input_shapes=((64, 56, 56),),
...              output_shape=(64, 56, 56), kernel=(3, 3), params=36928, macs=115_605_504)
>>> from cost_model.lowering import max_layer_fps
>>> fit = context_fit([(conv, 1)], preset("hailo8"), SINGLE_CONTEXT_CAPS)
>>> fit.fits, fit.binding, fit.capping_layer, fit.fps == max_layer_fps(conv, preset("hailo8"))
(True, 'layer', 'conv', True)
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from cost_model.caps import (
    CONTROL_CLASS,
    MEMORY_CLASS,
    ResourceCaps,
    limits,
    over_both_classes,
)
from cost_model.errors import PricingError
from cost_model.hardware import HardwareSpec
from cost_model.layer import Layer
from cost_model.lowering import (
    LayerCost,
    demand_from_sc,
    price_layers,
    profile_layer,
    sc_step_fps,
)
from cost_model.resources import (
    COMPILER_LABELS,
    EDGE_LAYERS,
    RESOURCE_NAMES,
    Resources,
    format_over,
)
from cost_model.throughput import ContextTiming, pcie_time_s


@dataclass(frozen=True, kw_only=True)
class Utilization:
    """Fractions of the whole chip's totals in use (the profiler's "Total" row)."""

    control: float
    compute: float
    memory: float
    apu: float = 0.0
    input_aligner: float = 0.0


@dataclass(frozen=True, kw_only=True)
class ClusterUtilization:
    """One cluster's share of the usage (the profiler's ``cluster_N`` rows)."""

    cluster: str
    lcus: int
    subclusters: int
    l3_cuts: int
    control: float
    compute: float
    memory: float


@dataclass(frozen=True, kw_only=True)
class FitMargin:
    """How close one context's lowest demand (every layer at one SC) is to the limit that decides
    whether it fits at all: the single-context verdict's distance from going the other way.

    Attributes:
        share: the deciding ``used / limit``: at most 1 when it fits (0.93: 7% of headroom), above
            1 when it does not (1.14: 14% over).
        resource: the deciding limit: a name of ``RESOURCE_NAMES`` or ``EDGE_LAYERS``.
        used, limit: its units at the lowest demand and its limit.
        base: the limit is the rule of one raised class's ``base_caps`` limit (the network passes
            it on the other class too, or would with this one over).
    """

    share: float
    resource: str
    used: int
    limit: int
    base: bool = False

    @property
    def label(self) -> str:
        """``LCUs 66/71`` (the compiler's names)."""
        return f"{COMPILER_LABELS.get(self.resource, self.resource)} {self.used}/{self.limit}"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FitMargin:
        """Inverse of :meth:`to_dict` (a saved compile result or sweep record).

        Raises:
            KeyError, TypeError, ValueError: a key missing or a value of the wrong kind.
        """
        return cls(
            share=float(data["share"]),
            resource=str(data["resource"]),
            used=int(data["used"]),
            limit=int(data["limit"]),
            base=bool(data.get("base_caps", False)),
        )

    def to_dict(self) -> dict[str, float | int | str | bool]:
        """The JSON form (``share``, ``resource``, ``used``, ``limit``, ``base_caps``)."""
        return {
            "share": self.share,
            "resource": self.resource,
            "used": self.used,
            "limit": self.limit,
            "base_caps": self.base,
        }

    @property
    def text(self) -> str:
        """``lowest demand LCUs 66/71 (93% of the limit)``, saying when the limit is the rule
        of one raised class's."""
        rule = " of the single-context caps (nodes or L3 may pass them, not both)"
        return (
            f"lowest demand {self.label}{rule if self.base else ''} "
            f"({share_text(self.share)} of the limit)"
        )


def share_text(share: float) -> str:
    """A share of a limit in whole percent, but never rounded onto or across 100%: a context
    that fits at 99.7% must not read as 100% (at the limit) or one over it as 100%.

    >>> share_text(0.93), share_text(0.9968), share_text(1.0), share_text(1.004), share_text(1.14)
    ('93%', '99.7%', '100%', '100.4%', '114%')
    """
    if share != 1.0 and round(100 * share) == 100:
        return f"{share:.1%}"
    return f"{share:.0%}"


def fit_margin(
    totals: Sequence[int],
    edges: int,
    limit: Resources,
    edge_limit: int,
    base: Resources | None = None,
) -> FitMargin:
    """The :class:`FitMargin` of a lowest demand ``totals`` (``RESOURCE_NAMES`` order) with
    ``edges`` edge layers against ``limit``; with ``base`` (the rule of one raised class) the
    class that would have to come under ``base`` counts too: the lower of the two classes'
    shares of ``base``, when it is the highest share of all.

    >>> lim = Resources(lcus=71, subclusters=192, l3_cuts=472, apus=88, input_aligners=141)
    >>> m = fit_margin((66, 40, 200, 66, 66), 3, lim, 20)
    >>> m.resource, m.label, round(m.share, 3)
    ('lcus', 'LCUs 66/71', 0.93)
    >>> base = Resources(lcus=48, subclusters=192, l3_cuts=384, apus=60, input_aligners=96)
    >>> m = fit_margin((66, 40, 400, 66, 66), 3, lim, 20, base)  # both classes over base
    >>> m.resource, m.label, round(m.share, 3), m.base
    ('l3_cuts', 'L3 cuts 400/384', 1.042, True)
    """
    shares = [
        (u / max(cap, 1), name, u, cap, False)
        for name, u, cap in zip(RESOURCE_NAMES, totals, limit.as_tuple(), strict=True)
    ]
    shares.append((edges / max(edge_limit, 1), EDGE_LAYERS, edges, edge_limit, False))
    if base is not None:
        used = dict(zip(RESOURCE_NAMES, totals, strict=True))
        by_class = [
            max(
                (used[n] / max(getattr(base, n), 1), n, used[n], getattr(base, n), True)
                for n in names
            )
            for names in (CONTROL_CLASS, MEMORY_CLASS)
        ]
        shares.append(min(by_class))
    share, resource, u, cap, on_base = max(shares, key=lambda item: item[0])
    return FitMargin(share=share, resource=resource, used=u, limit=cap, base=on_base)


@dataclass(frozen=True, kw_only=True)
class ContextFit:
    """The highest rate at which one context's layers fit.

    Attributes:
        fps: highest F that fits (0.0 when even the lowest demand does not fit).
        fits: whether the layers fit at all.
        binding: what stops F rising: a resource name from ``RESOURCE_NAMES``, or ``"layer"``
            when a layer's own split limit does (``capping_layer`` names it).
        capping_layer: the layer whose ``max_layer_fps`` is ``fps``, when ``binding == "layer"``.
        usage: resources used at ``fps`` (at the lowest demand when it does not fit).
        limits: the cap limits, ``ceil(u x total)``.
        utilization: usage over the chip's totals.
        per_cluster: the usage spread evenly over the clusters.
        over: ``(resource, used, limit)`` for each resource over its limit when it does not fit.
        layer_costs: every layer lowered at ``fps`` (at the lowest demand when it does not fit).
        weight_bytes, config_bytes, macs: totals of the layers, for :class:`ContextTiming`.
        both_classes: it does not fit by the rule of one raised class alone (``base_caps`` of
            :func:`context_fit`): within the caps, over ``base_caps`` on nodes and on memory;
            bringing either class under ``base_caps`` would let it fit.
        margin: how close the lowest demand is to deciding the other way (:class:`FitMargin`).
    """

    fps: float
    fits: bool
    binding: str
    capping_layer: str | None
    usage: Resources
    limits: Resources
    utilization: Utilization
    per_cluster: tuple[ClusterUtilization, ...]
    over: list[tuple[str, int, int]] = field(default_factory=list)
    layer_costs: tuple[LayerCost, ...] = ()
    weight_bytes: int = 0
    config_bytes: int = 0
    macs: int = 0
    both_classes: bool = False
    margin: FitMargin | None = None

    def timing(
        self,
        pcie_bytes_per_frame: int,
        pcie_rows_per_frame: int = 0,
        *,
        pcie_out_bytes_per_frame: int = 0,
        pcie_out_rows_per_frame: int = 0,
        pcie_transfers_per_frame: int = 0,
        pcie_out_transfers_per_frame: int = 0,
    ) -> ContextTiming:
        """The context's :class:`ContextTiming`, given its PCIe traffic per frame (totals, and
        optionally their device-to-host part; see :class:`ContextTiming`).

        Raises:
            PricingError: the context does not fit (it has no rate).
        """
        if not self.fits:
            raise PricingError(
                f"the context does not fit ({format_over(self.over)}); it has no frame rate"
            )
        return ContextTiming(
            compute_fps=self.fps,
            weight_bytes=self.weight_bytes,
            config_bytes=self.config_bytes,
            pcie_bytes_per_frame=pcie_bytes_per_frame,
            macs_per_frame=self.macs,
            pcie_rows_per_frame=pcie_rows_per_frame,
            pcie_out_bytes_per_frame=pcie_out_bytes_per_frame,
            pcie_out_rows_per_frame=pcie_out_rows_per_frame,
            pcie_transfers_per_frame=pcie_transfers_per_frame,
            pcie_out_transfers_per_frame=pcie_out_transfers_per_frame,
        )


def _fits(totals: Sequence[int], limit: Sequence[int]) -> bool:
    return all(t <= cap for t, cap in zip(totals, limit, strict=True))


def context_fit(
    layers: Sequence[tuple[Layer, int]],
    hw: HardwareSpec,
    caps: ResourceCaps,
    *,
    base_caps: ResourceCaps | None = None,
) -> ContextFit:
    """Highest common rate at which ``layers`` (``(layer, fan_out)`` pairs) fit in one context.

    Exact: every layer starts at one SC; F then walks up the steps ``sc x clock / W`` where a
    layer's SC count rises, and stops at the first step whose demands pass a limit (that
    resource binds) or at the lowest ``max_layer_fps`` (the layer binds). At most one step per
    SC the context can hold, each O(log n).

    The context also needs at most ``hw.edge_layers_per_context`` edge layers
    (:func:`edge_layers`); with more it does not fit at any rate, and ``over`` ends with
    ``("edge_layers", count, limit)``.

    With ``base_caps`` (the single-context flow's rule of one raised class), the lowest demand
    may pass ``base_caps`` on the control class or on memory but not on both
    (:func:`~cost_model.caps.over_both_classes`); when it passes both, the context does not fit
    and ``over`` and ``limits`` are those of ``base_caps``.

    Raises:
        PricingError: no layers, or a layer that cannot be priced.
    """
    if len(layers) == 0:
        raise PricingError("a context needs at least one layer")
    profiles = [profile_layer(layer, hw, fan_out) for layer, fan_out in layers]
    limit = limits(caps, hw).as_tuple()
    cap_index = min(range(len(profiles)), key=lambda i: profiles[i].max_fps)
    f_cap = profiles[cap_index].max_fps

    sc = [1] * len(profiles)
    demand = [demand_from_sc(p, hw, 1)[4:] for p in profiles]
    totals = [sum(col) for col in zip(*demand, strict=True)]
    edges = edge_layers(layers)
    base = None if base_caps is None else limits(base_caps, hw)
    margin = fit_margin(
        totals, edges, Resources.from_tuple(limit), hw.edge_layers_per_context, base
    )
    if not _fits(totals, limit) or edges > hw.edge_layers_per_context:
        return _result(
            layers, hw, caps, 0.0, fits=False, binding="", capping=None, edges=edges, margin=margin
        )
    if base is not None:
        both = over_both_classes(Resources.from_tuple(totals), base)
        if both:
            return _result(
                layers, hw, base_caps, 0.0, fits=False, binding="", capping=None, over=both,
                margin=margin, both_classes=True,
            )  # fmt: skip
    steps = [(sc_step_fps(p, hw, 1), i) for i, p in enumerate(profiles)]
    heapq.heapify(steps)
    while True:
        f_next = steps[0][0]
        if f_next >= f_cap:
            capping = profiles[cap_index].name
            return _result(
                layers, hw, caps, f_cap, fits=True, binding="layer", capping=capping, margin=margin
            )
        raised = list(totals)
        while steps and steps[0][0] == f_next:  # every layer whose SC count rises past f_next
            _, i = heapq.heappop(steps)
            sc[i] += 1
            new = demand_from_sc(profiles[i], hw, sc[i])[4:]
            raised = [t + a - b for t, a, b in zip(raised, new, demand[i], strict=True)]
            demand[i] = new
            heapq.heappush(steps, (sc_step_fps(profiles[i], hw, sc[i]), i))
        if not _fits(raised, limit):
            binding = _binding(raised, limit)
            return _result(
                layers, hw, caps, f_next, fits=True, binding=binding, capping=None, margin=margin
            )
        totals = raised


def raised_fps(timing: ContextTiming, hw: HardwareSpec) -> float:
    """The rate a context runs at when its utilization is raised for FPS (:func:`raised_timing`):
    its compute rate, capped at the rate its PCIe traffic allows.

    >>> from cost_model.hardware import preset
    >>> hw = preset("hailo8")   # PCIe Gen3 x4 at 90%: 3,544,615,385 bytes/s
    >>> t = ContextTiming(compute_fps=5000.0, weight_bytes=0, config_bytes=0,
    ...                   pcie_bytes_per_frame=3_544_615)   # 1 ms of PCIe a frame
    >>> round(raised_fps(t, hw), 1), raised_fps(replace(t, compute_fps=500.0), hw)
    (1000.0, 500.0)
    """
    pcie_s = pcie_time_s(timing, hw)
    return timing.compute_fps if pcie_s * timing.compute_fps <= 1.0 else 1.0 / pcie_s


def raised_timing(
    layers: Sequence[tuple[Layer, int]], hw: HardwareSpec, fit: ContextFit, **pcie: int
) -> ContextTiming:
    """A fitting context's timing once its utilization is raised for FPS: at ``fit.fps``, its
    highest rate within the caps, unless its PCIe traffic (``pcie``: :meth:`ContextFit.timing`'s
    arguments) is slower; then at the PCIe rate ``1 / pcie time``. Past that rate more
    subclusters add nodes, whose configuration is reloaded at every context switch, and no
    frames: the frame time is the PCIe time either way.

    >>> from cost_model.caps import SINGLE_CONTEXT_CAPS
    >>> from cost_model.hardware import PcieLink, preset
    >>> link = PcieLink(generation=3, lanes=4, measured_bytes_per_s=1e9)
    >>> hw = preset("hailo8").with_params(link=link)
    >>> from cost_model.layer import OpKind
    >>> conv = Layer(name="conv", op=OpKind.CONV, inputs=("x",), input_shapes=((64, 56, 56),),
    ...              output_shape=(64, 56, 56), kernel=(3, 3), params=36928, macs=115_605_504)
    >>> fit = context_fit([(conv, 1)], hw, SINGLE_CONTEXT_CAPS)
    >>> raised_timing([(conv, 1)], hw, fit, pcie_bytes_per_frame=0).compute_fps == fit.fps
    True
    >>> raised_timing([(conv, 1)], hw, fit, pcie_bytes_per_frame=1_000_000).compute_fps  # 1 ms
    1000.0
    """
    timing = fit.timing(**pcie)
    rate = raised_fps(timing, hw)
    if rate >= timing.compute_fps:
        return timing
    costs = price_layers(layers, hw, rate)
    return replace(
        timing,
        compute_fps=rate,
        weight_bytes=sum(c.weight_bytes for c in costs),
        config_bytes=sum(c.config_bytes for c in costs),
        macs_per_frame=sum(c.macs for c in costs),
    )


def edge_layers(layers: Sequence[tuple[Layer, int]]) -> int:
    """Tensors that cross the boundary of a context holding ``layers`` (``(layer, fan_out)``
    pairs, ``fan_out`` as :meth:`Network.fan_out <partitioner.graph.Network.fan_out>` counts it:
    reader layers, plus 1 for a graph output).

    A tensor crosses into the context when a layer reads it and no layer of the context makes it
    (graph inputs, tensors of earlier contexts); out of it when a layer of the context makes it
    and it has more readers than the context's layers (a later context, or the host as a graph
    output). hailort allows ``edge_layers_per_context`` (20) of them per context.

    >>> from cost_model.layer import Layer, OpKind
    >>> def conv(name, src):
    ...     return Layer(name=name, op=OpKind.CONV, inputs=(src,), input_shapes=((8, 4, 4),),
    ...                  output_shape=(8, 4, 4), kernel=(1, 1), params=72, macs=1024)
    >>> stem, heads = conv("stem", "x"), [conv(f"h{i}", "stem") for i in range(3)]
    >>> edge_layers([(stem, 3)] + [(h, 1) for h in heads])   # x in, three outputs
    4
    >>> edge_layers([(stem, 3)] + [(h, 1) for h in heads[:1]])   # x in; stem and h0 out
    3
    """
    made = {layer.name for layer, _ in layers}
    into = {t for layer, _ in layers for t in layer.inputs if t not in made}
    readers_inside: dict[str, int] = dict.fromkeys(made, 0)
    for layer, _ in layers:
        for tensor in set(layer.inputs) & made:
            readers_inside[tensor] += 1
    out_of = sum(1 for layer, fan_out in layers if fan_out > readers_inside[layer.name])
    return len(into) + out_of


def _binding(totals: Sequence[int], limit: Sequence[int]) -> str:
    """The resource furthest over its limit (first in ``RESOURCE_NAMES`` order on a tie)."""
    ratios = [t / max(cap, 1) if t > cap else -1.0 for t, cap in zip(totals, limit, strict=True)]
    return RESOURCE_NAMES[ratios.index(max(ratios))]


def _result(
    layers: Sequence[tuple[Layer, int]],
    hw: HardwareSpec,
    caps: ResourceCaps,
    fps: float,
    *,
    fits: bool,
    binding: str,
    capping: str | None,
    edges: int = 0,
    over: list[tuple[str, int, int]] | None = None,
    margin: FitMargin | None = None,
    both_classes: bool = False,
) -> ContextFit:
    limit = limits(caps, hw)
    # At the lowest demand when nothing fits (every layer at one SC; price_layers needs F > 0).
    rate = fps if fps > 0 else min(profile_layer(x, hw, f).max_fps for x, f in layers) * 1e-12
    costs = tuple(price_layers(layers, hw, rate))
    usage = sum((c.resources for c in costs), Resources.zeros())
    if over is None:
        over = usage.over(limit) if not fits else []
    if not fits and edges > hw.edge_layers_per_context:
        over.append((EDGE_LAYERS, edges, hw.edge_layers_per_context))
    if not fits:
        binding = over[0][0] if over else ""
    return ContextFit(
        fps=float(fps),
        fits=fits,
        binding=binding,
        capping_layer=capping,
        usage=usage,
        limits=limit,
        utilization=utilization(usage, hw),
        per_cluster=per_cluster(usage, hw),
        over=over,
        layer_costs=costs,
        weight_bytes=sum(c.weight_bytes for c in costs),
        config_bytes=sum(c.config_bytes for c in costs),
        macs=sum(c.macs for c in costs),
        both_classes=both_classes,
        margin=margin,
    )


def utilization(usage: Resources, hw: HardwareSpec) -> Utilization:
    """Usage over the chip's totals.

    >>> from cost_model.hardware import preset
    >>> utilization(Resources(lcus=64, subclusters=128, l3_cuts=256), preset("hailo8")).control
    0.5
    """
    return Utilization(
        control=usage.lcus / hw.lcus_total,
        compute=usage.subclusters / hw.subclusters_total,
        memory=usage.l3_cuts / hw.l3_cuts_total,
        apu=usage.apus / hw.apus_total,
        input_aligner=usage.input_aligners / hw.input_aligners_total,
    )


def _spread(units: int, clusters: int) -> list[int]:
    base, extra = divmod(units, clusters)
    return [base + (1 if i < extra else 0) for i in range(clusters)]


def per_cluster(usage: Resources, hw: HardwareSpec) -> tuple[ClusterUtilization, ...]:
    """The usage spread evenly over the clusters: the first clusters take one unit more when
    a total does not divide (the compiler packs unevenly; its spread is not published).

    >>> from cost_model.hardware import preset
    >>> rows = per_cluster(Resources(lcus=9, subclusters=40, l3_cuts=64), preset("hailo8l"))
    >>> [(r.cluster, r.lcus, r.control) for r in rows]
    [('cluster_0', 3, 0.1875), ('cluster_1', 2, 0.125), ('cluster_4', 2, 0.125),
     ('cluster_5', 2, 0.125)]
    """
    k = hw.clusters
    lcus = _spread(usage.lcus, k)
    scs = _spread(usage.subclusters, k)
    cuts = _spread(usage.l3_cuts, k)
    return tuple(
        ClusterUtilization(
            cluster=f"cluster_{cid}",
            lcus=lcus[i],
            subclusters=scs[i],
            l3_cuts=cuts[i],
            control=lcus[i] / (hw.lcus_total / k),
            compute=scs[i] / (hw.subclusters_total / k),
            memory=cuts[i] / (hw.l3_cuts_total / k),
        )
        for i, cid in enumerate(hw.cluster_ids)
    )


def standalone_failure(fit: ContextFit) -> str | None:
    """The compiler-style failure when context switching is disabled and ``fit`` does not fit;
    ``None`` when it fits. The caller raises it (``InfeasiblePartitionError``).

    >>> from cost_model.caps import SINGLE_CONTEXT_CAPS
    >>> from cost_model.hardware import preset
    >>> from cost_model.layer import Layer, OpKind
    >>> big = Layer(name="fc", op=OpKind.DENSE, inputs=("x",), input_shapes=((4096,),),
    ...             output_shape=(4096,), params=16_781_312, macs=16_777_216)
    >>> hw = preset("hailo8").with_params(l3_cut_bytes=16384)
    >>> print(standalone_failure(context_fit([(big, 1)], hw, SINGLE_CONTEXT_CAPS)))
    Context switch is disabled, but model could not fit in single context:
    LCUs: 1/96, SCs: 1/384, L3 cuts: 1026/768, APUs: 1/120, IAs: 1/192 (over: L3 cuts);
    allow context switching or raise the caps
    """
    if fit.fits:
        return None
    parts = ", ".join(
        f"{COMPILER_LABELS[name]}: {used}/{lim}"
        for name, used, lim in zip(
            RESOURCE_NAMES, fit.usage.as_tuple(), fit.limits.as_tuple(), strict=True
        )
    )
    parts += "".join(
        f", {COMPILER_LABELS[name]}: {used}/{lim}"
        for name, used, lim in fit.over
        if name == EDGE_LAYERS
    )
    names = ", ".join(COMPILER_LABELS[name] for name, _, _ in fit.over)
    only_edges = all(name == EDGE_LAYERS for name, _, _ in fit.over)
    fix = "allow context switching" + ("" if only_edges else " or raise the caps")
    return (
        "Context switch is disabled, but model could not fit in single context: "
        f"{parts} (over: {names}); {fix}"
    )
