"""RepVGG-A (Ding et al. 2021, DingXiaoH/RepVGG) in its deployed form, in plain torch.

A RepVGG block trains as three parallel branches (3x3 conv + BN, 1x1 conv + BN, and a BN
identity when the shape is kept) and is re-parameterized for inference into ONE 3x3 conv with a
bias, followed by ReLU. The Model Zoo compiles the deployed network (RepVGG-A1: 12.79 M
parameters, against 14.1 M while training), so each block here is that single conv: the network
is a plain VGG-like stack with no branches and no skips.

Five stages: stage 0 is one 3x3/2 block of ``min(64, 64a)`` channels; stages 1-4 have
``(2, 4, 14, 1)`` blocks of ``64a, 128a, 256a, 512b`` channels, the first of each with stride 2.
A1 is ``(a, b) = (1, 2.5)``, A2 ``(1.5, 2.75)``. ``width`` multiplies ``a`` and ``b`` (channels
rounded to a multiple of 8), ``depth`` the block counts of stages 1-4 (rounded, at least 1).

>>> net = repvgg(a=1.0, b=2.5, width=1.0, depth=1.0)
>>> sum(p.numel() for p in net.parameters())
12789864
"""

from __future__ import annotations

import torch
from torch import nn

from partitioner.zoo.blocks import ClassifierHead, make_divisible, scale_units

BLOCKS_A = (2, 4, 14, 1)  # blocks of stages 1-4 of RepVGG-A
BASE = (64, 128, 256, 512)


class RepVGGBlock(nn.Module):
    """The deployed block: a 3x3 conv with bias (the three training branches merged), ReLU."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, stride, 1)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``relu(conv(x))``."""
        return self.act(self.conv(x))


class RepVGG(nn.Module):
    """Stage 0 (one 3x3/2 block), stages 1-4 (each opened by a stride-2 block), classifier."""

    def __init__(
        self, widths: tuple[int, ...], blocks: tuple[int, ...], classes: int = 1000
    ) -> None:
        super().__init__()
        self.stage0 = RepVGGBlock(3, widths[0], 2)
        c_in, stages = widths[0], []
        for c_out, count in zip(widths[1:], blocks, strict=True):
            stage = []
            for j in range(count):
                stage.append(RepVGGBlock(c_in, c_out, 2 if j == 0 else 1))
                c_in = c_out
            stages.append(nn.Sequential(*stage))
        self.stage1, self.stage2, self.stage3, self.stage4 = stages
        self.head = ClassifierHead(c_in, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Outputs ``(N, classes)`` of an image batch ``(N, 3, H, W)``."""
        x = self.stage2(self.stage1(self.stage0(x)))
        return self.head(self.stage4(self.stage3(x)))


def repvgg(*, a: float, b: float, classes: int = 1000, width: float, depth: float) -> RepVGG:
    """Deployed RepVGG-A with width multipliers ``a`` (stages 1-3) and ``b`` (stage 4) and a
    fully connected head of ``classes`` outputs (a 512-d embedding for person re-id)."""
    gains = (a * width,) * 3 + (b * width,)
    widths = tuple(make_divisible(c * g) for c, g in zip(BASE, gains, strict=True))
    stem = min(make_divisible(64 * width), widths[0])
    return RepVGG((stem, *widths), tuple(scale_units(n, depth) for n in BLOCKS_A), classes)
