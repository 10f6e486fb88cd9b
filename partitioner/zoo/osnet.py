"""OSNet x1.0 (Zhou et al. 2019, KaiyangZhou/deep-person-reid), the Model Zoo's person re-id
``osnet_x1_0`` (256x128 inputs, a 512-d embedding).

Stem: 7x7/2 conv to 64 (BN, ReLU), 3x3/2 max-pool. Three stages of two omni-scale blocks (to
256, 384 and 512 channels), the first two followed by a transition (1x1 conv + BN + ReLU, 2x2/2
average pool); a 1x1 conv to 512; global average pool; a 512 -> 512 fully connected layer and
ReLU (its batch norm folded into it, as deployed): the embedding.

An omni-scale block reduces to ``out / 4`` channels (1x1 conv + BN + ReLU), runs four streams of
1, 2, 3 and 4 "lite" 3x3 layers (1x1 conv, then 3x3 depthwise conv + BN + ReLU), weighs each
stream by the aggregation gate (global average pool, 1x1 conv to ``mid / 16`` with bias, ReLU,
1x1 conv back with bias, sigmoid, times the stream) and sums them, then expands to ``out`` (1x1
conv + BN, linear), adds the shortcut (a 1x1 conv + BN when the width changes) and applies ReLU.
OSNet shares one gate between the four streams; here each stream has its own copy of it (each
gate call is its own layer in the compiled graph). The Model Zoo row's 2.19 M counts a copy per
stream: 2,192,592 here, 2,168,484 with one gate per block.

``width`` multiplies every channel count (rounded to a multiple of 8), ``depth`` the blocks per
stage (rounded, at least 1).

>>> net = osnet(width=1.0, depth=1.0)
>>> sum(p.numel() for p in net.parameters())
2192592
"""

from __future__ import annotations

import torch
from torch import nn

from partitioner.zoo.blocks import ConvBnAct, make_divisible, scale_units

STAGES = (256, 384, 512)  # output channels of the three stages
BLOCKS = 2  # omni-scale blocks per stage
STREAMS = 4  # lite 3x3 layers of the longest stream
GATE_REDUCTION = 16
EMBEDDING = 512


class LiteConv3x3(nn.Module):
    """1x1 conv (no norm), then a 3x3 depthwise conv + BN + ReLU."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.pw = nn.Conv2d(c_in, c_out, 1, bias=False)
        self.dw = ConvBnAct(c_out, c_out, 3, groups=c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``dw(pw(x))``."""
        return self.dw(self.pw(x))


class ChannelGate(nn.Module):
    """``x * sigmoid(fc2(relu(fc1(avgpool(x)))))``, the fc layers 1x1 convs with biases."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(c, max(1, c // GATE_REDUCTION), 1)
        self.relu = nn.ReLU()
        self.fc2 = nn.Conv2d(max(1, c // GATE_REDUCTION), c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` scaled per channel by its gate."""
        return x * torch.sigmoid(self.fc2(self.relu(self.fc1(self.pool(x)))))


class OSBlock(nn.Module):
    """1x1 reduce, four gated streams of 1-4 lite 3x3 layers summed, 1x1 expand, shortcut."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        mid = c_out // 4
        self.conv1 = ConvBnAct(c_in, mid, 1)
        self.streams = nn.ModuleList(
            nn.Sequential(*(LiteConv3x3(mid, mid) for _ in range(n))) for n in range(1, STREAMS + 1)
        )
        self.gates = nn.ModuleList(ChannelGate(mid) for _ in range(STREAMS))
        self.conv3 = ConvBnAct(mid, c_out, 1, act=None)
        self.shortcut = ConvBnAct(c_in, c_out, 1, act=None) if c_in != c_out else None
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``relu(conv3(sum of gated streams) + shortcut(x))``."""
        y = self.conv1(x)
        mixed = self.gates[0](self.streams[0](y))
        for i in range(1, STREAMS):  # indexed, so that torch.fx unrolls the loop
            mixed = mixed + self.gates[i](self.streams[i](y))
        skip = x if self.shortcut is None else self.shortcut(x)
        return self.relu(self.conv3(mixed) + skip)


class OSNet(nn.Module):
    """Stem, three stages (two with transitions), 1x1 conv, pooled 512-d embedding."""

    def __init__(self, widths: tuple[int, ...], blocks: int, stem: int, embedding: int) -> None:
        super().__init__()
        self.stem = nn.Sequential(ConvBnAct(3, stem, 7, 2), nn.MaxPool2d(3, 2, 1))
        stages, c_in = [], stem
        for i, c in enumerate(widths):
            layers: list[nn.Module] = []
            for _ in range(blocks):
                layers.append(OSBlock(c_in, c))
                c_in = c
            if i < len(widths) - 1:
                layers += [ConvBnAct(c, c, 1), nn.AvgPool2d(2, 2)]
            stages.append(nn.Sequential(*layers))
        self.stages = nn.Sequential(*stages)
        self.conv5 = ConvBnAct(c_in, c_in, 1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c_in, embedding)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The embedding ``(N, 512)`` of an image batch ``(N, 3, H, W)``."""
        x = self.pool(self.conv5(self.stages(self.stem(x))))
        return self.relu(self.fc(torch.flatten(x, 1)))


def osnet(*, width: float, depth: float) -> OSNet:
    """OSNet x1.0 with its channels multiplied by ``width`` and its blocks by ``depth``."""
    widths = tuple(make_divisible(c * width) for c in STAGES)
    stem = make_divisible(64 * width)
    return OSNet(widths, scale_units(BLOCKS, depth), stem, EMBEDDING)
