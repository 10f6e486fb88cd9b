"""Power in watts of a partition at batch size B: static plus dynamic.

::

    P(B)        = P_static + E_dyn(B) x FPS(B)                                     [W]
    E_dyn(B)    = MACs x compute_pj_per_mac + PCIe bytes per batch x pcie_pj_per_byte / B  [J]
    P_c,running = P_static + (MACs_c x compute_pj_per_mac
                              + pcie_bytes_c x pcie_pj_per_byte) / t_c             [W]

``P_static`` is the part's ``static_power_w`` (drawn whatever it runs: leakage, clocks, the PCIe
link, the MCUs); ``E_dyn`` the dynamic energy of one frame
(:func:`cost_model.throughput.energy_per_frame_j`, weights and configuration reloaded at every
switch included); ``FPS(B)`` the frame rate (:func:`cost_model.throughput.fps_at_batch`).
``P(B)`` is the average over a batch, switches included; ``P_c,running`` what context c draws
while it runs its frames (``t_c`` its frame time; no reload). Sources of the parameters:
:mod:`cost_model.hardware` (``typical_power_w``, ``static_power_w``) and
:mod:`cost_model.params` (``COMPUTE_PJ_PER_MAC``, ``PCIE_PJ_PER_BYTE``).

>>> from cost_model.hardware import preset
>>> hw = preset("hailo8").with_params(pcie_pj_per_byte=0.0)
>>> ctx = ContextTiming(compute_fps=1000.0, weight_bytes=0, config_bytes=0,
...                     pcie_bytes_per_frame=0, macs_per_frame=1_000_000_000)
>>> p = partition_power([ctx], 1, hw)       # 1 GMAC x 0.115 pJ = 0.115 mJ per frame, 1000 FPS
>>> round(p.static_w, 3), round(p.dynamic_w, 3), round(p.total_w, 3)
(1.0, 0.115, 1.115)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cost_model.hardware import HardwareSpec
from cost_model.throughput import ContextTiming, energy_per_frame_j, fps_at_batch, frame_time_s


@dataclass(frozen=True, kw_only=True)
class PowerEstimate:
    """Average power while frames run: the part's static share and the dynamic rest.

    Attributes:
        static_w: the part's static power (``HardwareSpec.static_power_w``).
        dynamic_w: dynamic energy per frame x frames per second.
        fps: the frame rate the dynamic part was priced at.
        dynamic_mj_per_frame: the dynamic energy of one frame, in millijoules.
    """

    static_w: float
    dynamic_w: float
    fps: float
    dynamic_mj_per_frame: float

    @property
    def total_w(self) -> float:
        """Static plus dynamic watts."""
        return self.static_w + self.dynamic_w


def partition_power(
    contexts: Sequence[ContextTiming], batch: int, hw: HardwareSpec
) -> PowerEstimate:
    """``P(B) = P_static + E_dyn(B) x FPS(B)`` for the partition's contexts at batch ``batch``.

    Raises:
        PricingError: no contexts, or a batch outside 1..63 (from :mod:`cost_model.throughput`).
    """
    energy_j = energy_per_frame_j(contexts, batch, hw)
    fps = fps_at_batch(contexts, batch, hw)
    return PowerEstimate(
        static_w=hw.static_power_w,
        dynamic_w=energy_j * fps,
        fps=fps,
        dynamic_mj_per_frame=energy_j * 1e3,
    )


def context_running_power_w(ctx: ContextTiming, hw: HardwareSpec) -> float:
    """Watts while context ``ctx`` runs its frames: static plus its per-frame compute and PCIe
    energy over its frame time (no reload; :func:`partition_power` averages those in).

    >>> from cost_model.hardware import preset
    >>> hw = preset("hailo8")
    >>> ctx = ContextTiming(compute_fps=500.0, weight_bytes=0, config_bytes=0,
    ...                     pcie_bytes_per_frame=0, macs_per_frame=2_000_000_000)
    >>> round(context_running_power_w(ctx, hw), 3)   # 1.0 W + 2 GMAC x 0.115 pJ x 500 FPS
    1.115
    """
    joules = (
        ctx.macs_per_frame * hw.compute_pj_per_mac + ctx.pcie_bytes_per_frame * hw.pcie_pj_per_byte
    ) * 1e-12
    return hw.static_power_w + joules / frame_time_s(ctx, hw)


__all__ = ["PowerEstimate", "context_running_power_w", "partition_power"]
