"""A framework-neutral graph builder: importers feed it primitive ops, it fuses them as Hailo's
parser does and returns a :class:`partitioner.graph.Network`.

An importer (torch.fx, ONNX) walks its framework graph in topological order and calls one method
per primitive: :meth:`GraphBuilder.conv`, :meth:`~GraphBuilder.batch_norm`,
:meth:`~GraphBuilder.activation`, :meth:`~GraphBuilder.view`, ... Each call returns a
:class:`TensorRef` (the producing node and the shape the reader sees), which later calls take as
operands. :meth:`GraphBuilder.build` then rewrites (a copy of) the primitive graph in these
passes and converts what is left into frozen :class:`~cost_model.layer.Layer` values:

1. **Constant folding.** An :meth:`~GraphBuilder.affine` (a tensor scaled or shifted by a
   python scalar, a buffer or a broadcast parameter) is folded into its producer: no layer, its
   parameters (if any) are added to the producer's, its name to the producer's ``fused``.
2. **Pointwise collapse.** A connected group of activations and two-operand elementwise ops that
   all compute a function of ONE tensor ``x`` (and whose intermediate results nobody else reads)
   becomes one activation if it is a known decomposition: ``x * sigmoid(x)`` is ``silu``;
   ``0.5 * x * (1 + erf(x / sqrt 2))`` and the ``tanh`` form are ``gelu``;
   ``x * relu6(x + 3) / 6`` is ``hardswish``; ``x * tanh(softplus(x))`` is ``mish``. Other
   groups (``relu(x) + x``, ``sigmoid(relu(x))``) are left as they are. An intermediate with
   two or more readers ends a group (a decomposed activation fans out only at its input), so
   ``y = sigmoid(x)`` read elsewhere keeps ``x * y`` a ``MUL`` layer, and ``silu(gelu(x))``
   written out stays two activations.
   Importers that recognise a decomposition themselves (ONNX) call
   :meth:`~GraphBuilder.activation` with ``fused=`` the node names they merged.
3. **Split merging, transpose and pad absorption.** Splits and slices of the same tensor (as
   the same shape) merge into one ``SPLIT`` layer (``qkv[0], qkv[1], qkv[2]`` is one split).
   A transpose is not a layer when (a) every path from it reaches a matmul or a dense layer
   through splits and such transposes only: both compute dot products along one axis and read
   their operands in whatever order the compiler lays them out (the ``k^T`` of attention, the
   head split before ``q @ k^T`` and the head merge before the output projection; Hailo's
   parser treats attention heads as feature groups, so none of these is a layer of its own); or
   (b) it only converts between channels-first and channels-last order with the spatial order
   kept (``(C, H, W) <-> (H, W, C)``, a flattened ``(C, H*W)`` map to ``(H*W, C)`` tokens, or
   tokens back to a map that every reader views as ``(C, H, W)``): Hailo stores feature maps
   channels-last, so these move no data; or (c) it only moves size-1 dimensions. Every other
   transpose (one feeding an add, a norm, a conv, a graph output) is a ``TRANSPOSE`` layer.
   A pad whose every reader is a (non-transposed) convolution is folded into that convolution's
   padding; the convolution's input shape is then the unpadded one.
4. **Conv fusion.** A conv / deconv / dense whose output has exactly one reader that is a batch
   norm absorbs it (its affine params are added); then, if the output (now after the batch norm)
   has exactly one reader that is an activation, absorbs that too (``activation="relu"``).
   Graph outputs count as readers. An activation that is not absorbed is an ``ACTIVATION`` layer,
   a batch norm that is not absorbed a ``NORM`` layer.
5. **Dead code.** Nodes that no output depends on are dropped (first, after the pointwise
   collapse, and last).

Views (:meth:`~GraphBuilder.view`: view, reshape, flatten, squeeze, unsqueeze, contiguous,
dropout, identity) create no node at all: the returned ref names the underlying producer with the
new shape, so the reader's ``input_shapes`` entry is the reshaped shape. A split / chunk / slice
is one ``SPLIT`` layer whose ``output_shape`` is its whole input; each reader's ``input_shapes``
entry is the part it reads.

Metric conventions (shapes are per frame, without the batch dimension):

- conv MACs = ``C_out * H_out * W_out * (C_in / groups) * k_h * k_w`` (a 1-D conv has ``H = 1``);
- deconv MACs = ``C_in * H_in * W_in * (C_out / groups) * k_h * k_w``;
- dense MACs = ``tokens * in * out`` (``tokens`` = product of all input dims but the last);
- matmul MACs = ``batch * M * K * N`` (attention heads count as batch): ``numel(out) * K`` with
  ``K`` the last dim of the first operand as the reader sees it;
- every other op: 0 MACs;
- params: what the importer passes (a conv/dense's weights + bias; batch-norm affine params are
  added when it is fused), so ``network.total_params`` equals the module's parameter count when
  every parameter is used exactly once. A parameter used by two layers counts twice: each layer
  holds its own copy on the chip.
- ``groups == C_in == C_out`` with ``C_in > 1`` is a ``DWCONV``.

Names are made unique by appending ``_1``, ``_2``, ...; use the name in the returned ref.

>>> b = GraphBuilder("tiny")
>>> x = b.input("x", (3, 8, 8))
>>> y = b.conv("conv", x, out_shape=(4, 8, 8), kernel=(3, 3), params=112)
>>> y = b.batch_norm("bn", y, params=8)
>>> s = b.activation("sig", y, "sigmoid")
>>> y = b.elementwise("mul", OpKind.MUL, [y, s], out_shape=(4, 8, 8))
>>> b.mark_output(b.view(y, (256,)))
>>> net = b.build()
>>> [(layer.name, layer.op.value, layer.activation, layer.fused) for layer in net]
[('conv', 'conv', 'silu', ('bn', 'sig', 'mul'))]
>>> net.total_params, net.total_macs      # 112 + 8; 4*8*8 outputs * 3 in * 3*3
(120, 6912)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from cost_model.layer import Layer, OpKind, Shape
from partitioner.errors import GraphError, ModelImportError
from partitioner.graph import Network

_OUTPUT = "\0output"  # reader id standing for "a graph output"

# Node kinds of the primitive graph (internal).
_INPUT, _CONV, _DENSE, _BN, _ACT, _AFFINE = "input", "conv", "dense", "bn", "act", "affine"
_BINARY, _MATMUL, _TRANSPOSE, _PAD, _SPLIT, _LAYER = (
    "binary",
    "matmul",
    "transpose",
    "pad",
    "split",
    "layer",
)
_GENERIC_OPS = frozenset(
    {
        OpKind.MAXPOOL,
        OpKind.AVGPOOL,
        OpKind.GLOBAL_POOL,
        OpKind.ADD,
        OpKind.MUL,
        OpKind.CONCAT,
        OpKind.RESIZE,
        OpKind.SOFTMAX,
        OpKind.NORM,
        OpKind.AFFINE,
        OpKind.TRANSPOSE,
        OpKind.PAD,
        OpKind.ARGMAX,
    }
)


@dataclass(frozen=True, kw_only=True)
class TensorRef:
    """A tensor as one reader sees it: the node that produced it and its per-frame shape."""

    node: str
    shape: Shape


@dataclass(kw_only=True)
class _Node:
    """One primitive op; mutable, private to the builder (the output is frozen Layers)."""

    name: str
    kind: str
    inputs: list[TensorRef]
    shape: Shape
    op: OpKind | None = None
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    params: int = 0
    activation: str | None = None
    transposed: bool = False
    perm: tuple[int, ...] | None = None
    source: str = ""
    fused: list[str] = field(default_factory=list)

    def copy(self) -> _Node:
        return _Node(**{**self.__dict__, "inputs": list(self.inputs), "fused": list(self.fused)})


def _shape(shape: Iterable[int]) -> Shape:
    return tuple(int(d) for d in shape)


def _pair(value: int | Sequence[int]) -> tuple[int, int]:
    """``(h, w)`` from an int or a 1- or 2-sequence (a 1-D op has ``h = 1``).

    >>> _pair(3), _pair((5,)), _pair((3, 1))
    ((3, 3), (1, 5), (3, 1))
    """
    if isinstance(value, int):
        return (value, value)
    items = tuple(int(v) for v in value)
    return (1, items[0]) if len(items) == 1 else (items[-2], items[-1])


class GraphBuilder:
    """Collects primitive ops in topological order and builds a fused :class:`Network`.

    Every method that adds an op takes the operand refs returned by earlier calls and returns the
    ref of its output. ``source`` is free text for messages (framework op and source line).

    Raises:
        GraphError: an operand ref that this builder did not produce (an importer bug).
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._nodes: dict[str, _Node] = {}
        self._outputs: list[TensorRef] = []

    # -- graph inputs and outputs -------------------------------------------------------------
    def input(self, name: str, shape: Sequence[int]) -> TensorRef:
        """A graph input of per-frame ``shape``."""
        return self._add(_Node(name=name, kind=_INPUT, inputs=[], shape=_shape(shape)))

    def mark_output(self, ref: TensorRef) -> None:
        """Declare ``ref`` a graph output (a graph input cannot be one)."""
        self._check(ref)
        self._outputs.append(ref)

    # -- ops that fuse -------------------------------------------------------------------------
    def conv(
        self,
        name: str,
        src: TensorRef,
        *,
        out_shape: Sequence[int],
        kernel: int | Sequence[int],
        stride: int | Sequence[int] = 1,
        dilation: int | Sequence[int] = 1,
        groups: int = 1,
        params: int,
        transposed: bool = False,
        source: str = "",
    ) -> TensorRef:
        """A convolution (``transposed=True``: a deconvolution); 1-D ops pass 1-sequences."""
        return self._add(
            _Node(
                name=name,
                kind=_CONV,
                inputs=[self._check(src)],
                shape=_shape(out_shape),
                kernel=_pair(kernel),
                stride=_pair(stride),
                dilation=_pair(dilation),
                groups=int(groups),
                params=int(params),
                transposed=transposed,
                source=source,
            )
        )

    def dense(
        self, name: str, src: TensorRef, *, out_shape: Sequence[int], params: int, source: str = ""
    ) -> TensorRef:
        """A fully connected layer over the last dimension of ``src``."""
        node = _Node(
            name=name,
            kind=_DENSE,
            inputs=[self._check(src)],
            shape=_shape(out_shape),
            params=int(params),
            source=source,
        )
        return self._add(node)

    def batch_norm(self, name: str, src: TensorRef, *, params: int, source: str = "") -> TensorRef:
        """A batch norm (``params``: its affine weight + bias, 0 without affine)."""
        node = _Node(
            name=name,
            kind=_BN,
            inputs=[self._check(src)],
            shape=src.shape,
            params=int(params),
            source=source,
        )
        return self._add(node)

    def activation(
        self,
        name: str,
        src: TensorRef,
        function: str,
        *,
        params: int = 0,
        source: str = "",
        fused: Sequence[str] = (),
    ) -> TensorRef:
        """A pointwise function of one tensor: ``relu``, ``silu``, ``sigmoid``, ``erf``, ``pow``...

        ``fused`` lists framework nodes the importer already merged into it (a decomposed GELU);
        ``params`` counts learned slopes (PReLU).
        """
        node = _Node(
            name=name,
            kind=_ACT,
            inputs=[self._check(src)],
            shape=src.shape,
            activation=function,
            params=int(params),
            source=source,
            fused=list(fused),
        )
        return self._add(node)

    def affine(
        self,
        name: str,
        src: TensorRef,
        *,
        out_shape: Sequence[int] | None = None,
        params: int = 0,
        source: str = "",
    ) -> TensorRef:
        """``src`` scaled or shifted by a constant: folded into the producer, never a layer.

        ``params`` counts a learned constant (a layer-scale vector) so the parameter total holds.
        """
        node = _Node(
            name=name,
            kind=_AFFINE,
            inputs=[self._check(src)],
            shape=_shape(src.shape if out_shape is None else out_shape),
            params=int(params),
            source=source,
        )
        return self._add(node)

    # -- ops that stay layers ------------------------------------------------------------------
    def elementwise(
        self,
        name: str,
        op: OpKind,
        srcs: Sequence[TensorRef],
        *,
        out_shape: Sequence[int],
        params: int = 0,
        source: str = "",
    ) -> TensorRef:
        """``ADD`` (add/sub) or ``MUL`` (mul/div) of tensors; ``params`` counts a learned operand
        (a position embedding added to the tokens: then ``srcs`` holds only the activation).
        """
        if op not in (OpKind.ADD, OpKind.MUL):
            raise GraphError(f"elementwise op must be ADD or MUL, not {op!r}")
        refs = [self._check(s) for s in srcs]
        kind = _BINARY if len(refs) == 2 and params == 0 else _LAYER
        node = _Node(
            name=name,
            kind=kind,
            op=op,
            inputs=refs,
            shape=_shape(out_shape),
            params=int(params),
            source=source,
        )
        return self._add(node)

    def matmul(
        self,
        name: str,
        a: TensorRef,
        b: TensorRef,
        *,
        out_shape: Sequence[int],
        source: str = "",
    ) -> TensorRef:
        """A product of two activations; ``a``'s last dim (as this reader sees it) is K."""
        node = _Node(
            name=name,
            kind=_MATMUL,
            op=OpKind.MATMUL,
            inputs=[self._check(a), self._check(b)],
            shape=_shape(out_shape),
            source=source,
        )
        return self._add(node)

    def transpose(
        self,
        name: str,
        src: TensorRef,
        *,
        perm: Sequence[int] | None = None,
        out_shape: Sequence[int] | None = None,
        source: str = "",
    ) -> TensorRef:
        """A per-frame permutation ``perm`` of ``src``'s dims (``None``: any data rearrangement
        such as a pixel shuffle, then ``out_shape`` is required; never absorbed).
        """
        self._check(src)
        if perm is not None:
            perm = tuple(int(p) for p in perm)
            if sorted(perm) != list(range(len(src.shape))):
                raise GraphError(f"{perm!r} is not a permutation of the dims of {src.shape!r}")
            shape = tuple(src.shape[p] for p in perm)
        elif out_shape is None:
            raise GraphError(f"transpose {name!r} needs perm or out_shape")
        else:
            shape = _shape(out_shape)
        node = _Node(
            name=name,
            kind=_TRANSPOSE,
            op=OpKind.TRANSPOSE,
            inputs=[src],
            shape=shape,
            perm=perm,
            source=source,
        )
        return self._add(node)

    def pad(
        self, name: str, src: TensorRef, *, out_shape: Sequence[int], source: str = ""
    ) -> TensorRef:
        """Explicit padding; folded into the convolutions that read it."""
        node = _Node(
            name=name,
            kind=_PAD,
            op=OpKind.PAD,
            inputs=[self._check(src)],
            shape=_shape(out_shape),
            source=source,
        )
        return self._add(node)

    def split(
        self, name: str, src: TensorRef, parts: Sequence[Sequence[int]], *, source: str = ""
    ) -> tuple[TensorRef, ...]:
        """One ``SPLIT`` layer; returns one ref per part (a slice passes one part)."""
        node = _Node(
            name=name,
            kind=_SPLIT,
            op=OpKind.SPLIT,
            inputs=[self._check(src)],
            shape=src.shape,
            source=source,
        )
        ref = self._add(node)
        return tuple(TensorRef(node=ref.node, shape=_shape(p)) for p in parts)

    def layer(
        self,
        name: str,
        op: OpKind,
        srcs: Sequence[TensorRef],
        *,
        out_shape: Sequence[int],
        kernel: int | Sequence[int] = 1,
        stride: int | Sequence[int] = 1,
        params: int = 0,
        source: str = "",
    ) -> TensorRef:
        """Any other layer (pooling, concat, resize, softmax, norm...): 0 MACs by convention."""
        if op not in _GENERIC_OPS:
            raise GraphError(f"use the dedicated builder method for {op.value!r} layers")
        node = _Node(
            name=name,
            kind=_LAYER,
            op=op,
            inputs=[self._check(s) for s in srcs],
            shape=_shape(out_shape),
            kernel=_pair(kernel),
            stride=_pair(stride),
            params=int(params),
            source=source,
        )
        return self._add(node)

    # -- no-op views ---------------------------------------------------------------------------
    def view(self, src: TensorRef, shape: Sequence[int]) -> TensorRef:
        """``src`` seen with another shape (view, reshape, flatten, dropout...): no node."""
        self._check(src)
        return TensorRef(node=src.node, shape=_shape(shape))

    # -- build ---------------------------------------------------------------------------------
    def build(self) -> Network:
        """Run the passes described in the module docstring and return the network.

        Raises:
            ModelImportError: no output was marked, or an output is a graph input (nothing to
                compute).
        """
        if not self._outputs:
            raise ModelImportError(f"{self.name!r} has no output tensor; nothing to import")
        graph = _Graph({n: node.copy() for n, node in self._nodes.items()}, list(self._outputs))
        for ref in graph.outputs:
            if graph.nodes[ref.node].kind == _INPUT:
                raise ModelImportError(
                    f"{self.name!r} returns its input {ref.node!r} unchanged; there is no "
                    "layer to partition"
                )
        graph.drop_dead()
        _fold_affines(graph)
        _collapse_pointwise(graph)
        graph.drop_dead()
        _merge_splits(graph)
        _absorb_transposes(graph)
        _absorb_pads(graph)
        _fuse_chains(graph)
        graph.drop_dead()
        inputs = {n: node.shape for n, node in graph.nodes.items() if node.kind == _INPUT}
        order = {name: index for index, name in enumerate(self._nodes)}
        layers = [_to_layer(node, order) for node in graph.nodes.values() if node.kind != _INPUT]
        outputs = list(dict.fromkeys(ref.node for ref in graph.outputs))
        return Network(self.name, layers, inputs=inputs, outputs=outputs)

    # -- helpers -------------------------------------------------------------------------------
    def _check(self, ref: TensorRef) -> TensorRef:
        if not isinstance(ref, TensorRef) or ref.node not in self._nodes:
            raise GraphError(f"{ref!r} was not produced by this builder")
        return ref

    def _add(self, node: _Node) -> TensorRef:
        node.name = self._unique(node.name)
        self._nodes[node.name] = node
        return TensorRef(node=node.name, shape=node.shape)

    def _unique(self, name: str) -> str:
        if name not in self._nodes:
            return name
        k = 1
        while f"{name}_{k}" in self._nodes:
            k += 1
        return f"{name}_{k}"


