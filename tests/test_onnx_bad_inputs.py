"""Bad ONNX inputs: every rule of :mod:`partitioner.importers.onnx_check` (a valid case with its
hand-computed numbers, an invalid one with its message), names that are not UTF-8, paths that
are not regular files, deep chains, and the generated corpus (:mod:`tests.bad_onnx_corpus`)
through the entry point the CLI uses for an ``.onnx`` MODEL and, for a sample, the CLI itself.

MACs follow the builder's convention: conv ``C_out * H_out * W_out * C_in / group * k_h * k_w``.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from cost_model.layer import OpKind
from partitioner.cli import main
from partitioner.errors import CtxfitError, ModelImportError, ModelNotFoundError
from partitioner.graph import Network
from partitioner.importers.builder import GraphBuilder
from partitioner.importers.onnx_check import MAX_DIM
from partitioner.importers.onnx_file import decode_names, read_model
from partitioner.importers.onnx_import import read_onnx
from partitioner.models import ModelRequest, load_network
from tests.bad_onnx_corpus import (
    ACCEPT,
    REJECT,
    SAME_NETWORK,
    SAME_NUMBERS,
    base_model,
    generate,
    generate_fuzz,
    parse_name,
)

FLOAT = TensorProto.FLOAT
SEED = 15
HANG_SECONDS = 30  # a guard against a hang, not a timing assertion: the corpus takes ~5 s


# -- helpers -------------------------------------------------------------------------------------
def model_of(nodes, inputs: dict[str, Sequence[object] | None], outputs, inits=(), opset=17):
    graph = helper.make_graph(
        list(nodes),
        "m",
        [helper.make_tensor_value_info(k, FLOAT, v) for k, v in inputs.items()],
        [helper.make_tensor_value_info(o, FLOAT, None) for o in outputs],
        initializer=list(inits),
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


def weight(name: str, *shape: int) -> TensorProto:
    return numpy_helper.from_array(np.ones(shape, np.float32), name)


def external(name: str, *shape: int) -> TensorProto:
    """A float weight of ``shape`` stored in a file that does not exist (never read)."""
    tensor = TensorProto(name=name, data_type=FLOAT, dims=shape)
    tensor.data_location = TensorProto.EXTERNAL
    tensor.external_data.add(key="location", value="missing.bin")
    return tensor


def conv_model(x=(1, 3, 8, 8), w=(8, 3, 3, 3), op="Conv", pads=(1, 1, 1, 1), **attrs):
    """``op(x, w)`` then a Relu (fused into the conv); ``pads=None`` leaves them out."""
    if pads is not None:
        attrs["pads"] = list(pads)
    nodes = [
        helper.make_node(op, ["x", "w"], ["c"], name="conv0", **attrs),
        helper.make_node("Relu", ["c"], ["y"], name="relu0"),
    ]
    return model_of(nodes, {"x": list(x)}, ["y"], [weight("w", *w)])


def single(op: str, x: Sequence[int], **attrs):
    """``Relu(op(Relu(x)))``: the op sits between two layers."""
    nodes = [
        helper.make_node("Relu", ["x"], ["a"], name="pre"),
        helper.make_node(op, ["a"], ["b"], name="op0", **attrs),
        helper.make_node("Relu", ["b"], ["y"], name="post"),
    ]
    return model_of(nodes, {"x": list(x)}, ["y"])


def imported(tmp_path: Path, model, input_shape=None) -> Network:
    path = tmp_path / "m.onnx"
    onnx.save(model, str(path))
    return read_onnx(path, input_shape).network


def rejected(tmp_path: Path, model, pattern: str, input_shape=None) -> str:
    with pytest.raises(ModelImportError, match=pattern) as info:
        imported(tmp_path, model, input_shape)
    return str(info.value)


def numbers(net: Network) -> list[tuple[object, ...]]:
    return [(layer.op, layer.output_shape, layer.params, layer.macs) for layer in net]


# -- convolution attributes ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("attrs", "w", "x", "out", "macs", "op"),
    [
        ({}, (8, 3, 3, 3), (1, 3, 8, 8), (8, 8, 8), 8 * 8 * 8 * 3 * 3 * 3, OpKind.CONV),
        ({"strides": [2, 2]}, (8, 3, 3, 3), (1, 3, 8, 8), (8, 4, 4), 8 * 4 * 4 * 27, OpKind.CONV),
        # span (3 - 1) * 2 + 1 = 5 over 8 + 2 + 2: out 8
        (
            {"dilations": [2, 2], "pads": [2] * 4},
            (8, 3, 3, 3),
            (1, 3, 8, 8),
            (8, 8, 8),
            13824,
            None,
        ),
        ({"kernel_shape": [3, 3]}, (8, 3, 3, 3), (1, 3, 8, 8), (8, 8, 8), 13824, OpKind.CONV),
        # 3 groups of 1 input channel, 2 outputs each: 6 * 8 * 8 * 1 * 9
        ({"group": 3}, (6, 1, 3, 3), (1, 3, 8, 8), (6, 8, 8), 6 * 64 * 9, OpKind.CONV),
        ({"group": 4}, (4, 1, 3, 3), (1, 4, 8, 8), (4, 8, 8), 4 * 64 * 9, OpKind.DWCONV),
        # a pad as large as the input (8) is legal: 8 + 16 - 2 = 22
        ({"pads": [8] * 4}, (8, 3, 3, 3), (1, 3, 8, 8), (8, 22, 22), 8 * 22 * 22 * 27, None),
        (
            {"auto_pad": "SAME_UPPER", "pads": None},
            (8, 3, 3, 3),
            (1, 3, 8, 8),
            (8, 8, 8),
            13824,
            None,
        ),
    ],
)
def test_valid_conv_attributes_are_priced(tmp_path, attrs, w, x, out, macs, op):
    (layer,) = imported(tmp_path, conv_model(x, w, **attrs))
    assert (layer.output_shape, layer.macs, layer.params) == (out, macs, int(np.prod(w)))
    assert layer.activation == "relu"
    if op is not None:
        assert layer.op is op


@pytest.mark.parametrize(
    ("attrs", "w", "message"),
    [
        (
            {"strides": [0, 0]},
            (8, 3, 3, 3),
            r"node 'conv0' \(Conv\): strides=\[0, 0\] is out of range \(each value must be 1 to "
            r"2147483647\)",
        ),
        ({"strides": [-1, -1]}, (8, 3, 3, 3), r"strides=\[-1, -1\] is out of range"),
        ({"strides": [2**62] * 2}, (8, 3, 3, 3), r"strides=\[4611686018427387904, .*out of range"),
        ({"dilations": [0, 0]}, (8, 3, 3, 3), r"dilations=\[0, 0\] is out of range"),
        (
            {"dilations": [10**6] * 2},
            (8, 3, 3, 3),
            r"kernel_shape=\[3, 3\] with dilations=\[1000000, 1000000\] spans 2000001 pixels on "
            r"spatial axis 0, but the input 'x' is only 10",
        ),
        (
            {"pads": [-5] * 4},
            (8, 3, 3, 3),
            r"pads=\[-5, -5, -5, -5\] is out of range \(each value must be 0 to",
        ),
        (
            {"pads": [10**9] * 4},
            (8, 3, 3, 3),
            r"a pad of 1000000000 on spatial axis 0 is larger than both the input \(8\) and the "
            r"kernel \(3\)",
        ),
        ({"pads": [9, 0, 0, 0]}, (8, 3, 3, 3), r"a pad of 9 on spatial axis 0 is larger than both"),
        ({"group": 0}, (8, 3, 3, 3), r"group=0 is out of range \(it must be 1 to 2147483647\)"),
        ({"group": -1}, (8, 3, 3, 3), r"group=-1 is out of range"),
        ({"group": 2**63 - 1}, (8, 3, 3, 3), r"group=9223372036854775807 is out of range"),
        ({"group": 2}, (8, 3, 3, 3), r"group=2 does not divide the 3 input channels of 'x'"),
        (
            {"group": 3},
            (8, 1, 3, 3),
            r"group=3 does not divide the 8 output channels of its weight 'w'",
        ),
        (
            {"kernel_shape": [2**40] * 2},
            (8, 3, 3, 3),
            r"kernel_shape=\[1099511627776, 1099511627776\] is out of range",
        ),
        (
            {"kernel_shape": [5, 5]},
            (8, 3, 3, 3),
            r"kernel_shape=\[5, 5\] disagrees with its weight 'w' of shape \[8, 3, 3, 3\] "
            r"\(kernel \[3, 3\]\)",
        ),
        (
            {},
            (8, 5, 3, 3),
            r"its weight 'w' of shape \[8, 5, 3, 3\] reads 5 x group=1 = 5 input channels, but "
            r"its input 'x' has 3",
        ),
        (
            {},
            (8, 27),
            r"its weight 'w' has shape \[8, 27\] \(rank 2\) but its input 'x' has rank 4; a Conv "
            r"weight is \(C_out, C_in / group, kernel...\)",
        ),
        ({}, (216,), r"its weight 'w' has shape \[216\] \(rank 1\) but its input 'x' has rank 4"),
        (
            {"strides": "ab"},
            (8, 3, 3, 3),
            r"attribute 'strides' is STRING, ONNX defines it as INTS",
        ),
        ({"auto_pad": "BOGUS"}, (8, 3, 3, 3), r"auto_pad='BOGUS' is not one of NOTSET, SAME_UPPER"),
        (
            {"strides": [1, 1, 1]},
            (8, 3, 3, 3),
            r"node 'conv0' \(Conv\): strides=\[1, 1, 1\] has 3 values for 2 spatial dims",
        ),
    ],
)
def test_invalid_conv_attributes_are_rejected(tmp_path, attrs, w, message):
    text = rejected(tmp_path, conv_model(w=w, **attrs), message)
    assert text.startswith("node 'conv0' (Conv")
    assert text.endswith("fix the model's export") or "onnx.checker" in text


def test_kernel_larger_than_the_padded_input(tmp_path):
    # 9x9 kernel over 8 + 1 + 1 = 10: fits; over 8 without pads: does not
    (layer,) = imported(tmp_path, conv_model(w=(8, 3, 9, 9)))
    assert layer.output_shape == (8, 2, 2) and layer.macs == 8 * 2 * 2 * 3 * 81
    rejected(
        tmp_path,
        conv_model(w=(8, 3, 9, 9), pads=None),
        r"kernel_shape=\[9, 9\] with dilations=\[1, 1\] spans 9 pixels on spatial axis 0, but "
        r"the input 'x' is only 8 with its pads \(8 \+ pads=\[0, 0, 0, 0\]\)",
    )


def test_deconv_weight_reads_the_input_channels(tmp_path):
    # ConvTranspose weight (C_in, C_out / group, k, k): 3 -> 16 channels, 8 + 3 - 1 = 10 pixels
    (layer,) = imported(tmp_path, conv_model(w=(3, 16, 3, 3), op="ConvTranspose", pads=None))
    assert layer.op is OpKind.DECONV and layer.output_shape == (16, 10, 10)
    assert layer.macs == 3 * 8 * 8 * 16 * 9  # C_in * H_in * W_in * C_out / group * k * k
    rejected(
        tmp_path,
        conv_model(w=(8, 16, 3, 3), op="ConvTranspose"),
        r"node 'conv0' \(ConvTranspose\): its weight 'w' of shape \[8, 16, 3, 3\] reads 8 input "
        r"channels, but its input 'x' has 3",
    )


@pytest.mark.parametrize(
    ("attrs", "message", "out"),
    [
        ({"kernel_shape": [2, 2], "strides": [2, 2]}, None, (3, 4, 4)),
        (
            {"kernel_shape": [0, 0]},
            r"node 'op0' \(MaxPool\): kernel_shape=\[0, 0\] is out of range",
            None,
        ),
        (
            {"kernel_shape": [9, 9]},
            r"node 'op0' \(MaxPool\): kernel_shape=\[9, 9\] with dilations=\[1, 1\] spans 9 pixels",
            None,
        ),
        ({"kernel_shape": [2, 2], "strides": [0, 0]}, r"strides=\[0, 0\] is out of range", None),
        (
            {},
            r"node 'op0' \(MaxPool\): the required attribute 'kernel_shape' is missing",
            None,
        ),
    ],
)
def test_pool_window(tmp_path, attrs, message, out):
    model = single("MaxPool", (1, 3, 8, 8), **attrs)
    if message is None:
        pre, pool, post = imported(tmp_path, model)
        assert pool.op is OpKind.MAXPOOL and pool.output_shape == out and pool.kernel == (2, 2)
    else:
        rejected(tmp_path, model, message)


# -- axes and perms ------------------------------------------------------------------------------
def concat_model(axis: int):
    nodes = [
        helper.make_node("Relu", ["x"], ["a"], name="a"),
        helper.make_node("Sigmoid", ["x"], ["b"], name="b"),
        helper.make_node("Concat", ["a", "b"], ["y"], name="cat", axis=axis),
    ]
    return model_of(nodes, {"x": [1, 4, 8, 8]}, ["y"])


@pytest.mark.parametrize(("axis", "shape"), [(1, (8, 8, 8)), (-3, (8, 8, 8)), (3, (4, 8, 16))])
def test_concat_axis_in_range(tmp_path, axis, shape):
    assert imported(tmp_path, concat_model(axis)).layer("cat").output_shape == shape


@pytest.mark.parametrize("axis", [2**40, -(2**40), -5])
def test_concat_axis_out_of_range(tmp_path, axis):
    rejected(
        tmp_path,
        concat_model(axis),
        rf"node 'cat' \(Concat\): axis={axis} is outside the 4 dims of its input \(it must be -4 "
        r"to 3\); fix the model's export",
    )


@pytest.mark.parametrize(
    ("op", "attrs", "message"),
    [
        ("Softmax", {"axis": -1}, None),
        (
            "Softmax",
            {"axis": 2**40},
            r"node 'op0' \(Softmax\): axis=1099511627776 is outside the 4 dims .*-4 to 3\)",
        ),
        ("Flatten", {"axis": 4}, None),  # axis == rank is allowed for Flatten
        (
            "Flatten",
            {"axis": 2**40},
            r"node 'op0' \(Flatten\): axis=1099511627776 is outside the 4 dims .*-4 to 4\)",
        ),
        ("Transpose", {"perm": [0, 2, 3, 1]}, None),
        (
            "Transpose",
            {"perm": [0, 1, 2, 7]},
            r"node 'op0' \(Transpose\): perm=\[0, 1, 2, 7\] is not a permutation of the 4 dims",
        ),
        ("Transpose", {"perm": [0, 0, 1, 2]}, r"perm=\[0, 0, 1, 2\] is not a permutation"),
        ("ReduceMax", {"axes": [1], "keepdims": 1}, None),
        (
            "ReduceMax",
            {"axes": [9], "keepdims": 1},
            r"node 'op0' \(ReduceMax\): axes=\[9\] is outside the 4 dims",
        ),
        ("Split", {"axis": 7}, r"node 'op0' \(Split\): axis=7 is outside the 4 dims"),
    ],
)
def test_axis_attributes(tmp_path, op, attrs, message):
    model = single(op, (1, 4, 8, 8), **attrs)
    if message is None:
        assert len(imported(tmp_path, model)) >= 2
    else:
        rejected(tmp_path, model, message)


def test_flatten_at_the_rank_keeps_every_element(tmp_path):
    net = imported(tmp_path, single("Flatten", (1, 2, 3, 4), axis=4))
    assert net.layer("post").output_shape == (24, 1)


# -- inputs, dims, constants ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("dims", "elem", "given", "message"),
    [
        (
            [1, 3, 8, 8],
            TensorProto.STRING,
            None,
            r"input 'x' holds STRING elements; ctxfit prices numeric tensors",
        ),
        ([1, 3, 8, 8], TensorProto.COMPLEX64, None, r"input 'x' holds COMPLEX64 elements"),
        (
            [],
            FLOAT,
            None,
            r"input 'x' is a scalar \(shape \(\)\); ctxfit prices tensors with at least one dim",
        ),
        ([1, 3, -1, 8], FLOAT, None, r"input 'x' has shape 1x3x-1x8: a dim is negative"),
        (
            [1, 3, 2**31, 8],
            FLOAT,
            None,
            r"input 'x' has shape 1x3x2147483648x8: a dim is over 2,147,483,647",
        ),
        (
            [1, 3, 2**20, 2**20],
            FLOAT,
            None,
            r"3.3e\+12 elements, over the 1.1e\+12 \(2\^40\) ctxfit accepts",
        ),
        (
            ["N", 3, "h", "w"],
            FLOAT,
            (1, 3, 2**32, 2**32),
            r"input 'x' has shape 1x3x4294967296x4294967296: a dim is over",
        ),
        (["N", 3, "h", "w"], FLOAT, (1, 3, 10**30, 8), r"a dim is over 2,147,483,647"),
    ],
)
def test_bad_graph_inputs(tmp_path, dims, elem, given, message):
    model = conv_model()
    model.graph.input[0].CopyFrom(helper.make_tensor_value_info("x", elem, dims))
    rejected(tmp_path, model, message, given)


def test_largest_dim_is_accepted(tmp_path):
    net = imported(tmp_path, single("Relu", (1, MAX_DIM)))
    assert net.layer("op0").output_shape == (MAX_DIM,)


def test_float16_and_dynamic_batch_inputs_are_accepted(tmp_path):
    model = single("Sigmoid", ("N", 4, 8))
    model.graph.input[0].type.tensor_type.elem_type = TensorProto.FLOAT16
    assert numbers(imported(tmp_path, model))[1] == (OpKind.ACTIVATION, (4, 8), 0, 0)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("negative", r"initializer 'w' has dims \[-4, 3, 3, 3\]: a dim is negative"),
        (
            "huge",
            r"initializer 'w' has dims \[1000000000, 3, 3, 3\] \(27,000,000,000 values\) but "
            r"stores 216",
        ),
        (
            "half",
            r"initializer 'w' has dims \[8, 3, 3, 3\] \(216 values\) but stores 108; the file is "
            r"damaged",
        ),
        ("over", r"initializer 'w' has dims \[8, 3, 2147483648, 3\]: a dim is over"),
    ],
)
def test_initializer_dims_and_stored_values(tmp_path, change, message):
    model = conv_model()
    tensor = model.graph.initializer[0]
    if change == "negative":
        tensor.dims[0] = -4
    elif change == "huge":
        tensor.dims[0] = 10**9
    elif change == "over":
        tensor.dims[2] = 2**31
    else:
        tensor.raw_data = tensor.raw_data[: len(tensor.raw_data) // 2]
    rejected(tmp_path, model, message)


def test_external_weights_skip_the_stored_value_count(tmp_path):
    model = conv_model()
    model.graph.initializer[0].CopyFrom(external("w", 8, 3, 3, 3))
    (layer,) = imported(tmp_path, model)
    assert (layer.params, layer.macs) == (216, 13824)


def test_external_shape_tensor_is_read_by_its_dims(tmp_path):
    """A reshape target in a shared external file with no ``length``: ONNX alone would read
    the file to its end (here 32 bytes of target, then 4 KB of other data)."""
    (tmp_path / "shared.bin").write_bytes(np.array([1, 16], np.int64).tobytes() + b"\x07" * 4096)
    target = TensorProto(name="target", data_type=TensorProto.INT64, dims=[2])
    target.data_location = TensorProto.EXTERNAL
    target.external_data.add(key="location", value="shared.bin")
    nodes = [
        helper.make_node("Relu", ["x"], ["a"], name="pre"),
        helper.make_node("Reshape", ["a", "target"], ["b"], name="flat"),
        helper.make_node("Relu", ["b"], ["y"], name="post"),
    ]
    net = imported(tmp_path, model_of(nodes, {"x": [1, 4, 4]}, ["y"], [target]))
    assert net.layer("post").output_shape == (16,)


def test_output_too_large_names_the_node_and_its_attributes(tmp_path):
    nodes = [
        helper.make_node("Relu", ["x"], ["a"], name="pre"),
        helper.make_node("Pad", ["a", "pads"], ["y"], name="pad_big"),
    ]
    pads = numpy_helper.from_array(np.array([0, 0, 0, 0, 0, 0, 10**6, 10**6], np.int64), "pads")
    model = model_of(nodes, {"x": [1, 3, 8, 8]}, ["y"], [pads])
    rejected(
        tmp_path,
        model,
        r"node 'pad_big' \(Pad\): its output 'y' would have shape \[1, 3, 1000008, 1000008\]: "
        r"3e\+12 elements, over the 1.1e\+12 \(2\^40\) ctxfit accepts",
    )
    pads = numpy_helper.from_array(np.array([0, 0, -9, 0, 0, 0, 0, 0], np.int64), "pads")
    model = model_of(nodes, {"x": [1, 3, 8, 8]}, ["y"], [pads])
    rejected(tmp_path, model, r"node 'pad_big' \(Pad\): its output 'y' would have shape .*negative")


def test_a_layer_over_the_macs_limit(tmp_path):
    # 2^15 x 2^10 x 2^10 map (2^35 elements) through a 3x3 conv of 2^15 channels:
    # 2^35 * 2^15 * 9 MACs = 9 * 2^50
    model = conv_model(x=(1, 2**15, 2**10, 2**10))
    model.graph.initializer[0].CopyFrom(external("w", 2**15, 2**15, 3, 3))
    rejected(
        tmp_path,
        model,
        r"layer 'conv0' \(onnx Conv node 'conv0'\) has 1.01e\+16 MACs per frame, over the "
        r"1.13e\+15 \(2\^50\)",
    )


def test_a_layer_making_a_scalar(tmp_path):
    nodes = [
        helper.make_node("Relu", ["x"], ["a"], name="pre"),
        helper.make_node("ReduceMean", ["a"], ["y"], name="mean_all", keepdims=0),
    ]
    rejected(
        tmp_path,
        model_of(nodes, {"x": [1, 4, 4]}, ["y"]),
        r"layer 'mean_all' \(onnx ReduceMean node 'mean_all'\) reads or makes a scalar \(a tensor "
        r"of shape \(\)\); .* --end-nodes",
    )


@pytest.mark.parametrize(
    ("opset", "ok"),
    [(7, True), (11, True), (99, True), (6, False), (0, False), (-3, False), (2**62, False)],
)
def test_opset_range(tmp_path, opset, ok):
    model = single("Sigmoid", (1, 4, 8))
    del model.opset_import[:]
    if opset:
        model.opset_import.append(helper.make_opsetid("", opset))
    if ok:
        assert numbers(imported(tmp_path, model))[1] == (OpKind.ACTIVATION, (4, 8), 0, 0)
    else:
        version = f"opset {opset}" if opset else "no ai.onnx opset"
        rejected(
            tmp_path,
            model,
            rf"m.onnx' imports {version}, not an ONNX opset ctxfit reads \(7 or later",
        )


@pytest.mark.parametrize(
    ("node", "message"),
    [
        (
            helper.make_node("Add", ["x", "x", "x"], ["y"], name="add3"),
            r"node 'add3' \(Add\): it has 3 inputs; ONNX's Add \(opset 17\) takes 2;",
        ),
        (
            helper.make_node("Relu", ["x"], ["y", "z"], name="relu2"),
            r"node 'relu2' \(Relu\): it has 2 outputs; ONNX's Relu \(opset 17\) takes 1;",
        ),
        (
            helper.make_node("Concat", ["x", "x"], ["y"], name="cat"),
            r"node 'cat' \(Concat\): the required attribute 'axis' is missing",
        ),
    ],
)
def test_node_arity_and_required_attributes(tmp_path, node, message):
    rejected(tmp_path, model_of([node], {"x": [1, 4, 4]}, ["y"]), message)


def test_strict_inference_names_the_node(tmp_path):
    nodes = [
        helper.make_node("Relu", ["x"], ["a"], name="pre"),
        helper.make_node("MatMul", ["a", "w"], ["y"], name="mm_bad"),
    ]
    model = model_of(nodes, {"x": [1, 16, 32]}, ["y"], [weight("w", 31, 8)])
    rejected(
        tmp_path,
        model,
        r"node 'mm_bad' \(MatMul\) is not valid ONNX: Incompatible dimensions for matrix "
        r"multiplication; fix the model's export \(onnx.checker",
    )


def test_a_custom_op_changing_the_shape_is_not_blamed_on_its_readers(tmp_path):
    # the custom op's output is guessed elementwise (3 channels); the conv after it reads 8
    nodes = [
        helper.make_node("Expand8", ["x"], ["e"], name="custom", domain="my.ops"),
        helper.make_node("Conv", ["e", "w"], ["y"], name="conv_after", pads=[1, 1, 1, 1]),
    ]
    model = model_of(nodes, {"x": [1, 3, 8, 8]}, ["y"], [weight("w", 8, 8, 3, 3)])
    model.opset_import.append(helper.make_opsetid("my.ops", 1))
    rejected(tmp_path, model, r"unsupported ONNX operator: my.ops::Expand8 \(1 node: 'custom'\)")


# -- names ---------------------------------------------------------------------------------------
def spoiled_names_file(tmp_path: Path) -> Path:
    """conv -> relu -> relu -> add(relu0, relu1): both relu nodes and both relu tensors get
    names that are not UTF-8 and that decode to the same text."""
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c0"], name="conv0", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c0"], ["tA"], name="nA"),
        helper.make_node("Relu", ["tA"], ["tB"], name="nB"),
        helper.make_node("Add", ["tA", "tB"], ["y"], name="add0"),
    ]
    blob = model_of(nodes, {"x": [1, 3, 8, 8]}, ["y"], [weight("w", 8, 3, 3, 3)])
    data = blob.SerializeToString()
    for old, new in ((b"nA", b"n\xff"), (b"nB", b"n\xfe"), (b"tA", b"t\xff"), (b"tB", b"t\xfe")):
        assert data.count(old) >= 1
        data = data.replace(old, new)
    path = tmp_path / "names.onnx"
    path.write_bytes(data)
    return path


def test_names_that_are_not_utf8_are_decoded_once_and_kept_unique(tmp_path):
    path = spoiled_names_file(tmp_path)
    model = read_model(path)
    assert [n.name for n in model.graph.node] == ["conv0", "n\ufffd", "n\ufffd_1", "add0"]
    assert [list(n.input) for n in model.graph.node][1:] == [
        ["c0"],
        ["t\ufffd"],
        ["t\ufffd", "t\ufffd_1"],
    ]
    net = read_onnx(path, None).network
    assert [(layer.name, layer.op, layer.inputs) for layer in net] == [
        ("conv0", OpKind.CONV, ("x",)),
        ("n\ufffd_1", OpKind.ACTIVATION, ("conv0",)),
        ("add0", OpKind.ADD, ("conv0", "n\ufffd_1")),
    ]
    assert net.layer("conv0").fused == ("n\ufffd",)
    assert all(isinstance(layer.name, str) for layer in net)


def test_decode_names_leaves_valid_models_alone():
    model = base_model("attention", SEED)
    before = model.SerializeToString()
    assert decode_names(model) == 0 and model.SerializeToString() == before


# -- paths that are not regular files ------------------------------------------------------------
def test_directory_fifo_and_device_are_refused_without_opening(tmp_path):
    folder = tmp_path / "model.onnx"
    folder.mkdir()
    fifo = tmp_path / "pipe.onnx"
    os.mkfifo(fifo)  # opening it for reading would block: the test would hang
    device = tmp_path / "null.onnx"
    device.symlink_to(os.devnull)
    for path, what in ((folder, "is a directory"), (fifo, "is not a regular file")):
        with pytest.raises(ModelImportError, match=rf"'{re.escape(str(path))}' {what}"):
            read_onnx(path, None)
        with pytest.raises(ModelNotFoundError, match=rf"model file '.*{path.name}' {what}"):
            load_network(ModelRequest(spec=str(path)))
    with pytest.raises(ModelImportError, match=r"null.onnx' is not a regular file \(a FIFO"):
        read_onnx(device, None)


def test_missing_loop_and_oversized_files(tmp_path):
    loop = tmp_path / "loop.onnx"
    loop.symlink_to(loop.name)
    with pytest.raises(ModelImportError, match=r"cannot read '.*loop.onnx': Too many levels"):
        read_onnx(loop, None)
    with pytest.raises(ModelImportError, match=r"model file '.*missing.onnx' does not exist"):
        read_onnx(tmp_path / "missing.onnx", None)
    big = tmp_path / "big.onnx"
    with big.open("wb") as file:
        file.truncate(2**31)  # sparse: nothing is written, nothing is read
    with pytest.raises(ModelImportError, match=r"is 2,147,483,648 bytes, over the 2 GiB limit"):
        read_onnx(big, None)


# -- deep graphs ---------------------------------------------------------------------------------
def test_a_chain_of_20000_relus_imports(tmp_path):
    """D9: the pointwise collapse was recursive (RecursionError from 1,000 ops)."""
    length = 20_000
    nodes = [helper.make_node("Conv", ["x", "w"], ["r0"], name="conv0")]
    nodes += [
        helper.make_node("Relu", [f"r{i}"], [f"r{i + 1}"], name=f"relu{i}") for i in range(length)
    ]
    net = imported(
        tmp_path, model_of(nodes, {"x": [1, 3, 4, 4]}, [f"r{length}"], [weight("w", 4, 3, 3, 3)])
    )
    assert len(net) == length  # conv + relu0 fused, then 19,999 activation layers
    assert net.layer("conv0").activation == "relu"
    assert {layer.op for layer in net} == {OpKind.CONV, OpKind.ACTIVATION}


def test_long_pointwise_chains_in_the_builder():
    b = GraphBuilder("chains")
    x = b.input("x", (4, 8, 8))
    y = x
    for i in range(5000):  # x * sigmoid(x) repeated: 5,000 silu activations
        s = b.activation(f"sig{i}", y, "sigmoid")
        y = b.elementwise(f"mul{i}", OpKind.MUL, [y, s], out_shape=(4, 8, 8))
    z = y
    for i in range(5000):  # sigmoid(sigmoid(...(x))) * x is still one silu
        z = b.activation(f"deep{i}", z, "sigmoid")
    b.mark_output(b.elementwise("gate", OpKind.MUL, [y, z], out_shape=(4, 8, 8)))
    net = b.build()
    assert len(net) == 5001
    assert {layer.activation for layer in net} == {"silu"}
    assert len(net.layer("gate").fused) == 5000


def test_a_chain_of_transposes_into_a_matmul_is_absorbed():
    b = GraphBuilder("perm_chain")
    x = b.input("x", (16, 32))
    y = x
    for i in range(5000):
        y = b.transpose(f"t{i}", y, perm=(1, 0))
    b.mark_output(b.matmul("mm", x, y, out_shape=(16, 16)))
    (layer,) = b.build()
    assert layer.op is OpKind.MATMUL and layer.macs == 16 * 16 * 32


# -- the generated corpus ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> list[tuple[Path, str]]:
    return generate(tmp_path_factory.mktemp("bad_onnx"), SEED)


@contextlib.contextmanager
def hang_guard(what: str) -> Iterator[None]:
    """Fail (instead of hanging the suite) if one import takes over :data:`HANG_SECONDS`."""

    def alarm(signum, frame):
        raise TimeoutError(f"{what} did not return within {HANG_SECONDS} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(HANG_SECONDS)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


_NAMED = re.compile(
    r"\b(node|nodes|input|tensor|initializer|layer|output|weight)\b:? '|ONNX operator"
)


def verdict(path: Path) -> tuple[str, Network | str]:
    """``("accept", network)`` or ``("reject", message)`` through the CLI's entry point."""
    with hang_guard(path.name):
        try:
            return ACCEPT, load_network(ModelRequest(spec=str(path)))
        except CtxfitError as err:
            return REJECT, str(err)


