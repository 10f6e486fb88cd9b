"""Evaluate the small constant subgraphs of an ONNX file with numpy (shape arithmetic only).

Exporters compute reshape targets, slice bounds and resize sizes at run time from ``Shape``
nodes: ``Shape -> Gather -> Add -> Div -> Mul -> Slice``. Once every activation has a static
shape these subgraphs are constants; :func:`evaluate` computes one node of them so that the
importer can fold them away and hand the values to ONNX shape inference.

Only integer-and-float arithmetic on small arrays is implemented (the ops exporters use for
shapes); :func:`evaluate` raises :class:`CannotFold` for anything else, and the caller then keeps
the result as a constant of unknown value.

>>> from onnx import helper
>>> node = helper.make_node("Gather", ["shape", "index"], ["out"], axis=0)
>>> evaluate(node, [np.array([1, 64, 80, 80]), np.array(2)], opset=17)
[array(80)]
>>> node = helper.make_node("Div", ["a", "b"], ["out"])
>>> evaluate(node, [np.array([-7, 7]), np.array(2)], opset=17)    # integer division truncates
[array([-3,  3])]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from onnx import NodeProto, helper, numpy_helper

MAX_FOLD_ELEMENTS = 1 << 20  # a folded constant larger than this is kept as shape only

Value = np.ndarray
Evaluator = Callable[[NodeProto, list[Value | None], int], list[Value]]


class CannotFold(Exception):
    """The node is not one :func:`evaluate` computes (or its result would be too large)."""


def attributes(node: NodeProto) -> dict[str, Any]:
    """The node's attributes as python values (tensors as numpy arrays).

    >>> attributes(helper.make_node("Transpose", ["x"], ["y"], perm=[0, 2, 1]))
    {'perm': [0, 2, 1]}
    """
    out: dict[str, Any] = {}
    for attr in node.attribute:
        value = helper.get_attribute_value(attr)
        if attr.type == attr.TENSOR:
            value = numpy_helper.to_array(value)
        elif isinstance(value, bytes):
            value = value.decode("utf-8", errors="replace")
        out[attr.name] = value
    return out


def evaluate(node: NodeProto, inputs: Sequence[Value | None], opset: int) -> list[Value]:
    """The output values of ``node`` given its input values (``None`` for an omitted input).

    Raises:
        CannotFold: an op outside the shape-arithmetic set, a missing required input, or a
            result of more than :data:`MAX_FOLD_ELEMENTS` elements.
    """
    rule = _RULES.get(node.op_type) if node.domain in ("", "ai.onnx") else None
    if rule is None:
        raise CannotFold(f"no numpy rule for {node.op_type}")
    try:
        outputs = rule(node, list(inputs), opset)
    except CannotFold:
        raise
    except Exception as err:  # numpy's own complaint about these operands
        raise CannotFold(f"{type(err).__name__}: {err}") from err
    for value in outputs:
        if value.size > MAX_FOLD_ELEMENTS:
            raise CannotFold(f"result of {value.size} elements")
    return [np.asarray(v) for v in outputs]


# -- rules -------------------------------------------------------------------------------------
_RULES: dict[str, Evaluator] = {}


def _rule(*ops: str) -> Callable[[Evaluator], Evaluator]:
    def add(fn: Evaluator) -> Evaluator:
        for op in ops:
            _RULES[op] = fn
        return fn

    return add


def _check_size(elements: int) -> None:
    """Refuse to allocate a result over :data:`MAX_FOLD_ELEMENTS` elements."""
    if elements > MAX_FOLD_ELEMENTS:
        raise CannotFold(f"result of {elements} elements")


def _broadcast(*values: Value) -> None:
    """Refuse an elementwise result whose broadcast shape is too large to allocate."""
    _check_size(math.prod(np.broadcast_shapes(*(v.shape for v in values))))


def _need(values: list[Value | None], index: int) -> Value:
    if index >= len(values) or values[index] is None:
        raise CannotFold(f"input {index} is not known")
    return values[index]  # type: ignore[return-value]


def _opt(values: list[Value | None], index: int) -> Value | None:
    return values[index] if index < len(values) else None


def _axes(node: NodeProto, values: list[Value | None], index: int) -> list[int] | None:
    """Axes from the attribute (older opsets) or the input ``index`` (newer ones)."""
    attr = attributes(node).get("axes")
    if attr is not None:
        return [int(a) for a in attr]
    value = _opt(values, index)
    return None if value is None else [int(a) for a in value.reshape(-1)]


@_rule("Identity")
def _identity(node: NodeProto, v: list[Value | None], opset: int) -> list[Value]:
    return [_need(v, 0)]


@_rule("Constant")
def _constant(node: NodeProto, v: list[Value | None], opset: int) -> list[Value]:
    attrs = attributes(node)
    if "value" in attrs:
        return [attrs["value"]]
    for key, dtype in (("value_float", np.float32), ("value_int", np.int64)):
        if key in attrs:
            return [np.array(attrs[key], dtype=dtype)]
    for key, dtype in (("value_floats", np.float32), ("value_ints", np.int64)):
        if key in attrs:
            return [np.array(list(attrs[key]), dtype=dtype)]
    raise CannotFold("a Constant without a numeric value")


@_rule("Cast")
def _cast(node: NodeProto, v: list[Value | None], opset: int) -> list[Value]:
    return [_need(v, 0).astype(helper.tensor_dtype_to_np_dtype(attributes(node)["to"]))]


@_rule("CastLike")
def _cast_like(node: NodeProto, v: list[Value | None], opset: int) -> list[Value]:
    return [_need(v, 0).astype(_need(v, 1).dtype)]


@_rule("Gather")
def _gather(node: NodeProto, v: list[Value | None], opset: int) -> list[Value]:
    data, index = _need(v, 0), _need(v, 1).astype(np.int64)
    axis = int(attributes(node).get("axis", 0))
    return [np.take(data, np.where(index < 0, index + data.shape[axis], index), axis=axis)]


@_rule("Unsqueeze")
def _unsqueeze(node: NodeProto, v: list[Value | None], opset: int) -> list[Value]:
    data, axes = _need(v, 0), _axes(node, v, 1)
    if axes is None:
        raise CannotFold("Unsqueeze without axes")
    rank = data.ndim + len(axes)
    out = data
    for axis in sorted(a % rank for a in axes):
        out = np.expand_dims(out, axis)
    return [out]


@_rule("Squeeze")
def _squeeze(node: NodeProto, v: list[Value | None], opset: int) -> list[Value]:
    data, axes = _need(v, 0), _axes(node, v, 1)
    return [np.squeeze(data) if axes is None else np.squeeze(data, axis=tuple(axes))]


@_rule("Concat")
def _concat(node: NodeProto, v: list[Value | None], opset: int) -> list[Value]:
    parts = [_need(v, i) for i in range(len(v)) if node.input[i]]
    return [np.concatenate(parts, axis=int(attributes(node)["axis"]))]


@_rule("Slice")
def _slice(node: NodeProto, v: list[Value | None], opset: int) -> list[Value]:
    data = _need(v, 0)
    attrs = attributes(node)
    if opset < 10 or "starts" in attrs:
        starts, ends = list(attrs["starts"]), list(attrs["ends"])
        axes = list(attrs.get("axes", range(len(starts))))
        steps = [1] * len(starts)
    else:
        starts = [int(s) for s in _need(v, 1)]
        ends = [int(e) for e in _need(v, 2)]
        axes_v, steps_v = _opt(v, 3), _opt(v, 4)
        axes = list(range(len(starts))) if axes_v is None else [int(a) for a in axes_v]
        steps = [1] * len(starts) if steps_v is None else [int(s) for s in steps_v]
    index = [slice(None)] * data.ndim
    for start, end, axis, step in zip(starts, ends, axes, steps, strict=True):
        index[axis % data.ndim] = slice(start, end, step)
    return [data[tuple(index)]]


@_rule("Range")
def _range(node: NodeProto, v: list[Value | None], opset: int) -> list[Value]:
    start, limit, delta = _need(v, 0), _need(v, 1), _need(v, 2)
    if float(delta) == 0 or not np.isfinite([start, limit, delta]).all():
        raise CannotFold("a Range with delta 0 or a non-finite bound")
    _check_size(math.ceil((float(limit) - float(start)) / float(delta)))
    return [np.arange(start, limit, delta, dtype=start.dtype)]


@_rule("ConstantOfShape")
def _constant_of_shape(node: NodeProto, v: list[Value | None], opset: int) -> list[Value]:
    shape = [int(d) for d in _need(v, 0).reshape(-1)]
    if math.prod(shape) > MAX_FOLD_ELEMENTS:
        raise CannotFold(f"ConstantOfShape of {math.prod(shape)} elements")
    fill = attributes(node).get("value")
    fill = np.zeros(1, dtype=np.float32) if fill is None else fill.reshape(-1)
    return [np.full(shape, fill[0], dtype=fill.dtype)]


@_rule("Expand")
def _expand(node: NodeProto, v: list[Value | None], opset: int) -> list[Value]:
    data, shape = _need(v, 0), [int(d) for d in _need(v, 1)]
    target = np.broadcast_shapes(data.shape, tuple(shape))
    if math.prod(target) > MAX_FOLD_ELEMENTS:
        raise CannotFold("Expand result too large")
    return [np.broadcast_to(data, target).copy()]


@_rule("Tile")
def _tile(node: NodeProto, v: list[Value | None], opset: int) -> list[Value]:
    data, repeats = _need(v, 0), [int(r) for r in _need(v, 1)]
    _check_size(data.size * math.prod(repeats))
    return [np.tile(data, repeats)]


@_rule("Reshape")
def _reshape(node: NodeProto, v: list[Value | None], opset: int) -> list[Value]:
    data, shape = _need(v, 0), [int(d) for d in _need(v, 1)]
    if not attributes(node).get("allowzero", 0):
        shape = [data.shape[i] if d == 0 else d for i, d in enumerate(shape)]
    return [data.reshape(shape)]


@_rule("Flatten")
def _flatten(node: NodeProto, v: list[Value | None], opset: int) -> list[Value]:
    data = _need(v, 0)
    axis = int(attributes(node).get("axis", 1)) % max(data.ndim, 1)
    return [data.reshape(math.prod(data.shape[:axis]), -1)]


@_rule("Transpose")
def _transpose(node: NodeProto, v: list[Value | None], opset: int) -> list[Value]:
    perm = attributes(node).get("perm")
    return [np.transpose(_need(v, 0), perm)]


def _integer_div(a: Value, b: Value) -> Value:
    if np.issubdtype(a.dtype, np.integer) and np.issubdtype(b.dtype, np.integer):
        return (np.sign(a) * np.sign(b) * (np.abs(a) // np.abs(b))).astype(a.dtype)
    return a / b


_BINARY: dict[str, Callable[[Value, Value], Value]] = {
    "Add": np.add,
    "Sub": np.subtract,
    "Mul": np.multiply,
    "Div": _integer_div,
    "Pow": np.power,
    "Equal": np.equal,
    "Less": np.less,
    "Greater": np.greater,
    "LessOrEqual": np.less_equal,
    "GreaterOrEqual": np.greater_equal,
    "And": np.logical_and,
    "Or": np.logical_or,
    "Xor": np.logical_xor,
    "BitShift": np.left_shift,
}
_UNARY: dict[str, Callable[[Value], Value]] = {
    "Neg": np.negative,
    "Abs": np.abs,
    "Floor": np.floor,
    "Ceil": np.ceil,
    "Round": np.round,
    "Sqrt": np.sqrt,
    "Reciprocal": np.reciprocal,
    "Sign": np.sign,
    "Not": np.logical_not,
    "Exp": np.exp,
    "Log": np.log,
    "Relu": lambda x: np.maximum(x, 0),
}


@_rule(*_BINARY)
def _binary(node: NodeProto, v: list[Value | None], opset: int) -> list[Value]:
    a, b = _need(v, 0), _need(v, 1)
    _broadcast(a, b)
    out = _BINARY[node.op_type](a, b)
    if node.op_type in ("Add", "Sub", "Mul", "Pow") and out.dtype != a.dtype:
        out = out.astype(a.dtype)
    return [np.asarray(out)]


@_rule(*_UNARY)
def _unary(node: NodeProto, v: list[Value | None], opset: int) -> list[Value]:
    return [np.asarray(_UNARY[node.op_type](_need(v, 0)))]


@_rule("Min", "Max", "Sum", "Mean")
def _variadic(node: NodeProto, v: list[Value | None], opset: int) -> list[Value]:
    items = [_need(v, i) for i in range(len(v))]
    _broadcast(*items)
    fn = {"Min": np.minimum, "Max": np.maximum, "Sum": np.add, "Mean": np.add}[node.op_type]
    out = items[0]
    for item in items[1:]:
        out = fn(out, item)
    return [out / len(items) if node.op_type == "Mean" else out]


@_rule("Mod")
def _mod(node: NodeProto, v: list[Value | None], opset: int) -> list[Value]:
    a, b = _need(v, 0), _need(v, 1)
    _broadcast(a, b)
    return [np.fmod(a, b) if attributes(node).get("fmod", 0) else np.mod(a, b)]


@_rule("Where")
def _where(node: NodeProto, v: list[Value | None], opset: int) -> list[Value]:
    condition, a, b = _need(v, 0), _need(v, 1), _need(v, 2)
    _broadcast(condition, a, b)
    return [np.where(condition, a, b)]


@_rule("Clip")
def _clip(node: NodeProto, v: list[Value | None], opset: int) -> list[Value]:
    attrs = attributes(node)
    low = attrs.get("min", _opt(v, 1))
    high = attrs.get("max", _opt(v, 2))
    return [np.clip(_need(v, 0), low, high)]


@_rule("ReduceProd", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceMean")
def _reduce(node: NodeProto, v: list[Value | None], opset: int) -> list[Value]:
    data = _need(v, 0)
    axes = _axes(node, v, 1)
    keep = bool(attributes(node).get("keepdims", 1))
    fn = {
        "ReduceProd": np.prod,
        "ReduceSum": np.sum,
        "ReduceMax": np.max,
        "ReduceMin": np.min,
        "ReduceMean": np.mean,
    }[node.op_type]
    axis = None if not axes else tuple(axes)
    return [np.asarray(fn(data, axis=axis, keepdims=keep))]


@_rule("Split")
def _split(node: NodeProto, v: list[Value | None], opset: int) -> list[Value]:
    data = _need(v, 0)
    attrs = attributes(node)
    axis = int(attrs.get("axis", 0))
    sizes = attrs.get("split")
    if sizes is None and _opt(v, 1) is not None:
        sizes = [int(s) for s in _need(v, 1)]
    if sizes is None:  # opset 18 num_outputs: equal parts of ceil(n / k), the last smaller
        chunk = -(-data.shape[axis] // len(node.output))
        sizes = [chunk] * (len(node.output) - 1)
        sizes.append(data.shape[axis] - sum(sizes))
    bounds = np.cumsum(sizes)[:-1]
    return list(np.split(data, bounds, axis=axis))
