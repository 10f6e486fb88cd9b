"""The pricing bridge: a Network and the cost model turned into a PartitionProblem."""

from __future__ import annotations

import pytest

from cost_model.caps import MULTI_CONTEXT_CAPS, ResourceCaps
from cost_model.hardware import PcieLink, preset
from cost_model.layer import Layer, OpKind
from cost_model.lowering import lower_layer, max_layer_fps
from partitioner.errors import InfeasiblePartitionError
from partitioner.graph import Network
from partitioner.pricing import (
    FINE_RATIO,
    MAX_LEVELS,
    build_problem,
    fine_grid,
    geometric,
    level_grid,
    maximum_rate,
    minimum_rate,
)

C, H, W = 8, 16, 16


def conv(name, src, c_in=C, c_out=C, k=3):
    # params c_out * c_in * k * k + c_out, MACs c_out * h * w * c_in * k * k
    return Layer(
        name=name,
        op=OpKind.CONV,
        inputs=(src,),
        input_shapes=((c_in, H, W),),
        output_shape=(c_out, H, W),
        kernel=(k, k),
        params=c_out * c_in * k * k + c_out,
        macs=c_out * H * W * c_in * k * k,
    )


@pytest.fixture
def diamond():
    add = Layer(
        name="d",
        op=OpKind.ADD,
        inputs=("b", "c"),
        input_shapes=((C, H, W), (C, H, W)),
        output_shape=(C, H, W),
    )
    layers = [conv("a", "img", c_in=3), conv("b", "a"), conv("c", "a", k=1), add]
    return Network("diamond", layers, inputs={"img": (3, H, W)}, outputs=["d", "a"])


def test_structure_is_copied_from_the_network(diamond):
    hw = preset("hailo8")
    p = build_problem(diamond, hw, MULTI_CONTEXT_CAPS, batch=8, levels=[1000.0])
    assert p.layer_names == ("a", "b", "c", "d")
    assert p.edges == ((0, 1), (0, 2), (1, 3), (2, 3))
    assert p.is_output == (True, False, False, True)
    assert p.output_bytes == (C * H * W,) * 4  # 8-bit activations: 2048 bytes
    assert p.output_rows == (H,) * 4
    (graph_input,) = p.graph_inputs
    assert (graph_input.name, graph_input.bytes_per_frame, graph_input.rows) == ("img", 768, H)
    assert graph_input.consumers == (0,)
    # weights at 8 bits: a 8*3*9+8, b 8*8*9+8, c 8*8+8, d none
    assert p.weight_bytes == (224, 584, 72, 0)
    # caps multiplied out: ceil(0.6 x 128, 512, 1024, 160, 256)
    assert p.limits == (77, 308, 615, 96, 154)
    assert p.edge_layer_limit == 20
    assert p.batch == 8
    assert p.link_bytes_per_s == hw.link.bytes_per_s
    assert p.switch_overhead_s == hw.context_switch_overhead_s
    assert p.pipeline_fill_frames == hw.pipeline_fill_frames


def slow_link_problem(net, *, between: bool):
    """``net`` on a 1 GB/s link (1 byte per ns) with 1 us per row read, 3 us per row written out
    and 50 us per transfer."""
    link = PcieLink(generation=3, lanes=4, measured_bytes_per_s=1e9)
    hw = preset("hailo8").with_params(
        link=link,
        pcie_row_overhead_s=1e-6,
        pcie_out_row_overhead_s=3e-6,
        pcie_transfer_overhead_s=50e-6,
        pcie_overhead_between_contexts=between,
    )
    return build_problem(net, hw, MULTI_CONTEXT_CAPS, batch=8, levels=[1000.0])


def test_pcie_load_of_a_crossing_tensor_carries_its_row_and_transfer_overheads(diamond):
    p = slow_link_problem(diamond, between=True)
    # written out: 2048 bytes + 16 rows x 3000 bytes + 50,000 bytes for the transfer
    assert p.output_load == (2048 + 48_000 + 50_000,) * 4
    # read back (and the graph input): 16 rows x 1000 bytes
    assert p.read_load == (2048 + 16_000 + 50_000,) * 4
    assert p.input_load == (768 + 16_000 + 50_000,)


def test_tensors_between_contexts_pay_their_bytes_only_when_so_calibrated(diamond):
    p = slow_link_problem(diamond, between=False)
    assert p.overhead_between_contexts is False
    paid = 2048 + 48_000 + 50_000
    # a and d are graph outputs: written out with their overhead; b and c only their bytes;
    # read back by a later context, every tensor moves as bytes only; graph inputs always pay
    assert p.output_load == (paid, 2048, 2048, paid)
    assert p.read_load == (2048,) * 4
    assert p.input_load == (768 + 16_000 + 50_000,)


