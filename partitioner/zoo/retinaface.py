"""RetinaFace with a MobileNetV1 backbone (Deng et al. 2019; biubug6/Pytorch_Retinaface layout),
cut at the nine 1x1 head convs as Hailo's ``retinaface_mobilenet_v1`` is.

MobileNetV1 (LeakyReLU 0.1) gives the stride-8, 16 and 32 maps; an FPN (1x1 laterals to 64
channels, nearest 2x upsample + add, 3x3 merge convs) and an SSH context module per level
(3x3 branch to 32 channels, a 5x5 and a 7x7 branch as chained 3x3 convs to 16 each, concat,
ReLU) feed, per level, three 1x1 convs for 2 anchors: boxes (8 channels), face scores (4) and
five landmarks (20). Anchor decoding and NMS run on the host.

Hailo's network is MobileNetV1 at width 1.0 (3.49 M parameters; biubug6's ``mobilenet0.25``
is ``width=0.25``); the FPN and SSH stay 64 channels wide under the width knob.

>>> net = retinaface_mobilenet_v1(width=1.0)
>>> sum(p.numel() for p in net.parameters())
3506528
"""

from __future__ import annotations

import torch
from torch import nn

from partitioner.zoo.blocks import ConvBnAct, make_divisible
from partitioner.zoo.mobilenet import V1_BLOCKS

FPN_CHANNELS = 64
ANCHORS = 2  # per position and level
OUTPUT_STAGES = (5, 11, 13)  # MobileNetV1 blocks ending the stride-8, 16 and 32 stages


def leaky_relu() -> nn.Module:
    """RetinaFace-MobileNet's activation: LeakyReLU with slope 0.1."""
    return nn.LeakyReLU(0.1)


class DepthwiseSeparable(nn.Module):
    """3x3 depthwise conv then 1x1 conv, each with batch norm and LeakyReLU 0.1."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.dw = ConvBnAct(c_in, c_in, 3, stride, groups=c_in, act=leaky_relu)
        self.pw = ConvBnAct(c_in, c_out, 1, act=leaky_relu)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``pw(dw(x))``."""
        return self.pw(self.dw(x))


class FPN(nn.Module):
    """Top-down pyramid over three maps: 1x1 laterals, upsample + add, 3x3 merge convs."""

    def __init__(self, channels: tuple[int, int, int], c_out: int) -> None:
        super().__init__()
        self.output1, self.output2, self.output3 = (
            ConvBnAct(c, c_out, 1, act=leaky_relu) for c in channels
        )
        self.merge1 = ConvBnAct(c_out, c_out, 3, act=leaky_relu)
        self.merge2 = ConvBnAct(c_out, c_out, 3, act=leaky_relu)
        self.upsample = nn.Upsample(scale_factor=2, mode="nearest")

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        """The three merged maps, finest first."""
        p3 = self.output3(xs[2])
        p2 = self.merge2(self.output2(xs[1]) + self.upsample(p3))
        p1 = self.merge1(self.output1(xs[0]) + self.upsample(p2))
        return [p1, p2, p3]


class SSH(nn.Module):
    """Single-stage headless context module: 3x3, 5x5 (two 3x3) and 7x7 (three 3x3) branches."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        quarter = channels // 4
        self.conv3x3 = ConvBnAct(channels, channels // 2, 3, act=None)
        self.conv5x5_1 = ConvBnAct(channels, quarter, 3, act=leaky_relu)
        self.conv5x5_2 = ConvBnAct(quarter, quarter, 3, act=None)
        self.conv7x7_2 = ConvBnAct(quarter, quarter, 3, act=leaky_relu)
        self.conv7x7_3 = ConvBnAct(quarter, quarter, 3, act=None)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``relu(cat(conv3x3(x), conv5x5(x), conv7x7(x)))``, as wide as ``x``."""
        branch = self.conv5x5_1(x)
        conv5x5 = self.conv5x5_2(branch)
        conv7x7 = self.conv7x7_3(self.conv7x7_2(branch))
        return self.relu(torch.cat([self.conv3x3(x), conv5x5, conv7x7], 1))


class RetinaFace(nn.Module):
    """MobileNetV1 body, FPN, one SSH per level, and per level box/score/landmark 1x1 convs."""

    def __init__(self, alpha: float) -> None:
        super().__init__()
        c_in = make_divisible(32 * alpha)
        body: list[nn.Module] = [ConvBnAct(3, c_in, 3, 2, act=leaky_relu)]
        stage_channels = []
        for i, (c, stride) in enumerate(V1_BLOCKS, start=1):
            c_out = make_divisible(c * alpha)
            body.append(DepthwiseSeparable(c_in, c_out, stride))
            c_in = c_out
            if i in OUTPUT_STAGES:
                stage_channels.append(c_out)
        self.body = nn.ModuleList(body)
        self.fpn = FPN(tuple(stage_channels), FPN_CHANNELS)
        self.ssh = nn.ModuleList(SSH(FPN_CHANNELS) for _ in OUTPUT_STAGES)
        self.bbox_head = nn.ModuleList(_head(4) for _ in OUTPUT_STAGES)
        self.class_head = nn.ModuleList(_head(2) for _ in OUTPUT_STAGES)
        self.landmark_head = nn.ModuleList(_head(10) for _ in OUTPUT_STAGES)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Per level, finest first: boxes ``(N, 8, H, W)``, scores ``(N, 4, H, W)``,
        landmarks ``(N, 20, H, W)``."""
        stages = []
        for i, layer in enumerate(self.body):
            x = layer(x)
            if i in OUTPUT_STAGES:
                stages.append(x)
        outputs: list[torch.Tensor] = []
        for level, feature in enumerate(self.fpn(stages)):
            y = self.ssh[level](feature)
            heads = (self.bbox_head, self.class_head, self.landmark_head)
            outputs += [head[level](y) for head in heads]
        return tuple(outputs)


def _head(per_anchor: int) -> nn.Conv2d:
    return nn.Conv2d(FPN_CHANNELS, ANCHORS * per_anchor, 1)


def retinaface_mobilenet_v1(*, width: float) -> RetinaFace:
    """RetinaFace on MobileNetV1 of width multiplier ``width`` (1.0 is Hailo's network)."""
    return RetinaFace(width)
