"""YOLOv5 instance segmentation (Ultralytics v7.0 ``yolov5{n,s,m,l}-seg``), cut where Hailo cuts,
and the v6.1 detector of the same layout (``yolov5m_6.1``).

The v7.0 layout differs from the v2.0 detector of :mod:`partitioner.zoo.yolo`: a 6x6/2 stem conv
(padding 2) instead of Focus, C3 blocks instead of BottleneckCSP, SPPF instead of SPP, SiLU
everywhere. The head (``Segment``) is YOLOv5's anchor head with 32 mask coefficients per anchor
(one 1x1 conv per scale to ``3 x (5 + 80 + 32) = 351`` channels) plus the mask prototype branch
(``Proto``: 3x3 conv, 2x nearest upsample, 3x3 conv, 1x1 conv to 32 prototypes at stride 4).
Hailo's parser ends at those four convs (``yolov5s_seg.yaml``: outputs 160x160x32 and
80/40/20 x 351 at 640); decoding, NMS and mask assembly run on the host.

The table transcribes Ultralytics' ``yolov5s-seg.yaml``; scaling follows its ``parse_model``:
channels ``ceil8(c x width)``, repeats ``round(n x depth)``, and the prototype width
``ceil8(256 x width)``. ``model.<i>`` is the YAML's layer i.

Release v6.1's detector (:func:`yolov5_v6`) has the same backbone and neck (v6.0 introduced the
6x6 stem, C3 and SPPF; v7.0 added the ``-seg`` models on them) and the plain anchor head
(``Detect``: one 1x1 conv per scale to ``3 x 85``), cut at those convs. Its P6 models
(``yolov5m6``: ``YOLOV5_P6_ROWS``, Ultralytics' ``yolov5m6.yaml``) add a stride-64 stage (768
then 1024 channels, C3 x 3) and a fourth output scale.

>>> net = yolov5_seg("s", width=1.0, depth=1.0)
>>> sum(p.numel() for p in net.parameters())  # Ultralytics' README: 7.6 M
7621277
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from partitioner.zoo.blocks import Concat, ConvBnAct, round_up, scale_repeats
from partitioner.zoo.yolo import Row, YoloNet, YoloScale
from partitioner.zoo.yolo_blocks import C3, SPPF, Bottleneck, DetectV5

YOLOV5_SEG_SCALES = {
    "n": YoloScale(depth=0.33, width=0.25),
    "s": YoloScale(depth=0.33, width=0.50),
    "m": YoloScale(depth=0.67, width=0.75),
    "l": YoloScale(depth=1.0, width=1.0),
}
CLASSES = 80  # COCO
MASKS = 32  # mask coefficients per anchor, and prototypes
PROTOS = 256  # prototype branch width before the width gain

YOLOV5_SEG_ROWS: tuple[Row, ...] = (
    (-1, 1, "Stem", (64, 6, 2, 2)),  # 0 P1/2
    (-1, 1, "Conv", (128, 3, 2)),  # 1 P2/4
    (-1, 3, "C3", (128,)),
    (-1, 1, "Conv", (256, 3, 2)),  # 3 P3/8
    (-1, 6, "C3", (256,)),
    (-1, 1, "Conv", (512, 3, 2)),  # 5 P4/16
    (-1, 9, "C3", (512,)),
    (-1, 1, "Conv", (1024, 3, 2)),  # 7 P5/32
    (-1, 3, "C3", (1024,)),
    (-1, 1, "SPPF", (1024, 5)),  # 9
    (-1, 1, "Conv", (512, 1, 1)),
    (-1, 1, "Upsample", ()),
    ((-1, 6), 1, "Concat", ()),
    (-1, 3, "C3", (512, False)),  # 13
    (-1, 1, "Conv", (256, 1, 1)),
    (-1, 1, "Upsample", ()),
    ((-1, 4), 1, "Concat", ()),
    (-1, 3, "C3", (256, False)),  # 17 (P3/8)
    (-1, 1, "Conv", (256, 3, 2)),
    ((-1, 14), 1, "Concat", ()),
    (-1, 3, "C3", (512, False)),  # 20 (P4/16)
    (-1, 1, "Conv", (512, 3, 2)),
    ((-1, 10), 1, "Concat", ()),
    (-1, 3, "C3", (1024, False)),  # 23 (P5/32)
    ((17, 20, 23), 1, "Segment", (PROTOS,)),
)


# Ultralytics' yolov5{n,s,m,l,x}6.yaml (v6.1): backbone to P6/64, four-scale head.
YOLOV5_P6_ROWS: tuple[Row, ...] = (
    (-1, 1, "Stem", (64, 6, 2, 2)),  # 0 P1/2
    (-1, 1, "Conv", (128, 3, 2)),  # 1 P2/4
    (-1, 3, "C3", (128,)),
    (-1, 1, "Conv", (256, 3, 2)),  # 3 P3/8
    (-1, 6, "C3", (256,)),
    (-1, 1, "Conv", (512, 3, 2)),  # 5 P4/16
    (-1, 9, "C3", (512,)),
    (-1, 1, "Conv", (768, 3, 2)),  # 7 P5/32
    (-1, 3, "C3", (768,)),
    (-1, 1, "Conv", (1024, 3, 2)),  # 9 P6/64
    (-1, 3, "C3", (1024,)),
    (-1, 1, "SPPF", (1024, 5)),  # 11
    (-1, 1, "Conv", (768, 1, 1)),
    (-1, 1, "Upsample", ()),
    ((-1, 8), 1, "Concat", ()),
    (-1, 3, "C3", (768, False)),  # 15
    (-1, 1, "Conv", (512, 1, 1)),
    (-1, 1, "Upsample", ()),
    ((-1, 6), 1, "Concat", ()),
    (-1, 3, "C3", (512, False)),  # 19
    (-1, 1, "Conv", (256, 1, 1)),
    (-1, 1, "Upsample", ()),
    ((-1, 4), 1, "Concat", ()),
    (-1, 3, "C3", (256, False)),  # 23 (P3/8)
    (-1, 1, "Conv", (256, 3, 2)),
    ((-1, 20), 1, "Concat", ()),
    (-1, 3, "C3", (512, False)),  # 26 (P4/16)
    (-1, 1, "Conv", (512, 3, 2)),
    ((-1, 16), 1, "Concat", ()),
    (-1, 3, "C3", (768, False)),  # 29 (P5/32)
    (-1, 1, "Conv", (768, 3, 2)),
    ((-1, 12), 1, "Concat", ()),
    (-1, 3, "C3", (1024, False)),  # 32 (P6/64)
    ((23, 26, 29, 32), 1, "Detect", ()),
)


class PaddedConvBnAct(ConvBnAct):
    """A :class:`ConvBnAct` with explicit padding (the 6x6/2 stem pads 2, not ``k // 2``)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int) -> None:
        super().__init__(c_in, c_out, 1, act=nn.SiLU)
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride, padding, bias=False)


