"""MobileNetV1 and MobileNetV2 (TF-slim/torchvision layouts), with their width multiplier.

The papers define two knobs, the width multiplier (alpha) and the input resolution; neither
family has a depth multiplier. ``width`` multiplies the network's own alpha (1.0 or 1.4 for
MobileNetV2), and channel counts are rounded to multiples of 8.

>>> net = mobilenet_v2(alpha=1.0, width=1.0)
>>> sum(p.numel() for p in net.parameters())
3504872
"""

from __future__ import annotations

import torch
from torch import nn

from partitioner.zoo.blocks import ActFactory, ClassifierHead, ConvBnAct, make_divisible

# MobileNetV1: (output channels, stride) of each depthwise-separable block after the stem.
V1_BLOCKS = (
    (64, 1),
    (128, 2),
    (128, 1),
    (256, 2),
    (256, 1),
    (512, 2),
    *((512, 1),) * 5,
    (1024, 2),
    (1024, 1),
)

# MobileNetV2: (expansion t, output channels c, repeats n, first stride s), Table 2 of the paper.
V2_STAGES = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


class DepthwiseSeparable(nn.Module):
    """3x3 depthwise conv + BN + ReLU6, then 1x1 pointwise conv + BN + ReLU6 (``act``)."""

    def __init__(self, c_in: int, c_out: int, stride: int, act: ActFactory = nn.ReLU6) -> None:
        super().__init__()
        self.dw = ConvBnAct(c_in, c_in, 3, stride, groups=c_in, act=act)
        self.pw = ConvBnAct(c_in, c_out, 1, act=act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``pw(dw(x))``."""
        return self.pw(self.dw(x))


class MobileNetV1(nn.Module):
    """Stem 3x3/2 conv, 13 depthwise-separable blocks, pooled classifier (``classes`` outputs)."""

    def __init__(self, alpha: float, classes: int = 1000) -> None:
        super().__init__()
        c_in = make_divisible(32 * alpha)
        self.stem = ConvBnAct(3, c_in, 3, 2, act=nn.ReLU6)
        blocks = []
        for c, s in V1_BLOCKS:
            c_out = make_divisible(c * alpha)
            blocks.append(DepthwiseSeparable(c_in, c_out, s))
            c_in = c_out
        self.blocks = nn.Sequential(*blocks)
        self.head = ClassifierHead(c_in, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Outputs ``(N, classes)``."""
        return self.head(self.blocks(self.stem(x)))


class InvertedResidual(nn.Module):
    """1x1 expand (none if t = 1), 3x3 depthwise, 1x1 linear projection, residual if same shape."""

    def __init__(self, c_in: int, c_out: int, stride: int, expand: int) -> None:
        super().__init__()
        c_mid = c_in * expand
        self.expand = ConvBnAct(c_in, c_mid, 1, act=nn.ReLU6) if expand != 1 else None
        self.dw = ConvBnAct(c_mid, c_mid, 3, stride, groups=c_mid, act=nn.ReLU6)
        self.project = ConvBnAct(c_mid, c_out, 1, act=None)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``project(dw(expand(x)))``, plus ``x`` when the block keeps the shape."""
        y = x if self.expand is None else self.expand(x)
        y = self.project(self.dw(y))
        return x + y if self.residual else y


class MobileNetV2(nn.Module):
    """Stem 3x3/2 conv, 17 inverted residuals, 1x1 conv to 1280 (x alpha if > 1), classifier."""

    def __init__(self, alpha: float) -> None:
        super().__init__()
        c_in = make_divisible(32 * alpha)
        self.stem = ConvBnAct(3, c_in, 3, 2, act=nn.ReLU6)
        blocks = []
        for t, c, n, s in V2_STAGES:
            c_out = make_divisible(c * alpha)
            for i in range(n):
                blocks.append(InvertedResidual(c_in, c_out, s if i == 0 else 1, t))
                c_in = c_out
        self.blocks = nn.Sequential(*blocks)
        c_last = make_divisible(1280 * max(1.0, alpha))
        self.last = ConvBnAct(c_in, c_last, 1, act=nn.ReLU6)
        self.head = ClassifierHead(c_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, 1000)``."""
        return self.head(self.last(self.blocks(self.stem(x))))


def mobilenet_v1(*, width: float, classes: int = 1000) -> MobileNetV1:
    """MobileNetV1 with width multiplier ``width`` (1.0 is the 224 reference network) and
    ``classes`` outputs (3DDFA_V2's ``tddfa_mobilenet_v1``: 62 3DMM parameters)."""
    return MobileNetV1(width, classes)


def mobilenet_v2(*, alpha: float, width: float) -> MobileNetV2:
    """MobileNetV2 with width multiplier ``alpha x width`` (alpha 1.0 or 1.4 in the zoo)."""
    return MobileNetV2(alpha * width)
