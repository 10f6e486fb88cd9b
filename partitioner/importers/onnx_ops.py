"""Map ONNX nodes to :class:`~partitioner.importers.builder.GraphBuilder` primitives.

One small handler per op type, registered in :data:`HANDLERS`. A handler reads its operands
(:class:`Act` for activations, :class:`Const` for constants) and calls the builder, which does
the Hailo-style fusion (conv + batch norm + activation, activation decompositions, views,
transposes; see :mod:`partitioner.importers.builder`).

Shapes: ONNX tensors carry the batch; :class:`Act` keeps the full shape and where the batch
axis is (``None`` once a reshape has merged it away), and hands the builder the per-frame
shape (the full shape without the batch axis).

Mapping rules worth knowing:

- ``MatMul`` / ``Gemm`` with a constant operand is a dense layer (its weight and bias are the
  params); of two activations, an attention matmul.
- ``Add``/``Sub``/``Mul``/``Div`` of two activations is an ``ADD``/``MUL`` layer; with a
  constant it is folded into the producer (a bias, a scale), except a learned constant as large
  as the activation (a position embedding), which makes a layer holding those params.
- ``Split``, ``Slice`` and ``Gather`` (a constant index) are ``SPLIT`` layers; the builder merges
  the splits of one tensor into one (an exporter writes ``chunk(2)`` as two slices).
- ``Reshape``, ``Flatten``, ``Squeeze``, ``Unsqueeze``, ``Identity``, ``Dropout``, ``Cast`` and
  a ``Resize``/``Expand``/``Pad`` that changes nothing are views (no layer).
- A ``LayerNormalization`` op, or its decomposition (``ReduceMean``, ``Sub``, ``Pow``,
  ``ReduceMean``, ``Add``, ``Sqrt``, ``Div``, then the affine ``Mul``/``Add``), is one ``NORM``
  layer; so is the RMS-norm decomposition (no mean subtracted).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from onnx import NodeProto

from cost_model.layer import OpKind, Shape
from partitioner.errors import ModelImportError
from partitioner.importers.builder import GraphBuilder, TensorRef
from partitioner.importers.onnx_graph import OnnxGraph


@dataclass(frozen=True)
class Act:
    """An activation: the builder's ref, the full ONNX shape and the batch axis in it."""

    ref: TensorRef
    shape: Shape
    batch: int | None


@dataclass(frozen=True)
class Const:
    """A constant: its full shape (if known), the parameters it carries, its value if known."""

    shape: Shape | None
    params: int
    value: np.ndarray | None = None


Operand = Act | Const | None
Batch = int | None | Literal["auto"]  # "auto": the default rule of :meth:`Call.batch`


class Unsupported(Exception):
    """A handler cannot map this use of its op (the message says why)."""


def drop_axis(shape: Shape, axis: int | None) -> Shape:
    """``shape`` without ``axis`` (the per-frame shape).

    >>> drop_axis((1, 64, 80, 80), 0), drop_axis((3, 1, 8), 1), drop_axis((5, 7), None)
    ((64, 80, 80), (3, 8), (5, 7))
    """
    return shape if axis is None else shape[:axis] + shape[axis + 1 :]


def reshaped_batch(src: Shape, batch: int | None, out: Shape) -> int | None:
    """Where the batch axis lands after a reshape: the first size-1 out axis whose leading
    elements equal those before the batch in ``src``; None if the reshape merged it away.

    >>> reshaped_batch((1, 255, 20, 20), 0, (1, 3, 85, 20, 20))
    0
    >>> reshaped_batch((3, 1, 4), 1, (3, 1, 2, 2)), reshaped_batch((1, 64, 49), 0, (64, 49))
    (1, None)
    """
    if batch is None:
        return None
    lead = math.prod(src[:batch])
    for axis, dim in enumerate(out):
        if math.prod(out[:axis]) == lead and dim == 1:
            return axis
        if math.prod(out[:axis]) > lead:
            break
    return None


