"""Single-stage MSPN (Li et al. 2019, mmpose) on a RegNetX-800MF backbone, as Hailo's
``mspn_regnetx_800mf`` (COCO single-person keypoints, 256x192).

The backbone is the zoo's RegNetX-800MF (:func:`partitioner.zoo.regnet.regnetx`) without its
classifier; its four stages (strides 4 to 32) feed MSPN's upsample module: per scale, coarsest
first, a 1x1 conv to 256 channels (BN, no activation), plus the coarser unit's output resized
(bilinear, 2x) and passed through a 1x1 conv (BN), then ReLU. The heatmaps are predicted from
the finest unit: a 1x1 conv (BN, ReLU) and a 3x3 conv (BN) to the 17 keypoints at stride 4
(64x48). Hailo's parser ends there (``Conv_197``); the coarser units' predictions, used only for
training supervision, are not part of the network.

>>> net = mspn_regnetx(variant="800mf", width=1.0, depth=1.0)
>>> sum(p.numel() for p in net.parameters())
7187010
"""

from __future__ import annotations

import torch
from torch import nn

from partitioner.zoo.blocks import ConvBnAct, make_divisible
from partitioner.zoo.regnet import regnetx

UNIT_CHANNELS = 256
KEYPOINTS = 17  # COCO


class UpsampleUnit(nn.Module):
    """``relu(in_skip(x) + up_conv(resize(coarser)))`` (the coarsest unit has no ``coarser``)."""

    def __init__(self, c_in: int, c_unit: int, *, coarsest: bool) -> None:
        super().__init__()
        self.in_skip = ConvBnAct(c_in, c_unit, 1, act=None)
        self.upsample = (
            None if coarsest else nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)
        )
        self.up_conv = None if coarsest else ConvBnAct(c_unit, c_unit, 1, act=None)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor, coarser: torch.Tensor | None) -> torch.Tensor:
        """The unit's map, at ``x``'s resolution."""
        out = self.in_skip(x)
        if coarser is not None:
            assert self.up_conv is not None and self.upsample is not None
            out = out + self.up_conv(self.upsample(coarser))
        return self.relu(out)


class MSPN(nn.Module):
    """RegNet stem and stages, four upsample units, the finest unit's heatmap predictor."""

    def __init__(self, variant: str, width: float, depth: float) -> None:
        super().__init__()
        backbone = regnetx(variant, width=width, depth=depth)  # its classifier is dropped
        self.stem = backbone.stem
        self.s1, self.s2, self.s3, self.s4 = backbone.s1, backbone.s2, backbone.s3, backbone.s4
        channels = [stage[-1].c.conv.out_channels for stage in (self.s4, self.s3, self.s2, self.s1)]
        c_unit = make_divisible(UNIT_CHANNELS * width)
        self.units = nn.ModuleList(
            UpsampleUnit(c, c_unit, coarsest=i == 0) for i, c in enumerate(channels)
        )
        self.predict = nn.Sequential(
            ConvBnAct(c_unit, c_unit, 1), ConvBnAct(c_unit, KEYPOINTS, 3, act=None)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Keypoint heatmaps ``(N, 17, H / 4, W / 4)`` of an image batch ``(N, 3, H, W)``."""
        c2 = self.s1(self.stem(x))
        c3 = self.s2(c2)
        c4 = self.s3(c3)
        c5 = self.s4(c4)
        y = None
        for unit, feature in zip(self.units, (c5, c4, c3, c2), strict=True):
            y = unit(feature, y)
        return self.predict(y)


def mspn_regnetx(*, variant: str, width: float, depth: float) -> MSPN:
    """Single-stage MSPN on RegNetX ``variant``; ``width`` scales the backbone and the 256-channel
    units, ``depth`` the backbone's blocks per stage."""
    return MSPN(variant, width, depth)
