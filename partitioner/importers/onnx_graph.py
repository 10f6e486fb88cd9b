"""Read an ONNX file into an :class:`OnnxGraph`: its nodes in topological order, which tensors
are activations, and the static shape of every tensor.

Reading (:func:`.onnx_file.read_model`) never loads the weights: external data is not read
and only the initializers' ``dims`` are used. A tensor's value is loaded only when a shape
depends on it (a reshape target, slice bounds, resize sizes stored as initializers), and only if
it is small (:data:`VALUE_LIMIT` elements).

Shapes come from ``onnx.shape_inference`` (strict, with ``data_prop``) on a *skeleton* of the
model: the graph inputs fixed to the shapes the user asked for, every weight replaced by a typed
input of the same dims (no bytes), and every constant subgraph that has been folded replaced by
its value. Folding (:mod:`.onnx_fold`) and inference alternate until no new value appears:
exporters compute slice bounds from ``Shape`` nodes, which only fold once inference has given
the sliced tensor a shape, which in turn lets inference see past the slice. The rules of
:mod:`.onnx_check` run before inference (attributes, constants) and after it (shapes).

A tensor is an *activation* if it depends on a graph input through anything but a shape query
(``Shape``, ``Size``); every other tensor is a *constant* and never becomes a layer.
"""

from __future__ import annotations

import heapq
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import ModelProto, NodeProto, TensorProto, ValueInfoProto, helper, numpy_helper

from cost_model.layer import Shape
from partitioner.errors import ModelImportError
from partitioner.importers.onnx_check import check_input_shape, check_nodes, check_shapes
from partitioner.importers.onnx_file import read_model
from partitioner.importers.onnx_fold import CannotFold, evaluate

VALUE_LIMIT = 4096  # elements: larger constants are never loaded (their dims are enough)
MAX_INFERENCE_ROUNDS = 64  # folding rounds; each one unlocks at least one more constant
SHAPE_ONLY_OPS = frozenset({"Shape", "Size", "EyeLike", "RandomNormalLike", "RandomUniformLike"})
# Inputs (by position) whose *value* decides an output shape (or, for Clip, the activation's
# name); loaded when they are constant initializers.
SHAPE_SLOTS: Mapping[str, tuple[int, ...]] = {
    "Clip": (1, 2),
    "Reshape": (1,),
    "Slice": (1, 2, 3, 4),
    "Resize": (1, 2, 3),
    "Upsample": (1,),
    "Expand": (1,),
    "Tile": (1,),
    "Pad": (1, 2, 3),
    "Split": (1,),
    "Squeeze": (1,),
    "Unsqueeze": (1,),
    "ReduceMean": (1,),
    "ReduceMax": (1,),
    "ReduceSum": (1,),
    "TopK": (1,),
    "ConstantOfShape": (0,),
    "Range": (0, 1, 2),
    "OneHot": (1,),
}
# Element types whose tensors hold parameters (int32/int64/bool tensors are shapes and indices).
_PARAM_TYPES = frozenset(
    {
        TensorProto.FLOAT,
        TensorProto.FLOAT16,
        TensorProto.BFLOAT16,
        TensorProto.DOUBLE,
        TensorProto.INT8,
        TensorProto.UINT8,
        TensorProto.INT4,
        TensorProto.UINT4,
    }
)
PartialShape = tuple[int | None, ...]


def constant_params(dims: Sequence[int], data_type: int) -> int:
    """Parameters held by a constant tensor: its element count if it holds weights.

    ONNX does not tell trained weights from buffers, so every floating-point (or 8/4-bit
    quantized) tensor of more than one element counts; scalars (``0.5``, an epsilon) and
    integer tensors (shapes, indices) do not.

    >>> constant_params((64, 3, 3, 3), TensorProto.FLOAT), constant_params((), TensorProto.FLOAT)
    (1728, 0)
    >>> constant_params((4,), TensorProto.INT64)
    0
    """
    count = math.prod(dims)
    return count if data_type in _PARAM_TYPES and count > 1 else 0


def node_label(node: NodeProto, index: int) -> str:
    """The node's name, or ``OpType_INDEX`` for an unnamed node.

    >>> node_label(helper.make_node("Relu", ["x"], ["y"]), 7)
    'Relu_7'
    """
    return node.name or f"{node.op_type}_{index}"


_INFERENCE_LINE = re.compile(r"\(op_type:([^,)]*), node name: (.*?)\): (?:\[\w+\] )?(.*)")


