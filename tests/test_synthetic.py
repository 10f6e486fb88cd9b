"""Synthetic networks: exact layer counts, well-formed DAGs, hand-derived params and MACs."""

from __future__ import annotations

import networkx as nx
import pytest

from benchmarks.synthetic import (
    CHAIN_WIDTHS,
    YOLO_SKELETON_LAYERS,
    chain,
    chain_stage,
    generate,
    transformer,
    transformer_blocks,
    yolo_like,
    yolo_plan,
)
from cost_model.caps import SINGLE_CONTEXT_CAPS
from cost_model.context import context_fit
from cost_model.hardware import preset
from cost_model.layer import OpKind, num_elements
from partitioner.errors import UsageError

SIZES = {
    "chain": [*range(1, 25), 97, 500],
    "yolo_like": [*range(YOLO_SKELETON_LAYERS, YOLO_SKELETON_LAYERS + 60), 333, 1000],
    "transformer": [*range(18, 50), 150, 1001],
}


@pytest.mark.parametrize(("family", "sizes"), SIZES.items())
def test_layer_count_is_exact(family, sizes):
    for n in sizes:
        net = generate(family, n)
        assert len(net) == n, (family, n)
        assert net.name == f"{family}{n}"


@pytest.mark.parametrize("family", SIZES)
def test_graph_is_a_connected_dag_without_dead_ends(family):
    net = generate(family, 240)
    graph = net.graph
    assert nx.is_directed_acyclic_graph(graph)
    assert nx.is_weakly_connected(graph)
    dead_ends = [n for n in net.topological_order() if not net.successors(n)]
    assert sorted(dead_ends) == sorted(net.outputs)
    assert list(net.inputs) == ["x"]


@pytest.mark.parametrize("family", SIZES)
def test_input_shapes_match_their_producers(family):
    """Every input reads its producer's elements: all of them, or a part of a split."""
    net = generate(family, 300)
    for layer in net.layers:
        for src, shape in zip(layer.inputs, layer.input_shapes, strict=True):
            produced = net.inputs[src] if src in net.inputs else net.layer(src).output_shape
            if src in net and net.layer(src).op is OpKind.SPLIT:
                assert num_elements(shape) <= num_elements(produced), (layer.name, src)
            else:
                assert num_elements(shape) == num_elements(produced), (layer.name, src)


def test_chain_layers_by_hand():
    net = chain(10, seed=None)
    # stages 0,0,1,1,2,2,3,3,4,4: stride-2 3x3 convs open stages 1-4 (layers 2, 4, 6, 8)
    assert [chain_stage(i, 10) for i in range(10)] == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    first = net.layer("stem")
    c_in, c_out, k, h = 3, 32, 3, 112
    assert first.params == k * k * c_in * c_out + c_out  # 896
    assert first.macs == k * k * c_in * c_out * h * h  # 10,838,016
    one_by_one = net.layer("s0.l1")  # odd index, not opening a stage: 1x1, 32 -> 32 at 112
    assert (one_by_one.kernel, one_by_one.output_shape) == ((1, 1), (32, 112, 112))
    assert one_by_one.params == 32 * 32 + 32
    assert one_by_one.macs == 32 * 32 * 112 * 112
    last = net.layer("s4.l9")  # 1x1, 256 -> 256 at 7x7
    assert last.params == 256 * 256 + 256 and last.macs == 256 * 256 * 7 * 7
    opener = net.layer("s4.l8")  # 3x3 s2, 256 -> 256, 14 -> 7
    assert opener.stride == (2, 2) and opener.input_shapes == ((256, 14, 14),)
    assert opener.macs == 9 * 256 * 256 * 7 * 7
    widths = [layer.output_shape[0] for layer in net.layers]
    assert widths == [32, 32, 64, 64, 128, 128, 256, 256, 256, 256]
    assert net.total_params == sum(
        k * k * ci * co + co
        for k, ci, co in [
            (3, 3, 32),
            (1, 32, 32),
            (3, 32, 64),
            (1, 64, 64),
            (3, 64, 128),
            (1, 128, 128),
            (3, 128, 256),
            (1, 256, 256),
            (3, 256, 256),
            (1, 256, 256),
        ]
    )


def test_transformer_params_and_macs_by_hand():
    d, heads, tokens, d_head = 384, 6, 197, 64
    net = transformer(18)  # one block, no pre-logits layer
    assert transformer_blocks(18) == (1, 0)
    patch = 16 * 16 * 3 * d + d
    block = (
        2 * d  # norm1
        + d * 3 * d
        + 3 * d  # qkv
        + d * d
        + d  # proj
        + 2 * d  # norm2
        + d * 4 * d
        + 4 * d  # fc1
        + 4 * d * d
        + d  # fc2
    )
    fixed = patch + d + tokens * d + 2 * d + (d * 1000 + 1000)  # + cls, pos, norm, head
    assert block == 1_774_464
    assert net.total_params == fixed + block == 2_531_560
    macs = (
        16 * 16 * 3 * d * 14 * 14  # patch embedding
        + tokens * d * 3 * d  # qkv
        + 2 * heads * tokens * tokens * d_head  # scores and context
        + tokens * d * d  # proj
        + 2 * tokens * d * 4 * d  # fc1, fc2
        + d * 1000  # head
    )
    assert net.total_macs == macs
    scores = net.layer("blocks.0.scores")
    assert scores.input_shapes == ((heads, tokens, d_head), (heads, d_head, tokens))
    assert scores.output_shape == (heads, tokens, tokens)
    ops = [layer.op for layer in net.layers if layer.name.startswith("blocks.0.")]
    assert ops == [
        OpKind.NORM,
        OpKind.DENSE,
        OpKind.SPLIT,
        OpKind.MATMUL,
        OpKind.SOFTMAX,
        OpKind.MATMUL,
        OpKind.DENSE,
        OpKind.ADD,
        OpKind.NORM,
        OpKind.DENSE,
        OpKind.DENSE,
        OpKind.ADD,
    ]