def _shifted_batch(main: Act, out: Shape) -> int | None:
    """Default rule: the batch keeps its place, shifted by any rank the op added in front."""
    if main.batch is None:
        return None
    axis = main.batch + len(out) - len(main.shape)
    return axis if 0 <= axis < len(out) and out[axis] == 1 else None


@dataclass
class Call:
    """One node being mapped: its operands, output shapes and the builder."""

    node: NodeProto
    label: str
    op: str
    ins: list[Operand]
    out_shapes: list[Shape | None]
    b: GraphBuilder
    attrs: dict[str, Any]

    @property
    def source(self) -> str:
        return f"onnx {self.op} node {self.label!r}"

    def act(self, index: int = 0) -> Act:
        value = self.ins[index] if index < len(self.ins) else None
        if not isinstance(value, Act):
            raise Unsupported(f"its input {index} is not an activation")
        return value

    def const(self, index: int) -> Const | None:
        value = self.ins[index] if index < len(self.ins) else None
        if isinstance(value, Act):
            raise Unsupported(f"its input {index} is an activation, not a constant")
        return value

    def weight(self, index: int) -> Const:
        value = self.const(index)
        if value is None or value.shape is None:
            raise Unsupported(f"its weight (input {index}) has no known shape")
        return value

    def acts(self) -> list[Act]:
        return [v for v in self.ins if isinstance(v, Act)]

    def const_params(self) -> int:
        return sum(v.params for v in self.ins if isinstance(v, Const))

    def full(self, k: int = 0) -> Shape:
        shape = self.out_shapes[k] if k < len(self.out_shapes) else None
        if shape is None:
            name = self.node.output[k] if k < len(self.node.output) else "?"
            raise ModelImportError(
                f"while importing node {self.label!r} ({self.op}): ONNX shape inference could "
                f"not determine the shape of its output {name!r}; pass --input-shape with "
                "every dim, or cut the graph before this node with --end-nodes"
            )
        return shape

    def batch(self, k: int = 0) -> int | None:
        """Default batch axis of output ``k``: the first activation operand's, shifted by the
        rank the op added (None once the batch is gone)."""
        main = next(iter(self.acts()), None)
        return None if main is None else _shifted_batch(main, self.full(k))

    def frame(self, k: int = 0, batch: Batch = "auto") -> Shape:
        """Per-frame shape of output ``k`` (its full shape without the batch axis)."""
        return drop_axis(self.full(k), self.batch(k) if batch == "auto" else batch)

    def emit(self, ref: TensorRef, k: int = 0, batch: Batch = "auto") -> Act:
        """Output ``k`` as an activation produced by the builder's ``ref``."""
        return Act(ref=ref, shape=self.full(k), batch=self.batch(k) if batch == "auto" else batch)

    def view(self, k: int = 0, batch: Batch = "auto") -> Act:
        src = self.act(0)
        return self.emit(self.b.view(src.ref, self.frame(k, batch)), k, batch)

    def layer(self, op: OpKind, srcs: Sequence[Act], **kwargs: Any) -> Act:
        ref = self.b.layer(
            self.label,
            op,
            [s.ref for s in srcs],
            out_shape=self.frame(),
            source=self.source,
            **kwargs,
        )
        return self.emit(ref)


Handler = Callable[[Call], "Act | Const | list[Operand]"]
HANDLERS: dict[str, Handler] = {}


def _register(*ops: str) -> Callable[[Handler], Handler]:
    def add(handler: Handler) -> Handler:
        for op in ops:
            HANDLERS[op] = handler
        return handler

    return add