_CASCADES = ("instead is null", "Can't merge shape info")  # consequences of an earlier error


def _blamed_nodes(err: Exception) -> set[str]:
    """Names of the nodes an ONNX inference error blames."""
    return {found.group(2) for found in _INFERENCE_LINE.finditer(str(err))}


def _inference_error(path: Path, err: Exception) -> ModelImportError:
    """ONNX's strict shape inference rejected the graph: name the node it blames (the first
    whose complaint is not a consequence of another's)."""
    lines = [found for found in map(_INFERENCE_LINE.search, str(err).splitlines()) if found]
    lines.sort(key=lambda found: any(c in found.group(3) for c in _CASCADES))
    if lines:
        op, node, problem = lines[0].groups()
        return ModelImportError(
            f"node {node!r} ({op}) is not valid ONNX: {problem.strip()}; fix the model's "
            "export (onnx.checker.check_model(model, full_check=True) reports the same)"
        )
    return ModelImportError(
        f"ONNX shape inference failed on {str(path)!r}: {type(err).__name__}: "
        f"{_first_line(err)}; check the model with onnx.checker.check_model"
    )


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def default_opset(model: ModelProto) -> int:
    """Version of the default (``ai.onnx``) operator set the model imports (0 if none)."""
    for entry in model.opset_import:
        if entry.domain in ("", "ai.onnx"):
            return int(entry.version)
    return 0


def declared_dims(info: ValueInfoProto) -> tuple[int | str | None, ...] | None:
    """Dims a graph input or output declares: ints, symbolic names, or None; None if no shape.

    >>> declared_dims(helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 8]))
    ('batch', 3, 8)
    """
    if not info.type.HasField("tensor_type") or not info.type.tensor_type.HasField("shape"):
        return None
    return tuple(
        d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
        for d in info.type.tensor_type.shape.dim
    )


def _format_dims(dims: Iterable[object]) -> str:
    return "x".join("?" if d is None else str(d) for d in dims)


# -- graph inputs ------------------------------------------------------------------------------
def resolve_input_shapes(
    infos: Sequence[ValueInfoProto], input_shape: Sequence[int] | None
) -> dict[str, Shape]:
    """Static full shapes (batch included) of the graph inputs.

    ``input_shape`` applies to the first input: it fills the input's dynamic dims and must agree
    with its static ones. Without it a dynamic first dim (the batch) is taken as 1; any other
    dynamic dim is an error.

    Raises:
        ModelImportError: an input without a shape and no ``input_shape``; a dynamic dim other
            than the batch and no ``input_shape``; ``input_shape`` of another rank than the input
            or disagreeing with a static dim; a batch other than 1; a zero dim.

    >>> x = helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 3, "h", "w"])
    >>> resolve_input_shapes([x], (1, 3, 320, 320))
    {'images': (1, 3, 320, 320)}
    >>> resolve_input_shapes([x], None)
    Traceback (most recent call last):
    ...
    partitioner.errors.ModelImportError: input 'images' has dynamic dims 'h', 'w' (shape \
batchx3xhxw); pass --input-shape with every dim, e.g. 1x3x640x640
    """
    shapes: dict[str, Shape] = {}
    for index, info in enumerate(infos):
        given = tuple(input_shape) if input_shape is not None and index == 0 else None
        shapes[info.name] = _input_shape(info, given, first=index == 0)
    return shapes


def _input_shape(info: ValueInfoProto, given: Shape | None, *, first: bool) -> Shape:
    name = info.name
    dims = declared_dims(info)
    how = "pass --input-shape with every dim, e.g. 1x3x640x640"
    if not first:
        how = "--input-shape sets the first input only; export the model with a fixed shape here"
    if dims is None:
        if given is None:
            raise ModelImportError(f"input {name!r} has no shape in the file; {how}")
        shape = given
    elif given is not None:
        if len(given) != len(dims):
            raise ModelImportError(
                f"--input-shape {_format_dims(given)} has {len(given)} dims but input {name!r} "
                f"has {len(dims)} ({_format_dims(dims)}); give one value per dim"
            )
        for declared, value in zip(dims, given, strict=True):
            if isinstance(declared, int) and declared not in (0, value):
                raise ModelImportError(
                    f"input {name!r} is fixed at {_format_dims(dims)} in the file; "
                    f"--input-shape {_format_dims(given)} disagrees: drop --input-shape or "
                    "export the model with dynamic axes"
                )
        shape = tuple(
            d if isinstance(d, int) and d != 0 else g for d, g in zip(dims, given, strict=True)
        )
    else:
        free = [d for i, d in enumerate(dims) if not isinstance(d, int) and i > 0]
        if free:
            names = ", ".join(repr(d) if d else "?" for d in free)
            raise ModelImportError(
                f"input {name!r} has dynamic dims {names} (shape {_format_dims(dims)}); {how}"
            )
        shape = tuple(1 if not isinstance(d, int) else d for d in dims)
    return _check_input_shape(name, tuple(int(d) for d in shape), dims is not None)


