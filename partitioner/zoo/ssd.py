"""SSD with MobileNetV1 and MobileNetV2 feature extractors, after the TensorFlow Object Detection
API's ``ssd_mobilenet_v1_coco`` and ``ssd_mobilenet_v2_coco`` (300x300).

Six feature maps: two from the backbone (MobileNetV1: ``Conv2d_11_pointwise`` and
``Conv2d_13_pointwise``; MobileNetV2: the expansion output of ``layer_15`` and ``layer_19``), four
from extra layers (1x1 conv to half the depth, then a strided 3x3 conv, depthwise-separable for
MobileNetV2) of depths 512, 256, 256, 128. Each map feeds a 1x1 box conv (anchors x 4) and a 1x1
class conv (anchors x 91: 90 COCO classes + background); 3 anchors on the first map, 6 on the
others. The graph ends at these twelve convs (``BoxPredictor_<i>/BoxEncodingPredictor``,
``ClassPredictor``), where Hailo's parser ends; anchor decoding and NMS run on the host. Every
other conv is conv + BN + ReLU6. ``width`` is the depth multiplier of backbone and extra layers.

>>> net = ssd_mobilenet("v1", width=1.0)
>>> sum(p.numel() for p in net.parameters())
6819839
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from partitioner.zoo.blocks import ConvBnAct, make_divisible
from partitioner.zoo.mobilenet import V1_BLOCKS, V2_STAGES, DepthwiseSeparable, InvertedResidual

EXTRA_DEPTHS = (512, 256, 256, 128)  # the four extra feature maps
ANCHORS = (3, 6, 6, 6, 6, 6)  # per location on each map (reduce_boxes_in_lowest_layer)
CLASSES = 91  # 90 COCO classes + background
V1_TAP = 11  # Conv2d_11_pointwise: the first feature map, after 11 separable blocks
V2_TAP = 13  # layer_15: the 14th inverted residual, whose expansion is the first map


def _conv(c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1) -> ConvBnAct:
    return ConvBnAct(c_in, c_out, kernel, stride, groups=groups, act=nn.ReLU6)


def extra_layer(c_in: int, depth: int, *, depthwise: bool) -> nn.Sequential:
    """1x1 conv to ``depth / 2``, then a 3x3/2 conv to ``depth`` (depthwise 3x3/2 + 1x1 when
    ``depthwise``)."""
    reduce = _conv(c_in, depth // 2, 1)
    if depthwise:
        return nn.Sequential(
            reduce,
            _conv(depth // 2, depth // 2, 3, 2, groups=depth // 2),
            _conv(depth // 2, depth, 1),
        )
    return nn.Sequential(reduce, _conv(depth // 2, depth, 3, 2))


class MobileNetV1Features(nn.Module):
    """MobileNetV1 without its classifier: the ``Conv2d_11`` (stride 16) and ``Conv2d_13``
    (stride 32) maps."""

    def __init__(self, alpha: float) -> None:
        super().__init__()
        c_in = make_divisible(32 * alpha)
        self.stem = _conv(3, c_in, 3, 2)
        blocks = []
        for c, s in V1_BLOCKS:
            blocks.append(DepthwiseSeparable(c_in, make_divisible(c * alpha), s))
            c_in = make_divisible(c * alpha)
        self.to_conv11 = nn.Sequential(*blocks[:V1_TAP])
        self.to_conv13 = nn.Sequential(*blocks[V1_TAP:])
        self.channels = (blocks[V1_TAP - 1].pw.conv.out_channels, c_in)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The two feature maps."""
        c11 = self.to_conv11(self.stem(x))
        return c11, self.to_conv13(c11)


class MobileNetV2Features(nn.Module):
    """MobileNetV2 without its classifier: the expansion output of ``layer_15`` (stride 16,
    before its strided depthwise conv) and ``layer_19`` (the 1x1 conv to 1280, stride 32)."""

    def __init__(self, alpha: float) -> None:
        super().__init__()
        c_in = make_divisible(32 * alpha)
        self.stem = _conv(3, c_in, 3, 2)
        blocks = []
        for t, c, n, s in V2_STAGES:
            c_out = make_divisible(c * alpha)
            for i in range(n):
                blocks.append(InvertedResidual(c_in, c_out, s if i == 0 else 1, t))
                c_in = c_out
        self.to_layer15 = nn.Sequential(*blocks[:V2_TAP])
        self.layer15 = blocks[V2_TAP]
        self.to_layer18 = nn.Sequential(*blocks[V2_TAP + 1 :])
        self.layer19 = _conv(c_in, make_divisible(1280 * max(1.0, alpha)), 1)
        self.channels = (self.layer15.dw.conv.in_channels, self.layer19.conv.out_channels)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The two feature maps."""
        block = self.layer15
        assert block.expand is not None
        expanded = block.expand(self.to_layer15(self.stem(x)))
        y = block.project(block.dw(expanded))  # stride 2: no residual
        return expanded, self.layer19(self.to_layer18(y))


class SSD(nn.Module):
    """Backbone maps + extra layers, a 1x1 box conv and a 1x1 class conv on each of the six.

    ``forward`` returns ``(box_0, class_0, box_1, class_1, ..., box_5, class_5)``.
    """

    def __init__(self, backbone: nn.Module, channels: Sequence[int], extras: nn.ModuleList) -> None:
        super().__init__()
        self.backbone = backbone
        self.extras = extras
        self.box = nn.ModuleList(
            nn.Conv2d(c, a * 4, 1) for c, a in zip(channels, ANCHORS, strict=True)
        )
        self.cls = nn.ModuleList(
            nn.Conv2d(c, a * CLASSES, 1) for c, a in zip(channels, ANCHORS, strict=True)
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Box encodings and class logits of the six maps, map by map."""
        maps = list(self.backbone(x))
        for extra in self.extras:
            maps.append(extra(maps[-1]))
        outputs: list[torch.Tensor] = []
        for f, box, cls in zip(maps, self.box, self.cls, strict=True):
            outputs += [box(f), cls(f)]
        return tuple(outputs)


def ssd_mobilenet(version: str, *, width: float) -> SSD:
    """SSD with MobileNet ``v1`` or ``v2`` (depth multiplier ``width``), cut before the box
    decoding."""
    backbone: MobileNetV1Features | MobileNetV2Features
    if version == "v1":
        backbone = MobileNetV1Features(width)
    else:
        backbone = MobileNetV2Features(width)
    depths = [make_divisible(d * width) for d in EXTRA_DEPTHS]
    extras, c_in = [], backbone.channels[1]
    for depth in depths:
        extras.append(extra_layer(c_in, depth, depthwise=version == "v2"))
        c_in = depth
    return SSD(backbone, (*backbone.channels, *depths), nn.ModuleList(extras))
