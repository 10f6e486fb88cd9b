"""The accepted range of every number a user gives ctxfit, and the one check of it.

The same :class:`NumberRange` checks a command-line flag (``--timeout``), a model-script value
(``allocator_param(timeout=...)``) and a hardware-file key (``clock_hz``): each number must be
finite (no NaN, no infinity) and inside its documented range, and an integer must be a whole
number. Each caller wraps :meth:`NumberRange.problem` into its own error, naming where the value
came from: ``hardware file 'x.toml': clock_hz = nan must be a finite number from 1e+06 to
1e+10 Hz``.

The ranges are wide enough for any real part or run and narrow enough that no value in them
makes the cost model or the solver overflow, hang or print ``nan``.

>>> TIMEOUT_S.problem(float("nan"))
'must be a finite number from 0.1 to 86400 s'
>>> TIMEOUT_S.problem(600.0) is None
True
>>> HARDWARE_RANGES["lcus_total"].problem(10**30)
'must be a whole number from 1 to 1000000'
>>> parse_number("٣") is None, parse_number("0x10") is None, parse_number("1e3")
(True, True, 1000.0)
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)
_INTEGER = re.compile(r"[+-]?[0-9]+", re.ASCII)
MAX_DIGITS = 400
"""Longer number strings are not numbers anyone means (and Python refuses to convert an integer
of more than 4300 digits)."""


def parse_number(text: str) -> float | None:
    """``text`` as a float when it is a plain ASCII decimal number (``0.8``, ``-2``, ``1e-3``),
    else ``None``: no ``nan``/``inf`` words, hex, underscores, spaces or non-ASCII digits (Hailo's
    parser takes none of them). The value may still be infinite (``1e999``); ranges reject it."""
    if len(text) > MAX_DIGITS or not _NUMBER.fullmatch(text):
        return None
    return float(text)


def parse_fraction(text: str) -> float | None:
    """A share as a model script writes it, ``0.8`` or ``80%``, as a fraction; ``None`` when the
    number is not one :func:`parse_number` takes.

    >>> parse_fraction("80%"), parse_fraction("1.2"), parse_fraction("x%")
    (0.8, 1.2, None)
    """
    percent = text.endswith("%")
    number = parse_number(text[:-1] if percent else text)
    return None if number is None else number / 100.0 if percent else number


def parse_integer(text: str) -> int | None:
    """``text`` as an int when it is a plain ASCII whole number (``8``, ``-1``), else ``None``."""
    if len(text) > MAX_DIGITS or not _INTEGER.fullmatch(text):
        return None
    return int(text)


def _fmt(x: float) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


@dataclass(frozen=True, kw_only=True)
class NumberRange:
    """A closed range ``[low, high]`` (``low`` excluded when ``low_open``), in ``unit``.

    ``integer`` ranges accept only whole numbers (a bool is never a number).
    """

    low: float
    high: float
    low_open: bool = False
    integer: bool = False
    unit: str = ""

    def describe(self) -> str:
        """``a finite number from 0.1 to 86400 s``, ``a whole number from 1 to 63``, ``a finite
        number > 0 and <= 1``."""
        unit = f" {self.unit}" if self.unit else ""
        kind = "a whole number" if self.integer else "a finite number"
        if self.low_open:
            return f"{kind} > {_fmt(self.low)} and <= {_fmt(self.high)}{unit}"
        return f"{kind} from {_fmt(self.low)} to {_fmt(self.high)}{unit}"

    def contains(self, value: object) -> bool:
        """True when ``value`` is a number of the right kind inside the range."""
        return self.problem(value) is None

    def problem(self, value: object) -> str | None:
        """``None`` when ``value`` is accepted, else ``"must be <describe()>"``."""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"must be {self.describe()}"
        if self.integer and not isinstance(value, int):
            return f"must be {self.describe()}"
        if isinstance(value, float) and not math.isfinite(value):
            return f"must be {self.describe()}"
        below = value <= self.low if self.low_open else value < self.low
        if below or value > self.high:
            return f"must be {self.describe()}"
        return None


def whole(low: int, high: int, unit: str = "") -> NumberRange:
    """A range of whole numbers."""
    return NumberRange(low=low, high=high, integer=True, unit=unit)


def fraction() -> NumberRange:
    """``(0, 1]``: an efficiency or a share."""
    return NumberRange(low=0.0, high=1.0, low_open=True)


# -- the command line and model scripts ----------------------------------------------------------
TIMEOUT_S = NumberRange(low=0.1, high=86_400.0, unit="s")
"""``--timeout``, ``--iteration-timeout``, ``allocator_param(timeout=...)``: 0.1 s to one day.
A budget under a second returns the first partition found (or none): see the README."""
CAP = NumberRange(low=0.05, high=1.5)
"""A utilization cap (``--max-utilization``, ``resources_param``): 5% to 150% of each resource.
Caps above 1.0 are legal (the compiler prints ``142/154 LCUs``: it may place more than the
nominal total, e.g. by time-sharing controllers); the Model Zoo's scripts never go above 1.2.
``resources_param(max_utilization=0.0)`` means "not set" (the Model Zoo writes it)."""
FPS = NumberRange(low=0.0, high=1e7, low_open=True, unit="FPS")
"""``--target-fps``, ``performance_param(fps=...)``: any positive frame rate up to 10 million."""
SEED = whole(0, 2**31 - 1)
"""``--seed``: CP-SAT's seed is a 32-bit integer."""
WORKERS = whole(1, 256)
"""``--workers``: CP-SAT workers."""
JOBS = whole(1, 1024)
"""``sweep --jobs``: parallel processes."""
BATCH = whole(1, 63)
"""``--batch``, ``--optimize-for-batch``, ``optimize_for_batch``: hailort's batch sizes."""
KNOB = NumberRange(low=0.0, high=100.0, low_open=True)
"""``--width``, ``--depth``: a multiplier (the zoo narrows it to each family's range)."""
RESOLUTION = whole(1, 100_000, "px")
"""``--resolution``: input side in pixels (the zoo narrows it to each family's range)."""