def generic_layer(c: Call) -> list[Operand]:
    """An op ctxfit has no rule for, priced as an elementwise layer (``--allow-unknown``):
    one ``ADD`` layer over its activation operands; further outputs are views of it."""
    acts = c.acts()
    shapes = [s if s is not None else acts[0].shape for s in c.out_shapes] or [acts[0].shape]
    c.out_shapes = list(shapes)
    ref = c.b.layer(
        c.label,
        OpKind.ADD,
        [a.ref for a in acts],
        out_shape=c.frame(0),
        params=c.const_params(),
        source=c.source + " (unknown op, priced as elementwise)",
    )
    outs: list[Operand] = [c.emit(ref, 0)]
    for k in range(1, len(c.node.output)):
        outs.append(c.emit(c.b.view(ref, c.frame(k)), k))
    return outs


# -- layers with weights -------------------------------------------------------------------------
@_register("Conv", "ConvTranspose")
def _conv(c: Call) -> Act:
    x, w = c.act(0), c.weight(1)
    bias = c.const(2) if len(c.ins) > 2 else None
    assert w.shape is not None
    ref = c.b.conv(
        c.label,
        x.ref,
        out_shape=c.frame(),
        kernel=w.shape[2:] or (1,),
        stride=c.attrs.get("strides", 1),
        dilation=c.attrs.get("dilations", 1),
        groups=int(c.attrs.get("group", 1)),
        params=w.params + (bias.params if bias is not None else 0),
        transposed=c.op == "ConvTranspose",
        source=c.source,
    )
    return c.emit(ref)


@_register("Gemm")
def _gemm(c: Call) -> Act:
    if c.attrs.get("transA", 0):
        raise Unsupported("transA=1 (the activation is transposed)")
    if len(c.acts()) == 2:
        return _matmul(c)
    weight, bias = c.weight(1), c.const(2) if len(c.ins) > 2 else None
    params = weight.params + (bias.params if bias is not None else 0)
    ref = c.b.dense(c.label, c.act(0).ref, out_shape=c.frame(), params=params, source=c.source)
    return c.emit(ref)


@_register("MatMul")
def _matmul(c: Call) -> Act:
    a, b = c.ins[0], c.ins[1]
    if isinstance(a, Act) and isinstance(b, Act):
        ref = c.b.matmul(c.label, a.ref, b.ref, out_shape=c.frame(), source=c.source)
        return c.emit(ref)
    if isinstance(a, Act) and isinstance(b, Const):
        ref = c.b.dense(c.label, a.ref, out_shape=c.frame(), params=b.params, source=c.source)
        return c.emit(ref)
    raise Unsupported("a constant matrix times an activation")


@_register("BatchNormalization")
def _batch_norm(c: Call) -> Act:
    params = sum(v.params for v in c.ins[1:3] if isinstance(v, Const))
    return c.emit(c.b.batch_norm(c.label, c.act(0).ref, params=params, source=c.source))


@_register(
    "LayerNormalization",
    "GroupNormalization",
    "InstanceNormalization",
    "LpNormalization",
    "MeanVarianceNormalization",
    "SimplifiedLayerNormalization",
)
def _norm(c: Call) -> Act:
    return c.layer(OpKind.NORM, [c.act(0)], params=c.const_params())


# -- activations ---------------------------------------------------------------------------------
_ACTIVATIONS = {
    "Relu": "relu",
    "LeakyRelu": "leaky_relu",
    "Sigmoid": "sigmoid",
    "HardSigmoid": "hardsigmoid",
    "HardSwish": "hardswish",
    "Tanh": "tanh",
    "Elu": "elu",
    "Selu": "selu",
    "Celu": "celu",
    "Gelu": "gelu",
    "FastGelu": "gelu",
    "Mish": "mish",
    "Softplus": "softplus",
    "Softsign": "softsign",
    "ThresholdedRelu": "thresholded_relu",
    "Erf": "erf",
    "Exp": "exp",
    "Log": "log",
    "Sqrt": "sqrt",
    "Reciprocal": "reciprocal",
    "Abs": "abs",
    "Sin": "sin",
    "Cos": "cos",
    "Floor": "floor",
    "Ceil": "ceil",
    "Round": "round",
    "Sign": "sign",
}


