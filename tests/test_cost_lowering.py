"""Lowering one layer at a rate F: SCs, nodes, splits, L3 cuts, caps on F."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cost_model.errors import PricingError
from cost_model.hardware import preset
from cost_model.layer import Layer, OpKind, Precision
from cost_model.lowering import (
    WORK_RULES,
    ProfileTable,
    demand_matrix,
    line_buffer_bytes,
    lower_layer,
    lower_table,
    max_layer_fps,
    price_layers,
    price_matrix,
    profile_layer,
    tensor_rows,
)
from cost_model.resources import Resources

# Round parameters so the hand arithmetic stays readable.
HW = preset("hailo8").with_params(
    compute_efficiency=0.5,
    dwconv_efficiency=0.25,
    matmul_efficiency=0.5,
    elements_per_sc_per_cycle=8.0,
    min_channels_per_node=16,
    max_nodes_per_layer=16,
    line_buffer_extra_rows=0,
    combiner_subclusters=1,
    shortcut_subclusters=0,
    shortcut_nodes=1,
    fused_ops=("activation",),
    extra_nodes_by_op=(),
    sc_cycles_per_row=0.0,
    l3_cut_bytes=16384,
    lcus_per_node=1,
    apus_per_node=1,
    input_aligners_per_node=1,
    config_bytes_per_node=4096,
)
CLOCK = 400e6
CUT = 16384


def conv(c_in=64, c_out=64, h=56, w=56, k=3, stride=1, name="conv", precision=Precision.A8_W8):
    h_out, w_out = h // stride, w // stride
    return Layer(
        name=name,
        op=OpKind.CONV,
        inputs=("x",),
        input_shapes=((c_in, h, w),),
        output_shape=(c_out, h_out, w_out),
        kernel=(k, k),
        stride=(stride, stride),
        params=c_out * c_in * k * k + c_out,
        macs=c_out * h_out * w_out * c_in * k * k,
        precision=precision,
    )


def test_conv_at_1000_fps_by_hand():
    c_in, c_out, h, w, k = 64, 64, 56, 56, 3
    layer = conv(c_in, c_out, h, w, k)
    macs = c_out * h * w * c_in * k * k  # 115,605,504
    work = macs / (64 * 0.5)  # SC-cycles per frame at 50% of 64 MAC/cycle
    sc = math.ceil(work * 1000 / CLOCK)  # 9.03 -> 10 SCs
    nodes = math.ceil(sc / 8) + 1  # 2 compute nodes + 1 combiner
    weight_cuts = math.ceil((c_out * c_in * k * k + c_out) / CUT)  # 36,928 B -> 3 cuts
    buffer_cuts = math.ceil((k + 1) * c_in * w / CUT)  # 4 rows x 64 ch x 56 px = 14,336 B
    cost = lower_layer(layer, HW, 1000.0)
    assert (sc, nodes, weight_cuts, buffer_cuts) == (10, 3, 3, 1)
    assert cost.resources == Resources(
        lcus=nodes,
        subclusters=sc + 1,  # + the combiner's SC
        l3_cuts=weight_cuts + buffer_cuts,
        apus=nodes,
        input_aligners=nodes,
    )
    assert (cost.layer_nodes, cost.nodes, cost.split, cost.replication) == (2, 3, "channels", 1)
    assert cost.config_bytes == nodes * 4096
    assert cost.weight_bytes == 36928 and cost.macs == macs
    assert cost.max_fps == pytest.approx(16 * 8 * CLOCK / work)
    assert cost.reachable and cost.notes == ()


def test_small_layer_takes_one_node_and_one_sc():
    cost = lower_layer(conv(8, 8, 8, 8, 1), HW, 1.0)
    assert cost.resources == Resources(lcus=1, subclusters=1, l3_cuts=2, apus=1, input_aligners=1)
    assert (cost.nodes, cost.split) == (1, "none")


def test_exact_multiple_of_an_sc_takes_that_many():
    layer = conv(64, 64, 56, 56, 3)
    work = layer.macs / 32
    f = 8 * CLOCK / work  # exactly 8 SCs: one node, no combiner
    assert lower_layer(layer, HW, f).resources.lcus == 1
    assert lower_layer(layer, HW, f * 1.001).resources.lcus == 3


def test_narrow_layer_splits_spatially_and_replicates_weights():
    c_out = 16  # 16 // 16 = 1 channel group: any split is spatial
    layer = conv(64, c_out, 56, 56, 3)
    work = layer.macs / 32
    f = 20 * CLOCK / work  # 20 SCs -> 3 nodes
    cost = lower_layer(layer, HW, f)
    weight_cuts = math.ceil(layer.weight_bytes / CUT)
    assert (cost.layer_nodes, cost.split, cost.replication) == (3, "spatial", 3)
    assert cost.resources.l3_cuts == 3 * weight_cuts + math.ceil(4 * 64 * 56 / CUT)


def test_medium_layer_splits_by_channels_then_spatially():
    layer = conv(64, 32, 56, 56, 3)  # 32 // 16 = 2 channel groups
    work = layer.macs / 32
    cost = lower_layer(layer, HW, 36 * CLOCK / work)  # 36 SCs -> 5 nodes
    # 2 groups, each replicated ceil(5 / 2) = 3 times
    assert (cost.layer_nodes, cost.split, cost.replication) == (5, "channels+spatial", 3)


def test_fan_out_adds_one_shortcut_node():
    layer = conv(8, 8, 8, 8, 1)
    one, two = lower_layer(layer, HW, 1.0), lower_layer(layer, HW, 1.0, fan_out=3)
    assert two.resources - one.resources == Resources(lcus=1, apus=1, input_aligners=1)
    assert two.nodes == one.nodes + 1


def test_sixteen_bit_doubles_scs_weights_and_buffers():
    a8 = conv(64, 64, 56, 56, 3)
    a16 = a8.with_precision(Precision.A16_W16)
    f = 1000.0
    assert lower_layer(a16, HW, f).subclusters_needed == math.ceil(2 * a8.macs / 32 * f / CLOCK)
    assert line_buffer_bytes(a16, HW) == 2 * line_buffer_bytes(a8, HW)
    assert lower_layer(a16, HW, f).weight_bytes == 2 * a8.weight_bytes


def test_four_bit_weights_halve_weight_cuts_not_scs():
    big = conv(512, 512, 7, 7, 3)  # 2,359,808 params
    w4 = big.with_precision(Precision.A8_W4)
    c8, c4 = lower_layer(big, HW, 100.0), lower_layer(w4, HW, 100.0)
    assert c4.subclusters_needed == c8.subclusters_needed
    assert c4.weight_bytes == math.ceil(big.params / 2)
    buffer_cuts = math.ceil(4 * 512 * 7 / CUT)
    assert c8.resources.l3_cuts == math.ceil(big.params / CUT) + buffer_cuts  # 145 + 1
    assert c4.resources.l3_cuts == math.ceil(big.params / 2 / CUT) + buffer_cuts  # 73 + 1


def test_depthwise_uses_its_own_efficiency():
    c, h, w, k = 96, 56, 56, 3
    dw = Layer(
        name="dw",
        op=OpKind.DWCONV,
        inputs=("x",),
        input_shapes=((c, h, w),),
        output_shape=(c, h, w),
        kernel=(k, k),
        groups=c,
        params=c * k * k + c,
        macs=c * h * w * k * k,
    )
    f = 2000.0
    assert lower_layer(dw, HW, f).subclusters_needed == math.ceil(
        c * h * w * k * k / (64 * 0.25) * f / CLOCK
    )


def test_a_dilated_conv_buffers_the_rows_its_kernel_spans():
    c, h, w, k, d = 32, 65, 65, 3, 4
    conv = Layer(name="aspp", op=OpKind.DWCONV, inputs=("x",), input_shapes=((c, h, w),),
                 output_shape=(c, h, w), kernel=(k, k), dilation=(d, d), groups=c,
                 params=c * k * k + c, macs=c * h * w * k * k)  # fmt: skip
    # (3 - 1) x 4 + 1 = 9 rows spanned, + 1 for the stride, of 65 x 32 bytes each
    assert line_buffer_bytes(conv, HW) == (9 + 1) * w * c
    plain = replace(conv, dilation=(1, 1))
    assert line_buffer_bytes(plain, HW) == (3 + 1) * w * c


def test_elementwise_layer_work_counts_elements():
    c, h, w = 64, 56, 56
    add = Layer(
        name="add",
        op=OpKind.ADD,
        inputs=("a", "b"),
        input_shapes=((c, h, w), (c, h, w)),
        output_shape=(c, h, w),
    )
    elements = 2 * c * h * w  # inputs (401,408) outnumber the output
    f = 64000.0
    sc = math.ceil(elements / 8 * f / CLOCK)  # 8.03 -> 9 SCs
    cost = lower_layer(add, HW, f)
    assert (cost.subclusters_needed, cost.layer_nodes, cost.weight_bytes) == (sc, 2, 0)
    # two inputs, each 1 + 1 rows (1x1 kernel, stride 1) of 64 x 56
    assert cost.resources.l3_cuts == 2 * math.ceil(2 * c * w / CUT)


def test_argmax_reads_every_class_score_and_writes_one_byte_per_pixel():
    # DeepLab's end: 21 class scores at 513x513 -> one class index per pixel
    argmax = Layer(
        name="argmax",
        op=OpKind.ARGMAX,
        inputs=("resize",),
        input_shapes=((21, 513, 513),),
        output_shape=(1, 513, 513),
    )
    assert argmax.output_bytes == 513 * 513  # 263,169 B where the scores take 5,526,549 B
    f = 100.0
    sc = math.ceil(21 * 513 * 513 / 8 * f / CLOCK)  # 5,526,549 elements read: 0.17 -> 1 SC
    cost = lower_layer(argmax, HW, f)
    assert (cost.subclusters_needed, cost.weight_bytes) == (sc, 0)
    f = 2000.0  # 3.45 -> 4 SCs
    assert lower_layer(argmax, HW, f).subclusters_needed == 4


def test_matmul_holds_both_operands_whole():
    heads, n, d = 12, 197, 64
    scores = Layer(
        name="attn.qk",
        op=OpKind.MATMUL,
        inputs=("q", "k"),
        input_shapes=((heads, n, d), (heads, d, n)),
        output_shape=(heads, n, n),
        macs=heads * n * d * n,
    )
    assert line_buffer_bytes(scores, HW) == 2 * heads * n * d
    # each operand: 151,296 B -> 10 cuts
    assert lower_layer(scores, HW, 10.0).resources.l3_cuts == 2 * math.ceil(heads * n * d / CUT)


def test_token_dense_buffers_its_one_row_the_whole_sequence():
    n, d_in, d_out = 197, 768, 3072
    fc = Layer(
        name="fc1",
        op=OpKind.DENSE,
        inputs=("x",),
        input_shapes=((n, d_in),),
        output_shape=(n, d_out),
        params=d_in * d_out + d_out,
        macs=n * d_in * d_out,
    )
    # Hailo lays a sequence out as height 1, width n: one row of n tokens, held whole
    assert line_buffer_bytes(fc, HW) == n * d_in
    assert tensor_rows((n, d_in)) == 1


def test_transpose_holds_its_input_whole():
    t = Layer(
        name="t",
        op=OpKind.TRANSPOSE,
        inputs=("x",),
        input_shapes=((64, 20, 20),),
        output_shape=(20, 20, 64),
    )
    assert line_buffer_bytes(t, HW) == 64 * 20 * 20


def test_a_rate_beyond_every_split_is_flagged_and_named():
    layer = conv(64, 64, 56, 56, 3, name="backbone.conv3")
    f_max = max_layer_fps(layer, HW)
    assert f_max == pytest.approx(16 * 8 * CLOCK / (layer.macs / 32))
    assert lower_layer(layer, HW, f_max).reachable
    over = lower_layer(layer, HW, f_max * 1.01)
    assert not over.reachable
    assert "'backbone.conv3' caps the rate" in over.notes[0]
    assert over.layer_nodes == 17  # priced anyway, beyond the 16-node limit


def test_every_op_kind_has_a_rule():
    assert set(WORK_RULES) == set(OpKind)


def test_mac_layer_without_macs_is_an_error_not_free():
    bad = Layer(
        name="c0", op=OpKind.CONV, inputs=("x",), input_shapes=((3, 8, 8),), output_shape=(8, 8, 8)
    )
    with pytest.raises(PricingError, match="'c0' is a conv with 0 MACs"):
        lower_layer(bad, HW, 10.0)


@pytest.mark.parametrize("fps", [0.0, -5.0, math.inf, math.nan])
def test_bad_rates_are_rejected(fps):
    with pytest.raises(PricingError, match="must be a positive finite number"):
        lower_layer(conv(), HW, fps)


def test_price_layers_and_demand_matrix_agree_with_lower_layer():
    layers = [(conv(name="a"), 1), (conv(32, 128, 28, 28, 3, name="b"), 2), (conv(name="c"), 1)]
    levels = [10.0, 500.0, 3000.0]
    matrix = demand_matrix(layers, HW, levels)
    assert matrix.shape == (3, 3, 5)
    for i, f in enumerate(levels):
        priced = price_layers(layers, HW, f)
        for j, (layer, fan_out) in enumerate(layers):
            single = lower_layer(layer, HW, f, fan_out=fan_out)
            assert priced[j] == single
            assert tuple(matrix[i, j]) == single.resources.as_tuple()


# -- properties ----------------------------------------------------------------------------------

layer_strategy = st.builds(
    conv,
    c_in=st.integers(1, 512),
    c_out=st.integers(1, 512),
    h=st.integers(1, 160),
    w=st.integers(1, 160),
    k=st.sampled_from([1, 3, 5]),
    precision=st.sampled_from(list(Precision)),
)


@settings(max_examples=60, deadline=None)
@given(
    layer=layer_strategy,
    f1=st.floats(1.0, 1e5),
    f2=st.floats(1.0, 1e5),
    fan_out=st.integers(1, 3),
)
def test_demand_never_falls_as_the_rate_rises(layer, f1, f2, fan_out):
    lo, hi = sorted((f1, f2))
    assert (
        lower_layer(layer, HW, lo, fan_out=fan_out).resources
        <= lower_layer(layer, HW, hi, fan_out=fan_out).resources
    )


@settings(max_examples=60, deadline=None)
@given(layer=layer_strategy, f=st.floats(1.0, 1e5), fan_out=st.integers(1, 3))
def test_vectorised_and_scalar_lowering_agree(layer, f, fan_out):
    table = ProfileTable.from_profiles([profile_layer(layer, HW, fan_out)])
    vector = lower_table(table, HW, f).demand[0]
    assert (
        tuple(int(v) for v in vector)
        == lower_layer(layer, HW, f, fan_out=fan_out).resources.as_tuple()
    )


@settings(max_examples=40, deadline=None)
@given(
    layer=layer_strategy,
    more_macs=st.integers(0, 10**8),
    more_params=st.integers(0, 10**6),
    f=st.floats(1.0, 1e4),
)
def test_more_work_or_weights_never_needs_less(layer, more_macs, more_params, f):
    """A layer that grows (more MACs, more parameters, same shapes) never needs less and never
    reaches a higher rate. (Adding output channels is not monotone: a wider layer can be split
    by channels where a narrower one must replicate its weights.)"""
    bigger = replace(layer, macs=layer.macs + more_macs, params=layer.params + more_params)
    assert lower_layer(layer, HW, f).resources <= lower_layer(bigger, HW, f).resources
    assert max_layer_fps(bigger, HW) <= max_layer_fps(layer, HW)


def test_demand_matrix_is_monotone_over_levels():
    layers = [(conv(name=f"l{i}", c_out=16 * (i + 1)), 1 + i % 2) for i in range(6)]
    matrix = demand_matrix(layers, HW, np.geomspace(1, 1e5, 40).tolist())
    assert (np.diff(matrix, axis=0) >= 0).all()


# -- parser-fusion knobs ---------------------------------------------------------------------------


def _add(name="add"):
    return Layer(
        name=name,
        op=OpKind.ADD,
        inputs=("a", "b"),
        input_shapes=((64, 8, 8), (64, 8, 8)),
        output_shape=(64, 8, 8),
    )


def test_a_fused_op_takes_scs_but_no_node():
    fused = HW.with_params(fused_ops=("activation", "add"))
    alone, folded = lower_layer(_add(), HW, 1.0), lower_layer(_add(), fused, 1.0)
    assert alone.resources == Resources(lcus=1, subclusters=1, l3_cuts=2, apus=1, input_aligners=1)
    assert folded.resources == Resources(subclusters=1, l3_cuts=2)
    assert folded.nodes == 0 and folded.config_bytes == 0


def test_shortcut_nodes_parameter():
    layer = conv(8, 8, 8, 8, 1)
    none = HW.with_params(shortcut_nodes=0)
    assert lower_layer(layer, none, 1.0, fan_out=3).resources.lcus == 1
    assert lower_layer(layer, HW, 1.0, fan_out=3).resources.lcus == 2


def _norm(shape):
    return Layer(
        name="ln",
        op=OpKind.NORM,
        inputs=("x",),
        input_shapes=(shape,),
        output_shape=shape,
        params=2 * shape[-1] if len(shape) == 2 else 2 * shape[0],
    )


def test_layer_norm_over_tokens_takes_its_extra_nodes_batch_norm_does_not():
    hw = HW.with_params(extra_nodes_by_op=(("norm", 4), ("softmax", 3)))
    tokens = lower_layer(_norm((197, 768)), hw, 1.0)
    assert tokens.nodes == 1 + 4
    assert tokens.resources.lcus == 5 and tokens.resources.subclusters == 1 + 4  # 1 SC each
    feature_map = lower_layer(_norm((64, 80, 80)), hw, 1.0)  # a group or instance norm
    assert feature_map.nodes == 1
    token_bn = replace(_norm((197, 768)), op=OpKind.AFFINE)  # a batch norm over tokens
    assert lower_layer(token_bn, hw, 1.0).nodes == 1


def test_sc_cycles_per_row_add_to_the_work():
    layer = conv(64, 64, 56, 56, 3)
    hw = HW.with_params(sc_cycles_per_row=1000.0)
    work = layer.macs / 32 + 56 * 1000.0  # 56 output rows x 1000 SC-cycles
    assert profile_layer(layer, hw, 1).work_sc_cycles == pytest.approx(work)
    assert max_layer_fps(layer, hw) == pytest.approx(128 * CLOCK / work)


@settings(max_examples=40, deadline=None)
@given(
    layer=layer_strategy,
    f=st.floats(1.0, 1e5),
    fan_out=st.integers(1, 3),
    fused=st.sampled_from([(), ("conv",), ("activation", "add")]),
    extra=st.sampled_from([(), (("conv", 2),)]),
    shortcut_nodes=st.integers(0, 2),
)
def test_vectorised_and_scalar_lowering_agree_with_every_knob(
    layer, f, fan_out, fused, extra, shortcut_nodes
):
    hw = HW.with_params(fused_ops=fused, extra_nodes_by_op=extra, shortcut_nodes=shortcut_nodes)
    table = ProfileTable.from_profiles([profile_layer(layer, hw, fan_out)])
    vector = tuple(int(v) for v in lower_table(table, hw, f).demand[0])
    assert vector == lower_layer(layer, hw, f, fan_out=fan_out).resources.as_tuple()


def test_price_matrix_is_lower_layer_at_every_level():
    # a 3x3 conv of 64 -> 64 channels at 56x56 caps out near 1.3e5 FPS on Hailo-8, so the
    # top rate is priced but unreachable; the 32 -> 128 conv fans out (a shortcut node)
    layers = [(conv(name="a"), 1), (conv(32, 128, 28, 28, 3, name="b"), 2)]
    levels = [10.0, 500.0, 3000.0, 1e7]
    prices = price_matrix(layers, HW, levels)
    assert prices.demand.shape == (4, 2, 5)
    assert prices.config_bytes.shape == prices.reachable.shape == (4, 2)
    for lv, f in enumerate(levels):
        for i, (layer, fan_out) in enumerate(layers):
            single = lower_layer(layer, HW, f, fan_out=fan_out)
            assert tuple(prices.demand[lv, i]) == single.resources.as_tuple()
            assert prices.config_bytes[lv, i] == single.config_bytes
            assert bool(prices.reachable[lv, i]) == single.reachable
    assert prices.reachable[:3].all() and not prices.reachable[3].any()
