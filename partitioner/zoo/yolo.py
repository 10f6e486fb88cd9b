"""YOLOv5 (v2.0, as in Hailo's Model Zoo), YOLOv8 and YOLO11 detectors, built from layer tables.

Each table transcribes a reference model YAML (Ultralytics ``yolov8.yaml``, ``yolo11.yaml``;
``yolov5s.yaml`` of YOLOv5 release v2.0): one row ``(source, repeats, kind, args)`` per layer,
where ``source`` is ``-1`` (the previous layer) or a tuple of layer indices. The built network's
``model.<i>`` is the YAML's layer i, so layer names match Ultralytics' (``model.22.cv2.0.2``).

Scaling follows Ultralytics' ``parse_model``: output channels ``ceil8(min(c, max_channels) x
width)``, repeats ``round(n x depth)`` for blocks listed more than once. The zoo's ``width`` and
``depth`` knobs multiply the scale's own gains (1.0 gives the published network).

:class:`YoloEdits` changes single rows (``ctxfit explain``'s block-level changes): the repeats of
one CSP block, a CSP block without its split and concat (:class:`PlainBlock`), an optional block
dropped (SPPF, SPP, C2PSA), the largest-stride head scale dropped, one row narrowed. No edits
build the published network.

>>> net = yolov8("n", width=1.0, depth=1.0)
>>> sum(p.numel() for p in net.parameters())  # Ultralytics: 3,157,200 with DFL's 16 weights
3157184
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from partitioner.zoo.blocks import ActFactory, Concat, ConvBnAct, round_up, scale_repeats
from partitioner.zoo.yolo_blocks import (
    C2PSA,
    SPP,
    SPPF,
    BottleneckCSP,
    C2f,
    DetectV5,
    DetectV8,
    Focus,
    PlainBlock,
    c3k2,
    leaky_relu,
)

Row = tuple[int | tuple[int, ...], int, str, tuple[Any, ...]]
# A family's own row maker: (kind, args, input channels, repeats, width rule) -> (layer, c_out).
LayerMaker = Callable[
    [str, tuple[Any, ...], list[int], int, Callable[[int], int]], tuple[nn.Module, int]
]


@dataclass(frozen=True, kw_only=True)
class YoloScale:
    """Depth gain, width gain and channel cap of one model size (the YAML's ``scales`` entry)."""

    depth: float
    width: float
    max_channels: int = 1 << 30


YOLOV8_SCALES = {
    "n": YoloScale(depth=0.33, width=0.25, max_channels=1024),
    "s": YoloScale(depth=0.33, width=0.50, max_channels=1024),
    "m": YoloScale(depth=0.67, width=0.75, max_channels=768),
    "l": YoloScale(depth=1.00, width=1.00, max_channels=512),
    "x": YoloScale(depth=1.00, width=1.25, max_channels=512),
}
YOLO11_SCALES = {
    "n": YoloScale(depth=0.50, width=0.25, max_channels=1024),
    "s": YoloScale(depth=0.50, width=0.50, max_channels=1024),
    "m": YoloScale(depth=0.50, width=1.00, max_channels=512),
    "l": YoloScale(depth=1.00, width=1.00, max_channels=512),
    "x": YoloScale(depth=1.00, width=1.50, max_channels=512),
}
YOLOV5_SCALES = {"s": YoloScale(depth=0.33, width=0.50), "m": YoloScale(depth=0.67, width=0.75)}

YOLOV8_ROWS: tuple[Row, ...] = (
    (-1, 1, "Conv", (64, 3, 2)),  # 0 P1/2
    (-1, 1, "Conv", (128, 3, 2)),  # 1 P2/4
    (-1, 3, "C2f", (128, True)),
    (-1, 1, "Conv", (256, 3, 2)),  # 3 P3/8
    (-1, 6, "C2f", (256, True)),
    (-1, 1, "Conv", (512, 3, 2)),  # 5 P4/16
    (-1, 6, "C2f", (512, True)),
    (-1, 1, "Conv", (1024, 3, 2)),  # 7 P5/32
    (-1, 3, "C2f", (1024, True)),
    (-1, 1, "SPPF", (1024, 5)),  # 9
    (-1, 1, "Upsample", ()),
    ((-1, 6), 1, "Concat", ()),
    (-1, 3, "C2f", (512, False)),  # 12
    (-1, 1, "Upsample", ()),
    ((-1, 4), 1, "Concat", ()),
    (-1, 3, "C2f", (256, False)),  # 15 (P3/8)
    (-1, 1, "Conv", (256, 3, 2)),
    ((-1, 12), 1, "Concat", ()),
    (-1, 3, "C2f", (512, False)),  # 18 (P4/16)
    (-1, 1, "Conv", (512, 3, 2)),
    ((-1, 9), 1, "Concat", ()),
    (-1, 3, "C2f", (1024, False)),  # 21 (P5/32)
    ((15, 18, 21), 1, "DetectV8", ()),
)

YOLO11_ROWS: tuple[Row, ...] = (
    (-1, 1, "Conv", (64, 3, 2)),  # 0 P1/2
    (-1, 1, "Conv", (128, 3, 2)),  # 1 P2/4
    (-1, 2, "C3k2", (256, False, 0.25)),
    (-1, 1, "Conv", (256, 3, 2)),  # 3 P3/8
    (-1, 2, "C3k2", (512, False, 0.25)),
    (-1, 1, "Conv", (512, 3, 2)),  # 5 P4/16
    (-1, 2, "C3k2", (512, True)),
    (-1, 1, "Conv", (1024, 3, 2)),  # 7 P5/32
    (-1, 2, "C3k2", (1024, True)),
    (-1, 1, "SPPF", (1024, 5)),  # 9
    (-1, 2, "C2PSA", (1024,)),  # 10
    (-1, 1, "Upsample", ()),
    ((-1, 6), 1, "Concat", ()),
    (-1, 2, "C3k2", (512, False)),  # 13
    (-1, 1, "Upsample", ()),
    ((-1, 4), 1, "Concat", ()),
    (-1, 2, "C3k2", (256, False)),  # 16 (P3/8)
    (-1, 1, "Conv", (256, 3, 2)),
    ((-1, 13), 1, "Concat", ()),
    (-1, 2, "C3k2", (512, False)),  # 19 (P4/16)
    (-1, 1, "Conv", (512, 3, 2)),
    ((-1, 10), 1, "Concat", ()),
    (-1, 2, "C3k2", (1024, True)),  # 22 (P5/32)
    ((16, 19, 22), 1, "DetectV11", ()),
)

YOLOV5_ROWS: tuple[Row, ...] = (
    (-1, 1, "Focus", (64, 3)),  # 0 P1/2
    (-1, 1, "Conv", (128, 3, 2)),  # 1 P2/4
    (-1, 3, "BottleneckCSP", (128,)),
    (-1, 1, "Conv", (256, 3, 2)),  # 3 P3/8
    (-1, 9, "BottleneckCSP", (256,)),
    (-1, 1, "Conv", (512, 3, 2)),  # 5 P4/16
    (-1, 9, "BottleneckCSP", (512,)),
    (-1, 1, "Conv", (1024, 3, 2)),  # 7 P5/32
    (-1, 1, "SPP", (1024, (5, 9, 13))),
    (-1, 3, "BottleneckCSP", (1024, False)),  # 9
    (-1, 1, "Conv", (512, 1, 1)),
    (-1, 1, "Upsample", ()),
    ((-1, 6), 1, "Concat", ()),
    (-1, 3, "BottleneckCSP", (512, False)),  # 13
    (-1, 1, "Conv", (256, 1, 1)),
    (-1, 1, "Upsample", ()),
    ((-1, 4), 1, "Concat", ()),
    (-1, 3, "BottleneckCSP", (256, False)),  # 17 (P3/8)
    (-1, 1, "Conv", (256, 3, 2)),
    ((-1, 14), 1, "Concat", ()),
    (-1, 3, "BottleneckCSP", (512, False)),  # 20 (P4/16)
    (-1, 1, "Conv", (512, 3, 2)),
    ((-1, 10), 1, "Concat", ()),
    (-1, 3, "BottleneckCSP", (1024, False)),  # 23 (P5/32)
    ((17, 20, 23), 1, "DetectV5", ()),
)


CSP_KINDS = ("C2f", "C3k2", "BottleneckCSP")
"""Row kinds that repeat a bottleneck and split + concatenate around it."""

OPTIONAL_KINDS = ("SPPF", "SPP", "C2PSA")
"""Row kinds the network still runs without (same channels in and out): replaced by identity."""

HEAD_KINDS = ("DetectV8", "DetectV11", "DetectV5")


@dataclass(frozen=True, kw_only=True)
class YoloEdits:
    """Row-level changes to a YOLO table (``model.<i>`` is row i); the default changes nothing.

    Attributes:
        repeats: ``(row, n)``: the CSP block of ``row`` runs ``n`` bottlenecks instead of its
            scaled count.
        plain: CSP rows built as :class:`PlainBlock` (no split, no concat).
        drop: rows of :data:`OPTIONAL_KINDS` replaced by identity (their input passes through).
        drop_last_scale: the head keeps every scale but the last (largest stride); the rows
            only that scale read become dead code.
        narrow: ``(row, factor)``: the row's output channels times ``factor`` (rounded up to 8).
    """

    repeats: tuple[tuple[int, int], ...] = ()
    plain: tuple[int, ...] = ()
    drop: tuple[int, ...] = ()
    drop_last_scale: bool = False
    narrow: tuple[tuple[int, float], ...] = ()


NO_EDITS = YoloEdits()


class YoloNet(nn.Module):
    """Runs ``model[i]`` on the outputs of the layers its row names; returns the head's tuple.

    ``sources[i]`` holds absolute layer indices, ``-1`` standing for the input image. The loop
    runs over fixed lists, so torch.fx unrolls it into a plain graph.
    """

    def __init__(self, layers: Sequence[nn.Module], sources: Sequence[tuple[int, ...]]) -> None:
        super().__init__()
        self.model = nn.ModuleList(layers)
        self.sources = tuple(sources)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Per-scale head outputs of an image batch ``(N, 3, H, W)``."""
        outputs: list[Any] = []
        for layer, sources in zip(self.model, self.sources, strict=True):
            inputs = [x if s < 0 else outputs[s] for s in sources]
            outputs.append(layer(inputs[0] if len(inputs) == 1 else inputs))
        return outputs[-1]


def build_yolo(
    rows: Sequence[Row],
    scale: YoloScale,
    *,
    width: float,
    depth: float,
    use_c3k: bool = False,
    make_layer: LayerMaker | None = None,
    edits: YoloEdits = NO_EDITS,
) -> YoloNet:
    """Build a table's network at ``scale`` with the gains multiplied by ``width`` and ``depth``.

    ``use_c3k`` forces C3k blocks in every C3k2 (YOLO11 m/l/x, as ``parse_model`` does).
    ``make_layer`` replaces the Ultralytics row kinds by a family's own (``None``: Ultralytics').
    ``edits`` changes single rows (:class:`YoloEdits`).

    Raises:
        ValueError: an edit that does not apply to its row's kind (repeats or plain on a row
            that is no CSP block, drop on a row that is not optional).
    """
    gain_w, gain_d = scale.width * width, scale.depth * depth
    repeats_of, narrow_of = dict(edits.repeats), dict(edits.narrow)

    channels: list[int] = []
    layers: list[nn.Module] = []
    sources: list[tuple[int, ...]] = []
    for i, (source, repeats, kind, args) in enumerate(rows):
        absolute = tuple(i - 1 if s == -1 else s for s in _as_tuple(source))
        if kind in HEAD_KINDS and edits.drop_last_scale:
            absolute = absolute[:-1]
        c_in = [3 if s < 0 else channels[s] for s in absolute]
        n = repeats_of.get(i, scale_repeats(repeats, gain_d))
        factor = narrow_of.get(i, 1.0)

        def width_of(c: int, factor: float = factor) -> int:
            return round_up(min(c, scale.max_channels) * gain_w * factor)

        _check_edit(i, kind, edits)
        if i in edits.drop:
            layer, c_out = nn.Identity(), c_in[0]  # SPPF, SPP, C2PSA keep their channels
        elif i in edits.plain:
            act: ActFactory = leaky_relu if kind == "BottleneckCSP" else nn.SiLU
            c_out = width_of(args[0])
            shortcut = kind != "C2f" or bool(args[1])
            if kind == "BottleneckCSP":
                shortcut = args[1] if len(args) > 1 else True
            layer = PlainBlock(c_in[0], c_out, n, shortcut=shortcut, act=act)
        elif make_layer is None:
            layer, c_out = _make_layer(kind, args, c_in, n, width_of, use_c3k)
        else:
            layer, c_out = make_layer(kind, args, c_in, n, width_of)
        layers.append(layer)
        sources.append(absolute)
        channels.append(c_out)
    return YoloNet(layers, sources)


def _check_edit(row: int, kind: str, edits: YoloEdits) -> None:
    """Raise ValueError when an edit names ``row`` but does not apply to its ``kind``."""
    if (row in dict(edits.repeats) or row in edits.plain) and kind not in CSP_KINDS:
        raise ValueError(f"row {row} is a {kind}, not a CSP block ({', '.join(CSP_KINDS)})")
    if row in edits.drop and kind not in OPTIONAL_KINDS:
        raise ValueError(f"row {row} is a {kind}; only {', '.join(OPTIONAL_KINDS)} can be dropped")


def _as_tuple(source: int | tuple[int, ...]) -> tuple[int, ...]:
    return (source,) if isinstance(source, int) else source


def _make_layer(
    kind: str,
    args: tuple[Any, ...],
    c_in: list[int],
    n: int,
    width_of: Callable[[int], int],
    use_c3k: bool,
) -> tuple[nn.Module, int]:
    """One table row as a module and its output channel count."""
    if kind == "Upsample":
        return nn.Upsample(scale_factor=2, mode="nearest"), c_in[0]
    if kind == "Concat":
        return Concat(), sum(c_in)
    if kind in ("DetectV8", "DetectV11"):
        return DetectV8(c_in, separable=kind == "DetectV11"), 0
    if kind == "DetectV5":
        return DetectV5(c_in), 0
    c_out = width_of(args[0])
    act: ActFactory = leaky_relu if kind in ("Focus", "BottleneckCSP", "SPP") else nn.SiLU
    if kind == "Conv":
        return ConvBnAct(c_in[0], c_out, args[1], args[2], act=act), c_out
    if kind == "C2f":
        return C2f(c_in[0], c_out, n, shortcut=args[1]), c_out
    if kind == "C3k2":
        expand = args[2] if len(args) > 2 else 0.5
        return c3k2(c_in[0], c_out, n, use_c3k=args[1] or use_c3k, expand=expand), c_out
    if kind == "SPPF":
        return SPPF(c_in[0], c_out, args[1]), c_out
    if kind == "C2PSA":
        return C2PSA(c_in[0], c_out, n), c_out
    if kind == "Focus":
        return Focus(c_in[0], c_out, args[1]), c_out
    if kind == "BottleneckCSP":
        shortcut = args[1] if len(args) > 1 else True
        return BottleneckCSP(c_in[0], c_out, n, shortcut=shortcut), c_out
    if kind == "SPP":
        return SPP(c_in[0], c_out, args[1]), c_out
    raise ValueError(f"unknown YOLO layer kind {kind!r} in a zoo table")


def yolov8(scale: str, *, width: float, depth: float, edits: YoloEdits = NO_EDITS) -> YoloNet:
    """YOLOv8 ``n``/``s``/``m``/``l``/``x`` (Ultralytics ``yolov8.yaml``), cut before DFL."""
    return build_yolo(YOLOV8_ROWS, YOLOV8_SCALES[scale], width=width, depth=depth, edits=edits)


def yolo11(scale: str, *, width: float, depth: float, edits: YoloEdits = NO_EDITS) -> YoloNet:
    """YOLO11 ``n``/``s``/``m``/``l``/``x`` (Ultralytics ``yolo11.yaml``), cut before DFL."""
    use_c3k = scale in "mlx"
    return build_yolo(
        YOLO11_ROWS, YOLO11_SCALES[scale], width=width, depth=depth, use_c3k=use_c3k, edits=edits
    )


def yolov5(scale: str, *, width: float, depth: float, edits: YoloEdits = NO_EDITS) -> YoloNet:
    """YOLOv5 ``s``/``m`` of release v2.0 (BottleneckCSP, Focus, SPP, LeakyReLU 0.1), anchor-based,
    cut at the three per-scale 1x1 detection convs."""
    return build_yolo(YOLOV5_ROWS, YOLOV5_SCALES[scale], width=width, depth=depth, edits=edits)
