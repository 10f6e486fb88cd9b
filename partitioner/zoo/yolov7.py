"""YOLOv7 and YOLOv7-tiny (WongKinYiu), as deployed: each RepConv re-parameterized into one 3x3
conv, the head cut at the three per-scale 1x1 detection convs (255 channels: 3 anchors x (4 box
+ 1 objectness + 80 classes)), where Hailo's parser ends; decoding and NMS run on the host.

The reference YAMLs (``cfg/deploy/yolov7.yaml``, ``yolov7-tiny.yaml``) spell every conv out; here
their repeated patterns are blocks: :class:`ELAN` (two 1x1 branches, a chain of 3x3 convs,
concat, 1x1), :class:`Transition` (max-pool + 1x1 beside 1x1 + strided 3x3) and
:class:`SPPCSPC`. YOLOv7 uses SiLU, YOLOv7-tiny LeakyReLU(0.1). ``width`` multiplies every
channel count (rounded up to a multiple of 8); the family has no depth multiplier.

>>> net = yolov7(width=1.0)
>>> sum(p.numel() for p in net.parameters())
36928413
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from partitioner.zoo.blocks import ActFactory, ConvBnAct, round_up
from partitioner.zoo.yolo_blocks import DetectV5, leaky_relu

BACKBONE_TAPS = (3, 1)  # YOLOv7 backbone ELAN: concat [-1, -3, -5, -6] (every other 3x3 conv)
HEAD_TAPS = (3, 2, 1, 0)  # YOLOv7 head ELAN: concat [-1, ..., -6] (every 3x3 conv)
TINY_TAPS = (1, 0)  # YOLOv7-tiny ELAN: two 3x3 convs, both concatenated


class ELAN(nn.Module):
    """Efficient layer aggregation: 1x1 convs ``cv1`` and ``cv2`` (``c_branch`` channels each), a
    chain of 3x3 convs ``m`` on ``cv2``'s output (``c_chain`` channels), concat of the chain
    outputs listed in ``taps`` (last first) with both branches, 1x1 conv ``cv3`` to ``c_out``."""

    def __init__(
        self,
        c_in: int,
        c_branch: int,
        c_chain: int,
        c_out: int,
        *,
        taps: Sequence[int],
        act: ActFactory,
    ) -> None:
        super().__init__()
        self.cv1 = ConvBnAct(c_in, c_branch, 1, act=act)
        self.cv2 = ConvBnAct(c_in, c_branch, 1, act=act)
        chain = max(taps) + 1
        self.m = nn.ModuleList(
            ConvBnAct(c_branch if i == 0 else c_chain, c_chain, 3, act=act) for i in range(chain)
        )
        self.taps = tuple(taps)
        self.cv3 = ConvBnAct(2 * c_branch + len(self.taps) * c_chain, c_out, 1, act=act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``cv3(cat(m[taps]..., cv2(x), cv1(x)))``, the chain ``m`` running on ``cv2(x)``."""
        branches = [self.cv2(x), self.cv1(x)]
        chained = [branches[0]]
        for conv in self.m:
            chained.append(conv(chained[-1]))
        return self.cv3(torch.cat([*(chained[i + 1] for i in self.taps), *branches], 1))


