"""Choose the part of an ONNX graph that goes on the chip.

:func:`select` cuts the graph like Hailo's parser does with ``--start-node-names`` and
``--end-node-names``; :func:`find_postprocess` recognises the decoding / NMS tail of Ultralytics
YOLO exports, which Hailo runs on the host, and cuts it off.

How the tail is recognised (no op names or node names are relied on):

1. An *anchor flatten* is a ``Reshape``/``Flatten`` that merges two or more non-unit dims of a
   feature map into one (``(1, 144, 80, 80) -> (1, 144, 6400)``, or YOLOv5's
   ``(1, 3, 80, 80, 85) -> (1, 19200, 85)``).
2. It belongs to a tail if everything downstream of it is light post-processing arithmetic
   (:data:`TAIL_OPS`: reshapes, concat, split, slice, gather, sigmoid, softmax, elementwise math,
   top-k, NMS...) plus at most a DFL: a 1x1 conv to one channel, or a matmul with a constant of
   at most :data:`DFL_MAX_WEIGHTS` elements. An attention block's reshape is followed by
   activation-by-activation matmuls and convs, so it never qualifies.
3. The tail must join two or more flattened maps (the scales of a detection head); a single
   flattened map (a segmentation logit, a classifier) is left alone.
4. The tail extends upstream through light ops whose every reader is already in the tail
   (YOLOv5's per-scale reshape, transpose and sigmoid; YOLOv8's per-scale box/class concat),
   but never through a SiLU (``x * sigmoid(x)``), and stops at the head's convolutions: their
   outputs become the graph outputs.
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cost_model.layer import Shape
from partitioner.errors import ModelImportError
from partitioner.importers.onnx_graph import OnnxGraph

TAIL_OPS = frozenset(
    {
        "Reshape",
        "Flatten",
        "Squeeze",
        "Unsqueeze",
        "Transpose",
        "Concat",
        "Split",
        "Slice",
        "Gather",
        "GatherElements",
        "GatherND",
        "Identity",
        "Cast",
        "Expand",
        "Tile",
        "Sigmoid",
        "Softmax",
        "Exp",
        "Log",
        "Sqrt",
        "Pow",
        "Add",
        "Sub",
        "Mul",
        "Div",
        "Neg",
        "Abs",
        "Floor",
        "Ceil",
        "Round",
        "Mod",
        "Clip",
        "Max",
        "Min",
        "ReduceMax",
        "ReduceMin",
        "ReduceSum",
        "ArgMax",
        "ArgMin",
        "TopK",
        "NonMaxSuppression",
        "NonZero",
        "Where",
        "Equal",
        "Less",
        "Greater",
        "LessOrEqual",
        "GreaterOrEqual",
        "And",
        "Or",
        "Not",
        "ScatterND",
        "ScatterElements",
        "Shape",
        "Size",
        "Range",
        "ConstantOfShape",
        "CumSum",
        "OneHot",
        "Sort",
    }
)
DFL_MAX_WEIGHTS = 64  # elements: a DFL conv holds reg_max (16) fixed bin weights
_SELECTION_OPS = frozenset({"TopK", "NonMaxSuppression", "GatherElements", "GatherND", "NonZero"})


@dataclass(frozen=True, kw_only=True)
class Selection:
    """The part of the graph to import: node indices, input tensors (full shapes), outputs."""

    nodes: frozenset[int]
    inputs: dict[str, Shape]
    outputs: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class PostprocessCut:
    """A YOLO decoding / NMS tail cut off the graph and left to the host.

    Attributes:
        end_nodes: the nodes whose outputs are now the graph outputs (``--end-nodes`` for the
            same cut).
        tensors: those output tensors.
        removed: how many nodes were cut off.
        removed_ops: the cut-off nodes per op type, most frequent first.
        selection: whether the tail selects boxes (top-k / NMS / gather), as YOLOv10 and
            end-to-end exports do.
        dfl: whether the tail holds a DFL (YOLOv8 / YOLO11 box decoding).
    """

    end_nodes: tuple[str, ...]
    tensors: tuple[str, ...]
    removed: int
    removed_ops: tuple[tuple[str, int], ...]
    selection: bool
    dfl: bool

    @property
    def message(self) -> str:
        """The line the CLI prints: where the graph was cut and how to override it."""
        ops = ", ".join(f"{op} x{n}" for op, n in self.removed_ops[:6])
        more = ", ..." if len(self.removed_ops) > 6 else ""
        what = "box decoding (DFL)" if self.dfl else "box decoding"
        if self.selection:
            what += " and top-k / NMS selection"
        return (
            f"cut the graph at {len(self.tensors)} head outputs: the last {self.removed} nodes "
            f"({ops}{more}) look like Ultralytics YOLO {what} and run on the host, not on the "
            f"chip; equivalent to --end-nodes {','.join(self.end_nodes)}; pass "
            "--keep-postprocess to place them on the chip"
        )


# -- --start-nodes / --end-nodes ---------------------------------------------------------------
def select(
    graph: OnnxGraph,
    *,
    start_nodes: Sequence[str] | None = None,
    end_nodes: Sequence[str] | None = None,
) -> Selection:
    """The nodes between ``start_nodes`` and ``end_nodes`` (both inclusive).

    A start name is a node (its activation inputs become the graph inputs) or a tensor (it
    becomes a graph input); an end name is a node (its activation outputs become the graph
    outputs) or a tensor. Without them the graph's own inputs and outputs are used (outputs
    that are constants are dropped).

    Raises:
        ModelImportError: a name that is neither a node nor a tensor (close names suggested);
            an end that is a constant; a start that no output depends on; a path from a graph
            input to an output that bypasses the start nodes.
    """
    outputs = _end_tensors(graph, end_nodes) if end_nodes else _graph_outputs(graph)
    if start_nodes:
        inputs = _start_tensors(graph, start_nodes)
        shapes = {name: _known_shape(graph, name) for name in inputs}
    else:
        shapes = dict(graph.inputs)
    kept = ancestors(graph, outputs, stop=set(shapes))
    if start_nodes:
        _check_start(graph, kept, shapes, start_nodes)
    used = {n for i in kept for n in graph.nodes[i].input} | set(outputs)
    inputs = {name: shape for name, shape in shapes.items() if name in used}
    return Selection(nodes=frozenset(kept), inputs=inputs, outputs=outputs)


def ancestors(graph: OnnxGraph, tensors: Iterable[str], *, stop: set[str]) -> set[int]:
    """Indices of the nodes the ``tensors`` depend on, not looking past ``stop`` tensors."""
    kept: set[int] = set()
    stack = [t for t in tensors if t not in stop]
    while stack:
        index = graph.producer.get(stack.pop())
        if index is None or index in kept:
            continue
        kept.add(index)
        stack.extend(n for n in graph.nodes[index].input if n and n not in stop)
    return kept


def _graph_outputs(graph: OnnxGraph) -> tuple[str, ...]:
    outputs = tuple(o for o in graph.outputs if graph.is_activation(o))
    if not outputs:
        raise ModelImportError(
            f"no output of {str(graph.path)!r} depends on its input (outputs: "
            f"{', '.join(repr(o) for o in graph.outputs[:3]) or 'none'}); there is no layer to "
            "import: export the model with its real outputs"
        )
    return outputs


def _resolve(graph: OnnxGraph, name: str, flag: str) -> tuple[int | None, str | None]:
    """``(node index, None)`` for a node name, ``(None, tensor)`` for a tensor name."""
    for index, label in enumerate(graph.labels):
        if label == name:
            return index, None
    if name in graph.producer or name in graph.inputs or name in graph.initializers:
        return None, name
    close = difflib.get_close_matches(name, graph.labels, n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise ModelImportError(
        f"{flag} {name!r} names no node and no tensor of {graph.name!r}{hint} "
        "(node names are the ONNX node names, e.g. as Netron shows them)"
    )


def _end_tensors(graph: OnnxGraph, names: Sequence[str]) -> tuple[str, ...]:
    tensors: list[str] = []
    for name in names:
        index, tensor = _resolve(graph, name, "--end-nodes")
        found = [tensor] if tensor else [o for o in graph.nodes[index].output if o]  # type: ignore[index]
        found = [t for t in found if graph.is_activation(t)]
        if not found:
            raise ModelImportError(
                f"--end-nodes {name!r} computes a constant (it does not depend on the input); "
                "end the graph at a node that processes the input"
            )
        tensors += found
    return tuple(dict.fromkeys(tensors))


def _start_tensors(graph: OnnxGraph, names: Sequence[str]) -> list[str]:
    tensors: list[str] = []
    for name in names:
        index, tensor = _resolve(graph, name, "--start-nodes")
        if tensor is not None:
            found = [tensor] if graph.is_activation(tensor) else []
        else:
            found = [n for n in graph.nodes[index].input if n and graph.is_activation(n)]  # type: ignore[index]
        if not found:
            raise ModelImportError(
                f"--start-nodes {name!r} reads no activation (only constants); start at a node "
                "that processes the input"
            )
        tensors += found
    return list(dict.fromkeys(tensors))


def _known_shape(graph: OnnxGraph, tensor: str) -> Shape:
    shape = graph.shape(tensor)
    if shape is None:
        raise ModelImportError(
            f"the shape of {tensor!r} is unknown, so it cannot start the graph; pick a start "
            "node whose inputs have static shapes, or pass --input-shape"
        )
    return shape


def _check_start(
    graph: OnnxGraph, kept: set[int], inputs: dict[str, Shape], names: Sequence[str]
) -> None:
    used = {n for i in kept for n in graph.nodes[i].input}
    if not used & set(inputs):
        raise ModelImportError(
            f"no output depends on --start-nodes {', '.join(names)}; start before the end nodes"
        )
    for index in sorted(kept):
        for name in graph.nodes[index].input:
            if name in graph.inputs and name not in inputs:
                raise ModelImportError(
                    f"node {graph.labels[index]!r} reads graph input {name!r} on a path that "
                    f"bypasses --start-nodes {', '.join(names)}; add a start node on that path"
                )


# -- the YOLO tail -----------------------------------------------------------------------------
def find_postprocess(
    graph: OnnxGraph, selection: Selection
) -> tuple[Selection, PostprocessCut] | None:
    """The selection without its YOLO decoding / NMS tail, and what was cut; None if the graph
    has no such tail (see the module docstring for the rules)."""
    active = [i for i in sorted(selection.nodes) if _produces_activation(graph, i)]
    readers = _activation_readers(graph, active)
    flattens = [i for i in active if _is_anchor_flatten(graph, i)]
    tails = [f for f in flattens if _downstream_is_light(graph, f, readers)]
    if not tails:
        return None
    region: set[int] = set()
    for flatten in tails:
        region |= _downstream(f=flatten, readers=readers)
    if not _joins_scales(graph, tails, region, readers):
        return None
    _extend_upstream(graph, active, region, readers, selection.outputs)
    cut = [
        name
        for i in sorted(region)
        for name in graph.nodes[i].input
        if graph.is_activation(name) and graph.producer.get(name) not in region
    ]
    cut = list(dict.fromkeys(cut))
    outputs = [o for o in selection.outputs if graph.producer.get(o) not in region]
    outputs = tuple(dict.fromkeys([*outputs, *cut]))
    kept = ancestors(graph, outputs, stop=set(selection.inputs))
    removed = (selection.nodes - kept) & region
    ops = Counter(graph.nodes[i].op_type for i in removed)
    result = PostprocessCut(
        end_nodes=tuple(dict.fromkeys(_end_label(graph, t) for t in cut)),
        tensors=tuple(cut),
        removed=len(removed),
        removed_ops=tuple(ops.most_common()),
        selection=bool(ops.keys() & _SELECTION_OPS),
        dfl=any(_is_dfl(graph, i) for i in region),
    )
    new = Selection(nodes=frozenset(kept), inputs=selection.inputs, outputs=outputs)
    return new, result


def _end_label(graph: OnnxGraph, tensor: str) -> str:
    index = graph.producer.get(tensor)
    return tensor if index is None else graph.labels[index]


def _produces_activation(graph: OnnxGraph, index: int) -> bool:
    return any(graph.is_activation(o) for o in graph.nodes[index].output)


def _activation_readers(graph: OnnxGraph, active: list[int]) -> dict[int, list[int]]:
    """For each node, the selected nodes that read one of its activation outputs."""
    chosen = set(active)
    return {
        i: sorted(
            {r for o in graph.nodes[i].output for r in graph.consumers.get(o, []) if r in chosen}
        )
        for i in active
    }


def _is_anchor_flatten(graph: OnnxGraph, index: int) -> bool:
    node = graph.nodes[index]
    if node.op_type not in ("Reshape", "Flatten") or not graph.is_activation(node.input[0]):
        return False
    src, out = graph.shape(node.input[0]), graph.shape(node.output[0])
    return src is not None and out is not None and merges_dims(src, out)


def merges_dims(src: Shape, out: Shape) -> bool:
    """True if ``out`` merges two or more consecutive non-unit dims of ``src`` into one.

    >>> merges_dims((1, 144, 80, 80), (1, 144, 6400))
    True
    >>> merges_dims((1, 3, 80, 80, 85), (1, 19200, 85))   # YOLOv5: anchors x H x W
    True
    >>> merges_dims((1, 512, 1, 1), (1, 512)), merges_dims((1, 51, 8400), (1, 17, 3, 8400))
    (False, False)
    """
    if len(out) >= len(src):
        return False
    for start in range(len(src)):
        lead = _prod(src[:start])
        for axis in (k for k in range(len(out)) if _prod(out[:k]) == lead):
            merged, big = 1, 0
            for dim in src[start:]:
                merged *= dim
                big += dim > 1
                if merged == out[axis] and big >= 2:
                    return True
                if merged > out[axis]:
                    break
    return False


def _prod(dims: Sequence[int]) -> int:
    out = 1
    for d in dims:
        out *= d
    return out


def _downstream(*, f: int, readers: dict[int, list[int]]) -> set[int]:
    seen = {f}
    stack = [f]
    while stack:
        for reader in readers.get(stack.pop(), []):
            if reader not in seen:
                seen.add(reader)
                stack.append(reader)
    return seen


def _downstream_is_light(graph: OnnxGraph, flatten: int, readers: dict[int, list[int]]) -> bool:
    return all(
        graph.nodes[i].op_type in TAIL_OPS or _is_dfl(graph, i)
        for i in _downstream(f=flatten, readers=readers)
    )


def _is_dfl(graph: OnnxGraph, index: int) -> bool:
    """A DFL expectation: a conv to one channel, or a matmul with a tiny constant."""
    node = graph.nodes[index]
    if node.op_type == "Conv" and len(node.input) > 1:
        weight = graph.shape(node.input[1])
        return (
            not graph.is_activation(node.input[1])
            and weight is not None
            and weight[0] == 1
            and _prod(weight) <= DFL_MAX_WEIGHTS
        )
    if node.op_type == "MatMul":
        consts = [n for n in node.input if not graph.is_activation(n)]
        shapes = [graph.shape(n) for n in consts]
        return len(consts) == 1 and shapes[0] is not None and _prod(shapes[0]) <= DFL_MAX_WEIGHTS
    return False


def _joins_scales(
    graph: OnnxGraph, tails: list[int], region: set[int], readers: dict[int, list[int]]
) -> bool:
    """True if some node of the region reads two or more different anchor flattens."""
    origins: dict[int, set[int]] = {t: {t} for t in tails}
    for index in sorted(region):
        for reader in readers.get(index, []):
            origins.setdefault(reader, set()).update(origins.get(index, set()))
    return any(len(found) >= 2 for found in origins.values())


def _extend_upstream(
    graph: OnnxGraph,
    active: list[int],
    region: set[int],
    readers: dict[int, list[int]],
    outputs: Sequence[str],
) -> None:
    """Grow the region upstream through light nodes read only by the region."""
    for index in reversed(active):
        if index in region or graph.nodes[index].op_type not in TAIL_OPS:
            continue
        node = graph.nodes[index]
        mine = readers.get(index, [])
        if not mine or any(r not in region for r in mine):
            continue
        if any(o in outputs for o in node.output) or _is_silu(graph, index):
            continue
        region.add(index)


def _is_silu(graph: OnnxGraph, index: int) -> bool:
    """True for the ``Mul`` of ``x * sigmoid(x)`` (an activation of the layer before)."""
    node = graph.nodes[index]
    if node.op_type != "Mul" or len(node.input) != 2:
        return False
    for a, b in (node.input, reversed(node.input)):
        producer = graph.producer.get(b)
        if producer is not None and graph.nodes[producer].op_type in ("Sigmoid", "HardSigmoid"):
            if graph.nodes[producer].input[0] == a:
                return True
    return False
