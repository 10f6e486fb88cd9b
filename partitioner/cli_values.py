"""argparse value types for every numeric flag, from the ranges of :mod:`cost_model.ranges`.

A value is read as Hailo's parser reads numbers: plain ASCII decimals only (no ``nan``, ``inf``,
hex, underscores or non-ASCII digits), then checked against its documented range. The message
says what was given and what is accepted::

    ctxfit compile: error: argument --timeout: 'inf' must be a finite number from 0.1 to 86400 s

>>> seconds = number(TIMEOUT_S)
>>> seconds("2.5")
2.5
>>> seconds("nan")
Traceback (most recent call last):
...
argparse.ArgumentTypeError: 'nan' must be a finite number from 0.1 to 86400 s
>>> whole_number(BATCH)("٣")
Traceback (most recent call last):
...
argparse.ArgumentTypeError: '٣' is not a whole number; write ASCII digits, e.g. 8
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from cost_model.ranges import (
    BATCH,
    CAP,
    FPS,
    JOBS,
    KNOB,
    RESOLUTION,
    SEED,
    TIMEOUT_S,
    WORKERS,
    NumberRange,
    parse_fraction,
    parse_integer,
    parse_number,
)


def _show(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:60] + "...")


def number(accepted: NumberRange) -> Callable[[str], float]:
    """An argparse ``type`` reading a number in ``accepted``."""

    def parse(text: str) -> float:
        value = parse_number(text)
        if value is None:
            lowered = text.strip().lower().lstrip("+-")
            if lowered in ("nan", "inf", "infinity"):
                raise argparse.ArgumentTypeError(f"{_show(text)} must be {accepted.describe()}")
            raise argparse.ArgumentTypeError(
                f"{_show(text)} is not a number; write ASCII digits, e.g. 0.5 or 2"
            )
        problem = accepted.problem(value)
        if problem is not None:
            raise argparse.ArgumentTypeError(f"{_show(text)} {problem}")
        return value

    parse.__name__ = "number"  # argparse names the type in some messages
    return parse


def whole_number(accepted: NumberRange) -> Callable[[str], int]:
    """An argparse ``type`` reading a whole number in ``accepted``."""

    def parse(text: str) -> int:
        value = parse_integer(text)
        if value is None:
            raise argparse.ArgumentTypeError(
                f"{_show(text)} is not a whole number; write ASCII digits, e.g. 8"
            )
        problem = accepted.problem(value)
        if problem is not None:
            raise argparse.ArgumentTypeError(f"{_show(text)} {problem}")
        return value

    parse.__name__ = "whole number"
    return parse


def _cap(text: str) -> float:
    """A cap as a fraction (``0.8``) or a percentage (``80%``), as a model script writes it.

    >>> _cap("80%"), _cap("1.2")
    (0.8, 1.2)
    """
    if not text.strip().endswith("%"):
        return number(CAP)(text)
    value = parse_fraction(text.strip())
    if value is None:
        raise argparse.ArgumentTypeError(
            f"{_show(text)} is not a number; write a fraction like 0.8 or a percentage like 80%"
        )
    problem = CAP.problem(value)
    if problem is not None:
        raise argparse.ArgumentTypeError(f"{_show(text)} is {value:g}, which {problem}")
    return value


_cap.__name__ = "number"
timeout_seconds = number(TIMEOUT_S)
utilization_cap = _cap
frame_rate = number(FPS)
multiplier = number(KNOB)
batch_size = whole_number(BATCH)
seed = whole_number(SEED)
workers = whole_number(WORKERS)
jobs = whole_number(JOBS)
resolution = whole_number(RESOLUTION)

__all__ = [
    "batch_size",
    "frame_rate",
    "jobs",
    "multiplier",
    "number",
    "resolution",
    "seed",
    "timeout_seconds",
    "utilization_cap",
    "whole_number",
    "workers",
]
