"""The blocks of YOLOv5 (v2.0), YOLOv8 and YOLO11, after Ultralytics' definitions, in plain torch.

Every ``Conv`` of the reference code is a :class:`ConvBnAct`. The heads stop where Hailo's Model
Zoo cuts the networks: at the last 1x1 convs of each scale, with no DFL, decoding, anchor grid or
NMS. Shapes are read through ``x.shape`` only, so ``torch.fx.symbolic_trace`` traces every block.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from partitioner.zoo.blocks import ActFactory, ConvBnAct


class Bottleneck(nn.Module):
    """Conv ``kernels[0]`` to ``expand x c_out`` channels, conv ``kernels[1]`` back; residual add
    when ``shortcut`` and the channel counts match."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        *,
        shortcut: bool = True,
        kernels: tuple[int, int] = (3, 3),
        expand: float = 0.5,
        act: ActFactory = nn.SiLU,
    ) -> None:
        super().__init__()
        c_mid = int(c_out * expand)
        self.cv1 = ConvBnAct(c_in, c_mid, kernels[0], act=act)
        self.cv2 = ConvBnAct(c_mid, c_out, kernels[1], act=act)
        self.add = shortcut and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x + cv2(cv1(x))`` (or without ``x``)."""
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class C2f(nn.Module):
    """YOLOv8's CSP block: 1x1 conv, split in two halves, n bottlenecks chained on the second half,
    every intermediate concatenated, 1x1 conv.

    ``blocks`` replaces the default bottlenecks (YOLO11's C3k2 passes its own).
    """

    def __init__(
        self,
        c_in: int,
        c_out: int,
        n: int,
        *,
        shortcut: bool = False,
        expand: float = 0.5,
        blocks: Sequence[nn.Module] | None = None,
    ) -> None:
        super().__init__()
        self.c = int(c_out * expand)
        self.cv1 = ConvBnAct(c_in, 2 * self.c, 1, act=nn.SiLU)
        self.cv2 = ConvBnAct((2 + n) * self.c, c_out, 1, act=nn.SiLU)
        if blocks is None:
            blocks = [Bottleneck(self.c, self.c, shortcut=shortcut, expand=1.0) for _ in range(n)]
        self.m = nn.ModuleList(blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``cv2(cat(a, b, m1(b), m2(m1(b)), ...))`` with ``a, b = chunk(cv1(x), 2)``."""
        halves = self.cv1(x).chunk(2, 1)
        ys = [halves[0], halves[1]]
        for block in self.m:
            ys.append(block(ys[-1]))
        return self.cv2(torch.cat(ys, 1))


class PlainBlock(nn.Module):
    """What a CSP block (C2f, C3k2, BottleneckCSP) becomes without its split and concat: a 1x1
    conv to ``c_out`` and ``n`` bottlenecks (1x1 to ``c_out / 2``, 3x3 back) chained on it.

    The bottlenecks' MACs per pixel (``5 c_out^2`` each) are close to C2f's (``4.5 c^2`` for its
    bottleneck plus its share of the output conv); the split, the concat and the output conv
    (three fused layers of C2f and C3k2, six of BottleneckCSP) are gone. ``explain`` offers it.
    """

    def __init__(
        self, c_in: int, c_out: int, n: int, *, shortcut: bool, act: ActFactory = nn.SiLU
    ) -> None:
        super().__init__()
        self.cv1 = ConvBnAct(c_in, c_out, 1, act=act)
        self.m = nn.Sequential(
            *(
                Bottleneck(c_out, c_out, shortcut=shortcut, kernels=(1, 3), expand=0.5, act=act)
                for _ in range(n)
            )
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``m(cv1(x))``."""
        return self.m(self.cv1(x))


class C3(nn.Module):
    """CSP block with 3 convs: ``cv3(cat(m(cv1(x)), cv2(x)))``, m a chain of bottlenecks.

    Also YOLOX's ``CSPLayer`` and YOLOv9's ``RepNCSP`` (with their activation ``act``).
    """

    def __init__(
        self,
        c_in: int,
        c_out: int,
        blocks: Sequence[nn.Module],
        c_mid: int,
        *,
        act: ActFactory = nn.SiLU,
    ) -> None:
        super().__init__()
        self.cv1 = ConvBnAct(c_in, c_mid, 1, act=act)
        self.cv2 = ConvBnAct(c_in, c_mid, 1, act=act)
        self.cv3 = ConvBnAct(2 * c_mid, c_out, 1, act=act)
        self.m = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``cv3(cat(m(cv1(x)), cv2(x)))``."""
        return self.cv3(torch.cat([self.m(self.cv1(x)), self.cv2(x)], 1))


def c3k(c_in: int, c_out: int, n: int = 2, *, shortcut: bool = True) -> C3:
    """YOLO11's C3k: a C3 (hidden width c_out / 2) whose n bottlenecks use 3x3 + 3x3 kernels."""
    c_mid = int(c_out * 0.5)
    blocks = [Bottleneck(c_mid, c_mid, shortcut=shortcut, expand=1.0) for _ in range(n)]
    return C3(c_in, c_out, blocks, c_mid)


def c3k2(c_in: int, c_out: int, n: int, *, use_c3k: bool, expand: float = 0.5) -> C2f:
    """YOLO11's C3k2: a C2f whose n blocks are C3k (``use_c3k``) or half-width bottlenecks."""
    c = int(c_out * expand)
    blocks = [c3k(c, c) if use_c3k else Bottleneck(c, c, expand=0.5) for _ in range(n)]
    return C2f(c_in, c_out, n, expand=expand, blocks=blocks)


class SPPF(nn.Module):
    """Spatial pyramid pooling, fast: 1x1 conv, three chained 5x5/1 max-pools, concat, 1x1 conv.

    Also YOLOv6's ``SimSPPF`` (ReLU) and YOLOv9's ``SPPELAN`` (hidden width ``c_in / 2``).
    """

    def __init__(
        self, c_in: int, c_out: int, kernel: int = 5, *, act: ActFactory = nn.SiLU
    ) -> None:
        super().__init__()
        c_mid = c_in // 2
        self.cv1 = ConvBnAct(c_in, c_mid, 1, act=act)
        self.cv2 = ConvBnAct(4 * c_mid, c_out, 1, act=act)
        self.m = nn.MaxPool2d(kernel, 1, kernel // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``cv2(cat(y, m(y), m(m(y)), m(m(m(y)))))`` with ``y = cv1(x)``."""
        y0 = self.cv1(x)
        y1 = self.m(y0)
        y2 = self.m(y1)
        return self.cv2(torch.cat([y0, y1, y2, self.m(y2)], 1))


class PSAAttention(nn.Module):
    """YOLO11's position-sensitive attention over the H x W positions of a feature map.

    A 1x1 conv makes q, k (``key_dim = head_dim / 2`` each) and v (``head_dim``) per head;
    ``softmax(q^T k * scale)`` weighs v; a 3x3 depthwise conv of v is added (positional
    encoding) before the 1x1 output projection.
    """

    def __init__(self, dim: int, heads: int, attn_ratio: float = 0.5) -> None:
        super().__init__()
        self.heads = heads
        self.head_dim = dim // heads
        self.key_dim = int(self.head_dim * attn_ratio)
        self.scale = self.key_dim**-0.5
        self.qkv = ConvBnAct(dim, dim + 2 * self.key_dim * heads, 1, act=None)
        self.proj = ConvBnAct(dim, dim, 1, act=None)
        self.pe = ConvBnAct(dim, dim, 3, groups=dim, act=None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``proj(v softmax(q^T k * scale)^T + pe(v))``, reshaped back to ``x.shape``."""
        per_head = 2 * self.key_dim + self.head_dim
        qkv = self.qkv(x).flatten(2).reshape(x.shape[0], self.heads, per_head, -1)
        parts = qkv.split([self.key_dim, self.key_dim, self.head_dim], dim=2)
        q, k, v = parts[0], parts[1], parts[2]
        attn = (q.transpose(-2, -1) @ k * self.scale).softmax(dim=-1)
        y = (v @ attn.transpose(-2, -1)).reshape(x.shape) + self.pe(v.reshape(x.shape))
        return self.proj(y)


class PSABlock(nn.Module):
    """``x + attn(x)``, then ``x + ffn(x)`` with a 1x1 (2x wide, SiLU) + 1x1 (linear) FFN."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.attn = PSAAttention(dim, heads)
        self.ffn = nn.Sequential(
            ConvBnAct(dim, 2 * dim, 1, act=nn.SiLU), ConvBnAct(2 * dim, dim, 1, act=None)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Attention then FFN, each with a residual connection."""
        x = x + self.attn(x)
        return x + self.ffn(x)


class C2PSA(nn.Module):
    """1x1 conv, split in halves, n PSA blocks on the second half, concat, 1x1 conv.

    Heads: one per 64 channels of the half (at least one, so that narrow ``width`` values work).
    """

    def __init__(self, c_in: int, c_out: int, n: int) -> None:
        super().__init__()
        self.c = c_in // 2
        self.cv1 = ConvBnAct(c_in, 2 * self.c, 1, act=nn.SiLU)
        self.cv2 = ConvBnAct(2 * self.c, c_out, 1, act=nn.SiLU)
        self.m = nn.Sequential(*(PSABlock(self.c, max(1, self.c // 64)) for _ in range(n)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``cv2(cat(a, m(b)))`` with ``a, b = split(cv1(x))``."""
        halves = self.cv1(x).split([self.c, self.c], dim=1)
        return self.cv2(torch.cat([halves[0], self.m(halves[1])], 1))


class DetectV8(nn.Module):
    """Anchor-free head of YOLOv8/YOLO11, cut before DFL: per scale a box branch (``cv2``, ending
    in a 1x1 conv to 4 x 16 channels) and a class branch (``cv3``, ending in a 1x1 conv to
    ``classes``).

    YOLOv8's class branch has two 3x3 convs; YOLO11's (``separable``) two depthwise 3x3 + 1x1
    pairs. ``forward`` returns ``(box_p3, cls_p3, box_p4, cls_p4, box_p5, cls_p5)``.
    """

    def __init__(self, channels: Sequence[int], *, separable: bool, classes: int = 80) -> None:
        super().__init__()
        reg_max = 16
        c_box = max(16, channels[0] // 4, 4 * reg_max)
        c_cls = max(channels[0], min(classes, 100))
        self.cv2 = nn.ModuleList(
            nn.Sequential(
                ConvBnAct(c, c_box, 3, act=nn.SiLU),
                ConvBnAct(c_box, c_box, 3, act=nn.SiLU),
                nn.Conv2d(c_box, 4 * reg_max, 1),
            )
            for c in channels
        )
        self.cv3 = nn.ModuleList(
            nn.Sequential(
                *(_separable_pair(c, c_cls) if separable else _conv3(c, c_cls)),
                *(_separable_pair(c_cls, c_cls) if separable else _conv3(c_cls, c_cls)),
                nn.Conv2d(c_cls, classes, 1),
            )
            for c in channels
        )

    def forward(self, xs: Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        """Box and class maps of each scale, scale by scale."""
        outputs: list[torch.Tensor] = []
        for x, box, cls in zip(xs, self.cv2, self.cv3, strict=True):
            outputs += [box(x), cls(x)]
        return tuple(outputs)


def _conv3(c_in: int, c_out: int) -> tuple[nn.Module]:
    return (ConvBnAct(c_in, c_out, 3, act=nn.SiLU),)


def _separable_pair(c_in: int, c_out: int) -> tuple[nn.Module]:
    return (
        nn.Sequential(
            ConvBnAct(c_in, c_in, 3, groups=c_in, act=nn.SiLU),
            ConvBnAct(c_in, c_out, 1, act=nn.SiLU),
        ),
    )


# -- YOLOv5 v2.0 (the architecture of Hailo's yolov5s / yolov5m) -----------------------------


def leaky_relu() -> nn.Module:
    """YOLOv5 v2.0's activation: LeakyReLU with slope 0.1."""
    return nn.LeakyReLU(0.1)


class Focus(nn.Module):
    """Space-to-depth by 2 then a conv: YOLOv5's stem.

    The reference concatenates four strided slices; ``nn.PixelUnshuffle(2)`` produces the same
    12 channels in another order (a permutation of the conv's input weights): same parameters,
    MACs and output.
    """

    def __init__(self, c_in: int, c_out: int, kernel: int, *, act: ActFactory = leaky_relu) -> None:
        super().__init__()
        self.space_to_depth = nn.PixelUnshuffle(2)
        self.conv = ConvBnAct(4 * c_in, c_out, kernel, act=act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``conv(space_to_depth(x))``."""
        return self.conv(self.space_to_depth(x))


class BottleneckCSP(nn.Module):
    """YOLOv5 v2.0's CSP block (Wang et al.): ``cv4(act(bn(cat(cv3(m(cv1(x))), cv2(x)))))``.

    ``cv2`` and ``cv3`` are bare 1x1 convs; the batch norm after the concat is standalone.
    """

    def __init__(self, c_in: int, c_out: int, n: int, *, shortcut: bool = True) -> None:
        super().__init__()
        c_mid = c_out // 2
        self.cv1 = ConvBnAct(c_in, c_mid, 1, act=leaky_relu)
        self.cv2 = nn.Conv2d(c_in, c_mid, 1, bias=False)
        self.cv3 = nn.Conv2d(c_mid, c_mid, 1, bias=False)
        self.cv4 = ConvBnAct(2 * c_mid, c_out, 1, act=leaky_relu)
        self.bn = nn.BatchNorm2d(2 * c_mid)
        self.act = leaky_relu()
        self.m = nn.Sequential(
            *(
                Bottleneck(
                    c_mid, c_mid, shortcut=shortcut, kernels=(1, 3), expand=1.0, act=leaky_relu
                )
                for _ in range(n)
            )
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``cv4(act(bn(cat(cv3(m(cv1(x))), cv2(x)))))``."""
        y = torch.cat([self.cv3(self.m(self.cv1(x))), self.cv2(x)], 1)
        return self.cv4(self.act(self.bn(y)))


class SPP(nn.Module):
    """Spatial pyramid pooling: 1x1 conv, parallel 5/9/13 max-pools, concat, 1x1 conv.

    Also YOLOX's ``SPPBottleneck`` (with its activation ``act``).
    """

    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernels: tuple[int, ...] = (5, 9, 13),
        *,
        act: ActFactory = leaky_relu,
    ) -> None:
        super().__init__()
        c_mid = c_in // 2
        self.cv1 = ConvBnAct(c_in, c_mid, 1, act=act)
        self.cv2 = ConvBnAct(c_mid * (len(kernels) + 1), c_out, 1, act=act)
        self.m = nn.ModuleList(nn.MaxPool2d(k, 1, k // 2) for k in kernels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``cv2(cat(y, pool5(y), pool9(y), pool13(y)))`` with ``y = cv1(x)``."""
        y = self.cv1(x)
        return self.cv2(torch.cat([y, *(pool(y) for pool in self.m)], 1))


class DetectV5(nn.Module):
    """Anchor-based head, cut where Hailo cuts it: one 1x1 conv per scale to
    ``anchors x (5 + classes)`` channels (255 for COCO). Returns ``(p3, p4, p5)``."""

    def __init__(self, channels: Sequence[int], *, classes: int = 80, anchors: int = 3) -> None:
        super().__init__()
        self.m = nn.ModuleList(nn.Conv2d(c, anchors * (5 + classes), 1) for c in channels)

    def forward(self, xs: Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        """The raw prediction map of each scale."""
        return tuple(conv(x) for x, conv in zip(xs, self.m, strict=True))
