"""Fixtures for the ONNX importer tests: hand-built graphs (``onnx.helper``) and torch exports.

Nothing is downloaded. The YOLO heads below emulate what Ultralytics exports (the decoding after
the per-scale convs): YOLOv8/11 (DFL + anchor decoding + class sigmoid), its segmentation and pose
variants, YOLOv10's one-to-one head (top-k selection with GatherElements) and YOLOv5 (sigmoid and
anchor-grid arithmetic on a 5-D view). Each head has ``decode=False``, which returns the raw
per-scale conv outputs, i.e. exactly what the importer must keep on the chip.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from partitioner.zoo.blocks import ConvBnAct

FLOAT = TensorProto.FLOAT


# -- hand-built graphs -----------------------------------------------------------------------------
def weight(name: str, *shape: int, value: float = 0.0) -> TensorProto:
    """A float32 initializer of ``shape`` filled with ``value``."""
    return numpy_helper.from_array(np.full(shape, value, dtype=np.float32), name)


def ints(name: str, values: Sequence[int]) -> TensorProto:
    """An int64 initializer (shapes, axes, slice bounds)."""
    return numpy_helper.from_array(np.array(values, dtype=np.int64), name)


def scalar(name: str, value: float) -> TensorProto:
    """A float32 scalar initializer."""
    return numpy_helper.from_array(np.array(value, dtype=np.float32), name)


def node(op: str, inputs: Sequence[str], outputs: Sequence[str], name: str | None = None, **attrs):
    """A node named after its first output unless ``name`` is given."""
    return helper.make_node(op, list(inputs), list(outputs), name=name or outputs[0], **attrs)


def make_model(
    nodes,
    inputs: dict[str, Sequence[int | str] | None],
    outputs: Sequence[str],
    inits: Sequence[TensorProto] = (),
    *,
    opset: int = 17,
    name: str = "test",
) -> onnx.ModelProto:
    """A model whose inputs have the given dims (None: no shape) and untyped-shape outputs."""
    graph = helper.make_graph(
        list(nodes),
        name,
        [helper.make_tensor_value_info(k, FLOAT, v) for k, v in inputs.items()],
        [helper.make_tensor_value_info(o, FLOAT, None) for o in outputs],
        initializer=list(inits),
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8 if opset >= 15 else 7
    return model


def save(model: onnx.ModelProto, directory: Path, name: str = "model") -> Path:
    path = Path(directory) / f"{name}.onnx"
    onnx.save(model, str(path))
    return path


# -- torch exports ---------------------------------------------------------------------------------
def export(
    module: nn.Module,
    shape: Sequence[int],
    path: Path,
    *,
    opset: int = 17,
    dynamic: dict[int, str] | None = None,
) -> Path:
    """``torch.onnx.export(..., dynamo=False)`` in eval mode, quietly; returns ``path``."""
    module.eval()
    kwargs = {}
    if dynamic:
        kwargs["dynamic_axes"] = {"images": dynamic}
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            torch.zeros(tuple(shape)),
            str(path),
            dynamo=False,
            opset_version=opset,
            input_names=["images"],
            **kwargs,
        )
    return path


# -- Ultralytics-style YOLO heads (decoding emulated from the public head code) --------------------
STRIDES = (8, 16, 32)


def cba(c_in: int, c_out: int, kernel: int, stride: int = 1) -> ConvBnAct:
    """Ultralytics' ``Conv``: conv + batch norm + SiLU."""
    return ConvBnAct(c_in, c_out, kernel, stride, act=nn.SiLU)


class TinyBackbone(nn.Module):
    """Three feature maps at strides 8, 16 and 32 (``channels`` each)."""

    def __init__(self, channels: Sequence[int] = (16, 24, 32)) -> None:
        super().__init__()
        c3, c4, c5 = channels
        self.stem = nn.Sequential(cba(3, 8, 3, 2), cba(8, c3, 3, 2))
        self.p3 = cba(c3, c3, 3, 2)
        self.p4 = cba(c3, c4, 3, 2)
        self.p5 = cba(c4, c5, 3, 2)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        p3 = self.p3(self.stem(x))
        p4 = self.p4(p3)
        return [p3, p4, self.p5(p4)]


