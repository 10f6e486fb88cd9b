"""Image-to-image networks that run every layer at the input's resolution: ESPCN super resolution,
Zero-DCE low-light enhancement and DnCNN denoising.

None has a stride, so any input size works; the outputs are images (ESPCN's ``scale`` times the
input's side, one channel; Zero-DCE's and DnCNN's the input's size and channels).

>>> net = espcn(scale=2)
>>> sum(p.numel() for p in net.parameters())  # 5x5 1->64, 3x3 64->32, 3x3 32->4, with biases
21284
>>> sum(p.numel() for p in zero_dce().parameters())  # the paper: 79,416 trainable parameters
79416
"""

from __future__ import annotations

import torch
from torch import nn


class ESPCN(nn.Module):
    """Efficient sub-pixel CNN (Shi et al. 2016; Lornatang/ESPCN-PyTorch layout).

    5x5 conv to ``channels`` and tanh, 3x3 conv to ``channels / 2`` and tanh, 3x3 conv to
    ``scale^2`` channels per output channel, depth-to-space (pixel shuffle) by ``scale``, then a
    clamp to [0, 1].
    """

    def __init__(self, scale: int, *, in_channels: int = 1, channels: int = 64) -> None:
        super().__init__()
        hidden = channels // 2
        self.feature_maps = nn.Sequential(
            nn.Conv2d(in_channels, channels, 5, 1, 2),
            nn.Tanh(),
            nn.Conv2d(channels, hidden, 3, 1, 1),
            nn.Tanh(),
        )
        self.sub_pixel = nn.Sequential(
            nn.Conv2d(hidden, in_channels * scale * scale, 3, 1, 1), nn.PixelShuffle(scale)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The upscaled image ``(N, C, scale H, scale W)`` of ``x`` ``(N, C, H, W)``."""
        return torch.clamp(self.sub_pixel(self.feature_maps(x)), 0.0, 1.0)


class ZeroDCE(nn.Module):
    """Zero-reference deep curve estimation (Guo et al. 2020), ``enhance_net_nopool``.

    Seven 3x3 convs of ``channels`` (ReLU) with symmetric concatenations (conv5 reads conv3 and
    conv4, conv6 conv2 and conv5, conv7 conv1 and conv6); conv7 gives, through tanh, ``iterations``
    curve maps of 3 channels, applied in turn: ``x <- x + r_i (x^2 - x)``.
    """

    def __init__(self, *, channels: int = 32, iterations: int = 8) -> None:
        super().__init__()
        self.iterations = iterations
        self.relu = nn.ReLU()
        self.e_conv1 = nn.Conv2d(3, channels, 3, 1, 1)
        self.e_conv2 = nn.Conv2d(channels, channels, 3, 1, 1)
        self.e_conv3 = nn.Conv2d(channels, channels, 3, 1, 1)
        self.e_conv4 = nn.Conv2d(channels, channels, 3, 1, 1)
        self.e_conv5 = nn.Conv2d(2 * channels, channels, 3, 1, 1)
        self.e_conv6 = nn.Conv2d(2 * channels, channels, 3, 1, 1)
        self.e_conv7 = nn.Conv2d(2 * channels, 3 * iterations, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The enhanced image, same shape as ``x``."""
        x1 = self.relu(self.e_conv1(x))
        x2 = self.relu(self.e_conv2(x1))
        x3 = self.relu(self.e_conv3(x2))
        x4 = self.relu(self.e_conv4(x3))
        x5 = self.relu(self.e_conv5(torch.cat([x3, x4], 1)))
        x6 = self.relu(self.e_conv6(torch.cat([x2, x5], 1)))
        curves = torch.tanh(self.e_conv7(torch.cat([x1, x6], 1)))
        r = torch.split(curves, 3, dim=1)
        for i in range(self.iterations):  # indexed, so that torch.fx unrolls the loop
            x = x + r[i] * (torch.pow(x, 2) - x)
        return x


class DnCNN(nn.Module):
    """Denoising CNN (Zhang et al. 2017; cszn/KAIR ``DnCNN``, ``act_mode='BR'``).

    ``layers`` 3x3 convs of ``channels`` with biases: the first with ReLU, the middle ones with
    batch norm and ReLU, the last back to the image's channels; the network predicts the noise,
    which is subtracted from the input.
    """

    def __init__(self, *, in_channels: int = 1, channels: int = 64, layers: int = 20) -> None:
        super().__init__()
        body: list[nn.Module] = [nn.Conv2d(in_channels, channels, 3, 1, 1), nn.ReLU()]
        for _ in range(layers - 2):
            body += [nn.Conv2d(channels, channels, 3, 1, 1), nn.BatchNorm2d(channels), nn.ReLU()]
        body.append(nn.Conv2d(channels, in_channels, 3, 1, 1))
        self.model = nn.Sequential(*body)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The denoised image: ``x`` minus the predicted noise."""
        return x - self.model(x)


def dncnn(*, in_channels: int) -> DnCNN:
    """DnCNN of 20 layers of 64 channels on ``in_channels``-channel images (KAIR's ``dncnn3``:
    1, gray; ``dncnn_color_blind``: 3)."""
    return DnCNN(in_channels=in_channels)


def espcn(*, scale: int) -> ESPCN:
    """ESPCN for one-channel (luma) images, upscaling by ``scale``."""
    return ESPCN(scale)


def zero_dce() -> ZeroDCE:
    """Zero-DCE with the paper's 32 channels and 8 curve iterations."""
    return ZeroDCE()
