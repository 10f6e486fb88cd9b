"""RegNetX (Radosavovic et al. 2020) with torchvision's / pycls' block, in plain torch.

A RegNetX stage is a run of residual bottlenecks with bottleneck ratio 1 and a grouped 3x3 conv
of fixed group width. The stage widths and depths below are what the quantized linear rule
``w_j = w_0 + w_a * j`` (rounded to ``w_0 * w_m^k``, then to a multiple of the group width)
gives for the published (depth, w_0, w_a, w_m, group width):
800MF (16, 56, 35.73, 2.28, 16) and 1.6GF (18, 80, 34.01, 2.25, 24).

>>> net = regnetx("800mf", width=1.0, depth=1.0)
>>> sum(p.numel() for p in net.parameters())
7259656
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from partitioner.zoo.blocks import ClassifierHead, ConvBnAct, make_divisible, scale_units


@dataclass(frozen=True, kw_only=True)
class RegNetConfig:
    """Per-stage output widths and block counts, and the group width of the 3x3 convs."""

    widths: tuple[int, ...]
    depths: tuple[int, ...]
    group_width: int


REGNETX = {
    "800mf": RegNetConfig(widths=(64, 128, 288, 672), depths=(1, 3, 7, 5), group_width=16),
    "1.6gf": RegNetConfig(widths=(72, 168, 408, 912), depths=(2, 4, 10, 2), group_width=24),
}


class ResBottleneck(nn.Module):
    """1x1, grouped 3x3 (strided), 1x1 linear; a strided 1x1 projection when the shape changes."""

    def __init__(self, c_in: int, c_out: int, stride: int, group_width: int) -> None:
        super().__init__()
        self.a = ConvBnAct(c_in, c_out, 1)
        self.b = ConvBnAct(c_out, c_out, 3, stride, groups=c_out // group_width)
        self.c = ConvBnAct(c_out, c_out, 1, act=None)
        needs_projection = stride != 1 or c_in != c_out
        self.proj = ConvBnAct(c_in, c_out, 1, stride, act=None) if needs_projection else None
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``relu(c(b(a(x))) + shortcut(x))``."""
        skip = x if self.proj is None else self.proj(x)
        return self.relu(self.c(self.b(self.a(x))) + skip)


class RegNet(nn.Module):
    """Stem 3x3/2 conv to 32 channels, four stages ``s1..s4`` (each starts with stride 2), head."""

    def __init__(self, stem: int, stages: list[nn.Sequential], c_last: int) -> None:
        super().__init__()
        self.stem = ConvBnAct(3, stem, 3, 2)
        self.s1, self.s2, self.s3, self.s4 = stages
        self.head = ClassifierHead(c_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, 1000)``."""
        return self.head(self.s4(self.s3(self.s2(self.s1(self.stem(x))))))


def regnetx(variant: str, *, width: float, depth: float) -> RegNet:
    """RegNetX ``800mf`` or ``1.6gf``; ``width`` scales the stage widths, ``depth`` the blocks
    per stage.

    A scaled width is rounded to a multiple of the group width; a stage narrower than the group
    width uses one group (torchvision's compatibility rule).
    """
    config = REGNETX[variant]
    stem = make_divisible(32 * width)
    c_in, stages = stem, []
    for w, d in zip(config.widths, config.depths, strict=True):
        group_width = min(config.group_width, make_divisible(w * width))
        c_out = make_divisible(w * width, group_width)
        blocks = []
        for j in range(scale_units(d, depth)):
            blocks.append(ResBottleneck(c_in, c_out, 2 if j == 0 else 1, group_width))
            c_in = c_out
        stages.append(nn.Sequential(*blocks))
    return RegNet(stem, stages, c_in)
