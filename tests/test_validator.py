"""The independent validator: every rule with its numbers, and a solver result that passes."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import partitioner.validator as validator_module
from cost_model.caps import MULTI_CONTEXT_CAPS, ResourceCaps
from cost_model.context import context_fit
from cost_model.hardware import PcieLink, preset
from cost_model.layer import Layer, OpKind
from partitioner.cpsat_model import PartitionModel
from partitioner.errors import InfeasiblePartitionError
from partitioner.graph import Network
from partitioner.pricing import build_problem, validate_result
from partitioner.validator import check_partition, validate_partition

C, H, W = 64, 56, 56
TENSOR = C * H * W  # 200704 bytes per frame, 8-bit


def conv(name, src):
    # 3x3 conv 64 -> 64 on 56x56: params 64*64*9 + 64, MACs 64*56*56*64*9
    return Layer(
        name=name,
        op=OpKind.CONV,
        inputs=(src,),
        input_shapes=((C, H, W),),
        output_shape=(C, H, W),
        kernel=(3, 3),
        params=36928,
        macs=115_605_504,
    )


@pytest.fixture
def chain():
    layers = [conv("a", "x"), conv("b", "a"), conv("c", "b")]
    return Network("chain3", layers, inputs={"x": (C, H, W)}, outputs=["c"])


@pytest.fixture
def diamond():
    add = Layer(
        name="d",
        op=OpKind.ADD,
        inputs=("b", "c"),
        input_shapes=((C, H, W), (C, H, W)),
        output_shape=(C, H, W),
    )
    layers = [conv("a", "x"), conv("b", "a"), conv("c", "a"), add]
    return Network("diamond", layers, inputs={"x": (C, H, W)}, outputs=["d"])


ROW_S = 1e-6  # PCIe cost of each row of a tensor the chip reads (host-to-device)
OUT_ROW_S = 2e-6  # and of each row it writes out (device-to-host)
TRANSFER_S = 10e-6  # PCIe cost of each crossing tensor (one DMA transfer)
ROWS = H  # a (64, 56, 56) tensor streams 56 rows


@pytest.fixture
def hw():
    # 1 GB/s link, 1 us per row, 1 ms per switch, half a frame of pipeline fill: easy numbers
    link = PcieLink(generation=3, lanes=4, measured_bytes_per_s=1e9)
    return preset("hailo8").with_params(
        link=link,
        lcus_per_node=1,  # one LCU per node, no shortcut nodes: "3 layers need 3 LCUs"
        shortcut_nodes=0,
        pcie_row_overhead_s=ROW_S,
        pcie_out_row_overhead_s=OUT_ROW_S,
        pcie_transfer_overhead_s=TRANSFER_S,
        context_switch_overhead_s=1e-3,
        pipeline_fill_frames=0.5,
    )


def pairs(net, names):
    return [(net.layer(n), net.fan_out(n)) for n in names]


def test_single_context_fps_by_hand(chain, hw):
    report = validate_partition(chain, hw, MULTI_CONTEXT_CAPS, {"a": 0, "b": 0, "c": 0}, batch=8)
    assert report.valid
    (ctx,) = report.contexts
    # the context takes x and gives c: 2 edge layers, 2 x 200704 bytes per frame
    assert (ctx.edge_layers, ctx.pcie_bytes_per_frame) == (2, 2 * TENSOR)
    fps = context_fit(pairs(chain, "abc"), hw, MULTI_CONTEXT_CAPS).fps
    # full duplex: x in and c out overlap, each 200704 B over 1 GB/s plus 56 rows (1 us read,
    # 2 us written out) and one transfer of 10 us: the out direction is the slower
    frame_s = max(1 / fps, TENSOR / 1e9 + ROWS * OUT_ROW_S + TRANSFER_S)
    # one context reloads nothing: T(B) = B x t, so FPS = 1 / t whatever the batch
    assert report.fps == pytest.approx(1 / frame_s, rel=1e-12)


def test_two_contexts_fps_by_hand(chain, hw):
    report = validate_partition(chain, hw, MULTI_CONTEXT_CAPS, {"a": 0, "b": 1, "c": 1}, batch=8)
    assert report.valid
    # context 0 takes x, gives a; context 1 takes a, gives c
    assert [(c.edge_layers, c.pcie_bytes_per_frame) for c in report.contexts] == [
        (2, 2 * TENSOR),
        (2, 2 * TENSOR),
    ]
    total = 0.0
    # one tensor in, one out, overlapping; the tensor between the contexts moves as bytes only,
    # so the graph's input x pays rows read (context 0) and its output c rows written (context 1)
    for names, row in (("a", ROW_S), ("bc", OUT_ROW_S)):
        fit = context_fit(pairs(chain, names), hw, MULTI_CONTEXT_CAPS)
        t = max(1 / fit.fps, TENSOR / 1e9 + ROWS * row + TRANSFER_S)
        reload = (36928 * len(names) + fit.config_bytes) / 1e9  # weights + configuration
        total += 1e-3 + reload + 0.5 * t + 8 * t  # switch + reload + fill + B x t
    assert report.fps == pytest.approx(8 / total, rel=1e-12)


def test_tensors_between_contexts_pay_their_bytes_only_when_so_calibrated(diamond, hw):
    bulk = hw.with_params(pcie_overhead_between_contexts=False)
    every = hw.with_params(pcie_overhead_between_contexts=True)
    assignment = {"a": 0, "b": 0, "c": 1, "d": 1}  # a and b cross out of 0; x in; d out of 1
    paying, plain = (validate_partition(diamond, h, MULTI_CONTEXT_CAPS, assignment, batch=8)
                     for h in (every, bulk))  # fmt: skip
    counts = [
        [(c.pcie_rows_per_frame, c.pcie_out_rows_per_frame, c.pcie_transfers_per_frame,
          c.pcie_out_transfers_per_frame, c.pcie_bytes_per_frame) for c in r.contexts]
        for r in (paying, plain)
    ]  # fmt: skip
    assert counts[0] == [(3 * ROWS, 2 * ROWS, 3, 2, 3 * TENSOR), (3 * ROWS, ROWS, 3, 1, 3 * TENSOR)]
    # only x (graph input) and d (graph output) pay rows and a transfer; the bytes are the same
    assert counts[1] == [(ROWS, 0, 1, 0, 3 * TENSOR), (ROWS, ROWS, 1, 1, 3 * TENSOR)]
    total = 0.0
    for names, ins, outs in (("ab", (1, 1), (2, 0)), ("cd", (2, 0), (1, 1))):
        fit = context_fit(pairs(diamond, names), bulk, MULTI_CONTEXT_CAPS)
        # (tensors, of which paying) in each direction, overlapping
        pcie = max(
            n * TENSOR / 1e9 + k * (ROWS * row + TRANSFER_S)
            for (n, k), row in ((ins, ROW_S), (outs, OUT_ROW_S))
        )
        t = max(1 / fit.fps, pcie)
        reload = (36928 * names.count("b") + 36928 * names.count("c") + 36928 * names.count("a")
                  + fit.config_bytes) / 1e9  # fmt: skip
        total += 1e-3 + reload + 0.5 * t + 8 * t
    assert plain.fps == pytest.approx(8 / total, rel=1e-12)
    assert plain.fps > paying.fps


def test_precedence(chain, hw):
    report = validate_partition(chain, hw, MULTI_CONTEXT_CAPS, {"a": 0, "b": 1, "c": 0}, batch=1)
    assert report.errors == ("layer 'c' (context 0) reads 'b' from a later context 1",)
    assert report.fps is None


def test_caps_message_carries_the_numbers(chain, hw):
    # control cap 0.01 x 128 LCUs allows 2; three layers need one node (one LCU) each
    caps = ResourceCaps.uniform(0.5).with_cap("control", 0.01)
    report = validate_partition(chain, hw, caps, {"a": 0, "b": 0, "c": 0}, batch=1)
    assert not report.valid
    assert "context 0 does not fit even at its lowest rate: LCUs: 3/2 (3 layers)" in report.errors
    split = validate_partition(chain, hw, caps, {"a": 0, "b": 1, "c": 1}, batch=1)
    assert split.valid


def test_edge_limit(diamond, hw):
    # {a, b} | {c, d}: context 0 takes x and gives a (read by c) and b (read by d): 3;
    # context 1 takes a and b and gives d: 3
    assignment = {"a": 0, "b": 0, "c": 1, "d": 1}
    report = validate_partition(diamond, hw, MULTI_CONTEXT_CAPS, assignment, batch=1)
    assert [c.edge_layers for c in report.contexts] == [3, 3]
    assert [c.pcie_bytes_per_frame for c in report.contexts] == [3 * TENSOR, 3 * TENSOR]
    tight = hw.with_params(edge_layers_per_context=2)
    report = validate_partition(diamond, tight, MULTI_CONTEXT_CAPS, assignment, batch=1)
    assert report.errors == (
        "context 0 has 3 edge layers (tensors in or out); the limit is 2",
        "context 1 has 3 edge layers (tensors in or out); the limit is 2",
    )


def test_graph_input_read_twice_in_one_context_counts_once(hw):
    a, b = conv("a", "x"), conv("b", "x")
    net = Network("fork", [a, b], inputs={"x": (C, H, W)}, outputs=["a", "b"])
    one = validate_partition(net, hw, MULTI_CONTEXT_CAPS, {"a": 0, "b": 0}, batch=1)
    assert one.contexts[0].edge_layers == 3  # x once, a and b out
    two = validate_partition(net, hw, MULTI_CONTEXT_CAPS, {"a": 0, "b": 1}, batch=1)
    assert [c.edge_layers for c in two.contexts] == [2, 2]  # x read by each context


def test_claimed_rates_and_fps(chain, hw):
    assignment = {"a": 0, "b": 1, "c": 1}
    fits = [context_fit(pairs(chain, n), hw, MULTI_CONTEXT_CAPS).fps for n in ("a", "bc")]
    rates = [0.5 * f for f in fits]  # half the top rate: fits, slower
    at_rates = validate_partition(
        chain, hw, MULTI_CONTEXT_CAPS, assignment, batch=4, context_fps=rates
    ).fps_at_claimed_rates
    ok = validate_partition(
        chain,
        hw,
        MULTI_CONTEXT_CAPS,
        assignment,
        batch=4,
        claimed_fps=at_rates * 1.005,  # within 1%
        context_fps=rates,
    )
    assert ok.valid and ok.fps_at_claimed_rates == at_rates
    bad = validate_partition(
        chain,
        hw,
        MULTI_CONTEXT_CAPS,
        assignment,
        batch=4,
        claimed_fps=at_rates * 1.5,
        context_fps=rates,
    )
    assert bad.errors[0] == (
        f"claimed {at_rates * 1.5:.6g} FPS but the cost model gives {at_rates:.6g} FPS at the "
        "claimed context rates (tolerance 1%)"
    )


def test_claimed_rate_above_what_a_context_reaches(chain, hw):
    top = context_fit(pairs(chain, "a"), hw, MULTI_CONTEXT_CAPS).fps
    report = validate_partition(
        chain,
        hw,
        MULTI_CONTEXT_CAPS,
        {"a": 0, "b": 1, "c": 1},
        batch=1,
        context_fps=[2 * top, 100.0],
    )
    assert report.errors[0].startswith(f"context 0 is claimed at {2 * top:.6g} FPS but reaches")


def test_optimistic_claim_without_rates(chain, hw):
    assignment = {"a": 0, "b": 0, "c": 0}
    fps = validate_partition(chain, hw, MULTI_CONTEXT_CAPS, assignment, batch=1).fps
    assert validate_partition(
        chain, hw, MULTI_CONTEXT_CAPS, assignment, batch=1, claimed_fps=fps * 0.9
    ).valid
    report = validate_partition(
        chain, hw, MULTI_CONTEXT_CAPS, assignment, batch=1, claimed_fps=fps * 1.1
    )
    assert report.errors == (
        f"claimed {fps * 1.1:.6g} FPS but the cost model gives at most {fps:.6g} FPS "
        "(tolerance 1%)",
    )


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        ({"a": 0, "b": 0}, "no context for layer(s) 'c'"),
        ({"a": 0, "b": 0, "c": 0, "zz": 0}, "'zz' is not a layer of 'chain3'"),
        ({"a": 0, "b": 2, "c": 2}, "contexts must be numbered 0..K-1 with none empty, got [0, 2]"),
    ],
)
def test_malformed_assignments(chain, hw, assignment, message):
    report = validate_partition(chain, hw, MULTI_CONTEXT_CAPS, assignment, batch=1)
    assert report.errors == (message,)


def test_check_partition_raises_with_every_error(chain, hw):
    with pytest.raises(InfeasiblePartitionError) as err:
        check_partition(chain, hw, MULTI_CONTEXT_CAPS, {"a": 1, "b": 0, "c": 0}, batch=1)
    assert str(err.value) == (
        "invalid partition of 'chain3': layer 'b' (context 0) reads 'a' from a later context 1"
    )


def test_shares_no_code_with_the_solver_side():
    tree = ast.parse(Path(validator_module.__file__).read_text())
    imported = {
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module is not None
    }
    imported |= {
        a.name for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names
    }
    solver_side = {"partitioner.problem", "partitioner.pricing", "partitioner.cpsat_model"}
    assert not imported & (solver_side | {"partitioner.baselines", "ortools.sat.python"})


def test_a_solver_result_passes(diamond, hw):
    problem = build_problem(diamond, hw, MULTI_CONTEXT_CAPS, batch=8)
    result = PartitionModel(problem, num_contexts=4).solve(time_limit_s=5)
    report = validate_result(diamond, hw, MULTI_CONTEXT_CAPS, problem, result)
    assert report.valid
    assert report.fps_at_claimed_rates == pytest.approx(result.fps, rel=0.01)
    assert report.fps >= result.fps * 0.99