def layer_problems(net: Network) -> list[str]:
    problems = []
    for layer in net:
        shapes = (layer.output_shape, *layer.input_shapes)
        if not all(shape and all(0 < d <= MAX_DIM for d in shape) for shape in shapes):
            problems.append(f"layer {layer.name!r} has shapes {shapes}")
        if not (0 <= layer.params and 0 <= layer.macs):
            problems.append(f"layer {layer.name!r} has params {layer.params}, MACs {layer.macs}")
    return problems


def signature(net: Network, *, names: bool) -> list[object]:
    """The layers in name order (``names``: every field) or their numbers in any order."""
    if names:
        return sorted((layer.to_dict() for layer in net), key=lambda d: d["name"])
    return sorted((layer.op.value, layer.output_shape, layer.params, layer.macs) for layer in net)


def test_corpus_size_and_mix(corpus):
    assert len(corpus) >= 800
    verdicts = [expected for _, expected in corpus]
    assert verdicts.count(ACCEPT) >= 200 and verdicts.count(REJECT) >= 500
    classes = {parse_name(path)[1] for path, _ in corpus}
    assert {"truncated", "weight_bytes", "attr_range", "axis", "dims", "weight", "names"} <= classes
    assert {"bad_utf8", "structure", "opset", "external", "fifo", "dir", "chain"} <= classes


