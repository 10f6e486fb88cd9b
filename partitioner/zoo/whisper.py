"""Whisper's audio encoder (Radford et al. 2022) as Hailo's Model Zoo compiles it: 10 s of audio,
the input a 1 x 1000 "image" of 80 mel channels (NHWC ``1x1000x80``).

Hailo's export turns Whisper's two 1-D convs into 2-D convs with 1x3 kernels over that one-row
map (the second with stride 2: 1000 frames -> 500 tokens), each followed by GELU; then the
sinusoidal position embedding, cut to the 500 tokens of 10 s, is added, and the transformer
blocks (pre-norm attention and a 4x MLP with GELU) and the final layer norm run on
``(500, dim)`` tokens. The output is the encoder's hidden states ``(500, dim)``.

The position embedding is a frozen parameter (as in Hugging Face's ``WhisperEncoder``; OpenAI's
is a buffer): the chip stores its 500 x dim values, and both importers see one add layer that
holds them. The blocks are the zoo's ViT blocks (:class:`partitioner.zoo.vit.Block`): Whisper's
key projection has no bias, so each block here has ``dim`` parameters more (0.02% of the total).

>>> net = whisper_encoder(dim=384, heads=6, blocks=4, width=1.0, depth=1.0)
>>> sum(p.numel() for p in net.parameters())
7825920
"""

from __future__ import annotations

import math

import torch
from torch import nn

from partitioner.zoo.blocks import make_divisible, scale_units
from partitioner.zoo.vit import Block

MELS = 80
FRAMES = 1000  # 10 s at 100 frames per second
MAX_TIMESCALE = 10_000


def sinusoids(length: int, channels: int) -> torch.Tensor:
    """Whisper's position embedding: ``(length, channels)``, sines then cosines of geometrically
    spaced timescales from 1 to 10,000."""
    increment = math.log(MAX_TIMESCALE) / (channels // 2 - 1)
    inv_timescales = torch.exp(-increment * torch.arange(channels // 2))
    scaled = torch.arange(length)[:, None] * inv_timescales[None, :]
    return torch.cat([torch.sin(scaled), torch.cos(scaled)], dim=1)


class WhisperEncoder(nn.Module):
    """Two 1x3 convs with GELU, position embedding, transformer blocks, final layer norm."""

    def __init__(self, dim: int, heads: int, blocks: int) -> None:
        super().__init__()
        tokens = FRAMES // 2
        self.conv1 = nn.Conv2d(MELS, dim, (1, 3), padding=(0, 1))
        self.conv2 = nn.Conv2d(dim, dim, (1, 3), stride=(1, 2), padding=(0, 1))
        self.gelu = nn.GELU()
        self.positional_embedding = nn.Parameter(sinusoids(tokens, dim), requires_grad=False)
        self.blocks = nn.Sequential(*(Block(dim, heads) for _ in range(blocks)))
        self.ln_post = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Hidden states ``(N, 500, dim)`` of a mel spectrogram ``(N, 80, 1, 1000)``."""
        x = self.gelu(self.conv2(self.gelu(self.conv1(x))))
        x = x.flatten(2).transpose(1, 2) + self.positional_embedding
        return self.ln_post(self.blocks(x))


def whisper_encoder(
    *, dim: int, heads: int, blocks: int, width: float, depth: float
) -> WhisperEncoder:
    """A Whisper encoder with ``heads`` heads of ``dim / heads`` (x ``width``) channels and
    ``blocks`` (x ``depth``) blocks; tiny is (384, 6, 4)."""
    head_dim = make_divisible(dim // heads * width)
    return WhisperEncoder(heads * head_dim, heads, scale_units(blocks, depth))
