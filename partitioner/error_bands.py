"""How far ``ctxfit compile`` is typically off: the calibration's error band of a prediction.

``partitioner/data/error_bands.json`` holds, per task family and over all rows, the median and
90th percentile of |FPS error| at batch 1 and 8 and the share of single/multi verdicts right,
and (``verdict``) how often those verdicts were right by how close the single-context fit was,
measured by ``python -m benchmarks.fidelity`` against the Model Zoo's published figures
(leave-one-network-out: each network at the parameters fitted without it). That script is the
only writer of the file (``--write-bands``); this module only reads it.

A zoo network takes its family's band; any other model (ONNX, a factory, a saved graph, a zoo
name the table does not list) takes the band over all rows, and :attr:`ErrorBand.note` says so.

>>> band = band_for("yolov8n", table={"pass": "loo", "families": {
...     "all": {"rows": 10, "median_b1_pct": 20.0, "p90_b1_pct": 60.0, "median_b8_pct": 18.0,
...             "p90_b8_pct": 50.0, "single_multi_right": 0.9},
...     "detection": {"rows": 4, "median_b1_pct": 11.0, "p90_b1_pct": 30.0,
...                   "median_b8_pct": 14.0, "p90_b8_pct": 33.0, "single_multi_right": 1.0}},
...     "networks": {"yolov8n": "detection"}})
>>> band.family, band.median_pct(1), band.median_pct(8), band.p90_pct(4)
('detection', 11.0, 14.0, 33.0)
>>> band_for("my.onnx", table={"families": {"all": {"rows": 10, "median_b1_pct": 20.0,
...     "p90_b1_pct": 60.0, "median_b8_pct": 18.0, "p90_b8_pct": 50.0,
...     "single_multi_right": 0.9}}, "networks": {}}).note
'not a Model Zoo network ctxfit was measured on: the band over all rows'
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BANDS_PATH = Path(__file__).with_name("data") / "error_bands.json"
OVERALL = "all"
NOT_IN_TABLE = "not a Model Zoo network ctxfit was measured on: the band over all rows"
PASS_LABELS = {"loo": "leave-one-network-out", "insample": "in-sample"}


@dataclass(frozen=True, kw_only=True)
class ErrorBand:
    """The |FPS error| the calibration measured for one task family (or all rows).

    Attributes:
        family: the task family (``detection``...) or ``all``.
        rows: Model Zoo rows behind the figures.
        median_b1, median_b8, p90_b1, p90_b8: median and 90th percentile |FPS error| in
            percent at batch 1 and 8.
        single_multi_right: share of rows whose single/multi-context verdict was right.
        measured: how (``leave-one-network-out``), ``source``: the command and date.
        note: why this band and not the model's own family ("" for a zoo network).
    """

    family: str
    rows: int
    median_b1: float
    median_b8: float
    p90_b1: float
    p90_b8: float
    single_multi_right: float
    measured: str = ""
    source: str = ""
    note: str = ""

    def median_pct(self, batch: int) -> float:
        """Typical |FPS error| in percent: batch 1's figure at batch 1, batch 8's otherwise."""
        return self.median_b1 if batch == 1 else self.median_b8

    def p90_pct(self, batch: int) -> float:
        """90th percentile |FPS error| in percent (batch 1's at batch 1, batch 8's otherwise)."""
        return self.p90_b1 if batch == 1 else self.p90_b8

    def to_dict(self) -> dict[str, Any]:
        """The ``error_band`` block of the compile JSON."""
        return {
            "family": self.family,
            "rows": self.rows,
            "median_abs_fps_error_pct": {"1": self.median_b1, "8": self.median_b8},
            "p90_abs_fps_error_pct": {"1": self.p90_b1, "8": self.p90_b8},
            "single_multi_right": self.single_multi_right,
            "measured": self.measured,
            "source": self.source,
            "note": self.note,
        }


@dataclass(frozen=True, kw_only=True)
class VerdictBand:
    """How often the one-context-or-several verdict was right, by how close it was.

    The closeness is the single-context fit's :class:`~cost_model.context.FitMargin`: the
    deciding ``used / limit`` of the lowest demand. A verdict within ``borderline`` of 1 (e.g.
    between 0.8 and 1.2) is *borderline*; ``borderline`` is the smallest value of the fidelity
    script's grid outside which the verdicts were right on at least
    ``benchmarks.fidelity.CLEAR_VERDICT_RIGHT`` of the rows.

    Attributes:
        borderline: the half-width of the borderline band (0.2 = within 20% of the limit).
        inside_rows, inside_right: rows within it, and how many had the verdict right.
        outside_rows, outside_right: the same outside it.
        measured, source: as :class:`ErrorBand`.
    """

    borderline: float
    inside_rows: int
    inside_right: int
    outside_rows: int
    outside_right: int
    measured: str = ""
    source: str = ""

    def is_borderline(self, share: float) -> bool:
        """``share`` (used / limit) is within the band around 1.

        >>> VerdictBand(borderline=0.2, inside_rows=1, inside_right=1, outside_rows=1,
        ...             outside_right=1).is_borderline(1.15)
        True
        """
        return abs(share - 1.0) < self.borderline

    def text(self, share: float) -> str:
        """The report's verdict line for a fit at ``share``."""
        pct = f"{self.borderline:.0%}"
        if self.is_borderline(share):
            return (
                f"borderline: within {pct} of the limit; {self.inside_right} of "
                f"{self.inside_rows} Model Zoo rows this close had one context or several "
                f"right ({self.measured or 'measured'})"
            )
        return (
            f"clear: {pct} or more from the limit; {self.outside_right} of "
            f"{self.outside_rows} Model Zoo rows this far had one context or several right "
            f"({self.measured or 'measured'})"
        )

    def to_dict(self, share: float) -> dict[str, Any]:
        """The ``verdict`` block of the compile JSON for a fit at ``share``."""
        inside = self.is_borderline(share)
        return {
            "borderline": inside,
            "band": self.borderline,
            "rows": self.inside_rows if inside else self.outside_rows,
            "right": self.inside_right if inside else self.outside_right,
            "measured": self.measured,
            "source": self.source,
        }


