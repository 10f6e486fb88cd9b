"""ResMLP-12 with ReLU (the Model Zoo's ``resmlp12_relu``; Touvron et al. 2021), in plain torch.

ResMLP is a ViT without attention or class token: a 16x16/16 patch conv makes 196 tokens of 384
channels; each of the 12 blocks mixes the tokens with ONE linear layer applied across them (the
same 196x196 matrix for every channel), then the channels with a two-layer MLP (4x wide). Both
halves are pre-normalized by an ``Affine`` (a learned per-channel scale and shift, no
statistics) and scaled by a learned per-channel "layer scale" before the residual add. A final
affine, the token average and a linear classifier end it. Hailo's variant replaces the MLP's
GELU with ReLU.

The affines and layer scales are per-channel multiplications and additions of the parameters:
the importer folds them into the layer that produces their input.

``width`` multiplies the 384 channels (rounded to a multiple of 8), ``depth`` the 12 blocks; the
input size sets the number of tokens and so the size of the token-mixing layers.

>>> net = resmlp(width=1.0, depth=1.0, input_hw=(224, 224))
>>> sum(p.numel() for p in net.parameters())
15350872
"""

from __future__ import annotations

import torch
from torch import nn

from partitioner.zoo.blocks import make_divisible, scale_units

DIM, BLOCKS, PATCH, MLP_RATIO = 384, 12, 16, 4


class Affine(nn.Module):
    """``alpha * x + beta`` with one learned scale and shift per channel."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(dim))
        self.beta = nn.Parameter(torch.zeros(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``alpha * x + beta`` over the last dim."""
        return self.alpha * x + self.beta


class Mlp(nn.Module):
    """``fc2(relu(fc1(x)))``."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``fc2(relu(fc1(x)))``."""
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Token mixing then channel MLP, each pre-normalized, layer-scaled and residual."""

    def __init__(self, dim: int, tokens: int) -> None:
        super().__init__()
        self.norm1 = Affine(dim)
        self.linear_tokens = nn.Linear(tokens, tokens)
        self.norm2 = Affine(dim)
        self.mlp = Mlp(dim, MLP_RATIO * dim)
        self.ls1 = nn.Parameter(torch.ones(dim))
        self.ls2 = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x + ls1 * mix(norm1(x))``, then ``x + ls2 * mlp(norm2(x))``."""
        mixed = self.linear_tokens(self.norm1(x).transpose(1, 2)).transpose(1, 2)
        x = x + self.ls1 * mixed
        return x + self.ls2 * self.mlp(self.norm2(x))


class ResMLP(nn.Module):
    """Patch conv, blocks, final affine, token average, linear classifier."""

    def __init__(self, dim: int, blocks: int, input_hw: tuple[int, int]) -> None:
        super().__init__()
        tokens = (input_hw[0] // PATCH) * (input_hw[1] // PATCH)
        self.patch_embed = nn.Conv2d(3, dim, PATCH, PATCH)
        self.blocks = nn.Sequential(*(Block(dim, tokens) for _ in range(blocks)))
        self.norm = Affine(dim)
        self.head = nn.Linear(dim, 1000)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, 1000)`` of an image batch ``(N, 3, H, W)``."""
        x = self.patch_embed(x).flatten(2).transpose(1, 2)
        x = self.norm(self.blocks(x))
        return self.head(x.mean(1))


def resmlp(*, width: float, depth: float, input_hw: tuple[int, int]) -> ResMLP:
    """ResMLP-12 (ReLU) with ``384 x width`` channels and ``round(12 x depth)`` blocks."""
    return ResMLP(make_divisible(DIM * width), scale_units(BLOCKS, depth), input_hw)