# -- hardware files (HardwareSpec fields; PcieLink under "link.") --------------------------------
COUNT = whole(1, 1_000_000)
"""A resource total or per-node limit: Hailo-8 has 1024 L3 cuts; a million leaves room for any
part and keeps the solver's integers small."""
OPTIONAL_COUNT = whole(0, 1_000_000)
HARDWARE_RANGES: dict[str, NumberRange] = {
    "clusters": whole(1, 64),
    "lcus_total": COUNT,
    "subclusters_total": COUNT,
    "l3_cuts_total": COUNT,
    "l3_cut_bytes": whole(1, 2**24, "bytes"),
    "apus_total": COUNT,
    "input_aligners_total": COUNT,
    "l4_cuts_total": COUNT,
    "edge_layers_per_context": whole(1, 1024),
    "clock_hz": NumberRange(low=1e6, high=1e10, unit="Hz"),
    "macs_per_sc_per_cycle": whole(1, 65_536),
    "max_subclusters_per_node": COUNT,
    "pcie_pj_per_byte": NumberRange(low=0.0, high=1e6, unit="pJ"),
    "compute_efficiency": fraction(),
    "dwconv_efficiency": fraction(),
    "dwconv_kernel_exponent": NumberRange(low=0.0, high=1.0),
    "matmul_efficiency": fraction(),
    "elements_per_sc_per_cycle": NumberRange(low=0.0, high=1e4, low_open=True),
    "min_channels_per_node": COUNT,
    "max_nodes_per_layer": COUNT,
    "line_buffer_extra_rows": OPTIONAL_COUNT,
    "lcus_per_node": OPTIONAL_COUNT,
    "apus_per_node": OPTIONAL_COUNT,
    "input_aligners_per_node": OPTIONAL_COUNT,
    "shortcut_nodes": OPTIONAL_COUNT,
    "sc_cycles_per_row": NumberRange(low=0.0, high=1e9),
    "combiner_subclusters": OPTIONAL_COUNT,
    "shortcut_subclusters": OPTIONAL_COUNT,
    "config_bytes_per_node": whole(0, 2**30, "bytes"),
    "context_switch_overhead_s": NumberRange(low=0.0, high=10.0, unit="s"),
    "pipeline_fill_frames": NumberRange(low=0.0, high=1000.0),
    "pcie_row_overhead_s": NumberRange(low=0.0, high=1.0, unit="s"),
    "pcie_transfer_overhead_s": NumberRange(low=0.0, high=1.0, unit="s"),  # a field on main
    "pcie_out_row_overhead_s": NumberRange(low=0.0, high=1.0, unit="s"),
    "compute_pj_per_mac": NumberRange(low=0.0, high=1e6, unit="pJ"),
    "typical_power_w": NumberRange(low=0.0, high=1e4, unit="W"),
    "static_power_w": NumberRange(low=0.0, high=1e4, unit="W"),
    "link.efficiency": fraction(),
    "link.bytes_per_s": NumberRange(low=1e6, high=1e12, unit="bytes/s"),
}
"""Every numeric key of a hardware TOML file. ``link.generation`` and ``link.lanes`` are checked
against the known PCIe generations and lane counts; ``cluster_ids`` must be distinct numbers
from 0 to ``MAX_CLUSTER_ID``, one per cluster."""
MAX_CLUSTER_ID = 255

__all__ = [
    "BATCH",
    "CAP",
    "COUNT",
    "FPS",
    "HARDWARE_RANGES",
    "JOBS",
    "KNOB",
    "MAX_CLUSTER_ID",
    "NumberRange",
    "OPTIONAL_COUNT",
    "RESOLUTION",
    "SEED",
    "TIMEOUT_S",
    "WORKERS",
    "fraction",
    "parse_integer",
    "parse_number",
    "whole",
]
