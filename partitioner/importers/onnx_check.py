"""Reject an ONNX graph ctxfit would price wrongly or not at all: every rule on attributes,
shapes and sizes of an ONNX import lives here.

The importer calls this module at three points, each rule at the first point it can be decided:

1. :func:`check_nodes`, before ONNX shape inference sees the graph: the opset (7 to 2^31 - 1);
   the graph inputs' element types; each attribute's type against the operator's schema; the
   geometry attributes of convs and pools (``strides``, ``dilations``, ``kernel_shape``,
   ``group`` >= 1; ``pads`` >= 0; none of them 2^31 or more; a known ``auto_pad``); the dims of
   every initializer and ``Constant`` and the number of values it stores.
   :func:`check_input_shape` checks each graph input's resolved shape the same way.
2. :func:`check_shapes`, once shapes are known: a conv's weight against its input (rank,
   ``C_in = weight[1] x group``, ``group`` dividing the channels, ``kernel_shape`` equal to the
   weight's kernel), a kernel (with its dilation) no larger than the padded input, pads no larger
   than both the input and the kernel, every ``axis`` / ``axes`` / ``perm`` inside the rank, and
   every tensor's dims: each below 2^31, none negative, at most :data:`MAX_ELEMENTS` elements.
   ONNX's own strict shape inference (run by :mod:`.onnx_graph`) rejects the rest of what
   ``onnx.checker`` would (a MatMul of mismatched dims, a perm longer than the rank...).
3. :func:`check_network`, on the layers built: no layer reads or makes a scalar (the cost model
   needs a channel dim), no layer over :data:`MAX_LAYER_MACS` MACs or :data:`MAX_ELEMENTS` params.

Every message names the node (its name, or ``OpType_INDEX``), its op type, the attribute and its
value, and says what to do, e.g.:

>>> from onnx import helper
>>> conv = helper.make_node("Conv", ["x", "w"], ["y"], name="conv0", group=0)
>>> geometry_problem(conv)
'group=0 is out of range (it must be 1 to 2147483647)'
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

import onnx
from onnx import AttributeProto, NodeProto, TensorProto, helper

from cost_model.layer import Shape
from partitioner.errors import ModelImportError

if TYPE_CHECKING:
    from partitioner.graph import Network
    from partitioner.importers.onnx_graph import OnnxGraph

MIN_OPSET = 7  # 2017: Add/Mul broadcast like numpy, no legacy consumed_inputs / is_test attributes
MAX_DIM = 2**31 - 1  # the largest signed 32-bit dim; no network comes near it
MAX_ELEMENTS = 2**40  # a tensor per frame (1 TiB at 8 bits): > 10^5 x yolov8x's 80x320x320 map
MAX_LAYER_MACS = 2**50  # ~1.1e15 per frame: ~87 s per frame for one layer at 26 TOPS (13e12 MAC/s)

_CONVS = frozenset({"Conv", "ConvTranspose"})
_POOLS = frozenset({"MaxPool", "AveragePool", "LpPool"})
_AT_LEAST_ONE = ("kernel_shape", "strides", "dilations", "group", "output_shape")
_AT_LEAST_ZERO = ("pads", "output_padding")
_AUTO_PADS = ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID")
# Element types a graph input may have: numbers (an image, features, token ids).
_NUMERIC = frozenset(
    {
        TensorProto.FLOAT,
        TensorProto.UINT8,
        TensorProto.INT8,
        TensorProto.UINT16,
        TensorProto.INT16,
        TensorProto.INT32,
        TensorProto.INT64,
        TensorProto.BOOL,
        TensorProto.FLOAT16,
        TensorProto.DOUBLE,
        TensorProto.UINT32,
        TensorProto.UINT64,
        TensorProto.BFLOAT16,
        TensorProto.UNDEFINED,  # no type given: read as float, as before
    }
)
_TYPE_NAMES = frozenset(TensorProto.DataType.values())
# Ops whose ``axis`` indexes their first input -> True if the axis may equal the rank.
_AXIS_OPS: dict[str, bool] = {
    "Concat": False,
    "Softmax": False,
    "LogSoftmax": False,
    "Hardmax": False,
    "Flatten": True,
    "Split": False,
    "Gather": False,
    "GatherElements": False,
    "LayerNormalization": False,
    "ArgMax": False,
    "ArgMin": False,
    "TopK": False,
    "CumSum": False,
}
_AXES_OPS = frozenset(
    {"ReduceMean", "ReduceMax", "ReduceMin", "ReduceSum", "ReduceProd", "ReduceL1", "ReduceL2"}
    | {"ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare", "Squeeze"}
)


def _fail(label: str, op: str, problem: str, fix: str = "fix the model's export") -> NoReturn:
    raise ModelImportError(f"node {label!r} ({op}): {problem}; {fix}")


def _show(value: Any) -> str:
    """An attribute value for a message: ints as ints, lists as lists, long ones cut."""
    text = repr(list(value) if isinstance(value, (list, tuple)) else value)
    return text if len(text) <= 80 else text[:77] + "..."


# -- 1. before shape inference -------------------------------------------------------------------
def check_nodes(graph: OnnxGraph) -> None:
    """Rules that need no shapes (see the module docstring, point 1).

    Raises:
        ModelImportError: a non-numeric graph input, an attribute of the wrong type, a geometry
            attribute out of range, an initializer or constant with a negative or huge dim.
    """
    if not MIN_OPSET <= graph.opset <= MAX_DIM:
        version = f"opset {graph.opset}" if graph.opset else "no ai.onnx opset"
        raise ModelImportError(
            f"{str(graph.path)!r} imports {version}, not an ONNX opset ctxfit reads "
            f"({MIN_OPSET} or later; tested on 11-21): export the model again with "
            "opset_version=17"
        )
    for name, elem_type in graph.input_types.items():
        if elem_type not in _NUMERIC:
            kind = TensorProto.DataType.Name(elem_type) if elem_type in _TYPE_NAMES else elem_type
            raise ModelImportError(
                f"input {name!r} holds {kind} elements; ctxfit prices numeric tensors (an "
                "image, features, token ids): export the model with a float or integer input"
            )
    for tensor in graph.initializers.values():
        check_constant(f"initializer {tensor.name!r}", tensor)
    schemas: dict[tuple[str, str], Any] = {}
    for node, label in zip(graph.nodes, graph.labels, strict=True):
        _check_schema(node, label, graph.opset, schemas)
        problem = geometry_problem(node)
        if problem is not None:
            _fail(label, node.op_type, problem)
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.type == AttributeProto.TENSOR:
                    check_constant(f"the value of node {label!r} (Constant)", attr.t)


def check_constant(what: str, tensor: TensorProto) -> None:
    """A constant's dims (each 0 to :data:`MAX_DIM`, at most :data:`MAX_ELEMENTS` elements) and,
    unless it is stored in an external file, the number of values it stores (a mismatch is a
    damaged or hand-edited file: its dims cannot be trusted).

    >>> from onnx import numpy_helper
    >>> import numpy as np
    >>> w = numpy_helper.from_array(np.zeros((16, 3, 3, 3), np.float32), "w")
    >>> check_constant("initializer 'w'", w)
    >>> w.dims[0] = -4
    >>> check_constant("initializer 'w'", w)
    Traceback (most recent call last):
    ...
    partitioner.errors.ModelImportError: initializer 'w' has dims [-4, 3, 3, 3]: a dim is \
