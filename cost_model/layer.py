"""The layer: one node of the layer graph, as Hailo's parser would see it (after fusion).

A ``Layer`` is a frozen value: torch and ONNX objects are converted by the importers and never
travel further. Shapes are per frame, without the batch dimension, in the framework's order:
``(C, H, W)`` for feature maps, ``(N, D)`` for token sequences, ``(D,)`` for vectors.

>>> conv = Layer(name="conv1", op=OpKind.CONV, inputs=("images",),
...              input_shapes=((3, 224, 224),), output_shape=(64, 112, 112),
...              kernel=(7, 7), stride=(2, 2), params=9408, macs=118013952)
>>> conv.output_bytes           # 8-bit activations: one byte per element
802816
>>> conv.weight_bytes
9408
>>> Layer.from_dict(conv.to_dict()) == conv
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from enum import Enum
from typing import Any

Shape = tuple[int, ...]


class OpKind(str, Enum):
    """What a layer does, in the terms the cost model prices.

    Conv, batch-norm and activation are fused into one ``CONV`` layer; a standalone activation
    is ``ACTIVATION``. Reshape-like ops that move no data (view, flatten, squeeze) are not
    layers; ``TRANSPOSE`` is kept because it moves data.
    """

    CONV = "conv"
    DWCONV = "dwconv"  # depthwise: groups == input channels
    DECONV = "deconv"  # transposed convolution
    DENSE = "dense"  # fully connected / linear (weights are parameters)
    MATMUL = "matmul"  # product of two activations (attention scores, attention x values)
    MAXPOOL = "maxpool"
    AVGPOOL = "avgpool"
    GLOBAL_POOL = "global_pool"  # global average (or max) pooling, ReduceMean over space
    ADD = "add"  # elementwise add / sub
    MUL = "mul"  # elementwise mul / div between two activations
    CONCAT = "concat"
    SPLIT = "split"  # split / chunk / slice that produces parts of a tensor
    RESIZE = "resize"  # upsample / interpolate
    ACTIVATION = "activation"  # an activation that could not be fused into a producer
    SOFTMAX = "softmax"
    NORM = "norm"  # layer norm / group norm / instance norm: computes statistics
    AFFINE = "affine"  # a batch norm that could not be fused: per-channel scale and shift
    TRANSPOSE = "transpose"  # permute / transpose / pixel (un)shuffle: moves data
    PAD = "pad"  # explicit padding that could not be fused into a conv
    ARGMAX = "argmax"  # index of the largest channel per pixel: a segmentation network's end


class Precision(str, Enum):
    """Quantization mode of a layer, as ``quantization_param(..., precision_mode=...)`` names it."""

    A8_W8 = "a8_w8"
    A8_W4 = "a8_w4"
    A16_W16 = "a16_w16"

    @property
    def weight_bits(self) -> int:
        """Bits per weight."""
        return {"a8_w8": 8, "a8_w4": 4, "a16_w16": 16}[self.value]

    @property
    def activation_bits(self) -> int:
        """Bits per activation element."""
        return 16 if self is Precision.A16_W16 else 8


def num_elements(shape: Shape) -> int:
    """Number of elements of a per-frame shape.

    >>> num_elements((64, 56, 56))
    200704
    """
    return math.prod(shape)


@dataclass(frozen=True, kw_only=True)
class Layer:
    """One layer of the graph, fused as Hailo's parser fuses it.

    Attributes:
        name: unique name in the network (from the framework: ``layer4.2.conv3``).
        op: what the layer does.
        inputs: names of the tensors it reads, in operand order: a producer layer's name or a
            graph input's name. A layer that reads the same tensor twice lists it twice.
        input_shapes: per-frame shape of each input, in the same order.
        output_shape: per-frame shape of the one output tensor.
        kernel, stride, dilation: ``(h, w)`` for convolutions and pooling, ``(1, 1)`` otherwise.
        groups: convolution groups (1 for a plain conv, channels for a depthwise one).
        params: trainable parameters (weights + biases, batch-norm folded).
        macs: multiply-accumulates per frame.
        activation: name of a fused activation (``relu``, ``silu``, ...), if any.
        precision: quantization mode; 8-bit weights and activations by default.
        held_rows: rows of each input the layer holds beyond its line buffer while a parallel
            path to it catches up (a skip connection's buffer; ``()``: none). The network sets
            it from its graph (:func:`cost_model.skips.held_rows`); an importer never does.
        source: where it came from, for messages (framework op and source line).
        fused: names of the framework nodes merged into this layer.
    """

    name: str
    op: OpKind
    inputs: tuple[str, ...]
    input_shapes: tuple[Shape, ...]
    output_shape: Shape
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    params: int = 0
    macs: int = 0
    activation: str | None = None
    precision: Precision = Precision.A8_W8
    source: str = ""
    fused: tuple[str, ...] = field(default=())
    held_rows: tuple[int, ...] = field(default=())

    def __post_init__(self) -> None:
        if len(self.inputs) != len(self.input_shapes):
            raise ValueError(
                f"layer {self.name!r} lists {len(self.inputs)} inputs but "
                f"{len(self.input_shapes)} input shapes"
            )
        if self.held_rows and (len(self.held_rows) != len(self.inputs) or min(self.held_rows) < 0):
            raise ValueError(
                f"layer {self.name!r} holds rows {self.held_rows!r}: one count >= 0 per input"
            )
        if self.params < 0 or self.macs < 0:
            raise ValueError(f"layer {self.name!r} has negative params or MACs")
        if any(d <= 0 for d in self.output_shape):
            raise ValueError(f"layer {self.name!r} has an empty output shape {self.output_shape!r}")

    @property
    def output_elements(self) -> int:
        """Elements of the output tensor per frame."""
        return num_elements(self.output_shape)

    @property
    def output_bytes(self) -> int:
        """Bytes of the output tensor per frame, at the layer's activation precision."""
        return self.output_elements * self.precision.activation_bits // 8

    @property
    def input_bytes(self) -> int:
        """Bytes of all input tensors per frame, at the layer's activation precision."""
        return sum(num_elements(s) for s in self.input_shapes) * self.precision.activation_bits // 8

    @property
    def weight_bytes(self) -> int:
        """Bytes of the parameters at the layer's weight precision (rounded up)."""
        return -(-self.params * self.precision.weight_bits // 8)

    def with_precision(self, precision: Precision) -> Layer:
        """The same layer at another precision."""
        return replace(self, precision=precision)

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form for JSON (tuples become lists, enums their values)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "held_rows" and not value:
                continue  # derived by the network; left out when there is none
            if isinstance(value, Enum):
                value = value.value
            elif f.name == "input_shapes":
                value = [list(s) for s in value]
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Layer:
        """Inverse of :meth:`to_dict`. Raises ``KeyError``/``ValueError`` on malformed data."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown layer field(s) {sorted(unknown)}")

        def pair(key: str) -> tuple[int, int]:
            a, b = data.get(key, (1, 1))
            return (int(a), int(b))

        return cls(
            name=str(data["name"]),
            op=OpKind(data["op"]),
            inputs=tuple(str(i) for i in data["inputs"]),
            input_shapes=tuple(tuple(int(d) for d in s) for s in data["input_shapes"]),
            output_shape=tuple(int(d) for d in data["output_shape"]),
            kernel=pair("kernel"),
            stride=pair("stride"),
            dilation=pair("dilation"),
            groups=int(data.get("groups", 1)),
            params=int(data.get("params", 0)),
            macs=int(data.get("macs", 0)),
            activation=data.get("activation"),
            precision=Precision(data.get("precision", "a8_w8")),
            source=str(data.get("source", "")),
            fused=tuple(str(n) for n in data.get("fused", ())),
            held_rows=tuple(int(n) for n in data.get("held_rows", ())),
        )
