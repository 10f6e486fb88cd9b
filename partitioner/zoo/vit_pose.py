"""ViTPose (Xu et al. 2022) with the classic decoder, as Hailo's ``vit_pose_small`` (ViT-S).

A plain ViT backbone (timm blocks, no class token) over 16x16 patches, then the top-down
heatmap head: two 4x4/2 transposed convs (256 channels, batch norm, ReLU) and a 1x1 conv to the
17 COCO keypoint heatmaps at stride 4 (64x48 at 256x192). Heatmap decoding runs on the host.

ViTPose's patch conv pads 2 (its ``PatchEmbed`` with ratio 1), which leaves the token grid at
``H / 16 x W / 16``. Its position embedding holds a class-token slot that is added to every
patch token (``pos_embed[:, 1:] + pos_embed[:, :1]``); here it is one learned tensor per patch
token (384 parameters fewer, the same sum).

``vit_pose_small_bn`` (``batch_norm=True``) replaces every layer norm (two per block and the
last one) by a batch norm over the embedding channels, as :mod:`partitioner.zoo.vit_bn` does for
the ViT classifiers (the same parameters). The last one is applied to the token grid, as a
``BatchNorm2d`` (the same per-channel scale and shift; applied to the rows of tokens before the
grid is formed, the ONNX importer keeps that transpose as a layer where the torch importer does
not).

>>> net = vit_pose(embed_dim=384, heads=6, width=1.0, depth=1.0, input_hw=(256, 192))
>>> sum(p.numel() for p in net.parameters())
24290193
"""

from __future__ import annotations

import torch
from torch import nn

from partitioner.zoo import vit_bn
from partitioner.zoo.blocks import make_divisible, scale_units
from partitioner.zoo.vit import BLOCKS, PATCH, Block

KEYPOINTS = 17  # COCO
DECONV_CHANNELS = 256


class ViTPose(nn.Module):
    """Patch conv, position embedding, transformer blocks, final norm, heatmap decoder."""

    def __init__(
        self,
        dim: int,
        heads: int,
        blocks: int,
        input_hw: tuple[int, int],
        batch_norm: bool = False,
    ) -> None:
        super().__init__()
        block = vit_bn.Block if batch_norm else Block
        self.grid = (input_hw[0] // PATCH, input_hw[1] // PATCH)
        self.patch_embed = nn.Conv2d(3, dim, PATCH, PATCH, padding=2)
        self.pos_embed = nn.Parameter(torch.zeros(1, self.grid[0] * self.grid[1], dim))
        self.blocks = nn.Sequential(*(block(dim, heads) for _ in range(blocks)))
        self.batch_norm = batch_norm
        self.last_norm = nn.BatchNorm2d(dim) if batch_norm else nn.LayerNorm(dim, eps=1e-6)
        self.deconv = nn.Sequential(
            *_deconv(dim, DECONV_CHANNELS), *_deconv(DECONV_CHANNELS, DECONV_CHANNELS)
        )
        self.final = nn.Conv2d(DECONV_CHANNELS, KEYPOINTS, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Keypoint heatmaps ``(N, 17, H / 4, W / 4)`` of an image batch ``(N, 3, H, W)``."""
        x = self.patch_embed(x).flatten(2).transpose(1, 2) + self.pos_embed
        x = self.blocks(x)
        if not self.batch_norm:
            x = self.last_norm(x)
        x = x.transpose(1, 2).reshape(x.shape[0], x.shape[2], *self.grid)
        if self.batch_norm:
            x = self.last_norm(x)
        return self.final(self.deconv(x))


def _deconv(c_in: int, c_out: int) -> tuple[nn.Module, ...]:
    """A 4x4/2 transposed conv (doubles the side), batch norm, ReLU."""
    return (nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU())


def vit_pose(
    *,
    embed_dim: int,
    heads: int,
    batch_norm: bool = False,
    width: float,
    depth: float,
    input_hw: tuple[int, int],
) -> ViTPose:
    """ViTPose with ``heads`` heads of ``embed_dim / heads`` (x ``width``) channels, 12 blocks
    (x ``depth``), on ``input_hw`` images (multiples of 16); batch norms for layer norms with
    ``batch_norm``."""
    head_dim = make_divisible(embed_dim // heads * width)
    return ViTPose(heads * head_dim, heads, scale_units(BLOCKS, depth), input_hw, batch_norm)
