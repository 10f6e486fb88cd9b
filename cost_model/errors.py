"""The one error hierarchy of ctxfit.

It lives in ``cost_model`` because ``cost_model`` may import nothing from ``partitioner``;
``partitioner.errors`` re-exports every class here and adds the import and partitioning errors.
Every message says what was wrong, which thing, the limit, and what to do about it.
"""

from __future__ import annotations


class CtxfitError(Exception):
    """Base of every error ctxfit reports to a user (the CLI prints it as one line, exit 2)."""


class HardwareSpecError(CtxfitError):
    """A hardware preset name or a hardware TOML file is unknown or malformed."""


class PricingError(CtxfitError):
    """A layer cannot be priced: an op kind with no cost rule, or a shape the rule cannot read."""