class _Graph:
    """The primitive graph during :meth:`GraphBuilder.build`: nodes in topological order plus a
    reader index (one entry per operand slot; :data:`_OUTPUT` for a graph output)."""

    def __init__(self, nodes: dict[str, _Node], outputs: list[TensorRef]) -> None:
        self.nodes = nodes
        self.outputs = outputs
        self.readers: dict[str, list[str]] = {n: [] for n in nodes}
        for node in nodes.values():
            for ref in node.inputs:
                self.readers[ref.node].append(node.name)
        for ref in outputs:
            self.readers[ref.node].append(_OUTPUT)

    def producer(self, node: _Node, index: int = 0) -> _Node:
        return self.nodes[node.inputs[index].node]

    def reader_nodes(self, name: str) -> list[_Node] | None:
        """Distinct reader nodes of ``name``, or None if a graph output reads it."""
        readers = self.readers[name]
        if _OUTPUT in readers:
            return None
        return [self.nodes[r] for r in dict.fromkeys(readers)]

    def set_inputs(self, node: _Node, inputs: list[TensorRef]) -> None:
        for ref in node.inputs:
            self.readers[ref.node].remove(node.name)
        node.inputs = inputs
        for ref in inputs:
            self.readers[ref.node].append(node.name)

    def dissolve(self, name: str, into: str, shape: Shape | None = None) -> None:
        """Remove node ``name``; its readers read ``into`` instead (with their own shape, or
        ``shape`` if given)."""
        node = self.nodes.pop(name)
        for ref in node.inputs:
            self.readers[ref.node].remove(name)
        readers = self.readers.pop(name)

        def redirect(ref: TensorRef) -> TensorRef:
            if ref.node != name:
                return ref
            return TensorRef(node=into, shape=ref.shape if shape is None else shape)

        for reader in dict.fromkeys(readers):
            if reader == _OUTPUT:
                self.outputs = [redirect(r) for r in self.outputs]
            else:
                target = self.nodes[reader]
                target.inputs = [redirect(r) for r in target.inputs]
        self.readers[into].extend(readers)

    def drop_dead(self) -> None:
        """Remove non-input nodes that nothing reads, last first."""
        for name in reversed(list(self.nodes)):
            node = self.nodes[name]
            if node.kind != _INPUT and not self.readers[name]:
                for ref in node.inputs:
                    self.readers[ref.node].remove(name)
                del self.nodes[name]
                del self.readers[name]


