"""MobileNetV3-EdgeTPU (TF-slim ``mobilenet_v3.V3_EDGETPU``), the Model Zoo's ``mobilenet_v3``.

The Hailo Model Zoo compiles ``mobilenet_v3_edgetpu.tflite`` (4.07 M parameters, 1.0 GMACs, 1001
classes): the EdgeTPU-friendly member of the TF-slim MobileNetV3 family, with ReLU everywhere,
no squeeze-and-excitation, and "fused" inverted residuals in the first ten blocks: a full kxk
expansion conv carrying the stride instead of 1x1 expansion + depthwise, then the 1x1 linear
projection. The later blocks are MobileNetV2's (1x1 expansion, kxk depthwise, projection). A
block's expansion width is ``make_divisible(c_in x t)``; a block whose expansion would not
widen its input has no expansion conv (the first block is a bare 1x1 projection, 32 -> 16).

``width`` is TF-slim's depth multiplier: every output width (stem, blocks, the 1280-wide last
conv) times ``width``, rounded to a multiple of 8. The network has no depth multiplier.

>>> net = mobilenet_v3_edgetpu(width=1.0)
>>> sum(p.numel() for p in net.parameters())
4092713
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import nn

from partitioner.zoo.blocks import ConvBnAct, make_divisible


@dataclass(frozen=True, kw_only=True)
class Block:
    """One expanded-conv block: kernel, stride, expansion factor, output channels."""

    kernel: int
    stride: int
    expand: int
    c_out: int
    fused: bool = False
    residual: bool = True  # False: no skip even when the shape is kept


EDGETPU_BLOCKS = (
    Block(kernel=3, stride=1, expand=1, c_out=16, fused=True),
    Block(kernel=3, stride=2, expand=8, c_out=32, fused=True),
    *(Block(kernel=3, stride=1, expand=4, c_out=32, fused=True),) * 3,
    Block(kernel=3, stride=2, expand=8, c_out=48, fused=True),
    *(Block(kernel=3, stride=1, expand=4, c_out=48, fused=True),) * 3,
    Block(kernel=3, stride=2, expand=8, c_out=96),
    *(Block(kernel=3, stride=1, expand=4, c_out=96),) * 3,
    Block(kernel=3, stride=1, expand=8, c_out=96, residual=False),
    *(Block(kernel=3, stride=1, expand=4, c_out=96),) * 3,
    Block(kernel=5, stride=2, expand=8, c_out=160),
    *(Block(kernel=5, stride=1, expand=4, c_out=160),) * 3,
    Block(kernel=3, stride=1, expand=8, c_out=192),
)
STEM, LAST, CLASSES = 32, 1280, 1001


class ExpandedConv(nn.Module):
    """Expansion (fused: kxk strided conv; else 1x1 conv then kxk strided depthwise), 1x1 linear
    projection, and the input added back when the block keeps the shape."""

    def __init__(self, c_in: int, block: Block) -> None:
        super().__init__()
        c_mid = make_divisible(c_in * block.expand)
        k, s = block.kernel, block.stride
        self.expand: nn.Module | None = None
        self.dw: nn.Module | None = None
        if block.fused:
            self.expand = ConvBnAct(c_in, c_mid, k, s) if c_mid > c_in else None
        else:
            self.expand = ConvBnAct(c_in, c_mid, 1) if c_mid > c_in else None
            self.dw = ConvBnAct(c_mid, c_mid, k, s, groups=c_mid)
        c_mid = c_mid if self.expand is not None else c_in
        self.project = ConvBnAct(c_mid, block.c_out, 1, act=None)
        self.residual = block.residual and s == 1 and c_in == block.c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``project(dw(expand(x)))`` (absent parts skipped), plus ``x`` if the shape is kept."""
        y = x if self.expand is None else self.expand(x)
        y = y if self.dw is None else self.dw(y)
        y = self.project(y)
        return x + y if self.residual else y


class MobileNetV3EdgeTPU(nn.Module):
    """Stem 3x3/2 conv, 22 expanded convs, 1x1 conv to 1280, global pool, 1x1 logits conv."""

    def __init__(self, width: float) -> None:
        super().__init__()
        c_in = make_divisible(STEM * width)
        self.stem = ConvBnAct(3, c_in, 3, 2)
        blocks = []
        for block in EDGETPU_BLOCKS:
            scaled = replace(block, c_out=make_divisible(block.c_out * width))
            blocks.append(ExpandedConv(c_in, scaled))
            c_in = scaled.c_out
        self.blocks = nn.Sequential(*blocks)
        c_last = make_divisible(LAST * width)
        self.last = ConvBnAct(c_in, c_last, 1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.logits = nn.Conv2d(c_last, CLASSES, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, 1001)`` (class 0 is TF-slim's background)."""
        y = self.pool(self.last(self.blocks(self.stem(x))))
        return torch.flatten(self.logits(y), 1)


def mobilenet_v3_edgetpu(*, width: float) -> MobileNetV3EdgeTPU:
    """MobileNetV3-EdgeTPU with depth multiplier ``width`` (1.0 is the Model Zoo's network)."""
    return MobileNetV3EdgeTPU(width)
