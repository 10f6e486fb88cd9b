"""STDC1 semantic segmentation (Fan et al. 2021, mmsegmentation ``stdc1_512x1024_80k_cityscapes``),
as Hailo's ``stdc1`` (Cityscapes, 19 classes, 1024x1920).

Backbone STDCNet813: two 3x3/2 convs (32, 64 channels), then three stages of two STDC modules
(256, 512, 1024 channels). An STDC module concatenates a 1x1 conv to C/2 and a chain of 3x3
convs to C/4, C/8, C/8 channels; a strided module puts a 3x3/2 depthwise conv (no activation)
before the chain and average-pools (3x3/2) the 1x1 conv's output for the concat.
Context path: the stride-32 map's global average (1x1 conv to 128, broadcast back) is added to
an attention refinement module (ARM: 3x3 conv to 128, times a sigmoid channel attention from its
global average) of the stride-32 map, upsampled (nearest, 2x) and refined by a 3x3 conv; the
same again with the stride-16 map. A feature fusion module (FFM) concatenates the stride-8 map
with that result, 1x1 conv to 256, and adds a squeeze-excitation of itself. The FCN head (3x3
conv, 1x1 conv to the classes) and a bilinear 8x resize give the class scores at the input's
resolution, and the network ends with the argmax over them, as on Hailo's chip (parser end node
``ArgMax_149``, output shape ``1024x1920x1`` in the Model Zoo's ``cfg/networks/stdc1.yaml``).
The auxiliary heads serve training only.

>>> net = stdc(width=1.0, depth=1.0)
>>> sum(p.numel() for p in net.parameters())
8275123
"""

from __future__ import annotations

import torch
from torch import nn

from partitioner.zoo.blocks import ConvBnAct, make_divisible, scale_units

CLASSES = 19  # Cityscapes
STEM = (32, 64)
STAGES = ((256, 2), (512, 2), (1024, 2))  # STDCNet813: (channels, modules) per stage
CONTEXT = 128
FUSION = 256


class STDCModule(nn.Module):
    """1x1 conv to C/2, then 3x3 convs to C/4, C/8, C/8, all concatenated (``cat`` fusion)."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv0 = ConvBnAct(c_in, c_out // 2, 1)
        self.down = None
        self.skip = None
        if stride == 2:
            self.down = ConvBnAct(c_out // 2, c_out // 2, 3, 2, groups=c_out // 2, act=None)
            self.skip = nn.AvgPool2d(3, 2, 1)
        widths = (c_out // 2, c_out // 4, c_out // 8, c_out // 8)
        pairs = zip(widths[:-1], widths[1:], strict=True)
        self.convs = nn.ModuleList(ConvBnAct(a, b, 3) for a, b in pairs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``cat(x0 or avgpool(x0), c1, c2, c3)`` with the chain ``c_i`` started from ``x0``."""
        x0 = self.conv0(x)
        y = x0 if self.down is None else self.down(x0)
        outputs = [x0 if self.skip is None else self.skip(x0)]
        for conv in self.convs:
            y = conv(y)
            outputs.append(y)
        return torch.cat(outputs, 1)


class ARM(nn.Module):
    """Attention refinement: 3x3 conv (BN), times sigmoid(BN(1x1 conv(global average)))."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv = ConvBnAct(c_in, c_out, 3, act=None)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.attention = ConvBnAct(c_out, c_out, 1, act=nn.Sigmoid)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``conv(x) * attention(pool(conv(x)))``."""
        y = self.conv(x)
        return y * self.attention(self.pool(y))


class FFM(nn.Module):
    """Feature fusion: concat, 1x1 conv (BN, ReLU), plus itself times a squeeze-excitation."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv0 = ConvBnAct(c_in, c_out, 1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.conv1 = nn.Conv2d(c_out, c_out // 4, 1, bias=False)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(c_out // 4, c_out, 1, bias=False)
        self.sigmoid = nn.Sigmoid()

    def forward(self, spatial: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """``x * se(x) + x`` with ``x = conv0(cat(spatial, context))``."""
        x = self.conv0(torch.cat([spatial, context], 1))
        attention = self.sigmoid(self.conv2(self.relu(self.conv1(self.pool(x)))))
        return x * attention + x


class STDC(nn.Module):
    """STDCNet813, context path (global average, two ARMs, refine convs), FFM, FCN head."""

    def __init__(self, width: float, depth: float) -> None:
        super().__init__()
        c0, c1 = (make_divisible(c * width) for c in STEM)
        self.stem = nn.Sequential(ConvBnAct(3, c0, 3, 2), ConvBnAct(c0, c1, 3, 2))
        c_in, stages, channels = c1, [], []
        for c, n in STAGES:
            c_out = make_divisible(c * width, 16)  # C/8 stays a whole number
            modules = []
            for j in range(scale_units(n, depth)):
                modules.append(STDCModule(c_in, c_out, 2 if j == 0 else 1))
                c_in = c_out
            stages.append(nn.Sequential(*modules))
            channels.append(c_out)
        self.stage3, self.stage4, self.stage5 = stages
        c8, c16, c32 = channels
        context = make_divisible(CONTEXT * width)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.conv_avg = ConvBnAct(c32, context, 1)
        self.arm32, self.arm16 = ARM(c32, context), ARM(c16, context)
        self.refine32 = ConvBnAct(context, context, 3)
        self.refine16 = ConvBnAct(context, context, 3)
        self.upsample = nn.Upsample(scale_factor=2, mode="nearest")
        fusion = make_divisible(FUSION * width)
        self.ffm = FFM(c8 + context, fusion)
        self.head = ConvBnAct(fusion, fusion, 3)
        self.conv_seg = nn.Conv2d(fusion, CLASSES, 1)
        self.resize = nn.Upsample(scale_factor=8, mode="bilinear", align_corners=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class indices ``(N, 1, H, W)`` of an image batch ``(N, 3, H, W)``."""
        f8 = self.stage3(self.stem(x))
        f16 = self.stage4(f8)
        f32 = self.stage5(f16)
        avg = self.conv_avg(self.pool(f32)).expand(-1, -1, f32.shape[2], f32.shape[3])
        up32 = self.refine32(self.upsample(self.arm32(f32) + avg))
        up16 = self.refine16(self.upsample(self.arm16(f16) + up32))
        fused = self.ffm(f8, up16)
        return self.resize(self.conv_seg(self.head(fused))).argmax(1, keepdim=True)


def stdc(*, width: float, depth: float) -> STDC:
    """STDC1 (STDCNet813); ``width`` scales every channel count, ``depth`` the modules per
    stage."""
    return STDC(width, depth)