# -- passes --------------------------------------------------------------------------------------
def _fold_affines(graph: _Graph) -> None:
    """Fold each affine into its producer (a graph input with a learned operand: a MUL layer)."""
    for node in [n for n in graph.nodes.values() if n.kind == _AFFINE]:
        producer = graph.producer(node)
        if producer.kind == _INPUT and node.params > 0:
            node.kind, node.op = _LAYER, OpKind.MUL
            continue
        if producer.kind != _INPUT:
            producer.params += node.params
            producer.fused.extend([node.name, *node.fused])
        graph.dissolve(node.name, producer.name)


def _pointwise_roots(graph: _Graph, boundary: set[str]) -> dict[str, str]:
    """For every activation / two-operand elementwise node that is a function of ONE tensor,
    that tensor's producer (looking through non-boundary pointwise nodes)."""
    roots: dict[str, str] = {}
    for node in graph.nodes.values():
        if node.kind not in (_ACT, _BINARY):
            continue
        sources = {
            roots[r.node] if r.node in roots and r.node not in boundary else r.node
            for r in node.inputs
        }
        if len(sources) == 1:
            roots[node.name] = sources.pop()
    return roots


def _collapse_pointwise(graph: _Graph) -> None:
    """Pass 2 of the module docstring: each maximal single-input pointwise group -> one act."""
    boundary: set[str] = set()
    while True:
        roots = _pointwise_roots(graph, boundary)
        exposed = {
            name
            for name, root in roots.items()
            if len(set(graph.readers[name])) > 1
            or any(r == _OUTPUT or roots.get(r) != root for r in graph.readers[name])
        }
        if exposed <= boundary:
            break
        boundary |= exposed
    position = {name: index for index, name in enumerate(graph.nodes)}
    for name in [n for n in graph.nodes if n in boundary and n in roots]:
        _collapse_group(graph, graph.nodes[name], roots, boundary, position)


