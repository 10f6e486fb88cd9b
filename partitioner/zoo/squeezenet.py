"""SqueezeNet 1.1 (Iandola et al.; torchvision's ``squeezenet1_1``), in plain torch.

SqueezeNet has no batch norm: every conv carries a bias and a ReLU. The classifier is a 1x1
conv to 1000 channels followed by global average pooling. It has no depth multiplier; ``width``
scales every fire module's squeeze and expand channels.

>>> net = squeezenet_v1_1(width=1.0)
>>> sum(p.numel() for p in net.parameters())
1235496
"""

from __future__ import annotations

import torch
from torch import nn

from partitioner.zoo.blocks import make_divisible

# (squeeze, expand 1x1 = expand 3x3) of the eight fire modules; "M" is a 3x3/2 max-pool.
FIRES = (
    (16, 64),
    (16, 64),
    "M",
    (32, 128),
    (32, 128),
    "M",
    (48, 192),
    (48, 192),
    (64, 256),
    (64, 256),
)


class ConvReLU(nn.Module):
    """Conv2d with bias, then ReLU."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1, pad: int = 0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride, pad)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``relu(conv(x))``."""
        return self.act(self.conv(x))


class Fire(nn.Module):
    """1x1 squeeze, then 1x1 and 3x3 expands side by side, concatenated."""

    def __init__(self, c_in: int, squeeze: int, expand: int) -> None:
        super().__init__()
        self.squeeze = ConvReLU(c_in, squeeze, 1)
        self.expand1x1 = ConvReLU(squeeze, expand, 1)
        self.expand3x3 = ConvReLU(squeeze, expand, 3, pad=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``cat(expand1x1(s), expand3x3(s))`` with ``s = squeeze(x)``."""
        s = self.squeeze(x)
        return torch.cat([self.expand1x1(s), self.expand3x3(s)], dim=1)


class SqueezeNet(nn.Module):
    """3x3/2 conv (64, no padding), max-pool, fire modules, 1x1 conv classifier, global pool."""

    def __init__(self, width: float) -> None:
        super().__init__()
        c_in = make_divisible(64 * width)
        layers: list[nn.Module] = [ConvReLU(3, c_in, 3, 2), nn.MaxPool2d(3, 2, ceil_mode=True)]
        for spec in FIRES:
            if spec == "M":
                layers.append(nn.MaxPool2d(3, 2, ceil_mode=True))
                continue
            squeeze, expand = (make_divisible(c * width) for c in spec)
            layers.append(Fire(c_in, squeeze, expand))
            c_in = 2 * expand
        self.features = nn.Sequential(*layers)
        self.classifier = ConvReLU(c_in, 1000, 1)
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, 1000)``."""
        return torch.flatten(self.pool(self.classifier(self.features(x))), 1)


def squeezenet_v1_1(*, width: float) -> SqueezeNet:
    """SqueezeNet 1.1; ``width`` scales the fire modules and the stem."""
    return SqueezeNet(width)