def test_every_corpus_file_gets_its_verdict(corpus):
    """No exception but CtxfitError; every rejection names the file or a node, op, attribute;
    every accepted network has positive dims; weight-byte overwrites and other harmless edits
    give exactly the base's layers."""
    bases: dict[str, Network] = {}
    failures = []
    for path, expected in corpus:
        base, cls = parse_name(path)
        try:
            got, result = verdict(path)
        except Exception as err:  # a traceback class leaking out
            failures.append(f"{path.name}: {type(err).__name__}: {err}")
            continue
        if got != expected:
            failures.append(f"{path.name}: expected {expected}, got {got}: {result}")
        elif got == REJECT:
            assert isinstance(result, str)
            if path.name not in result and not _NAMED.search(result):
                failures.append(f"{path.name}: the message names nothing: {result}")
        else:
            assert isinstance(result, Network)
            failures += [f"{path.name}: {p}" for p in layer_problems(result)]
            if cls in SAME_NETWORK | SAME_NUMBERS:
                if base not in bases:
                    original = path.parent / f"{base}__base.onnx"
                    onnx.save(base_model(base, SEED), str(original))
                    bases[base] = load_network(ModelRequest(spec=str(original)))
                names = cls in SAME_NETWORK
                if signature(result, names=names) != signature(bases[base], names=names):
                    failures.append(f"{path.name}: the network differs from the base {base!r}")
    assert not failures, f"{len(failures)} of {len(corpus)} files:\n" + "\n".join(failures[:30])


