"""FastDepth (Wofk et al. 2019, dwofk/fast-depth ``MobileNetSkipAdd``), the NetAdapt-pruned network
that Hailo's ``fast_depth`` is (1.34 M parameters, 0.37 GMACs at 224x224).

A MobileNetV1 encoder (3x3 stem and 13 depthwise-separable blocks, ReLU6) and the NNConv5
decoder: five depthwise 5x5 + pointwise units (ReLU), each followed by a 2x nearest upsample,
with additive skips from the encoder's stride-2, 4 and 8 maps, then a 1x1 conv to one depth
channel at the input's resolution.

The pruned channel counts are not in the repository's code (the model is loaded from its
checkpoint); they are read off the conv workloads of its TVM tuning logs
(``tvm_compile/tuning/*-skipadd-pruned*.log``).

>>> net = fast_depth(width=1.0)
>>> sum(p.numel() for p in net.parameters())
1360786
"""

from __future__ import annotations

import torch
from torch import nn

from partitioner.zoo.blocks import ConvBnAct, make_divisible

STEM = 16
# (pointwise output channels, depthwise stride) of the 13 encoder blocks after pruning.
ENCODER = (
    (56, 1),
    (88, 2),
    (120, 1),
    (144, 2),
    (256, 1),
    (408, 2),
    (376, 1),
    (272, 1),
    (288, 1),
    (296, 1),
    (328, 1),
    (480, 2),
    (512, 1),
)
DECODER = (200, 256, 120, 56, 16)  # pointwise outputs of the five decoder units after pruning
# decoder unit i, after its upsample, adds the output of encoder block j (same width and size)
SKIPS = {2: 5, 3: 3, 4: 1}


class SeparableUnit(nn.Module):
    """Depthwise ``kernel`` conv then 1x1 conv, each with batch norm and ``act``."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, act: type) -> None:
        super().__init__()
        self.dw = ConvBnAct(c_in, c_in, kernel, stride, groups=c_in, act=act)
        self.pw = ConvBnAct(c_in, c_out, 1, act=act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``pw(dw(x))``."""
        return self.pw(self.dw(x))


class FastDepth(nn.Module):
    """MobileNetV1 encoder, five upsampling decoder units with three additive skips, 1x1 conv."""

    def __init__(self, width: float) -> None:
        super().__init__()
        c_in = make_divisible(STEM * width)
        self.stem = ConvBnAct(3, c_in, 3, 2, act=nn.ReLU6)
        encoder = []
        for c, stride in ENCODER:
            c_out = make_divisible(c * width)
            encoder.append(SeparableUnit(c_in, c_out, 3, stride, nn.ReLU6))
            c_in = c_out
        self.encoder = nn.ModuleList(encoder)
        decoder = []
        for c in DECODER:
            c_out = make_divisible(c * width)
            decoder.append(SeparableUnit(c_in, c_out, 5, 1, nn.ReLU))
            c_in = c_out
        self.decoder = nn.ModuleList(decoder)
        self.upsample = nn.Upsample(scale_factor=2, mode="nearest")
        self.head = ConvBnAct(c_in, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Depth ``(N, 1, H, W)`` of an image batch ``(N, 3, H, W)``."""
        x = self.stem(x)
        skips = {}
        for j, block in enumerate(self.encoder, start=1):
            x = block(x)
            skips[j] = x
        for i, unit in enumerate(self.decoder, start=1):
            x = self.upsample(unit(x))
            if i in SKIPS:
                x = x + skips[SKIPS[i]]
        return self.head(x)


def fast_depth(*, width: float) -> FastDepth:
    """Pruned FastDepth with every channel count x ``width`` (rounded to a multiple of 8)."""
    return FastDepth(width)
