"""Import an ONNX file into a :class:`~partitioner.graph.Network`, as Hailo's parser reads it.

:func:`import_onnx` is what ``ctxfit`` calls for an ``.onnx`` MODEL; :func:`read_onnx` returns
the same network plus what the CLI prints (the post-processing cut, warnings).

The steps:

1. **Read** the file without its weights (:mod:`.onnx_file`: a regular file only, names that
   are not UTF-8 decoded once) and resolve it (:mod:`.onnx_graph`): static shapes from ONNX's
   strict shape inference, the graph inputs fixed by ``input_shape``; constant subgraphs
   (``Constant``, ``Shape``, ``Gather``, ``Cast``, ``Range``, ``ConstantOfShape``,
   ``Expand``...) are folded and never become layers. The model is never executed. Every
   attribute, weight, axis, dim and size is checked on the way (:mod:`.onnx_check`): nothing
   negative or absurd reaches the cost model.
2. **Cut** (:mod:`.onnx_cut`): ``start_nodes`` / ``end_nodes`` like Hailo's parser; then, unless
   ``end_nodes`` or ``keep_postprocess`` is given, an Ultralytics YOLO decoding / NMS tail
   (v5, v8, v10, 11; detection, segmentation and pose heads) is cut off and reported: Hailo runs
   it on the host.
3. **Check** that every op left is one ctxfit can price; otherwise one error lists every
   unsupported op type with its count and first node names (``allow_unknown`` prices each as a
   generic elementwise layer instead, with one warning per op type).
4. **Map** each node to the builder (:mod:`.onnx_ops`), which fuses conv + batch norm +
   activation and activation decompositions, exactly as for a PyTorch import.

Conventions: shapes drop the batch; params of a layer are the element counts of the constants
it reads (every floating-point initializer of more than one element counts: ONNX does not tell
weights from buffers); MACs follow the builder's conventions. An exporter that folded batch
norm into the conv (``torch.onnx.export`` in eval mode does) leaves a conv bias of ``C``
params where PyTorch counts the batch norm's ``2 C``.

>>> import onnx, tempfile
>>> from onnx import TensorProto, helper, numpy_helper
>>> import numpy as np
>>> w = numpy_helper.from_array(np.zeros((8, 3, 3, 3), np.float32), "w")
>>> graph = helper.make_graph(
...     [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
...      helper.make_node("Relu", ["c"], ["y"], name="relu")], "tiny",
...     [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 16, 16])],
...     [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], initializer=[w])
>>> path = Path(tempfile.mkdtemp()) / "tiny.onnx"
>>> onnx.save(helper.make_model(graph), path)
>>> net = import_onnx(path, None)
>>> [(layer.name, layer.op.value, layer.activation, layer.output_shape) for layer in net]
[('conv', 'conv', 'relu', (8, 16, 16))]
>>> net.total_params, net.total_macs          # 8*3*3*3; 8*16*16 outputs * 3*3*3
(216, 55296)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cost_model.layer import OpKind
from partitioner.errors import ModelImportError, UnsupportedOperatorError
from partitioner.graph import Network
from partitioner.importers.builder import GraphBuilder
from partitioner.importers.onnx_check import check_network
from partitioner.importers.onnx_cut import PostprocessCut, Selection, find_postprocess, select
from partitioner.importers.onnx_fold import attributes
from partitioner.importers.onnx_graph import SHAPE_ONLY_OPS, OnnxGraph, load_graph
from partitioner.importers.onnx_ops import (
    HANDLERS,
    Act,
    Call,
    Const,
    NormMatch,
    Operand,
    Unsupported,
    drop_axis,
    generic_layer,
    match_norms,
)

TESTED_OPSETS = range(11, 22)  # 11..21
_FIRST_NAMES = 3  # node names listed per unsupported op type


@dataclass(frozen=True, kw_only=True)
class OnnxImport:
    """The result of :func:`read_onnx`.

    Attributes:
        network: the layer graph.
        postprocess: the YOLO post-processing tail that was cut off (None if none was).
        warnings: one line per op type priced generically (``allow_unknown``), plus a line if
            the opset is outside the tested range 11-21.
    """

    network: Network
    postprocess: PostprocessCut | None
    warnings: tuple[str, ...]

    @property
    def messages(self) -> tuple[str, ...]:
        """Every line the CLI should print: the cut line first, then the warnings."""
        cut = (self.postprocess.message,) if self.postprocess is not None else ()
        return cut + self.warnings


def import_onnx(
    path: Path,
    input_shape: tuple[int, ...] | None,
    *,
    start_nodes: Sequence[str] | None = None,
    end_nodes: Sequence[str] | None = None,
    allow_unknown: bool = False,
    keep_postprocess: bool = False,
    on_message: Callable[[str], None] | None = None,
) -> Network:
    """The layer graph of the ONNX file ``path``; see :func:`read_onnx` for the options.

    ``on_message`` receives each line of :attr:`OnnxImport.messages` (the post-processing cut,
    warnings); the importer itself prints nothing.
    """
    result = read_onnx(
        path,
        input_shape,
        start_nodes=start_nodes,
        end_nodes=end_nodes,
        allow_unknown=allow_unknown,
        keep_postprocess=keep_postprocess,
    )
    if on_message is not None:
        for line in result.messages:
            on_message(line)
    return result.network


def read_onnx(
    path: Path,
    input_shape: tuple[int, ...] | None,
    *,
    start_nodes: Sequence[str] | None = None,
    end_nodes: Sequence[str] | None = None,
    allow_unknown: bool = False,
    keep_postprocess: bool = False,
) -> OnnxImport:
    """Import ``path`` (see the module docstring).

    Args:
        input_shape: full shape of the first graph input, batch (1) first; fills its dynamic
            dims. Without it a dynamic batch is taken as 1 and any other dynamic dim is an error.
        start_nodes: node (or tensor) names where the graph starts: their activation inputs
            become the graph inputs.
        end_nodes: node (or tensor) names where the graph ends (inclusive): their outputs become
            the graph outputs. Turns off the post-processing detection.
        allow_unknown: price each op ctxfit does not know as a generic elementwise layer and
            warn once per op type, instead of failing.
        keep_postprocess: keep a recognised YOLO decoding / NMS tail on the chip.

    Raises:
        ModelImportError: a bad file (not a regular file, not ONNX, truncated, a cycle, a tensor
            of size zero, an input without a shape), a bad ``input_shape``, an unknown start/end
            name, a shape ONNX cannot infer, any rule of :mod:`.onnx_check` (an attribute out of
            range, a weight that disagrees with its input, an axis outside the rank, a tensor
            over the size limits). Messages name the node: ``node 'conv0' (Conv): group=0 ...``.
        UnsupportedOperatorError: ops ctxfit cannot price (all listed at once).
    """
    graph = load_graph(Path(path), input_shape)
    selection = select(graph, start_nodes=start_nodes, end_nodes=end_nodes)
    cut = None
    if not end_nodes and not keep_postprocess:
        found = find_postprocess(graph, selection)
        if found is not None:
            selection, cut = found
    warnings = _opset_warning(graph)
    unknown = _unsupported(graph, selection)
    if unknown and not allow_unknown:
        raise UnsupportedOperatorError(_unsupported_message(unknown))
    warnings += tuple(_unknown_warning(op, labels) for op, labels in unknown.items())
    mapper = _Mapper(graph, selection, allow_unknown=allow_unknown)
    network = mapper.run()
    warnings += tuple(_unknown_warning(op, labels) for op, labels in mapper.generic.items())
    check_network(network)
    return OnnxImport(network=network, postprocess=cut, warnings=warnings)


# -- checks -------------------------------------------------------------------------------------
def _opset_warning(graph: OnnxGraph) -> tuple[str, ...]:
    if graph.opset in TESTED_OPSETS:
        return ()
    return (
        f"{graph.name!r} uses ONNX opset {graph.opset}; ctxfit is tested on opsets "
        f"{TESTED_OPSETS.start}-{TESTED_OPSETS.stop - 1}, so check the layer counts "
        "(re-export with opset_version=17 to be sure)",
    )


def _is_mapped(graph: OnnxGraph, index: int) -> bool:
    """True if the node is a constant (folded) or an op with a handler."""
    node = graph.nodes[index]
    if node.op_type in SHAPE_ONLY_OPS or not any(graph.is_activation(n) for n in node.input):
        return True
    return node.domain in ("", "ai.onnx") and node.op_type in HANDLERS


def _unsupported(graph: OnnxGraph, selection: Selection) -> dict[str, list[str]]:
    """Unsupported op types (``domain::Op`` outside the default domain) -> node labels."""
    found: dict[str, list[str]] = {}
    for index in sorted(selection.nodes):
        if not _is_mapped(graph, index):
            node = graph.nodes[index]
            op = node.op_type or "(empty op_type)"
            op = op if node.domain in ("", "ai.onnx") else f"{node.domain}::{op}"
            found.setdefault(op, []).append(graph.labels[index])
    return found


def _unsupported_message(unknown: dict[str, list[str]]) -> str:
    items = []
    for op, labels in sorted(unknown.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        names = ", ".join(repr(n) for n in labels[:_FIRST_NAMES])
        more = ", ..." if len(labels) > _FIRST_NAMES else ""
        count = f"{len(labels)} node{'s' if len(labels) > 1 else ''}"
        items.append(f"{op} ({count}: {names}{more})")
    return (
        f"unsupported ONNX operator{'s' if len(unknown) > 1 else ''}: {'; '.join(items)}; "
        "ctxfit cannot price them: cut the graph before them with --end-nodes, or pass "
        "--allow-unknown to price each as a generic elementwise layer"
    )


def _unknown_warning(op: str, labels: list[str]) -> str:
    count = f"{len(labels)} {op} node{'s' if len(labels) > 1 else ''}"
    return (
        f"priced {count} (first {labels[0]!r}) as generic elementwise layers because of "
        "--allow-unknown; ctxfit has no cost rule for this op, so treat the estimate as rough"
    )


# -- mapping ------------------------------------------------------------------------------------
class _Mapper:
    """Walks the selected nodes in topological order and feeds the builder."""

    def __init__(self, graph: OnnxGraph, selection: Selection, *, allow_unknown: bool) -> None:
        self.graph = graph
        self.selection = selection
        self.allow_unknown = allow_unknown
        self.b = GraphBuilder(graph.name)
        self.env: dict[str, Operand] = {}
        self.norms: dict[int, NormMatch] = match_norms(graph, set(selection.nodes))
        self.absorbed = {i for m in self.norms.values() for i in m.members[:-1]}
        self.generic: dict[str, list[str]] = {}  # known ops whose use has no cost rule

    def run(self) -> Network:
        for name, shape in self.selection.inputs.items():
            batch = 0 if len(shape) >= 2 and shape[0] == 1 else None
            ref = self.b.input(name, drop_axis(shape, batch))
            self.env[name] = Act(ref=ref, shape=shape, batch=batch)
        for index in sorted(self.selection.nodes):
            if index not in self.absorbed:
                self._visit(index)
        for name in self.selection.outputs:
            value = self.env.get(name)
            if isinstance(value, Act):
                self.b.mark_output(value.ref)
        try:
            return self.b.build()
        except (ArithmeticError, ValueError) as err:  # a layer the checks let through
            raise ModelImportError(
                f"{str(self.graph.path)!r} cannot be turned into layers ({type(err).__name__}: "
                f"{err}); check the model with onnx.checker.check_model(model, full_check=True)"
            ) from err

    def _operand(self, name: str) -> Operand:
        if not name:
            return None
        if name in self.env:
            return self.env[name]
        graph = self.graph  # values already read for shapes, never a weight's bytes
        if graph.is_activation(name):
            producer = graph.labels[graph.producer[name]]
            raise ModelImportError(
                f"tensor {name!r} (an extra output of node {producer!r}, such as pooling "
                "indices) is read by another node; ctxfit models only a node's main output: "
                "cut the graph before that reader with --end-nodes"
            )
        value = graph.values.get(name)
        const = Const(shape=graph.shape(name), params=graph.base_params(name), value=value)
        self.env[name] = const
        return const

    def _visit(self, index: int) -> None:
        graph = self.graph
        node = graph.nodes[index]
        norm = self.norms.get(index)
        ins = [self._operand(n) for n in ((norm.root,) if norm else node.input)]
        if not any(isinstance(v, Act) for v in ins) or node.op_type in SHAPE_ONLY_OPS:
            self._fold(index, ins)
            return
        call = Call(
            node=node,
            label=graph.labels[index],
            op=node.op_type,
            ins=ins,
            out_shapes=[graph.shape(o) if o else None for o in node.output],
            b=self.b,
            attrs=attributes(node),
        )
        for k, shape in enumerate(call.out_shapes):
            if shape is not None and 0 in shape:
                raise ModelImportError(
                    f"while importing node {call.label!r} ({node.op_type}): its output "
                    f"{node.output[k]!r} has size zero (shape {shape}); a graph with an empty "
                    "tensor cannot be compiled: fix the export"
                )
        outputs = self._map(index, call)
        for name, value in zip(node.output, outputs, strict=False):
            if name:
                self.env[name] = value

    def _fold(self, index: int, ins: list[Operand]) -> None:
        """A constant node: its outputs are constants carrying its inputs' params."""
        graph = self.graph
        params = sum(v.params for v in ins if isinstance(v, Const))
        if graph.nodes[index].op_type == "Constant":
            params = graph.base_params(graph.nodes[index].output[0])
        for k, name in enumerate(graph.nodes[index].output):
            if name:
                self.env[name] = Const(
                    shape=graph.shape(name),
                    params=params if k == 0 else 0,
                    value=graph.values.get(name),
                )

    def _map(self, index: int, call: Call) -> list[Operand]:
        node = self.graph.nodes[index]
        try:
            if index in self.norms:
                return [self._norm(self.norms[index], call)]
            handler = HANDLERS.get(node.op_type) if node.domain in ("", "ai.onnx") else None
            if handler is None:
                if not self.allow_unknown:  # pragma: no cover - caught by the op scan
                    raise Unsupported("")
                return generic_layer(call)
            result = handler(call)
            return result if isinstance(result, list) else [result]
        except Unsupported as err:
            if self.allow_unknown:
                self.generic.setdefault(node.op_type, []).append(call.label)
                return generic_layer(call)
            reason = f": {err}" if str(err) else ""
            raise UnsupportedOperatorError(
                f"unsupported use of ONNX operator {node.op_type} at node {call.label!r}"
                f"{reason}; ctxfit cannot price it: cut the graph before it with --end-nodes, "
                "or pass --allow-unknown to price it as a generic elementwise layer"
            ) from None
        except ModelImportError:
            raise
        except Exception as err:
            raise ModelImportError(
                f"while importing node {call.label!r} ({node.op_type}): {type(err).__name__}: {err}"
            ) from err

    def _norm(self, match: NormMatch, call: Call) -> Act:
        """One NORM layer for a decomposed layer norm ending at this node."""
        graph = self.graph
        root = self.env[match.root]
        assert isinstance(root, Act)
        members = [graph.nodes[i] for i in match.members]
        params = 0
        for node in members:
            for name in node.input:
                operand = self._operand(name) if not graph.is_activation(name) else None
                params += operand.params if isinstance(operand, Const) else 0
        call.ins = [root]
        ref = self.b.layer(
            match.name,
            OpKind.NORM,
            [root.ref],
            out_shape=call.frame(),
            params=params,
            source=f"onnx layer-norm decomposition ({len(members)} nodes, last {call.label!r})",
        )
        return call.emit(ref)