def make_anchors(feats: Sequence[torch.Tensor], offset: float = 0.5):
    """Anchor centres ``(2, A)`` and strides ``(1, A)``, as Ultralytics' ``make_anchors``."""
    points, strides = [], []
    for feat, stride in zip(feats, STRIDES, strict=True):
        _, _, h, w = feat.shape
        sx = torch.arange(w, dtype=torch.float32) + offset
        sy = torch.arange(h, dtype=torch.float32) + offset
        yy, xx = torch.meshgrid(sy, sx, indexing="ij")
        points.append(torch.stack((xx, yy), -1).view(-1, 2))
        strides.append(torch.full((h * w, 1), float(stride)))
    return torch.cat(points).transpose(0, 1), torch.cat(strides).transpose(0, 1)


class DFL(nn.Module):
    """Distribution focal loss integral: softmax over ``bins`` then a fixed 1x1 conv."""

    def __init__(self, bins: int = 16) -> None:
        super().__init__()
        self.bins = bins
        self.conv = nn.Conv2d(bins, 1, 1, bias=False).requires_grad_(False)
        self.conv.weight.data[:] = torch.arange(bins, dtype=torch.float32).view(1, bins, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, a = x.shape
        y = x.view(b, 4, self.bins, a).transpose(2, 1).softmax(1)
        return self.conv(y).view(b, 4, a)


class V8Head(nn.Module):
    """YOLOv8 / YOLO11 head on a :class:`TinyBackbone`: ``task`` is ``detect``, ``segment``,
    ``pose`` or ``end2end`` (YOLOv10's one-to-one head with its top-k post-processing)."""

    def __init__(
        self,
        task: str = "detect",
        *,
        decode: bool = True,
        channels: Sequence[int] = (16, 24, 32),
        classes: int = 4,
        bins: int = 16,
    ) -> None:
        super().__init__()
        self.task, self.decode, self.nc, self.bins = task, decode, classes, bins
        self.backbone = TinyBackbone(channels)
        c2, c3 = 16, 16
        self.cv2 = nn.ModuleList(
            nn.Sequential(cba(c, c2, 3), nn.Conv2d(c2, 4 * bins, 1)) for c in channels
        )
        self.cv3 = nn.ModuleList(
            nn.Sequential(cba(c, c3, 3), nn.Conv2d(c3, classes, 1)) for c in channels
        )
        self.extra = 8 if task == "segment" else 51 if task == "pose" else 0
        if self.extra:
            self.cv4 = nn.ModuleList(
                nn.Sequential(cba(c, 16, 3), nn.Conv2d(16, self.extra, 1)) for c in channels
            )
        if task == "segment":
            self.proto = nn.Sequential(
                cba(channels[0], 16, 3),
                nn.ConvTranspose2d(16, 16, 2, 2, bias=True),
                cba(16, 16, 3),
                cba(16, self.extra, 1),
            )
        self.dfl = DFL(bins)

    def forward(self, x: torch.Tensor):
        feats = self.backbone(x)
        boxes = [m(f) for m, f in zip(self.cv2, feats, strict=True)]
        scores = [m(f) for m, f in zip(self.cv3, feats, strict=True)]
        extras = [m(f) for m, f in zip(self.cv4, feats, strict=True)] if self.extra else []
        proto = self.proto(feats[0]) if self.task == "segment" else None
        if not self.decode:
            raw = [t for parts in zip(boxes, scores, strict=True) for t in parts] + extras
            return tuple(raw + ([proto] if proto is not None else []))
        b = x.shape[0]
        maps = [torch.cat((p, q), 1) for p, q in zip(boxes, scores, strict=True)]
        x_cat = torch.cat([m.view(b, 4 * self.bins + self.nc, -1) for m in maps], 2)
        anchors, strides = make_anchors(maps)
        box, cls = x_cat.split((4 * self.bins, self.nc), 1)
        lt, rb = self.dfl(box).chunk(2, 1)
        x1y1, x2y2 = anchors.unsqueeze(0) - lt, anchors.unsqueeze(0) + rb
        if self.task == "end2end":
            dbox = torch.cat((x1y1, x2y2), 1) * strides
        else:
            dbox = torch.cat(((x1y1 + x2y2) / 2, x2y2 - x1y1), 1) * strides
        y = torch.cat((dbox, cls.sigmoid()), 1)
        if self.task == "segment":
            masks = torch.cat([m.view(b, self.extra, -1) for m in extras], 2)
            return torch.cat([y, masks], 1), proto
        if self.task == "pose":
            kpt = torch.cat([m.view(b, self.extra, -1) for m in extras], -1).view(b, 17, 3, -1)
            xy = (kpt[:, :, :2] * 2.0 + (anchors - 0.5)) * strides
            kpts = torch.cat((xy, kpt[:, :, 2:3].sigmoid()), 2).view(b, self.extra, -1)
            return torch.cat([y, kpts], 1)
        if self.task == "end2end":
            return self.select(y.permute(0, 2, 1))
        return y

    def select(self, preds: torch.Tensor, max_det: int = 300) -> torch.Tensor:
        """YOLOv10's post-processing: top-k anchors by best score, then top-k (anchor, class)."""
        b, anchors, _ = preds.shape
        k = min(max_det, anchors)
        boxes, scores = preds.split([4, self.nc], dim=-1)
        index = scores.amax(dim=-1).topk(k)[1].unsqueeze(-1)
        boxes = boxes.gather(dim=1, index=index.repeat(1, 1, 4))
        scores = scores.gather(dim=1, index=index.repeat(1, 1, self.nc))
        scores, index = scores.flatten(1).topk(k)
        picked = boxes.gather(dim=1, index=(index // self.nc).unsqueeze(-1).repeat(1, 1, 4))
        labels = (index % self.nc)[..., None].float()
        return torch.cat([picked, scores[..., None], labels], dim=-1)


class V5Head(nn.Module):
    """YOLOv5's anchor-based head: per scale a 1x1 conv to ``anchors x (5 + classes)``, then (if
    ``decode``) sigmoid, grid and anchor arithmetic on a 5-D view, concatenated over scales."""

    def __init__(
        self, *, decode: bool = True, channels: Sequence[int] = (16, 24, 32), classes: int = 4
    ) -> None:
        super().__init__()
        self.decode, self.na, self.no = decode, 3, 5 + classes
        self.backbone = TinyBackbone(channels)
        self.m = nn.ModuleList(nn.Conv2d(c, self.na * self.no, 1) for c in channels)
        self.register_buffer("anchor_sizes", torch.rand(3, self.na, 2) * 50)

    def forward(self, x: torch.Tensor):
        raw = [m(f) for m, f in zip(self.m, self.backbone(x), strict=True)]
        if not self.decode:
            return tuple(raw)
        out = []
        for i, p in enumerate(raw):
            bs, _, ny, nx = p.shape
            p = p.view(bs, self.na, self.no, ny, nx).permute(0, 1, 3, 4, 2).contiguous()
            yv, xv = torch.meshgrid(torch.arange(ny), torch.arange(nx), indexing="ij")
            grid = torch.stack((xv, yv), 2).expand(1, self.na, ny, nx, 2).float() - 0.5
            anchor_grid = (
                self.anchor_sizes[i].view(1, self.na, 1, 1, 2).expand(1, self.na, ny, nx, 2)
            )
            xy, wh, conf = p.sigmoid().split((2, 2, self.no - 4), 4)
            xy = (xy * 2 + grid) * STRIDES[i]
            wh = (wh * 2) ** 2 * anchor_grid
            out.append(torch.cat((xy, wh, conf), 4).view(bs, self.na * nx * ny, self.no))
        return torch.cat(out, 1)


# -- one small network touching the ops whose export changes across opsets ----------------------
class OpsetProbe(nn.Module):
    """Conv + BN + SiLU, a chunk (slices), a split, a depthwise conv with hardswish, max-pool,
    upsample (Resize / Upsample), LayerNorm and GELU (decomposed before opset 17 / 20),
    attention (reshape, permute, gathers, batched matmuls, softmax), a token mean (ReduceMean,
    whose axes move to an input at opset 18) and a linear head."""

    def __init__(self, dim: int = 32, heads: int = 2) -> None:
        super().__init__()
        self.heads, self.hd = heads, dim // heads
        self.stem = cba(3, 16, 3, 2)
        self.cv = cba(16, 32, 1)
        self.dw = ConvBnAct(16, 16, 3, groups=16, act=nn.Hardswish)
        self.pool = nn.MaxPool2d(3, 1, 1)
        self.mix = cba(48, dim, 1)
        self.up = nn.Upsample(scale_factor=2.0, mode="nearest")
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        self.head = nn.Linear(dim, 10)

    def attention(self, t: torch.Tensor) -> torch.Tensor:
        b, n, d = t.shape
        qkv = self.qkv(t).reshape(b, n, 3, self.heads, self.hd).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = (q @ k.transpose(-2, -1) * self.hd**-0.5).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        a, b = self.cv(x).chunk(2, 1)
        c, _ = a.split([8, 8], 1)
        y = self.mix(torch.cat([self.dw(b), self.pool(a), c, c], 1))
        y = nn.functional.max_pool2d(self.up(nn.functional.max_pool2d(y, 2)), 4)
        t = y.flatten(2).transpose(1, 2)
        t = t + self.attention(self.norm1(t))
        t = t + self.mlp(self.norm2(t))
        return self.head(t.mean(1))
