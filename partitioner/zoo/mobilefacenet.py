"""MobileFaceNet (Chen et al. 2018) as insightface's ``arcface_torch`` ``get_mbf`` builds it, with
ReLU as in Hailo's fork of insightface (the original has PReLU).

A 3x3/2 stem, a grouped 3x3 conv, then inverted-residual units (1x1 expand, 3x3 depthwise,
1x1 linear projection; a residual add in the repeated units) in four stages, a 1x1 conv to 512,
the global depthwise conv (GDC: a 7x7 depthwise conv over the whole 7x7 map), a linear layer to
the 512-d embedding and its batch norm. The embedding is the output (no normalisation).

The GDC's 7x7 kernel fixes the input at 112x112: the network has no resolution knob.

>>> net = mobilefacenet(width=1.0, depth=1.0)
>>> sum(p.numel() for p in net.parameters())
2051840
"""

from __future__ import annotations

import torch
from torch import nn

from partitioner.zoo.blocks import ConvBnAct, make_divisible, scale_units

EMBEDDING = 512
BLOCKS = (1, 4, 6, 2)  # units of the four stages
BASE = 128  # 64 x scale 2: the stem's and first stages' width
# (stage width / BASE, expansion width / BASE of its strided first unit) of the three stages
# after the grouped 3x3 conv (groups = BASE / 2); the repeated units expand to the stage width.
STAGES = ((1, 1), (2, 2), (2, 4))


class DepthWise(nn.Module):
    """1x1 conv to ``c_mid`` (ReLU), 3x3 depthwise (ReLU), 1x1 linear projection; residual add."""

    def __init__(self, c_in: int, c_out: int, c_mid: int, stride: int, *, residual: bool) -> None:
        super().__init__()
        self.expand = ConvBnAct(c_in, c_mid, 1)
        self.dw = ConvBnAct(c_mid, c_mid, 3, stride, groups=c_mid)
        self.project = ConvBnAct(c_mid, c_out, 1, act=None)
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``project(dw(expand(x)))``, plus ``x`` in a residual unit."""
        y = self.project(self.dw(self.expand(x)))
        return x + y if self.residual else y


class GDC(nn.Module):
    """Global depthwise conv (7x7, linear), flatten, linear layer without bias, batch norm."""

    def __init__(self, channels: int, embedding: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 7, groups=channels, bias=False)  # 7x7 -> 1x1
        self.conv_bn = nn.BatchNorm2d(channels)
        self.linear = nn.Linear(channels, embedding, bias=False)
        self.bn = nn.BatchNorm1d(embedding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The embedding ``(N, embedding)`` of a ``(N, channels, 7, 7)`` map."""
        return self.bn(self.linear(torch.flatten(self.conv_bn(self.conv(x)), 1)))


class MobileFaceNet(nn.Module):
    """Stem, grouped 3x3 conv, three stages of :class:`DepthWise` units, 1x1 conv, GDC."""

    def __init__(self, base: int, blocks: tuple[int, ...]) -> None:
        super().__init__()
        self.stem = ConvBnAct(3, base, 3, 2)
        self.conv2 = ConvBnAct(base, base, 3, groups=base // 2)
        units: list[nn.Module] = []
        c_in = base
        for (width, strided_mid), n in zip(STAGES, blocks[1:], strict=True):
            c_out = base * width
            units.append(DepthWise(c_in, c_out, base * strided_mid, 2, residual=False))
            units += [DepthWise(c_out, c_out, c_out, 1, residual=True) for _ in range(n)]
            c_in = c_out
        self.units = nn.Sequential(*units)
        self.conv_sep = ConvBnAct(c_in, EMBEDDING, 1)
        self.features = GDC(EMBEDDING, EMBEDDING)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The face embedding ``(N, 512)`` of a ``(N, 3, 112, 112)`` crop."""
        return self.features(self.conv_sep(self.units(self.conv2(self.stem(x)))))


def mobilefacenet(*, width: float, depth: float) -> MobileFaceNet:
    """``get_mbf`` (blocks (1, 4, 6, 2), scale 2); ``width`` scales the 128-channel base (rounded
    to a multiple of 16, so that the grouped conv keeps 2 channels per group), ``depth`` the
    repeated units of each stage (the first stage stays one conv)."""
    base = make_divisible(BASE * width, 16)
    blocks = (1, *(scale_units(n, depth) for n in BLOCKS[1:]))
    return MobileFaceNet(base, blocks)
