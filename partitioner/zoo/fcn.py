"""FCN-8s (Long et al. 2015) on a ResNet-18 backbone, as Hailo's ``fcn8_resnet_v1_18``
(Cityscapes, 19 classes, 1024x1920).

The backbone is the zoo's ResNet-18 (:func:`partitioner.zoo.resnet.resnet_basic`) without its
classifier. FCN-8s scores the stride-32, 16 and 8 maps with 1x1 convs to the classes and fuses
them top-down: a 4x4/2 transposed conv doubles the coarser scores, which are added to the next
finer ones. The network ends with the argmax over the class scores at stride 8, as on Hailo's chip
(the Model Zoo's ``cfg/base/fcn.yaml``: ``argmax: true``, parser end node ``ArgMax``): a label
map of 128x240 at 1024x1920 leaves the chip, which the Model Zoo upsamples 8x on the host
(``ext_upsample: 8``).

>>> net = fcn8_resnet(units=(2, 2, 2, 2), width=1.0, depth=1.0)
>>> sum(p.numel() for p in net.parameters())  # ResNet-18 without fc 11,176,512 + head 28,633
11205145
"""

from __future__ import annotations

import torch
from torch import nn

from partitioner.zoo.resnet import resnet_basic

CLASSES = 19  # Cityscapes


class FCN8(nn.Module):
    """ResNet stem and stages, three 1x1 score convs, two 2x transposed convs, two adds."""

    def __init__(self, units: tuple[int, ...], width: float, depth: float) -> None:
        super().__init__()
        backbone = resnet_basic(units, width=width, depth=depth)  # its classifier is dropped
        self.stem, self.maxpool = backbone.stem, backbone.maxpool
        self.layer1, self.layer2 = backbone.layer1, backbone.layer2
        self.layer3, self.layer4 = backbone.layer3, backbone.layer4
        c8, c16, c32 = (stage[-1].conv2.conv.out_channels for stage in self._stages()[1:])
        self.score_pool3 = nn.Conv2d(c8, CLASSES, 1)
        self.score_pool4 = nn.Conv2d(c16, CLASSES, 1)
        self.score_fr = nn.Conv2d(c32, CLASSES, 1)
        self.upscore2 = _upscore()
        self.upscore_pool4 = _upscore()

    def _stages(self) -> tuple[nn.Sequential, ...]:
        return (self.layer1, self.layer2, self.layer3, self.layer4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class indices ``(N, 1, H / 8, W / 8)`` of an image batch ``(N, 3, H, W)``."""
        x = self.layer1(self.maxpool(self.stem(x)))
        pool3 = self.layer2(x)
        pool4 = self.layer3(pool3)
        scores = self.upscore2(self.score_fr(self.layer4(pool4))) + self.score_pool4(pool4)
        scores = self.upscore_pool4(scores) + self.score_pool3(pool3)
        return scores.argmax(1, keepdim=True)


def _upscore() -> nn.ConvTranspose2d:
    """A 4x4/2 transposed conv over the class scores (no bias): doubles the side."""
    return nn.ConvTranspose2d(CLASSES, CLASSES, 4, 2, 1, bias=False)


def fcn8_resnet(*, units: tuple[int, ...], width: float, depth: float) -> FCN8:
    """FCN-8s on the ResNet of ``units`` basic blocks per stage (ResNet-18: (2, 2, 2, 2))."""
    return FCN8(units, width, depth)
