"""Random valid layer graphs end in a validated partition or one clear CtxfitError.

The graphs are what ``ctxfit profile --json`` writes and ``ctxfit compile G.json`` reads: a few
to 40 layers with fan-outs, joins (add, concat), long skips, mixed precisions and, sometimes,
many graph outputs (the edge-layer limit of 20 per context, issue 15 D2).
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cost_model.errors import CtxfitError
from cost_model.hardware import preset
from cost_model.layer import Layer, OpKind, Precision
from partitioner.compile import compile_network
from partitioner.errors import InfeasiblePartitionError
from partitioner.graph import Network
from partitioner.search import SearchOptions
from partitioner.validator import validate_partition

SETTINGS = settings(
    max_examples=20,
    deadline=None,
    derandomize=True,  # the same graphs on every run
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
CHANNELS = (8, 16, 32, 64, 128, 256, 512)


def conv(name: str, src: str, shape: tuple[int, ...], c_out: int, k: int) -> Layer:
    c_in, h, w = shape
    per_pixel = k * k * c_in * c_out
    return Layer(
        name=name,
        op=OpKind.CONV,
        inputs=(src,),
        input_shapes=(shape,),
        output_shape=(c_out, h, w),
        kernel=(k, k),
        params=per_pixel + c_out,
        macs=per_pixel * h * w,
        activation="relu",
    )


@st.composite
def layer_graphs(draw: st.DrawFn) -> Network:
    """A random CNN-like layer graph: conv, dwconv, add, concat and maxpool layers at one
    spatial size, each reading recent tensors or (sometimes) any earlier one."""
    side = draw(st.sampled_from((16, 40, 80)))
    shapes: dict[str, tuple[int, ...]] = {"x": (3, side, side)}
    layers: list[Layer] = []
    for i in range(draw(st.integers(2, 40))):
        names = list(shapes)
        recent = names[-4:]
        pick = st.sampled_from(recent) if draw(st.integers(0, 4)) else st.sampled_from(names)
        src = draw(pick)
        kind = draw(st.sampled_from(("conv", "conv", "dwconv", "add", "concat", "pool")))
        name = f"l{i}"
        c, h, w = shapes[src]
        if kind == "add":
            same = [n for n in names if n != src and shapes[n] == shapes[src]]
            kind = "add" if same else "conv"
        if kind == "conv" or src == "x" and kind != "concat":
            c_out, k = draw(st.sampled_from(CHANNELS)), draw(st.sampled_from((1, 3)))
            layer = conv(name, src, shapes[src], c_out, k)
        elif kind == "dwconv":
            layer = Layer(
                name=name,
                op=OpKind.DWCONV,
                inputs=(src,),
                input_shapes=((c, h, w),),
                output_shape=(c, h, w),
                kernel=(3, 3),
                groups=c,
                params=10 * c,
                macs=9 * c * h * w,
            )
        elif kind == "add":
            other = draw(st.sampled_from(same))
            layer = Layer(
                name=name,
                op=OpKind.ADD,
                inputs=(src, other),
                input_shapes=((c, h, w), (c, h, w)),
                output_shape=(c, h, w),
                macs=c * h * w,
            )
        elif kind == "concat":
            srcs = draw(st.lists(st.sampled_from(names), min_size=2, max_size=4, unique=True))
            layer = Layer(
                name=name,
                op=OpKind.CONCAT,
                inputs=tuple(srcs),
                input_shapes=tuple(shapes[s] for s in srcs),
                output_shape=(sum(shapes[s][0] for s in srcs), h, w),
            )
        else:
            layer = Layer(
                name=name,
                op=OpKind.MAXPOOL,
                inputs=(src,),
                input_shapes=((c, h, w),),
                output_shape=(c, h, w),
                kernel=(3, 3),
            )
        if layer.params and draw(st.integers(0, 3)) == 0:
            layer = replace(layer, precision=draw(st.sampled_from(tuple(Precision))))
        layers.append(layer)
        shapes[name] = layer.output_shape
    heads = draw(st.sampled_from((0, 0, 0, 19, 25)))  # many graph outputs: the edge-layer limit
    stem = layers[draw(st.integers(0, len(layers) - 1))]
    layers += [conv(f"head{j}", stem.name, stem.output_shape, 8, 1) for j in range(heads)]
    read = {t for layer in layers for t in layer.inputs}
    sinks = [layer.name for layer in layers if layer.name not in read]
    extra = [layer.name for layer in layers if layer.name in read and draw(st.integers(0, 9)) == 0]
    net = Network("random", layers, inputs={"x": shapes["x"]}, outputs=sinks + extra)
    return Network.from_dict(net.to_dict())  # as `ctxfit compile G.json` reads it


@SETTINGS
@given(net=layer_graphs(), part=st.sampled_from(("hailo8", "hailo8l")))
def test_any_graph_ends_in_a_validated_partition_or_one_clear_error(net: Network, part: str):
    hw = preset(part)
    options = SearchOptions(timeout_s=0.5, workers=1)
    try:
        report = compile_network(net, hw, options)
    except InfeasiblePartitionError as err:
        assert "invalid partition" not in str(err)  # the validator rejecting an answer: a bug
        return
    except CtxfitError:
        return
    assignment = {name: c.index for c in report.contexts for name in c.layers}
    caps = options.single_caps if report.single_context else options.multi_caps
    check = validate_partition(net, hw, caps, assignment, batch=options.batch)
    assert check.valid, check.errors
    assert all(ctx.edge_layers <= hw.edge_layers_per_context for ctx in check.contexts)


def stem_with_heads(n: int) -> Network:
    stem = conv("stem", "x", (3, 32, 32), 16, 3)
    heads = [conv(f"head{i}", "stem", (16, 32, 32), 8, 1) for i in range(n)]
    return Network(
        f"heads_{n}", [stem, *heads], inputs={"x": (3, 32, 32)}, outputs=[h.name for h in heads]
    )


@pytest.mark.parametrize(("heads", "contexts"), [(19, 1), (20, 2), (25, 2)])
def test_twenty_graph_outputs_that_fit_one_context_by_resources_are_split(heads, contexts):
    """19 heads + the input are 20 edge layers (one context); 20 heads are 21 (split)."""
    report = compile_network(stem_with_heads(heads), preset("hailo8"), SearchOptions(timeout_s=1))
    assert report.num_contexts == contexts
    assert report.single_context == (contexts == 1)


def test_twenty_graph_outputs_without_context_switching_name_the_edge_layers():
    options = SearchOptions(context_switch="disabled")
    with pytest.raises(InfeasiblePartitionError, match=r"edge layers: 21/20 \(over: edge layers\)"):
        compile_network(stem_with_heads(20), preset("hailo8"), options)