def test_fuzzed_files_end_in_a_network_or_one_clear_error(tmp_path):
    paths = generate_fuzz(tmp_path, SEED)
    assert len(paths) >= 50
    failures = []
    for path in paths:
        try:
            got, result = verdict(path)
        except Exception as err:
            failures.append(f"{path.name}: {type(err).__name__}: {err}")
            continue
        if got == REJECT and path.name not in result and not _NAMED.search(result):
            failures.append(f"{path.name}: the message names nothing: {result}")
        if got == ACCEPT:
            failures += [f"{path.name}: {p}" for p in layer_problems(result)]
    assert not failures, "\n".join(failures[:30])


CLI_SAMPLE = 50


def test_cli_profile_and_compile_on_a_sample(corpus, capsys):
    """``ctxfit profile FILE`` and ``ctxfit compile FILE --timeout 1`` in-process: exit 0 or 2,
    never an exception; a rejected file exits 2 with one ``error:`` line. A rich MarkupError
    (user text printed as markup, cli.py, another change of issue 15) is reported as xfail."""
    step = max(1, len(corpus) // CLI_SAMPLE)
    sample = corpus[::step][:CLI_SAMPLE]
    sample += [(p, e) for p, e in corpus if parse_name(p)[:2] == ("convrelu", "names")][:4]
    failures, markup = [], []
    for path, expected in sample:
        for command in (["profile", str(path)], ["compile", str(path), "--timeout", "1"]):
            try:
                with hang_guard(" ".join(command)):
                    code = main(command)
            except Exception as err:
                if type(err).__name__ == "MarkupError":
                    markup.append(f"{command[0]} {path.name}: {err}")
                else:
                    failures.append(f"{command[0]} {path.name}: {type(err).__name__}: {err}")
                continue
            err_lines = [
                line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")
            ]
            if code not in (0, 2) or (expected == REJECT and code != 2):
                failures.append(f"{command[0]} {path.name}: exit {code} for a file to {expected}")
            if code == 2 and len(err_lines) != 1:
                failures.append(f"{command[0]} {path.name}: {len(err_lines)} error lines")
            if expected == ACCEPT and command[0] == "profile" and code != 0:
                failures.append(f"profile {path.name}: exit {code} for a file to accept")
    assert not failures, "\n".join(failures[:30])
    if markup:
        pytest.xfail(f"{len(markup)} runs raised rich MarkupError (cli.py): {markup[0]}")
