"""YOLOv5 ``_wo_spp`` (release v2.0 without spatial pyramid pooling): the Model Zoo's
yolov5s_wo_spp, yolov5m_wo_spp and yolov5xs_wo_spp (yolov5s_wo_spp at 512x512).

The table is YOLOv5 v2.0's ``yolov5s.yaml`` with the SPP row replaced by a 3x3 conv to half the
channels (Ultralytics' ``yolov5m_wo_spp.yaml``); the SPP's 1x1 convs go and the 3x3 conv adds
more, hence the larger parameter count than ``yolov5s`` (7.85 M vs 7.46 M). Every conv of v2.0
uses LeakyReLU(0.1). The head is cut at the three per-scale 1x1 detection convs (255 channels:
3 anchors x (4 box + 1 objectness + 80 classes)), where Hailo's parser ends; decoding and NMS
run on the host.

>>> net = yolov5_wo_spp("s", width=1.0, depth=1.0)
>>> sum(p.numel() for p in net.parameters())
7860349
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from partitioner.zoo.blocks import Concat, ConvBnAct
from partitioner.zoo.yolo import (
    NO_EDITS,
    YOLOV5_ROWS,
    YOLOV5_SCALES,
    Row,
    YoloEdits,
    YoloNet,
    build_yolo,
)
from partitioner.zoo.yolo_blocks import BottleneckCSP, DetectV5, Focus, leaky_relu

SPP_ROW = 8  # the v2.0 table's SPP row, a 3x3 conv in the _wo_spp variants

YOLOV5_WO_SPP_ROWS: tuple[Row, ...] = (
    *YOLOV5_ROWS[:SPP_ROW],
    (-1, 1, "Conv", (512, 3, 1)),  # 8: instead of SPP (1024 channels at full width)
    *YOLOV5_ROWS[SPP_ROW + 1 :],
)


def _v2_layer(
    kind: str, args: tuple[Any, ...], c_in: list[int], n: int, width_of: Callable[[int], int]
) -> tuple[nn.Module, int]:
    """One row of the v2.0 table as a module (every conv with LeakyReLU 0.1)."""
    if kind == "Upsample":
        return nn.Upsample(scale_factor=2, mode="nearest"), c_in[0]
    if kind == "Concat":
        return Concat(), sum(c_in)
    if kind == "DetectV5":
        return DetectV5(c_in), 0
    c_out = width_of(args[0])
    if kind == "Conv":
        return ConvBnAct(c_in[0], c_out, args[1], args[2], act=leaky_relu), c_out
    if kind == "Focus":
        return Focus(c_in[0], c_out, args[1]), c_out
    if kind == "BottleneckCSP":
        shortcut = args[1] if len(args) > 1 else True
        return BottleneckCSP(c_in[0], c_out, n, shortcut=shortcut), c_out
    raise ValueError(f"unknown YOLOv5 v2.0 layer kind {kind!r} in a zoo table")


def yolov5_wo_spp(
    scale: str, *, width: float, depth: float, edits: YoloEdits = NO_EDITS
) -> YoloNet:
    """YOLOv5 ``s``/``m`` of release v2.0 without SPP, cut at the three 1x1 detection convs."""
    return build_yolo(
        YOLOV5_WO_SPP_ROWS,
        YOLOV5_SCALES[scale],
        width=width,
        depth=depth,
        make_layer=_v2_layer,
        edits=edits,
    )
