"""Inception V1 (GoogLeNet) as TF-slim's ``inception_v1`` defines it, in plain torch.

TF-slim's version, which the Model Zoo compiles from its checkpoint, differs from the paper in
two ways: every conv has batch norm (no bias), and the "5x5" branch of each Inception module is a
3x3 conv. Each module concatenates four branches: 1x1; 1x1 -> 3x3; 1x1 -> 3x3; 3x3/1 max-pool ->
1x1. The classifier is a 7x7 average pool (global at 224) and a 1x1 logits conv to 1001 classes
(class 0 is the background); the auxiliary heads of the paper are not part of it.

``width`` multiplies every conv's output channels (rounded to a multiple of 8); TF-slim's
Inception V1 has no depth multiplier of its own, and no depth knob here.

>>> net = inception_v1(width=1.0)
>>> sum(p.numel() for p in net.parameters())
6625929
"""

from __future__ import annotations

import torch
from torch import nn

from partitioner.zoo.blocks import ConvBnAct, make_divisible

# Output channels of each module's branches, (1x1, (3x3 reduce, 3x3), (3x3 reduce, 3x3), pool
# proj), in order Mixed_3b, 3c | 4b-4f | 5b, 5c; a stride-2 max-pool precedes 4b and 5b.
MODULES = {
    "mixed_3b": (64, (96, 128), (16, 32), 32),
    "mixed_3c": (128, (128, 192), (32, 96), 64),
    "mixed_4b": (192, (96, 208), (16, 48), 64),
    "mixed_4c": (160, (112, 224), (24, 64), 64),
    "mixed_4d": (128, (128, 256), (24, 64), 64),
    "mixed_4e": (112, (144, 288), (32, 64), 64),
    "mixed_4f": (256, (160, 320), (32, 128), 128),
    "mixed_5b": (256, (160, 320), (32, 128), 128),
    "mixed_5c": (384, (192, 384), (48, 128), 128),
}
POOL_BEFORE = {"mixed_4b": (3, 2, 1), "mixed_5b": (2, 2, 0)}  # (kernel, stride, padding)
CLASSES = 1001

Widths = tuple[int, tuple[int, int], tuple[int, int], int]


class InceptionModule(nn.Module):
    """Four parallel branches concatenated along channels."""

    def __init__(self, c_in: int, widths: Widths) -> None:
        super().__init__()
        b0, (b1a, b1b), (b2a, b2b), b3 = widths
        self.branch0 = ConvBnAct(c_in, b0, 1)
        self.branch1 = nn.Sequential(ConvBnAct(c_in, b1a, 1), ConvBnAct(b1a, b1b, 3))
        self.branch2 = nn.Sequential(ConvBnAct(c_in, b2a, 1), ConvBnAct(b2a, b2b, 3))
        self.branch3 = nn.Sequential(nn.MaxPool2d(3, 1, 1), ConvBnAct(c_in, b3, 1))
        self.c_out = b0 + b1b + b2b + b3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The four branches of ``x``, concatenated."""
        branches = (self.branch0(x), self.branch1(x), self.branch2(x), self.branch3(x))
        return torch.cat(branches, dim=1)


class InceptionV1(nn.Module):
    """Stem (7x7/2 conv, pool, 1x1, 3x3, pool), nine Inception modules, pooled 1x1 logits."""

    def __init__(self, width: float) -> None:
        super().__init__()

        def w(c: int) -> int:
            return make_divisible(c * width)

        self.stem = nn.Sequential(
            ConvBnAct(3, w(64), 7, 2),
            nn.MaxPool2d(3, 2, 1),
            ConvBnAct(w(64), w(64), 1),
            ConvBnAct(w(64), w(192), 3),
            nn.MaxPool2d(3, 2, 1),
        )
        c_in, layers = w(192), []
        for name, (b0, (b1a, b1b), (b2a, b2b), b3) in MODULES.items():
            if name in POOL_BEFORE:
                layers.append(nn.MaxPool2d(*POOL_BEFORE[name]))
            module = InceptionModule(c_in, (w(b0), (w(b1a), w(b1b)), (w(b2a), w(b2b)), w(b3)))
            layers.append(module)
            c_in = module.c_out
        self.mixed = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.logits = nn.Conv2d(c_in, CLASSES, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, 1001)`` of an image batch ``(N, 3, H, W)``."""
        y = self.pool(self.mixed(self.stem(x)))
        return torch.flatten(self.logits(y), 1)


def inception_v1(*, width: float) -> InceptionV1:
    """TF-slim Inception V1 with every conv ``width`` times as wide (1.0 is the checkpoint)."""
    return InceptionV1(width)
