"""CenterPose (tensorboy/centerpose, CenterNet's multi-person pose heads) on a RegNetX-800MF
backbone, as Hailo's ``centerpose_regnetx_800mf`` (COCO keypoints, 512x512).

The backbone is the zoo's RegNetX-800MF (:func:`partitioner.zoo.regnet.regnetx`) without its
classifier. CenterNet's "MSRA ResNet" neck brings its stride-32 map to stride 4 with three 4x4/2
transposed convs of 256 channels (BN, ReLU); then six heads, each a 3x3 conv to 64 channels
(bias, ReLU) and a 1x1 conv: person center heatmap (1), box size (2), keypoint offsets from
the center (34), center offset (2), keypoint heatmaps (17) and keypoint offsets (2), all at
128x128. Decoding (peaks, grouping) runs on the host.

>>> net = centerpose_regnetx(variant="800mf", width=1.0, depth=1.0)
>>> sum(p.numel() for p in net.parameters())
12326746
"""

from __future__ import annotations

import torch
from torch import nn

from partitioner.zoo.blocks import make_divisible
from partitioner.zoo.regnet import regnetx

DECONV_CHANNELS = 256
HEAD_CONV = 64
# (name, output channels) of the six heads, in Hailo's output order
HEADS = (("hm", 1), ("wh", 2), ("hps", 34), ("reg", 2), ("hm_hp", 17), ("hp_offset", 2))


def _deconv(c_in: int, c_out: int) -> nn.Sequential:
    """A 4x4/2 transposed conv (doubles the side, no bias), batch norm, ReLU."""
    return nn.Sequential(
        nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()
    )


def _head(c_in: int, c_mid: int, c_out: int) -> nn.Sequential:
    """3x3 conv (bias) + ReLU, then a 1x1 conv to ``c_out`` channels."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_mid, 3, padding=1), nn.ReLU(), nn.Conv2d(c_mid, c_out, 1)
    )


class CenterPose(nn.Module):
    """RegNet stem and stages, three 2x transposed convs, six heads at stride 4."""

    def __init__(self, variant: str, width: float, depth: float) -> None:
        super().__init__()
        backbone = regnetx(variant, width=width, depth=depth)  # its classifier is dropped
        self.stem = backbone.stem
        self.s1, self.s2, self.s3, self.s4 = backbone.s1, backbone.s2, backbone.s3, backbone.s4
        c_in = self.s4[-1].c.conv.out_channels
        c_deconv = make_divisible(DECONV_CHANNELS * width)
        self.deconv = nn.Sequential(
            _deconv(c_in, c_deconv), _deconv(c_deconv, c_deconv), _deconv(c_deconv, c_deconv)
        )
        c_head = make_divisible(HEAD_CONV * width)
        self.heads = nn.ModuleDict({name: _head(c_deconv, c_head, c) for name, c in HEADS})

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The six head maps ``(N, C, H / 4, W / 4)`` in :data:`HEADS` order."""
        x = self.s4(self.s3(self.s2(self.s1(self.stem(x)))))
        x = self.deconv(x)
        return tuple(head(x) for head in self.heads.values())


def centerpose_regnetx(*, variant: str, width: float, depth: float) -> CenterPose:
    """CenterPose on RegNetX ``variant``; ``width`` scales the backbone, the 256-channel
    transposed convs and the 64-channel heads, ``depth`` the backbone's blocks per stage."""
    return CenterPose(variant, width, depth)
