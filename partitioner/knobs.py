"""The knob values and input a result was computed at, as every result shows them.

``width`` and ``depth`` are relative to the published network (1.0 is the Model Zoo's model:
``--width 0.5`` halves its channel gain, it does not set a channel count); ``resolution`` is the
input height in pixels. For a zoo model the values are the effective ones (the published value
of a knob not given); a ``file.py:factory`` shows the knobs passed to it (the others keep the
factory's own defaults); ONNX files and saved graphs have no knobs.

>>> knobs_text({"width": 0.5, "depth": 1.0, "resolution": 640}, [(1, 3, 640, 640)])
'width 0.5, depth 1, resolution 640; input 1x3x640x640'
>>> knobs_text({}, [(1, 3, 224, 224)])
'input 1x3x224x224'
>>> knobs_text({"width": None}, [])
'width default'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from partitioner.graph import Network

KNOBS = ("width", "depth", "resolution")


def model_knobs(request: Any) -> dict[str, float | int | None]:
    """The knobs of a :class:`~partitioner.models.ModelRequest`: effective values for a zoo
    model (only the knobs its family has), the values given to a factory, none for a file."""
    spec = str(request.spec)
    lower = spec.lower()
    if lower.endswith((".onnx", ".json")):
        return {}
    if ".py:" in spec or lower.endswith(".py"):
        return {k: getattr(request, k) for k in KNOBS if getattr(request, k) is not None}
    from partitioner.zoo import check_knobs

    resolution = request.resolution
    if resolution is None and request.input_shape is not None and len(request.input_shape) == 4:
        resolution = request.input_shape[2]
    entry, effective = check_knobs(
        spec, width=request.width, depth=request.depth, resolution=resolution
    )
    return {k: _plain(effective[k]) for k in KNOBS if k in entry.knobs}


def _plain(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


def input_shapes(net: Network) -> list[tuple[int, ...]]:
    """The shapes of the network's graph inputs with a batch of 1, in layer order."""
    seen: dict[str, tuple[int, ...]] = {}
    for layer in net.layers:
        for name, shape in zip(layer.inputs, layer.input_shapes, strict=False):
            if name not in net and name not in seen:
                seen[name] = (1, *shape)
    return list(seen.values())


def knobs_text(knobs: Mapping[str, Any], shapes: Sequence[Sequence[int]]) -> str:
    """``width 0.5, depth 1, resolution 640; input 1x3x640x640``."""
    parts = [f"{k} {'default' if v is None else f'{v:g}'}" for k, v in knobs.items()]
    text = ", ".join(parts)
    if shapes:
        inputs = ", ".join("x".join(str(d) for d in s) for s in shapes)
        text += ("; " if text else "") + f"input{'s' if len(shapes) > 1 else ''} {inputs}"
    return text


def precision_counts(net: Network) -> dict[str, int]:
    """How many layers run at each precision mode (``a8_w8``, ``a8_w4``, ``a16_w16``), in the
    network as compiled (after the script's precisions and compression)."""
    counts: dict[str, int] = {}
    for layer in net.layers:
        counts[layer.precision.value] = counts.get(layer.precision.value, 0) + 1
    return dict(sorted(counts.items()))


__all__ = ["KNOBS", "input_shapes", "knobs_text", "model_knobs", "precision_counts"]
