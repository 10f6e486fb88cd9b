"""One zoo network's record: names, task, default input, knobs and the published size.

Kept apart from :mod:`partitioner.zoo` so that the catalog modules (``catalog_*.py``), which list
the networks of one task family each, can build entries without importing torch or each other.

>>> e = zoo_entry("yolov5s_wo_spp", "yolov5", (), params_m=7.85, ops_g=17.74,
...               task="object_detection", input_hw=(640, 640))
>>> e.input_chw, e.published_macs, e.resolution_step
((3, 640, 640), 8870000000, 32)
"""

from __future__ import annotations

from dataclasses import dataclass

KNOBS = ("width", "depth", "resolution")
NO_DEPTH = ("width", "resolution")
HAILO_CSV = "Hailo Model Zoo v2.18 (params_M; ops_G / 2 = MACs)"


@dataclass(frozen=True, kw_only=True)
class ZooEntry:
    """One network of the zoo: names, default input, knobs and the published size.

    Attributes:
        name: the Hailo Model Zoo name (``resnet_v1_50``).
        family: architecture family (``resnet``, ``yolov8``, ...).
        task: the Model Zoo's task (``classification``, ``object_detection``,
            ``semantic_segmentation``, ...).
        input_chw: default input ``(C, H, W)``, the Model Zoo row's input (not always square).
        aliases: other accepted names, lower case.
        knobs: which of ``width``, ``depth``, ``resolution`` the family has.
        published_params: parameter count published by ``source`` (None if none is).
        published_macs: multiply-accumulates per frame published by ``source``.
        source: where the published numbers come from.
        resolution_step: the input height and width must be multiples of this (the network's
            largest stride, or the ViT patch).
        source_family: the Model Zoo's ``source_family`` (where the architecture comes from:
            ``ultralytics``, ``timm``, ...), empty when the table has none.
    """

    name: str
    family: str
    task: str
    input_chw: tuple[int, int, int]
    aliases: tuple[str, ...]
    knobs: tuple[str, ...]
    published_params: int | None
    published_macs: int | None
    source: str
    resolution_step: int = 32
    source_family: str = ""

    def input_hw_at(self, resolution: int) -> tuple[int, int]:
        """The input ``(H, W)`` at ``resolution`` (the height): the width keeps the default
        input's aspect ratio, rounded to a multiple of :attr:`resolution_step`.

        >>> zoo_entry("x", "f", (), params_m=1, ops_g=1, task="t",
        ...           input_hw=(384, 640)).input_hw_at(192)
        (192, 320)
        """
        _, h, w = self.input_chw
        step = self.resolution_step
        width = max(step, round(resolution * w / h / step) * step)
        return resolution, width


def zoo_entry(
    name: str,
    family: str,
    aliases: tuple[str, ...],
    *,
    params_m: float,
    ops_g: float,
    task: str,
    input_hw: tuple[int, int],
    channels: int = 3,
    knobs: tuple[str, ...] = KNOBS,
    source: str = HAILO_CSV,
    resolution_step: int = 32,
    source_family: str = "",
) -> ZooEntry:
    """An entry from the published ``params_M`` and ``ops_G`` (OPS = 2 x MACs, also for FLOPs)."""
    return ZooEntry(
        name=name,
        family=family,
        task=task,
        input_chw=(channels, *input_hw),
        aliases=aliases,
        knobs=knobs,
        published_params=round(params_m * 1e6),
        published_macs=round(ops_g * 1e9 / 2),
        source=source,
        resolution_step=resolution_step,
        source_family=source_family,
    )