@dataclass(frozen=True)
class _Summary:
    """What :func:`_pointwise_name` reads of a pointwise group: its activation functions and
    how many MULs and ADDs it holds."""

    functions: frozenset[str]
    muls: int
    adds: int

    def __add__(self, other: _Summary) -> _Summary:
        return _Summary(
            self.functions | other.functions, self.muls + other.muls, self.adds + other.adds
        )

    @staticmethod
    def of(node: _Node) -> _Summary:
        if node.kind == _ACT:
            return _Summary(frozenset({node.activation or ""}), 0, 0)
        return _Summary(frozenset(), int(node.op is OpKind.MUL), int(node.op is OpKind.ADD))


def _group(
    graph: _Graph, out: _Node, roots: dict[str, str], boundary: set[str]
) -> dict[str, _Node]:
    """The pointwise group ending at ``out``: ``out`` and every non-boundary pointwise node it
    reaches through nodes of the same root (a tree: each member but ``out`` has one reader)."""
    root = roots[out.name]
    group: dict[str, _Node] = {}
    stack = [out]
    while stack:
        node = stack.pop()
        if node.name in group:
            continue
        group[node.name] = node
        for ref in node.inputs:
            if ref.node in roots and ref.node not in boundary and roots[ref.node] == root:
                stack.append(graph.nodes[ref.node])
    return group


