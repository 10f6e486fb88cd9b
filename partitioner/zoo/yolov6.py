"""YOLOv6 release 0.1.0 (Meituan), as deployed: the EfficientRep backbone and Rep-PAN neck with
every RepVGG block re-parameterized into one 3x3 conv + ReLU, and the efficient decoupled head
(one 3x3 conv per branch, SiLU), cut like YOLOX's: per scale the box conv (4 channels) and the
sigmoids of the objectness (1) and class (80) convs; decoding and NMS run on the host.

Scaling follows YOLOv6: channels ``ceil8(c x width)``, block repeats ``round(n x depth)`` (a
block listed once stays once); the ``width`` and ``depth`` knobs multiply yolov6n's gains
(0.25, 0.33). The neck upsamples with 2x2/2 transposed convs.

>>> net = yolov6("n", width=1.0, depth=1.0)
>>> sum(p.numel() for p in net.parameters())
4321935
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from partitioner.zoo.blocks import ConvBnAct, round_up, scale_repeats
from partitioner.zoo.yolo_blocks import SPPF

# (depth gain, width gain) of each size (configs/yolov6*.py of release 0.1.0).
YOLOV6_SCALES = {"n": (0.33, 0.25)}
BACKBONE_CHANNELS, BACKBONE_REPEATS = (64, 128, 256, 512, 1024), (1, 6, 12, 18, 6)
NECK_CHANNELS, NECK_REPEATS = (256, 128, 128, 256, 256, 512), (12, 12, 12, 12)


def rep_vgg(c_in: int, c_out: int, stride: int = 1) -> ConvBnAct:
    """A deployed RepVGG block: its 3x3, 1x1 and identity branches fused into one 3x3 conv."""
    return ConvBnAct(c_in, c_out, 3, stride, act=nn.ReLU)


def rep_block(c_in: int, c_out: int, n: int) -> nn.Sequential:
    """``n`` chained RepVGG blocks, the first from ``c_in`` channels."""
    return nn.Sequential(*(rep_vgg(c_in if i == 0 else c_out, c_out) for i in range(n)))


class EfficientRep(nn.Module):
    """Strided RepVGG stem, four stages (strided RepVGG block + RepBlock), SimSPPF at the end;
    returns the stride 8, 16 and 32 maps."""

    def __init__(self, c: Sequence[int], n: Sequence[int]) -> None:
        super().__init__()
        self.stem = rep_vgg(3, c[0], 2)
        self.ERBlock_2 = nn.Sequential(rep_vgg(c[0], c[1], 2), rep_block(c[1], c[1], n[1]))
        self.ERBlock_3 = nn.Sequential(rep_vgg(c[1], c[2], 2), rep_block(c[2], c[2], n[2]))
        self.ERBlock_4 = nn.Sequential(rep_vgg(c[2], c[3], 2), rep_block(c[3], c[3], n[3]))
        self.ERBlock_5 = nn.Sequential(
            rep_vgg(c[3], c[4], 2), rep_block(c[4], c[4], n[4]), SPPF(c[4], c[4], 5, act=nn.ReLU)
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The ERBlock_3, ERBlock_4 and ERBlock_5 outputs."""
        c3 = self.ERBlock_3(self.ERBlock_2(self.stem(x)))
        c4 = self.ERBlock_4(c3)
        return c3, c4, self.ERBlock_5(c4)


