"""Frame rate, latency and energy of a network split into contexts, at batch size B.

The contexts run one after another; each processes the whole batch before the next is loaded
(HAILO.md section 3). With ``t_c`` the per-frame time of context c and ``S_c`` its switch cost::

    t_c  = max(1 / F_c, pcie_c)                                                [s]
    pcie_c = max(in_bytes / link + in_rows x row_overhead,
                 out_bytes / link + out_rows x row_overhead)
    S_c  = overhead + (weight_bytes_c + config_bytes_c) / link + fill_frames x t_c   [s]
    T(B) = sum_c (S_c + B x t_c)      (several contexts)
    T(B) = B x t                      (one context: its weights and configuration stay loaded)
    FPS(B) = B / T(B)

``F_c`` is the context's compute rate (:func:`cost_model.context.context_fit`), ``pcie_bytes_c``
the bytes it moves over PCIe per frame (graph inputs and outputs it reads or writes, plus the
tensors it writes to and reads back from host memory at its boundaries), ``pcie_rows_c`` the
rows of those tensors (each row has a fixed cost ``row_overhead``, and each tensor one DMA
transfer's; whether tensors between contexts pay them too or only their bytes is
:func:`pays_overhead`); PCIe is full duplex, so the
host-to-device part (``in``) and the device-to-host part (``out``) overlap. ``link`` the effective
link bandwidth in bytes/s, ``overhead`` the fixed firmware cost of a switch and ``fill_frames``
the pipeline fill and drain in frame times (calibrated parameters of the ``HardwareSpec``).
The link is treated as one shared channel: reads and writes of a context add up.

>>> from cost_model.hardware import preset
>>> hw = preset("hailo8").with_params(context_switch_overhead_s=0.0, pipeline_fill_frames=0.0)
>>> ctx = ContextTiming(compute_fps=1000.0, weight_bytes=0, config_bytes=0, pcie_bytes_per_frame=0)
>>> fps_at_batch([ctx], 1, hw), fps_at_batch([ctx], 8, hw)
(1000.0, 1000.0)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from cost_model.errors import PricingError
from cost_model.hardware import HardwareSpec

MAX_BATCH = 63  # hailort batch size 1..63


@dataclass(frozen=True, kw_only=True)
class ContextTiming:
    """What the batch-time formula needs of one context.

    Attributes:
        compute_fps: the context's compute rate F_c (frames/s) from ``context_fit``.
        weight_bytes: weights loaded over PCIe when the context is switched in.
        config_bytes: configuration loaded with them.
        pcie_bytes_per_frame: graph-input, graph-output and boundary bytes per frame.
        macs_per_frame: multiply-accumulates per frame (for the energy estimate).
        pcie_rows_per_frame: rows of the tensors behind ``pcie_bytes_per_frame`` that pay the
            row cost (:func:`cost_model.lowering.tensor_rows`), each costing
            ``hw.pcie_row_overhead_s``: all of them, or only the graph's own inputs and outputs
            when ``hw.pcie_overhead_between_contexts`` is false (:func:`pays_overhead`).
        pcie_transfers_per_frame: those tensors (one DMA transfer each), each costing
            ``hw.pcie_transfer_overhead_s``.
        pcie_out_bytes_per_frame, pcie_out_rows_per_frame, pcie_out_transfers_per_frame: the
            device-to-host part of the totals above (outputs and tensors written to host
            memory); it overlaps the host-to-device rest. Left at 0, all traffic counts as one
            direction, host-to-device.
    """

    compute_fps: float
    weight_bytes: int
    config_bytes: int
    pcie_bytes_per_frame: int
    macs_per_frame: int = 0
    pcie_rows_per_frame: int = 0
    pcie_out_bytes_per_frame: int = 0
    pcie_out_rows_per_frame: int = 0
    pcie_transfers_per_frame: int = 0
    pcie_out_transfers_per_frame: int = 0

    def __post_init__(self) -> None:
        if not self.compute_fps > 0:
            raise PricingError(
                f"context compute rate {self.compute_fps!r} FPS must be positive "
                "(a context that does not fit has no rate)"
            )
        for name in (
            "weight_bytes",
            "config_bytes",
            "pcie_bytes_per_frame",
            "macs_per_frame",
            "pcie_rows_per_frame",
            "pcie_out_bytes_per_frame",
            "pcie_out_rows_per_frame",
            "pcie_transfers_per_frame",
            "pcie_out_transfers_per_frame",
        ):
            if getattr(self, name) < 0:
                raise PricingError(f"context {name} = {getattr(self, name)!r} must be >= 0")
        if (
            self.pcie_out_bytes_per_frame > self.pcie_bytes_per_frame
            or self.pcie_out_rows_per_frame > self.pcie_rows_per_frame
            or self.pcie_out_transfers_per_frame > self.pcie_transfers_per_frame
        ):
            raise PricingError(
                "the device-to-host part of a context's PCIe traffic "
                f"({self.pcie_out_bytes_per_frame} B, {self.pcie_out_rows_per_frame} rows) "
                f"exceeds its total ({self.pcie_bytes_per_frame} B, "
                f"{self.pcie_rows_per_frame} rows)"
            )


def _check_batch(batch: int) -> None:
    if isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= MAX_BATCH:
        raise PricingError(f"batch size {batch!r} must be an integer in 1..{MAX_BATCH}")


def _check_contexts(contexts: Sequence[ContextTiming]) -> None:
    if len(contexts) == 0:
        raise PricingError("a network needs at least one context")


def transfer_time_s(nbytes: float, link_bytes_per_s: float) -> float:
    """Seconds to move ``nbytes`` over a link of ``link_bytes_per_s``.

    >>> transfer_time_s(4e9, 4e9)
    1.0
    """
    return nbytes / link_bytes_per_s


def frame_time_s(ctx: ContextTiming, hw: HardwareSpec) -> float:
    """``t_c = max(1 / compute_fps, pcie time)``, in seconds: the PCIe time is the slower of
    the two directions, each ``bytes / link + rows x row_overhead + transfers x
    transfer_overhead``.

    >>> from cost_model.hardware import PcieLink, preset
    >>> link = PcieLink(generation=3, lanes=4, measured_bytes_per_s=1e9)
    >>> hw = preset("hailo8").with_params(link=link)
    >>> frame_time_s(ContextTiming(compute_fps=500.0, weight_bytes=0, config_bytes=0,
    ...                            pcie_bytes_per_frame=4_000_000), hw)   # 4 ms of PCIe > 2 ms
    0.004
    """
    return max(1.0 / ctx.compute_fps, pcie_time_s(ctx, hw))


def pcie_time_s(ctx: ContextTiming, hw: HardwareSpec) -> float:
    """Seconds per frame of the context's PCIe traffic, the two directions overlapping; a row
    costs ``hw.pcie_row_overhead_s`` host-to-device and ``hw.pcie_out_row_overhead_s``
    device-to-host."""
    out_bytes, out_rows = ctx.pcie_out_bytes_per_frame, ctx.pcie_out_rows_per_frame
    in_bytes = ctx.pcie_bytes_per_frame - out_bytes
    in_rows = ctx.pcie_rows_per_frame - out_rows
    out_n = ctx.pcie_out_transfers_per_frame
    in_n = ctx.pcie_transfers_per_frame - out_n
    link, each = hw.link.bytes_per_s, hw.pcie_transfer_overhead_s
    return max(
        transfer_time_s(in_bytes, link) + in_rows * hw.pcie_row_overhead_s + in_n * each,
        transfer_time_s(out_bytes, link) + out_rows * hw.pcie_out_row_overhead_s + out_n * each,
    )


def pays_overhead(hw: HardwareSpec, *, graph_tensor: bool) -> bool:
    """Whether a tensor crossing PCIe pays the row and transfer costs besides its bytes: a
    graph input or output always does; a tensor between two contexts only when
    ``hw.pcie_overhead_between_contexts`` (a calibrated choice, :mod:`cost_model.params`).

    >>> from cost_model.hardware import preset
    >>> hw = preset("hailo8").with_params(pcie_overhead_between_contexts=False)
    >>> pays_overhead(hw, graph_tensor=True), pays_overhead(hw, graph_tensor=False)
    (True, False)
    """
    return graph_tensor or hw.pcie_overhead_between_contexts


def switch_time_s(ctx: ContextTiming, hw: HardwareSpec) -> float:
    """``S_c = overhead + (weight_bytes + config_bytes) / link + fill_frames x t_c`` seconds."""
    load = transfer_time_s(ctx.weight_bytes + ctx.config_bytes, hw.link.bytes_per_s)
    return hw.context_switch_overhead_s + load + hw.pipeline_fill_frames * frame_time_s(ctx, hw)


def batch_time_s(contexts: Sequence[ContextTiming], batch: int, hw: HardwareSpec) -> float:
    """``T(B)``: seconds to run a batch of ``batch`` frames through all contexts.

    One context reloads nothing: ``T(B) = B x t``. Several: ``sum_c (S_c + B x t_c)``.

    Raises:
        PricingError: no contexts, or a batch outside 1..63.
    """
    _check_contexts(contexts)
    _check_batch(batch)
    if len(contexts) == 1:
        return batch * frame_time_s(contexts[0], hw)
    return math.fsum(time_in_batch_s(c, batch, hw) for c in contexts)


def time_in_batch_s(ctx: ContextTiming, batch: int, hw: HardwareSpec) -> float:
    """``S_c + B x t_c``: the seconds one context of several adds to ``T(B)``.

    >>> from cost_model.hardware import PcieLink, preset
    >>> link = PcieLink(generation=3, lanes=4, measured_bytes_per_s=1e9)
    >>> hw = preset("hailo8").with_params(link=link, context_switch_overhead_s=0.0)
    >>> round(time_in_batch_s(ContextTiming(compute_fps=1000.0, weight_bytes=2_000_000,
    ...     config_bytes=0, pcie_bytes_per_frame=0), 8, hw), 6)   # 2 ms reload + 8 x 1 ms
    0.01
    """
    return switch_time_s(ctx, hw) + batch * frame_time_s(ctx, hw)


def fps_at_batch(contexts: Sequence[ContextTiming], batch: int, hw: HardwareSpec) -> float:
    """Frames per second at batch size ``batch``: ``B / T(B)``."""
    return batch / batch_time_s(contexts, batch, hw)


def latency_s(contexts: Sequence[ContextTiming], hw: HardwareSpec) -> float:
    """Seconds from a frame's arrival to its result at batch 1.

    Several contexts: ``T(1)``. One context: the frame time plus the pipeline fill,
    ``(1 + fill_frames) x t`` (nothing is loaded).
    """
    _check_contexts(contexts)
    if len(contexts) == 1:
        return (1.0 + hw.pipeline_fill_frames) * frame_time_s(contexts[0], hw)
    return batch_time_s(contexts, 1, hw)


def pcie_bytes_per_batch(contexts: Sequence[ContextTiming], batch: int) -> int:
    """Bytes over PCIe for one batch: per-frame traffic x B, plus weights and configuration
    reloaded at every switch when there are several contexts."""
    _check_contexts(contexts)
    _check_batch(batch)
    per_frame = sum(c.pcie_bytes_per_frame for c in contexts) * batch
    if len(contexts) == 1:
        return per_frame
    return per_frame + sum(c.weight_bytes + c.config_bytes for c in contexts)


def energy_per_frame_j(contexts: Sequence[ContextTiming], batch: int, hw: HardwareSpec) -> float:
    """Joules per frame: ``MACs x compute pJ/MAC + PCIe bytes per batch x pJ/B / B``.

    Only the energy the two terms name; idle and static power are not included.
    """
    compute = sum(c.macs_per_frame for c in contexts) * hw.compute_pj_per_mac * 1e-12
    pcie = pcie_bytes_per_batch(contexts, batch) * hw.pcie_pj_per_byte * 1e-12 / batch
    return compute + pcie


def stream_all_weights(
    weight_bytes: int, link_bytes_per_s: float, pj_per_byte: float
) -> tuple[float, float]:
    """The "stream all weights every frame" estimate: ``(seconds, joules)`` per frame.

    It is the switch cost of this model with no fixed overhead, no configuration and no
    pipeline fill, summed over contexts at batch 1 (pinned by a test).

    >>> s, j = stream_all_weights(25_557_032, 4e9, 25.0)    # ResNet-50, INT8, 4 GB/s
    >>> round(s * 1e3, 2), round(j * 1e3, 2)                 # ms, mJ
    (6.39, 0.64)
    """
    return transfer_time_s(weight_bytes, link_bytes_per_s), weight_bytes * pj_per_byte * 1e-12
