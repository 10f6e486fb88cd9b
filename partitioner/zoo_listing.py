"""The ``ctxfit zoo`` listing as one compact table that stays whole at 80 columns: numbers and
input shapes never wrap nor shorten; names and tasks wrap; below :data:`WIDE` columns the source
family and aliases are left out (``ctxfit zoo --json -`` has them).

>>> knob_letters(("width", "depth", "resolution")), knob_letters(("width", "resolution"))
('w d r', 'w r')
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.table import Table

from partitioner.parts_summary import add_number_column, compact_table
from partitioner.report import fmt_count, fmt_shape, source_family

WIDE = 120
"""Terminal width from which the listing also shows the source family and the aliases."""


def knob_letters(knobs: Sequence[str]) -> str:
    """``w d r``: the knobs a family has, one letter each."""
    return " ".join(k[0] for k in knobs) or "-"


def zoo_listing(entries: Sequence[Any], *, width: int = WIDE) -> Table:
    """One row per zoo entry: name, task, default input, published params and GMACs, knobs
    (``w`` width, ``d`` depth, ``r`` resolution) and, on a terminal of at least :data:`WIDE`
    columns, the source family and aliases."""
    wide = width >= WIDE
    caption = (
        "knobs: w = width, d = depth (multipliers of the published model), r = resolution "
        "(input height); input: the Model Zoo's C x H x W"
    )
    if not wide:
        caption += f"; source and aliases: `ctxfit zoo --json -` or {WIDE} columns"
    table = compact_table("ctxfit reference zoo", caption=caption)
    table.add_column("model", overflow="fold", ratio=3)
    table.add_column("task", overflow="fold", ratio=2)
    table.add_column("input", no_wrap=True)
    add_number_column(table, "params")
    add_number_column(table, "GMACs")
    table.add_column("knobs", no_wrap=True)
    if wide:
        table.add_column("source", overflow="fold", ratio=2)
        table.add_column("aliases", overflow="fold", ratio=2)
    for e in entries:
        cells = [
            e.name,
            e.task,
            fmt_shape(e.input_chw),
            fmt_count(e.published_params) if e.published_params else "-",
            f"{e.published_macs / 1e9:.2f}" if e.published_macs else "-",
            knob_letters(e.knobs),
        ]
        if wide:
            cells += [source_family(e), ", ".join(e.aliases) or "-"]
        table.add_row(*cells)
    return table


__all__ = ["knob_letters", "zoo_listing"]
