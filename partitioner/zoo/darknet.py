"""Darknet detectors: YOLOv3 (Darknet-53 + three-scale head), YOLOv3-tiny (a plain conv / max-pool
backbone + two-scale head) and YOLOv4-tiny (CSP-tiny backbone + two-scale head), after AlexeyAB's
``yolov3.cfg``, ``yolov3-tiny.cfg`` and ``yolov4-tiny.cfg``.

Every conv is conv + batch norm + LeakyReLU(0.1), except the per-scale 1x1 output convs (255
channels: 3 anchors x (4 box + 1 objectness + 80 classes), linear with a bias), where Hailo's
parser ends; the ``[yolo]`` decoding and NMS run on the host. ``width`` multiplies every channel
count (rounded up to a multiple of 8); ``depth`` multiplies Darknet-53's residual counts
(1, 2, 8, 8, 4). The tiny networks have no repeated block, hence no depth knob.

>>> net = yolov4_tiny(width=1.0)
>>> sum(p.numel() for p in net.parameters())
6056606
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from partitioner.zoo.blocks import ConvBnAct, round_up, scale_units
from partitioner.zoo.yolo_blocks import DetectV5, leaky_relu

DARKNET53_STAGES = ((64, 1), (128, 2), (256, 8), (512, 8), (1024, 4))  # (channels, residuals)


def _conv(c_in: int, c_out: int, kernel: int, stride: int = 1) -> ConvBnAct:
    return ConvBnAct(c_in, c_out, kernel, stride, act=leaky_relu)


class DarkResidual(nn.Module):
    """``x + conv3x3(conv1x1(x))``, the 1x1 halving the channels."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.cv1 = _conv(c, c // 2, 1)
        self.cv2 = _conv(c // 2, c, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x + cv2(cv1(x))``."""
        return x + self.cv2(self.cv1(x))


class Darknet53(nn.Module):
    """3x3 conv, then five stages of a 3x3/2 conv and residual units; returns the stride 8, 16
    and 32 maps."""

    def __init__(self, ch: Callable[[int], int], depth: float) -> None:
        super().__init__()
        self.stem = _conv(3, ch(32), 3)
        stages, c_in = [], ch(32)
        for c, n in DARKNET53_STAGES:
            units = [DarkResidual(ch(c)) for _ in range(scale_units(n, depth))]
            stages.append(nn.Sequential(_conv(c_in, ch(c), 3, 2), *units))
            c_in = ch(c)
        self.stages = nn.ModuleList(stages)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Outputs of the last three stages."""
        x = self.stem(x)
        outputs = []
        for stage in self.stages:
            x = stage(x)
            outputs.append(x)
        return outputs[2], outputs[3], outputs[4]


def _head_convs(c_in: int, c: int) -> nn.Sequential:
    """YOLOv3's five alternating convs before each output: 1x1 c, 3x3 2c, 1x1 c, 3x3 2c, 1x1 c."""
    return nn.Sequential(
        _conv(c_in, c, 1), _conv(c, 2 * c, 3), _conv(2 * c, c, 1), _conv(c, 2 * c, 3),
        _conv(2 * c, c, 1),
    )  # fmt: skip


class YOLOv3(nn.Module):
    """Darknet-53 and an FPN head: at each scale five convs, a 3x3 conv and the 1x1 output conv;
    the finer scales concatenate an upsampled 1x1 reduction of the coarser one."""

    def __init__(self, ch: Callable[[int], int], depth: float) -> None:
        super().__init__()
        self.backbone = Darknet53(ch, depth)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.convs5 = _head_convs(ch(1024), ch(512))
        self.reduce5 = _conv(ch(512), ch(256), 1)
        self.convs4 = _head_convs(ch(256) + ch(512), ch(256))
        self.reduce4 = _conv(ch(256), ch(128), 1)
        self.convs3 = _head_convs(ch(128) + ch(256), ch(128))
        self.out = nn.ModuleList(_conv(ch(c), ch(2 * c), 3) for c in (128, 256, 512))
        self.detect = DetectV5([ch(256), ch(512), ch(1024)])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The raw 255-channel maps at strides 8, 16, 32."""
        c3, c4, c5 = self.backbone(x)
        f5 = self.convs5(c5)
        f4 = self.convs4(torch.cat([self.up(self.reduce5(f5)), c4], 1))
        f3 = self.convs3(torch.cat([self.up(self.reduce4(f4)), c3], 1))
        return self.detect([out(f) for out, f in zip(self.out, (f3, f4, f5), strict=True)])


class CSPTinyStage(nn.Module):
    """YOLOv4-tiny's CSP stage: 3x3 conv ``a``; on the second half of its channels two chained 3x3
    convs, both concatenated and fused by a 1x1 conv ``d``; ``cat(a, d)`` (2c channels).

    ``d`` is also returned: the head reads the last stage's.
    """

    def __init__(self, c_in: int, c: int) -> None:
        super().__init__()
        self.c = c
        self.cv1 = _conv(c_in, c, 3)
        self.cv2 = _conv(c // 2, c // 2, 3)
        self.cv3 = _conv(c // 2, c // 2, 3)
        self.cv4 = _conv(c, c, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(cat(a, d), d)``."""
        a = self.cv1(x)
        b = self.cv2(a.split([self.c - self.c // 2, self.c // 2], 1)[1])
        d = self.cv4(torch.cat([self.cv3(b), b], 1))
        return torch.cat([a, d], 1), d


class YOLOv4Tiny(nn.Module):
    """Two 3x3/2 convs, three CSP-tiny stages with 2x2 max-pools, a 3x3 conv; the head: 1x1 conv,
    3x3 conv and output at stride 32; 1x1 conv, upsample, concat with the last stage's fused map,
    3x3 conv and output at stride 16."""

    def __init__(self, ch: Callable[[int], int]) -> None:
        super().__init__()
        self.stem = nn.Sequential(_conv(3, ch(32), 3, 2), _conv(ch(32), ch(64), 3, 2))
        self.stage1 = CSPTinyStage(ch(64), ch(64))
        self.stage2 = CSPTinyStage(ch(128), ch(128))
        self.stage3 = CSPTinyStage(ch(256), ch(256))
        self.pool = nn.MaxPool2d(2, 2)
        self.conv5 = _conv(ch(512), ch(512), 3)
        self.reduce5 = _conv(ch(512), ch(256), 1)
        self.out5 = _conv(ch(256), ch(512), 3)
        self.reduce4 = _conv(ch(256), ch(128), 1)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.out4 = _conv(ch(128) + ch(256), ch(256), 3)
        self.detect = DetectV5([ch(256), ch(512)])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The raw 255-channel maps at strides 16 and 32."""
        x = self.pool(self.stage1(self.stem(x))[0])
        x = self.pool(self.stage2(x)[0])
        x, route = self.stage3(x)
        f5 = self.reduce5(self.conv5(self.pool(x)))
        f4 = self.out4(torch.cat([self.up(self.reduce4(f5)), route], 1))
        return self.detect([f4, self.out5(f5)])


class YOLOv3Tiny(nn.Module):
    """Five (3x3 conv, 2x2/2 max-pool) pairs of 16 to 256 channels, a 3x3 conv to 512, a 2x2/1
    max-pool (darknet pads it right and bottom to keep the 13x13 map; Tianxiaomo/pytorch-YOLOv4
    pads by replication), a 3x3 conv to 1024; the head: 1x1 conv to 256, 3x3 conv to 512 and
    output at stride 32; 1x1 conv to 128, upsample, concat with the 256-channel stride-16 conv,
    3x3 conv to 256 and output at stride 16."""

    def __init__(self, ch: Callable[[int], int]) -> None:
        super().__init__()
        widths = (16, 32, 64, 128, 256)
        self.convs = nn.ModuleList(
            _conv(3 if i == 0 else ch(widths[i - 1]), ch(c), 3) for i, c in enumerate(widths)
        )
        self.pool = nn.MaxPool2d(2, 2)
        self.conv6 = _conv(ch(256), ch(512), 3)
        self.pad = nn.ReplicationPad2d((0, 1, 0, 1))
        self.pool_s1 = nn.MaxPool2d(2, 1)
        self.conv7 = _conv(ch(512), ch(1024), 3)
        self.reduce5 = _conv(ch(1024), ch(256), 1)
        self.out5 = _conv(ch(256), ch(512), 3)
        self.reduce4 = _conv(ch(256), ch(128), 1)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.out4 = _conv(ch(128) + ch(256), ch(256), 3)
        self.detect = DetectV5([ch(256), ch(512)])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The raw 255-channel maps at strides 16 and 32."""
        for conv in self.convs[:4]:
            x = self.pool(conv(x))
        route = self.convs[4](x)  # stride 16
        x = self.conv7(self.pool_s1(self.pad(self.conv6(self.pool(route)))))
        f5 = self.reduce5(x)
        f4 = self.out4(torch.cat([self.up(self.reduce4(f5)), route], 1))
        return self.detect([f4, self.out5(f5)])


def _widths(width: float) -> Callable[[int], int]:
    return lambda c: round_up(c * width)


def yolov3(*, width: float, depth: float) -> YOLOv3:
    """YOLOv3 (Darknet-53) with its channels multiplied by ``width``, residuals by ``depth``."""
    return YOLOv3(_widths(width), depth)


def yolov3_tiny(*, width: float) -> YOLOv3Tiny:
    """YOLOv3-tiny with its channels multiplied by ``width``."""
    return YOLOv3Tiny(_widths(width))


def yolov4_tiny(*, width: float) -> YOLOv4Tiny:
    """YOLOv4-tiny with its channels multiplied by ``width``."""
    return YOLOv4Tiny(_widths(width))