def _check_input_shape(name: str, shape: Shape, declared: bool) -> Shape:
    if all(d != 0 for d in shape):
        check_input_shape(name, shape)
    if any(d <= 0 for d in shape):
        raise ModelImportError(
            f"input {name!r} has shape {_format_dims(shape)} with a zero dim; a tensor of size "
            "zero holds nothing to compute: export the model with real dims"
        )
    if len(shape) >= 2 and shape[0] != 1:
        raise ModelImportError(
            f"input {name!r} has batch {shape[0]} (shape {_format_dims(shape)}); ctxfit imports "
            "one frame: export with batch 1 or a dynamic batch (the batch size is a separate "
            "option)"
        )
    return shape


# -- the graph ---------------------------------------------------------------------------------
class OnnxGraph:
    """A validated ONNX graph with static shapes; see the module docstring.

    Attributes:
        path: the file it was read from (external data is looked up next to it).
        name: the network's name: the file's stem (``yolov8n`` for ``yolov8n.onnx``).
        opset: version of the default operator set.
        nodes: the nodes in topological order (ties kept in file order).
        labels: each node's name for messages (``OpType_INDEX`` for an unnamed node).
        inputs: the graph inputs that are activations, with their full static shapes.
        outputs: the graph output tensor names.
        shapes: full static shape of every tensor whose shape is known.
        values: value of every constant tensor that was folded or loaded.

    Raises:
        ModelImportError: see :func:`load_graph`.
    """

    def __init__(self, model: ModelProto, path: Path, input_shape: Sequence[int] | None) -> None:
        graph = model.graph
        self.path = path
        self.name = path.stem  # exporters name every graph 'main_graph' or 'torch_jit'
        self.opset = default_opset(model)
        self.initializers: dict[str, TensorProto] = {t.name: t for t in graph.initializer}
        infos = [i for i in graph.input if i.name not in self.initializers]
        if not infos:
            raise ModelImportError(f"{str(path)!r} declares no graph input; nothing to import")
        self.inputs = resolve_input_shapes(infos, input_shape)
        self.input_types = {i.name: i.type.tensor_type.elem_type for i in infos}
        self.outputs: tuple[str, ...] = tuple(o.name for o in graph.output)
        order = _topological_order(list(graph.node), set(self.inputs) | set(self.initializers))
        self.nodes: tuple[NodeProto, ...] = tuple(graph.node[i] for i in order)
        self.labels = tuple(node_label(n, i) for n, i in zip(self.nodes, order, strict=True))
        for node, label in zip(self.nodes, self.labels, strict=True):
            node.name = label  # ONNX's inference errors then name every node
        self.producer: dict[str, int] = {
            out: i for i, node in enumerate(self.nodes) for out in node.output if out
        }
        self.consumers: dict[str, list[int]] = {}
        for i, node in enumerate(self.nodes):
            for name in dict.fromkeys(n for n in node.input if n):
                self.consumers.setdefault(name, []).append(i)
        self.activations = _activation_tensors(self.nodes, set(self.inputs))
        self._model = model
        self.guessed = self._guessed()
        self.values: dict[str, np.ndarray] = {}
        self._const_dims: dict[str, tuple[Shape, int]] = {
            t.name: (tuple(int(d) for d in t.dims), t.data_type) for t in graph.initializer
        }
        self.shapes: dict[str, Shape] = {}
        check_nodes(self)
        self._resolve_shapes()
        check_shapes(self)

    # -- queries ---------------------------------------------------------------------------
    def is_activation(self, name: str) -> bool:
        """True for a tensor that depends on a graph input (not through a shape query)."""
        return name in self.activations

    def base_params(self, name: str) -> int:
        """Parameters of an initializer or a ``Constant`` node's output (0 for other tensors)."""
        if name in self.initializers:
            tensor = self.initializers[name]
            return constant_params(tensor.dims, tensor.data_type)
        node_index = self.producer.get(name)
        if node_index is not None and self.nodes[node_index].op_type == "Constant":
            dims, data_type = self._constant_dims(self.nodes[node_index])
            return constant_params(dims, data_type)
        return 0

    def value(self, name: str) -> np.ndarray | None:
        """The value of a constant tensor if it is known or small enough to load, else None.

        An initializer stored in an external file is read from disk (just that tensor).
        """
        if name in self.values:
            return self.values[name]
        tensor = self.initializers.get(name)
        if tensor is None or math.prod(tensor.dims) > VALUE_LIMIT:
            return None
        try:
            value = numpy_helper.to_array(_bounded(tensor), base_dir=str(self.path.parent))
        except Exception as err:
            raise ModelImportError(
                f"cannot read initializer {name!r} of {str(self.path)!r} "
                f"({type(err).__name__}: {_first_line(err)}); if the model stores its weights "
                "in an external data file, keep that file next to the .onnx file"
            ) from err
        self.values[name] = value
        return value

    def shape(self, name: str) -> Shape | None:
        """Full static shape of a tensor, or None if shape inference could not find it."""
        return self.shapes.get(name)

    # -- shape resolution ------------------------------------------------------------------
    def _resolve_shapes(self) -> None:
        for node in self.nodes:  # shape-deciding constants, loaded once
            for slot in SHAPE_SLOTS.get(node.op_type, ()):
                if slot < len(node.input) and node.input[slot] in self.initializers:
                    self.value(node.input[slot])
        folded: set[int] = set()
        stuck: set[int] = set()
        for _ in range(MAX_INFERENCE_ROUNDS):
            self.shapes = self._infer(folded)
            if not self._fold(folded, stuck):
                break

    def _infer(self, folded: set[int]) -> dict[str, Shape]:
        """Shapes by ONNX's strict shape inference on the skeleton (see :meth:`_lenient` for
        what happens when it fails)."""
        skeleton = self._skeleton(folded)
        try:
            inferred = onnx.shape_inference.infer_shapes(skeleton, strict_mode=True, data_prop=True)
        except Exception as err:
            return self._lenient(skeleton, err)
        return self._read_shapes(inferred)

    def _lenient(self, skeleton: ModelProto, err: Exception) -> dict[str, Shape]:
        """Strict inference failed. Infer leniently and look for a cause
        :func:`~.onnx_check.check_shapes` names better (a bad attribute upstream of the node
        ONNX blames); keep the lenient shapes if ONNX blames a node downstream of a custom op,
        whose output shape is a guess; otherwise reject with ONNX's reason.

        Raises:
            ModelImportError: the file is not valid ONNX.
        """
        try:
            inferred = onnx.shape_inference.infer_shapes(skeleton, data_prop=True)
        except Exception:
            raise _inference_error(self.path, err) from err
        self.shapes = self._read_shapes(inferred)
        check_shapes(self)
        guessing = {n.name for n in self.nodes if any(i in self.guessed for i in n.input)}
        if _blamed_nodes(err) & guessing:
            return self.shapes
        raise _inference_error(self.path, err) from err

    def _read_shapes(self, inferred: ModelProto) -> dict[str, Shape]:
        graph = inferred.graph
        shapes: dict[str, Shape] = dict(self.inputs)
        for info in (*graph.value_info, *graph.output):
            dims = declared_dims(info)
            if dims is not None and all(isinstance(d, int) for d in dims):
                shapes[info.name] = tuple(int(d) for d in dims)  # type: ignore[arg-type]
        for name, (dims, _) in self._const_dims.items():
            shapes[name] = dims
        for name, value in self.values.items():
            shapes[name] = tuple(int(d) for d in value.shape)
        return shapes

    def _skeleton(self, folded: set[int]) -> ModelProto:
        """The model without weights: folded nodes dropped, constants as values or typed
        inputs, the graph inputs at their resolved shapes."""
        nodes = [self._stand_in(n) for i, n in enumerate(self.nodes) if i not in folded]
        used = {name for node in nodes for name in node.input if name} | set(self.outputs)
        inputs = [
            helper.make_tensor_value_info(name, self.input_types[name] or TensorProto.FLOAT, shape)
            for name, shape in self.inputs.items()
        ]
        initializers = []
        for name in sorted(used - set(self.inputs)):
            value = self.values.get(name)
            if value is not None and value.size <= VALUE_LIMIT:
                initializers.append(numpy_helper.from_array(np.asarray(value), name))
            elif name in self._const_dims:
                dims, data_type = self._const_dims[name]
                inputs.append(helper.make_tensor_value_info(name, data_type, dims))
            elif value is not None:
                inputs.append(
                    helper.make_tensor_value_info(
                        name, helper.np_dtype_to_tensor_dtype(value.dtype), value.shape
                    )
                )
        graph = helper.make_graph(
            nodes,
            self.name,
            inputs,
            [helper.make_empty_tensor_value_info(o) for o in self.outputs],
            initializer=initializers,
        )
        model = helper.make_model(
            graph,
            opset_imports=list(self._model.opset_import),
            ir_version=max(int(self._model.ir_version), 7),
        )
        model.functions.extend(self._model.functions)
        return model

    def _has_schema(self, node: NodeProto) -> bool:
        """True if ONNX (or a function in the model) defines the node's op."""
        domain = "" if node.domain == "ai.onnx" else node.domain
        return onnx.defs.has(node.op_type, domain) or any(
            f.name == node.op_type and f.domain == node.domain for f in self._model.functions
        )

    def _guessed(self) -> frozenset[str]:
        """Tensors whose inferred shape rests on a guess: the outputs of ops ONNX has no schema
        for (inferred as elementwise, see :meth:`_stand_in`) and everything computed from them."""
        guessed: set[str] = set()
        for node in self.nodes:
            if not self._has_schema(node) or any(name in guessed for name in node.input):
                guessed.update(name for name in node.output if name)
        return frozenset(guessed)

    def _stand_in(self, node: NodeProto) -> NodeProto:
        """The node itself, or an ``Identity`` of its first activation input if ONNX has no
        schema for it (a custom op: then its output is assumed elementwise for inference)."""
        if self._has_schema(node) or not node.output:
            return node
        source = next((n for n in node.input if n in self.activations), None)
        if source is None:
            return node
        return helper.make_node("Identity", [source], [node.output[0]], name=node.name)

    def _fold(self, folded: set[int], stuck: set[int]) -> int:
        """Evaluate every constant node whose inputs are known; the number newly folded."""
        new = 0
        for index, node in enumerate(self.nodes):
            if index in folded or index in stuck or not node.output:
                continue
            if node.op_type in ("Shape", "Size"):
                value = self._shape_query(node)
                if value is not None:
                    self.values[node.output[0]] = value
                    folded.add(index)
                    new += 1
                continue
            if any(name in self.activations for name in node.input):
                continue
            if node.op_type == "Constant" and self._big_constant(node):
                self._const_dims[node.output[0]] = self._constant_dims(node)
                folded.add(index)
                new += 1
                continue
            inputs = [self.value(name) if name else None for name in node.input]
            if any(v is None for v, name in zip(inputs, node.input, strict=True) if name):
                if all(self._settled(name) for name in node.input if name):
                    stuck.add(index)  # an input will never be known
                continue
            try:
                outputs = evaluate(node, inputs, self.opset)
            except CannotFold:
                stuck.add(index)
                continue
            for name, value in zip(node.output, outputs, strict=False):
                if name:
                    self.values[name] = value
            folded.add(index)
            new += 1
        return new

    def _settled(self, name: str) -> bool:
        """True if the constant ``name`` has its final value status (known, or never)."""
        if name in self.values or name in self.initializers:
            return True
        producer = self.producer.get(name)
        return producer is None

    def _shape_query(self, node: NodeProto) -> np.ndarray | None:
        source = node.input[0] if node.input else ""
        shape = self.shapes.get(source)
        if shape is None:
            return None
        if node.op_type == "Size":
            return np.array(math.prod(shape), dtype=np.int64)
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        rank = len(shape)
        start = int(attrs.get("start", 0))
        end = int(attrs.get("end", rank))
        return np.array(shape[start:end], dtype=np.int64)

    def _big_constant(self, node: NodeProto) -> bool:
        dims, _ = self._constant_dims(node)
        return math.prod(dims) > VALUE_LIMIT

    @staticmethod
    def _constant_dims(node: NodeProto) -> tuple[Shape, int]:
        for attr in node.attribute:
            if attr.name == "value" and attr.type == attr.TENSOR:
                return tuple(int(d) for d in attr.t.dims), attr.t.data_type
            if attr.name in ("value_floats", "value_ints"):
                count = len(attr.floats) if attr.name == "value_floats" else len(attr.ints)
                kind = TensorProto.FLOAT if attr.name == "value_floats" else TensorProto.INT64
                return (count,), kind
            if attr.name in ("value_float", "value_int"):
                kind = TensorProto.FLOAT if attr.name == "value_float" else TensorProto.INT64
                return (), kind
        return (), TensorProto.FLOAT


