"""``ctxfit profile --hw``: per-layer resources at the single-context FPS, and the verdict.

The single-context flow of the compiler (HAILO.md section 2): every layer in one context at the
single-context caps (75%), utilization raised to the highest FPS at which everything fits. Each
layer's row gives its SCs, LCUs, L3 cuts and precision; the table's footer totals them, and the
verdict says the context and the FPS every layer is priced at (or, when one context is not
enough, that every layer is at its lowest demand).
"""

from __future__ import annotations

from rich.text import Text

from cost_model.caps import SINGLE_CONTEXT_CAPS, ResourceCaps
from cost_model.context import ContextFit, FitMargin, context_fit, raised_fps, utilization
from cost_model.hardware import HardwareSpec, load_hardware
from cost_model.lowering import price_layers
from cost_model.resources import COMPILER_LABELS, Resources, format_over
from partitioner.graph import Network
from partitioner.layer_table import rows_from_costs
from partitioner.user_text import visible
from partitioner.validator import validate_partition


def single_context_fit(
    net: Network,
    hw_spec: str,
    caps: ResourceCaps = SINGLE_CONTEXT_CAPS,
    base_caps: ResourceCaps | None = None,
) -> ContextFit:
    """The cost model's fit of the whole network in one context (``base_caps``: see
    :func:`cost_model.context.context_fit`)."""
    hw = load_hardware(hw_spec)
    pairs = [(layer, net.fan_out(layer.name)) for layer in net.layers]
    return context_fit(pairs, hw, caps, base_caps=base_caps)


def verdict_text(
    fit: ContextFit,
    hw: HardwareSpec,
    margin: FitMargin | None = None,
    pcie_fps: float | None = None,
    priced: Resources | None = None,
) -> Text:
    """One or two lines: fits in one context at F FPS (binding resource), or what is over; with
    ``margin``, how close that verdict was (:class:`~cost_model.context.FitMargin`); with
    ``pcie_fps`` (below ``fit.fps``), the context runs at that rate, its PCIe traffic's, using
    ``priced``."""
    u = fit.utilization
    hw_name = visible(hw.name)
    close = "" if margin is None else f"; {margin.text}"
    if fit.fits:
        binding = (
            f"layer {fit.capping_layer!r} at its split limit"
            if fit.binding == "layer"
            else COMPILER_LABELS.get(fit.binding, fit.binding)
        )
        rate = fit.fps
        if pcie_fps is not None and pcie_fps < fit.fps and priced is not None:
            binding = f"PCIe; its compute alone would run at {fit.fps:,.1f} FPS ({binding})"
            rate = pcie_fps
            u = utilization(priced, hw)
        return Text.assemble(
            ("Single context: fits ", "bold green"),
            f"on {hw_name} at {rate:,.1f} FPS (binding: {binding}); "
            f"Control {u.control:.1%}, Compute {u.compute:.1%}, Memory {u.memory:.1%}; "
            f"every layer in context_0, priced at {rate:,.1f} FPS{close}",
        )
    return Text.assemble(
        ("Single context: does not fit ", "bold yellow"),
        f"on {hw_name} at the single-context caps ({format_over(fit.over)}); "
        "every layer priced at its lowest demand (one SC, no rate); "
        f"`ctxfit compile` splits it into contexts{close}",
    )


def price_profile(
    net: Network,
    hw_spec: str,
    caps: ResourceCaps = SINGLE_CONTEXT_CAPS,
    fps_caps: ResourceCaps | None = None,
    base_caps: ResourceCaps | None = None,
) -> tuple[dict[str, list[str]], Text]:
    """Extra profile columns (SCs, LCUs, L3 cuts and precision per layer, in topological
    order) and the verdict, which says the context and the rate every layer is priced at (one
    context: the same for all layers, so not a column).

    One context is decided at ``caps`` and, when it fits, priced at ``fps_caps`` (the flow's
    raised utilization, as ``ctxfit compile`` prices it) if those are given and fit too;
    ``base_caps`` is the flow's rule of one raised class (``Flow.single_base_caps``). When
    the network does not fit, the columns show each layer at its lowest demand.
    """
    fit = single_context_fit(net, hw_spec, caps, base_caps)
    margin = fit.margin  # of the deciding fit, not of the raised caps it is priced at
    if fit.fits and fps_caps is not None and fps_caps != caps:
        raised = single_context_fit(net, hw_spec, fps_caps)
        fit = raised if raised.fits else fit
    hw = load_hardware(hw_spec)
    pcie_fps = None
    by_name = {cost.layer: cost for cost in fit.layer_costs}
    costs = [by_name[layer.name] for layer in net.layers]
    if fit.fits:  # no faster than its PCIe traffic allows, as `ctxfit compile` prices it
        report = validate_partition(
            net, hw, fps_caps or caps, dict.fromkeys(net.topological_order(), 0), batch=1
        )
        pcie_fps = raised_fps(report.timings[0], hw) if report.valid else None
        if pcie_fps is not None and pcie_fps < fit.fps:
            costs = price_layers(
                [(layer, net.fan_out(layer.name)) for layer in net.layers], hw, pcie_fps
            )
    rows = rows_from_costs(net, costs, 0 if fit.fits else None, fps=None if fit.fits else 0.0)
    columns = {
        "SCs": [str(r.resources.subclusters) for r in rows],
        "LCUs": [str(r.resources.lcus) for r in rows],
        "L3 cuts": [str(r.resources.l3_cuts) for r in rows],
        "precision": [r.precision for r in rows],
    }
    priced = sum((r.resources for r in rows), Resources.zeros())
    return columns, verdict_text(fit, hw, margin, pcie_fps, priced)
