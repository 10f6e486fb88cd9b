"""ResNet v1 (18/34/50) and ResNeXt-50 32x4d, in plain torch.

Two layouts of the strided unit exist, and they differ in MACs, not in parameters:

* torchvision (ResNet-18/34 and ResNeXt-50): the *first* unit of stages 2-4 has stride 2, on its
  first 3x3 conv, and a strided 1x1 projection shortcut.
* TF-slim ``resnet_v1_50`` (the checkpoint Hailo's Model Zoo compiles): the *last* unit of stages
  1-3 has stride 2, on its 3x3 conv, with a 1x1/stride-2 max-pool as shortcut; stage 4 keeps
  stride 1. Layers 1x1 before the stride then run at full resolution only once per stage, which
  gives 3.48 GMACs at 224x224 instead of torchvision's 4.09.

>>> net = resnet_basic((2, 2, 2, 2), width=1.0, depth=1.0)
>>> sum(p.numel() for p in net.parameters())
11689512
"""

from __future__ import annotations

import torch
from torch import nn

from partitioner.zoo.blocks import ClassifierHead, ConvBnAct, make_divisible, scale_units

PLANES = (64, 128, 256, 512)  # base width of each stage; a bottleneck stage outputs 4x this


class BasicBlock(nn.Module):
    """Two 3x3 convs and a shortcut (a strided 1x1 projection when the shape changes)."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = ConvBnAct(c_in, c_out, 3, stride)
        self.conv2 = ConvBnAct(c_out, c_out, 3, act=None)
        needs_projection = stride != 1 or c_in != c_out
        self.shortcut = ConvBnAct(c_in, c_out, 1, stride, act=None) if needs_projection else None
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``relu(conv2(conv1(x)) + shortcut(x))``."""
        skip = x if self.shortcut is None else self.shortcut(x)
        return self.relu(self.conv2(self.conv1(x)) + skip)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (strided, grouped), 1x1 expand, plus a shortcut.

    The shortcut is a strided 1x1 projection when the channel count changes, a 1x1/stride-s
    max-pool (TF-slim's ``subsample``) when only the resolution changes, else the identity.
    """

    def __init__(self, c_in: int, c_mid: int, c_out: int, stride: int, groups: int) -> None:
        super().__init__()
        self.conv1 = ConvBnAct(c_in, c_mid, 1)
        self.conv2 = ConvBnAct(c_mid, c_mid, 3, stride, groups=groups)
        self.conv3 = ConvBnAct(c_mid, c_out, 1, act=None)
        self.shortcut: nn.Module | None = None
        if c_in != c_out:
            self.shortcut = ConvBnAct(c_in, c_out, 1, stride, act=None)
        elif stride != 1:
            self.shortcut = nn.MaxPool2d(1, stride)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``relu(conv3(conv2(conv1(x))) + shortcut(x))``."""
        skip = x if self.shortcut is None else self.shortcut(x)
        return self.relu(self.conv3(self.conv2(self.conv1(x))) + skip)


class ResNet(nn.Module):
    """Stem (7x7/2 conv, 3x3/2 max-pool), four stages ``layer1..layer4``, pooled classifier."""

    def __init__(
        self,
        stem: int,
        stages: list[nn.Sequential],
        c_last: int,
        head: ClassifierHead | None = None,
    ) -> None:
        super().__init__()
        self.stem = ConvBnAct(3, stem, 7, 2)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.head = ClassifierHead(c_last) if head is None else head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, classes)`` of an image batch ``(N, 3, H, W)``."""
        x = self.maxpool(self.stem(x))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.head(x)


def resnet_basic(
    units: tuple[int, ...],
    *,
    classes: int = 1000,
    hidden: tuple[int, ...] = (),
    width: float,
    depth: float,
) -> ResNet:
    """ResNet-18 ``(2, 2, 2, 2)`` / ResNet-34 ``(3, 4, 6, 3)`` with torchvision's layout.

    ``width`` scales every channel count (rounded to a multiple of 8), ``depth`` the number of
    units per stage (rounded, at least 1). The head pools, runs the ``hidden`` fully connected
    layers (none for ImageNet) and ends in ``classes`` outputs (attribute logits for the Model
    Zoo's ``person_attr`` and ``face_attr`` networks).
    """
    c_in = make_divisible(64 * width)
    stem, stages = c_in, []
    for i, (n, planes) in enumerate(zip(units, PLANES, strict=True)):
        c_out = make_divisible(planes * width)
        blocks = []
        for j in range(scale_units(n, depth)):
            blocks.append(BasicBlock(c_in, c_out, 2 if (i > 0 and j == 0) else 1))
            c_in = c_out
        stages.append(nn.Sequential(*blocks))
    return ResNet(stem, stages, c_in, ClassifierHead(c_in, classes, hidden=hidden))


def resnet_bottleneck(
    units: tuple[int, ...],
    *,
    groups: int = 1,
    group_width: int = 64,
    slim_layout: bool = False,
    width: float,
    depth: float,
) -> ResNet:
    """ResNet-50 ``(3, 4, 6, 3)`` and ResNeXt-50 (``groups=32, group_width=4``).

    The bottleneck of stage i is ``PLANES[i] * group_width / 64 * groups`` wide and outputs
    ``4 * PLANES[i]`` channels. ``slim_layout`` puts the stride in the last unit of stages 1-3
    (TF-slim ``resnet_v1``) instead of the first unit of stages 2-4 (torchvision).
    """
    c_in = make_divisible(64 * width)
    stem, stages = c_in, []
    for i, (n, planes) in enumerate(zip(units, PLANES, strict=True)):
        c_mid = make_divisible(planes * group_width / 64 * groups * width, max(8, groups))
        c_out = make_divisible(4 * planes * width)
        count = scale_units(n, depth)
        blocks = []
        for j in range(count):
            if slim_layout:
                stride = 2 if (i < len(units) - 1 and j == count - 1) else 1
            else:
                stride = 2 if (i > 0 and j == 0) else 1
            blocks.append(Bottleneck(c_in, c_mid, c_out, stride, groups))
            c_in = c_out
        stages.append(nn.Sequential(*blocks))
    return ResNet(stem, stages, c_in)