def _collapse_group(
    graph: _Graph,
    out: _Node,
    roots: dict[str, str],
    boundary: set[str],
    position: dict[str, int],
) -> None:
    """Collapse the group ending at ``out`` if it is a known activation; otherwise try each
    member, parents before their operands (``silu(x) + x`` keeps the ``ADD``, collapses the
    silu). Iterative, linear in the group's size: each member's summary is the sum of its
    operands' (a chain of 20,000 pointwise ops needs no recursion)."""
    group = _group(graph, out, roots, boundary)
    children = {
        name: [r.node for r in dict.fromkeys(node.inputs) if r.node in group and r.node != name]
        for name, node in group.items()
    }
    summary: dict[str, _Summary] = {}
    for name in sorted(group, key=position.__getitem__):  # operands before their readers
        own = _Summary.of(group[name])
        summary[name] = sum((summary[c] for c in dict.fromkeys(children[name])), own)
    stack = [out.name]
    while stack:
        name = stack.pop()
        function = _summary_name(summary[name])
        if function is None:  # not a known activation; maybe a part of it is: silu(x) + x
            stack.extend(reversed(list(dict.fromkeys(children[name]))))
            continue
        _collapse(graph, group[name], roots[out.name], roots, boundary, position, function)


def _collapse(
    graph: _Graph,
    out: _Node,
    root: str,
    roots: dict[str, str],
    boundary: set[str],
    position: dict[str, int],
    function: str,
) -> None:
    """Make ``out`` the activation ``function`` of ``root``; the rest of its group is dead."""
    group = _group(graph, out, roots, boundary)
    root_ref = next(r for n in group.values() for r in n.inputs if r.node == root)
    order = sorted((n for n in group if n != out.name), key=position.__getitem__)
    out.fused = [f for n in order for f in (n, *graph.nodes[n].fused)] + out.fused
    out.kind, out.op = _ACT, None
    out.activation = function
    graph.set_inputs(out, [TensorRef(node=root, shape=root_ref.shape)])


