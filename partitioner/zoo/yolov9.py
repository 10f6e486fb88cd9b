"""YOLOv9-C (WongKinYiu), as deployed: the GELAN-C network (``models/detect/gelan-c.yaml``; the
auxiliary reversible branch of ``yolov9-c.yaml`` is dropped after training) with each RepConvN
re-parameterized into one 3x3 conv, cut before DFL like YOLOv8: per scale the box branch's 1x1
conv (4 x 16 bins) and the class branch's 1x1 conv (80), where Hailo's parser ends; DFL, decoding
and NMS run on the host.

Blocks: :class:`RepNCSPELAN4` (a 1x1 conv split in halves, two chained RepNCSP + 3x3 stages on
the second half, concat, 1x1), :class:`ADown` (2x2/1 average pool, then half the channels
through a 3x3/2 conv and half through a 3x3/2 max-pool and a 1x1 conv), SPP-ELAN (an SPPF) and
the DDetect head, whose box branch uses 4-group convs. Every conv is conv + BN + SiLU. ``width``
multiplies every channel count (rounded up to a multiple of 8), ``depth`` the bottleneck count of
each RepNCSP (1 in YOLOv9-C).

>>> net = yolov9(width=1.0, depth=1.0)
>>> sum(p.numel() for p in net.parameters())
25313264
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from partitioner.zoo.blocks import ConvBnAct, round_up, scale_units
from partitioner.zoo.yolo_blocks import C3, SPPF, Bottleneck

REG_MAX = 16  # DFL bins per box side


def _conv(c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1) -> ConvBnAct:
    return ConvBnAct(c_in, c_out, kernel, stride, groups=groups, act=nn.SiLU)


def rep_ncsp(c_in: int, c_out: int, n: int) -> C3:
    """RepNCSP: a C3 of hidden width ``c_out / 2`` whose n bottlenecks are two 3x3 convs (the
    first a fused RepConvN)."""
    c = c_out // 2
    blocks = [Bottleneck(c, c, shortcut=True, expand=1.0, act=nn.SiLU) for _ in range(n)]
    return C3(c_in, c_out, blocks, c)


class RepNCSPELAN4(nn.Module):
    """1x1 conv ``cv1`` to ``c3`` channels, split in halves; ``cv2`` (RepNCSP + 3x3 conv, ``c4``
    channels) on the second half, ``cv3`` (the same) on ``cv2``'s output; 1x1 ``cv4`` over the
    concat of all four."""

    def __init__(self, c_in: int, c_out: int, c3: int, c4: int, n: int) -> None:
        super().__init__()
        self.c = c3 // 2
        self.cv1 = _conv(c_in, 2 * self.c, 1)
        self.cv2 = nn.Sequential(rep_ncsp(self.c, c4, n), _conv(c4, c4, 3))
        self.cv3 = nn.Sequential(rep_ncsp(c4, c4, n), _conv(c4, c4, 3))
        self.cv4 = _conv(2 * self.c + 2 * c4, c_out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``cv4(cat(a, b, cv2(b), cv3(cv2(b))))`` with ``a, b = chunk(cv1(x), 2)``."""
        halves = self.cv1(x).chunk(2, 1)
        y2 = self.cv2(halves[1])
        return self.cv4(torch.cat([halves[0], halves[1], y2, self.cv3(y2)], 1))