@_register(*_ACTIVATIONS)
def _activation(c: Call) -> Act:
    function = _ACTIVATIONS[c.op]
    return c.emit(c.b.activation(c.label, c.act(0).ref, function, source=c.source))


@_register("Clip")
def _clip(c: Call) -> Act:
    low = c.attrs.get("min", _scalar(c.ins[1]) if len(c.ins) > 1 else None)
    high = c.attrs.get("max", _scalar(c.ins[2]) if len(c.ins) > 2 else None)
    function = (
        "relu6" if (low, high) == (0.0, 6.0) else "relu" if (low == 0 and high is None) else "clip"
    )
    return c.emit(c.b.activation(c.label, c.act(0).ref, function, source=c.source))


@_register("PRelu")
def _prelu(c: Call) -> Act:
    slope = c.const(1)
    params = slope.params if slope is not None else 0
    return c.emit(c.b.activation(c.label, c.act(0).ref, "prelu", params=params, source=c.source))


def _scalar(value: Operand) -> float | None:
    if isinstance(value, Const) and value.value is not None and value.value.size == 1:
        return float(value.value.reshape(-1)[0])
    return None


@_register("Neg")
def _neg(c: Call) -> Act:
    return c.emit(c.b.affine(c.label, c.act(0).ref, source=c.source))


@_register("Pow")
def _pow(c: Call) -> Act:
    base, exponent = c.ins[0], c.ins[1]
    if isinstance(base, Act) and not isinstance(exponent, Act):
        return c.emit(c.b.activation(c.label, base.ref, "pow", source=c.source))
    if isinstance(exponent, Act) and not isinstance(base, Act):
        c.ins = [exponent, base]
        return c.emit(c.b.activation(c.label, exponent.ref, "exp", source=c.source))
    raise Unsupported("a tensor raised to a tensor power")


# -- elementwise arithmetic ----------------------------------------------------------------------
_ARITH = {"Add": OpKind.ADD, "Sub": OpKind.ADD, "Mul": OpKind.MUL, "Div": OpKind.MUL}


@_register(*_ARITH)
def _arith(c: Call) -> Act:
    op = _ARITH[c.op]
    acts = c.acts()
    if len(acts) == 2:
        ref = c.b.elementwise(
            c.label, op, [a.ref for a in acts], out_shape=c.frame(), source=c.source
        )
        return c.emit(ref)
    (act,) = acts
    other = c.ins[1] if c.ins[0] is act else c.ins[0]
    if c.op == "Div" and c.ins[1] is act:  # constant / x
        return c.emit(c.b.activation(c.label, act.ref, "reciprocal", source=c.source))
    const = other if isinstance(other, Const) else Const(shape=None, params=0)
    size = math.prod(const.shape) if const.shape is not None else 0
    if const.params and size >= math.prod(act.ref.shape):
        ref = c.b.elementwise(
            c.label, op, [act.ref], out_shape=c.frame(), params=const.params, source=c.source
        )
        return c.emit(ref)
    ref = c.b.affine(c.label, act.ref, out_shape=c.frame(), params=const.params, source=c.source)
    return c.emit(ref)


# -- layers without weights ----------------------------------------------------------------------
@_register("Softmax", "LogSoftmax", "Hardmax")
def _softmax(c: Call) -> Act:
    return c.layer(OpKind.SOFTMAX, [c.act(0)])


@_register("ArgMax")
def _argmax(c: Call) -> Act:
    """Hailo's on-chip argmax: over the channels of a ``(C, H, W)`` feature map (a segmentation
    network's class scores), one class index per pixel."""
    x = c.act(0)
    axis = int(c.attrs.get("axis", 0)) % len(x.shape)
    if len(x.ref.shape) != 3 or x.batch is None or axis != x.batch + 1:
        raise Unsupported(
            f"an argmax over axis {axis} of a {x.shape} tensor; ctxfit prices the argmax over "
            "the channels of an NCHW feature map (axis 1), as Hailo's chip runs it"
        )
    keep = bool(c.attrs.get("keepdims", 1))
    labels = (1, *x.ref.shape[1:])  # one index per pixel, whether or not the node keeps the dim
    ref = c.b.layer(c.label, OpKind.ARGMAX, [x.ref], out_shape=labels, source=c.source)
    return c.emit(ref if keep else c.b.view(ref, c.frame()))


