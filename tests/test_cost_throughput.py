"""Several contexts at batch B: T(B), FPS(B), latency, energy, and the stream-all-weights case."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cost_model.errors import PricingError
from cost_model.hardware import PcieLink, preset
from cost_model.throughput import (
    ContextTiming,
    batch_time_s,
    energy_per_frame_j,
    fps_at_batch,
    frame_time_s,
    latency_s,
    pcie_bytes_per_batch,
    stream_all_weights,
    switch_time_s,
)

LINK = PcieLink(generation=3, lanes=4, measured_bytes_per_s=1e9)  # 1 GB/s: 1 byte per ns
HW = preset("hailo8").with_params(
    link=LINK,
    context_switch_overhead_s=1e-3,
    pipeline_fill_frames=1.0,
    pcie_pj_per_byte=25.0,
    compute_pj_per_mac=0.2,
)
# A: compute-bound, 1 ms per frame; 3 MB of weights + config
A = ContextTiming(
    compute_fps=1000.0,
    weight_bytes=2_000_000,
    config_bytes=1_000_000,
    pcie_bytes_per_frame=500_000,
    macs_per_frame=1_000_000_000,
)
# B: PCIe-bound: 1 MB per frame = 1 ms > 1 / 4000 s of compute
B = ContextTiming(
    compute_fps=4000.0,
    weight_bytes=0,
    config_bytes=0,
    pcie_bytes_per_frame=1_000_000,
    macs_per_frame=500_000_000,
)


def test_frame_time_is_the_slower_of_compute_and_pcie():
    assert frame_time_s(A, HW) == pytest.approx(1e-3)  # max(1 ms, 0.5 ms)
    assert frame_time_s(B, HW) == pytest.approx(1e-3)  # max(0.25 ms, 1 ms)


def test_each_transfer_costs_its_overhead_in_its_direction():
    hw = HW.with_params(pcie_row_overhead_s=0.0, pcie_transfer_overhead_s=100e-6)
    # in: 1 tensor of 100 kB (100 us + 100 us); out: 6 tensors, 60 kB (60 us + 600 us)
    ctx = ContextTiming(
        compute_fps=10_000.0,
        weight_bytes=0,
        config_bytes=0,
        pcie_bytes_per_frame=160_000,
        pcie_out_bytes_per_frame=60_000,
        pcie_transfers_per_frame=7,
        pcie_out_transfers_per_frame=6,
    )
    assert frame_time_s(ctx, hw) == pytest.approx(660e-6)  # the slower direction: out
    with pytest.raises(PricingError, match="device-to-host part"):
        ContextTiming(compute_fps=1.0, weight_bytes=0, config_bytes=0, pcie_bytes_per_frame=1,
                      pcie_transfers_per_frame=1, pcie_out_transfers_per_frame=2)  # fmt: skip


def test_switch_time_is_overhead_plus_load_plus_fill():
    # 1 ms overhead + 3 MB / 1 GB/s + 1 frame of fill
    assert switch_time_s(A, HW) == pytest.approx(1e-3 + 3e-3 + 1e-3)
    assert switch_time_s(B, HW) == pytest.approx(1e-3 + 0.0 + 1e-3)


def test_batch_time_of_two_contexts_by_hand():
    s_a, s_b, t_a, t_b = 5e-3, 2e-3, 1e-3, 1e-3
    assert batch_time_s([A, B], 1, HW) == pytest.approx(s_a + t_a + s_b + t_b)  # 9 ms
    assert batch_time_s([A, B], 8, HW) == pytest.approx(s_a + 8 * t_a + s_b + 8 * t_b)  # 23 ms
    assert fps_at_batch([A, B], 8, HW) == pytest.approx(8 / 23e-3)
    assert latency_s([A, B], HW) == pytest.approx(9e-3)


def test_one_context_reloads_nothing_and_is_batch_independent():
    assert batch_time_s([A], 8, HW) == pytest.approx(8e-3)
    assert fps_at_batch([A], 1, HW) == fps_at_batch([A], 8, HW) == pytest.approx(1000.0)
    assert fps_at_batch([A], 63, HW) == pytest.approx(1000.0)
    assert latency_s([A], HW) == pytest.approx(2e-3)  # the frame plus one frame of fill


def test_pcie_bytes_and_energy_per_frame_by_hand():
    batch = 8
    per_batch = (500_000 + 1_000_000) * batch + 3_000_000  # frames' traffic + A's reload
    assert pcie_bytes_per_batch([A, B], batch) == per_batch
    compute_j = (1e9 + 0.5e9) * 0.2e-12
    pcie_j = per_batch * 25e-12 / batch
    assert energy_per_frame_j([A, B], batch, HW) == pytest.approx(compute_j + pcie_j)
    # one context: no reload
    assert energy_per_frame_j([A], batch, HW) == pytest.approx(1e9 * 0.2e-12 + 500_000 * 25e-12)


def test_stream_all_weights_pins_resnet50():
    seconds, joules = stream_all_weights(25_557_032, 4e9, 25.0)
    assert seconds == pytest.approx(6.389258e-3, rel=1e-6)  # 25,557,032 B / 4e9 B/s
    assert joules == pytest.approx(0.6389258e-3, rel=1e-6)  # 25,557,032 B x 25 pJ/B
    assert round(seconds * 1e3, 2) == 6.39 and round(joules * 1e3, 2) == 0.64


def test_stream_all_weights_is_the_batch_1_special_case_of_the_model():
    """No fixed overhead, no configuration, no fill, instant compute and no frame traffic:
    T(1) and the energy per frame reduce to the weight reload."""
    hw = preset("hailo8").with_params(
        link=PcieLink(generation=3, lanes=4, measured_bytes_per_s=4e9),
        context_switch_overhead_s=0.0,
        pipeline_fill_frames=0.0,
        compute_pj_per_mac=0.0,
        pcie_pj_per_byte=25.0,
    )
    halves = (12_778_516, 12_778_516)  # ResNet-50's 25,557,032 INT8 weights over two contexts
    contexts = [
        ContextTiming(compute_fps=1e300, weight_bytes=w, config_bytes=0, pcie_bytes_per_frame=0)
        for w in halves
    ]
    seconds, joules = stream_all_weights(sum(halves), 4e9, 25.0)
    assert batch_time_s(contexts, 1, hw) == pytest.approx(seconds, rel=1e-12)
    assert energy_per_frame_j(contexts, 1, hw) == pytest.approx(joules, rel=1e-12)


@pytest.mark.parametrize("batch", [0, 64, 2.0, True])
def test_bad_batch_sizes_are_rejected(batch):
    with pytest.raises(PricingError, match="batch size"):
        batch_time_s([A, B], batch, HW)


def test_bad_contexts_are_rejected():
    with pytest.raises(PricingError, match="at least one context"):
        fps_at_batch([], 1, HW)
    with pytest.raises(PricingError, match="must be positive"):
        ContextTiming(compute_fps=0.0, weight_bytes=0, config_bytes=0, pcie_bytes_per_frame=0)


# -- properties ----------------------------------------------------------------------------------

timing_strategy = st.builds(
    ContextTiming,
    compute_fps=st.floats(1.0, 1e5),
    weight_bytes=st.integers(0, 10**8),
    config_bytes=st.integers(0, 10**6),
    pcie_bytes_per_frame=st.integers(0, 10**7),
    macs_per_frame=st.integers(0, 10**10),
)


@settings(max_examples=60, deadline=None)
@given(contexts=st.lists(timing_strategy, min_size=1, max_size=10), b=st.integers(1, 62))
def test_fps_never_falls_as_the_batch_grows(contexts, b):
    assert fps_at_batch(contexts, b + 1, HW) >= fps_at_batch(contexts, b, HW) * (1 - 1e-12)


@settings(max_examples=60, deadline=None)
@given(
    contexts=st.lists(timing_strategy, min_size=1, max_size=10),
    b=st.integers(1, 63),
    bw1=st.floats(1e8, 1e10),
    bw2=st.floats(1e8, 1e10),
)
def test_more_pcie_bandwidth_never_lowers_fps(contexts, b, bw1, bw2):
    slow, fast = sorted((bw1, bw2))
    hw_slow = HW.with_params(link=PcieLink(generation=3, lanes=4, measured_bytes_per_s=slow))
    hw_fast = HW.with_params(link=PcieLink(generation=3, lanes=4, measured_bytes_per_s=fast))
    assert fps_at_batch(contexts, b, hw_fast) >= fps_at_batch(contexts, b, hw_slow) * (1 - 1e-12)


@settings(max_examples=40, deadline=None)
@given(ctx=timing_strategy, b=st.integers(1, 63))
def test_one_context_fps_does_not_depend_on_the_batch(ctx, b):
    assert fps_at_batch([ctx], b, HW) == pytest.approx(fps_at_batch([ctx], 1, HW), rel=1e-12)


def test_pcie_directions_overlap_and_rows_cost_a_fixed_time():
    hw = HW.with_params(pcie_row_overhead_s=1e-6, pcie_out_row_overhead_s=1e-6)
    # in: 1.2 MB + 640 rows; out: 0.8 MB + 280 rows, at 1 GB/s
    ctx = ContextTiming(
        compute_fps=1e6,
        weight_bytes=0,
        config_bytes=0,
        pcie_bytes_per_frame=2_000_000,
        pcie_rows_per_frame=920,
        pcie_out_bytes_per_frame=800_000,
        pcie_out_rows_per_frame=280,
    )
    t_in = 1_200_000 / 1e9 + 640 * 1e-6  # 1.84 ms
    t_out = 800_000 / 1e9 + 280 * 1e-6  # 1.08 ms
    assert frame_time_s(ctx, hw) == pytest.approx(max(t_in, t_out))
    # without the split, all traffic counts as one direction
    one_way = ContextTiming(
        compute_fps=1e6,
        weight_bytes=0,
        config_bytes=0,
        pcie_bytes_per_frame=2_000_000,
        pcie_rows_per_frame=920,
    )
    assert frame_time_s(one_way, hw) == pytest.approx(2_000_000 / 1e9 + 920 * 1e-6)
    # A row written out costs its own time: at 4 us the out direction (0.8 ms + 1.12 ms) is the
    # slower one.
    slow_out = hw.with_params(pcie_out_row_overhead_s=4e-6)
    assert frame_time_s(ctx, slow_out) == pytest.approx(800_000 / 1e9 + 280 * 4e-6)  # 1.92 ms


def test_out_part_cannot_exceed_the_total():
    with pytest.raises(PricingError, match="device-to-host part"):
        ContextTiming(
            compute_fps=1.0,
            weight_bytes=0,
            config_bytes=0,
            pcie_bytes_per_frame=10,
            pcie_out_bytes_per_frame=11,
        )