class Transition(nn.Module):
    """YOLOv7's down-sampling block (``MP-1``): a 2x2/2 max-pool then a 1x1 conv, beside a 1x1
    conv then a 3x3/2 conv; both halves (``c_half`` channels each) concatenated."""

    def __init__(self, c_in: int, c_half: int, *, act: ActFactory) -> None:
        super().__init__()
        self.mp = nn.MaxPool2d(2, 2)
        self.cv1 = ConvBnAct(c_in, c_half, 1, act=act)
        self.cv2 = ConvBnAct(c_in, c_half, 1, act=act)
        self.cv3 = ConvBnAct(c_half, c_half, 3, 2, act=act)

    def halves(self, x: torch.Tensor) -> list[torch.Tensor]:
        """``[cv3(cv2(x)), cv1(mp(x))]``: the head concatenates them with a lateral map in one
        concat, as the reference does (and torch.onnx would merge a concat of a concat)."""
        return [self.cv3(self.cv2(x)), self.cv1(self.mp(x))]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``cat(cv3(cv2(x)), cv1(mp(x)))`` at half the resolution."""
        return torch.cat(self.halves(x), 1)


class SPPCSPC(nn.Module):
    """CSP spatial pyramid pooling: parallel 5/9/13 max-pools between convs on one branch, a 1x1
    conv on the other, concat, 1x1 conv.

    YOLOv7: ``pre`` = 1x1, 3x3, 1x1 and ``post`` = 1x1, 3x3; YOLOv7-tiny (``tiny``): one 1x1 each.
    The hidden width is ``c_out`` in both.
    """

    def __init__(self, c_in: int, c_out: int, *, act: ActFactory, tiny: bool = False) -> None:
        super().__init__()
        c = c_out
        pre = [ConvBnAct(c_in, c, 1, act=act)]
        post = [ConvBnAct(4 * c, c, 1, act=act)]
        if not tiny:
            pre += [ConvBnAct(c, c, 3, act=act), ConvBnAct(c, c, 1, act=act)]
            post += [ConvBnAct(c, c, 3, act=act)]
        self.pre = nn.Sequential(*pre)
        self.m = nn.ModuleList(nn.MaxPool2d(k, 1, k // 2) for k in (5, 9, 13))
        self.post = nn.Sequential(*post)
        self.shortcut = ConvBnAct(c_in, c, 1, act=act)
        self.fuse = ConvBnAct(2 * c, c_out, 1, act=act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``fuse(cat(post(cat(y, pool5(y), pool9(y), pool13(y))), shortcut(x)))``, y = pre(x)."""
        y = self.pre(x)
        y = self.post(torch.cat([y, *(pool(y) for pool in self.m)], 1))
        return self.fuse(torch.cat([y, self.shortcut(x)], 1))


