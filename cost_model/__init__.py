"""Hailo-8 / Hailo-8L cost model: pure functions over frozen dataclasses.

This package imports none of torch, onnx, ortools or networkx, and nothing from ``partitioner``.
"""

from cost_model.errors import CtxfitError, HardwareSpecError, PricingError
from cost_model.layer import Layer, OpKind, Precision, Shape, num_elements

__all__ = [
    "CtxfitError",
    "HardwareSpecError",
    "Layer",
    "OpKind",
    "Precision",
    "PricingError",
    "Shape",
    "num_elements",
]