def verdict_band(*, table: dict[str, Any] | None = None) -> VerdictBand | None:
    """The table's verdict band (``None`` without a readable table or one without it).

    >>> verdict_band(table={"pass": "loo", "verdict": {"borderline": 0.2, "inside_rows": 36,
    ...     "inside_right": 31, "outside_rows": 150, "outside_right": 149}}).text(0.93)
    'borderline: within 20% of the limit; 31 of 36 Model Zoo rows this close had one context \
or several right (leave-one-network-out)'
    """
    table = load_table() if table is None else table
    if table is None or not isinstance(table.get("verdict"), dict):
        return None
    row = table["verdict"]
    try:
        return VerdictBand(
            borderline=float(row["borderline"]),
            inside_rows=int(row["inside_rows"]),
            inside_right=int(row["inside_right"]),
            outside_rows=int(row["outside_rows"]),
            outside_right=int(row["outside_right"]),
            **_provenance(table),
        )
    except (KeyError, TypeError, ValueError):
        return None


@functools.cache
def load_table(path: Path = BANDS_PATH) -> dict[str, Any] | None:
    """The band table, or ``None`` when the file is missing or unreadable (no band is shown
    then; never an error: the band is a note on the answer, not part of it)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def band_for(zoo_name: str | None, *, table: dict[str, Any] | None = None) -> ErrorBand | None:
    """The band of a zoo network's task family, else the band over all rows (with a note);
    ``None`` without a readable table."""
    table = load_table() if table is None else table
    if table is None:
        return None
    families = table.get("families") or {}
    family = (table.get("networks") or {}).get(zoo_name) if zoo_name else None
    note = ""
    if family not in families:
        family, note = OVERALL, NOT_IN_TABLE
    try:
        return _band(family, families[family], table, note)
    except (KeyError, TypeError, ValueError):
        return None


def _provenance(table: dict[str, Any]) -> dict[str, str]:
    """``measured`` (how: ``leave-one-network-out``) and ``source`` (``command (date)``, or
    whichever of the two is known) of a band read from ``table``."""
    command, day = str(table.get("command", "")), str(table.get("date", ""))
    return {
        "measured": PASS_LABELS.get(str(table.get("pass")), str(table.get("pass", ""))),
        "source": f"{command} ({day})" if command and day else command or day,
    }


def _band(family: str, row: dict[str, Any], table: dict[str, Any], note: str) -> ErrorBand:
    return ErrorBand(
        family=family,
        rows=int(row["rows"]),
        median_b1=float(row["median_b1_pct"]),
        median_b8=float(row["median_b8_pct"]),
        p90_b1=float(row["p90_b1_pct"]),
        p90_b8=float(row["p90_b8_pct"]),
        single_multi_right=float(row["single_multi_right"]),
        **_provenance(table),
        note=note,
    )


__all__ = ["BANDS_PATH", "ErrorBand", "VerdictBand", "band_for", "load_table", "verdict_band"]
