"""CenterNet (Objects as Points) with a ResNet-18 or ResNet-50 v1b backbone, after GluonCV's
``center_net_resnet18_v1b_coco`` and ``center_net_resnet50_v1b_coco``: the Model Zoo's
``centernet_resnet_v1_18_postprocess`` and ``centernet_resnet_v1_50_postprocess``.

The backbone (ResNet-18 or -50 without pooling and classifier, stride 32; v1b is torchvision's
layout, the stride on the first 3x3 conv of stages 2-4) is followed by three
up-sampling stages (3x3 conv + BN + ReLU, 4x4/2 transposed conv + BN + ReLU; 256, 128, 64
channels) to stride 4, then three heads (3x3 conv to 64 + ReLU, 1x1 conv): the class heatmap
(80), the box size (2) and the center offset (2). The ``_postprocess`` network Hailo compiles keeps
the heatmap's sigmoid and a confidence threshold (a ReLU, ``threshold_confidence``) on the chip;
its parser ends there and at the two 1x1 convs. The top-k peak decoding runs on the host.
``width`` multiplies every channel count but the outputs', ``depth`` the residual units.

>>> net = centernet_resnet18(width=1.0, depth=1.0)
>>> sum(p.numel() for p in net.parameters())
14219092
"""

from __future__ import annotations

import torch
from torch import nn

from partitioner.zoo.blocks import ConvBnAct, make_divisible
from partitioner.zoo.resnet import resnet_basic, resnet_bottleneck

DECONV_FILTERS = (256, 128, 64)
HEAD_CHANNELS = 64
CONFIDENCE_THRESHOLD = 0.05  # any constant: it only shifts the heatmap before the ReLU


class UpStage(nn.Module):
    """3x3 conv + BN + ReLU, then a 4x4/2 transposed conv (padding 1) + BN + ReLU: twice the
    resolution."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv = ConvBnAct(c_in, c_out, 3)
        self.deconv = nn.ConvTranspose2d(c_out, c_out, 4, 2, 1, bias=False)
        self.bn = nn.BatchNorm2d(c_out)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``act(bn(deconv(conv(x))))``."""
        return self.act(self.bn(self.deconv(self.conv(x))))


def _head(c_in: int, c_mid: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_mid, 3, padding=1), nn.ReLU(), nn.Conv2d(c_mid, c_out, 1)
    )


class CenterNet(nn.Module):
    """ResNet features, three up-sampling stages, heatmap / size / offset heads.

    ``forward`` returns ``(heatmap, wh, offset)`` at stride 4; the heatmap after its sigmoid and
    confidence threshold.
    """

    def __init__(
        self, *, width: float, depth: float, classes: int = 80, resnet_depth: int = 18
    ) -> None:
        super().__init__()
        if resnet_depth == 50:
            resnet = resnet_bottleneck((3, 4, 6, 3), width=width, depth=depth)
        else:
            resnet = resnet_basic((2, 2, 2, 2), width=width, depth=depth)
        self.backbone = nn.Sequential(
            resnet.stem, resnet.maxpool, resnet.layer1, resnet.layer2, resnet.layer3, resnet.layer4
        )
        stages, c_in = [], resnet.head.fc.in_features
        for c in DECONV_FILTERS:
            stages.append(UpStage(c_in, make_divisible(c * width)))
            c_in = make_divisible(c * width)
        self.deconv = nn.Sequential(*stages)
        c_head = make_divisible(HEAD_CHANNELS * width)
        self.heatmap = _head(c_in, c_head, classes)
        self.wh = _head(c_in, c_head, 2)
        self.reg = _head(c_in, c_head, 2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Thresholded class heatmap, box sizes and center offsets."""
        y = self.deconv(self.backbone(x))
        heat = torch.relu(torch.sigmoid(self.heatmap(y)) - CONFIDENCE_THRESHOLD)
        return heat, self.wh(y), self.reg(y)


def centernet_resnet18(*, width: float, depth: float) -> CenterNet:
    """CenterNet ResNet-18 v1b with its channels multiplied by ``width``, units by ``depth``."""
    return CenterNet(width=width, depth=depth)


def centernet_resnet50(*, width: float, depth: float) -> CenterNet:
    """CenterNet ResNet-50 v1b with its channels multiplied by ``width``, units by ``depth``."""
    return CenterNet(width=width, depth=depth, resnet_depth=50)
