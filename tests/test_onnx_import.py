"""The ONNX importer: one hand-built graph per op, shape folding, cuts, the YOLO post-processing
tail, bad files, external data, and parity with the PyTorch importer on the zoo.

Expected values are derived by hand from named dims (MACs by the builder's conventions: conv
``C_out * H_out * W_out * C_in / groups * k_h * k_w``, dense ``tokens * in * out``, matmul
``numel(out) * K``). Fixtures are built here (``onnx.helper``) or exported with
``torch.onnx.export(..., dynamo=False)``; nothing is downloaded.

The zoo parity test runs every zoo network (about three minutes on two cores);
``CTXFIT_QUICK=1`` runs one representative per block family.
"""

from __future__ import annotations

import functools
import math
import os
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from cost_model.hardware import preset
from cost_model.layer import OpKind
from partitioner.cli import main
from partitioner.errors import ModelImportError, UnsupportedOperatorError
from partitioner.importers.onnx_import import import_onnx, read_onnx
from tests.onnx_fixtures import (
    OpsetProbe,
    V5Head,
    V8Head,
    export,
    ints,
    make_model,
    node,
    save,
    scalar,
    weight,
)

INT_MAX = 2**63 - 1


def load(tmp_path, model, input_shape=None, **options):
    return read_onnx(save(model, tmp_path), input_shape, **options)


def net_of(tmp_path, model, input_shape=None, **options):
    return load(tmp_path, model, input_shape, **options).network


def ops(net):
    return [layer.op for layer in net]


