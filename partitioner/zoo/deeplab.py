"""DeepLabv3 on MobileNetV2 (TF ``research/deeplab`` ``mobilenetv2_coco_voc_trainaug``), as Hailo's
``deeplab_v3_mobilenet_v2`` (PASCAL VOC, 21 classes, 513x513).

The backbone is MobileNetV2 (the zoo's :class:`partitioner.zoo.mobilenet.InvertedResidual`
layout) up to its 320-channel projection, at output stride 8: the strides of the 64- and
160-channel stages become 1 and the depthwise convs after them dilate by 2 and 4 (TF-slim's
rule: a unit whose stride is dropped keeps the rate so far, the units after it use rate x
stride). The head is DeepLab's ASPP as configured for MobileNet (no atrous branches): a 1x1
conv branch and an image-pooling branch (global average pool, 1x1 conv, broadcast back) of 256
channels each, concat, a 1x1 projection to 256, a 1x1 conv to the class scores; then the scores
are resized (bilinear) to the input size and the network ends with the argmax over the classes,
as on Hailo's chip: the Model Zoo's ``device_pre_post_layers`` has ``bilinear: true, argmax:
true``, its parser ends at ``import/ArgMax`` and its output shape is ``513x513x1``
(``cfg/networks/deeplab_v3_mobilenet_v2*.yaml``), so one class index per pixel leaves the chip.

TF's 'SAME' padding rounds every stride up (513 -> 257 -> 129 -> 65), as padding ``k // 2``
does here, so any input side works; 513 = 8 x 64 + 1 is TF DeepLab's crop convention.

``deeplab_v3_mobilenet_v2_wo_dilation`` is the same network at output stride 32 (MobileNetV2's
own strides, nothing dilated): the ASPP runs on the 17x17 map.

>>> net = deeplab_v3_mobilenet_v2(width=1.0, input_hw=(513, 513))
>>> sum(p.numel() for p in net.parameters())
2113557
"""

from __future__ import annotations

import torch
from torch import nn

from partitioner.zoo.blocks import ConvBnAct, make_divisible
from partitioner.zoo.mobilenet import V2_STAGES

CLASSES = 21  # PASCAL VOC, background included
ASPP_CHANNELS = 256
OUTPUT_STRIDE = 8


class DilatedInvertedResidual(nn.Module):
    """MobileNetV2's inverted residual with a dilated depthwise conv: 1x1 expand (none if t = 1),
    3x3 depthwise (stride s, dilation d), 1x1 linear projection, residual if same shape."""

    def __init__(self, c_in: int, c_out: int, stride: int, expand: int, dilation: int) -> None:
        super().__init__()
        c_mid = c_in * expand
        self.expand = ConvBnAct(c_in, c_mid, 1, act=nn.ReLU6) if expand != 1 else None
        self.dw = ConvBnAct(c_mid, c_mid, 3, stride, groups=c_mid, act=nn.ReLU6)
        self.dw.conv.dilation, self.dw.conv.padding = (dilation, dilation), (dilation, dilation)
        self.project = ConvBnAct(c_mid, c_out, 1, act=None)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``project(dw(expand(x)))``, plus ``x`` when the block keeps the shape."""
        y = x if self.expand is None else self.expand(x)
        y = self.project(self.dw(y))
        return x + y if self.residual else y


class ASPP(nn.Module):
    """1x1 conv branch and image-pooling branch, concat, 1x1 projection (all BN + ReLU)."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.image_pooling = ConvBnAct(c_in, c_out, 1)
        self.aspp0 = ConvBnAct(c_in, c_out, 1)
        self.concat_projection = ConvBnAct(2 * c_out, c_out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``projection(cat(broadcast(conv(pool(x))), conv(x)))``."""
        pooled = self.image_pooling(self.pool(x)).expand(-1, -1, x.shape[2], x.shape[3])
        return self.concat_projection(torch.cat([pooled, self.aspp0(x)], 1))


class DeepLabV3(nn.Module):
    """Dilated MobileNetV2 features, ASPP, 1x1 logits, bilinear resize to the input size, argmax."""

    def __init__(
        self, alpha: float, input_hw: tuple[int, int], output_stride: int = OUTPUT_STRIDE
    ) -> None:
        super().__init__()
        c_in = make_divisible(32 * alpha)
        self.stem = ConvBnAct(3, c_in, 3, 2, act=nn.ReLU6)
        blocks: list[nn.Module] = []
        current_stride, rate = 2, 1
        for t, c, n, s in V2_STAGES:
            c_out = make_divisible(c * alpha)
            for i in range(n):
                stride = s if i == 0 else 1
                if current_stride == output_stride:  # at the output stride: dilate instead
                    unit_rate, rate, stride = rate, rate * stride, 1
                else:
                    unit_rate, current_stride = 1, current_stride * stride
                blocks.append(DilatedInvertedResidual(c_in, c_out, stride, t, unit_rate))
                c_in = c_out
        self.blocks = nn.Sequential(*blocks)
        self.aspp = ASPP(c_in, ASPP_CHANNELS)
        self.logits = nn.Conv2d(ASPP_CHANNELS, CLASSES, 1)
        self.resize = nn.Upsample(size=input_hw, mode="bilinear", align_corners=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class indices ``(N, 1, H, W)`` of an image batch ``(N, 3, H, W)``."""
        scores = self.resize(self.logits(self.aspp(self.blocks(self.stem(x)))))
        return scores.argmax(1, keepdim=True)


def deeplab_v3_mobilenet_v2(
    *, output_stride: int = OUTPUT_STRIDE, width: float, input_hw: tuple[int, int]
) -> DeepLabV3:
    """DeepLabv3 on MobileNetV2 of width multiplier ``width`` at output stride 8 (or 32: no
    dilation)."""
    return DeepLabV3(width, input_hw, output_stride)