@_register("MaxPool", "AveragePool", "LpPool")
def _pool(c: Call) -> Act:
    op = OpKind.MAXPOOL if c.op == "MaxPool" else OpKind.AVGPOOL
    kernel = c.attrs.get("kernel_shape", (1, 1))
    stride = c.attrs.get("strides", [1] * len(kernel))
    return c.layer(op, [c.act(0)], kernel=kernel, stride=stride)


@_register("GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool")
def _global_pool(c: Call) -> Act:
    x = c.act(0)
    if c.frame() == x.ref.shape:  # a 1x1 map: nothing to pool
        return c.view()
    return c.layer(OpKind.GLOBAL_POOL, [x], kernel=x.ref.shape[1:] or (1,))


@_register("ReduceMean", "ReduceMax", "ReduceSum", "ReduceMin", "ReduceL2", "ReduceL1")
def _reduce(c: Call) -> Act:
    x = c.act(0)
    axes = c.attrs.get("axes")
    if axes is None and len(c.ins) > 1 and isinstance(c.ins[1], Const):
        value = c.ins[1].value
        axes = None if value is None else [int(a) for a in value.reshape(-1)]
    rank = len(x.shape)
    reduced = list(range(rank)) if not axes else sorted({int(a) % rank for a in axes})
    frame_axes = [a - (x.batch is not None and a > x.batch) for a in reduced if a != x.batch]
    kernel = [x.ref.shape[a] for a in frame_axes] or [1]
    keep = bool(c.attrs.get("keepdims", 1))
    batch = x.batch if keep or x.batch is None else x.batch - sum(a < x.batch for a in reduced)
    if x.batch is not None and x.batch in reduced:
        batch = None
    if math.prod(kernel) == 1:  # every reduced dim has size 1: nothing to reduce
        return c.view(batch=batch)
    ref = c.b.layer(
        c.label,
        OpKind.GLOBAL_POOL,
        [x.ref],
        out_shape=c.frame(batch=batch),
        kernel=kernel,
        source=c.source,
    )
    return c.emit(ref, batch=batch)


@_register("Concat")
def _concat(c: Call) -> Act:
    acts = c.acts()
    params = c.const_params()
    if len(acts) == 1 and params == 0 and c.frame() == acts[0].ref.shape:
        return c.view()
    return c.layer(OpKind.CONCAT, acts, params=params)


@_register("Split")
def _split(c: Call) -> list[Operand]:
    x = c.act(0)
    named = [k for k, name in enumerate(c.node.output) if name]
    frames = [c.frame(k) for k in named]
    if len(frames) == 1 and frames[0] == x.ref.shape:
        return [c.view(named[0]) if k == named[0] else None for k in range(len(c.node.output))]
    refs = dict(zip(named, c.b.split(c.label, x.ref, frames, source=c.source), strict=True))
    return [c.emit(refs[k], k) if k in refs else None for k in range(len(c.node.output))]


@_register("Slice", "Gather")
def _part(c: Call) -> Act:
    if c.op == "Gather" and not isinstance(c.ins[0], Act):
        raise Unsupported("a lookup into a constant table (an embedding) with activation indices")
    if c.op == "Gather" and isinstance(c.ins[1], Act):
        raise Unsupported("indexing with an activation (a data-dependent gather)")
    if c.op == "Slice" and any(isinstance(v, Act) for v in c.ins[1:]):
        raise Unsupported("slice bounds computed from activation values")
    x, batch = c.act(0), part_batch(c)
    frame = c.frame(batch=batch)
    if frame == x.ref.shape:  # the whole tensor (a slice of the batch axis, or 0:end)
        return c.emit(c.b.view(x.ref, frame), batch=batch)
    (ref,) = c.b.split(c.label, x.ref, [frame], source=c.source)
    return c.emit(ref, batch=batch)