def test_demands_come_from_lower_layer_with_the_fan_out(diamond):
    hw = preset("hailo8").with_params(shortcut_nodes=1, lcus_per_node=1)
    rate = 2000.0
    p = build_problem(diamond, hw, MULTI_CONTEXT_CAPS, batch=1, levels=[rate])
    for i, name in enumerate(p.layer_names):
        cost = lower_layer(diamond.layer(name), hw, rate, fan_out=diamond.fan_out(name))
        assert p.demand[0][i] == cost.resources.as_tuple()
        assert p.config_bytes[0][i] == cost.config_bytes
    # 'a' feeds b, c and the graph output: one shortcut node, one LCU more than without it
    alone = lower_layer(diamond.layer("a"), hw, rate, fan_out=1).resources.lcus
    assert p.demand[0][0][0] == alone + 1


def test_levels_above_a_layer_cap_are_unreachable(diamond):
    hw = preset("hailo8")
    caps = [max_layer_fps(layer, hw) for layer in diamond.layers]
    low, second = sorted(caps)[:2]
    between = (low * second) ** 0.5  # above the slowest layer's cap, below the others'
    assert low < between < second
    p = build_problem(diamond, hw, MULTI_CONTEXT_CAPS, batch=1, levels=[100.0, between])
    slowest = min(range(4), key=lambda i: caps[i])
    assert p.demand[1][slowest] is None
    assert p.max_level[slowest] == 0
    assert all(p.demand[1][i] is not None for i in range(4) if i != slowest)


def test_a_layer_too_big_for_any_context_is_named():
    # 16.7 M weights of 8 bits need hundreds of L3 cuts; a memory cap of 0.05 allows
    # ceil(0.05 x 1024) = 52 per context
    fc = Layer(
        name="fc",
        op=OpKind.DENSE,
        inputs=("x",),
        input_shapes=((4096,),),
        output_shape=(4096,),
        params=16_781_312,
        macs=16_777_216,
    )
    net = Network("big", [fc], inputs={"x": (4096,)}, outputs=["fc"])
    tight = ResourceCaps.uniform(0.6).with_cap("memory", 0.05)
    with pytest.raises(InfeasiblePartitionError) as err:
        build_problem(net, preset("hailo8"), tight, batch=1, levels=[100.0])
    message = str(err.value)
    assert message.startswith("layer 'fc' needs ")
    assert message.endswith(
        " L3 cuts but one context allows 52 (memory cap 0.05 x 1024); "
        "lower its precision or raise the cap"
    )
    # at a memory cap of 2.0 (2048 cuts) it fits
    roomy = ResourceCaps.uniform(0.6).with_cap("memory", 2.0)
    assert build_problem(net, preset("hailo8"), roomy, batch=1, levels=[100.0]).limits[2] == 2048


def test_geometric_and_fine_grids():
    assert geometric(100.0, 400.0, 3) == (100.0, 200.0, 400.0)
    assert geometric(100.0, 100.0, 5) == (100.0,)
    # 1.2^10 apart: 11 levels at exactly the fine ratio
    grid = fine_grid(100.0, 100.0 * FINE_RATIO**10)
    assert len(grid) == 11
    assert all(b / a == pytest.approx(FINE_RATIO) for a, b in zip(grid, grid[1:], strict=False))
    # a span of 10^6 would need 77 levels at 1.2: capped, with a coarser ratio
    wide = fine_grid(1.0, 1e6)
    assert len(wide) == MAX_LEVELS
    assert wide[1] / wide[0] == pytest.approx(1e6 ** (1 / (MAX_LEVELS - 1)))


def test_minimum_rate_is_where_every_layer_needs_one_subcluster(diamond):
    hw = preset("hailo8")
    low = minimum_rate(diamond, hw)
    for layer in diamond.layers:
        assert lower_layer(layer, hw, low).subclusters_needed == 1
    # just above it the heaviest layer needs a second SC
    needs = [lower_layer(layer, hw, low * 1.001).subclusters_needed for layer in diamond.layers]
    assert max(needs) == 2
    assert maximum_rate(diamond, hw) == max(max_layer_fps(x, hw) for x in diamond.layers)


def test_level_grid_spans_the_contexts_rates(diamond):
    hw = preset("hailo8")
    grid = level_grid(diamond, hw, MULTI_CONTEXT_CAPS, batch=8)
    assert list(grid) == sorted(grid) and len(grid) <= MAX_LEVELS
    assert minimum_rate(diamond, hw) <= grid[0] and grid[-1] <= maximum_rate(diamond, hw) * (
        1 + 1e-9
    )
    ratios = [b / a for a, b in zip(grid, grid[1:], strict=False)]
    assert max(ratios) == pytest.approx(min(ratios))  # geometric
    assert len(grid) == MAX_LEVELS or ratios[0] <= FINE_RATIO + 1e-9
    # the default grid is the one build_problem uses
    p = build_problem(diamond, hw, MULTI_CONTEXT_CAPS, batch=8)
    assert p.levels_fps == grid