def _pointwise_name(acts: Sequence[str], binaries: Sequence[OpKind | None]) -> str | None:
    """The activation a pointwise group computes, or None if it is no known decomposition.

    >>> _pointwise_name(["sigmoid"], [OpKind.MUL]), _pointwise_name(["erf"], [OpKind.MUL])
    ('silu', 'gelu')
    >>> _pointwise_name(["pow", "tanh"], [OpKind.ADD, OpKind.MUL])
    'gelu'
    >>> _pointwise_name(["relu6"], [OpKind.MUL]), _pointwise_name(["relu"], [OpKind.ADD])
    ('hardswish', None)
    """
    muls = sum(op is OpKind.MUL for op in binaries)
    adds = sum(op is OpKind.ADD for op in binaries)
    return _summary_name(_Summary(frozenset(acts), muls, adds))


def _summary_name(group: _Summary) -> str | None:
    """:func:`_pointwise_name` of a group's summary."""
    fns, muls = group.functions, group.muls
    if not muls:
        return None
    if fns == {"erf"}:
        return "gelu"  # 0.5 x (1 + erf(x / sqrt 2))
    if fns == {"softplus", "tanh"}:
        return "mish"  # x tanh(softplus(x))
    if group.adds and (fns == {"pow", "tanh"} or (fns == {"tanh"} and muls >= 3)):
        return "gelu"  # 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
    if fns == {"sigmoid"}:
        return "silu"  # x sigmoid(x)
    if len(fns) == 1 and fns <= {"hardsigmoid", "relu6", "hardtanh", "clip"}:
        return "hardswish"  # x relu6(x + 3) / 6
    return None


