"""HarDNet-39DS and HarDNet-68 (Chao et al. 2019, PingoLH/Pytorch-HarDNet), in plain torch.

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

HarDNet-68 (not separable) makes every block layer one 3x3 conv + BN + ReLU6 and downsamples
with max-pools: stem 3x3/2 conv to 32, 3x3 conv to 64, 3x3/2 max-pool; five blocks (growth 14,
16, 20, 40, 160; 8, 16, 16, 16, 4 layers; multiplier 1.7), each followed by a 1x1 transition
conv (to 128, 256, 320, 640, 1024) and, after the first, third and fourth, a 2x2/2 max-pool.

``width`` multiplies the stem, transition and growth widths (widths rounded to a multiple of 8,
growth rates to an even count); ``depth`` the number of layers of each block (rounded, >= 1).

>>> net = hardnet39ds(width=1.0, depth=1.0)
>>> sum(p.numel() for p in net.parameters())
3488228
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from partitioner.zoo.blocks import ClassifierHead, ConvBnAct, make_divisible, scale_units

STEM = (24, 48)
TRANSITIONS = (96, 320, 640, 1024)
GROWTH = (16, 20, 64, 160)
LAYERS = (4, 16, 8, 4)
DOWNSAMPLE = (True, True, True, False)
GROWTH_MULTIPLIER = 1.6
# HarDNet-68: (transition, growth, layers, downsample) per block, growth multiplier.
HARDNET68_STEM = (32, 64)
HARDNET68_BLOCKS = (
    (128, 14, 8, True),
    (256, 16, 16, False),
    (320, 20, 16, True),
    (640, 40, 16, True),
    (1024, 160, 4, False),
)
HARDNET68_MULTIPLIER = 1.7


def harmonic_links(layer: int) -> tuple[int, ...]:
    """The earlier layers that layer ``layer`` (1-based) reads: ``layer - 2^i`` for every
    ``2^i`` dividing ``layer``, nearest first.

    >>> harmonic_links(1), harmonic_links(4), harmonic_links(6)
    ((0,), (3, 2, 0), (5, 4))
    """
    return tuple(layer - 2**i for i in range(10) if layer % 2**i == 0)


def layer_width(layer: int, growth: int, multiplier: float = GROWTH_MULTIPLIER) -> int:
    """Output channels of ``layer``: ``growth x multiplier^(links - 1)``, rounded to an even
    count.

    >>> layer_width(1, 16), layer_width(2, 16), layer_width(4, 16), layer_width(2, 14, 1.7)
    (16, 26, 40, 24)
    """
    width = growth * multiplier ** (len(harmonic_links(layer)) - 1)
    return int(int(width + 1) / 2) * 2


def dw_bn(channels: int, stride: int = 1) -> ConvBnAct:
    """A 3x3 depthwise conv + BN, no activation."""
    return ConvBnAct(channels, channels, 3, stride, groups=channels, act=None)


class HarDBlock(nn.Module):
    """``layers`` layers, each reading the concatenation of its harmonic links: separable (1x1
    conv + ReLU6, depthwise 3x3) or, with ``separable=False``, one 3x3 conv + ReLU6."""

    def __init__(
        self,
        c_in: int,
        growth: int,
        layers: int,
        *,
        multiplier: float = GROWTH_MULTIPLIER,
        separable: bool = True,
    ) -> None:
        super().__init__()
        widths = [c_in] + [layer_width(i, growth, multiplier) for i in range(1, layers + 1)]
        self.links = [harmonic_links(i) for i in range(1, layers + 1)]

        def layer(c: int, c_out: int) -> nn.Sequential:
            if separable:
                return nn.Sequential(ConvBnAct(c, c_out, 1, act=nn.ReLU6), dw_bn(c_out))
            return nn.Sequential(ConvBnAct(c, c_out, 3, act=nn.ReLU6))

        self.layers = nn.ModuleList(
            layer(sum(widths[k] for k in links), widths[i])
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
    """Stem, (HarDBlock, 1x1 transition, downsampling) stages, pooled classifier."""

    def __init__(self, stem: nn.Module, stages: list[nn.Module], c_last: int) -> None:
        super().__init__()
        self.stem = stem
        self.stages = nn.Sequential(*stages)
        self.head = ClassifierHead(c_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, 1000)`` of an image batch ``(N, 3, H, W)``."""
        return self.head(self.stages(self.stem(x)))


def hardnet39ds(*, width: float, depth: float) -> HarDNet:
    """HarDNet-39DS with its widths times ``width`` and its block lengths times ``depth``."""
    c0, c1 = (make_divisible(STEM[0] * width), make_divisible(STEM[1] * width))
    stem = nn.Sequential(
        ConvBnAct(3, c0, 3, 2, act=nn.ReLU6), ConvBnAct(c0, c1, 1, act=nn.ReLU6), dw_bn(c1, 2)
    )
    blocks = zip(TRANSITIONS, GROWTH, LAYERS, DOWNSAMPLE, strict=True)
    return HarDNet(stem, *_stages(c1, blocks, width, depth, separable=True))


def hardnet68(*, width: float, depth: float) -> HarDNet:
    """HarDNet-68 with its widths times ``width`` and its block lengths times ``depth``."""
    c0, c1 = (make_divisible(c * width) for c in HARDNET68_STEM)
    stem = nn.Sequential(
        ConvBnAct(3, c0, 3, 2, act=nn.ReLU6),
        ConvBnAct(c0, c1, 3, act=nn.ReLU6),
        nn.MaxPool2d(3, 2, 1),
    )
    return HarDNet(stem, *_stages(c1, HARDNET68_BLOCKS, width, depth, separable=False))


def _stages(
    c_in: int,
    blocks: Iterable[tuple[int, int, int, bool]],
    width: float,
    depth: float,
    *,
    separable: bool,
) -> tuple[list[nn.Module], int]:
    """The stages of ``blocks`` ((transition, growth, layers, downsample) each) and their output
    width: HarDBlock, 1x1 transition, then a depthwise 3x3/2 (separable) or a 2x2/2 max-pool."""
    multiplier = GROWTH_MULTIPLIER if separable else HARDNET68_MULTIPLIER
    stages: list[nn.Module] = []
    for c_out, growth, layers, down in blocks:
        block = HarDBlock(
            c_in,
            max(2, round(growth * width / 2) * 2),
            scale_units(layers, depth),
            multiplier=multiplier,
            separable=separable,
        )
        c_out = make_divisible(c_out * width)
        parts = [block, ConvBnAct(block.c_out, c_out, 1, act=nn.ReLU6)]
        if down:
            parts.append(dw_bn(c_out, 2) if separable else nn.MaxPool2d(2, 2))
        stages.append(nn.Sequential(*parts))
        c_in = c_out
    return stages, c_in