class ADown(nn.Module):
    """Average-pool down-sampling: 2x2/1 average pool, then the first half of the channels
    through a 3x3/2 conv, the second through a 3x3/2 max-pool and a 1x1 conv; concat."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.c = c_in // 2
        self.cv1 = _conv(self.c, c_out // 2, 3, 2)
        self.cv2 = _conv(c_in - self.c, c_out // 2, 1)

    def halves(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The two halves before their concat. The head concatenates them with a lateral map in
        one concat: the reference's ADown + Concat, as torch.onnx exports them (it merges a
        concat of a concat)."""
        pooled = F.avg_pool2d(x, 2, 1, 0).chunk(2, 1)
        return [self.cv1(pooled[0]), self.cv2(F.max_pool2d(pooled[1], 3, 2, 1))]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Half the resolution, ``c_out`` channels."""
        return torch.cat(self.halves(x), 1)


class DDetect(nn.Module):
    """YOLOv9's head, cut before DFL: per scale a box branch (3x3 conv, 4-group 3x3 conv, 4-group
    1x1 conv to 4 x 16) and a class branch (two 3x3 convs, 1x1 conv to ``classes``).

    ``forward`` returns ``(box_p3, cls_p3, box_p4, cls_p4, box_p5, cls_p5)``.
    """

    def __init__(self, channels: Sequence[int], *, classes: int = 80) -> None:
        super().__init__()
        c_box = round_up(max(channels[0] // 4, 4 * REG_MAX, 16), 4)
        c_cls = max(channels[0], min(2 * classes, 128))
        self.cv2 = nn.ModuleList(
            nn.Sequential(
                _conv(c, c_box, 3),
                _conv(c_box, c_box, 3, groups=4),
                nn.Conv2d(c_box, 4 * REG_MAX, 1, groups=4),
            )
            for c in channels
        )
        self.cv3 = nn.ModuleList(
            nn.Sequential(_conv(c, c_cls, 3), _conv(c_cls, c_cls, 3), nn.Conv2d(c_cls, classes, 1))
            for c in channels
        )

    def forward(self, xs: Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        """Box and class maps of each scale, scale by scale."""
        outputs: list[torch.Tensor] = []
        for x, box, cls in zip(xs, self.cv2, self.cv3, strict=True):
            outputs += [box(x), cls(x)]
        return tuple(outputs)


class YOLOv9(nn.Module):
    """GELAN-C: two strided 3x3 convs, four RepNCSPELAN4 stages joined by ADown, SPP-ELAN, a PAN
    of RepNCSPELAN4 blocks (upsample / ADown + concat), DDetect on strides 8, 16, 32."""

    def __init__(self, ch: Callable[[int], int], n: int) -> None:
        super().__init__()

        def elan(c_in: int, c_out: int, c3: int, c4: int) -> RepNCSPELAN4:
            return RepNCSPELAN4(c_in, ch(c_out), ch(c3), ch(c4), n)

        self.stem = nn.Sequential(_conv(3, ch(64), 3, 2), _conv(ch(64), ch(128), 3, 2))
        self.elan2 = elan(ch(128), 256, 128, 64)  # P2/4
        self.down3, self.elan3 = ADown(ch(256), ch(256)), elan(ch(256), 512, 256, 128)  # P3/8
        self.down4, self.elan4 = ADown(ch(512), ch(512)), elan(ch(512), 512, 512, 256)  # P4/16
        self.down5, self.elan5 = ADown(ch(512), ch(512)), elan(ch(512), 512, 512, 256)  # P5/32
        self.sppelan = SPPF(ch(512), ch(512), 5, act=nn.SiLU)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.top_down4 = elan(2 * ch(512), 512, 512, 256)
        self.top_down3 = elan(2 * ch(512), 256, 256, 128)  # P3 out
        self.down_p3 = ADown(ch(256), ch(256))
        self.bottom_up4 = elan(ch(256) + ch(512), 512, 512, 256)  # P4 out
        self.down_p4 = ADown(ch(512), ch(512))
        self.bottom_up5 = elan(2 * ch(512), 512, 512, 256)  # P5 out
        self.detect = DDetect([ch(256), ch(512), ch(512)])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Box (64) and class (80) maps at strides 8, 16, 32."""
        p3 = self.elan3(self.down3(self.elan2(self.stem(x))))
        p4 = self.elan4(self.down4(p3))
        p5 = self.sppelan(self.elan5(self.down5(p4)))
        t4 = self.top_down4(torch.cat([self.up(p5), p4], 1))
        t3 = self.top_down3(torch.cat([self.up(t4), p3], 1))
        b4 = self.bottom_up4(torch.cat([*self.down_p3.halves(t3), t4], 1))
        b5 = self.bottom_up5(torch.cat([*self.down_p4.halves(b4), p5], 1))
        return self.detect([t3, b4, b5])


def yolov9(*, width: float, depth: float) -> YOLOv9:
    """YOLOv9-C (GELAN-C) with its channels multiplied by ``width`` and its RepNCSP bottleneck
    count by ``depth``."""
    return YOLOv9(lambda c: round_up(c * width), scale_units(1, depth))
