"""HarDNet-39DS (Chao et al. 2019, PingoLH/Pytorch-HarDNet), in plain torch.

A harmonic dense block ("HarDBlock") of n layers connects layer ``L`` (1-based; layer 0 is the
block input) to every earlier layer ``L - 2^i`` with ``2^i`` dividing ``L``: its input is the
concatenation of those layers' outputs. Layer ``L``'s width is the growth rate times ``m^j``
(``j`` = its links beyond the nearest one, ``m`` = 1.6), rounded to an even count. The block
outputs the concatenation of its odd layers and its last layer.

The "DS" (depthwise-separable) variant the Model Zoo compiles makes every block layer a 1x1 conv
+ BN + ReLU6 followed by a 3x3 depthwise conv + BN (no activation), and downsamples with 3x3/2
depthwise convs + BN instead of max-pools. Stem: 3x3/2 conv to 24, 1x1 conv to 48, depthwise
3x3/2. Four blocks (growth 16, 20, 64, 160; 4, 16, 8, 4 layers), each followed by a 1x1
transition conv (to 96, 320, 640, 1024) and, after the first three, a depthwise 3x3/2.

``width`` multiplies the stem, transition and growth widths (widths rounded to a multiple of 8,
growth rates to an even count); ``depth`` the number of layers of each block (rounded, >= 1).

>>> net = hardnet39ds(width=1.0, depth=1.0)
>>> sum(p.numel() for p in net.parameters())
3488228
"""

from __future__ import annotations

import torch
from torch import nn

from partitioner.zoo.blocks import ClassifierHead, ConvBnAct, make_divisible, scale_units

STEM = (24, 48)
TRANSITIONS = (96, 320, 640, 1024)
GROWTH = (16, 20, 64, 160)
LAYERS = (4, 16, 8, 4)
DOWNSAMPLE = (True, True, True, False)
GROWTH_MULTIPLIER = 1.6


def harmonic_links(layer: int) -> tuple[int, ...]:
    """The earlier layers that layer ``layer`` (1-based) reads: ``layer - 2^i`` for every
    ``2^i`` dividing ``layer``, nearest first.

    >>> harmonic_links(1), harmonic_links(4), harmonic_links(6)
    ((0,), (3, 2, 0), (5, 4))
    """
    return tuple(layer - 2**i for i in range(10) if layer % 2**i == 0)


def layer_width(layer: int, growth: int) -> int:
    """Output channels of ``layer``: ``growth x 1.6^(links - 1)``, rounded to an even count.

    >>> layer_width(1, 16), layer_width(2, 16), layer_width(4, 16)
    (16, 26, 40)
    """
    width = growth * GROWTH_MULTIPLIER ** (len(harmonic_links(layer)) - 1)
    return int(int(width + 1) / 2) * 2


def dw_bn(channels: int, stride: int = 1) -> ConvBnAct:
    """A 3x3 depthwise conv + BN, no activation."""
    return ConvBnAct(channels, channels, 3, stride, groups=channels, act=None)


class HarDBlock(nn.Module):
    """``layers`` separable layers, each reading the concatenation of its harmonic links."""

    def __init__(self, c_in: int, growth: int, layers: int) -> None:
        super().__init__()
        widths = [c_in] + [layer_width(i, growth) for i in range(1, layers + 1)]
        self.links = [harmonic_links(i) for i in range(1, layers + 1)]
        self.layers = nn.ModuleList(
            nn.Sequential(
                ConvBnAct(sum(widths[k] for k in links), widths[i], 1, act=nn.ReLU6),
                dw_bn(widths[i]),
            )
            for i, links in enumerate(self.links, start=1)
        )
        self.kept = [i for i in range(1, layers + 1) if i % 2 == 1 or i == layers]
        self.c_out = sum(widths[i] for i in self.kept)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The concatenation of the odd layers and the last layer."""
        outputs = [x]
        for links, layer in zip(self.links, self.layers, strict=True):
            parts = [outputs[k] for k in links]
            outputs.append(layer(parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)))
        return torch.cat([outputs[i] for i in self.kept], dim=1)


class HarDNet(nn.Module):
    """Stem, four (HarDBlock, 1x1 transition, depthwise 3x3/2) stages, pooled classifier."""

    def __init__(self, stem: tuple[int, int], stages: list[nn.Module], c_last: int) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            ConvBnAct(3, stem[0], 3, 2, act=nn.ReLU6),
            ConvBnAct(stem[0], stem[1], 1, act=nn.ReLU6),
            dw_bn(stem[1], 2),
        )
        self.stages = nn.Sequential(*stages)
        self.head = ClassifierHead(c_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, 1000)`` of an image batch ``(N, 3, H, W)``."""
        return self.head(self.stages(self.stem(x)))


def hardnet39ds(*, width: float, depth: float) -> HarDNet:
    """HarDNet-39DS with its widths times ``width`` and its block lengths times ``depth``."""
    stem = (make_divisible(STEM[0] * width), make_divisible(STEM[1] * width))
    c_in, stages = stem[1], []
    for c_out, growth, layers, down in zip(TRANSITIONS, GROWTH, LAYERS, DOWNSAMPLE, strict=True):
        block = HarDBlock(c_in, max(2, round(growth * width / 2) * 2), scale_units(layers, depth))
        c_out = make_divisible(c_out * width)
        parts = [block, ConvBnAct(block.c_out, c_out, 1, act=nn.ReLU6)]
        stages.append(nn.Sequential(*parts, *([dw_bn(c_out, 2)] if down else [])))
        c_in = c_out
    return HarDNet(stem, stages, c_in)