def _bounded(tensor: TensorProto) -> TensorProto:
    """``tensor``, or if its data is external a copy that reads no more bytes than its dims
    hold: without a ``length`` ONNX reads the file to its end (a shared weights file)."""
    if tensor.data_location != TensorProto.EXTERNAL:
        return tensor
    try:
        size = math.prod(tensor.dims) * helper.tensor_dtype_to_np_dtype(tensor.data_type).itemsize
    except Exception:  # a type numpy cannot hold: ONNX will say so
        return tensor
    bounded = TensorProto()
    bounded.CopyFrom(tensor)
    entries = {e.key: e.value for e in bounded.external_data}
    length = int(entries["length"]) if entries.get("length", "").isdigit() else size
    del bounded.external_data[:]
    for key, value in entries.items():
        if key != "length":
            bounded.external_data.add(key=key, value=value)
    bounded.external_data.add(key="length", value=str(min(length, size)))
    return bounded


def load_graph(path: Path, input_shape: Sequence[int] | None) -> OnnxGraph:
    """Read ``path`` and resolve its shapes (see the module docstring).

    Raises:
        ModelImportError: not an ONNX file, truncated, no nodes or no input; an input without a
            usable shape (see :func:`resolve_input_shapes`); a tensor read by a node but made by
            none; a tensor made by two nodes; a cycle; shape inference failing outright.
    """
    return OnnxGraph(read_model(path), path, input_shape)


