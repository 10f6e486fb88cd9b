"""Building blocks shared by the zoo's networks, and the rounding rules of the width/depth knobs.

Every convolution here is a plain ``nn.Conv2d`` followed by ``nn.BatchNorm2d`` and an activation
module: the triple Hailo's parser fuses into one layer. Forward methods hold no data-dependent
control flow, so ``torch.fx.symbolic_trace`` traces every network built from these blocks.

>>> make_divisible(44.8, 8), round_up(80.0, 8), scale_repeats(9, 0.33)
(48, 80, 3)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import nn

ActFactory = Callable[[], nn.Module]


def make_divisible(value: float, divisor: int = 8) -> int:
    """``value`` rounded to the nearest multiple of ``divisor``, never below 90% of it.

    The rounding rule of the MobileNet/ResNet width multiplier (TF-slim, torchvision); the result
    is at least ``divisor``.

    >>> make_divisible(32 * 1.4), make_divisible(16 * 0.35), make_divisible(100)
    (48, 8, 104)
    """
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def round_up(value: float, divisor: int = 8) -> int:
    """``value`` rounded up to a multiple of ``divisor`` (Ultralytics' ``make_divisible``).

    >>> round_up(1024 * 0.25), round_up(1024 * 0.1)
    (256, 104)
    """
    return max(divisor, math.ceil(value / divisor) * divisor)


def scale_repeats(repeats: int, depth: float) -> int:
    """Ultralytics' depth rule: a repeated block (``repeats > 1``) runs ``round(n x depth)`` times.

    A block listed once stays once.

    >>> scale_repeats(3, 0.33), scale_repeats(6, 0.67), scale_repeats(1, 3.0)
    (1, 4, 1)
    """
    return max(round(repeats * depth), 1) if repeats > 1 else repeats


def scale_units(units: int, depth: float) -> int:
    """The number of residual units of a stage under a depth multiplier: ``round(n x depth)``, >= 1.

    >>> scale_units(3, 0.5), scale_units(6, 1.5), scale_units(1, 0.1)
    (2, 9, 1)
    """
    return max(1, math.floor(units * depth + 0.5))


class ConvBnAct(nn.Module):
    """Conv2d (no bias) + BatchNorm2d + optional activation, padded to keep ``H / stride``.

    ``act`` is a factory (``nn.ReLU``, ``nn.SiLU``, ...) or ``None`` for a linear output.
    """

    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernel: int = 1,
        stride: int = 1,
        *,
        groups: int = 1,
        act: ActFactory | None = nn.ReLU,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(c_out)
        self.act = act() if act is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``act(bn(conv(x)))``."""
        y = self.bn(self.conv(x))
        return y if self.act is None else self.act(y)


class Concat(nn.Module):
    """``torch.cat`` along channels, as a module so that layer indices match the reference YAMLs."""

    def forward(self, xs: Sequence[torch.Tensor]) -> torch.Tensor:
        """Concatenate ``xs`` along dimension 1."""
        return torch.cat(list(xs), dim=1)


class ClassifierHead(nn.Module):
    """Global average pool, flatten, optional hidden fully connected layers (each with ReLU) and
    a fully connected layer to ``classes`` logits.

    ``hidden`` lists the widths of the hidden layers (none by default: the ImageNet classifier).
    A batch norm after a hidden layer is left out: deployed, it folds into the layer's bias.
    """

    def __init__(self, c_in: int, classes: int = 1000, *, hidden: tuple[int, ...] = ()) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        layers: list[nn.Module] = []
        for width in hidden:
            layers += [nn.Linear(c_in, width), nn.ReLU()]
            c_in = width
        self.hidden = nn.Sequential(*layers)
        self.fc = nn.Linear(c_in, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of shape ``(N, classes)``."""
        return self.fc(self.hidden(torch.flatten(self.pool(x), 1)))
