"""Renderables for the terminal: functions build rich objects, printing happens in the CLI.

Numbers carry units; names follow the compiler's vocabulary (context, LCU, subcluster, cut).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.table import Table

from partitioner.graph import Network


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


def zoo_table(entries: Sequence[Any]) -> Table:
    """The ``ctxfit zoo`` listing: name, task, default input, published params and GMACs."""
    table = Table(title="ctxfit reference zoo", title_justify="left")
    table.add_column("model")
    table.add_column("task")
    table.add_column("input (CxHxW)")
    table.add_column("params", justify="right")
    table.add_column("GMACs", justify="right")
    table.add_column("knobs")
    table.add_column("aliases")
    for e in entries:
        table.add_row(
            e.name,
            e.task,
            fmt_shape(e.input_chw),
            fmt_count(e.published_params) if e.published_params else "-",
            f"{e.published_macs / 1e9:.2f}" if e.published_macs else "-",
            ", ".join(e.knobs) or "-",
            ", ".join(e.aliases) or "-",
        )
    return table


def profile_table(net: Network, extra: dict[str, Sequence[str]] | None = None) -> Table:
    """One row per layer (name, op, output shape, params, MACs, output bytes) and a total row.

    ``extra`` adds columns (name -> one string per layer, in topological order), used by
    ``--hw`` for the per-layer resources.
    """
    extra = extra or {}
    table = Table(title=f"{net.name}: {len(net)} layers", title_justify="left", show_footer=True)
    table.add_column("#", justify="right", footer="")
    table.add_column("layer", footer="total")
    table.add_column("op")
    table.add_column("output", footer="")
    table.add_column("params", justify="right", footer=fmt_count(net.total_params))
    table.add_column("MACs", justify="right", footer=fmt_count(net.total_macs))
    table.add_column(
        "out bytes",
        justify="right",
        footer=fmt_bytes(sum(layer.output_bytes for layer in net.layers)),
    )
    for name in extra:
        table.add_column(name, justify="right")
    columns = list(extra.values())
    for i, layer in enumerate(net.layers):
        op = layer.op.value + (f"+{layer.activation}" if layer.activation else "")
        if layer.precision.value != "a8_w8":
            op += f" [{layer.precision.value}]"
        table.add_row(
            str(i),
            layer.name,
            op,
            fmt_shape(layer.output_shape),
            fmt_count(layer.params),
            fmt_count(layer.macs),
            fmt_bytes(layer.output_bytes),
            *(col[i] for col in columns),
        )
    return table