class RepPAN(nn.Module):
    """Top-down: 1x1 reduce (SimConv), 2x2/2 transposed conv, concat, RepBlock; bottom-up: 3x3/2
    SimConv, concat with the reduced map, RepBlock. ``c`` holds the backbone's three channel
    counts then the neck's six."""

    def __init__(self, c: Sequence[int], n: Sequence[int]) -> None:
        super().__init__()
        b3, b4, b5, n0, n1, n2, n3, n4, n5 = c
        self.reduce_layer0 = ConvBnAct(b5, n0, 1, act=nn.ReLU)
        self.upsample0 = nn.ConvTranspose2d(n0, n0, 2, 2)
        self.Rep_p4 = rep_block(b4 + n0, n0, n[0])
        self.reduce_layer1 = ConvBnAct(n0, n1, 1, act=nn.ReLU)
        self.upsample1 = nn.ConvTranspose2d(n1, n1, 2, 2)
        self.Rep_p3 = rep_block(b3 + n1, n1, n[1])
        self.downsample2 = ConvBnAct(n1, n2, 3, 2, act=nn.ReLU)
        self.Rep_n3 = rep_block(n1 + n2, n3, n[2])
        self.downsample1 = ConvBnAct(n3, n4, 3, 2, act=nn.ReLU)
        self.Rep_n4 = rep_block(n0 + n4, n5, n[3])

    def forward(
        self, features: tuple[torch.Tensor, torch.Tensor, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The stride 8, 16 and 32 outputs."""
        x2, x1, x0 = features
        fpn_out0 = self.reduce_layer0(x0)
        f_out0 = self.Rep_p4(torch.cat([self.upsample0(fpn_out0), x1], 1))
        fpn_out1 = self.reduce_layer1(f_out0)
        pan_out2 = self.Rep_p3(torch.cat([self.upsample1(fpn_out1), x2], 1))
        pan_out1 = self.Rep_n3(torch.cat([self.downsample2(pan_out2), fpn_out1], 1))
        pan_out0 = self.Rep_n4(torch.cat([self.downsample1(pan_out1), fpn_out0], 1))
        return pan_out2, pan_out1, pan_out0


class EffiDeHead(nn.Module):
    """Per scale: 1x1 stem, a 3x3 class conv and a 3x3 box conv (SiLU), then 1x1 predictions:
    classes from the class branch, 4 box and 1 objectness from the box branch.

    ``forward`` returns ``(box_p3, sigmoid(obj_p3), sigmoid(cls_p3), box_p4, ...)``; without
    ``objectness`` (release 0.2.x, anchor-free without an objectness branch) ``(box_p3,
    sigmoid(cls_p3), box_p4, ...)``.
    """

    def __init__(
        self, channels: Sequence[int], *, classes: int = 80, objectness: bool = True
    ) -> None:
        super().__init__()
        self.stems = nn.ModuleList(ConvBnAct(c, c, 1, act=nn.SiLU) for c in channels)
        self.cls_convs = nn.ModuleList(ConvBnAct(c, c, 3, act=nn.SiLU) for c in channels)
        self.reg_convs = nn.ModuleList(ConvBnAct(c, c, 3, act=nn.SiLU) for c in channels)
        self.cls_preds = nn.ModuleList(nn.Conv2d(c, classes, 1) for c in channels)
        self.reg_preds = nn.ModuleList(nn.Conv2d(c, 4, 1) for c in channels)
        self.objectness = objectness
        self.obj_preds = nn.ModuleList(nn.Conv2d(c, 1, 1) for c in channels if objectness)

    def forward(self, xs: Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        """Box, objectness and class maps of each scale, scale by scale."""
        outputs: list[torch.Tensor] = []
        for i, x in enumerate(xs):
            x = self.stems[i](x)
            reg_feat = self.reg_convs[i](x)
            outputs.append(self.reg_preds[i](reg_feat))
            if self.objectness:
                outputs.append(torch.sigmoid(self.obj_preds[i](reg_feat)))
            outputs.append(torch.sigmoid(self.cls_preds[i](self.cls_convs[i](x))))
        return tuple(outputs)


class YOLOv6(nn.Module):
    """EfficientRep + Rep-PAN + efficient decoupled head."""

    def __init__(self, *, depth: float, width: float, objectness: bool = True) -> None:
        super().__init__()
        c = [round_up(x * width) for x in BACKBONE_CHANNELS + NECK_CHANNELS]
        n = [scale_repeats(x, depth) for x in BACKBONE_REPEATS + NECK_REPEATS]
        self.backbone = EfficientRep(c[:5], n[:5])
        self.neck = RepPAN(c[2:], n[5:])
        self.head = EffiDeHead((c[6], c[8], c[10]), objectness=objectness)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The head outputs (three per scale, two without objectness; strides 8, 16, 32)."""
        return self.head(self.neck(self.backbone(x)))


def yolov6(scale: str, *, objectness: bool = True, width: float, depth: float) -> YOLOv6:
    """YOLOv6 (release 0.1.0) size ``scale`` with its gains multiplied by ``width``, ``depth``;
    ``objectness=False`` drops the objectness convs, as release 0.2.1's head (the Model Zoo's
    ``yolov6n_0.2.1`` outputs box and class maps only)."""
    gain_d, gain_w = YOLOV6_SCALES[scale]
    return YOLOv6(depth=gain_d * depth, width=gain_w * width, objectness=objectness)