def _merge_splits(graph: _Graph) -> None:
    """Pass 3a: splits of the same tensor, seen as the same shape, become one split."""
    first: dict[TensorRef, _Node] = {}
    for node in [n for n in graph.nodes.values() if n.kind == _SPLIT]:
        kept = first.setdefault(node.inputs[0], node)
        if kept is not node:
            kept.fused.extend([node.name, *node.fused])
            graph.dissolve(node.name, kept.name)


def _feeds_dot_products(graph: _Graph, name: str, memo: dict[str, bool]) -> bool:
    """True if every path from ``name`` reaches a matmul or dense layer through splits and
    perm transposes only (no graph output on the way).

    Iterative (a chain of 20,000 transposes needs no recursion); ``memo`` keeps the answers
    for nodes downstream of ``name``, which stay valid while :func:`_absorb_transposes` walks
    the transposes in topological order (dissolving one changes only answers upstream of it).
    """
    stack = [name]
    while stack:
        current = stack[-1]
        if current in memo:
            stack.pop()
            continue
        readers = graph.reader_nodes(current)
        through = [r.name for r in readers or [] if _passes_through(r)]
        pending = [r for r in through if r not in memo]
        if pending:
            stack.extend(pending)
            continue
        stack.pop()
        memo[current] = bool(readers) and all(
            r.kind in (_MATMUL, _DENSE) or (_passes_through(r) and memo[r.name])
            for r in readers or []
        )
    return memo[name]


def _passes_through(node: _Node) -> bool:
    """A split or a perm transpose: a path to a dot product may go on through it."""
    return node.kind == _SPLIT or (node.kind == _TRANSPOSE and node.perm is not None)


def _absorb_transposes(graph: _Graph) -> None:
    """Pass 3b: drop the transposes that move no data (see the module docstring)."""
    memo: dict[str, bool] = {}
    for node in [n for n in graph.nodes.values() if n.kind == _TRANSPOSE]:
        if node.perm is None:
            continue
        readers = graph.reader_nodes(node.name) or []
        reader_shapes = [ref.shape for r in readers for ref in r.inputs if ref.node == node.name]
        if (
            _feeds_dot_products(graph, node.name, memo)
            or _moves_only_unit_dims(node.inputs[0].shape, node.perm)
            or _is_layout_change(
                node.inputs[0].shape, node.perm, graph.producer(node).shape, reader_shapes
            )
        ):
            producer = graph.producer(node)
            producer.params += node.params  # an affine folded into the transpose (pass 1)
            producer.fused.extend(node.fused)
            graph.dissolve(node.name, node.inputs[0].node)


def _moves_only_unit_dims(shape: Shape, perm: tuple[int, ...]) -> bool:
    """True if ``perm`` keeps the order of the dims larger than 1.

    >>> _moves_only_unit_dims((1, 5, 7), (1, 0, 2)), _moves_only_unit_dims((5, 7), (1, 0))
    (True, False)
    """
    big = [p for p in perm if shape[p] != 1]
    return big == sorted(big)


