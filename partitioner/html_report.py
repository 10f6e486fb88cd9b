"""``ctxfit compile --html report.html``: one self-contained page about a compile.

The page holds, in this order: a summary (one context or not, the number of contexts, FPS per
batch, latency, what binds), a timeline of one batch drawn to scale, the per-context
utilization bars against their caps with the per-context and per-cluster tables, the layer
graph coloured by context, the per-layer table, and the solver's history. Plots are inline SVG
(:mod:`partitioner.plots`); the CSS is inline; there is no script and no reference to anything
outside the file, so it opens offline and sends nothing anywhere.

Summary figures sit in elements with stable ids (``summary-contexts``, ``summary-fps-1``,
``summary-fps-8``, ``summary-latency``, ``summary-binding``, ...) for tests and scrapers.

Per-layer resources are not part of the compile report; :func:`layer_rows` prices every layer
with :func:`cost_model.lowering.price_layers` at its context's rate, which is how the context's
usage was obtained, so the rows of a context add up to its usage.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cost_model.hardware import rate_text
from cost_model.lowering import price_layers
from cost_model.resources import COMPILER_LABELS, Resources
from partitioner.clusters import HEADERS, cluster_cells
from partitioner.errors import UsageError
from partitioner.graph import Network
from partitioner.html_labels import BINDING_LABELS, binding_label
from partitioner.report import fmt_bytes, fmt_count, fmt_shape
from partitioner.search_types import gap_text


# -- the data behind the page --------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class SummaryItem:
    """One figure of the summary: ``key`` (the element id is ``summary-<key>``), a label and
    the value as text with its unit."""

    key: str
    label: str
    value: str


def binding_text(report: Any) -> str:
    """What binds the network: the single context's binding, or each binding with the
    contexts it binds, largest share of the batch time first.

    A context's share is ``S_c + B x t_c`` at the optimised batch ``B``.
    """
    if report.num_contexts == 1:
        return binding_label(report.contexts[0].binding)
    b = report.search.batch
    share: dict[str, float] = {}
    where: dict[str, list[str]] = {}
    for c in report.contexts:
        share[c.binding] = share.get(c.binding, 0.0) + c.switch_ms + b * c.frame_ms
        where.setdefault(c.binding, []).append(f"context_{c.index}")
    ranked = sorted(share, key=lambda name: -share[name])
    return "; ".join(f"{binding_label(name)} in {', '.join(where[name])}" for name in ranked)


def summary_items(report: Any) -> tuple[SummaryItem, ...]:
    """The summary of a ``CompileReport``, in display order."""
    s = report.search
    b = s.batch
    flow = "single context" if report.single_context else "multi-context"
    items = [
        SummaryItem(
            key="contexts",
            label="contexts",
            value=f"{report.num_contexts} ({flow})",
        ),
        SummaryItem(
            key="single-context",
            label="one context",
            value="yes" if report.num_contexts == 1 else "no",
        ),
    ]
    margin = getattr(report, "single_context_margin", None)
    if margin is not None:
        verdict = getattr(report, "verdict_band", None)
        items.append(
            SummaryItem(
                key="margin",
                label="how close",
                value=margin.text + ("" if verdict is None else f"; {verdict.text(margin.share)}"),
            )
        )
    items += [
        SummaryItem(key=f"fps-{batch}", label=f"FPS at batch {batch}", value=f"{fps:,.1f} FPS")
        for batch, fps in sorted(report.fps.items())
    ]
    items.append(
        SummaryItem(key="latency", label="latency (batch 1)", value=f"{report.latency_ms:.2f} ms")
    )
    items.append(SummaryItem(key="binding", label="binding", value=binding_text(report)))
    if not report.single_context and s.single_fit.over:
        over = ", ".join(
            f"{COMPILER_LABELS[name]} {used}/{limit}" for name, used, limit in s.single_fit.over
        )
        items.append(SummaryItem(key="single-failure", label="one context fails on", value=over))
    items.append(
        SummaryItem(
            key="batch-time",
            label=f"batch time T({b})",
            value=f"{b / report.fps[b] * 1e3:.3f} ms",
        )
    )
    items.append(
        SummaryItem(
            key="pcie",
            label="PCIe",
            value=f"reload {fmt_bytes(report.reload_bytes_per_batch)} per batch, "
            f"inter-context {fmt_bytes(report.inter_context_bytes_per_frame)} per frame",
        )
    )
    power = getattr(report, "power", {}).get(b)
    if power is not None:
        items.append(
            SummaryItem(
                key="power",
                label=f"power (batch {b})",
                value=f"{power.total_w:.2f} W = {power.static_w:.2f} W static + "
                f"{power.dynamic_w:.2f} W dynamic",
            )
        )
    items.append(
        SummaryItem(
            key="energy",
            label=f"dynamic energy (batch {b})",
            value=f"{report.energy_mj_per_frame[b]:.3f} mJ per frame",
        )
    )
    gap = gap_text(s.gap)
    items.append(
        SummaryItem(
            key="solver",
            label="solver",
            value=f"{s.status}, gap {gap}, {s.wall_seconds:.1f} s"
            + (" (interrupted)" if s.interrupted else ""),
        )
    )
    return tuple(items)


@dataclass(frozen=True, kw_only=True)
class LayerRow:
    """One layer as compiled: where it went and what it takes there.

    Attributes:
        position: its place in the topological order.
        name, op, output_shape, params, macs: from the layer graph.
        context: its context.
        fps: the rate it is lowered at (its context's rate).
        resources: its demand at that rate (LCUs, SCs, L3 cuts, APUs, IAs).
        nodes: its nodes (split parts, combiner, shortcut); ``split``: how it was split.
        weight_bytes: its weights (loaded at each switch of its context).
        max_fps: the highest rate any split of it reaches.
    """

    position: int
    name: str
    op: str
    output_shape: tuple[int, ...]
    params: int
    macs: int
    context: int
    fps: float
    resources: Resources
    nodes: int
    split: str
    weight_bytes: int
    max_fps: float


def layer_rows(report: Any, net: Network) -> tuple[LayerRow, ...]:
    """Every layer of ``net``, in topological order, priced at its context's rate.

    Raises:
        UsageError: ``net`` is not the network the report was compiled from (a layer of the
            report is missing from it, or it has layers the report does not place).
    """
    placed = {name for c in report.contexts for name in c.layers}
    missing = sorted(placed - set(net.topological_order()))
    extra = [name for name in net.topological_order() if name not in placed]
    if missing or extra:
        names = ", ".join(repr(n) for n in (missing or extra)[:3])
        raise UsageError(
            f"network {net.name!r} does not match the compile report of {report.model!r} "
            f"(layer(s) {names} {'missing' if missing else 'not placed'}); pass the network "
            "the report was compiled from"
        )
    by_name: dict[str, LayerRow] = {}
    for c in report.contexts:
        pairs = [(net.layer(n), net.fan_out(n)) for n in c.layers]
        for cost in price_layers(pairs, report.hardware, c.fps):
            layer = net.layer(cost.layer)
            by_name[cost.layer] = LayerRow(
                position=0,
                name=cost.layer,
                op=layer.op.value + (f"+{layer.activation}" if layer.activation else ""),
                output_shape=tuple(layer.output_shape),
                params=layer.params,
                macs=layer.macs,
                context=c.index,
                fps=cost.fps,
                resources=cost.resources,
                nodes=cost.nodes,
                split=cost.split,
                weight_bytes=cost.weight_bytes,
                max_fps=cost.max_fps,
            )
    return tuple(
        LayerRow(**{**vars(by_name[name]), "position": i})
        for i, name in enumerate(net.topological_order())
    )


# -- HTML ----------------------------------------------------------------------------------------
_CSS = """
:root { --ink: #1d2330; --muted: #5b6475; --line: #dde1e8; --bg: #f6f7f9; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--ink);
       margin: 0; background: var(--bg); }
header { background: #1d2330; color: #fff; padding: 18px 28px; }
header h1 { margin: 0; font-size: 22px; }
header p { margin: 4px 0 0; color: #c5cbd6; }
nav { padding: 8px 28px; background: #fff; border-bottom: 1px solid var(--line);
      position: sticky; top: 0; }
nav a { margin-right: 16px; color: #2b5fad; text-decoration: none; }
main { padding: 8px 28px 40px; max-width: 1400px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 6px;
          padding: 14px 18px; margin: 16px 0; }
h2 { font-size: 17px; margin: 0 0 10px; }
h3 { font-size: 14px; margin: 14px 0 6px; }
.note { color: var(--muted); margin: 4px 0 10px; }
dl.summary { display: grid; grid-template-columns: repeat(auto-fill, minmax(210px, 1fr));
             gap: 10px; margin: 0; }
dl.summary div { border: 1px solid var(--line); border-radius: 5px; padding: 8px 10px; }
dl.summary dt { color: var(--muted); font-size: 12px; }
dl.summary dd { margin: 2px 0 0; font-size: 17px; font-weight: 600; }
table { border-collapse: collapse; font-size: 12.5px; margin: 6px 0; }
th, td { border-bottom: 1px solid var(--line); padding: 3px 8px; text-align: right;
         white-space: nowrap; }
th { background: #eef1f5; }
td.l, th.l { text-align: left; }
tr.total td { font-weight: 600; border-top: 2px solid #b9c0cc; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px;
          margin-right: 5px; vertical-align: middle; }
.scroll { overflow-x: auto; }
.clusters { display: flex; flex-wrap: wrap; gap: 18px; }
svg.plot { width: 100%; height: auto; display: block; margin: 6px 0; }
footer { color: var(--muted); padding: 0 28px 24px; font-size: 12px; }
"""

_SECTIONS = (
    ("summary", "Summary"),
    ("timeline", "Timeline"),
    ("utilization", "Utilization"),
    ("graph", "Layer graph"),
    ("layers", "Layers"),
    ("solver", "Solver"),
)


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    left: int = 1,
    total_last: bool = False,
    raw_first: bool = False,
) -> str:
    """An HTML table; the first ``left`` columns are left-aligned. Cells are escaped, except
    the first column when ``raw_first`` (already HTML)."""
    head = "".join(
        f'<th class="l">{_e(h)}</th>' if i < left else f"<th>{_e(h)}</th>"
        for i, h in enumerate(headers)
    )
    body = []
    for r, row in enumerate(rows):
        cells = "".join(
            f'<td class="l">{c if raw_first and i == 0 else _e(c)}</td>'
            if i < left
            else f"<td>{_e(c)}</td>"
            for i, c in enumerate(row)
        )
        cls = ' class="total"' if total_last and r == len(rows) - 1 else ""
        body.append(f"<tr{cls}>{cells}</tr>")
    return (
        f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def _swatch(index: int) -> str:
    from partitioner.plots import context_color

    return f'<span class="swatch" style="background:{context_color(index)}"></span>'


def _summary_html(report: Any) -> str:
    cells = "".join(
        f'<div><dt>{_e(item.label)}</dt><dd id="summary-{_e(item.key)}">{_e(item.value)}</dd></div>'
        for item in summary_items(report)
    )
    return f'<dl class="summary">{cells}</dl>'


def _timeline_html(report: Any) -> str:
    from partitioner.plots import timeline_segments, timeline_svg

    b = report.search.batch
    segments = timeline_segments(
        frame_ms=[c.frame_ms for c in report.contexts],
        switch_ms=[c.switch_ms for c in report.contexts],
        batch=b,
    )
    if report.num_contexts == 1:
        note = (
            f"One context: its weights and configuration stay loaded; the {b} frames of a "
            f"batch run back to back at {report.contexts[0].frame_ms:.3f} ms each."
        )
    else:
        note = (
            f"Contexts run one after another. Each first loads its weights and configuration "
            f"over PCIe (switch, grey), then computes all {b} frames of the batch. "
            "T(B) = sum over contexts of (switch + B x frame time)."
        )
    return f'<p class="note">{_e(note)}</p>' + timeline_svg(
        segments, batch=b, title=f"one batch of {b} frames"
    )


def _context_rows(report: Any) -> list[list[str]]:
    return [
        [
            f"{_swatch(c.index)}context_{c.index}",
            str(len(c.layers)),
            f"{c.control:.1%}",
            f"{c.compute:.1%}",
            f"{c.memory:.1%}",
            f"{c.usage.lcus}/{c.limits.lcus} LCUs",
            f"{c.usage.subclusters}/{c.limits.subclusters} SCs",
            f"{c.usage.l3_cuts}/{c.limits.l3_cuts} L3 cuts",
            f"{c.fps:,.1f} FPS",
            f"{c.frame_ms:.3f} ms",
            f"{c.switch_ms:.2f} ms",
            fmt_bytes(c.weight_bytes),
            f"{fmt_bytes(c.boundary_in_bytes)} / {fmt_bytes(c.boundary_out_bytes)}",
            str(c.edge_layers),
            binding_label(c.binding),
        ]
        for c in report.contexts
    ]


def _utilization_html(report: Any) -> str:
    from partitioner.plots import utilization_bars, utilization_svg

    caps = report.caps
    note = (
        f"Utilization of the whole chip ({report.hardware.lcus_total} LCUs, "
        f"{report.hardware.subclusters_total} SCs, {report.hardware.l3_cuts_total} L3 cuts). "
        f"Caps: control {caps.control:.0%}, compute {caps.compute:.0%}, "
        f"memory {caps.memory:.0%}; a cap u allows ceil(u x total) units."
    )
    headers = (
        "context",
        "layers",
        "Control Utilization",
        "Compute Utilization",
        "Memory Utilization",
        "Control",
        "Compute",
        "Memory",
        "FPS",
        "frame",
        "switch",
        "weights",
        "in / out per frame",
        "edge layers",
        "binding",
    )
    clusters = "".join(
        f"<div><h3>context_{c.index} utilization</h3>"
        + _table(HEADERS, cluster_cells(c.usage, report.hardware), total_last=True)
        + "</div>"
        for c in report.contexts
    )
    return (
        f'<p class="note">{_e(note)}</p>'
        + utilization_svg(utilization_bars(report), title="per context")
        + _table(headers, _context_rows(report), raw_first=True)
        + "<h3>per cluster</h3>"
        + '<p class="note">The usage of each context spread evenly over the clusters (the '
        "compiler's packing is not published).</p>" + f'<div class="clusters">{clusters}</div>'
    )


def _graph_html(report: Any, net: Network) -> str:
    from partitioner.plots import graph_svg

    assignment = {name: c.index for c in report.contexts for name in c.layers}
    crossing = sum(1 for u, v in net.graph.edges if assignment[u] != assignment[v])
    note = (
        f"{len(net)} layers, {net.graph.number_of_edges()} edges, {crossing} of them between "
        "contexts (dark). Left to right: depth from the input."
    )
    return f'<p class="note">{_e(note)}</p>' + graph_svg(net, assignment)


def _layers_html(report: Any, net: Network) -> str:
    headers = (
        "#",
        "layer",
        "context",
        "op",
        "output",
        "params",
        "MACs",
        "LCUs",
        "SCs",
        "L3 cuts",
        "APUs",
        "IAs",
        "nodes",
        "split",
        "weights",
        "rate",
        "max rate",
    )
    rows = [
        [
            str(r.position),
            r.name,
            f"context_{r.context}",
            r.op,
            fmt_shape(r.output_shape),
            fmt_count(r.params),
            fmt_count(r.macs),
            str(r.resources.lcus),
            str(r.resources.subclusters),
            str(r.resources.l3_cuts),
            str(r.resources.apus),
            str(r.resources.input_aligners),
            str(r.nodes),
            r.split,
            fmt_bytes(r.weight_bytes),
            f"{r.fps:,.1f} FPS",
            f"{r.max_fps:,.1f} FPS",
        ]
        for r in layer_rows(report, net)
    ]
    note = "Each layer priced at its context's rate; a context's rows add up to its usage."
    return f'<p class="note">{_e(note)}</p>' + _table(headers, rows, left=5)


def _solver_html(report: Any) -> str:
    from partitioner.plots import history_series, history_svg

    s = report.search
    if report.single_context:
        return (
            '<p class="note">The single-context flow succeeded: no partition search was needed '
            f"({s.wall_seconds:.2f} s).</p>"
        )
    bound = "-" if s.bound_s is None else f"{s.bound_s * 1e3:.3f} ms"
    note = (
        f"{s.status}: the solver's T({s.batch}) = {s.objective_s * 1e3:.3f} ms (each term "
        f"rounded up to its time unit), proven bound {bound}"
        + (f" over at most {s.bound_contexts} contexts" if s.bound_contexts else "")
        + f", in {s.wall_seconds:.1f} s. Best FPS so far (solid) and the FPS the bound allows "
        "(dashed), per number of contexts K."
    )
    rows = [
        [
            f"#{it.index}",
            str(it.num_contexts),
            it.outcome,
            "-" if it.fps is None else f"{it.fps:,.1f} FPS",
            "-" if it.best_fps is None else f"{it.best_fps:,.1f} FPS",
            "-" if it.contexts_used is None else str(it.contexts_used),
            "-" if it.bound_s is None else f"{it.bound_s * 1e3:.3f} ms",
            f"{it.wall_seconds:.2f} s",
            it.message,
        ]
        for it in s.iterations
    ]
    headers = ("iteration", "K", "outcome", "FPS", "best", "used", "bound", "time", "message")
    series = history_series(s.history, s.iterations, batch=s.batch)
    plot = history_svg(series, batch=s.batch) if series else ""
    return f'<p class="note">{_e(note)}</p>' + plot + _table(headers, rows)


def render_html(report: Any, net: Network) -> str:
    """The whole page for a ``CompileReport`` of ``net``, as one string.

    Raises:
        UsageError: ``net`` is not the network the report was compiled from.
    """
    from importlib.metadata import PackageNotFoundError, version

    try:
        ctxfit_version = version("ctxfit")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        ctxfit_version = "dev"
    hw = report.hardware
    title = f"{report.model} on {hw.name}"
    subtitle = (
        f"ctxfit compile report: {report.num_contexts} context"
        f"{'' if report.num_contexts == 1 else 's'}, optimised for batch {report.search.batch}; "
        f"{hw.link.label}, {rate_text(hw.link.bytes_per_s)}"
    )
    bodies = {
        "summary": _summary_html(report),
        "timeline": _timeline_html(report),
        "utilization": _utilization_html(report),
        "graph": _graph_html(report, net),
        "layers": _layers_html(report, net),
        "solver": _solver_html(report),
    }
    nav = "".join(f'<a href="#{key}">{_e(label)}</a>' for key, label in _SECTIONS)
    sections = "\n".join(
        f'<section id="{key}"><h2>{_e(label)}</h2>{bodies[key]}</section>'
        for key, label in _SECTIONS
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<title>ctxfit: {_e(title)}</title><style>{_CSS}</style></head>\n"
        f"<body><header><h1>{_e(title)}</h1><p>{_e(subtitle)}</p></header>\n"
        f"<nav>{nav}</nav>\n<main>\n{sections}\n</main>\n"
        f"<footer>ctxfit {_e(ctxfit_version)}: predictions of a cost model, not measurements."
        "</footer>\n</body></html>\n"
    )


def check_target(path: str | Path) -> Path:
    """Fail early (before a long compile) when ``path`` cannot be an HTML file to write.

    Raises:
        UsageError: ``path`` is a directory, or its directory does not exist.
    """
    target = Path(path)
    if target.is_dir():
        raise UsageError(
            f"cannot write the HTML report {str(path)!r}: it is a directory; give a file name "
            "such as report.html"
        )
    if not target.parent.is_dir():
        raise UsageError(
            f"cannot write the HTML report {str(path)!r}: directory {str(target.parent)!r} "
            "does not exist"
        )
    return target


def write_html(path: str | Path, report: Any, net: Network) -> Path:
    """Write :func:`render_html` to ``path`` and return it.

    Raises:
        UsageError: the file cannot be written (the message names it and the reason), or
            ``net`` does not match the report.
    """
    target = check_target(path)
    text = render_html(report, net)
    try:
        target.write_text(text, encoding="utf-8")
    except OSError as err:
        raise UsageError(f"cannot write the HTML report {str(path)!r}: {err.strerror}") from err
    return target


__all__ = [
    "BINDING_LABELS",
    "LayerRow",
    "SummaryItem",
    "binding_label",
    "binding_text",
    "check_target",
    "layer_rows",
    "render_html",
    "summary_items",
    "write_html",
]
