"""LeViT-128 (Graham et al. 2021, facebookresearch/LeViT), in plain torch.

A convolutional stem (four 3x3/2 convs with BN, hard-swish between them) turns the image into a
14x14 grid of 128-channel tokens; three stages of residual attention and MLP blocks follow, the
second and third opened by a shrinking attention block that queries a 2x subsampled grid
(14 -> 7 -> 4) and widens the tokens (128 -> 256 -> 384). The tokens are averaged and two
classifiers (the class head and the distillation head) are averaged at inference.

LeViT's blocks, in the inference form its reference code deploys (``fuse=True``:
``utils.replace_batchnorm`` merges every batch norm into its neighbouring conv or linear layer,
which gains a bias; the Model Zoo compiles that graph, ``LeViT_128_simp.onnx``):

* ``Linear_BN`` (a bias-free linear layer and a batch norm) is one linear layer;
* attention: per head a 16-channel query and key and a ``2 x 16`` value (``4 x 16`` in the
  shrinking blocks), ``softmax(q k^T / 4 + B)`` with ``B`` a learned bias per head and per
  relative offset ``(|dy|, |dx|)`` between query and key positions; hard-swish before the
  output projection;
* MLP: ``Linear(C, 2C)``, hard-swish, ``Linear(2C, C)``;
* heads: ``BN_Linear`` (batch norm, then linear) is one linear layer.

The bias table ``B`` is gathered from its ``(heads, offsets)`` parameter with indices computed
in ``forward`` from ``torch.arange`` (no index buffer: the zoo builds modules without data).

``width`` multiplies the token widths and head counts, ``depth`` the blocks per stage (4);
the input size sets the token grid (``H / 16`` by ``W / 16``) and so the bias tables.

>>> net = levit(width=1.0, depth=1.0, input_hw=(224, 224))
>>> sum(p.numel() for p in net.parameters())
9188864
"""

from __future__ import annotations

import torch
from torch import nn

from partitioner.zoo.blocks import make_divisible, scale_units

EMBED = (128, 256, 384)
HEADS = (4, 8, 12)
BLOCKS = 4
KEY_DIM = 16
PATCH = 16


def _down(side: int, stride: int = 2) -> int:
    return (side - 1) // stride + 1


def conv_bn(c_in: int, c_out: int) -> nn.Conv2d:
    """LeViT's ``Conv2d_BN`` (3x3/2) deployed: one conv with a bias."""
    return nn.Conv2d(c_in, c_out, 3, 2, 1)


class AttentionBias(nn.Module):
    """A learned bias per head and relative offset ``(|dy|, |dx|)`` between a grid of queries
    (the key grid subsampled by ``stride``) and a grid of keys."""

    def __init__(self, heads: int, grid: tuple[int, int], stride: int) -> None:
        super().__init__()
        self.grid, self.stride = grid, stride
        # |q * stride - k| takes every value in [0, side) along each axis: side^2 offsets
        self.attention_biases = nn.Parameter(torch.zeros(heads, grid[0] * grid[1]))

    def forward(self) -> torch.Tensor:
        """The ``(heads, queries, keys)`` bias table."""
        (h, w), s = self.grid, self.stride
        dy = (torch.arange(_down(h, s))[:, None] * s - torch.arange(h)[None, :]).abs()
        dx = (torch.arange(_down(w, s))[:, None] * s - torch.arange(w)[None, :]).abs()
        index = dy[:, None, :, None] * w + dx[None, :, None, :]  # (qy, qx, ky, kx)
        queries, keys = _down(h, s) * _down(w, s), h * w
        return self.attention_biases[:, index.reshape(queries, keys)]


class Attention(nn.Module):
    """Multi-head attention with biases; the query grid is the key grid subsampled by
    ``stride`` (a shrinking block, without residual) or the key grid itself (``stride`` 1).

    ``qkv`` (or ``kv`` and ``q``) and ``proj`` are LeViT's ``Linear_BN`` layers, deployed."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        heads: int,
        ratio: int,
        grid: tuple[int, int],
        stride: int,
        key_dim: int = KEY_DIM,
    ) -> None:
        super().__init__()
        self.heads, self.stride, self.grid, self.key_dim = heads, stride, grid, key_dim
        self.d = ratio * key_dim
        self.scale = key_dim**-0.5
        if stride == 1:
            self.qkv = nn.Linear(c_in, heads * (2 * key_dim + self.d))
        else:
            self.kv = nn.Linear(c_in, heads * (key_dim + self.d))
            # LeViT subsamples the token grid with a strided slice; a 1x1 max-pool of the same
            # stride keeps the same positions, as one layer for both importers
            self.subsample = nn.MaxPool2d(1, stride)
            self.q = nn.Linear(c_in, heads * key_dim)
        self.bias = AttentionBias(heads, grid, stride)
        self.act = nn.Hardswish()
        self.proj = nn.Linear(heads * self.d, c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``proj(hardswish(softmax(q k^T * scale + bias) v))``, heads merged; ``qkv`` / ``kv``,
        ``q`` and ``proj`` are LeViT's ``Linear_BN`` layers deployed."""
        b, n, kd = x.shape[0], x.shape[1], self.key_dim
        if self.stride == 1:
            qkv = self.qkv(x).view(b, n, self.heads, -1)
            q, k, v = qkv.split([kd, kd, self.d], dim=3)
        else:
            k, v = self.kv(x).view(b, n, self.heads, -1).split([kd, self.d], dim=3)
            h, w = self.grid
            grid = self.subsample(x.transpose(1, 2).reshape(b, x.shape[2], h, w))
            q = self.q(grid.flatten(2).transpose(1, 2)).view(b, -1, self.heads, kd)
        q, k, v = q.permute(0, 2, 1, 3), k.permute(0, 2, 1, 3), v.permute(0, 2, 1, 3)
        attn = ((q @ k.transpose(-2, -1)) * self.scale + self.bias()).softmax(dim=-1)
        # hard-swish is elementwise: applied before the heads are merged back (LeViT applies it
        # after), the head merge feeds the projection directly and moves no data
        y = self.act(attn @ v).transpose(1, 2).reshape(b, q.shape[2], self.heads * self.d)
        return self.proj(y)