class YOLOv7(nn.Module):
    """YOLOv7 (``cfg/deploy/yolov7.yaml``): 4-conv stem, four ELAN stages (P2-P5), SPPCSPC, a
    PAN of head ELANs, one 3x3 conv (the fused RepConv) and one 1x1 detection conv per scale."""

    def __init__(self, ch: Callable[[int], int]) -> None:
        super().__init__()
        act = nn.SiLU

        def elan(c_in: int, c_branch: int, c_chain: int, c_out: int, taps: Sequence[int]) -> ELAN:
            return ELAN(ch(c_in), ch(c_branch), ch(c_chain), ch(c_out), taps=taps, act=act)

        def conv(c_in: int, c_out: int, kernel: int, stride: int = 1) -> ConvBnAct:
            return ConvBnAct(ch(c_in), ch(c_out), kernel, stride, act=act)

        self.stem = nn.Sequential(
            conv(3, 32, 3), conv(32, 64, 3, 2), conv(64, 64, 3), conv(64, 128, 3, 2)
        )
        self.stage2 = elan(128, 64, 64, 256, BACKBONE_TAPS)  # P2/4
        self.down3 = Transition(ch(256), ch(128), act=act)
        self.stage3 = elan(256, 128, 128, 512, BACKBONE_TAPS)  # P3/8
        self.down4 = Transition(ch(512), ch(256), act=act)
        self.stage4 = elan(512, 256, 256, 1024, BACKBONE_TAPS)  # P4/16
        self.down5 = Transition(ch(1024), ch(512), act=act)
        self.stage5 = elan(1024, 256, 256, 1024, BACKBONE_TAPS)  # P5/32
        self.sppcspc = SPPCSPC(ch(1024), ch(512), act=act)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.reduce5, self.lateral4 = conv(512, 256, 1), conv(1024, 256, 1)
        self.top_down4 = elan(512, 256, 128, 256, HEAD_TAPS)
        self.reduce4, self.lateral3 = conv(256, 128, 1), conv(512, 128, 1)
        self.top_down3 = elan(256, 128, 64, 128, HEAD_TAPS)  # P3 out
        self.down_p3 = Transition(ch(128), ch(128), act=act)
        self.bottom_up4 = elan(512, 256, 128, 256, HEAD_TAPS)  # P4 out
        self.down_p4 = Transition(ch(256), ch(256), act=act)
        self.bottom_up5 = elan(1024, 512, 256, 512, HEAD_TAPS)  # P5 out
        self.rep = nn.ModuleList(conv(c, 2 * c, 3) for c in (128, 256, 512))  # fused RepConvs
        self.detect = DetectV5([ch(256), ch(512), ch(1024)])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The raw 255-channel maps at strides 8, 16, 32."""
        p3 = self.stage3(self.down3(self.stage2(self.stem(x))))
        p4 = self.stage4(self.down4(p3))
        p5 = self.sppcspc(self.stage5(self.down5(p4)))
        t4 = self.top_down4(torch.cat([self.lateral4(p4), self.up(self.reduce5(p5))], 1))
        t3 = self.top_down3(torch.cat([self.lateral3(p3), self.up(self.reduce4(t4))], 1))
        b4 = self.bottom_up4(torch.cat([*self.down_p3.halves(t3), t4], 1))
        b5 = self.bottom_up5(torch.cat([*self.down_p4.halves(b4), p5], 1))
        return self.detect([rep(f) for rep, f in zip(self.rep, (t3, b4, b5), strict=True)])


class YOLOv7Tiny(nn.Module):
    """YOLOv7-tiny (``cfg/deploy/yolov7-tiny.yaml``): two strided 3x3 convs, four 2-conv ELAN
    stages with 2x2 max-pools between them, a small SPPCSPC, a PAN with strided 3x3 convs, one
    3x3 conv and one 1x1 detection conv per scale; LeakyReLU(0.1) throughout."""

    def __init__(self, ch: Callable[[int], int]) -> None:
        super().__init__()
        act = leaky_relu

        def elan(c_in: int, c_branch: int, c_out: int) -> ELAN:
            return ELAN(ch(c_in), ch(c_branch), ch(c_branch), ch(c_out), taps=TINY_TAPS, act=act)

        def conv(c_in: int, c_out: int, kernel: int, stride: int = 1) -> ConvBnAct:
            return ConvBnAct(ch(c_in), ch(c_out), kernel, stride, act=act)

        self.stem = nn.Sequential(conv(3, 32, 3, 2), conv(32, 64, 3, 2))
        self.pool = nn.MaxPool2d(2, 2)
        self.stage2 = elan(64, 32, 64)  # P2/4
        self.stage3 = elan(64, 64, 128)  # P3/8
        self.stage4 = elan(128, 128, 256)  # P4/16
        self.stage5 = elan(256, 256, 512)  # P5/32
        self.sppcspc = SPPCSPC(ch(512), ch(256), act=act, tiny=True)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.reduce5, self.lateral4 = conv(256, 128, 1), conv(256, 128, 1)
        self.top_down4 = elan(256, 64, 128)
        self.reduce4, self.lateral3 = conv(128, 64, 1), conv(128, 64, 1)
        self.top_down3 = elan(128, 32, 64)  # P3 out
        self.down_p3 = conv(64, 128, 3, 2)
        self.bottom_up4 = elan(256, 64, 128)  # P4 out
        self.down_p4 = conv(128, 256, 3, 2)
        self.bottom_up5 = elan(512, 128, 256)  # P5 out
        self.out = nn.ModuleList(conv(c, 2 * c, 3) for c in (64, 128, 256))
        self.detect = DetectV5([ch(128), ch(256), ch(512)])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The raw 255-channel maps at strides 8, 16, 32."""
        p3 = self.stage3(self.pool(self.stage2(self.stem(x))))
        p4 = self.stage4(self.pool(p3))
        p5 = self.sppcspc(self.stage5(self.pool(p4)))
        t4 = self.top_down4(torch.cat([self.lateral4(p4), self.up(self.reduce5(p5))], 1))
        t3 = self.top_down3(torch.cat([self.lateral3(p3), self.up(self.reduce4(t4))], 1))
        b4 = self.bottom_up4(torch.cat([self.down_p3(t3), t4], 1))
        b5 = self.bottom_up5(torch.cat([self.down_p4(b4), p5], 1))
        return self.detect([out(f) for out, f in zip(self.out, (t3, b4, b5), strict=True)])


def _widths(width: float) -> Callable[[int], int]:
    """Channel rule of ``width``: ``c x width`` rounded up to a multiple of 8 (3 input channels
    stay 3)."""
    return lambda c: c if c == 3 else round_up(c * width)


def yolov7(*, width: float) -> YOLOv7:
    """YOLOv7 (deploy) with every channel count multiplied by ``width``."""
    return YOLOv7(_widths(width))


def yolov7_tiny(*, width: float) -> YOLOv7Tiny:
    """YOLOv7-tiny (deploy) with every channel count multiplied by ``width``."""
    return YOLOv7Tiny(_widths(width))
