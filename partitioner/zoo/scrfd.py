"""SCRFD-2.5GF and -10GF with keypoints (Guo et al. 2021, insightface ``scrfd_2.5g_bnkps`` and
``scrfd_10g_bnkps``), cut where Hailo's ``scrfd_2.5g`` is: at the nine per-level outputs, before
the sigmoid and the reshapes.

Backbone: mmdet's ResNetV1e (a deep stem of three 3x3 convs to 12, 12 and 24 channels, a 2x2/2
max-pool, then BasicBlock stages of (3, 5, 3, 2) blocks with (24, 48, 48, 80) channels; a
strided shortcut is a 2x2/2 average pool and a 1x1 conv). Neck: PAFPN over the stride-8, 16
and 32 maps with 24 channels (1x1 laterals, nearest 2x upsample + add, 3x3 convs, then a
bottom-up path of 3x3/2 convs + add and 3x3 convs; mmdet's FPN convs have biases and neither
norm nor activation). Head, one per level: two 3x3 convs to 64 channels (BN, ReLU) shared by
three 3x3 output convs for 2 anchors: face scores (2 channels), boxes (8, times a learned
scalar per level) and five keypoints (20).

SCRFD-10GF (``VARIANTS["10g"]``): stem 28, 28, 56; stages of (3, 4, 2, 3) blocks with (56, 88,
88, 224) channels; a 56-channel PAFPN; heads of three 3x3 convs of 80 channels. Its config
shares one head across the levels (``strides_share``) and normalizes the head with group norms;
here each level has its own head (the Model Zoo row's 4.23 M counts the head once per level:
4,229,905 here, against 3.87 M with one shared head) and the norms are batch norms (the same
parameters).

SCRFD-500MF (``VARIANTS["500m"]``) has a MobileNetV1 backbone (ReLU): a 3x3/2 conv to 16 and a
depthwise-separable block to 16, then stages of (2, 3, 2, 6) depthwise-separable blocks with
(40, 72, 152, 288) channels, the first of each strided; a 16-channel PAFPN; heads whose two
stacked convs are depthwise-separable (3x3 depthwise + BN + ReLU, 1x1 to 64 + BN + ReLU; the
config's ``dw_conv``), output convs as above.

>>> net = scrfd(width=1.0, depth=1.0)
>>> sum(p.numel() for p in net.parameters())
819809
"""

from __future__ import annotations

import torch
from torch import nn

from partitioner.zoo.blocks import ConvBnAct, make_divisible, scale_units
from partitioner.zoo.mobilenet import DepthwiseSeparable
from partitioner.zoo.resnet import BasicBlock

# (stem, ((channels, blocks) per stage), neck, head width, head convs, MobileNet backbone and
# depthwise-separable head convs) of each variant
VARIANTS = {
    "500m": (16, ((40, 2), (72, 3), (152, 2), (288, 6)), 16, 64, 2, True),
    "2.5g": (24, ((24, 3), (48, 5), (48, 3), (80, 2)), 24, 64, 2, False),
    "10g": (56, ((56, 3), (88, 4), (88, 2), (224, 3)), 56, 80, 3, False),
}
ANCHORS = 2  # per position and level
KEYPOINTS = 5


