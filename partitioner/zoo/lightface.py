"""Ultra-Light-Fast-Generic-Face-Detector-1MB, version "slim" (Linzaer), the Model Zoo's
``lightface_slim`` (240x320 inputs), cut at its eight per-level box and score convs.

Backbone (``Mb_Tiny``, base width 16): a 3x3/2 conv to 16 (BN, ReLU), then 12
depthwise-separable blocks (3x3 depthwise + BN + ReLU, 1x1 + BN + ReLU) to 32, 32/2, 32, 64/2,
64, 64, 64, 128/2, 128, 128, 256/2, 256 channels. SSD heads read the 64-channel stride-8 map, the
128-channel stride-16 map, the 256-channel stride-32 map and an extra stride-64 map (1x1 conv to
64 + ReLU, separable 3x3/2 to 256 + ReLU). Per level a box conv (anchors x 4) and a score conv
(anchors x 2, face and background); 3, 2, 2 and 3 anchors. The first three levels' head convs
are separable (3x3 depthwise with bias, ReLU, 1x1 with bias), the last level's plain 3x3 convs.
The softmax, anchor decoding and NMS run on the host.

``width`` multiplies every channel count but the outputs' (rounded to a multiple of 8).

>>> net = lightface_slim(width=1.0)
>>> sum(p.numel() for p in net.parameters())  # the Model Zoo row: 0.26 M
260188
"""

from __future__ import annotations

import torch
from torch import nn

from partitioner.zoo.blocks import ConvBnAct, make_divisible
from partitioner.zoo.mobilenet import DepthwiseSeparable

# (output channels, stride) of the backbone's separable blocks; the heads tap blocks 7, 10, 12.
BLOCKS = (
    (32, 1), (32, 2), (32, 1), (64, 2), (64, 1), (64, 1), (64, 1),
    (128, 2), (128, 1), (128, 1), (256, 2), (256, 1),
)  # fmt: skip
TAPS = (7, 10, 12)  # blocks whose outputs feed the first three levels
ANCHORS = (3, 2, 2, 3)
CLASSES = 2  # background, face


class SeparableHead(nn.Sequential):
    """3x3 depthwise conv with bias, ReLU, 1x1 conv with bias (the repo's SeperableConv2d)."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__(
            nn.Conv2d(c_in, c_in, 3, stride, 1, groups=c_in), nn.ReLU(), nn.Conv2d(c_in, c_out, 1)
        )


class LightFaceSlim(nn.Module):
    """Mb_Tiny backbone, an extra stride-64 level, box and score convs on four levels."""

    def __init__(self, width: float) -> None:
        super().__init__()
        c_in = make_divisible(16 * width)
        self.stem = ConvBnAct(3, c_in, 3, 2)
        blocks, taps = [], []
        for i, (c, s) in enumerate(BLOCKS, start=1):
            c_out = make_divisible(c * width)
            blocks.append(DepthwiseSeparable(c_in, c_out, s, nn.ReLU))
            c_in = c_out
            if i in TAPS:
                taps.append(c_out)
        self.blocks = nn.ModuleList(blocks)
        c_extra = make_divisible(64 * width)
        self.extras = nn.Sequential(
            nn.Conv2d(c_in, c_extra, 1), nn.ReLU(), SeparableHead(c_extra, c_in, 2), nn.ReLU()
        )
        self.boxes = nn.ModuleList(
            [SeparableHead(c, a * 4) for c, a in zip(taps, ANCHORS, strict=False)]
            + [nn.Conv2d(c_in, ANCHORS[-1] * 4, 3, padding=1)]
        )
        self.scores = nn.ModuleList(
            [SeparableHead(c, a * CLASSES) for c, a in zip(taps, ANCHORS, strict=False)]
            + [nn.Conv2d(c_in, ANCHORS[-1] * CLASSES, 3, padding=1)]
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Per level (strides 8, 16, 32, 64): scores, then boxes."""
        x = self.stem(x)
        features = []
        for i, block in enumerate(self.blocks, start=1):
            x = block(x)
            if i in TAPS:
                features.append(x)
        features.append(self.extras(x))
        outputs: list[torch.Tensor] = []
        for feature, score, box in zip(features, self.scores, self.boxes, strict=True):
            outputs += [score(feature), box(feature)]
        return tuple(outputs)


def lightface_slim(*, width: float) -> LightFaceSlim:
    """The slim face detector with its channels multiplied by ``width``."""
    return LightFaceSlim(width)
