"""ViT with batch norm (the Model Zoo's ``vit_tiny_bn``, ``vit_small_bn``, ``vit_base_bn``).

Hailo's variant of timm's ``vit_*_patch16_224``: every layer norm (two per block and the final
one) is a batch norm over the embedding channels, which at inference is a fixed per-channel
scale and shift instead of statistics computed per token. The norm is written as timm-style
BN-ViT code does: the ``(N, tokens, dim)`` tensor viewed as ``(N x tokens, dim)`` rows for
``nn.BatchNorm1d``. Everything else (patch conv, class token, position embedding, attention,
GELU MLP, head on the class token) is :mod:`partitioner.zoo.vit`'s; a batch norm has the same
two learned vectors as a layer norm, so the parameter count is the ViT's.

``width`` scales the head dimension (64, rounded to a multiple of 8) at a fixed head count,
``depth`` the number of blocks (12); the input size sets the number of 16x16 patches and so the
length of the position embedding.

>>> net = vision_transformer_bn(embed_dim=192, heads=3, width=1.0, depth=1.0,
...                             input_hw=(224, 224))
>>> sum(p.numel() for p in net.parameters())
5717416
"""

from __future__ import annotations

import torch
from torch import nn

from partitioner.zoo.blocks import make_divisible, scale_units
from partitioner.zoo.vit import BLOCKS, MLP_RATIO, PATCH, Attention, Mlp, VisionTransformer


class TokenBatchNorm(nn.Module):
    """``nn.BatchNorm1d`` over the last dim of ``(N, tokens, dim)``."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm1d(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Each token's channels scaled and shifted by the channel's statistics."""
        b, n, c = x.shape
        return self.bn(x.reshape(b * n, c)).reshape(b, n, c)


class Block(nn.Module):
    """Pre-norm transformer block: ``x + attn(bn1(x))``, then ``x + mlp(bn2(x))``."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.norm1 = TokenBatchNorm(dim)
        self.attn = Attention(dim, heads)
        self.norm2 = TokenBatchNorm(dim)
        self.mlp = Mlp(dim, MLP_RATIO * dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Attention then MLP, each with a residual connection."""
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class VisionTransformerBN(VisionTransformer):
    """ViT's patch conv, class token, position embedding and head (its ``forward``), with batch
    norms over the tokens in its blocks and as its final norm."""

    def __init__(self, dim: int, heads: int, blocks: int, input_hw: tuple[int, int]) -> None:
        nn.Module.__init__(self)  # the layers differ from VisionTransformer's: built here
        patches = (input_hw[0] // PATCH) * (input_hw[1] // PATCH)
        self.patch_embed = nn.Conv2d(3, dim, PATCH, PATCH)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, patches + 1, dim))
        self.blocks = nn.Sequential(*(Block(dim, heads) for _ in range(blocks)))
        self.norm = TokenBatchNorm(dim)
        self.head = nn.Linear(dim, 1000)


def vision_transformer_bn(
    *, embed_dim: int, heads: int, width: float, depth: float, input_hw: tuple[int, int]
) -> VisionTransformerBN:
    """A ViT-BN patch16 with ``heads`` heads of ``embed_dim / heads`` (x ``width``) channels."""
    head_dim = make_divisible(embed_dim // heads * width)
    return VisionTransformerBN(heads * head_dim, heads, scale_units(BLOCKS, depth), input_hw)
