"""Per-cluster utilization tables, in the compiler's words (``ctxfit compile --clusters``).

The Dataflow Compiler prints, for every context::

    [info] context_0 utilization:
    [info] | Cluster   | Control Utilization | Compute Utilization | Memory Utilization |
    [info] | cluster_0 | 93.8%               | 25%                 | 37.5%              |
    [info] | Total     | 60.9%               | 16.4%               | 26.8%              |

Here each cell also carries the units behind the percentage (``15/16 LCUs``). The spread over
the clusters is :func:`cost_model.context.per_cluster` of the context's usage (even, the first
clusters taking one unit more; the compiler's own packing is not published). Functions build
rich renderables; the CLI prints them.

>>> from cost_model.hardware import preset
>>> from cost_model.resources import Resources
>>> cells = cluster_cells(Resources(lcus=9, subclusters=40, l3_cuts=64), preset("hailo8l"))
>>> for row in cells:
...     print(" | ".join(row))
cluster_0 | 18.8% (3/16 LCUs) | 15.6% (10/64 SCs) | 12.5% (16/128 L3 cuts)
cluster_1 | 12.5% (2/16 LCUs) | 15.6% (10/64 SCs) | 12.5% (16/128 L3 cuts)
cluster_4 | 12.5% (2/16 LCUs) | 15.6% (10/64 SCs) | 12.5% (16/128 L3 cuts)
cluster_5 | 12.5% (2/16 LCUs) | 15.6% (10/64 SCs) | 12.5% (16/128 L3 cuts)
Total | 14.1% (9/64 LCUs) | 15.6% (40/256 SCs) | 12.5% (64/512 L3 cuts)
"""

from __future__ import annotations

from typing import Any

from rich.table import Table

from cost_model.context import per_cluster
from cost_model.hardware import HardwareSpec
from cost_model.resources import Resources

SYNTHETIC_NOTE = (
    "per-cluster spread is synthetic: each context's usage split evenly over the clusters "
    "(the compiler's own packing is not published); the Total row is the modelled usage"
)
"""What ``--clusters`` prints under its tables."""

HEADERS: tuple[str, ...] = (
    "Cluster",
    "Control Utilization",
    "Compute Utilization",
    "Memory Utilization",
)
"""The compiler's column names."""


def _cell(used: int, total: int, unit: str) -> str:
    return f"{used / total:.1%} ({used}/{total} {unit})"


def cluster_cells(usage: Resources, hw: HardwareSpec) -> tuple[tuple[str, str, str, str], ...]:
    """The rows of one context's table as text: one per cluster, then ``Total`` (the whole
    chip), each cell ``percent (used/available unit)``."""
    k = hw.clusters
    per = (hw.lcus_total // k, hw.subclusters_total // k, hw.l3_cuts_total // k)
    rows = tuple(
        (
            r.cluster,
            _cell(r.lcus, per[0], "LCUs"),
            _cell(r.subclusters, per[1], "SCs"),
            _cell(r.l3_cuts, per[2], "L3 cuts"),
        )
        for r in per_cluster(usage, hw)
    )
    total = (
        "Total",
        _cell(usage.lcus, hw.lcus_total, "LCUs"),
        _cell(usage.subclusters, hw.subclusters_total, "SCs"),
        _cell(usage.l3_cuts, hw.l3_cuts_total, "L3 cuts"),
    )
    return (*rows, total)


def cluster_table(index: int, usage: Resources, hw: HardwareSpec) -> Table:
    """``context_N utilization:`` with one row per cluster and the ``Total`` row."""
    table = Table(title=f"context_{index} utilization:", title_justify="left")
    for i, header in enumerate(HEADERS):
        table.add_column(header, justify="left" if i == 0 else "right")
    cells = cluster_cells(usage, hw)
    for row in cells[:-1]:
        table.add_row(*row)
    table.add_row(*cells[-1], style="bold", end_section=True)
    return table


def cluster_tables(report: Any) -> tuple[Table, ...]:
    """One :func:`cluster_table` per context of a ``CompileReport``, at the usage reported for
    it (its resources at its rate)."""
    return tuple(cluster_table(c.index, c.usage, report.hardware) for c in report.contexts)


__all__ = ["HEADERS", "SYNTHETIC_NOTE", "cluster_cells", "cluster_table", "cluster_tables"]