class AvgDownBlock(BasicBlock):
    """A :class:`~partitioner.zoo.resnet.BasicBlock` whose strided shortcut is ResNet-D's: a
    ``stride x stride`` average pool (ceil mode) then a 1x1 conv + BN."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__(c_in, c_out, stride)
        if self.shortcut is not None:
            self.shortcut = nn.Sequential(
                nn.AvgPool2d(stride, stride, ceil_mode=True, count_include_pad=False),
                ConvBnAct(c_in, c_out, 1, act=None),
            )


class PAFPN(nn.Module):
    """FPN (laterals, top-down adds, 3x3 convs) plus a bottom-up path (3x3/2 convs, adds, 3x3
    convs); every conv has a bias and no norm or activation."""

    def __init__(self, channels: tuple[int, ...], c_out: int) -> None:
        super().__init__()
        levels = len(channels)
        self.lateral_convs = nn.ModuleList(nn.Conv2d(c, c_out, 1) for c in channels)
        self.fpn_convs = nn.ModuleList(nn.Conv2d(c_out, c_out, 3, padding=1) for _ in channels)
        self.downsample_convs = nn.ModuleList(
            nn.Conv2d(c_out, c_out, 3, 2, 1) for _ in range(levels - 1)
        )
        self.pafpn_convs = nn.ModuleList(
            nn.Conv2d(c_out, c_out, 3, padding=1) for _ in range(levels - 1)
        )
        self.upsample = nn.Upsample(scale_factor=2, mode="nearest")

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        """The three output maps, finest first."""
        laterals = [conv(x) for conv, x in zip(self.lateral_convs, xs, strict=True)]
        for i in range(len(laterals) - 1, 0, -1):
            laterals[i - 1] = laterals[i - 1] + self.upsample(laterals[i])
        inter = [conv(x) for conv, x in zip(self.fpn_convs, laterals, strict=True)]
        for i, down in enumerate(self.downsample_convs):
            inter[i + 1] = inter[i + 1] + down(inter[i])
        return [inter[0], *(conv(x) for conv, x in zip(self.pafpn_convs, inter[1:], strict=True))]


class Scale(nn.Module):
    """Multiply by one learned scalar (mmcv's ``Scale``)."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x * scale``."""
        return x * self.scale


class SCRFDLevel(nn.Module):
    """One level's head: ``convs`` 3x3 convs (BN, ReLU), then score, scaled box and keypoint
    convs."""

    def __init__(self, c_in: int, c_mid: int, convs: int = 2, separable: bool = False) -> None:
        super().__init__()

        def conv(c: int) -> nn.Module:
            return DepthwiseSeparable(c, c_mid, 1, nn.ReLU) if separable else ConvBnAct(c, c_mid, 3)

        self.convs = nn.Sequential(*(conv(c_in if i == 0 else c_mid) for i in range(convs)))
        self.cls = nn.Conv2d(c_mid, ANCHORS, 3, padding=1)
        self.reg = nn.Conv2d(c_mid, 4 * ANCHORS, 3, padding=1)
        self.scale = Scale()
        self.kps = nn.Conv2d(c_mid, 2 * KEYPOINTS * ANCHORS, 3, padding=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Boxes ``(N, 8, H, W)``, scores ``(N, 2, H, W)``, keypoints ``(N, 20, H, W)``."""
        y = self.convs(x)
        return self.scale(self.reg(y)), self.cls(y), self.kps(y)


class SCRFD(nn.Module):
    """ResNetV1e (or MobileNetV1) backbone, PAFPN on its last three stages, one head per
    level."""

    def __init__(self, width: float, depth: float, variant: str = "2.5g") -> None:
        super().__init__()
        stem_width, stage_cfg, neck_width, head_width, head_convs, mobile = VARIANTS[variant]
        stem = make_divisible(stem_width * width)
        if mobile:  # 3x3/2 conv, separable block, no pool; every stage opens with a stride
            self.stem = nn.Sequential(
                ConvBnAct(3, stem, 3, 2), DepthwiseSeparable(stem, stem, 1, nn.ReLU)
            )
        else:  # deep stem, 2x2/2 max-pool; stages 2-4 open with a stride
            self.stem = nn.Sequential(
                ConvBnAct(3, stem // 2, 3, 2),
                ConvBnAct(stem // 2, stem // 2, 3),
                ConvBnAct(stem // 2, stem, 3),
                nn.MaxPool2d(2, 2),
            )
        c_in, stages, channels = stem, [], []
        for i, (c, n) in enumerate(stage_cfg):
            c_out = make_divisible(c * width)
            blocks: list[nn.Module] = []
            for j in range(scale_units(n, depth)):
                stride = 2 if j == 0 and (mobile or i > 0) else 1
                if mobile:
                    blocks.append(DepthwiseSeparable(c_in, c_out, stride, nn.ReLU))
                else:
                    blocks.append(AvgDownBlock(c_in, c_out, stride))
                c_in = c_out
            stages.append(nn.Sequential(*blocks))
            channels.append(c_out)
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        neck = make_divisible(neck_width * width)
        self.neck = PAFPN(tuple(channels[1:]), neck)
        head = make_divisible(head_width * width)
        self.heads = nn.ModuleList(
            SCRFDLevel(neck, head, head_convs, separable=mobile) for _ in range(3)
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Per level (strides 8, 16, 32): boxes, scores, keypoints."""
        x = self.layer1(self.stem(x))
        c3 = self.layer2(x)
        c4 = self.layer3(c3)
        c5 = self.layer4(c4)
        outputs: list[torch.Tensor] = []
        for head, feature in zip(self.heads, self.neck([c3, c4, c5]), strict=True):
            outputs += head(feature)
        return tuple(outputs)


def scrfd(*, variant: str = "2.5g", width: float, depth: float) -> SCRFD:
    """SCRFD-2.5GF (or ``variant`` "500m", "10g") with keypoints; ``width`` scales every channel
    count, ``depth`` the blocks per stage."""
    return SCRFD(width, depth, variant)