def _is_layout_change(
    shape: Shape, perm: tuple[int, ...], producer_shape: Shape, reader_shapes: list[Shape]
) -> bool:
    """True if ``perm`` only converts channels-first <-> channels-last (spatial order kept).

    Rank >= 3: ``(C, H, W) -> (H, W, C)`` or back. Rank 2 is ambiguous (tokens ``(N, D)`` or a
    flattened map ``(C, H*W)``), so it counts only when the producer made a ``(C, H, W)`` map
    (map -> tokens) or every reader views the result as ``(C, H, W)`` (tokens -> map).

    >>> _is_layout_change((64, 7, 7), (1, 2, 0), (64, 7, 7), [])
    True
    >>> _is_layout_change((64, 49), (1, 0), (64, 7, 7), []), _is_layout_change((49, 64), (1, 0),
    ...     (49, 64), [(64, 7, 7)]), _is_layout_change((49, 64), (1, 0), (49, 64), [(64, 49)])
    (True, True, False)
    """
    rank = len(perm)
    to_last = tuple(range(1, rank)) + (0,)
    to_first = (rank - 1,) + tuple(range(rank - 1))
    if rank < 2 or perm not in (to_last, to_first):
        return False
    if rank >= 3:
        return True
    rows, cols = shape
    map_to_tokens = len(producer_shape) == 3 and producer_shape[0] == rows
    map_to_tokens = map_to_tokens and math.prod(producer_shape[1:]) == cols
    tokens_to_map = bool(reader_shapes) and all(
        len(s) == 3 and s[0] == cols and s[1] * s[2] == rows for s in reader_shapes
    )
    return map_to_tokens or tokens_to_map


def _absorb_pads(graph: _Graph) -> None:
    """Pass 3c: a pad read only by convolutions becomes their padding."""
    for node in [n for n in graph.nodes.values() if n.kind == _PAD]:
        readers = graph.reader_nodes(node.name)
        if readers and all(r.kind == _CONV and not r.transposed for r in readers):
            graph.dissolve(node.name, node.inputs[0].node, shape=node.inputs[0].shape)


def _fuse_chains(graph: _Graph) -> None:
    """Pass 4: conv/dense + batch norm + activation -> one node."""
    for node in [n for n in graph.nodes.values() if n.kind in (_CONV, _DENSE)]:
        for kind in (_BN, _ACT):
            readers = graph.readers[node.name]
            if len(readers) != 1 or readers[0] == _OUTPUT:
                break
            reader = graph.nodes[readers[0]]
            if reader.kind == kind:
                node.params += reader.params
                if kind == _ACT:
                    node.activation = reader.activation
                node.fused.extend([reader.name, *reader.fused])
                graph.dissolve(reader.name, node.name)


def _to_layer(node: _Node, order: dict[str, int]) -> Layer:
    """The frozen layer of a surviving node, with its MACs by the module conventions and its
    fused node names in import order."""
    in_shapes = tuple(ref.shape for ref in node.inputs)
    kh, kw = node.kernel
    macs = 0
    op = node.op
    if node.kind == _CONV:
        c_in, c_out = in_shapes[0][0], node.shape[0]
        per_group = (c_out if node.transposed else c_in) // node.groups
        spatial = math.prod(in_shapes[0][1:] if node.transposed else node.shape[1:])
        macs = (c_in if node.transposed else c_out) * spatial * per_group * kh * kw
        if node.transposed:
            op = OpKind.DECONV
        elif node.groups == c_in == c_out and c_in > 1:
            op = OpKind.DWCONV
        else:
            op = OpKind.CONV
    elif node.kind == _DENSE:
        op = OpKind.DENSE
        macs = math.prod(in_shapes[0][:-1]) * in_shapes[0][-1] * node.shape[-1]
    elif node.kind == _MATMUL:
        macs = math.prod(node.shape) * in_shapes[0][-1]
    elif node.kind == _ACT:
        op = OpKind.ACTIVATION
    elif node.kind == _BN:
        op = OpKind.AFFINE
    assert op is not None, node.kind
    return Layer(
        name=node.name,
        op=op,
        inputs=tuple(ref.node for ref in node.inputs),
        input_shapes=in_shapes,
        output_shape=node.shape,
        kernel=node.kernel,
        stride=node.stride,
        dilation=node.dilation,
        groups=node.groups,
        params=node.params,
        macs=macs,
        activation=node.activation,
        source=node.source,
        fused=tuple(sorted(node.fused, key=order.__getitem__)),
    )
