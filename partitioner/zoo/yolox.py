"""YOLOX (Megvii): CSPDarknet backbone, PAFPN neck and the decoupled head, cut where Hailo's
parser ends: per scale the box regression conv (4 channels) and the sigmoids of the objectness
(1) and class (80) convs (``Conv_197``, ``Sigmoid_199``, ``Sigmoid_200``, ...); the grid decoding
and NMS run on the host.

The Model Zoo compiles ``yolox_s_leaky`` and ``yolox_l_leaky`` (LeakyReLU 0.1 instead of SiLU,
same sizes), ``yolox_s_wide_leaky`` (YOLOX-S at width 0.75: 20.12 M in the Model Zoo table,
20,133,855 here) and ``yolox_tiny`` (SiLU, 416x416). Scaling follows YOLOX: channels
``int(c x width)``, CSP repeats ``round(n x depth)`` (at least 1); the ``width`` and ``depth``
knobs multiply the model's own gains.

>>> net = yolox("s", act="leaky", width=1.0, depth=1.0)
>>> sum(p.numel() for p in net.parameters())
8968255
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from partitioner.zoo.blocks import ActFactory, ConvBnAct
from partitioner.zoo.yolo_blocks import C3, SPP, Bottleneck, Focus, leaky_relu

# (depth gain, width gain) of each YOLOX size (exps/default/yolox_*.py).
YOLOX_SCALES = {"tiny": (0.33, 0.375), "s": (0.33, 0.50), "s_wide": (0.33, 0.75), "l": (1.0, 1.0)}
ACTIVATIONS: dict[str, ActFactory] = {"silu": nn.SiLU, "leaky": leaky_relu}


def csp_layer(c_in: int, c_out: int, n: int, *, shortcut: bool, act: ActFactory) -> C3:
    """YOLOX's ``CSPLayer``: a C3 of hidden width ``c_out / 2``, its n bottlenecks 1x1 + 3x3."""
    c_mid = int(c_out * 0.5)
    blocks = [
        Bottleneck(c_mid, c_mid, shortcut=shortcut, kernels=(1, 3), expand=1.0, act=act)
        for _ in range(n)
    ]
    return C3(c_in, c_out, blocks, c_mid, act=act)