def part_batch(c: Call) -> int | None:
    """Batch axis of a slice (same rank) or a gather (a scalar index removes its axis)."""
    x = c.act(0)
    if c.op != "Gather" or x.batch is None:
        return c.batch()
    axis = int(c.attrs.get("axis", 0)) % len(x.shape)
    index = c.ins[1]
    scalar = isinstance(index, Const) and index.shape == ()
    if not scalar:
        return x.batch
    if axis == x.batch:
        return None
    return x.batch - 1 if axis < x.batch else x.batch


@_register("Reshape", "Flatten", "Squeeze", "Unsqueeze")
def _reshape(c: Call) -> Act:
    x = c.act(0)
    return c.view(batch=reshaped_batch(x.shape, x.batch, c.full()))


@_register("Identity", "Dropout", "Cast", "CastLike")
def _identity(c: Call) -> Act:
    return c.view()


@_register("Expand", "Tile")
def _expand(c: Call) -> Act:
    x = c.act(0)
    if math.prod(c.frame()) == math.prod(x.ref.shape):
        return c.view()
    return c.layer(OpKind.RESIZE, [x])


@_register("Resize", "Upsample")
def _resize(c: Call) -> Act:
    x = c.act(0)
    if math.prod(c.frame()) == math.prod(x.ref.shape):
        return c.view()
    return c.layer(OpKind.RESIZE, [x])


@_register("Pad")
def _pad(c: Call) -> Act:
    x = c.act(0)
    if c.frame() == x.ref.shape:
        return c.view()
    return c.emit(c.b.pad(c.label, x.ref, out_shape=c.frame(), source=c.source))


@_register("Transpose")
def _transpose(c: Call) -> Act:
    x = c.act(0)
    rank = len(x.shape)
    perm = [int(p) % rank for p in c.attrs.get("perm", range(rank - 1, -1, -1))]
    if x.batch is None:
        return c.emit(c.b.transpose(c.label, x.ref, perm=perm, source=c.source), batch=None)
    batch = perm.index(x.batch)
    frame_perm = [p - (p > x.batch) for p in perm if p != x.batch]
    ref = c.b.transpose(c.label, x.ref, perm=frame_perm, source=c.source)
    return c.emit(ref, batch=batch)


@_register("DepthToSpace", "SpaceToDepth")
def _shuffle(c: Call) -> Act:
    ref = c.b.transpose(c.label, c.act(0).ref, out_shape=c.frame(), source=c.source)
    return c.emit(ref)


# -- decomposed normalizations -------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class NormMatch:
    """A layer/RMS-norm decomposition: its input tensor, member nodes (indices) and name."""

    root: str
    members: tuple[int, ...]
    name: str


def match_norms(graph: OnnxGraph, kept: set[int]) -> dict[int, NormMatch]:
    """Decomposed layer norms (and RMS norms) among ``kept`` nodes, keyed by their last node.

    Pattern (``x`` an activation, ``c`` constants): ``d = x - ReduceMean(x)`` (layer norm) or
    ``d = x`` (RMS norm); ``v = ReduceMean(d^2)`` (``Pow(d, 2)`` or ``Mul(d, d)``);
    ``s = Sqrt(v [+ eps])``; ``n = d / s`` (or ``d * Reciprocal(s)``); then optionally
    ``n * c`` and ``+ c``. Every intermediate result must be read only inside the pattern.
    """
    matches: dict[int, NormMatch] = {}
    claimed: set[int] = set()
    for index in sorted(kept):
        if graph.nodes[index].op_type != "ReduceMean" or index in claimed:
            continue
        match = _match_norm(graph, index, kept)
        if match is not None and not claimed & set(match.members):
            matches[match.members[-1]] = match
            claimed.update(match.members)
    return matches