def c3(c_in: int, c_out: int, n: int, *, shortcut: bool = True) -> C3:
    """YOLOv5's C3: hidden width ``c_out / 2``, n bottlenecks of a 1x1 and a 3x3 conv."""
    c_mid = int(c_out * 0.5)
    blocks = [
        Bottleneck(c_mid, c_mid, shortcut=shortcut, kernels=(1, 3), expand=1.0) for _ in range(n)
    ]
    return C3(c_in, c_out, blocks, c_mid)


class Proto(nn.Module):
    """Mask prototypes from the P3 map: 3x3 conv, 2x nearest upsample, 3x3 conv, 1x1 conv."""

    def __init__(self, c_in: int, c_mid: int, masks: int = MASKS) -> None:
        super().__init__()
        self.cv1 = ConvBnAct(c_in, c_mid, 3, act=nn.SiLU)
        self.upsample = nn.Upsample(scale_factor=2, mode="nearest")
        self.cv2 = ConvBnAct(c_mid, c_mid, 3, act=nn.SiLU)
        self.cv3 = ConvBnAct(c_mid, masks, 1, act=nn.SiLU)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, masks, 2 H, 2 W)`` prototypes of a P3 map ``(N, C, H, W)``."""
        return self.cv3(self.cv2(self.upsample(self.cv1(x))))


class Segment(nn.Module):
    """The anchor head with mask coefficients, cut before decoding: returns ``(protos, p3, p4,
    p5)``, each ``p`` a 1x1 conv to ``3 x (5 + classes + masks)`` channels."""

    def __init__(self, channels: Sequence[int], c_proto: int) -> None:
        super().__init__()
        self.detect = DetectV5(channels, classes=CLASSES + MASKS)
        self.proto = Proto(channels[0], c_proto)

    def forward(self, xs: Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        """Prototypes, then the raw prediction map of each scale."""
        return (self.proto(xs[0]), *self.detect(xs))


def _make_layer(
    kind: str, args: tuple[Any, ...], c_in: list[int], n: int, width_of: Callable[[int], int]
) -> tuple[nn.Module, int]:
    """One table row as a module and its output channel count."""
    if kind == "Upsample":
        return nn.Upsample(scale_factor=2, mode="nearest"), c_in[0]
    if kind == "Concat":
        return Concat(), sum(c_in)
    if kind == "Segment":
        return Segment(c_in, width_of(args[0])), 0
    if kind == "Detect":
        return DetectV5(c_in, classes=CLASSES), 0
    c_out = width_of(args[0])
    if kind == "Stem":
        return PaddedConvBnAct(c_in[0], c_out, *args[1:]), c_out
    if kind == "Conv":
        return ConvBnAct(c_in[0], c_out, args[1], args[2], act=nn.SiLU), c_out
    if kind == "C3":
        return c3(c_in[0], c_out, n, shortcut=args[1] if len(args) > 1 else True), c_out
    if kind == "SPPF":
        return SPPF(c_in[0], c_out, args[1]), c_out
    raise ValueError(f"unknown YOLOv5-seg layer kind {kind!r} in a zoo table")


def yolov5_seg(scale: str, *, width: float, depth: float) -> YoloNet:
    """YOLOv5 ``n``/``s``/``m``/``l`` -seg (v7.0) with the scale's gains x ``width`` and
    ``depth``."""
    return _build(YOLOV5_SEG_ROWS, scale, width, depth)


def yolov5_v6(scale: str, *, p6: bool = False, width: float, depth: float) -> YoloNet:
    """YOLOv5 ``n``/``s``/``m``/``l`` detector of release v6.1 (the -seg layout with the plain
    anchor head; with ``p6`` the four-scale P6 model) with the scale's gains x ``width`` and
    ``depth``."""
    rows = YOLOV5_P6_ROWS if p6 else (*YOLOV5_SEG_ROWS[:-1], ((17, 20, 23), 1, "Detect", ()))
    return _build(rows, scale, width, depth)


def _build(rows: Sequence[Row], scale: str, width: float, depth: float) -> YoloNet:
    """The network of table ``rows`` at ``scale``'s gains x ``width`` and ``depth``."""
    config = YOLOV5_SEG_SCALES[scale]
    gain_w, gain_d = config.width * width, config.depth * depth

    def width_of(c: int) -> int:
        return round_up(c * gain_w)

    channels: list[int] = []
    layers: list[nn.Module] = []
    sources: list[tuple[int, ...]] = []
    for i, (source, repeats, kind, args) in enumerate(rows):
        absolute = tuple(i - 1 if s == -1 else s for s in _as_tuple(source))
        c_in = [3 if s < 0 else channels[s] for s in absolute]
        layer, c_out = _make_layer(kind, args, c_in, scale_repeats(repeats, gain_d), width_of)
        layers.append(layer)
        sources.append(absolute)
        channels.append(c_out)
    return YoloNet(layers, sources)


def _as_tuple(source: int | tuple[int, ...]) -> tuple[int, ...]:
    return (source,) if isinstance(source, int) else source
