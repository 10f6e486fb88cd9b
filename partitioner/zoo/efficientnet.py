"""EfficientNet-Lite0-4 and EfficientNet-EdgeTPU-S/M/L (tensorflow/tpu), in plain torch.

Both families scale one block table with the compound-scaling coefficients of the paper: the
width coefficient multiplies every channel count (rounded to a multiple of 8, never below 90%,
``round_filters``), the depth coefficient every stage's repeats (rounded up, ``round_repeats``).
The zoo's ``width`` and ``depth`` knobs multiply the network's own coefficients (EfficientNet-Lite2
is ``(1.1, 1.2)``: ``width=1.2`` on it is a width coefficient of 1.32); the input side is a
separate knob, the Model Zoo row's input by default (224 to 300).

* **Lite** (``efficientnet_lite_builder.py``): the EfficientNet-B0 table without
  squeeze-and-excitation, ReLU6 instead of swish, and a fixed stem (32), head (1280) and first
  and last stage repeats ("fix_head_stem"); 1000 classes.
* **EdgeTPU** (``edgetpu/efficientnet_edgetpu_builder.py``): ReLU, no squeeze-and-excitation,
  and "fused" blocks in the first three stages (``conv_type 1``, tensorflow's
  ``MBConvBlockWithoutDepthwise``): a full 3x3 expansion conv at stride 1, then the 1x1
  projection carries the stride; no depthwise conv. Stem and head scale with the width; 1001
  classes. The first block expands the stem's 32 channels to 24 x 4 = 96 (the table's declared
  input, 24, sets the expansion) and has no skip connection.

Padding is TF's "SAME": ``ceil(H / stride)`` outputs, which ``kernel // 2`` padding gives for
odd kernels at any input side, so 260 or 300 inputs need no cropping.

>>> net = efficientnet_lite(width_coefficient=1.0, depth_coefficient=1.0, width=1.0, depth=1.0)
>>> sum(p.numel() for p in net.parameters())
4652008
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from partitioner.zoo.blocks import ActFactory, ClassifierHead, ConvBnAct, make_divisible


@dataclass(frozen=True, kw_only=True)
class Stage:
    """One row of a block table (``r1_k3_s11_e1_i32_o16`` in tensorflow's notation)."""

    repeats: int
    kernel: int
    stride: int
    expand: int
    c_in: int  # declared input channels: sets the expansion width of the first block
    c_out: int
    fused: bool = False  # conv_type 1: 3x3 expansion conv, strided 1x1 projection
    skip: bool = True  # False for "noskip"


# efficientnet-b0's table (the lite models drop its se0.25).
LITE_STAGES = (
    Stage(repeats=1, kernel=3, stride=1, expand=1, c_in=32, c_out=16),
    Stage(repeats=2, kernel=3, stride=2, expand=6, c_in=16, c_out=24),
    Stage(repeats=2, kernel=5, stride=2, expand=6, c_in=24, c_out=40),
    Stage(repeats=3, kernel=3, stride=2, expand=6, c_in=40, c_out=80),
    Stage(repeats=3, kernel=5, stride=1, expand=6, c_in=80, c_out=112),
    Stage(repeats=4, kernel=5, stride=2, expand=6, c_in=112, c_out=192),
    Stage(repeats=1, kernel=3, stride=1, expand=6, c_in=192, c_out=320),
)

EDGETPU_STAGES = (
    Stage(repeats=1, kernel=3, stride=1, expand=4, c_in=24, c_out=24, fused=True, skip=False),
    Stage(repeats=2, kernel=3, stride=2, expand=8, c_in=24, c_out=32, fused=True),
    Stage(repeats=4, kernel=3, stride=2, expand=8, c_in=32, c_out=48, fused=True),
    Stage(repeats=5, kernel=5, stride=2, expand=8, c_in=48, c_out=96),
    Stage(repeats=4, kernel=5, stride=1, expand=8, c_in=96, c_out=144),
    Stage(repeats=2, kernel=5, stride=2, expand=8, c_in=144, c_out=192),
)

STEM, HEAD = 32, 1280


class MBConv(nn.Module):
    """Inverted residual: 1x1 expansion (none if ``expand == 1``), kxk depthwise (strided),
    1x1 linear projection; ``x`` is added back when the block keeps the shape."""

    def __init__(
        self, c_in: int, c_mid: int, c_out: int, kernel: int, stride: int, act: ActFactory
    ) -> None:
        super().__init__()
        self.expand = ConvBnAct(c_in, c_mid, 1, act=act) if c_mid != c_in else None
        self.dw = ConvBnAct(c_mid, c_mid, kernel, stride, groups=c_mid, act=act)
        self.project = ConvBnAct(c_mid, c_out, 1, act=None)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``project(dw(expand(x)))``, plus ``x`` when the shape is kept."""
        y = x if self.expand is None else self.expand(x)
        y = self.project(self.dw(y))
        return x + y if self.residual else y


class FusedMBConv(nn.Module):
    """EdgeTPU's fused block: 3x3 expansion conv at stride 1, 1x1 linear projection carrying the
    stride; ``x`` is added back when ``skip`` and the block keeps the shape."""

    def __init__(
        self, c_in: int, c_mid: int, c_out: int, stride: int, act: ActFactory, skip: bool
    ) -> None:
        super().__init__()
        self.expand = ConvBnAct(c_in, c_mid, 3, act=act)
        self.project = ConvBnAct(c_mid, c_out, 1, stride, act=None)
        self.residual = skip and stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``project(expand(x))``, plus ``x`` when the shape is kept."""
        y = self.project(self.expand(x))
        return x + y if self.residual else y


class EfficientNet(nn.Module):
    """Stem 3x3/2 conv, the stages ``blocks``, 1x1 head conv, pooled classifier."""

    def __init__(
        self,
        stem: int,
        blocks: list[nn.Module],
        c_last: int,
        *,
        head: int,
        act: ActFactory,
        classes: int,
    ) -> None:
        super().__init__()
        self.stem = ConvBnAct(3, stem, 3, 2, act=act)
        self.blocks = nn.Sequential(*blocks)
        self.head_conv = ConvBnAct(c_last, head, 1, act=act)
        self.head = ClassifierHead(head, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, classes)`` of an image batch ``(N, 3, H, W)``."""
        return self.head(self.head_conv(self.blocks(self.stem(x))))


def round_repeats(repeats: int, depth: float) -> int:
    """tensorflow's ``round_repeats``: ``ceil(depth x repeats)``.

    >>> round_repeats(3, 1.1), round_repeats(4, 1.8), round_repeats(1, 0.34)
    (4, 8, 1)
    """
    return int(math.ceil(depth * repeats))


def _blocks(
    stages: tuple[Stage, ...],
    c_in: int,
    width: float,
    repeats: list[int],
    act: ActFactory,
) -> tuple[list[nn.Module], int]:
    """The blocks of ``stages`` at width coefficient ``width`` with ``repeats`` per stage, from
    ``c_in`` input channels; also returns the last block's output channels."""
    blocks: list[nn.Module] = []
    for stage, count in zip(stages, repeats, strict=True):
        declared = make_divisible(stage.c_in * width)
        c_out = make_divisible(stage.c_out * width)
        for j in range(count):
            stride = stage.stride if j == 0 else 1
            c_mid = (declared if j == 0 else c_out) * stage.expand
            if stage.fused:
                skip = stage.skip and (declared if j == 0 else c_out) == c_out
                blocks.append(FusedMBConv(c_in, c_mid, c_out, stride, act, skip))
            else:
                c_mid = c_in if stage.expand == 1 else c_mid
                blocks.append(MBConv(c_in, c_mid, c_out, stage.kernel, stride, act))
            c_in = c_out
    return blocks, c_in


def efficientnet_lite(
    *, width_coefficient: float, depth_coefficient: float, width: float, depth: float
) -> EfficientNet:
    """EfficientNet-Lite at ``(width_coefficient, depth_coefficient)`` times the knobs: Lite0
    ``(1.0, 1.0)``, Lite1 ``(1.0, 1.1)``, Lite2 ``(1.1, 1.2)``, Lite3 ``(1.2, 1.4)``, Lite4
    ``(1.4, 1.8)``.

    Stem (32), head (1280) and the repeats of the first and last stage are not scaled.
    """
    w, d = width_coefficient * width, depth_coefficient * depth
    last = len(LITE_STAGES) - 1
    repeats = [
        s.repeats if i in (0, last) else round_repeats(s.repeats, d)
        for i, s in enumerate(LITE_STAGES)
    ]
    blocks, c_last = _blocks(LITE_STAGES, STEM, w, repeats, nn.ReLU6)
    return EfficientNet(STEM, blocks, c_last, head=HEAD, act=nn.ReLU6, classes=1000)


def efficientnet_edgetpu(
    *, width_coefficient: float, depth_coefficient: float, width: float, depth: float
) -> EfficientNet:
    """EfficientNet-EdgeTPU at ``(width_coefficient, depth_coefficient)`` times the knobs: S
    ``(1.0, 1.0)``, M ``(1.0, 1.1)``, L ``(1.2, 1.4)``. Every count scales, stem and head too."""
    w, d = width_coefficient * width, depth_coefficient * depth
    stem = make_divisible(STEM * w)
    repeats = [round_repeats(s.repeats, d) for s in EDGETPU_STAGES]
    blocks, c_last = _blocks(EDGETPU_STAGES, stem, w, repeats, nn.ReLU)
    head = make_divisible(HEAD * w)
    return EfficientNet(stem, blocks, c_last, head=head, act=nn.ReLU, classes=1001)