# -- convolutions ----------------------------------------------------------------------------------
def test_grouped_strided_conv(tmp_path):
    c_in, c_out, groups, k, h_out = 8, 16, 2, 3, 8  # 16x16 input, stride 2, pad 1 -> 8x8
    model = make_model(
        [node("Conv", ["x", "w", "b"], ["y"], group=groups, strides=[2, 2], pads=[1, 1, 1, 1])],
        {"x": [1, c_in, 16, 16]},
        ["y"],
        [weight("w", c_out, c_in // groups, k, k), weight("b", c_out)],
    )
    (layer,) = net_of(tmp_path, model)
    assert (layer.op, layer.output_shape, layer.stride, layer.groups) == (
        OpKind.CONV,
        (c_out, h_out, h_out),
        (2, 2),
        groups,
    )
    assert layer.params == c_out * (c_in // groups) * k * k + c_out  # weights + bias
    assert layer.macs == c_out * h_out * h_out * (c_in // groups) * k * k


def test_dilated_depthwise_conv(tmp_path):
    c, k, hw = 8, 3, 16  # dilation 2 with pad 2 keeps 16x16
    model = make_model(
        [node("Conv", ["x", "w"], ["y"], group=c, dilations=[2, 2], pads=[2, 2, 2, 2])],
        {"x": [1, c, hw, hw]},
        ["y"],
        [weight("w", c, 1, k, k)],
    )
    (layer,) = net_of(tmp_path, model)
    assert (layer.op, layer.output_shape, layer.dilation) == (OpKind.DWCONV, (c, hw, hw), (2, 2))
    assert (layer.params, layer.macs) == (c * k * k, c * hw * hw * k * k)


@pytest.mark.parametrize(("auto_pad", "side"), [("SAME_UPPER", 8), ("VALID", 7)])
def test_conv_auto_pad(tmp_path, auto_pad, side):
    # 15x15 input, kernel 3, stride 2: SAME -> ceil(15 / 2) = 8; VALID -> (15 - 3) // 2 + 1 = 7
    model = make_model(
        [node("Conv", ["x", "w"], ["y"], strides=[2, 2], auto_pad=auto_pad)],
        {"x": [1, 4, 15, 15]},
        ["y"],
        [weight("w", 6, 4, 3, 3)],
    )
    (layer,) = net_of(tmp_path, model)
    assert layer.output_shape == (6, side, side)
    assert layer.macs == 6 * side * side * 4 * 3 * 3


def test_conv_transpose(tmp_path):
    c_in, c_out, k, hw = 8, 4, 2, 16  # stride 2 doubles the map
    model = make_model(
        [node("ConvTranspose", ["x", "w", "b"], ["y"], strides=[2, 2])],
        {"x": [1, c_in, hw, hw]},
        ["y"],
        [weight("w", c_in, c_out, k, k), weight("b", c_out)],
    )
    (layer,) = net_of(tmp_path, model)
    assert (layer.op, layer.output_shape) == (OpKind.DECONV, (c_out, 2 * hw, 2 * hw))
    assert layer.params == c_in * c_out * k * k + c_out
    assert layer.macs == c_in * hw * hw * c_out * k * k  # deconv: per input pixel


def test_conv1d(tmp_path):
    model = make_model(
        [node("Conv", ["x", "w"], ["y"], pads=[1, 1])],
        {"x": [1, 4, 20]},
        ["y"],
        [weight("w", 8, 4, 3)],
    )
    (layer,) = net_of(tmp_path, model)
    assert (layer.output_shape, layer.kernel, layer.macs) == ((8, 20), (1, 3), 8 * 20 * 4 * 3)


# -- fusion ----------------------------------------------------------------------------------------
def conv_then(tmp_path, *tail_nodes, inits=(), out="y", opset=17):
    """A 3x3 conv (4 -> 8 channels, no bias) on 8x8, followed by ``tail_nodes``."""
    model = make_model(
        [node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]), *tail_nodes],
        {"x": [1, 4, 8, 8]},
        [out],
        [weight("w", 8, 4, 3, 3), *inits],
        opset=opset,
    )
    return net_of(tmp_path, model)


CONV_PARAMS, CONV_MACS = 8 * 4 * 3 * 3, 8 * 8 * 8 * 4 * 3 * 3


def test_conv_batchnorm_relu_fuse(tmp_path):
    bn = node("BatchNormalization", ["c", "g", "beta", "mean", "var"], ["n"])
    net = conv_then(
        tmp_path,
        bn,
        node("Relu", ["n"], ["y"]),
        inits=[weight("g", 8), weight("beta", 8), weight("mean", 8), weight("var", 8)],
    )
    (layer,) = net
    assert (layer.op, layer.activation, layer.fused) == (OpKind.CONV, "relu", ("n", "y"))
    assert layer.params == CONV_PARAMS + 2 * 8  # batch norm scale + shift (not mean / var)
    assert layer.macs == CONV_MACS


@pytest.mark.parametrize(
    ("tail", "inits", "activation"),
    [
        ([node("Sigmoid", ["c"], ["s"]), node("Mul", ["c", "s"], ["y"])], [], "silu"),
        ([node("HardSwish", ["c"], ["y"])], [], "hardswish"),
        ([node("HardSigmoid", ["c"], ["s"]), node("Mul", ["s", "c"], ["y"])], [], "hardswish"),
        ([node("LeakyRelu", ["c"], ["y"], alpha=0.1)], [], "leaky_relu"),
        ([node("Clip", ["c", "lo", "hi"], ["y"])], [scalar("lo", 0.0), scalar("hi", 6.0)], "relu6"),
        ([node("Sigmoid", ["c"], ["y"])], [], "sigmoid"),
    ],
)
def test_activation_fuses_into_conv(tmp_path, tail, inits, activation):
    (layer,) = conv_then(tmp_path, *tail, inits=inits)
    assert (layer.op, layer.activation, layer.params) == (OpKind.CONV, activation, CONV_PARAMS)


def test_activation_with_two_readers_stays_a_layer(tmp_path):
    # sigmoid(c) is read by the Mul and is a graph output: SiLU cannot be formed
    model = make_model(
        [
            node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
            node("Sigmoid", ["c"], ["s"]),
            node("Mul", ["c", "s"], ["y"]),
        ],
        {"x": [1, 4, 8, 8]},
        ["y", "s"],
        [weight("w", 8, 4, 3, 3)],
    )
    net = net_of(tmp_path, model)
    assert ops(net) == [OpKind.CONV, OpKind.ACTIVATION, OpKind.MUL]


def dense_model(*tail, opset=17, inits=()):
    """``h = x @ W + b`` with x (1, 10, 16) and W (16, 32), then ``tail`` producing ``y``."""
    return make_model(
        [node("MatMul", ["x", "W"], ["m"]), node("Add", ["m", "b"], ["h"]), *tail],
        {"x": [1, 10, 16]},
        ["y"],
        [weight("W", 16, 32), weight("b", 32), *inits],
        opset=opset,
    )


TOKENS, D_IN, D_OUT = 10, 16, 32


def test_gelu_erf_decomposition_is_one_activation(tmp_path):
    gelu = [
        node("Div", ["h", "sqrt2"], ["d"]),
        node("Erf", ["d"], ["e"]),
        node("Add", ["e", "one"], ["a"]),
        node("Mul", ["h", "a"], ["g"]),
        node("Mul", ["g", "half"], ["y"]),
    ]
    consts = [scalar("sqrt2", math.sqrt(2)), scalar("one", 1.0), scalar("half", 0.5)]
    (layer,) = net_of(tmp_path, dense_model(*gelu, inits=consts))
    assert (layer.op, layer.activation) == (OpKind.DENSE, "gelu")
    assert layer.params == D_IN * D_OUT + D_OUT  # weight + bias (scalars are not params)
    assert layer.macs == TOKENS * D_IN * D_OUT


def test_gelu_op(tmp_path):
    (layer,) = net_of(tmp_path, dense_model(node("Gelu", ["h"], ["y"]), opset=20))
    assert (layer.op, layer.activation, layer.params) == (OpKind.DENSE, "gelu", 544)


# -- dense, matmul, attention ----------------------------------------------------------------------
def test_gemm(tmp_path):
    model = make_model(
        [node("Gemm", ["x", "w", "b"], ["y"], transB=1)],
        {"x": [1, 64]},
        ["y"],
        [weight("w", 10, 64), weight("b", 10)],
    )
    (layer,) = net_of(tmp_path, model)
    assert (layer.op, layer.output_shape, layer.params, layer.macs) == (
        OpKind.DENSE,
        (10,),
        64 * 10 + 10,
        64 * 10,
    )


def test_batched_matmul_of_two_activations(tmp_path):
    heads, n, m, d = 4, 10, 12, 16
    model = make_model(
        [node("MatMul", ["q", "k"], ["y"])],
        {"q": [1, heads, n, d], "k": [1, heads, d, m]},
        ["y"],
    )
    (layer,) = net_of(tmp_path, model)
    assert (layer.op, layer.inputs, layer.output_shape) == (OpKind.MATMUL, ("q", "k"), (4, 10, 12))
    assert layer.macs == heads * n * m * d


def test_attention_with_batch_moved_by_transpose(tmp_path):
    """ViT attention as exported: qkv dense, reshape, permute(2, 0, 3, 1, 4) moves the batch to
    axis 1, q/k/v gathered on axis 0, k transposed into the matmul, heads merged back."""
    n, dim, heads = 10, 64, 4
    hd = dim // heads
    nodes = [
        node("MatMul", ["x", "Wqkv"], ["qkv"]),
        node("Reshape", ["qkv", "s5"], ["r"]),
        node("Transpose", ["r"], ["t"], perm=[2, 0, 3, 1, 4]),
        node("Gather", ["t", "i0"], ["q"], axis=0),
        node("Gather", ["t", "i1"], ["k"], axis=0),
        node("Gather", ["t", "i2"], ["v"], axis=0),
        node("Transpose", ["k"], ["kt"], perm=[0, 1, 3, 2]),
        node("MatMul", ["q", "kt"], ["s"]),
        node("Softmax", ["s"], ["p"], axis=-1),
        node("MatMul", ["p", "v"], ["o"]),
        node("Transpose", ["o"], ["ot"], perm=[0, 2, 1, 3]),
        node("Reshape", ["ot", "s3"], ["merged"]),
        node("MatMul", ["merged", "Wo"], ["y"]),
    ]
    inits = [
        weight("Wqkv", dim, 3 * dim),
        weight("Wo", dim, dim),
        ints("s5", [1, n, 3, heads, hd]),
        ints("s3", [1, n, dim]),
        *(numpy_helper.from_array(np.array(i, np.int64), f"i{i}") for i in range(3)),
    ]
    net = net_of(tmp_path, make_model(nodes, {"x": [1, n, dim]}, ["y"], inits))
    # the head split (t), k^T (kt) and the head merge (ot) only feed dot products: no layers
    assert [(layer.name, layer.op) for layer in net] == [
        ("qkv", OpKind.DENSE),
        ("q", OpKind.SPLIT),  # one split for the three gathers
        ("s", OpKind.MATMUL),
        ("p", OpKind.SOFTMAX),
        ("o", OpKind.MATMUL),
        ("y", OpKind.DENSE),
    ]
    assert net.layer("q").input_shapes == ((3, heads, n, hd),)  # per frame: the batch moved
    assert net.layer("s").input_shapes == ((heads, n, hd), (heads, hd, n))
    assert net.layer("s").macs == heads * n * n * hd
    assert net.layer("o").macs == heads * n * hd * n
    assert net.total_params == dim * 3 * dim + dim * dim


def test_position_embedding_is_a_layer_with_params(tmp_path):
    model = make_model(
        [node("Add", ["x", "pos"], ["y"])],
        {"x": [1, 10, 16]},
        ["y"],
        [weight("pos", 1, 10, 16)],
    )
    (layer,) = net_of(tmp_path, model)
    assert (layer.op, layer.params) == (OpKind.ADD, 160)


def test_constant_operands_fold_into_the_producer(tmp_path):
    # conv -> + per-channel bias (8 params) -> * 0.5 -> + x2 (both activations: an ADD layer)
    net = conv_then(
        tmp_path,
        node("Add", ["c", "bias"], ["cb"]),
        node("Mul", ["cb", "half"], ["ch"]),
        node("Sub", ["ch", "c"], ["y"]),
        inits=[weight("bias", 1, 8, 1, 1), scalar("half", 0.5)],
    )
    assert ops(net) == [OpKind.CONV, OpKind.ADD]
    assert net.layer("c").params == CONV_PARAMS + 8
    assert set(net.layer("c").fused) == {"cb", "ch"}


# -- layers without weights ------------------------------------------------------------------------
def single_op(tmp_path, op_node, x_shape, inits=(), opset=17, outputs=("y",)):
    model = make_model([op_node], {"x": x_shape}, list(outputs), list(inits), opset=opset)
    return net_of(tmp_path, model)


@pytest.mark.parametrize(
    ("op_node", "inits", "kind", "shape", "kernel", "stride"),
    [
        (
            node("MaxPool", ["x"], ["y"], kernel_shape=[3, 3], strides=[2, 2], pads=[1] * 4),
            [],
            OpKind.MAXPOOL,
            (8, 8, 8),
            (3, 3),
            (2, 2),
        ),
        (
            node("AveragePool", ["x"], ["y"], kernel_shape=[2, 2], strides=[2, 2]),
            [],
            OpKind.AVGPOOL,
            (8, 8, 8),
            (2, 2),
            (2, 2),
        ),
        (
            node("GlobalAveragePool", ["x"], ["y"]),
            [],
            OpKind.GLOBAL_POOL,
            (8, 1, 1),
            (16, 16),
            (1, 1),
        ),
        (
            node("ReduceMean", ["x"], ["y"], axes=[2, 3], keepdims=0),
            [],
            OpKind.GLOBAL_POOL,
            (8,),
            (16, 16),
            (1, 1),
        ),
        (node("Softmax", ["x"], ["y"], axis=1), [], OpKind.SOFTMAX, (8, 16, 16), (1, 1), (1, 1)),
        (
            node("Resize", ["x", "", "scales"], ["y"], mode="nearest"),
            [numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales")],
            OpKind.RESIZE,
            (8, 32, 32),
            (1, 1),
            (1, 1),
        ),
        (
            node("Pad", ["x", "pads"], ["y"]),
            [ints("pads", [0, 0, 1, 1, 0, 0, 1, 1])],
            OpKind.PAD,
            (8, 18, 18),
            (1, 1),
            (1, 1),
        ),
    ],
)
def test_weightless_layers(tmp_path, op_node, inits, kind, shape, kernel, stride):
    (layer,) = single_op(tmp_path, op_node, [1, 8, 16, 16], inits)
    assert (layer.op, layer.output_shape, layer.kernel, layer.stride) == (
        kind,
        shape,
        kernel,
        stride,
    )
    assert (layer.params, layer.macs) == (0, 0)


def test_reduce_mean_axes_as_input_opset18(tmp_path):
    (layer,) = single_op(
        tmp_path,
        node("ReduceMean", ["x", "axes"], ["y"], keepdims=1),
        [1, 8, 6, 4],
        [ints("axes", [2, 3])],
        opset=18,
    )
    assert (layer.op, layer.output_shape, layer.kernel) == (OpKind.GLOBAL_POOL, (8, 1, 1), (6, 4))


def test_upsample_opset9_and_its_warning(tmp_path):
    scales = numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales")
    model = make_model(
        [node("Upsample", ["x", "scales"], ["y"], mode="nearest")],
        {"x": [1, 4, 5, 5]},
        ["y"],
        [scales],
        opset=9,
    )
    result = load(tmp_path, model)
    (layer,) = result.network
    assert (layer.op, layer.output_shape) == (OpKind.RESIZE, (4, 10, 10))
    assert len(result.warnings) == 1 and "opset 9" in result.warnings[0]


def test_layer_normalization_op(tmp_path):
    (layer,) = single_op(
        tmp_path,
        node("LayerNormalization", ["x", "g", "b"], ["y"], axis=-1),
        [1, 10, 16],
        [weight("g", 16), weight("b", 16)],
    )
    assert (layer.op, layer.output_shape, layer.params) == (OpKind.NORM, (10, 16), 32)


def test_layer_norm_decomposition_is_one_norm(tmp_path):
    nodes = [
        node("ReduceMean", ["x"], ["m"], axes=[-1]),
        node("Sub", ["x", "m"], ["d"]),
        node("Pow", ["d", "two"], ["sq"]),
        node("ReduceMean", ["sq"], ["v"], axes=[-1]),
        node("Add", ["v", "eps"], ["ve"]),
        node("Sqrt", ["ve"], ["s"]),
        node("Div", ["d", "s"], ["n"]),
        node("Mul", ["n", "g"], ["ng"]),
        node("Add", ["ng", "b"], ["y"]),
    ]
    inits = [scalar("two", 2.0), scalar("eps", 1e-6), weight("g", 16), weight("b", 16)]
    model = make_model(nodes, {"x": [1, 10, 16]}, ["y"], inits, opset=13)
    (layer,) = net_of(tmp_path, model)
    assert (layer.op, layer.inputs, layer.output_shape) == (OpKind.NORM, ("x",), (10, 16))
    assert layer.params == 16 + 16  # gamma + beta


def test_rms_norm_decomposition_is_one_norm(tmp_path):
    nodes = [
        node("Pow", ["x", "two"], ["sq"]),
        node("ReduceMean", ["sq"], ["v"], axes=[-1]),
        node("Add", ["v", "eps"], ["ve"]),
        node("Sqrt", ["ve"], ["s"]),
        node("Reciprocal", ["s"], ["r"]),
        node("Mul", ["x", "r"], ["n"]),
        node("Mul", ["n", "g"], ["y"]),
    ]
    inits = [scalar("two", 2.0), scalar("eps", 1e-6), weight("g", 16)]
    (layer,) = net_of(tmp_path, make_model(nodes, {"x": [1, 10, 16]}, ["y"], inits, opset=13))
    assert (layer.op, layer.params) == (OpKind.NORM, 16)


def test_concat_split_and_views(tmp_path):
    nodes = [
        node("Conv", ["x", "w"], ["c"]),
        node("Split", ["c", "sizes"], ["a", "b"], axis=1),
        node("Concat", ["b", "a", "x"], ["cat"], axis=1),
        node("Flatten", ["cat"], ["f"], axis=1),
        node("Unsqueeze", ["f", "ax"], ["u"]),
        node("Squeeze", ["u", "ax"], ["y"]),
    ]
    inits = [weight("w", 8, 4, 1, 1), ints("sizes", [2, 6]), ints("ax", [2])]
    net = net_of(tmp_path, make_model(nodes, {"x": [1, 4, 5, 5]}, ["y"], inits))
    assert ops(net) == [OpKind.CONV, OpKind.SPLIT, OpKind.CONCAT]
    cat = net.layer("cat")
    assert cat.input_shapes == ((6, 5, 5), (2, 5, 5), (4, 5, 5))
    assert cat.output_shape == (12, 5, 5)
    assert net.outputs == ("cat",)  # flatten / unsqueeze / squeeze are views


def test_two_slices_of_one_tensor_make_one_split(tmp_path):
    nodes = [
        node("Slice", ["x", "s0", "e0", "ax"], ["lo"]),
        node("Slice", ["x", "s1", "e1", "ax"], ["hi"]),
        node("Add", ["lo", "hi"], ["y"]),
    ]
    inits = [
        ints("s0", [0]),
        ints("e0", [4]),
        ints("s1", [4]),
        ints("e1", [INT_MAX]),
        ints("ax", [1]),
    ]
    net = net_of(tmp_path, make_model(nodes, {"x": [1, 8, 3, 3]}, ["y"], inits))
    assert ops(net) == [OpKind.SPLIT, OpKind.ADD]
    assert net.layer("y").input_shapes == ((4, 3, 3), (4, 3, 3))


@pytest.mark.parametrize(
    ("perm", "layers"),
    [
        # (C, H, W) -> (H, W, C) only changes the layout: no layer, so the relu fuses into the conv
        ([0, 2, 3, 1], [OpKind.CONV]),
        ([0, 1, 3, 2], [OpKind.CONV, OpKind.TRANSPOSE, OpKind.ACTIVATION]),  # swaps H and W
    ],
)
def test_transpose(tmp_path, perm, layers):
    nodes = [
        node("Conv", ["x", "w"], ["c"]),
        node("Transpose", ["c"], ["t"], perm=perm),
        node("Relu", ["t"], ["y"]),
    ]
    model = make_model(nodes, {"x": [1, 4, 6, 5]}, ["y"], [weight("w", 8, 4, 1, 1)])
    assert ops(net_of(tmp_path, model)) == layers


def test_pad_before_conv_is_folded_into_it(tmp_path):
    nodes = [node("Pad", ["x", "pads"], ["p"]), node("Conv", ["p", "w"], ["y"])]
    inits = [ints("pads", [0, 0, 1, 1, 0, 0, 1, 1]), weight("w", 8, 4, 3, 3)]
    (layer,) = net_of(tmp_path, make_model(nodes, {"x": [1, 4, 8, 8]}, ["y"], inits))
    assert (layer.input_shapes, layer.output_shape) == (((4, 8, 8),), (8, 8, 8))


# -- constant subgraphs ----------------------------------------------------------------------------
def test_shape_subgraphs_fold_away(tmp_path):
    """Shape -> Gather -> Div (by a Constant) -> Unsqueeze feeds the slice bounds (as a C2f
    chunk exports; ONNX shape inference alone cannot see through the Div); Shape -> Gather ->
    Concat feeds a reshape; Range / ConstantOfShape / Cast / Expand build a per-channel
    constant. None of them is a layer, and every shape is resolved."""
    nodes = [
        node("Conv", ["x", "w"], ["c"]),
        node("Constant", [], ["two"], value=helper.make_tensor("v2", TensorProto.INT64, [], [2])),
        node("Shape", ["c"], ["shape"]),
        node("Gather", ["shape", "one"], ["channels"], axis=0),
        node("Div", ["channels", "two"], ["half"]),
        node("Unsqueeze", ["half", "zero1"], ["half1"]),
        node("Slice", ["c", "zero1", "half1", "one1"], ["lo"]),
        node("Slice", ["c", "half1", "big", "one1"], ["hi"]),
        node("Add", ["lo", "hi"], ["sum"]),
        node("Gather", ["shape", "zero"], ["batch"], axis=0),
        node("Unsqueeze", ["batch", "zero1"], ["batch1"]),
        node("Concat", ["batch1", "minus1"], ["target"], axis=0),
        node("Reshape", ["sum", "target"], ["flat"]),
        node(
            "ConstantOfShape",
            ["one1"],
            ["ones"],
            value=helper.make_tensor("v", TensorProto.INT64, [1], [8]),
        ),
        node("Range", ["zero", "eight", "one"], ["r"]),
        node("Cast", ["r"], ["rf"], to=TensorProto.FLOAT),
        node("Expand", ["rf", "ones"], ["re"]),
        node("Reshape", ["re", "row"], ["rrow"]),
        node("Gemm", ["flat", "fc", "fcb"], ["g"], transB=1),
        node("Add", ["g", "rrow"], ["y"]),
    ]
    inits = [
        weight("w", 8, 4, 1, 1),
        weight("fc", 8, 4 * 3 * 3),
        weight("fcb", 8),
        ints("zero", 0),
        ints("one", 1),
        ints("eight", 8),
        ints("zero1", [0]),
        ints("one1", [1]),
        ints("big", [INT_MAX]),
        ints("minus1", [-1]),
        ints("row", [1, 8]),
    ]
    net = net_of(tmp_path, make_model(nodes, {"x": [1, 4, 3, 3]}, ["y"], inits))
    assert [(layer.name, layer.op) for layer in net] == [
        ("c", OpKind.CONV),
        ("lo", OpKind.SPLIT),
        ("sum", OpKind.ADD),
        ("g", OpKind.DENSE),
    ]
    assert net.layer("sum").input_shapes == ((4, 3, 3), (4, 3, 3))
    assert net.layer("g").input_shapes == ((36,),)
    assert net.total_params == 8 * 4 + 8 * 36 + 8  # the Range constant holds no params


def test_dynamic_export_with_input_shape(tmp_path):
    from torch import nn

    module = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.SiLU(), nn.Flatten(), nn.Linear(2048, 4))
    path = export(
        module, (1, 3, 32, 32), tmp_path / "dyn.onnx", dynamic={0: "batch", 2: "h", 3: "w"}
    )
    with pytest.raises(ModelImportError, match=r"input 'images' has dynamic dims 'h', 'w'"):
        read_onnx(path, None)
    net = read_onnx(path, (1, 3, 32, 32)).network
    assert [layer.op for layer in net] == [OpKind.CONV, OpKind.DENSE]
    assert net.layer(net.outputs[0]).input_shapes == ((8 * 16 * 16,),)


# -- cutting the graph -----------------------------------------------------------------------------
def chain(n=3):
    """x -> conv0 -> conv1 -> ... (8 channels, 1x1, 4x4)."""
    nodes, src = [], "x"
    for i in range(n):
        nodes.append(node("Conv", [src, f"w{i}"], [f"t{i}"], name=f"conv{i}"))
        src = f"t{i}"
    inits = [weight(f"w{i}", 8, 8, 1, 1) for i in range(n)]
    return make_model(nodes, {"x": [1, 8, 4, 4]}, [src], inits)


def test_end_nodes_by_node_and_tensor_name(tmp_path):
    path = save(chain(), tmp_path)
    for end in (["conv1"], ["t1"]):
        net = read_onnx(path, None, end_nodes=end).network
        assert [layer.name for layer in net] == ["conv0", "conv1"] and net.outputs == ("conv1",)


def test_start_nodes(tmp_path):
    net = read_onnx(save(chain(), tmp_path), None, start_nodes=["conv1"]).network
    assert [layer.name for layer in net] == ["conv1", "conv2"]
    assert net.inputs == {"t0": (8, 4, 4)}


def test_unknown_cut_name_suggests_close_ones(tmp_path):
    with pytest.raises(ModelImportError, match=r"--end-nodes 'conv11' .*did you mean 'conv1'"):
        read_onnx(save(chain(), tmp_path), None, end_nodes=["conv11"])


def test_start_node_bypassed_by_a_residual(tmp_path):
    model = chain(2)
    model.graph.node.append(node("Add", ["t1", "x"], ["y"], name="residual"))
    model.graph.output[0].name = "y"
    with pytest.raises(ModelImportError, match=r"'residual' reads graph input 'x' on a path that"):
        read_onnx(save(model, tmp_path), None, start_nodes=["conv1"])


# -- the YOLO post-processing tail -----------------------------------------------------------------
YOLO_HEADS = {
    "v8_detect": (lambda decode: V8Head("detect", decode=decode), 6, False),
    "v8_segment": (lambda decode: V8Head("segment", decode=decode), 9, False),
    "v8_pose": (lambda decode: V8Head("pose", decode=decode), 9, False),
    "v10_end2end": (lambda decode: V8Head("end2end", decode=decode), 6, True),
    "v5_detect": (lambda decode: V5Head(decode=decode), 3, False),
}


@functools.cache
def yolo_export(directory: Path, kind: str, decode: bool) -> Path:
    make = YOLO_HEADS[kind][0]
    return export(make(decode), (1, 3, 64, 64), directory / f"{kind}_{decode}.onnx")


@pytest.fixture(scope="session")
def yolo_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("yolo")


@pytest.mark.parametrize("kind", list(YOLO_HEADS))
def test_yolo_tail_is_cut_at_the_head_convs(yolo_dir, kind):
    _, cut_tensors, selects = YOLO_HEADS[kind]
    raw = read_onnx(yolo_export(yolo_dir, kind, False), None)
    decoded = read_onnx(yolo_export(yolo_dir, kind, True), None)
    assert raw.postprocess is None  # the raw per-scale outputs are not a tail
    cut = decoded.postprocess
    assert cut is not None and len(cut.tensors) == cut_tensors
    assert cut.selection == selects and cut.dfl == kind.startswith(("v8", "v10"))
    a, b = raw.network, decoded.network
    assert [layer.to_dict() for layer in a] == [layer.to_dict() for layer in b]
    assert len(b.outputs) == len(a.outputs)  # segmentation: + the prototype masks
    assert all(b.layer(o).op is OpKind.CONV for o in b.outputs)
    line = decoded.messages[0]
    assert "--keep-postprocess" in line and "--end-nodes " + ",".join(cut.end_nodes) in line


def test_keep_postprocess_keeps_the_tail(yolo_dir):
    path = yolo_export(yolo_dir, "v8_detect", True)
    kept = read_onnx(path, None, keep_postprocess=True)
    cut = read_onnx(path, None).network
    assert kept.postprocess is None and len(kept.network) > len(cut)
    counts = Counter(layer.op for layer in kept.network)
    assert counts[OpKind.SOFTMAX] == 1  # the DFL softmax is now on the chip
    dfl = [layer for layer in kept.network if layer.op is OpKind.CONV and layer.params == 16]
    assert [layer.output_shape for layer in dfl] == [(1, 4, 84)]  # 16 bins -> 1, 84 anchors


def test_yolov10_tail_kept_needs_allow_unknown(yolo_dir):
    path = yolo_export(yolo_dir, "v10_end2end", True)
    with pytest.raises(UnsupportedOperatorError, match=r"TopK \(2 nodes"):
        read_onnx(path, None, keep_postprocess=True)
    result = read_onnx(path, None, keep_postprocess=True, allow_unknown=True)
    assert {w.split()[2] for w in result.warnings} >= {"TopK", "GatherElements"}


def test_end_nodes_turn_off_the_tail_detection(yolo_dir):
    path = yolo_export(yolo_dir, "v8_detect", True)
    auto = read_onnx(path, None)
    same = read_onnx(path, None, end_nodes=list(auto.postprocess.end_nodes))
    assert same.postprocess is None and same.network == auto.network


def test_import_onnx_reports_the_cut_through_the_callback(yolo_dir):
    lines = []
    net = import_onnx(yolo_export(yolo_dir, "v5_detect", True), None, on_message=lines.append)
    assert len(net.outputs) == 3 and len(lines) == 1 and lines[0].startswith("cut the graph at 3")


def test_single_flattened_map_is_not_a_tail(tmp_path):
    # a segmentation-style logit: conv -> reshape (1, C, H*W) -> softmax; nothing is cut
    nodes = [
        node("Conv", ["x", "w"], ["c"]),
        node("Reshape", ["c", "s"], ["r"]),
        node("Softmax", ["r"], ["y"], axis=1),
    ]
    inits = [weight("w", 5, 4, 1, 1), ints("s", [1, 5, -1])]
    result = load(tmp_path, make_model(nodes, {"x": [1, 4, 6, 6]}, ["y"], inits))
    assert result.postprocess is None and ops(result.network) == [OpKind.CONV, OpKind.SOFTMAX]


@pytest.mark.parametrize("keepdims", [1, 0])
def test_argmax_over_the_channels_is_the_on_chip_argmax(tmp_path, keepdims):
    # a segmentation end: 21 class scores -> one class index per pixel, as Hailo's chip runs it
    nodes = [
        node("Conv", ["x", "w"], ["c"]),
        node("ArgMax", ["c"], ["y"], axis=1, keepdims=keepdims),
    ]
    model = make_model(nodes, {"x": [1, 4, 6, 8]}, ["y"], [weight("w", 21, 4, 1, 1)])
    conv, argmax = net_of(tmp_path, model)
    assert (argmax.op, argmax.inputs, argmax.input_shapes) == (OpKind.ARGMAX, ("c",), ((21, 6, 8),))
    assert (argmax.output_shape, argmax.output_bytes) == ((1, 6, 8), 48)


def test_argmax_over_another_axis_names_the_node_and_the_axis(tmp_path):
    nodes = [node("Conv", ["x", "w"], ["c"]), node("ArgMax", ["c"], ["y"], axis=3)]
    model = make_model(nodes, {"x": [1, 4, 6, 8]}, ["y"], [weight("w", 21, 4, 1, 1)])
    with pytest.raises(
        UnsupportedOperatorError,
        match=r"ONNX operator ArgMax at node 'y': an argmax over axis 3 of a \(1, 21, 6, 8\) "
        r"tensor; ctxfit prices the argmax over the channels",
    ):
        load(tmp_path, model)
    # priced anyway with --allow-unknown, and said so, as for an op with no rule at all
    result = load(tmp_path, model, allow_unknown=True)
    assert [layer.op for layer in result.network] == [OpKind.CONV, OpKind.ADD]
    assert result.warnings[-1].startswith("priced 1 ArgMax node (first 'y') as generic")


# -- unsupported ops -------------------------------------------------------------------------------
def unknown_ops_model():
    nodes = [
        node("GridSample", ["x", "grid"], ["g0"]),
        node("GridSample", ["g0", "grid"], ["g1"]),
        node("CumSum", ["g1", "axis"], ["cs"]),
        node("Relu", ["cs"], ["y"]),
    ]
    grid = weight("grid", 1, 4, 4, 2)
    return make_model(nodes, {"x": [1, 3, 4, 4]}, ["y"], [grid, ints("axis", 1)])


def test_unsupported_ops_are_all_listed(tmp_path):
    with pytest.raises(UnsupportedOperatorError) as info:
        load(tmp_path, unknown_ops_model())
    assert str(info.value).startswith(
        "unsupported ONNX operators: GridSample (2 nodes: 'g0', 'g1'); CumSum (1 node: 'cs');"
    )
    assert "--allow-unknown" in str(info.value)


def test_allow_unknown_prices_generic_layers_and_warns_once_per_type(tmp_path):
    result = load(tmp_path, unknown_ops_model(), allow_unknown=True)
    assert [(layer.name, layer.op) for layer in result.network] == [
        ("g0", OpKind.ADD),
        ("g1", OpKind.ADD),
        ("cs", OpKind.ADD),
        ("y", OpKind.ACTIVATION),
    ]
    assert result.network.layer("g0").params == 4 * 4 * 2  # the constant grid
    assert len(result.warnings) == 2
    assert result.warnings[0].startswith("priced 2 GridSample nodes (first 'g0')")


def test_custom_domain_op_is_named_with_its_domain(tmp_path):
    model = make_model(
        [helper.make_node("Foo", ["x"], ["y"], name="foo", domain="com.acme")], {"x": [1, 2]}, ["y"]
    )
    model.opset_import.append(helper.make_opsetid("com.acme", 1))
    with pytest.raises(UnsupportedOperatorError, match=r"com\.acme::Foo \(1 node: 'foo'\)"):
        load(tmp_path, model)
    (layer,) = net_of(tmp_path, model, allow_unknown=True)
    assert (layer.op, layer.output_shape) == (OpKind.ADD, (2,))


def test_data_dependent_gather_names_the_node(tmp_path):
    nodes = [
        node("Cast", ["x"], ["i"], to=TensorProto.INT64),
        node("Gather", ["x", "i"], ["y"], axis=1),
    ]
    model = make_model(nodes, {"x": [1, 4]}, ["y"])
    with pytest.raises(
        UnsupportedOperatorError,
        match=r"unsupported use of ONNX operator Gather at node 'y': indexing with an activation",
    ):
        load(tmp_path, model)


# -- bad files -------------------------------------------------------------------------------------
def test_not_an_onnx_file(tmp_path):
    path = tmp_path / "notes.onnx"
    path.write_text("this is a text file, not a protobuf\n" * 10)
    with pytest.raises(ModelImportError, match=r"is not a readable ONNX model"):
        read_onnx(path, None)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.onnx"
    path.write_bytes(b"")
    with pytest.raises(ModelImportError, match=r"holds no ONNX graph nodes"):
        read_onnx(path, None)


def test_truncated_file(tmp_path):
    data = save(chain(), tmp_path).read_bytes()
    path = tmp_path / "cut.onnx"
    path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(ModelImportError, match=r"truncated"):
        read_onnx(path, None)


def test_cycle(tmp_path):
    nodes = [node("Add", ["x", "b"], ["a"], name="add"), node("Relu", ["a"], ["b"], name="relu")]
    with pytest.raises(ModelImportError, match=r"the graph has a cycle through node '(add|relu)'"):
        load(tmp_path, make_model(nodes, {"x": [1, 4]}, ["b"]))


def test_dangling_tensor(tmp_path):
    nodes = [node("Add", ["x", "ghost"], ["y"], name="add")]
    with pytest.raises(
        ModelImportError, match=r"node 'add' \(Add\) reads tensor 'ghost', which no"
    ):
        load(tmp_path, make_model(nodes, {"x": [1, 4]}, ["y"]))


def test_tensor_of_size_zero(tmp_path):
    nodes = [node("Slice", ["x", "s", "s", "ax"], ["z"]), node("Relu", ["z"], ["y"])]
    inits = [ints("s", [2]), ints("ax", [1])]
    with pytest.raises(ModelImportError, match=r"node 'z' \(Slice\): its output 'z' has size zero"):
        load(tmp_path, make_model(nodes, {"x": [1, 4, 3]}, ["y"], inits))
    with pytest.raises(ModelImportError, match=r"input 'x' has shape 1x0x3 with a zero dim"):
        load(tmp_path, make_model([node("Relu", ["x"], ["y"])], {"x": [1, 0, 3]}, ["y"]))


def test_input_without_shape(tmp_path):
    model = make_model(chain().graph.node, {"x": None}, ["t2"], chain().graph.initializer)
    with pytest.raises(ModelImportError, match=r"input 'x' has no shape in the file; pass --input"):
        load(tmp_path, model)
    assert len(net_of(tmp_path, model, (1, 8, 4, 4))) == 3


@pytest.mark.parametrize(
    ("dims", "given", "message"),
    [
        ([1, 8, 4, 4], (1, 8, 5, 5), r"fixed at 1x8x4x4 in the file; --input-shape 1x8x5x5"),
        (["N", 8, 4, 4], (1, 8, 4), r"--input-shape 1x8x4 has 3 dims but input 'x' has 4"),
        ([2, 8, 4, 4], None, r"input 'x' has batch 2 .*ctxfit imports one frame"),
    ],
)
def test_bad_input_shapes(tmp_path, dims, given, message):
    model = make_model(chain().graph.node, {"x": dims}, ["t2"], chain().graph.initializer)
    with pytest.raises(ModelImportError, match=message):
        load(tmp_path, model, given)


def test_dynamic_batch_alone_defaults_to_one(tmp_path):
    model = make_model(
        chain().graph.node, {"x": ["batch", 8, 4, 4]}, ["t2"], chain().graph.initializer
    )
    assert net_of(tmp_path, model).inputs == {"x": (8, 4, 4)}


def test_cli_prints_one_line_and_exits_2(tmp_path, capsys):
    path = tmp_path / "broken.onnx"
    path.write_bytes(b"\x08\x07garbage that is not a model")
    assert main(["profile", str(path)]) == 2
    err = capsys.readouterr().err
    assert "ONNX" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


# -- external data ---------------------------------------------------------------------------------
def conv_reshape_model():
    """conv (64 -> 64, 3x3: 36 864 weights) -> reshape by an initializer target -> gemm."""
    nodes = [
        node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
        node("Reshape", ["c", "target"], ["r"]),
        node("Gemm", ["r", "fc"], ["y"], transB=1),
    ]
    inits = [
        weight("w", 64, 64, 3, 3, value=0.5),
        ints("target", [1, -1]),
        weight("fc", 10, 64 * 4),
    ]
    return make_model(nodes, {"x": [1, 64, 2, 2]}, ["y"], inits)


def save_external(model, directory, threshold):
    path = Path(directory) / "ext.onnx"
    onnx.save(
        model, str(path), save_as_external_data=True, location="ext.data", size_threshold=threshold
    )
    return path


def test_external_weights_are_never_read(tmp_path):
    path = save_external(conv_reshape_model(), tmp_path, threshold=1024)
    (tmp_path / "ext.data").unlink()  # the weights are gone: only their dims are needed
    net = read_onnx(path, None).network
    assert net.total_params == 64 * 64 * 9 + 10 * 256
    assert net.layer("y").input_shapes == ((256,),)


def test_external_shape_tensor_is_loaded_alone(tmp_path):
    path = save_external(conv_reshape_model(), tmp_path, threshold=0)  # target stored outside
    assert net_of_path(path).layer("y").input_shapes == ((256,),)
    (tmp_path / "ext.data").unlink()
    with pytest.raises(ModelImportError, match=r"cannot read initializer 'target'.*external data"):
        read_onnx(path, None)


def net_of_path(path):
    return read_onnx(path, None).network


# -- opsets ----------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def probe_exports(tmp_path_factory):
    directory = tmp_path_factory.mktemp("opsets")
    probe = OpsetProbe()
    return {
        op: export(probe, (1, 3, 32, 32), directory / f"probe_{op}.onnx", opset=op) for op in OPSETS
    }


OPSETS = (11, 13, 17, 18, 21)


def test_probe_matches_the_torch_import(probe_exports):
    from partitioner.importers.torch_fx import import_module

    torch_net = import_module(OpsetProbe(), (1, 3, 32, 32), name="probe")
    net = read_onnx(probe_exports[17], None).network
    assert Counter(ops(net)) == Counter(ops(torch_net))
    assert (len(net), net.total_macs) == (len(torch_net), torch_net.total_macs)
    bn_channels = 16 + 32 + 16 + 32  # stem, cv, dw, mix: each folded norm's 2 C becomes a C bias
    assert net.total_params == torch_net.total_params - bn_channels


@pytest.mark.parametrize("opset", [op for op in OPSETS if op != 17])
def test_every_opset_gives_the_same_network(probe_exports, opset):
    """Opsets 11 and 13 export LayerNorm and GELU decomposed and the split sizes and reduce
    axes as attributes; 18 moves reduce axes to inputs; 21 has Gelu and LayerNormalization ops.
    The layer graph must not change."""

    def summary(path):
        net = read_onnx(path, None).network
        return [
            (layer.op, layer.activation, layer.output_shape, layer.params, layer.macs)
            for layer in net
        ]

    assert summary(probe_exports[opset]) == summary(probe_exports[17])


# -- parity with the PyTorch importer on the zoo ---------------------------------------------------
def _small(name: str) -> dict:
    from partitioner.zoo import ZOO

    entry = ZOO[name]
    knobs = {"resolution": 64 if entry.family.startswith("yolo") else 32}
    if name == "squeezenet_v1.1":
        return {}  # small enough to run as published
    if "width" in entry.knobs:
        knobs["width"] = 0.25
    if "depth" in entry.knobs:
        knobs["depth"] = 0.34
    return knobs


def _zoo_names() -> list[str]:
    """The 25 networks of partitioner/zoo/__init__.py (the catalogs' networks have their own
    parity tests in tests/test_zoo_{classification,detection,dense}.py)."""
    from tests.test_zoo import CORE

    return list(CORE)


SMALL = {name: _small(name) for name in _zoo_names()}
# By default one network per block family runs (the torch importer takes seconds per network);
# the others reuse the same blocks with other gains; all run unless CTXFIT_QUICK=1.
REPRESENTATIVES = {
    "resnet_v1_50",  # bottleneck residuals, max-pool, global pool, dense
    "mobilenet_v2_1.0",  # inverted residuals: depthwise convs, relu6, linear bottlenecks
    "squeezenet_v1.1",  # fire modules (concat), published size
    "vit_tiny",  # patch conv, class token, position embedding, attention, layer norm, gelu
    "yolov5s",  # pixel unshuffle, CSP with a standalone batch norm, leaky relu, SPP
    "yolov8n",  # C2f (chunk), SPPF, upsample, the v8 head
    "yolov11n",  # C3k2, C2PSA attention over a feature map, separable head
}
FULL_ZOO = os.environ.get("CTXFIT_QUICK") != "1"


def verdict(net):
    """What `ctxfit compile` concludes: one context or not, and how many."""
    from partitioner.compile import compile_network
    from partitioner.search import SearchOptions

    report = compile_network(net, preset("hailo8"), SearchOptions(timeout_s=3))
    return report.single_context, report.num_contexts


@pytest.fixture(scope="session")
def zoo_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("zoo")


@pytest.mark.parametrize("name", _zoo_names())
def test_zoo_parity_with_the_torch_importer(zoo_dir, name):
    if name not in REPRESENTATIVES and not FULL_ZOO:
        pytest.skip("same architecture as a representative; CTXFIT_QUICK=1 skips it")
    from partitioner.importers.torch_fx import import_module
    from partitioner.zoo import build_module

    module, shape = build_module(name, **SMALL[name])
    torch_net = import_module(module, shape, name=name)
    path = export(module, shape, zoo_dir / f"{name}.onnx")
    result = read_onnx(path, None)
    onnx_net = result.network
    assert result.postprocess is None and result.warnings == ()
    assert len(onnx_net) == len(torch_net)
    assert Counter(ops(onnx_net)) == Counter(ops(torch_net))
    assert onnx_net.total_macs == torch_net.total_macs
    # the exporter folds each batch norm into its conv: a bias of C replaces the 2 C of the norm
    assert onnx_net.total_params <= torch_net.total_params
    assert onnx_net.total_params == pytest.approx(torch_net.total_params, rel=0.01)
    assert verdict(onnx_net) == verdict(torch_net)