def _match_norm(graph: OnnxGraph, variance: int, kept: set[int]) -> NormMatch | None:
    nodes = graph.nodes
    square = _producer(graph, nodes[variance].input[0], kept, ("Pow", "Mul"))
    if square is None:
        return None
    sq = nodes[square]
    centered = sq.input[0]
    if sq.op_type == "Pow" and not _is_constant(graph, sq.input[1], 2.0):
        return None
    if sq.op_type == "Mul" and sq.input[1] != centered:
        return None
    members = [square, variance]
    root = centered
    sub = _producer(graph, centered, kept, ("Sub",))
    if sub is not None:
        mean = _producer(graph, nodes[sub].input[1], kept, ("ReduceMean",))
        if mean is not None and nodes[mean].input[0] == nodes[sub].input[0]:
            root = nodes[sub].input[0]
            members = [mean, sub, *members]
    if not graph.is_activation(root):
        return None
    tail = _match_norm_tail(graph, variance, centered, kept)
    if tail is None:
        return None
    members += tail
    if not _closed(graph, members, root):
        return None
    labels = [graph.labels[i] for i in sorted(members)]
    prefix = os.path.commonprefix(labels)
    name = prefix[: prefix.rfind("/")] if "/" in prefix else ""
    return NormMatch(root=root, members=tuple(sorted(members)), name=name or labels[-1])


def _match_norm_tail(
    graph: OnnxGraph, variance: int, centered: str, kept: set[int]
) -> list[int] | None:
    """``[Add eps] Sqrt, Div | Reciprocal Mul, [Mul c], [Add c]`` after the variance."""
    nodes = graph.nodes
    members: list[int] = []
    current = _only_reader(graph, nodes[variance].output[0], kept)
    if current is not None and nodes[current].op_type == "Add":
        members.append(current)
        current = _only_reader(graph, nodes[current].output[0], kept)
    if current is None or nodes[current].op_type != "Sqrt":
        return None
    members.append(current)
    current = _only_reader(graph, nodes[current].output[0], kept)
    if current is not None and nodes[current].op_type == "Reciprocal":
        members.append(current)
        current = _only_reader(graph, nodes[current].output[0], kept)
        if current is None or nodes[current].op_type != "Mul":
            return None
    elif current is None or nodes[current].op_type != "Div" or nodes[current].input[0] != centered:
        return None
    if centered not in nodes[current].input:
        return None
    members.append(current)
    for op in ("Mul", "Add"):
        reader = _only_reader(graph, nodes[current].output[0], kept)
        if reader is None or nodes[reader].op_type != op:
            break
        if sum(graph.is_activation(n) for n in nodes[reader].input) != 1:
            break
        members.append(reader)
        current = reader
    return members


def _producer(graph: OnnxGraph, tensor: str, kept: set[int], ops: tuple[str, ...]) -> int | None:
    index = graph.producer.get(tensor)
    if index is None or index not in kept or graph.nodes[index].op_type not in ops:
        return None
    return index


def _only_reader(graph: OnnxGraph, tensor: str, kept: set[int]) -> int | None:
    readers = [i for i in graph.consumers.get(tensor, []) if i in kept]
    if len(readers) != 1 or tensor in graph.outputs:
        return None
    return readers[0]


def _is_constant(graph: OnnxGraph, tensor: str, value: float) -> bool:
    known = graph.value(tensor)
    return known is not None and known.size == 1 and float(known.reshape(-1)[0]) == value


def _closed(graph: OnnxGraph, members: list[int], root: str) -> bool:
    """True if every member's output but the last is read only by members."""
    inside = set(members)
    last = max(members)
    for index in members:
        if index == last:
            continue
        for out in graph.nodes[index].output:
            if out in graph.outputs or out == root:
                return False
            if any(r not in inside for r in graph.consumers.get(out, [])):
                return False
    return True
