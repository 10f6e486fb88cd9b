"""Renderables for the terminal: functions build rich objects, printing happens in the CLI.

Numbers carry units; names follow the compiler's vocabulary (context, LCU, subcluster, cut).
Names and paths from the user go through :func:`partitioner.user_text.text` (never markup).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.table import Table

from cost_model.hardware import rate_text
from partitioner.graph import Network
from partitioner.html_labels import binding_label
from partitioner.search_types import gap_text
from partitioner.user_text import text


def fmt_count(n: float) -> str:
    """Human count: ``25.6M``, ``3.49G``, ``812``.

    >>> fmt_count(25_557_032), fmt_count(3_490_000_000), fmt_count(812)
    ('25.56M', '3.49G', '812')
    """
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= scale:
            return f"{n / scale:.2f}{suffix}"
    return f"{n:g}"


def fmt_bytes(n: float) -> str:
    """Binary byte size: ``1.50 MiB``.

    >>> fmt_bytes(1572864), fmt_bytes(512)
    ('1.50 MiB', '512 B')
    """
    for scale, suffix in ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if abs(n) >= scale:
            return f"{n / scale:.2f} {suffix}"
    return f"{int(n)} B"


def fmt_shape(shape: Sequence[int]) -> str:
    """``(64, 56, 56)`` as ``64x56x56``."""
    return "x".join(str(d) for d in shape)


def source_family(entry: Any) -> str:
    """Where a zoo network's architecture comes from: the entry's, else its Model Zoo row's
    ``source_family`` (``-`` when neither says)."""
    from partitioner.zoo_scripts import zoo_row

    if entry.source_family:
        return entry.source_family
    row = zoo_row(entry.name, "hailo8")
    if row is not None and row.source_family:
        return row.source_family
    return "ultralytics" if entry.family == "yolo11" else "-"


def zoo_table(entries: Sequence[Any]) -> Table:
    """The ``ctxfit zoo`` listing: name, task, source family, default input, published params
    and GMACs, knobs and aliases."""
    table = Table(title="ctxfit reference zoo", title_justify="left")
    table.add_column("model")
    table.add_column("task")
    table.add_column("source")
    table.add_column("input (CxHxW)")
    table.add_column("params", justify="right")
    table.add_column("GMACs", justify="right")
    table.add_column("knobs")
    table.add_column("aliases")
    for e in entries:
        table.add_row(
            e.name,
            e.task,
            source_family(e),
            fmt_shape(e.input_chw),
            fmt_count(e.published_params) if e.published_params else "-",
            f"{e.published_macs / 1e9:.2f}" if e.published_macs else "-",
            ", ".join(e.knobs) or "-",
            ", ".join(e.aliases) or "-",
        )
    return table


def profile_table(
    net: Network, extra: dict[str, Sequence[str]] | None = None, *, width: int | None = None
) -> Table:
    """One row per layer (name, op, output shape, params, MACs, output bytes) and a total row.

    ``extra`` adds columns (name -> one string per layer, in topological order), used by
    ``--hw`` for the per-layer resources; a column of whole numbers is totalled in the footer.
    Numbers are never cut; on a terminal narrower than 120 columns (``width``) the table drops
    its outer edges and padding, and the layer and op names wrap.
    """
    extra = extra or {}
    title = f"{net.name}: {len(net)} layers"
    if width is not None and width < 120:
        from partitioner.parts_summary import compact_table

        table = compact_table(title)
        table.show_footer = True
    else:
        table = Table(title=text(title), title_justify="left", show_footer=True)
    table.add_column("#", justify="right", footer="", no_wrap=True)
    table.add_column("layer", footer="total", overflow="fold")
    table.add_column("op", overflow="fold")
    table.add_column("output", footer="", no_wrap=True)
    table.add_column("params", justify="right", footer=fmt_count(net.total_params), no_wrap=True)
    table.add_column("MACs", justify="right", footer=fmt_count(net.total_macs), no_wrap=True)
    table.add_column(
        "out bytes",
        justify="right",
        footer=fmt_bytes(sum(layer.output_bytes for layer in net.layers)),
        no_wrap=True,
    )
    for name, column in extra.items():
        table.add_column(name, justify="right", footer=_whole_total(column), no_wrap=True)
    columns = list(extra.values())
    for i, layer in enumerate(net.layers):
        op = layer.op.value + (f"+{layer.activation}" if layer.activation else "")
        if layer.precision.value != "a8_w8":
            op += f" [{layer.precision.value}]"
        table.add_row(
            str(i),
            text(layer.name),
            text(op),
            fmt_shape(layer.output_shape),
            fmt_count(layer.params),
            fmt_count(layer.macs),
            fmt_bytes(layer.output_bytes),
            *(col[i] for col in columns),
        )
    return table


def _whole_total(column: Sequence[str]) -> str:
    """The sum of a column of whole numbers (``""`` for any other column).

    >>> _whole_total(["3", "4"]), _whole_total(["context_0", "context_0"]), _whole_total([])
    ('7', '', '')
    """
    if not column or not all(cell.isdigit() for cell in column):
        return ""
    return str(sum(int(cell) for cell in column))


def fmt_rate(fps: float) -> str:
    """A layer's allocated rate: ``1,036.2`` FPS, ``-`` for a lowest-demand row (no rate).

    >>> fmt_rate(1036.25), fmt_rate(0.0)
    ('1,036.2', '-')
    """
    return f"{fps:,.1f}" if fps > 0 else "-"


def layer_table(report: Any) -> Table:
    """``compile --layers``: every layer with its context, op, SCs, LCUs, L3 cuts, precision and
    the rate it was allocated for (its context's), and the totals of the whole partition."""
    rows = report.layers
    table = Table(
        title=text(f"{report.model} on {report.hardware.name}: {len(rows)} layers"),
        title_justify="left",
        caption="each layer at its context's rate (FPS); totals over all contexts",
        caption_justify="left",
        show_footer=True,
    )
    table.add_column("#", justify="right", footer="")
    table.add_column("layer", footer="total", overflow="fold")  # names whole, over lines
    table.add_column("context", footer="")
    table.add_column("op", footer="", overflow="fold")
    for name, key in (("SCs", "subclusters"), ("LCUs", "lcus"), ("L3 cuts", "l3_cuts")):
        total = sum(getattr(r.resources, key) for r in rows)
        table.add_column(name, justify="right", footer=str(total), no_wrap=True)
    table.add_column("precision", footer="", no_wrap=True)
    table.add_column("FPS", justify="right", footer="", no_wrap=True)
    for i, r in enumerate(rows):
        table.add_row(
            str(i),
            text(r.name),
            "-" if r.context is None else str(r.context),
            text(r.op),
            str(r.resources.subclusters),
            str(r.resources.lcus),
            str(r.resources.l3_cuts),
            r.precision,
            fmt_rate(r.fps),
        )
    return table


def band_text(band: Any, batch: int) -> str:
    """``±12%`` typical |FPS error| of the band at ``batch``.

    >>> from partitioner.error_bands import ErrorBand
    >>> band = ErrorBand(family="detection", rows=48, median_b1=12.2, median_b8=14.8,
    ...                  p90_b1=40.6, p90_b8=40.6, single_multi_right=0.94)
    >>> band_text(band, 1), band_text(band, 8)
    ('±12%', '±15%')
    """
    return f"±{band.median_pct(batch):.0f}%"


def _pct(x: float) -> str:
    return f"{x:.1%}"


def context_table(report: Any) -> Table:
    """Per context, the profiler's view: layers, Control / Compute / Memory Utilization (of the
    whole chip, with used/limit of LCUs, SCs and L3 cuts at the caps) and the binding resource."""
    n = report.num_contexts
    table = Table(
        title=text(f"{report.model} on {report.hardware.name}: {n} context{'' if n == 1 else 's'}"),
        title_justify="left",
        caption="utilization of the whole chip; (used/limit) at the caps",
        caption_justify="left",
    )
    table.add_column("context", no_wrap=True)
    table.add_column("layers", justify="right")
    table.add_column("Control Utilization", justify="right")
    table.add_column("Compute Utilization", justify="right")
    table.add_column("Memory Utilization", justify="right")
    table.add_column("binding")
    for c in report.contexts:
        table.add_row(
            f"context_{c.index}",
            str(len(c.layers)),
            f"{_pct(c.control)} ({c.usage.lcus}/{c.limits.lcus} LCUs)",
            f"{_pct(c.compute)} ({c.usage.subclusters}/{c.limits.subclusters} SCs)",
            f"{_pct(c.memory)} ({c.usage.l3_cuts}/{c.limits.l3_cuts} cuts)",
            binding_label(c.binding),
        )
    return table


def timing_table(report: Any) -> Table:
    """Per context: its own rate, time per frame, switch cost and what crosses PCIe. Units sit
    in the headers and number cells never wrap, so the table stays whole at 80 columns."""
    # i17-cli: the per-context rate is labelled as what it is, and fits 80 columns
    table = Table(
        caption="context rate: frames per second of that context alone while it runs (the "
        "network's FPS, with the switches, is below); frame: compute or PCIe, the slower; "
        "switch: weights + configuration reload, firmware overhead and pipeline fill "
        "(multi-context only)",
        caption_justify="left",
    )
    table.add_column("context", no_wrap=True)
    headers = ("context\nrate FPS", "frame\nms", "switch\nms", "weights", "in per\nframe")
    for name in (*headers, "out per\nframe"):
        table.add_column(name, justify="right", no_wrap=True)
    for c in report.contexts:
        table.add_row(
            f"context_{c.index}",
            f"{c.fps:,.1f}",
            f"{c.frame_ms:.3f}",
            f"{c.switch_ms:.2f}",
            fmt_bytes(c.weight_bytes),
            fmt_bytes(c.boundary_in_bytes),
            fmt_bytes(c.boundary_out_bytes),
        )
    return table


def summary_table(report: Any) -> Table:
    """The headline figures of a compile: contexts, FPS per batch (with the calibration's typical
    error and the watts), power, latency, PCIe, dynamic energy, the error band, solver."""
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    flow = "single context" if report.single_context else "multi-context"
    margin = getattr(report, "single_context_margin", None)
    table.add_row("contexts", f"{report.num_contexts} ({flow})" + margin_note(margin, report))
    verdict = getattr(report, "verdict_band", None)
    if margin is not None and verdict is not None:
        table.add_row("verdict", verdict.text(margin.share))
    band = getattr(report, "error_band", None)
    powers = getattr(report, "power", {})
    for batch, fps in report.fps.items():
        value = f"{fps:,.1f} FPS"
        if band is not None:
            value = f"about {value} (typical error {band_text(band, batch)})"
        if batch in powers:
            value += f", {powers[batch].total_w:.2f} W"
        table.add_row(f"FPS at batch {batch}", value)
    b = report.search.batch
    power = powers.get(b)
    if power is not None:
        table.add_row(
            f"power (batch {b})",
            f"{power.total_w:.2f} W = {power.static_w:.2f} W static + {power.dynamic_w:.2f} W "
            f"dynamic at {power.fps:,.1f} FPS",
        )
    table.add_row("latency (batch 1)", f"{report.latency_ms:.2f} ms")
    link = report.hardware.link
    table.add_row(
        "PCIe",
        f"{rate_text(link.bytes_per_s)}; reload {fmt_bytes(report.reload_bytes_per_batch)} "
        f"per batch; inter-context {fmt_bytes(report.inter_context_bytes_per_frame)} per frame",
    )
    table.add_row(
        f"dynamic energy (batch {b})", f"{report.energy_mj_per_frame[b]:.3f} mJ per frame"
    )
    if band is not None:
        where = band.note or f"{band.family} networks"
        table.add_row(
            "error band",
            f"|FPS error| median {band.median_b1:.0f}% at batch 1, {band.median_b8:.0f}% at "
            f"batch 8; 90% of rows within {band.p90_b1:.0f}% / {band.p90_b8:.0f}%; "
            f"single/multi right {band.single_multi_right:.0%} ({where}; {band.rows} Model Zoo "
            f"rows, {band.measured or 'measured'})",
        )
    s = report.search
    bound = "-" if s.bound_s is None else f"{s.bound_s * 1e3:.3f} ms"
    gap = gap_text(s.gap)
    pinned = f", {s.pinned_layers} layers pinned" if s.pinned_layers else ""
    scope = (
        "" if s.bound_contexts in (None, 1) else f" (over <= {s.bound_contexts} contexts{pinned})"
    )
    scope = " (over any number of contexts)" if s.bound_all_contexts else scope
    deciding = report.hardware.deciding()
    at = "" if deciding is report.hardware else f" at the compiler's {deciding.link.label}"
    table.add_row(
        "solver",
        f"{s.status_text}; T({b}) = {s.objective_s * 1e3:.3f} ms{at}, bound {bound}{scope}, "
        f"gap {gap}, "
        f"{s.wall_seconds:.1f} s"
        + (" (interrupted)" if s.interrupted else "")
        + required_note(report),
    )
    return table


def margin_note(margin: Any, report: Any) -> str:
    """``; lowest demand LCUs 66/71 (93% of the limit)``: how close the single-context verdict
    was (:class:`~cost_model.context.FitMargin`); "" when no fit decided it."""
    if margin is None:
        return ""
    return f"; {margin.text}" if report.single_context else f"; in one context, {margin.text}"


def required_note(report: Any) -> str:
    """Why the answer runs slower than the search's T(B): a required FPS below the fastest rate
    (``performance_param(fps=N)`` allocates one context for N FPS, not the maximum)."""
    target = None if report.flow is None else report.flow.target_fps
    s = report.search
    fastest = s.batch / s.objective_s if s.objective_s else None
    if target is None or not report.single_context or fastest is None or target >= fastest:
        return ""
    return (
        f"; T({s.batch}) is the fastest single context ({fastest:,.1f} FPS): the answer runs at "
        f"the required {target:g} FPS"
    )
