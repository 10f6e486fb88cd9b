"""``ctxfit parts``: the parts ``--hw`` takes by name: the presets and the bundled TOML files.

A bundled file (``cost_model/hardware/*.toml``) is named by its stem (``--hw rpi5_hailo8l``), no
path needed; any other TOML file is given by its path. Each row says the chip, the host link and
its payload bandwidth, and what the part is (a bundled file's first comment line).

>>> rows = part_rows()
>>> [(r.name, r.chip, r.link) for r in rows[:2]]
[('hailo8', 'hailo8', 'PCIe Gen3 x4'), ('hailo8l', 'hailo8l', 'PCIe Gen3 x2')]
>>> next(r for r in rows if r.name == "rpi5_hailo8l").part
'hailo8l-rpi5'
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from cost_model.hardware import HARDWARE_DIR, PRESETS, HardwareSpec, load_hardware

PRESET_WHAT: dict[str, str] = {
    "hailo8": "Hailo-8 M.2 M-key module (26 TOPS)",
    "hailo8l": "Hailo-8L M.2 module (13 TOPS)",
}


@dataclass(frozen=True, kw_only=True)
class PartRow:
    """One part ``--hw`` accepts by name.

    Attributes:
        name: what to pass to ``--hw``; ``part``: the part's own name (in results).
        chip: ``hailo8`` or ``hailo8l`` (the Model Zoo device it compiles as).
        link: ``PCIe GenG xL``; ``gbytes_per_s``: its payload bandwidth.
        source: ``preset`` or the bundled file's path; ``what``: a one-line description.
    """

    name: str
    part: str
    chip: str
    link: str
    gbytes_per_s: float
    source: str
    what: str


def _row(name: str, hw: HardwareSpec, source: str, what: str) -> PartRow:
    from partitioner.compile_request import chip_of

    return PartRow(
        name=name,
        part=hw.name,
        chip=chip_of(hw),
        link=hw.link.label,
        gbytes_per_s=hw.link.bytes_per_s / 1e9,
        source=source,
        what=what,
    )


def first_comment(path: Path) -> str:
    """The first ``#`` comment line of a TOML file, without the ``#`` (``""`` if none)."""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            return line.lstrip("#").strip()
        if line.strip():
            break
    return ""


def part_rows() -> tuple[PartRow, ...]:
    """The presets, then the bundled TOML files in name order."""
    rows = [_row(n, hw, "preset", PRESET_WHAT.get(n, "")) for n, hw in PRESETS.items()]
    for path in sorted(HARDWARE_DIR.glob("*.toml")):
        hw = load_hardware(path)
        source = f"cost_model/hardware/{path.name}"
        rows.append(_row(path.stem, hw, source, first_comment(path)))
    return tuple(rows)


def parts_listing(rows: tuple[PartRow, ...]) -> Table:
    """The ``ctxfit parts`` table."""
    table = Table(
        title="parts for --hw (or give any hardware TOML file by its path)",
        title_justify="left",
    )
    table.add_column("--hw", overflow="fold")
    table.add_column("part", overflow="fold")
    table.add_column("chip")
    table.add_column("link")
    table.add_column("GB/s", justify="right")
    table.add_column("what", overflow="fold")
    for r in rows:
        table.add_row(r.name, r.part, r.chip, r.link, f"{r.gbytes_per_s:.2f}", r.what)
    return table


def register(subparsers: Any) -> None:
    """Add ``parts`` to the ``ctxfit`` sub-commands."""
    parser = subparsers.add_parser(
        "parts",
        help="the parts --hw takes by name: presets and bundled TOML files, with their link",
    )
    parser.add_argument("--json", metavar="PATH|-", help="also write the list as JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, console: Console) -> int:
    """Handler of ``ctxfit parts``."""
    from dataclasses import asdict

    from partitioner.outputs import check_outputs

    check_outputs([("--json", args.json)], inputs=[])
    rows = part_rows()
    if args.json:
        from partitioner.cli import write_json

        write_json(args.json, [asdict(r) for r in rows])
        if args.json == "-":
            return 0
    console.print(parts_listing(rows))
    return 0


__all__ = ["PartRow", "first_comment", "part_rows", "parts_listing", "register", "run"]
