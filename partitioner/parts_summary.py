"""One model on several parts: one summary row per part (``ctxfit compile MODEL --hw A B ...``).

A row carries what a user compares across parts: the link, the contexts, FPS at each batch, the
latency at batch 1, the binding resource and the solver's status and gap. The binding resource
is :func:`headline_binding`: for one context, what stops its rate rising (a resource, ``layer``
at its split limit, or ``pcie``); for several, the resource furthest over its single-context
limit (what keeps the network from one context). ``ctxfit sweep`` records the same.

Functions build rich renderables; the CLI prints them.

>>> SHORT_BINDING["l3_cuts"], SHORT_BINDING["lcus"]
('Memory', 'Control')
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich import box
from rich.table import Table

from partitioner.search_types import gap_text
from partitioner.user_text import text


@dataclass(frozen=True, kw_only=True)
class PartFailure:
    """A part on which the compile failed: the part (a ``HardwareSpec``) and the message."""

    hardware: Any
    error: str


def headline_binding(report: Any) -> str:
    """The binding resource of a ``CompileReport`` as a key of
    :data:`~partitioner.html_labels.BINDING_LABELS` (``""`` when the search reports none)."""
    if report.single_context:
        return str(report.contexts[0].binding)
    over = report.search.single_fit.over
    if not over:
        return ""
    return str(max(over, key=lambda o: o[1] / max(o[2], 1))[0])


SHORT_BINDING: dict[str, str] = {
    "lcus": "Control",
    "subclusters": "Compute",
    "l3_cuts": "Memory",
    "apus": "APUs",
    "input_aligners": "IAs",
    "layer": "layer",
    "pcie": "PCIe",
    "reload": "reload",
    "target": "target",
}
"""The binding resource in one word, for the compact tables (the profiler's column names)."""


def compact_table(title: str, caption: str | None = None) -> Table:
    """A table that fits 80 columns: a rule under the header, no outer edges, one space
    between columns. Add number columns with :func:`add_number_column` (never cut) and text
    columns with ``overflow="fold"`` (wrapped)."""
    return Table(
        title=text(title),
        title_justify="left",
        caption=caption,
        caption_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        padding=(0, 0),
    )


def add_number_column(table: Table, header: str) -> None:
    """A right-aligned column whose cells never wrap nor shorten (the text columns give way)."""
    table.add_column(header, justify="right", no_wrap=True)


def parts_table(reports: Sequence[Any], *, model: str) -> Table:
    """One row per ``CompileReport`` (one per part): part, link, contexts, FPS at each batch,
    latency at batch 1, binding resource, solver status and gap; a :class:`PartFailure` is a
    ``failed`` row. Units are in the headers, so
    that the numbers stay whole at 80 columns."""
    batches = sorted({b for r in reports if not isinstance(r, PartFailure) for b in r.fps})
    table = compact_table(
        f"{model} on {len(reports)} parts",
        caption="FPS: the whole network's, at each batch size; binding: what limits the one "
        "context's rate, or for several contexts the resource furthest over one context's "
        "limit; gap: the solver's proven distance to the optimum",
    )
    table.add_column("part", overflow="fold")  # the one column that wraps
    table.add_column("link", no_wrap=True)
    add_number_column(table, "contexts")
    for b in batches:
        add_number_column(table, f"FPS\nbatch {b}")
    add_number_column(table, "latency\nms")
    table.add_column("binding", no_wrap=True)
    table.add_column("solver", no_wrap=True)
    add_number_column(table, "gap")
    for r in reports:
        link = r.hardware.link
        if isinstance(r, PartFailure):
            table.add_row(
                text(r.hardware.name),
                f"Gen{link.generation} x{link.lanes}",
                *["-"] * (3 + len(batches)),
                "failed",
                "-",
            )
            continue
        binding = headline_binding(r)
        table.add_row(
            text(r.hardware.name),
            f"Gen{link.generation} x{link.lanes}",
            str(r.num_contexts),
            *(f"{r.fps[b]:,.1f}" if b in r.fps else "-" for b in batches),
            f"{r.latency_ms:.2f}",
            SHORT_BINDING.get(binding, binding) or "-",
            r.search.status,
            gap_text(r.search.gap),
        )
    return table


__all__ = [
    "SHORT_BINDING",
    "PartFailure",
    "add_number_column",
    "compact_table",
    "headline_binding",
    "parts_table",
]
