"""Hailo-8 / Hailo-8L cost model: pure functions over frozen dataclasses.

This package imports none of torch, onnx, ortools or networkx, and nothing from ``partitioner``.
"""

from cost_model.caps import (
    MULTI_CONTEXT_CAPS,
    SINGLE_CONTEXT_CAPS,
    ResourceCaps,
    cap_limit,
    limits,
)
from cost_model.context import (
    ClusterUtilization,
    ContextFit,
    Utilization,
    context_fit,
    standalone_failure,
)
from cost_model.errors import CtxfitError, HardwareSpecError, PricingError
from cost_model.hardware import HardwareSpec, PcieLink, load_hardware, preset
from cost_model.layer import Layer, OpKind, Precision, Shape, num_elements
from cost_model.lowering import (
    LayerCost,
    demand_matrix,
    lower_layer,
    max_layer_fps,
    price_layers,
)
from cost_model.resources import RESOURCE_NAMES, Resources
from cost_model.throughput import (
    ContextTiming,
    batch_time_s,
    energy_per_frame_j,
    fps_at_batch,
    frame_time_s,
    latency_s,
    stream_all_weights,
    switch_time_s,
)

__all__ = [
    "MULTI_CONTEXT_CAPS",
    "RESOURCE_NAMES",
    "SINGLE_CONTEXT_CAPS",
    "ClusterUtilization",
    "ContextFit",
    "ContextTiming",
    "CtxfitError",
    "HardwareSpec",
    "HardwareSpecError",
    "Layer",
    "LayerCost",
    "OpKind",
    "PcieLink",
    "Precision",
    "PricingError",
    "ResourceCaps",
    "Resources",
    "Shape",
    "Utilization",
    "batch_time_s",
    "cap_limit",
    "context_fit",
    "demand_matrix",
    "energy_per_frame_j",
    "fps_at_batch",
    "frame_time_s",
    "latency_s",
    "limits",
    "load_hardware",
    "lower_layer",
    "max_layer_fps",
    "num_elements",
    "preset",
    "price_layers",
    "standalone_failure",
    "stream_all_weights",
    "switch_time_s",
]