class CSPDarknet(nn.Module):
    """Focus stem, then four stages (3x3/2 conv + CSP layer); the last has an SPP before its
    CSP layer (without shortcuts). Returns the stride 8, 16 and 32 maps."""

    def __init__(self, base: int, base_depth: int, act: ActFactory) -> None:
        super().__init__()
        self.stem = Focus(3, base, 3, act=act)
        self.dark2 = self._stage(base, 2 * base, base_depth, act)
        self.dark3 = self._stage(2 * base, 4 * base, 3 * base_depth, act)
        self.dark4 = self._stage(4 * base, 8 * base, 3 * base_depth, act)
        self.dark5 = nn.Sequential(
            ConvBnAct(8 * base, 16 * base, 3, 2, act=act),
            SPP(16 * base, 16 * base, act=act),
            csp_layer(16 * base, 16 * base, base_depth, shortcut=False, act=act),
        )

    @staticmethod
    def _stage(c_in: int, c_out: int, n: int, act: ActFactory) -> nn.Sequential:
        return nn.Sequential(
            ConvBnAct(c_in, c_out, 3, 2, act=act),
            csp_layer(c_out, c_out, n, shortcut=True, act=act),
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The dark3, dark4 and dark5 outputs."""
        c3 = self.dark3(self.dark2(self.stem(x)))
        c4 = self.dark4(c3)
        return c3, c4, self.dark5(c4)


class PAFPN(nn.Module):
    """YOLOX's path aggregation: top-down (1x1 reduce, upsample, concat, CSP) then bottom-up
    (3x3/2 conv, concat, CSP), on channels ``c = (c3, c4, c5)``."""

    def __init__(self, c: Sequence[int], n: int, act: ActFactory) -> None:
        super().__init__()
        c3, c4, c5 = c
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.lateral_conv0 = ConvBnAct(c5, c4, 1, act=act)
        self.C3_p4 = csp_layer(2 * c4, c4, n, shortcut=False, act=act)
        self.reduce_conv1 = ConvBnAct(c4, c3, 1, act=act)
        self.C3_p3 = csp_layer(2 * c3, c3, n, shortcut=False, act=act)
        self.bu_conv2 = ConvBnAct(c3, c3, 3, 2, act=act)
        self.C3_n3 = csp_layer(2 * c3, c4, n, shortcut=False, act=act)
        self.bu_conv1 = ConvBnAct(c4, c4, 3, 2, act=act)
        self.C3_n4 = csp_layer(2 * c4, c5, n, shortcut=False, act=act)

    def forward(
        self, features: tuple[torch.Tensor, torch.Tensor, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The stride 8, 16 and 32 outputs."""
        x2, x1, x0 = features
        fpn_out0 = self.lateral_conv0(x0)
        f_out0 = self.C3_p4(torch.cat([self.up(fpn_out0), x1], 1))
        fpn_out1 = self.reduce_conv1(f_out0)
        pan_out2 = self.C3_p3(torch.cat([self.up(fpn_out1), x2], 1))
        pan_out1 = self.C3_n3(torch.cat([self.bu_conv2(pan_out2), fpn_out1], 1))
        pan_out0 = self.C3_n4(torch.cat([self.bu_conv1(pan_out1), fpn_out0], 1))
        return pan_out2, pan_out1, pan_out0


class DecoupledHead(nn.Module):
    """Per scale: a 1x1 stem to ``hidden`` channels, then a class branch (two 3x3 convs, 1x1 to
    ``classes``) and a box branch (two 3x3 convs, 1x1 to 4 box and 1x1 to 1 objectness).

    ``forward`` returns ``(box_p3, sigmoid(obj_p3), sigmoid(cls_p3), box_p4, ...)``.
    """

    def __init__(
        self, channels: Sequence[int], hidden: int, act: ActFactory, *, classes: int = 80
    ) -> None:
        super().__init__()

        def branch() -> nn.Sequential:
            return nn.Sequential(
                ConvBnAct(hidden, hidden, 3, act=act), ConvBnAct(hidden, hidden, 3, act=act)
            )

        self.stems = nn.ModuleList(ConvBnAct(c, hidden, 1, act=act) for c in channels)
        self.cls_convs = nn.ModuleList(branch() for _ in channels)
        self.reg_convs = nn.ModuleList(branch() for _ in channels)
        self.cls_preds = nn.ModuleList(nn.Conv2d(hidden, classes, 1) for _ in channels)
        self.reg_preds = nn.ModuleList(nn.Conv2d(hidden, 4, 1) for _ in channels)
        self.obj_preds = nn.ModuleList(nn.Conv2d(hidden, 1, 1) for _ in channels)

    def forward(self, xs: Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        """Box, objectness and class maps of each scale, scale by scale."""
        outputs: list[torch.Tensor] = []
        for i, x in enumerate(xs):
            x = self.stems[i](x)
            reg_feat = self.reg_convs[i](x)
            outputs += [
                self.reg_preds[i](reg_feat),
                torch.sigmoid(self.obj_preds[i](reg_feat)),
                torch.sigmoid(self.cls_preds[i](self.cls_convs[i](x))),
            ]
        return tuple(outputs)


class YOLOX(nn.Module):
    """CSPDarknet + PAFPN + decoupled head."""

    def __init__(self, *, depth: float, width: float, act: ActFactory) -> None:
        super().__init__()

        def ch(c: int) -> int:
            return max(1, int(c * width))

        channels = (ch(256), ch(512), ch(1024))
        self.backbone = CSPDarknet(ch(64), max(round(depth * 3), 1), act)
        self.neck = PAFPN(channels, max(round(depth * 3), 1), act)
        self.head = DecoupledHead(channels, ch(256), act)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The nine head outputs (three per scale, strides 8, 16, 32)."""
        return self.head(self.neck(self.backbone(x)))


def yolox(scale: str, *, act: str, width: float, depth: float) -> YOLOX:
    """YOLOX ``tiny``/``s``/``l`` with activation ``act`` (``silu`` or ``leaky``), the gains
    multiplied by ``width`` and ``depth``."""
    gain_d, gain_w = YOLOX_SCALES[scale]
    return YOLOX(depth=gain_d * depth, width=gain_w * width, act=ACTIVATIONS[act])