def _topological_order(nodes: list[NodeProto], available: set[str]) -> list[int]:
    """Indices of ``nodes`` in a topological order, ties in file order (Kahn's algorithm).

    Raises:
        ModelImportError: a tensor produced twice, an input nobody produces, or a cycle.
    """
    producer: dict[str, int] = {}
    for index, node in enumerate(nodes):
        for out in node.output:
            if not out:
                continue
            if out in producer or out in available:
                raise ModelImportError(
                    f"tensor {out!r} is produced by two nodes ({node_label(node, index)!r} and "
                    "another); an ONNX graph assigns each tensor once: export the model again"
                )
            producer[out] = index
    waiting = [0] * len(nodes)
    readers: dict[int, list[int]] = {}
    for index, node in enumerate(nodes):
        for name in dict.fromkeys(n for n in node.input if n):
            if name in producer:
                waiting[index] += 1
                readers.setdefault(producer[name], []).append(index)
            elif name not in available:
                raise ModelImportError(
                    f"node {node_label(node, index)!r} ({node.op_type}) reads tensor {name!r}, "
                    "which no node produces and which is neither a graph input nor an "
                    "initializer; the file is incomplete (truncated?): export it again"
                )
    ready = [i for i, count in enumerate(waiting) if count == 0]
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        index = heapq.heappop(ready)
        order.append(index)
        for reader in readers.get(index, []):
            waiting[reader] -= 1
            if waiting[reader] == 0:
                heapq.heappush(ready, reader)
    if len(order) < len(nodes):
        stuck = _node_on_cycle(nodes, producer, waiting)
        raise ModelImportError(
            f"the graph has a cycle through node {node_label(nodes[stuck], stuck)!r} "
            f"({nodes[stuck].op_type}); an ONNX graph must be acyclic: export the model again"
        )
    return order


def _node_on_cycle(nodes: list[NodeProto], producer: dict[str, int], waiting: list[int]) -> int:
    """A node on a cycle: walk from any unsorted node to an unsorted producer until one
    repeats (every unsorted node has one, or it would have been sorted)."""
    index = min(i for i, count in enumerate(waiting) if count > 0)
    seen: set[int] = set()
    while index not in seen:
        seen.add(index)
        index = next(
            producer[n] for n in nodes[index].input if n in producer and waiting[producer[n]] > 0
        )
    return index


def _activation_tensors(nodes: Sequence[NodeProto], inputs: set[str]) -> frozenset[str]:
    active = set(inputs)
    for node in nodes:
        if node.op_type in SHAPE_ONLY_OPS:
            continue
        if any(name in active for name in node.input):
            active.update(out for out in node.output if out)
    return frozenset(active)
