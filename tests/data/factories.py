"""Model factories for CLI tests (MODEL = tests/data/factories.py:NAME)."""

import sys

import torch
from torch import nn


class Tiny(nn.Module):
    def __init__(self, width: float = 1.0) -> None:
        super().__init__()
        c = max(1, int(16 * width))
        self.conv = nn.Conv2d(3, c, 3, padding=1)
        self.bn = nn.BatchNorm2d(c)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class FFT(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.fft.fft2(x).real


def tiny(width: float = 1.0) -> nn.Module:
    return Tiny(width)


def uses_fft() -> nn.Module:
    return FFT()


def exits() -> nn.Module:
    """A factory written as a script: it exits instead of returning."""
    sys.exit(3)


def raises() -> nn.Module:
    raise RuntimeError("weights not found")


def not_a_module() -> int:
    return 42