class Mlp(nn.Module):
    """``Linear(C, 2C)``, hard-swish, ``Linear(2C, C)`` (``Linear_BN`` layers deployed)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, 2 * dim)
        self.act = nn.Hardswish()
        self.fc2 = nn.Linear(2 * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``fc2(hardswish(fc1(x)))``."""
        return self.fc2(self.act(self.fc1(x)))


class Residual(nn.Module):
    """``x + m(x)``."""

    def __init__(self, m: nn.Module) -> None:
        super().__init__()
        self.m = m

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x + m(x)``."""
        return x + self.m(x)


class LeViT(nn.Module):
    """Conv stem, three attention/MLP stages, token average, two averaged classifiers."""

    def __init__(
        self,
        embed: tuple[int, ...],
        heads: tuple[int, ...],
        blocks: int,
        grid: tuple[int, int],
        key_dim: int = KEY_DIM,
    ) -> None:
        super().__init__()
        c = embed[0]
        self.patch_embed = nn.Sequential(
            conv_bn(3, c // 8), nn.Hardswish(), conv_bn(c // 8, c // 4), nn.Hardswish(),
            conv_bn(c // 4, c // 2), nn.Hardswish(), conv_bn(c // 2, c),
        )  # fmt: skip
        layers: list[nn.Module] = []
        for i, (dim, nh) in enumerate(zip(embed, heads, strict=True)):
            if i > 0:  # shrinking attention: heads of key_dim-channel keys over the previous width
                prev = embed[i - 1]
                layers.append(Attention(prev, dim, max(1, prev // key_dim), 4, grid, 2, key_dim))
                grid = (_down(grid[0]), _down(grid[1]))
                layers.append(Residual(Mlp(dim)))
            for _ in range(blocks):
                layers.append(Residual(Attention(dim, dim, nh, 2, grid, 1, key_dim)))
                layers.append(Residual(Mlp(dim)))
        self.blocks = nn.Sequential(*layers)
        self.head = nn.Linear(embed[-1], 1000)  # BN_Linear deployed
        self.head_dist = nn.Linear(embed[-1], 1000)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, 1000)``: the mean of both heads on the averaged tokens."""
        x = self.patch_embed(x).flatten(2).transpose(1, 2)
        x = self.blocks(x).mean(1)
        return (self.head(x) + self.head_dist(x)) / 2


def levit(
    *,
    embed: tuple[int, ...] = EMBED,
    heads: tuple[int, ...] = HEADS,
    key_dim: int = KEY_DIM,
    width: float,
    depth: float,
    input_hw: tuple[int, int],
) -> LeViT:
    """LeViT with stage token widths ``embed``, heads ``heads`` and keys of ``key_dim`` channels
    (LeViT-128 by default; facebookresearch/LeViT's ``specification``: LeViT-192 is
    ``(192, 288, 384)``, ``(3, 5, 6)``, 32; LeViT-256 ``(256, 384, 512)``, ``(4, 6, 8)``, 32;
    LeViT-384 ``(384, 512, 768)``, ``(6, 9, 12)``, 32), on an ``input_hw`` image.

    ``width`` multiplies the head counts (rounded, at least 1) and the token widths with them
    (the channels per head kept, rounded to a multiple of 8); ``depth`` gives
    ``round(4 x depth)`` blocks per stage."""
    scaled = tuple(max(1, round(n * width)) for n in heads)
    widths = tuple(make_divisible(c * m / n) for c, m, n in zip(embed, scaled, heads, strict=True))
    grid = (input_hw[0] // PATCH, input_hw[1] // PATCH)
    return LeViT(widths, scaled, scale_units(BLOCKS, depth), grid, key_dim)