def test_transformer_remainder_goes_to_pre_logits():
    net = transformer(18 + 12 + 5)  # two blocks and five pre-logits dense layers
    assert transformer_blocks(35) == (2, 5)
    names = [layer.name for layer in net.layers]
    assert names[-6:] == [f"pre_logits{j}" for j in range(5)] + ["head"]
    assert net.layer("pre_logits0").params == 384 * 384 + 384


def test_yolo_like_skeleton_by_hand():
    net = yolo_like(YOLO_SKELETON_LAYERS, seed=None)
    stem = net.layer("stem")
    assert stem.output_shape == (32, 320, 320)
    assert stem.macs == 3 * 3 * 3 * 32 * 320 * 320  # 88,473,600
    # neck 1: upsampled P5 (512) and P4 (256) concatenated, reduced by a 1x1 conv to 256 at 40
    cat = net.layer("n1.cat")
    assert cat.inputs == ("n1.up", "b3.down") and cat.output_shape == (768, 40, 40)
    reduce = net.layer("n1.reduce")
    assert reduce.params == 768 * 256 + 256
    assert reduce.macs == 768 * 256 * 40 * 40  # 314,572,800
    sppf = net.layer("sppf.cat")
    assert sppf.output_shape == (4 * 256, 20, 20) and len(sppf.inputs) == 4  # cv1 + 3 pools
    assert sorted(net.outputs) == sorted(
        f"head{s}.{b}.out" for s in range(3) for b in ("box", "cls")
    )
    assert [net.layer(o).output_shape for o in net.outputs] == [
        (64, 80, 80),
        (80, 80, 80),
        (64, 40, 40),
        (80, 40, 40),
        (64, 20, 20),
        (80, 20, 20),
    ]


def test_yolo_like_c2f_block_by_hand():
    net = yolo_like(YOLO_SKELETON_LAYERS + 7, seed=None)  # one C2f with one bottleneck at b1
    plan, extra = yolo_plan(YOLO_SKELETON_LAYERS + 7)
    assert plan["b1"] == [1] and extra == 0
    c, half, side = 64, 32, 160
    names = [layer.name for layer in net.layers if layer.name.startswith("b1.c2f0")]
    assert names == [
        "b1.c2f0.cv1",
        "b1.c2f0.split",
        "b1.c2f0.m0.cv1",
        "b1.c2f0.m0.cv2",
        "b1.c2f0.m0.add",
        "b1.c2f0.cat",
        "b1.c2f0.cv2",
    ]
    bottleneck = net.layer("b1.c2f0.m0.cv1")
    assert bottleneck.input_shapes == ((half, side, side),)
    assert bottleneck.params == 9 * half * half + half
    assert bottleneck.macs == 9 * half * half * side * side
    cat = net.layer("b1.c2f0.cat")
    assert cat.inputs == ("b1.c2f0.split", "b1.c2f0.split", "b1.c2f0.m0.add")
    assert cat.output_shape == (3 * half, side, side)
    cv2 = net.layer("b1.c2f0.cv2")
    assert cv2.params == 3 * half * c + c and cv2.macs == 3 * half * c * side * side


def test_yolo_like_skips_grow_with_the_network():
    def longest_skip(n):
        net = yolo_like(n)
        index = {name: i for i, name in enumerate(net.topological_order())}
        return max(index[v] - index[u] for u, v in net.graph.edges)

    assert longest_skip(200) >= 200 // 4
    assert longest_skip(2000) >= 2000 // 4


def test_seed_is_deterministic_and_jitters_widths():
    assert chain(60, seed=3) == chain(60, seed=3)
    assert yolo_like(120, seed=3) == yolo_like(120, seed=3)
    assert chain(60, seed=3) != chain(60, seed=4)
    assert yolo_like(120, seed=3) != yolo_like(120, seed=4)
    nominal = chain(60, seed=None)
    for i, layer in enumerate(chain(60, seed=3).layers[1:], start=1):
        base = CHAIN_WIDTHS[chain_stage(i, 60)]
        width = layer.output_shape[0]
        assert width % 8 == 0 and 0.75 * base <= width <= 1.25 * base
    assert {layer.output_shape[0] for layer in nominal.layers} <= set(CHAIN_WIDTHS)


@pytest.mark.parametrize(
    ("call", "text"),
    [
        (lambda: chain(0), "needs n >= 1 layers; got n=0"),
        (lambda: yolo_like(34), "needs n >= 35 layers; got n=34"),
        (lambda: transformer(17), "needs n >= 18 layers; got n=17"),
        (lambda: transformer(30, dim=100, heads=6), "dim 100 is not a multiple of heads 6"),
        (lambda: generate("resnet", 50), "unknown synthetic family 'resnet'"),
    ],
)
def test_bad_arguments_are_usage_errors(call, text):
    with pytest.raises(UsageError, match=text):
        call()


def test_pricing_binds_like_real_networks():
    """Fifty layers fit one context of Hailo-8; a few hundred no longer do."""
    hw = preset("hailo8")

    def fits_one_context(net):
        layers = [(layer, net.fan_out(layer.name)) for layer in net.layers]
        return context_fit(layers, hw, SINGLE_CONTEXT_CAPS).fits

    assert fits_one_context(chain(50)) and fits_one_context(yolo_like(50))
    for family in SIZES:
        assert not fits_one_context(generate(family, 300)), family
