"""Vision Transformer (timm's ``vit_*_patch16_224``), written so that torch.fx traces it.

Attention is spelled out: one ``qkv`` linear, ``reshape``, ``permute``,
``q @ k.transpose(-2, -1) * scale``, ``softmax``, ``@ v``, ``proj``. The class token and the
position embedding are ``nn.Parameter``s; ``forward`` has no data-dependent control flow.

``width`` scales the head dimension (64, rounded to a multiple of 8) at a fixed head count,
``depth`` the number of blocks (12), ``resolution`` the number of 16x16 patches (and so the
length of the position embedding).

>>> net = vision_transformer(embed_dim=192, heads=3, width=1.0, depth=1.0, resolution=224)
>>> sum(p.numel() for p in net.parameters())
5717416
"""

from __future__ import annotations

import torch
from torch import nn

from partitioner.zoo.blocks import make_divisible, scale_units

PATCH = 16
BLOCKS = 12
MLP_RATIO = 4


class Attention(nn.Module):
    """Multi-head self-attention over ``(N, tokens, dim)``."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.head_dim = dim // heads
        self.scale = self.head_dim**-0.5
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``proj(softmax(q k^T * scale) v)`` with the heads merged back into ``dim``."""
        b, n = x.shape[0], x.shape[1]
        # (b, n, 3 * dim) -> (b, 3, heads, n, head_dim); the batch stays the leading dim.
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, self.head_dim).permute(0, 2, 3, 1, 4)
        q, k, v = qkv[:, 0], qkv[:, 1], qkv[:, 2]
        attn = (q @ k.transpose(-2, -1) * self.scale).softmax(dim=-1)
        y = (attn @ v).transpose(1, 2).reshape(b, n, self.heads * self.head_dim)
        return self.proj(y)


class Mlp(nn.Module):
    """``fc2(gelu(fc1(x)))`` with a hidden width of 4 x dim."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``fc2(gelu(fc1(x)))``."""
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer block: ``x + attn(norm1(x))``, then ``x + mlp(norm2(x))``."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, MLP_RATIO * dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Attention then MLP, each with a residual connection."""
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class VisionTransformer(nn.Module):
    """16x16/16 patch conv, class token, position embedding, blocks, final norm, linear head."""

    def __init__(self, dim: int, heads: int, blocks: int, resolution: int) -> None:
        super().__init__()
        patches = (resolution // PATCH) ** 2
        self.patch_embed = nn.Conv2d(3, dim, PATCH, PATCH)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, patches + 1, dim))
        self.blocks = nn.Sequential(*(Block(dim, heads) for _ in range(blocks)))
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, 1000)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, 1000)`` from the class token of an image batch ``(N, 3, H, W)``."""
        x = self.patch_embed(x).flatten(2).transpose(1, 2)
        cls = self.cls_token.expand(x.shape[0], -1, -1)
        x = torch.cat([cls, x], dim=1) + self.pos_embed
        x = self.norm(self.blocks(x))
        return self.head(x[:, 0])


def vision_transformer(
    *, embed_dim: int, heads: int, width: float, depth: float, resolution: int
) -> VisionTransformer:
    """A ViT patch16 with ``heads`` heads of ``embed_dim / heads`` (x ``width``) channels each.

    ``resolution`` must be a multiple of 16 (checked by the zoo's ``build_module``).
    """
    head_dim = make_divisible(embed_dim // heads * width)
    return VisionTransformer(heads * head_dim, heads, scale_units(BLOCKS, depth), resolution)
