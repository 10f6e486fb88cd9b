"""Errors of the partitioner, on top of the one hierarchy in :mod:`cost_model.errors`.

Every class here is a :class:`CtxfitError`: the CLI prints its message as one line and exits 2.
Wrap a lower-level exception with ``raise ... from err`` so ``--debug`` shows the cause.
"""

from __future__ import annotations

from cost_model.errors import CtxfitError, HardwareSpecError, PricingError


class ModelNotFoundError(CtxfitError):
    """MODEL names no zoo entry, no file, or no factory in a file."""


class ModelImportError(CtxfitError):
    """A model could not be turned into a layer graph (bad file, failed trace, bad shape)."""


class UnsupportedOperatorError(ModelImportError):
    """The model contains an operator ctxfit cannot price; the message names op, node and line."""


class GraphError(CtxfitError):
    """A layer graph is inconsistent: a cycle, a dangling input, a duplicate name."""


class InfeasiblePartitionError(CtxfitError):
    """No partition meets the caps (or one context is required and not enough)."""


class ModelScriptError(CtxfitError):
    """A model-script (``.alls``) line is malformed; the message carries the line number."""


class UsageError(CtxfitError):
    """A command-line value is malformed (a shape string, a batch size, a range)."""


__all__ = [
    "CtxfitError",
    "GraphError",
    "HardwareSpecError",
    "InfeasiblePartitionError",
    "ModelImportError",
    "ModelNotFoundError",
    "ModelScriptError",
    "PricingError",
    "UnsupportedOperatorError",
    "UsageError",
]
