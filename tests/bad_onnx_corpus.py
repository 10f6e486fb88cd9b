"""A generated corpus of small bad (and a few odd but valid) ONNX files.

:func:`generate` writes 1,000 files (most under 10 KB) into a directory and returns each path
with the verdict the importer must reach: ``"reject"`` (one :class:`~partitioner.errors.CtxfitError`
naming the file or the node, op, attribute) or ``"accept"`` (layers with positive dims and
non-negative params and MACs). :func:`generate_fuzz` adds random byte overwrites whose verdict
nobody can know in advance (only "no traceback" holds for them). ``benchmarks/badinputs.py``
uses the same entry points::

    from tests.bad_onnx_corpus import generate
    for path, expected in generate(directory, seed=15): ...

The files come from seven hand-built base models (:data:`BASES`: a conv chain, a residual add,
a concat, a gemm / matmul head, a resize FPN, batch norm + pooling, an attention block), each a
few hundred weights, mutated the ways the QA report of 2026-12-06 lists:

- bytes: truncations inside the graph, overwrites of weight bytes (same network as the base),
  random overwrites that protobuf cannot parse, a broken first tag;
- attributes out of range (strides, pads, dilations, group, kernel, types), axes and perms
  outside the rank, input and initializer dims (0, -1, 1e9, 2^62, symbolic, STRING, scalar),
  conv / gemm / matmul weights that disagree with their input, names (invalid UTF-8, rich markup
  ``[/]`` and ``[bold]``, ANSI escapes, newlines, 5,000 characters, empty, duplicated), cycles,
  dangling inputs, missing initializers, unknown ops and domains, opsets, external data, an
  empty graph;
- one-off files: empty, text, random bytes, a directory, a FIFO, symlink loops, a 2,000-op
  chain, a 300-way concat, scalar and rank-1 / rank-6 graphs, tensors over the size limits.

A file is named ``BASE__CLASS__NN.onnx`` (``files__CLASS__NN`` for the one-offs); files of a
class in :data:`SAME_NETWORK` must import to exactly the base's layers, those in
:data:`SAME_NUMBERS` to the base's ops, shapes, params and MACs under other names.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import ModelProto, NodeProto, TensorProto, helper, numpy_helper

FLOAT = TensorProto.FLOAT
REJECT, ACCEPT = "reject", "accept"
INT64_MAX = 2**63 - 1

# Classes whose files import to the base's network exactly / up to layer names.
SAME_NETWORK = frozenset(
    {"weight_bytes", "reordered", "dup_init", "attr_default", "dup_output", "external", "unused"}
)
SAME_NUMBERS = frozenset({"names", "bad_utf8"})


# -- base models ---------------------------------------------------------------------------------
class _Net:
    """A tiny graph under construction: nodes, initializers with seeded random weights."""

    def __init__(self, name: str, rng: np.random.Generator) -> None:
        self.name = name
        self.rng = rng
        self.nodes: list[NodeProto] = []
        self.inits: list[TensorProto] = []

    def weight(self, name: str, *shape: int) -> str:
        values = self.rng.standard_normal(shape).astype(np.float32)
        self.inits.append(numpy_helper.from_array(values, name))
        return name

    def ints(self, name: str, values: list[int]) -> str:
        self.inits.append(numpy_helper.from_array(np.array(values, dtype=np.int64), name))
        return name

    def floats(self, name: str, values: list[float]) -> str:
        self.inits.append(numpy_helper.from_array(np.array(values, dtype=np.float32), name))
        return name

    def add(self, op: str, inputs: list[str], name: str, **attrs: object) -> str:
        out = f"t_{name}"
        self.nodes.append(helper.make_node(op, inputs, [out], name=f"n_{name}", **attrs))
        return out

    def conv(self, x: str, name: str, c_in: int, c_out: int, k: int = 3, **attrs: object) -> str:
        attrs.setdefault("pads", [k // 2] * 4)
        w = self.weight(f"w_{name}", c_out, c_in, k, k)
        b = self.weight(f"b_{name}", c_out)
        return self.add("Conv", [x, w, b], name, **attrs)

    def model(self, inputs: dict[str, list[int]], outputs: list[str]) -> ModelProto:
        graph = helper.make_graph(
            self.nodes,
            self.name,
            [helper.make_tensor_value_info(k, FLOAT, v) for k, v in inputs.items()],
            [helper.make_tensor_value_info(o, FLOAT, None) for o in outputs],
            initializer=self.inits,
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = 8
        return model


def _convrelu(rng: np.random.Generator) -> ModelProto:
    n = _Net("convrelu", rng)
    y = n.add("Relu", [n.conv("images", "conv0", 3, 8)], "relu0")
    y = n.add("Relu", [n.conv(y, "conv1", 8, 8, strides=[2, 2])], "relu1")
    return n.model({"images": [1, 3, 8, 8]}, [y])


def _residual(rng: np.random.Generator) -> ModelProto:
    n = _Net("residual", rng)
    a = n.add("Relu", [n.conv("images", "conv0", 3, 8)], "relu0")
    b = n.conv(a, "conv1", 8, 8)
    y = n.add("Relu", [n.add("Add", [a, b], "add0")], "relu1")
    return n.model({"images": [1, 3, 8, 8]}, [y])


def _concat(rng: np.random.Generator) -> ModelProto:
    n = _Net("concat", rng)
    a = n.conv("images", "conv_a", 3, 4)
    b = n.conv("images", "conv_b", 3, 4, k=1)
    y = n.conv(n.add("Concat", [a, b], "cat0", axis=1), "conv_c", 8, 8, k=1)
    return n.model({"images": [1, 3, 8, 8]}, [y])


def _head(rng: np.random.Generator) -> ModelProto:
    n = _Net("head", rng)
    y = n.add("Relu", [n.conv("images", "conv0", 3, 8)], "relu0")
    flat = n.add("Flatten", [n.add("GlobalAveragePool", [y], "gap0")], "flat0", axis=1)
    gemm = n.add("Gemm", [flat, n.weight("w_fc", 10, 8), n.weight("b_fc", 10)], "fc", transB=1)
    probs = n.add("Softmax", [gemm], "softmax0", axis=1)
    dense = n.add("MatMul", [flat, n.weight("w_mm", 8, 4)], "mm0")
    aux = n.add("Add", [dense, n.weight("b_mm", 4)], "bias0")
    return n.model({"images": [1, 3, 8, 8]}, [probs, aux])


def _fpn(rng: np.random.Generator) -> ModelProto:
    n = _Net("fpn", rng)
    low = n.conv("images", "conv_s2", 3, 8, strides=[2, 2])
    roi, scales = n.floats("roi", []), n.floats("scales", [1.0, 1.0, 2.0, 2.0])
    up = n.add("Resize", [low, roi, scales], "up0", mode="nearest")
    high = n.conv("images", "conv_s1", 3, 8)
    cat = n.add("Concat", [up, high], "cat0", axis=1)
    return n.model({"images": [1, 3, 8, 8]}, [n.conv(cat, "conv_out", 16, 8, k=1)])


def _bnpool(rng: np.random.Generator) -> ModelProto:
    n = _Net("bnpool", rng)
    y = n.conv("images", "conv0", 3, 8)
    bn = [n.weight(f"bn_{p}", 8) for p in ("scale", "bias", "mean")]
    bn.append(n.floats("bn_var", [1.0] * 8))
    y = n.add("Relu", [n.add("BatchNormalization", [y, *bn], "bn0")], "relu0")
    y = n.add("MaxPool", [y], "pool0", kernel_shape=[2, 2], strides=[2, 2])
    y = n.add("AveragePool", [y], "pool1", kernel_shape=[2, 2], strides=[2, 2])
    flat = n.add("Flatten", [n.add("GlobalAveragePool", [y], "gap0")], "flat0", axis=1)
    out = n.add("Gemm", [flat, n.weight("w_fc", 10, 8), n.weight("b_fc", 10)], "fc", transB=1)
    return n.model({"images": [1, 3, 8, 8]}, [out])


def _attention(rng: np.random.Generator) -> ModelProto:
    n = _Net("attention", rng)
    heads, tokens = n.ints("shape_heads", [1, 16, 2, 16]), n.ints("shape_tokens", [1, 16, 32])
    split = {}
    for part, perm in (("q", [0, 2, 1, 3]), ("k", [0, 2, 3, 1]), ("v", [0, 2, 1, 3])):
        proj = n.add("MatMul", ["tokens", n.weight(f"w_{part}", 32, 32)], f"proj_{part}")
        view = n.add("Reshape", [proj, heads], f"heads_{part}")
        split[part] = n.add("Transpose", [view], f"perm_{part}", perm=perm)
    scores = n.add("MatMul", [split["q"], split["k"]], "scores")
    scaled = n.add("Mul", [scores, n.floats("scale", [0.25])], "scaled")
    probs = n.add("Softmax", [scaled], "softmax0", axis=-1)
    mixed = n.add("MatMul", [probs, split["v"]], "mix")
    merged = n.add("Transpose", [mixed], "perm_out", perm=[0, 2, 1, 3])
    flat = n.add("Reshape", [merged, tokens], "merge")
    out = n.add("MatMul", [flat, n.weight("w_o", 32, 32)], "proj_o")
    return n.model({"tokens": [1, 16, 32]}, [n.add("Add", [out, "tokens"], "residual0")])


BASES: dict[str, Callable[[np.random.Generator], ModelProto]] = {
    "convrelu": _convrelu,
    "residual": _residual,
    "concat": _concat,
    "head": _head,
    "fpn": _fpn,
    "bnpool": _bnpool,
    "attention": _attention,
}


def base_model(name: str, seed: int) -> ModelProto:
    """The base model ``name`` with the weights :func:`generate` gives it for ``seed``."""
    return BASES[name](np.random.default_rng([seed, list(BASES).index(name)]))


# -- helpers -------------------------------------------------------------------------------------
Case = tuple[str, "ModelProto | bytes", str]  # (class, model or raw bytes, expected)


def _copy(model: ModelProto) -> ModelProto:
    out = ModelProto()
    out.CopyFrom(model)
    return out


def _first(model: ModelProto, *ops: str) -> NodeProto | None:
    return next((n for n in model.graph.node if n.op_type in ops), None)


def _set_attr(node: NodeProto, name: str, value: object) -> None:
    keep = [a for a in node.attribute if a.name != name]
    del node.attribute[:]
    node.attribute.extend(keep)
    node.attribute.append(helper.make_attribute(name, value))


def _with_attr(model: ModelProto, op: str, name: str, value: object) -> ModelProto:
    out = _copy(model)
    node = _first(out, op)
    assert node is not None
    _set_attr(node, name, value)
    return out


def _edit(model: ModelProto, change: Callable[[ModelProto], object]) -> ModelProto:
    out = _copy(model)
    change(out)
    return out


def _init(model: ModelProto, name: str) -> TensorProto:
    return next(t for t in model.graph.initializer if t.name == name)


def _conv_weight(model: ModelProto) -> str | None:
    node = _first(model, "Conv")
    return node.input[1] if node is not None else None


def _main_weight(model: ModelProto) -> str:
    """The largest float initializer: a weight whose bytes nothing reads."""
    floats = [t for t in model.graph.initializer if t.data_type == FLOAT]
    return max(floats, key=lambda t: len(t.raw_data)).name


def _input_dims(model: ModelProto, dims: list[object] | None, elem: int = FLOAT) -> ModelProto:
    out = _copy(model)
    info = out.graph.input[0]
    info.CopyFrom(helper.make_tensor_value_info(info.name, elem, dims))
    return out


# -- structural mutations ------------------------------------------------------------------------
def _attr_cases(model: ModelProto) -> Iterator[Case]:
    if _first(model, "Conv") is not None:
        for name, value in (
            ("strides", [0, 0]),
            ("strides", [-1, -1]),
            ("strides", [2**62, 2**62]),
            ("strides", [1, 1, 1]),
            ("strides", "ab"),
            ("pads", [-5, -5, -5, -5]),
            ("pads", [10**9] * 4),
            ("pads", [100] * 4),
            ("pads", [1, 1]),
            ("dilations", [0, 0]),
            ("dilations", [10**6, 10**6]),
            ("group", 0),
            ("group", -1),
            ("group", INT64_MAX),
            ("group", 5),
            ("group", 1.0),
            ("kernel_shape", [2**40, 2**40]),
            ("kernel_shape", [5, 5]),
            ("kernel_shape", [3]),
            ("auto_pad", "BOGUS"),
        ):
            yield "attr_range", _with_attr(model, "Conv", name, value), REJECT
        for name, value in (("dilations", [1, 1]), ("group", 1), ("frobnicate", 3)):
            yield "attr_default", _with_attr(model, "Conv", name, value), ACCEPT
    if _first(model, "MaxPool") is not None:
        for name, value in (
            ("kernel_shape", [0, 0]),
            ("kernel_shape", [100, 100]),
            ("strides", [0, 0]),
            ("pads", [-1, -1, -1, -1]),
        ):
            yield "attr_range", _with_attr(model, "MaxPool", name, value), REJECT

        def drop_kernel(m: ModelProto) -> None:
            node = _first(m, "MaxPool")
            assert node is not None
            keep = [a for a in node.attribute if a.name != "kernel_shape"]
            del node.attribute[:]
            node.attribute.extend(keep)

        yield "attr_range", _edit(model, drop_kernel), REJECT


def _axis_cases(model: ModelProto) -> Iterator[Case]:
    if _first(model, "Concat") is not None:
        for axis in (2**40, -(2**40), 4, -5):
            yield "axis", _with_attr(model, "Concat", "axis", axis), REJECT
        yield "attr_default", _with_attr(model, "Concat", "axis", -3), ACCEPT
    if _first(model, "Softmax") is not None:
        yield "axis", _with_attr(model, "Softmax", "axis", 2**40), REJECT
        yield "axis", _with_attr(model, "Softmax", "axis", -(2**40)), REJECT
    if _first(model, "Flatten") is not None:
        yield "axis", _with_attr(model, "Flatten", "axis", 2**40), REJECT
        yield "axis", _with_attr(model, "Flatten", "axis", 5), REJECT
    if _first(model, "Transpose") is not None:
        for perm in ([0, 1, 2, 7], [0, 0, 1, 2], [0, 2, 1], [-1, 0, 1, 2]):
            yield "axis", _with_attr(model, "Transpose", "perm", perm), REJECT


def _dims_cases(model: ModelProto) -> Iterator[Case]:
    rank = len(model.graph.input[0].type.tensor_type.shape.dim)
    dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    for axis, value in ((1, 0), (2, -1), (2, 2**62), (2, 10**9)):
        bad = list(dims)
        bad[axis] = value
        if value == 10**9:
            bad[-1] = value
        yield "dims", _input_dims(model, bad), REJECT
    yield "dims", _input_dims(model, ["N", *dims[1:]]), ACCEPT
    yield "dims", _input_dims(model, [*dims[:-1], "width"]), REJECT  # needs --input-shape
    yield "dims", _input_dims(model, None), REJECT
    yield "dims", _input_dims(model, dims, TensorProto.STRING), REJECT
    yield "dims", _input_dims(model, dims, TensorProto.COMPLEX64), REJECT
    yield "dims", _input_dims(model, []), REJECT
    yield "dims", _input_dims(model, [2, *dims[1:]]), REJECT  # batch 2
    if rank == 4:
        yield "dims", _input_dims(model, dims[1:]), REJECT  # a conv needs (N, C, H, W)
    weight = _main_weight(model)
    for change in ("zero", "negative", "huge", "half", "double"):

        def edit(m: ModelProto, change: str = change) -> None:
            tensor = _init(m, weight)
            if change == "zero":
                tensor.dims[0] = 0
            elif change == "negative":
                tensor.dims[0] = -4
            elif change == "huge":
                tensor.dims[0] = 10**9
            elif change == "half":
                tensor.raw_data = tensor.raw_data[: len(tensor.raw_data) // 2]
            else:
                tensor.raw_data = tensor.raw_data * 2

        yield "init_dims", _edit(model, edit), REJECT


def _weight_cases(model: ModelProto) -> Iterator[Case]:
    weight = _conv_weight(model)
    if weight is not None:
        c_out = _init(model, weight).dims[0]
        for shape in ((c_out, 5, 3, 3), (c_out, 27), (c_out * 27,), (c_out, 3, 3, 3, 1)):

            def edit(m: ModelProto, shape: tuple[int, ...] = shape) -> None:
                tensor = _init(m, weight)
                tensor.CopyFrom(numpy_helper.from_array(np.ones(shape, np.float32), weight))

            yield "weight", _edit(model, edit), REJECT
    for name, shape in (("w_fc", (10, 7)), ("w_mm", (7, 4)), ("w_q", (31, 32)), ("w_o", (32, 7))):
        if any(t.name == name for t in model.graph.initializer):

            def edit(m: ModelProto, name: str = name, shape: tuple[int, int] = shape) -> None:
                _init(m, name).CopyFrom(numpy_helper.from_array(np.ones(shape, np.float32), name))

            yield "weight", _edit(model, edit), REJECT  # w_o (32, 7): the residual add fails


_ODD_NAMES = (
    "conv[/]0",
    "[bold]relu[/bold]",
    "\x1b[31mred\x1b[0m",
    "new\nline",
    "rtl\u202egnp.exe",
    "[link=file:///etc/passwd]x[/link]",
    "x" * 5000,
    "\\" * 300,
)


def _name_cases(model: ModelProto) -> Iterator[Case]:
    for odd in _ODD_NAMES:

        def rename(m: ModelProto, odd: str = odd) -> None:
            m.graph.node[0].name = odd

        yield "names", _edit(model, rename), ACCEPT

    def empty(m: ModelProto) -> None:
        for node in m.graph.node:
            node.name = ""

    def same(m: ModelProto) -> None:
        for node in m.graph.node:
            node.name = "same"

    def tensor(m: ModelProto) -> None:
        old = m.graph.node[0].output[0]
        for node in m.graph.node:
            node.input[:] = ["t[/]x\x1b[1m" if n == old else n for n in node.input]
        m.graph.node[0].output[0] = "t[/]x\x1b[1m"

    def graph_name(m: ModelProto) -> None:
        m.graph.name = "../../etc/passwd\x00[/]"

    for change in (empty, same, tensor, graph_name):
        yield "names", _edit(model, change), ACCEPT


def _bad_utf8_cases(model: ModelProto) -> Iterator[Case]:
    """Names that are not valid UTF-8, made by editing the serialized bytes (protobuf will not
    write them): a node name, a tensor name (everywhere it occurs), two node names that decode
    to the same text, the input name, an op type."""
    blob = model.SerializeToString()
    first = model.graph.node[0]

    def field(name: str) -> bytes:
        data = name.encode()
        return b"\x1a" + bytes([len(data)]) + data  # NodeProto.name, field 3

    def spoil(name: str) -> bytes:
        data = bytearray(name.encode())
        data[-1] = 0xFF
        return bytes(data)

    yield "bad_utf8", blob.replace(field(first.name), field(first.name)[:-1] + b"\xff"), ACCEPT
    tensor = first.output[0]
    yield "bad_utf8", blob.replace(tensor.encode(), spoil(tensor)), ACCEPT
    twins = _copy(model)
    twins.graph.node[0].name, twins.graph.node[1].name = "n_aa", "n_ab"
    both = twins.SerializeToString()
    both = both.replace(b"n_aa", b"n_\xff\xfe").replace(b"n_ab", b"n_\xfe\xff")
    yield "bad_utf8", both, ACCEPT
    source = model.graph.input[0].name
    yield "bad_utf8", blob.replace(source.encode(), spoil(source)), ACCEPT
    op = first.op_type.encode()
    tag = b"\x22" + bytes([len(op)]) + op  # NodeProto.op_type, field 4
    yield "bad_utf8", blob.replace(tag, tag[:-1] + b"\xff", 1), REJECT


def _structure_cases(model: ModelProto) -> Iterator[Case]:
    def cycle(m: ModelProto) -> None:
        first, last = m.graph.node[0], m.graph.node[-1]
        first.input[0] = last.output[0]

    def self_loop(m: ModelProto) -> None:
        node = m.graph.node[1]
        node.input[0] = node.output[0]

    def dangling(m: ModelProto) -> None:
        m.graph.node[1].input[0] = "no_such_tensor_xyz"

    def missing_init(m: ModelProto) -> None:
        name = _main_weight(m)
        keep = [t for t in m.graph.initializer if t.name != name]
        del m.graph.initializer[:]
        m.graph.initializer.extend(keep)

    def twice(m: ModelProto) -> None:
        m.graph.node[1].output[0] = m.graph.node[0].output[0]

    def unknown_op(m: ModelProto) -> None:
        m.graph.node[1].op_type = "FrobnicateV2"

    def empty_op(m: ModelProto) -> None:
        m.graph.node[1].op_type = ""

    def custom_domain(m: ModelProto) -> None:
        m.graph.node[1].domain = "com.example"

    def microsoft(m: ModelProto) -> None:
        m.graph.node[1].domain = "com.microsoft"

    def no_outputs(m: ModelProto) -> None:
        del m.graph.output[:]

    def no_inputs(m: ModelProto) -> None:
        del m.graph.input[:]

    def no_nodes(m: ModelProto) -> None:
        del m.graph.node[:]

    def no_graph(m: ModelProto) -> None:
        m.ClearField("graph")

    def output_is_input(m: ModelProto) -> None:
        m.graph.output[0].name = m.graph.input[0].name

    for change in (cycle, self_loop, dangling, missing_init, twice, unknown_op, empty_op):
        yield "structure", _edit(model, change), REJECT
    for change in (custom_domain, microsoft, no_outputs, no_inputs, no_nodes, no_graph):
        yield "structure", _edit(model, change), REJECT
    yield "structure", _edit(model, output_is_input), REJECT

    def reverse(m: ModelProto) -> None:
        nodes = list(m.graph.node)[::-1]
        del m.graph.node[:]
        m.graph.node.extend(nodes)

    def dup_init(m: ModelProto) -> None:
        m.graph.initializer.append(_init(m, _main_weight(m)))

    def dup_output(m: ModelProto) -> None:
        m.graph.output.append(m.graph.output[0])

    def unused(m: ModelProto) -> None:
        m.graph.input.append(helper.make_tensor_value_info("unused_extra", FLOAT, [1, 4]))

    yield "reordered", _edit(model, reverse), ACCEPT
    yield "dup_init", _edit(model, dup_init), ACCEPT
    yield "dup_output", _edit(model, dup_output), ACCEPT
    yield "unused", _edit(model, unused), ACCEPT


def _opset_cases(model: ModelProto) -> Iterator[Case]:
    def opset(version: int | None) -> Callable[[ModelProto], None]:
        def change(m: ModelProto) -> None:
            del m.opset_import[:]
            if version is not None:
                m.opset_import.append(helper.make_opsetid("", version))

        return change

    for version in (11, 13, 21):
        yield "opset", _edit(model, opset(version)), ACCEPT
    yield "opset", _edit(model, opset(99)), ACCEPT  # with a warning: outside 11-21
    for version in (1, -3, 2**62, None):
        yield "opset", _edit(model, opset(version)), REJECT

    def ir(m: ModelProto) -> None:
        m.ir_version = 99

    yield "opset", _edit(model, ir), ACCEPT


def _external_cases(model: ModelProto) -> Iterator[Case]:
    weight = _main_weight(model)
    for location, length in (("missing.bin", None), ("../../../../etc/passwd", None)):

        def edit(m: ModelProto, location: str = location, length: int | None = length) -> None:
            tensor = _init(m, weight)
            tensor.ClearField("raw_data")
            tensor.data_location = TensorProto.EXTERNAL
            tensor.external_data.add(key="location", value=location)
            if length is not None:
                tensor.external_data.add(key="length", value=str(length))

        yield "external", _edit(model, edit), ACCEPT

    def dev_zero(m: ModelProto) -> None:
        tensor = _init(m, weight)
        tensor.ClearField("raw_data")
        tensor.data_location = TensorProto.EXTERNAL
        tensor.external_data.add(key="location", value="/dev/zero")
        tensor.external_data.add(key="length", value=str(10**12))

    yield "external", _edit(model, dev_zero), ACCEPT
    if any(t.name == "shape_heads" for t in model.graph.initializer):

        def shape_outside(m: ModelProto) -> None:
            tensor = _init(m, "shape_heads")
            tensor.ClearField("raw_data")
            tensor.data_location = TensorProto.EXTERNAL
            tensor.external_data.add(key="location", value="missing_shape.bin")

        yield "external_shape", _edit(model, shape_outside), REJECT


# -- byte mutations ------------------------------------------------------------------------------
def _graph_end(model: ModelProto, blob: bytes) -> int:
    """Offset just past the serialized graph: a cut before it leaves a length prefix pointing
    past the end of the file (or no graph at all)."""
    graph = model.graph.SerializeToString()
    start = blob.find(graph)
    assert start > 0
    return start + len(graph)


def _without_weights(model: ModelProto) -> bytes:
    out = _copy(model)
    for tensor in out.graph.initializer:
        tensor.ClearField("raw_data")
    return out.SerializeToString(deterministic=True)


def _byte_cases(
    model: ModelProto, rng: random.Random, fuzz: list[bytes] | None = None
) -> Iterator[Case]:
    blob = model.SerializeToString()
    end = _graph_end(model, blob)
    for offset in sorted(rng.sample(range(end), 24)):
        yield "truncated", blob[:offset], REJECT
    weight = _init(model, _main_weight(model)).raw_data
    start = blob.find(weight)
    for _ in range(8):
        data = bytearray(blob)
        for _ in range(rng.randint(1, 6)):
            data[rng.randrange(start, start + len(weight))] = rng.randrange(256)
        yield "weight_bytes", bytes(data), ACCEPT
    yield "header", b"\x0f" + blob[1:], REJECT  # field 1 with wire type 7: no such wire type
    reference = _without_weights(model)
    for _ in range(16):
        data = bytearray(blob)
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        try:
            parsed = onnx.load_model_from_string(bytes(data))
        except Exception:
            yield "overwrite", bytes(data), REJECT
            continue
        if _without_weights(parsed) == reference:
            yield "weight_bytes", bytes(data), ACCEPT
        elif fuzz is not None:
            fuzz.append(bytes(data))


# -- one-off files -------------------------------------------------------------------------------
def _single_op_model(
    nodes: list[NodeProto],
    inputs: dict[str, list[object] | None],
    outputs: list[str],
    inits: Sequence[TensorProto] = (),
) -> ModelProto:
    graph = helper.make_graph(
        nodes,
        "single",
        [helper.make_tensor_value_info(k, FLOAT, v) for k, v in inputs.items()],
        [helper.make_tensor_value_info(o, FLOAT, None) for o in outputs],
        initializer=list(inits),
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def _external_weight(name: str, dims: list[int]) -> TensorProto:
    tensor = TensorProto(name=name, data_type=FLOAT, dims=dims)
    tensor.data_location = TensorProto.EXTERNAL
    tensor.external_data.add(key="location", value="not_here.bin")
    return tensor


def _model_files() -> Iterator[Case]:
    make = helper.make_node

    def chain(length: int) -> ModelProto:
        nodes = [make("Relu", [f"r{i}"], [f"r{i + 1}"], name=f"relu{i}") for i in range(length)]
        return _single_op_model(nodes, {"r0": [1, 4, 4, 4]}, [f"r{length}"])

    yield "chain", chain(2000), ACCEPT
    fan = [make("Relu", ["x"], [f"b{i}"], name=f"branch{i}") for i in range(300)]
    fan.append(make("Concat", [f"b{i}" for i in range(300)], ["y"], name="cat", axis=1))
    yield "fanout", _single_op_model(fan, {"x": [1, 2, 4, 4]}, ["y"]), ACCEPT
    wide = make("Conv", ["x", "w"], ["y"], name="wide_conv", pads=[1, 1, 1, 1])
    yield (
        "wide",
        _single_op_model(
            [wide], {"x": [1, 3, 8, 8]}, ["y"], [_external_weight("w", [10**6, 3, 3, 3])]
        ),
        ACCEPT,
    )
    for dims in ([8], [1, 2, 3, 2, 3, 2]):
        yield (
            "rank",
            _single_op_model([make("Relu", ["x"], ["y"], name="r")], {"x": dims}, ["y"]),
            ACCEPT,
        )
    yield "rank", _single_op_model([make("Relu", ["x"], ["y"], name="r")], {"x": []}, ["y"]), REJECT
    identity = make("Identity", ["x"], ["y"], name="id")
    yield "trivial", _single_op_model([identity], {"x": [1, 4]}, ["y"]), REJECT
    const = make(
        "Constant", [], ["y"], name="c", value=numpy_helper.from_array(np.ones(4, np.float32))
    )
    yield "trivial", _single_op_model([const], {"x": [1, 4]}, ["y"]), REJECT
    shape = make("Shape", ["x"], ["y"], name="s")
    yield "trivial", _single_op_model([shape], {"x": [1, 4]}, ["y"]), REJECT
    reduce = make("ReduceMean", ["x"], ["y"], name="mean_all", keepdims=0)
    yield "scalar", _single_op_model([reduce], {"x": [1, 4, 4]}, ["y"]), REJECT
    yield (
        "huge",
        _single_op_model(
            [make("Relu", ["x"], ["y"], name="r")], {"x": [1, 16, 2**20, 2**20]}, ["y"]
        ),
        REJECT,
    )
    big = make("Conv", ["x", "w"], ["y"], name="big_conv", pads=[1, 1, 1, 1])
    yield (
        "huge",
        _single_op_model(
            [big],
            {"x": [1, 2**15, 2**10, 2**10]},
            ["y"],
            [_external_weight("w", [2**15, 2**15, 3, 3])],
        ),
        REJECT,
    )
    ok = make("Conv", ["x", "w"], ["y"], name="ok_conv", pads=[1, 1, 1, 1])
    w = numpy_helper.from_array(np.ones((4, 3, 3, 3), np.float32), "w")
    pad = make("Pad", ["y", "pads"], ["z"], name="pad_huge")
    pads = numpy_helper.from_array(np.array([0, 0, 0, 0, 0, 0, 10**6, 10**6], np.int64), "pads")
    yield "huge", _single_op_model([ok, pad], {"x": [1, 3, 8, 8]}, ["z"], [w, pads]), REJECT
    crop = numpy_helper.from_array(np.array([0, 0, -9, 0, 0, 0, 0, 0], np.int64), "pads")
    yield "huge", _single_op_model([ok, pad], {"x": [1, 3, 8, 8]}, ["z"], [w, crop]), REJECT
    up = make("Resize", ["y", "", "scales"], ["z"], name="up_huge", mode="nearest")
    scales = numpy_helper.from_array(np.array([1, 1, 1e6, 1e6], np.float32), "scales")
    yield "huge", _single_op_model([ok, up], {"x": [1, 3, 8, 8]}, ["z"], [w, scales]), REJECT


_RAW_FILES: dict[str, bytes] = {
    "empty": b"",
    "text": b"this is not an ONNX model\n",
    "json": b'{"ir_version": 8, "graph": {}}',
    "python": b"import torch\nmodel = torch.nn.Conv2d(3, 8, 3)\n",
    "nul": b"\x00" * 64,
    "utf16": "an ONNX model?".encode("utf-16"),
    "varint": b"\x3a" + b"\xff" * 11,  # graph field, a length varint that never ends
    "claims_4gb": b"\x08\x08\x3a\x80\x80\x80\x80\x10",  # graph field claiming 4 GiB
    "zip": b"PK\x03\x04" + b"\x00" * 60,
    "textproto": b'ir_version: 8\ngraph { name: "g" }\n',
}


def _special_files(directory: Path, rng: random.Random) -> Iterator[tuple[Path, str]]:
    """Paths that are not plain model files: directories, a FIFO, symlinks, random bytes."""
    for name, data in _RAW_FILES.items():
        path = directory / f"files__raw__{name}.onnx"
        path.write_bytes(data)
        yield path, REJECT
    for k in range(6):
        path = directory / f"files__random__{k:02d}.onnx"
        path.write_bytes(bytes(rng.randrange(256) for _ in range(rng.randint(1, 300))))
        yield path, REJECT
    empty_dir = directory / "files__dir__empty.onnx"
    empty_dir.mkdir()
    yield empty_dir, REJECT
    full_dir = directory / "files__dir__holding.onnx"
    full_dir.mkdir()
    onnx.save(base_model("convrelu", 0), str(full_dir / "model.onnx"))
    yield full_dir, REJECT
    if hasattr(os, "mkfifo"):
        fifo = directory / "files__fifo__00.onnx"
        os.mkfifo(fifo)
        yield fifo, REJECT
    loop_a, loop_b = directory / "files__link__loop_a.onnx", directory / "files__link__loop_b.onnx"
    loop_a.symlink_to(loop_b.name)
    loop_b.symlink_to(loop_a.name)
    yield loop_a, REJECT
    dangling = directory / "files__link__dangling.onnx"
    dangling.symlink_to("nowhere.onnx")
    yield dangling, REJECT
    device = directory / "files__link__devnull.onnx"
    device.symlink_to(os.devnull)
    yield device, REJECT
    private = directory / "files__mode__000.onnx"
    onnx.save(base_model("convrelu", 0), str(private))
    private.chmod(0)
    readable = os.access(private, os.R_OK)  # root reads it anyway
    yield private, ACCEPT if readable else REJECT


# -- the corpus ----------------------------------------------------------------------------------
_STRUCTURAL = (
    _attr_cases,
    _axis_cases,
    _dims_cases,
    _weight_cases,
    _name_cases,
    _bad_utf8_cases,
    _structure_cases,
    _opset_cases,
    _external_cases,
)


def _write(directory: Path, stem: str, content: ModelProto | bytes) -> Path:
    path = directory / f"{stem}.onnx"
    data = content if isinstance(content, bytes) else content.SerializeToString()
    path.write_bytes(data)
    return path


def generate(directory: Path | str, seed: int = 15) -> list[tuple[Path, str]]:
    """Write the corpus into ``directory`` (created if needed); ``[(path, expected)]`` with
    ``expected`` ``"reject"`` or ``"accept"``. Deterministic for a ``seed``.

    Files of a class in :data:`SAME_NETWORK` / :data:`SAME_NUMBERS` import to the network of
    ``base_model(BASE, seed)`` (see :func:`parse_name`).
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    files: list[tuple[Path, str]] = []
    for base in BASES:
        model = base_model(base, seed)
        counts: dict[str, int] = {}
        cases = [case for make in _STRUCTURAL for case in make(model)]
        cases += list(_byte_cases(model, rng))
        for cls, content, expected in cases:
            k = counts[cls] = counts.get(cls, -1) + 1
            files.append((_write(directory, f"{base}__{cls}__{k:02d}", content), expected))
    counts = {}
    for cls, content, expected in _model_files():
        k = counts[cls] = counts.get(cls, -1) + 1
        files.append((_write(directory, f"files__{cls}__{k:02d}", content), expected))
    files.extend(_special_files(directory, rng))
    return files


def generate_fuzz(directory: Path | str, seed: int = 15) -> list[Path]:
    """Random byte overwrites of the base models that protobuf still parses but that change
    more than weights: nobody knows their verdict in advance, only that it must be one clear
    message or a valid network."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed + 1)
    paths = []
    for base in BASES:
        found: list[bytes] = []
        for _ in range(6):
            for _case in _byte_cases(base_model(base, seed), rng, found):
                pass
        for k, data in enumerate(found):
            paths.append(_write(directory, f"{base}__fuzz__{k:02d}", data))
    return paths


def parse_name(path: Path) -> tuple[str, str]:
    """``(base, class)`` of a corpus file name.

    >>> parse_name(Path("convrelu__attr_range__03.onnx"))
    ('convrelu', 'attr_range')
    """
    base, cls, _ = path.name.split("__", 2)
    return base, cls