negative; fix the model's export
    >>> w.dims[0] = 32
    >>> check_constant("initializer 'w'", w)
    Traceback (most recent call last):
    ...
    partitioner.errors.ModelImportError: initializer 'w' has dims [32, 3, 3, 3] (864 values) \
but stores 432; the file is damaged or was edited: export the model again
    """
    dims = tuple(int(d) for d in tensor.dims)
    problem = _dims_problem(dims, allow_zero=True)
    if problem is not None:
        raise ModelImportError(
            f"{what} has dims {_show(list(dims))}: {problem}; fix the model's export"
        )
    count = math.prod(dims)
    stored = _stored_values(tensor, count)
    if stored is not None and stored != count:
        raise ModelImportError(
            f"{what} has dims {_show(list(dims))} ({count:,} values) but stores {stored:,}; "
            "the file is damaged or was edited: export the model again"
        )


_BITS = {  # bits per value in raw_data
    TensorProto.FLOAT: 32,
    TensorProto.UINT8: 8,
    TensorProto.INT8: 8,
    TensorProto.UINT16: 16,
    TensorProto.INT16: 16,
    TensorProto.INT32: 32,
    TensorProto.INT64: 64,
    TensorProto.BOOL: 8,
    TensorProto.FLOAT16: 16,
    TensorProto.DOUBLE: 64,
    TensorProto.UINT32: 32,
    TensorProto.UINT64: 64,
    TensorProto.BFLOAT16: 16,
    TensorProto.INT4: 4,
    TensorProto.UINT4: 4,
}
_TYPED_FIELD = {  # the repeated field holding the values when raw_data is not used
    TensorProto.FLOAT: "float_data",
    TensorProto.INT64: "int64_data",
    TensorProto.DOUBLE: "double_data",
    TensorProto.UINT32: "uint64_data",
    TensorProto.UINT64: "uint64_data",
    **{
        t: "int32_data"
        for t in (
            TensorProto.INT32,
            TensorProto.INT16,
            TensorProto.INT8,
            TensorProto.UINT16,
            TensorProto.UINT8,
            TensorProto.BOOL,
            TensorProto.FLOAT16,
            TensorProto.BFLOAT16,
        )
    },
}


def _stored_values(tensor: TensorProto, count: int) -> int | None:
    """Values stored in the file, or None if they are external or of a type not checked."""
    if tensor.data_location == TensorProto.EXTERNAL:
        return None
    if tensor.HasField("raw_data"):
        bits = _BITS.get(tensor.data_type)
        if bits is None:
            return None
        stored_bits = len(tensor.raw_data) * 8
        padded = -(-count * bits // 8) * 8  # 4-bit values are packed two to a byte
        return count if stored_bits == padded else stored_bits // bits
    field = _TYPED_FIELD.get(tensor.data_type)
    return None if field is None else len(getattr(tensor, field))


def check_input_shape(name: str, shape: Sequence[int]) -> None:
    """A graph input's resolved shape (batch included): at least one dim, each 1 to
    :data:`MAX_DIM`, at most :data:`MAX_ELEMENTS` elements.

    >>> check_input_shape("images", (1, 3, 640, 640))
    >>> check_input_shape("images", ())
    Traceback (most recent call last):
    ...
    partitioner.errors.ModelImportError: input 'images' is a scalar (shape ()); ctxfit prices \
