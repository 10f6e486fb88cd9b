"""Plots of a compile, as self-contained SVG strings for the HTML report.

Each plot is two parts: a pure function that turns the report into the numbers drawn (tested
against hand-derived values), and a function that draws them with matplotlib and returns an
``<svg>`` element ready to inline in HTML. Drawing uses :class:`matplotlib.figure.Figure` with
the SVG canvas directly: pyplot is never imported, no GUI backend is selected and no global
backend state changes. Text stays text (``svg.fonttype = "none"``), so the browser renders it
with its own fonts and the page can be searched. The XML prologue, DOCTYPE and RDF metadata
are removed and every ``id`` is prefixed, so several plots can share one page and nothing in
them names a remote resource (only the ``xmlns`` namespace strings remain).

The solver never calls this module; the CLI does, after the compile.

>>> segments = timeline_segments(frame_ms=(2.0, 1.0), switch_ms=(0.5, 0.25), batch=2)
>>> [(s.context, s.kind, s.start_ms, s.duration_ms) for s in segments]
[(0, 'switch', 0.0, 0.5), (0, 'compute', 0.5, 2.0), (0, 'compute', 2.5, 2.0),
 (1, 'switch', 4.5, 0.25), (1, 'compute', 4.75, 1.0), (1, 'compute', 5.75, 1.0)]
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import networkx as nx

from partitioner.graph import Network
from partitioner.user_text import visible

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from partitioner.search import Progress

CONTEXT_COLORS: tuple[str, ...] = (
    "#4e79a7",
    "#f28e2b",
    "#59a14f",
    "#e15759",
    "#76b7b2",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
)
"""Tableau 10, one colour per context (repeating after ten contexts)."""

SWITCH_COLOR = "#9a9a9a"
RESOURCE_COLORS: dict[str, str] = {"Control": "#4e79a7", "Compute": "#f28e2b", "Memory": "#59a14f"}

_RC = {
    "svg.fonttype": "none",
    "font.family": "sans-serif",
    "font.size": 9.0,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


def context_color(index: int) -> str:
    """The colour of context ``index`` in every plot and table.

    >>> context_color(0), context_color(10)
    ('#4e79a7', '#4e79a7')
    """
    return CONTEXT_COLORS[index % len(CONTEXT_COLORS)]


# -- SVG plumbing --------------------------------------------------------------------------------
@contextmanager
def _figure(name: str, width_in: float, height_in: float) -> Iterator[tuple[Figure, Axes]]:
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context({**_RC, "svg.hashsalt": name}):
        fig = Figure(figsize=(width_in, height_in), layout="constrained")
        yield fig, fig.subplots()


def figure_svg(fig: Figure, prefix: str) -> str:
    """``fig`` as an inline ``<svg>`` element: no prologue, DOCTYPE or metadata, ids prefixed
    with ``prefix`` (so several figures can share a page), shrinking with the page but never
    drawn wider than its natural size."""
    import warnings

    buffer = io.StringIO()
    with warnings.catch_warnings():  # a name in a script the font lacks is drawn as a box
        warnings.filterwarnings(
            "ignore", message="Glyph .* missing from font", category=UserWarning
        )
        fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    return inline_svg(buffer.getvalue(), prefix)


def inline_svg(svg: str, prefix: str) -> str:
    """Make a standalone SVG document inlinable; see :func:`figure_svg`.

    >>> doc = ('<?xml version="1.0"?>\\n<!DOCTYPE svg PUBLIC "x" "y">\\n'
    ...        '<svg width="10pt" height="5pt" viewBox="0 0 10 5"><metadata>m</metadata>'
    ...        '<g id="a"><use xlink:href="#a"/><path clip-path="url(#a)"/></g></svg>')
    >>> print(inline_svg(doc, "p"))
    <svg class="plot" style="max-width: 10pt" viewBox="0 0 10 5"><g id="p-a"><use
    xlink:href="#p-a"/><path clip-path="url(#p-a)"/></g></svg>
    """
    svg = svg[svg.index("<svg") :]
    svg = re.sub(r"<metadata>.*?</metadata>\s*", "", svg, flags=re.DOTALL)
    svg = re.sub(r'\sid="([^"]+)"', rf' id="{prefix}-\1"', svg)
    svg = re.sub(r'href="#([^"]+)"', rf'href="#{prefix}-\1"', svg)
    svg = re.sub(r"url\(#([^)]+)\)", rf"url(#{prefix}-\1)", svg)
    svg = re.sub(
        r'<svg([^>]*?)\swidth="([^"]*)"\sheight="[^"]*"',
        r'<svg\1 class="plot" style="max-width: \2"',
        svg,
        count=1,
    )
    return svg.strip()


# -- timeline of one batch -----------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class Segment:
    """One bar of the batch timeline.

    Attributes:
        context: the context index.
        kind: ``"switch"`` (load weights and configuration, ``S_c``) or ``"compute"`` (one frame).
        frame: the frame number within the batch (``None`` for a switch).
        start_ms, duration_ms: position on the time axis, in milliseconds.
    """

    context: int
    kind: str
    start_ms: float
    duration_ms: float
    frame: int | None = None

    @property
    def end_ms(self) -> float:
        """``start_ms + duration_ms``."""
        return self.start_ms + self.duration_ms


def timeline_segments(
    *, frame_ms: Sequence[float], switch_ms: Sequence[float], batch: int
) -> tuple[Segment, ...]:
    """The bars of one batch, to scale: per context its switch ``S_c`` (left out when 0, as for
    a single context, which never reloads), then ``batch`` frames of ``t_c`` each. The last bar
    ends at ``T(B) = sum_c (S_c + B x t_c)`` milliseconds (see :mod:`cost_model.throughput`).
    """
    segments: list[Segment] = []
    now = 0.0
    for c, (t, s) in enumerate(zip(frame_ms, switch_ms, strict=True)):
        if s > 0:
            segments.append(Segment(context=c, kind="switch", start_ms=now, duration_ms=s))
            now += s
        for f in range(batch):
            segments.append(
                Segment(context=c, kind="compute", start_ms=now, duration_ms=t, frame=f)
            )
            now += t
    return tuple(segments)


def timeline_svg(segments: Sequence[Segment], *, batch: int, title: str = "") -> str:
    """One row per context: grey switch bars, then one coloured bar per frame, on a common time
    axis in ms; the batch time ``T(B)`` is marked at the end."""
    contexts = sorted({s.context for s in segments})
    total = max((s.end_ms for s in segments), default=0.0)
    height = 1.2 + 0.32 * len(contexts)
    with _figure("timeline", 9.0, height) as (fig, ax):
        for c in contexts:
            for kind in ("switch", "compute"):
                bars = [
                    (s.start_ms, s.duration_ms)
                    for s in segments
                    if (s.context, s.kind) == (c, kind)
                ]
                if not bars:
                    continue
                ax.broken_barh(
                    bars,
                    (c - 0.38, 0.76),
                    facecolors=SWITCH_COLOR if kind == "switch" else context_color(c),
                    edgecolors="white",
                    linewidth=0.4 if batch <= 16 else 0.0,
                    hatch="///" if kind == "switch" else None,
                )
        ax.set_yticks(contexts, [f"context_{c}" for c in contexts])
        ax.set_ylim(max(contexts, default=0) + 0.6, -0.6)
        ax.set_xlim(0, total * 1.02 if total > 0 else 1.0)
        ax.set_xlabel("time within one batch [ms]")
        ax.axvline(total, color="#333333", linewidth=0.8, linestyle="--")
        ax.text(total, -0.55, f" T({batch}) = {total:.3f} ms", ha="right", va="bottom")
        from matplotlib.patches import Patch

        handles = [Patch(facecolor=SWITCH_COLOR, hatch="///", label="switch / reload")]
        handles += [
            Patch(facecolor=context_color(c), label=f"compute, context_{c}") for c in contexts[:4]
        ]
        fig.legend(handles=handles, loc="outside lower center", fontsize=7, frameon=False, ncols=5)
        ax.set_title(title, loc="left")
        return figure_svg(fig, "timeline")


# -- utilization bars ----------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class UtilizationBar:
    """One bar of the utilization plot: a resource of one context, as fractions of the chip.

    Attributes:
        context: the context index.
        resource: ``"Control"``, ``"Compute"`` or ``"Memory"`` (the profiler's words).
        used: units used; ``limit``: units the cap allows; ``total``: units on the chip.
        unit: ``"LCUs"``, ``"SCs"`` or ``"L3 cuts"``.
    """

    context: int
    resource: str
    used: int
    limit: int
    total: int
    unit: str

    @property
    def fraction(self) -> float:
        """``used / total``, the profiler's utilization."""
        return self.used / self.total

    @property
    def cap_fraction(self) -> float:
        """``limit / total``: the cap, after rounding up to whole units."""
        return self.limit / self.total


def utilization_bars(report: Any) -> tuple[UtilizationBar, ...]:
    """Control / Compute / Memory of every context of a ``CompileReport``, against the limits
    of its caps (``ceil(cap x total)`` units)."""
    hw = report.hardware
    rows = (
        ("Control", "lcus", hw.lcus_total, "LCUs"),
        ("Compute", "subclusters", hw.subclusters_total, "SCs"),
        ("Memory", "l3_cuts", hw.l3_cuts_total, "L3 cuts"),
    )
    return tuple(
        UtilizationBar(
            context=c.index,
            resource=label,
            used=getattr(c.usage, field),
            limit=getattr(c.limits, field),
            total=total,
            unit=unit,
        )
        for c in report.contexts
        for label, field, total, unit in rows
    )


def utilization_svg(bars: Sequence[UtilizationBar], *, title: str = "") -> str:
    """Grouped bars per context (Control, Compute, Memory in % of the chip), each with a black
    tick at its cap and the ``used/limit`` count above it."""
    contexts = sorted({b.context for b in bars})
    resources = list(RESOURCE_COLORS)
    width = 0.26
    with _figure("utilization", max(5.0, min(12.0, 1.4 + 1.1 * len(contexts))), 3.2) as (fig, ax):
        for i, resource in enumerate(resources):
            mine = [b for b in bars if b.resource == resource]
            xs = [b.context + (i - 1) * width for b in mine]
            ax.bar(
                xs,
                [100 * b.fraction for b in mine],
                width=width * 0.92,
                color=RESOURCE_COLORS[resource],
                label=f"{resource} ({mine[0].unit})" if mine else resource,
            )
            ax.hlines(
                [100 * b.cap_fraction for b in mine],
                [x - width / 2 for x in xs],
                [x + width / 2 for x in xs],
                colors="#222222",
                linewidth=1.6,
            )
            if len(contexts) <= 8:
                for x, b in zip(xs, mine, strict=True):
                    ax.text(
                        x,
                        100 * max(b.fraction, b.cap_fraction) + 1.5,
                        f"{b.used}/{b.limit}",
                        ha="center",
                        va="bottom",
                        fontsize=6,
                        rotation=90,
                    )
        ax.set_xticks(contexts, [f"context_{c}" for c in contexts])
        top = max((max(b.fraction, b.cap_fraction) for b in bars), default=1.0)
        ax.set_ylim(0, 100 * top + 18)
        ax.set_ylabel("utilization of the chip [%]")
        ax.legend(loc="upper right", fontsize=7, frameon=False, ncols=3)
        ax.set_title(title + ("  (black tick: cap)" if title else "black tick: cap"), loc="left")
        return figure_svg(fig, "utilization")


# -- layer graph ---------------------------------------------------------------------------------
def graph_layout(net: Network) -> dict[str, tuple[float, float]]:
    """A layered layout computed from the graph: x is the layer's depth (longest path from a
    graph input, via :func:`networkx.topological_generations`); within a depth the layers are
    ordered by the mean y of the layers they read (the barycenter heuristic, one sweep; ties in
    topological order), then placed one unit apart, centred on 0.

    >>> from cost_model.layer import Layer, OpKind
    >>> def act(name, *srcs):
    ...     return Layer(name=name, op=OpKind.ACTIVATION, inputs=srcs,
    ...                  input_shapes=tuple((4, 8, 8) for _ in srcs), output_shape=(4, 8, 8))
    >>> net = Network("diamond", [act("a", "x"), act("b", "a"), act("c", "a"),
    ...                           act("d", "b", "c")], inputs={"x": (4, 8, 8)}, outputs=["d"])
    >>> graph_layout(net)
    {'a': (0.0, 0.0), 'b': (1.0, -0.5), 'c': (1.0, 0.5), 'd': (2.0, 0.0)}
    """
    order = {name: i for i, name in enumerate(net.topological_order())}
    layout: dict[str, tuple[float, float]] = {}
    for depth, names in enumerate(nx.topological_generations(net.graph)):

        def barycenter(name: str) -> tuple[float, int]:
            ys = [layout[p][1] for p in net.predecessors(name)]
            return (sum(ys) / len(ys) if ys else 0.0, order[name])

        ranked = sorted(names, key=barycenter)
        middle = (len(ranked) - 1) / 2
        for i, name in enumerate(ranked):
            layout[name] = (float(depth), float(i - middle))
    return dict(sorted(layout.items(), key=lambda item: order[item[0]]))


def edge_path(start: tuple[float, float], end: tuple[float, float]) -> Any:
    """A straight segment between neighbouring depths; an arc (a quadratic Bezier bending up
    by ``0.3 x sqrt(span)``) over longer spans, so a skip connection does not hide behind the
    layers between its ends."""
    from matplotlib.path import Path

    span = end[0] - start[0]
    if span <= 1:
        return Path([start, end], [Path.MOVETO, Path.LINETO])
    bend = 0.3 * span**0.5
    control = ((start[0] + end[0]) / 2, (start[1] + end[1]) / 2 - bend)
    return Path([start, control, end], [Path.MOVETO, Path.CURVE3, Path.CURVE3])


def graph_svg(net: Network, assignment: Mapping[str, int], *, title: str = "") -> str:
    """The layer graph drawn with :func:`graph_layout`, left to right, each layer a dot
    coloured by its context (names shown up to 60 layers; the per-layer table lists them
    all), edges that cross a context boundary drawn darker, long edges as arcs."""
    from matplotlib.collections import PathCollection

    pos = graph_layout(net)
    depth = max((x for x, _ in pos.values()), default=0.0) + 1
    spread = max((abs(y) for _, y in pos.values()), default=0.0) * 2 + 1
    width = max(6.0, min(16.0, 0.18 * depth + 2))
    height = max(1.8, min(9.0, 0.35 * spread + 1.4))
    labels = len(net) <= 60
    with _figure("graph", width, height) as (fig, ax):
        same, cross = [], []
        for u, v in net.graph.edges:
            (cross if assignment[u] != assignment[v] else same).append(edge_path(pos[u], pos[v]))
        for paths, color, lw in ((same, "#b0b0b0", 0.6), (cross, "#222222", 1.1)):
            ax.add_collection(
                PathCollection(paths, facecolors="none", edgecolors=color, linewidths=lw, zorder=1)
            )
        for c in sorted(set(assignment.values())):
            names = [n for n in pos if assignment[n] == c]
            points = ax.scatter(
                [pos[n][0] for n in names],
                [pos[n][1] for n in names],
                s=28 if labels else 16,
                color=context_color(c),
                edgecolors="white",
                linewidths=0.4,
                zorder=2,
                label=f"context_{c} ({len(names)} layers)",
            )
            points.set_gid(f"context-{c}")
        if labels:
            for name, (x, y) in pos.items():
                label = ax.annotate(
                    visible(name),  # control characters as escapes; "$" is not mathtext
                    (x, y),
                    parse_math=False,
                    xytext=(0, 5),
                    textcoords="offset points",
                    ha="center",
                    fontsize=5,
                    rotation=30,
                )
                label.set_in_layout(False)  # 60 labels would make the layout slow
        ax.set_xlim(-1, depth)
        # an arc's control point is 0.3 sqrt(span) above the chord; the curve reaches half of it
        spans = [pos[v][0] - pos[u][0] for u, v in net.graph.edges]
        arc = 0.15 * max(spans, default=0.0) ** 0.5
        ax.set_ylim(spread / 2 + 0.3, -spread / 2 - 0.3 - arc)
        ax.set_axis_off()
        fig.legend(
            loc="outside upper left",
            fontsize=7,
            frameon=False,
            ncols=min(5, len(set(assignment.values()))),
        )
        ax.set_title(title, loc="left")
        return figure_svg(fig, "graph")


# -- solver history ------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class HistorySeries:
    """The solver's progress while it tried K contexts (one multi-context iteration).

    Attributes:
        num_contexts: K.
        start_s, end_s: when the iteration started and ended (seconds since the search
            started; the end is the start plus the solver's wall time).
        solutions: ``(time, FPS)`` of each solution found in this iteration.
        bound: ``(time, FPS)`` the iteration's proven bound allows (an upper bound on FPS
            with at most K contexts), as it tightened, ending with the final bound.
        best_fps: the best FPS over all iterations when this one ended (``None`` if none yet).
    """

    num_contexts: int
    start_s: float
    end_s: float
    solutions: tuple[tuple[float, float], ...]
    bound: tuple[tuple[float, float], ...]
    best_fps: float | None


def history_series(
    history: Sequence[Progress], iterations: Sequence[Any], *, batch: int
) -> tuple[HistorySeries, ...]:
    """One series per iteration that ran, from the search's
    :class:`~partitioner.search.Progress` snapshots and its ``Iteration`` records (iterations
    skipped as "too many" contexts have no snapshot and are left out). The final bound of an
    iteration is ``batch / bound_s`` FPS at its end.
    """
    series = []
    for it in iterations:
        points = [p for p in history if p.iteration == it.index]
        if not points:
            continue
        start = points[0].elapsed_s
        end = max(start + it.wall_seconds, points[-1].elapsed_s)
        solutions = tuple((p.elapsed_s, p.fps) for p in points if p.fps is not None)
        bound = [(p.elapsed_s, p.bound_fps) for p in points if p.bound_fps is not None]
        if it.bound_s:
            bound.append((end, batch / it.bound_s))
        series.append(
            HistorySeries(
                num_contexts=it.num_contexts,
                start_s=start,
                end_s=end,
                solutions=solutions,
                bound=tuple(bound),
                best_fps=it.best_fps,
            )
        )
    return tuple(series)


def best_fps_steps(series: Sequence[HistorySeries]) -> tuple[tuple[float, float], ...]:
    """The best FPS so far as a step line over the whole search: a point at every solution
    that improved it, and one at the end of the last iteration.

    >>> a = HistorySeries(num_contexts=2, start_s=0.1, end_s=1.0,
    ...                   solutions=((0.2, 50.0), (0.5, 80.0)), bound=(), best_fps=80.0)
    >>> b = HistorySeries(num_contexts=3, start_s=1.0, end_s=2.0,
    ...                   solutions=((1.5, 70.0), (1.8, 90.0)), bound=(), best_fps=90.0)
    >>> best_fps_steps([a, b])
    ((0.2, 50.0), (0.5, 80.0), (1.8, 90.0), (2.0, 90.0))
    """
    steps: list[tuple[float, float]] = []
    for s in series:
        for t, fps in s.solutions:
            if not steps or fps > steps[-1][1]:
                steps.append((t, fps))
    if steps and series:
        steps.append((series[-1].end_s, steps[-1][1]))
    return tuple(steps)


def history_svg(series: Sequence[HistorySeries], *, batch: int, title: str = "") -> str:
    """Each iteration as a shaded span labelled K, its solutions (dots) and its proven bound
    (dashed steps) in the colour of K, and the best FPS so far as a black step line."""
    with _figure("history", 9.0, 3.0) as (fig, ax):
        top = max((f for s in series for _, f in (*s.solutions, *s.bound)), default=1.0)
        for s in series:
            color = context_color(s.num_contexts - 1)
            ax.axvspan(s.start_s, s.end_s, color=color, alpha=0.08, linewidth=0)
            ax.text((s.start_s + s.end_s) / 2, top * 1.12, f"K = {s.num_contexts}", ha="center")
            if s.solutions:
                ax.plot(*zip(*s.solutions, strict=True), "o", color=color, markersize=4)
            if s.bound:
                ax.step(
                    *zip(*s.bound, strict=True),
                    where="post",
                    color=color,
                    linestyle="--",
                    linewidth=1.0,
                    label=f"bound, K = {s.num_contexts}",
                )
        steps = best_fps_steps(series)
        if steps:
            ax.step(
                *zip(*steps, strict=True),
                where="post",
                color="#111111",
                linewidth=1.6,
                label="best FPS so far",
            )
        ax.set_xlim(0, max((s.end_s for s in series), default=1.0) * 1.02)
        ax.set_ylim(0, top * 1.25)
        ax.set_xlabel("time since the search started [s]")
        ax.set_ylabel(f"FPS at batch {batch}")
        if ax.get_legend_handles_labels()[0]:
            fig.legend(loc="outside right upper", fontsize=7, frameon=False)
        ax.set_title(title, loc="left")
        return figure_svg(fig, "history")


__all__ = [
    "CONTEXT_COLORS",
    "HistorySeries",
    "Segment",
    "UtilizationBar",
    "best_fps_steps",
    "context_color",
    "edge_path",
    "figure_svg",
    "graph_layout",
    "graph_svg",
    "history_series",
    "history_svg",
    "inline_svg",
    "timeline_segments",
    "timeline_svg",
    "utilization_bars",
    "utilization_svg",
]