tensors with at least one dim: export the model with a tensor input such as 1x3x640x640
    """
    if len(shape) == 0:
        raise ModelImportError(
            f"input {name!r} is a scalar (shape ()); ctxfit prices tensors with at least one "
            "dim: export the model with a tensor input such as 1x3x640x640"
        )
    problem = _dims_problem(shape, allow_zero=False)
    if problem is not None:
        raise ModelImportError(
            f"input {name!r} has shape {'x'.join(map(str, shape))}: {problem}; export the "
            "model with real dims, or pass --input-shape with dims 1 to 2^31 - 1"
        )


def _dims_problem(dims: Sequence[int], *, allow_zero: bool) -> str | None:
    if any(d < 0 for d in dims):
        return "a dim is negative"
    if not allow_zero and any(d == 0 for d in dims):
        return "a dim is zero"
    if any(d > MAX_DIM for d in dims):
        return f"a dim is over {MAX_DIM:,} (2^31 - 1)"
    elements = math.prod(dims)
    if elements > MAX_ELEMENTS:
        return f"{elements:.3g} elements, over the {MAX_ELEMENTS:.3g} (2^40) ctxfit accepts"
    return None


def _check_schema(
    node: NodeProto, label: str, opset: int, schemas: dict[tuple[str, str], Any]
) -> None:
    """What ``onnx.checker.check_node`` checks against the op's schema: every attribute has a
    type, a known attribute the type ONNX defines, required attributes are there, and the node
    has as many inputs and outputs as the op takes. Unknown attributes are left alone."""
    for attr in node.attribute:
        if attr.type == AttributeProto.UNDEFINED and not attr.ref_attr_name:
            _fail(label, node.op_type, f"attribute {attr.name!r} has no type")
    schema = _schema(node, opset, schemas)
    if schema is None:
        return
    given = {attr.name for attr in node.attribute}
    for name, spec in schema.attributes.items():
        if spec.required and name not in given:
            _fail(label, node.op_type, f"the required attribute {name!r} is missing")
    for attr in node.attribute:
        spec = schema.attributes.get(attr.name)
        if spec is None or attr.ref_attr_name or int(spec.type) == attr.type:
            continue
        expected = AttributeProto.AttributeType.Name(int(spec.type))
        actual = AttributeProto.AttributeType.Name(attr.type)
        _fail(
            label,
            node.op_type,
            f"attribute {attr.name!r} is {actual}, ONNX defines it as {expected}",
        )
    for what, count, low, high in (
        ("inputs", len(node.input), schema.min_input, schema.max_input),
        ("outputs", len(node.output), schema.min_output, schema.max_output),
    ):
        if not low <= count <= high:
            _fail(
                label,
                node.op_type,
                f"it has {count} {what}; ONNX's {node.op_type} (opset {opset}) takes "
                f"{_count_range(low, high)}",
            )


def _count_range(low: int, high: int) -> str:
    """``2``, ``1 to 3`` or ``1 or more`` (a variadic op's maximum is 2^31 - 1)."""
    if low == high:
        return str(low)
    return f"{low} to {high}" if high < MAX_DIM else f"{low} or more"


def _schema(node: NodeProto, opset: int, schemas: dict[tuple[str, str], Any]) -> Any:
    if node.domain not in ("", "ai.onnx") or opset < 1:
        return None
    key = (node.op_type, "")
    if key not in schemas:
        try:
            schemas[key] = onnx.defs.get_schema(
                node.op_type, min(opset, onnx.defs.onnx_opset_version()), ""
            )
        except onnx.defs.SchemaError:
            schemas[key] = None
    return schemas[key]


def geometry_problem(node: NodeProto) -> str | None:
    """What is wrong with a conv's or pool's integer geometry attributes, if anything.

    >>> geometry_problem(helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[2, 2]))
    >>> geometry_problem(helper.make_node("Conv", ["x", "w"], ["y"], pads=[-5, 0, 0, 0]))
    'pads=[-5, 0, 0, 0] is out of range (each value must be 0 to 2147483647)'
    """
    if node.op_type not in _CONVS | _POOLS or node.domain not in ("", "ai.onnx"):
        return None
    for attr in node.attribute:
        if attr.name == "auto_pad" and attr.type == AttributeProto.STRING:
            mode = attr.s.decode("utf-8", errors="replace")
            if mode not in _AUTO_PADS:
                return f"auto_pad={mode!r} is not one of {', '.join(_AUTO_PADS)}"
            continue
        if attr.name in _AT_LEAST_ONE:
            low = 1
        elif attr.name in _AT_LEAST_ZERO:
            low = 0
        else:
            continue
        value = helper.get_attribute_value(attr)
        values = [value] if isinstance(value, int) else list(value)
        if any(not isinstance(v, int) or not low <= v <= MAX_DIM for v in values):
            each = "it" if isinstance(value, int) else "each value"
            return f"{attr.name}={_show(value)} is out of range ({each} must be {low} to {MAX_DIM})"
    return None


# -- 2. once shapes are known --------------------------------------------------------------------
def check_shapes(graph: OnnxGraph) -> None:
    """Rules that need shapes (see the module docstring, point 2), node by node in topological
    order: its attributes against its inputs first, then the shapes of its outputs.

    Raises:
        ModelImportError: see the module docstring; the message names the node.
    """
    for index, node in enumerate(graph.nodes):
        label = graph.labels[index]
        guessed = any(name in graph.guessed for name in node.input)  # shapes after a custom op
        if node.domain in ("", "ai.onnx") and not guessed:
            if node.op_type in _CONVS | _POOLS:
                _check_window(graph, node, label)
            _check_axes(graph, node, label)
        for name in node.output:
            shape = graph.shape(name) if name else None
            if shape is None:
                continue
            problem = _dims_problem(shape, allow_zero=True)
            if problem is not None:
                attrs = _geometry_text(node)
                _fail(
                    label,
                    node.op_type,
                    f"its output {name!r} would have shape {_show(list(shape))}: {problem}"
                    + (f" (its attributes: {attrs})" if attrs else ""),
                    "fix the attributes or the input shape in the model's export",
                )


def _geometry_text(node: NodeProto) -> str:
    parts = []
    for attr in node.attribute:
        if attr.type in (AttributeProto.INT, AttributeProto.INTS):
            parts.append(f"{attr.name}={_show(helper.get_attribute_value(attr))}")
    return ", ".join(parts)


def _ints(node: NodeProto, name: str) -> list[int] | None:
    for attr in node.attribute:
        if attr.name == name and attr.type in (AttributeProto.INT, AttributeProto.INTS):
            value = helper.get_attribute_value(attr)
            return [int(value)] if isinstance(value, int) else [int(v) for v in value]
    return None


def _text(node: NodeProto, name: str, default: str) -> str:
    for attr in node.attribute:
        if attr.name == name and attr.type == AttributeProto.STRING:
            return attr.s.decode("utf-8", errors="replace")
    return default


def _check_window(graph: OnnxGraph, node: NodeProto, label: str) -> None:
    """A conv's weight against its input, and any conv's or pool's window against its input."""
    op = node.op_type
    x = graph.shape(node.input[0]) if node.input else None
    if x is None:
        return
    if len(x) < 3:
        _fail(
            label,
            op,
            f"its input {node.input[0]!r} has shape {_show(list(x))}, rank {len(x)}; a {op} "
            "needs (N, C, spatial...) with at least one spatial dim",
        )
    spatial = len(x) - 2
    kernel = _ints(node, "kernel_shape")
    if op in _CONVS:
        kernel = _check_weight(graph, node, label, x, kernel)
    if kernel is None:
        return  # a pool without kernel_shape: ONNX's strict inference rejects it
    for attr, length in (("kernel_shape", spatial), ("strides", spatial), ("dilations", spatial)):
        value = _ints(node, attr)
        if value is not None and len(value) != length:
            _fail(
                label,
                op,
                f"{attr}={_show(value)} has {len(value)} values for {length} spatial dims",
            )
    pads = _ints(node, "pads")
    if pads is not None and len(pads) != 2 * spatial:
        _fail(
            label,
            op,
            f"pads={_show(pads)} has {len(pads)} values for {spatial} spatial dims (2 each)",
        )
    if op == "ConvTranspose" or _text(node, "auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
        return  # SAME padding always fits the window; a deconv grows its input
    dilations = _ints(node, "dilations") or [1] * spatial
    pads = (
        [0] * (2 * spatial)
        if _text(node, "auto_pad", "NOTSET") == "VALID"
        else (pads or [0] * (2 * spatial))
    )
    for axis in range(spatial):
        size, k, d = x[2 + axis], kernel[axis], dilations[axis]
        span = (k - 1) * d + 1
        padded = size + pads[axis] + pads[axis + spatial]
        if span > padded:
            _fail(
                label,
                op,
                f"kernel_shape={_show(kernel)} with dilations={_show(dilations)} spans {span} "
                f"pixels on spatial axis {axis}, but the input {node.input[0]!r} is only "
                f"{padded} with its pads ({size} + pads={_show(pads)})",
            )
        for pad in (pads[axis], pads[axis + spatial]):
            if pad > max(size, span):
                _fail(
                    label,
                    op,
                    f"pads={_show(pads)}: a pad of {pad} on spatial axis {axis} is larger than "
                    f"both the input ({size}) and the kernel ({span}), so it only adds outputs "
                    "computed from zeros",
                )


def _check_weight(
    graph: OnnxGraph, node: NodeProto, label: str, x: Shape, kernel: list[int] | None
) -> list[int] | None:
    """A conv's weight against its input; returns the kernel (the weight's spatial dims)."""
    op = node.op_type
    name = node.input[1] if len(node.input) > 1 else ""
    w = graph.shape(name) if name and not graph.is_activation(name) else None
    if w is None:
        return kernel
    group = (_ints(node, "group") or [1])[0]
    channels = x[1]
    if len(w) != len(x):
        _fail(
            label,
            op,
            f"its weight {name!r} has shape {_show(list(w))} (rank {len(w)}) but its input "
            f"{node.input[0]!r} has rank {len(x)}; a {op} weight is "
            + (
                "(C_out, C_in / group, kernel...)"
                if op == "Conv"
                else "(C_in, C_out / group, kernel...)"
            ),
        )
    if channels % group:
        _fail(
            label,
            op,
            f"group={group} does not divide the {channels} input channels of {node.input[0]!r}",
        )
    if op == "Conv":
        if w[1] * group != channels:
            _fail(
                label,
                op,
                f"its weight {name!r} of shape {_show(list(w))} reads {w[1]} x group={group} = "
                f"{w[1] * group} input channels, but its input {node.input[0]!r} has {channels} "
                f"(shape {_show(list(x))})",
            )
        if w[0] % group:
            _fail(
                label,
                op,
                f"group={group} does not divide the {w[0]} output channels of its weight {name!r}",
            )
    elif w[0] != channels:
        _fail(
            label,
            op,
            f"its weight {name!r} of shape {_show(list(w))} reads {w[0]} input channels, but "
            f"its input {node.input[0]!r} has {channels} (shape {_show(list(x))})",
        )
    if kernel is not None and list(kernel) != list(w[2:]):
        _fail(
            label,
            op,
            f"kernel_shape={_show(kernel)} disagrees with its weight {name!r} of shape "
            f"{_show(list(w))} (kernel {_show(list(w[2:]))})",
        )
    return list(w[2:])


def _check_axes(graph: OnnxGraph, node: NodeProto, label: str) -> None:
    """``axis``, ``axes`` and ``perm`` attributes inside the rank of the input they index."""
    op = node.op_type
    x = graph.shape(node.input[0]) if node.input and node.input[0] else None
    if x is None:
        return
    rank = len(x)
    if op in _AXIS_OPS:
        value = _ints(node, "axis")
        if value is not None:
            _check_range(label, op, "axis", value, rank, inclusive=_AXIS_OPS[op])
    elif op in _AXES_OPS or op == "Unsqueeze":
        axes = _ints(node, "axes")
        if axes is not None:
            limit = rank + len(axes) if op == "Unsqueeze" else rank
            _check_range(label, op, "axes", axes, limit, inclusive=False)
    elif op == "Transpose":
        perm = _ints(node, "perm")
        if perm is not None and sorted(perm) != list(range(rank)):
            _fail(
                label,
                op,
                f"perm={_show(perm)} is not a permutation of the {rank} dims of its input "
                f"{node.input[0]!r} (0 to {rank - 1}, each once)",
            )


def _check_range(
    label: str, op: str, attr: str, values: Iterable[int], rank: int, *, inclusive: bool
) -> None:
    high = rank if inclusive else rank - 1
    values = list(values)
    if any(not -rank <= v <= high for v in values):
        shown = values[0] if attr == "axis" else values
        _fail(
            label,
            op,
            f"{attr}={_show(shown)} is outside the {rank} dims of its input (it must be "
            f"{-rank} to {high})",
        )


# -- 3. the layers built -------------------------------------------------------------------------
def check_network(network: Network) -> None:
    """The layers the cost model will price: no scalar tensors, no absurd MACs or params.

    Raises:
        ModelImportError: a layer reads or makes a scalar; a layer of more than
            :data:`MAX_LAYER_MACS` MACs or :data:`MAX_ELEMENTS` params.
    """
    for layer in network:
        where = f"layer {layer.name!r} ({layer.source or layer.op.value})"
        for shape in (layer.output_shape, *layer.input_shapes):
            if len(shape) == 0:
                raise ModelImportError(
                    f"{where} reads or makes a scalar (a tensor of shape ()); ctxfit prices "
                    "tensors with at least one dim: cut the graph before it with --end-nodes"
                )
        if layer.macs > MAX_LAYER_MACS:
            raise ModelImportError(
                f"{where} has {layer.macs:.3g} MACs per frame, over the {MAX_LAYER_MACS:.3g} "
                "(2^50) ctxfit accepts for one layer; check its shapes and attributes"
            )
        if layer.params > MAX_ELEMENTS:
            raise ModelImportError(
                f"{where} has {layer.params:.3g} params, over the {MAX_ELEMENTS:.3g} (2^40) "
                "ctxfit accepts; check its weights' dims"
            )
