"""The reference zoo: the Hailo Model Zoo's networks (and YOLO11) rebuilt in plain torch.

Every network is defined here without torchvision, timm or ultralytics and without weights;
``build_module`` returns it in eval mode with uninitialized weights (only shapes matter: building
skips torch's random init, which took most of the time), ready to trace. Names are the Hailo
Model Zoo's (``resnet_v1_50``, ``mobilenet_v2_1.0``, ``yolov8n``); common aliases are accepted
(``resnet50``, ``mobilenet_v2``, ``yolo11n``), case-insensitively, with ``-`` read as ``_``.

The knobs ``width``, ``depth`` and ``resolution`` change the architecture: ``width`` and
``depth`` multiply the network's own channel and block-count gains (1.0 is the published
network), ``resolution`` sets the input height (the width keeps the published input's aspect
ratio: :meth:`ZooEntry.input_hw_at`).

The first 25 networks are listed here; the others, one task family per module, in
``catalog_classification.py``, ``catalog_detection.py`` and ``catalog_dense.py``.

>>> resolve_name("ResNet50").name
'resnet_v1_50'
>>> ZOO["yolov8n"].input_chw, ZOO["yolov8n"].knobs
((3, 640, 640), ('width', 'depth', 'resolution'))
>>> module, shape = build_module("squeezenet", width=0.5, resolution=160)
>>> shape
(1, 3, 160, 160)
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from partitioner.errors import ModelNotFoundError, UsageError

if TYPE_CHECKING:
    from torch import nn

__all__ = [
    "ZOO",
    "ZooEntry",
    "build_module",
    "check_knobs",
    "materialize",
    "recipe",
    "resolve_name",
    "zoo_names",
]

from partitioner.zoo import catalog_classification, catalog_dense, catalog_detection
from partitioner.zoo.entry import HAILO_CSV, KNOBS, NO_DEPTH, ZooEntry, zoo_entry

MULTIPLIER_MAX = 4.0  # width and depth are accepted in (0, 4]
RESOLUTION_MAX = 2048  # pixels per side
SQUARE_ONLY_MODULES = frozenset({"vit"})
"""Family modules whose builders take one side (``resolution``), not ``input_hw``: their
networks take square inputs only (tests/test_zoo.py checks the list against the builders)."""

ULTRALYTICS_YOLO11 = "Ultralytics docs, models/yolo11 (params M; FLOPs B / 2 = MACs, at 640)"

CLS, DET = "classification", "object_detection"


def _entry(
    name: str,
    family: str,
    aliases: tuple[str, ...],
    *,
    params_m: float,
    ops_g: float,
    knobs: tuple[str, ...] = KNOBS,
    source: str = HAILO_CSV,
) -> ZooEntry:
    """An entry of the first 25 networks: detectors at 640x640, classifiers at 224x224."""
    detector = family.startswith("yolo")
    side = 640 if detector else 224
    return zoo_entry(
        name,
        family,
        aliases,
        params_m=params_m,
        ops_g=ops_g,
        task=DET if detector else CLS,
        input_hw=(side, side),
        knobs=knobs,
        source=source,
        resolution_step=16 if family == "vit" else 32,
    )


_ENTRIES: tuple[ZooEntry, ...] = (
    _entry("resnet_v1_18", "resnet", ("resnet18", "resnet_18"), params_m=11.68, ops_g=3.64),
    _entry("resnet_v1_34", "resnet", ("resnet34", "resnet_34"), params_m=21.79, ops_g=7.34),
    _entry("resnet_v1_50", "resnet", ("resnet50", "resnet_50"), params_m=25.53, ops_g=6.98),
    _entry("resnext50_32x4d", "resnext", ("resnext50",), params_m=24.99, ops_g=8.48),
    _entry(
        "mobilenet_v1",
        "mobilenet_v1",
        ("mobilenetv1", "mobilenet_v1_1.0_224"),
        params_m=4.22,
        ops_g=1.14,
        knobs=NO_DEPTH,
    ),
    _entry(
        "mobilenet_v2_1.0",
        "mobilenet_v2",
        ("mobilenet_v2", "mobilenetv2", "mobilenetv2_100", "mobilenet_v2_1.0_224"),
        params_m=3.49,
        ops_g=0.62,
        knobs=NO_DEPTH,
    ),
    _entry(
        "mobilenet_v2_1.4",
        "mobilenet_v2",
        ("mobilenetv2_1.4", "mobilenetv2_140", "mobilenet_v2_1.4_224"),
        params_m=6.09,
        ops_g=1.18,
        knobs=NO_DEPTH,
    ),
    _entry("regnetx_800mf", "regnetx", ("regnet_x_800mf", "regnetx_008"), params_m=7.24, ops_g=1.6),
    _entry(
        "regnetx_1.6gf",
        "regnetx",
        ("regnet_x_1_6gf", "regnetx_1_6gf", "regnetx_016"),
        params_m=9.17,
        ops_g=3.22,
    ),
    _entry(
        "squeezenet_v1.1",
        "squeezenet",
        ("squeezenet", "squeezenet1_1", "squeezenet_1.1", "squeezenet_v1_1"),
        params_m=1.24,
        ops_g=0.78,
        knobs=NO_DEPTH,
    ),
    _entry("vit_tiny", "vit", ("vit_tiny_patch16_224",), params_m=5.73, ops_g=2.2),
    _entry("vit_small", "vit", ("vit_small_patch16_224",), params_m=21.12, ops_g=8.62),
    _entry("vit_base", "vit", ("vit_base_patch16_224", "vit_b_16"), params_m=86.5, ops_g=35.188),
    _entry("yolov5s", "yolov5", ("yolo_v5s",), params_m=7.46, ops_g=17.44),
    _entry("yolov5m", "yolov5", ("yolo_v5m",), params_m=21.78, ops_g=52.17),
    *(
        _entry(f"yolov8{size}", "yolov8", (f"yolo8{size}", f"yolo_v8{size}"), params_m=p, ops_g=g)
        for size, p, g in (
            ("n", 3.2, 8.74),
            ("s", 11.2, 28.6),
            ("m", 25.9, 78.93),
            ("l", 43.7, 165.3),
            ("x", 68.2, 258.0),
        )
    ),
    *(
        _entry(
            f"yolov11{size}",
            "yolo11",
            (f"yolo11{size}", f"yolo_v11{size}"),
            params_m=p,
            ops_g=g,
            source=ULTRALYTICS_YOLO11,
        )
        for size, p, g in (
            ("n", 2.6, 6.5),
            ("s", 9.4, 21.5),
            ("m", 20.1, 68.0),
            ("l", 25.3, 86.9),
            ("x", 56.9, 194.9),
        )
    ),
)

_CATALOGS = (catalog_classification, catalog_detection, catalog_dense)
_ENTRIES += tuple(entry for catalog in _CATALOGS for entry in catalog.ENTRIES)

ZOO: Mapping[str, ZooEntry] = MappingProxyType({entry.name: entry for entry in _ENTRIES})

# How to build each network: (module of partitioner.zoo, builder function, fixed arguments).
# The builder takes, as keyword arguments, the knobs among width/depth/resolution it declares.
_RECIPES: Mapping[str, tuple[str, str, Mapping[str, Any]]] = MappingProxyType(
    {
        "resnet_v1_18": ("resnet", "resnet_basic", {"units": (2, 2, 2, 2)}),
        "resnet_v1_34": ("resnet", "resnet_basic", {"units": (3, 4, 6, 3)}),
        "resnet_v1_50": (
            "resnet",
            "resnet_bottleneck",
            {"units": (3, 4, 6, 3), "slim_layout": True},
        ),
        "resnext50_32x4d": (
            "resnet",
            "resnet_bottleneck",
            {"units": (3, 4, 6, 3), "groups": 32, "group_width": 4},
        ),
        "mobilenet_v1": ("mobilenet", "mobilenet_v1", {}),
        "mobilenet_v2_1.0": ("mobilenet", "mobilenet_v2", {"alpha": 1.0}),
        "mobilenet_v2_1.4": ("mobilenet", "mobilenet_v2", {"alpha": 1.4}),
        "regnetx_800mf": ("regnet", "regnetx", {"variant": "800mf"}),
        "regnetx_1.6gf": ("regnet", "regnetx", {"variant": "1.6gf"}),
        "squeezenet_v1.1": ("squeezenet", "squeezenet_v1_1", {}),
        "vit_tiny": ("vit", "vision_transformer", {"embed_dim": 192, "heads": 3}),
        "vit_small": ("vit", "vision_transformer", {"embed_dim": 384, "heads": 6}),
        "vit_base": ("vit", "vision_transformer", {"embed_dim": 768, "heads": 12}),
        **{f"yolov5{size}": ("yolo", "yolov5", {"scale": size}) for size in "sm"},
        **{f"yolov8{size}": ("yolo", "yolov8", {"scale": size}) for size in "nsmlx"},
        **{f"yolov11{size}": ("yolo", "yolo11", {"scale": size}) for size in "nsmlx"},
        **{name: recipe for catalog in _CATALOGS for name, recipe in catalog.RECIPES.items()},
    }
)
assert set(_RECIPES) == set(ZOO), "every zoo entry needs a recipe"


def _normalize(name: str) -> str:
    return name.strip().lower().replace("-", "_")


def _build_index() -> dict[str, str]:
    index: dict[str, str] = {}
    for entry in ZOO.values():
        for key in (entry.name, *entry.aliases):
            assert _normalize(key) not in index, f"zoo name {key!r} is listed twice"
            index[_normalize(key)] = entry.name
    return index


_INDEX: Mapping[str, str] = MappingProxyType(_build_index())


def zoo_names() -> list[str]:
    """Canonical names of every zoo network, in zoo order (classification first, then YOLO).

    >>> zoo_names()[:3]
    ['resnet_v1_18', 'resnet_v1_34', 'resnet_v1_50']
    """
    return list(ZOO)


def resolve_name(name: str) -> ZooEntry:
    """The entry named ``name`` or one of its aliases (case-insensitive, ``-`` read as ``_``).

    Raises:
        ModelNotFoundError: no name or alias matches; the message suggests up to three close
            names (difflib ratio >= 0.6, ties in zoo order).

    >>> resolve_name("YOLO11n").name
    'yolov11n'
    >>> resolve_name("yolov8q")
    Traceback (most recent call last):
    ...
    partitioner.errors.ModelNotFoundError: unknown model 'yolov8q'; did you mean 'yolov8n', \
'yolov8s', 'yolov8m'? Run `ctxfit zoo` for the list
    """
    key = _normalize(name)
    if key in _INDEX:
        return ZOO[_INDEX[key]]
    close = _close_names(key)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else "."
    raise ModelNotFoundError(f"unknown model {name!r}{hint} Run `ctxfit zoo` for the list")


def _close_names(key: str, limit: int = 3, cutoff: float = 0.6) -> list[str]:
    """Canonical names whose name or an alias is close to ``key``, best first, ties in zoo order."""
    best: dict[str, float] = {}
    for candidate, canonical in _INDEX.items():
        ratio = difflib.SequenceMatcher(None, key, candidate).ratio()
        if ratio >= cutoff:
            best[canonical] = max(best.get(canonical, 0.0), ratio)
    order = {name: i for i, name in enumerate(ZOO)}
    return sorted(best, key=lambda c: (-best[c], order[c]))[:limit]


def build_module(
    name: str,
    *,
    width: float | None = None,
    depth: float | None = None,
    resolution: int | None = None,
    input_width: int | None = None,
) -> tuple[nn.Module, tuple[int, int, int, int]]:
    """Build zoo network ``name`` (eval mode, uninitialized weights) and its input shape
    ``(1, C, H, W)``.

    ``None`` leaves a knob at the published network's value. ``input_width`` gives the input a
    width of its own (``--input-shape 1x3x384x640``); by default the width keeps the published
    input's aspect ratio at ``resolution`` (:meth:`ZooEntry.input_hw_at`).

    Raises:
        ModelNotFoundError: ``name`` is no zoo name or alias.
        UsageError: a knob the family does not have; ``width`` or ``depth`` outside (0, 4];
            ``resolution`` or ``input_width`` not a multiple of 32 (16 for ViT) between that
            step and 2048; a width other than the height for a network built for square inputs
            only (ViT's position table).

    >>> build_module("mobilenet_v1", depth=2.0)
    Traceback (most recent call last):
    ...
    partitioner.errors.UsageError: model 'mobilenet_v1' has no depth knob; its knobs are width, \
resolution
    """
    entry, knobs = check_knobs(
        name, width=width, depth=depth, resolution=resolution, input_width=input_width
    )
    module = _build(entry, knobs)
    h, w = _input_hw(entry, knobs)
    return module.eval(), (1, entry.input_chw[0], h, w)


def _input_hw(entry: ZooEntry, knobs: Mapping[str, float]) -> tuple[int, int]:
    """The input ``(H, W)`` of checked ``knobs``: the given width, else the aspect ratio's."""
    h = int(knobs["resolution"])
    if "input_width" in knobs:
        return h, int(knobs["input_width"])
    return entry.input_hw_at(h)


def check_knobs(
    name: str,
    *,
    width: float | None = None,
    depth: float | None = None,
    resolution: int | None = None,
    input_width: int | None = None,
) -> tuple[ZooEntry, dict[str, float]]:
    """The entry of ``name`` and the knobs :func:`build_module` builds it with, checked the same
    way, without importing torch: ``{"width": ..., "depth": ..., "resolution": ...}``, a knob
    left ``None`` at the published network's value, plus ``input_width`` when one is given
    that differs from the aspect ratio's width.

    Raises:
        ModelNotFoundError, UsageError: as :func:`build_module`.

    >>> check_knobs("yolo11n", width=0.5)[1]
    {'width': 0.5, 'depth': 1.0, 'resolution': 640}
    """
    entry = resolve_name(name)
    given = {"width": width, "depth": depth, "resolution": resolution}
    for knob, value in given.items():
        if value is not None and knob not in entry.knobs:
            raise UsageError(
                f"model {entry.name!r} has no {knob} knob; its knobs are {', '.join(entry.knobs)}"
            )
    w = _check_multiplier(entry, "width", width)
    d = _check_multiplier(entry, "depth", depth)
    side = _check_resolution(entry, resolution)
    knobs = {"width": w, "depth": d, "resolution": side}
    if input_width is not None and input_width != entry.input_hw_at(side)[1]:
        knobs["input_width"] = _check_input_width(entry, input_width, side)
    return entry, knobs


def _check_input_width(entry: ZooEntry, value: int, height: int) -> int:
    """An input width of its own: a multiple of the entry's step, up to 2048, and the height
    for a network whose builder takes one square side (``resolution``, not ``input_hw``)."""
    step = entry.resolution_step
    if not isinstance(value, int) or value % step or not step <= value <= RESOLUTION_MAX:
        raise UsageError(
            f"input width {value!r} for model {entry.name!r} is not accepted; use a multiple of "
            f"{step} between {step} and {RESOLUTION_MAX}"
        )
    if _RECIPES[entry.name][0] in SQUARE_ONLY_MODULES and value != height:
        raise UsageError(
            f"model {entry.name!r} takes square inputs only (its position table is built for "
            f"one side); give --input-shape 1x{entry.input_chw[0]}x{height}x{height}"
        )
    return value


def _build(entry: ZooEntry, knobs: Mapping[str, float]) -> nn.Module:
    """Call ``entry``'s builder with its fixed arguments, the knobs it declares and, if it
    declares ``input_hw``, the input's height and width.

    The family module is imported here, so that listing the zoo does not import torch.
    """
    module_name, function_name, fixed = _RECIPES[entry.name]
    build = getattr(importlib.import_module(f"partitioner.zoo.{module_name}"), function_name)
    declared = inspect.signature(build).parameters
    given = {k: v for k, v in knobs.items() if k in declared}
    if "input_hw" in declared:
        given["input_hw"] = _input_hw(entry, knobs)
    import torch

    with torch.device("meta"):  # no data, so no random init (2-3x the rest of the build)
        module = build(**fixed, **given)
    return _materialize(module)


def recipe(name: str) -> tuple[str, str, Mapping[str, Any]]:
    """How the zoo builds network ``name`` (a canonical zoo name): ``(module of partitioner.zoo,
    builder function, fixed arguments)``; the builder takes the knobs it declares as keywords.

    >>> module, function, fixed = recipe("resnet_v1_18")
    >>> module, function, dict(fixed)
    ('resnet', 'resnet_basic', {'units': (2, 2, 2, 2)})
    """
    return _RECIPES[name]


def materialize(module: nn.Module) -> nn.Module:
    """``module`` built on the meta device, given real (uninitialized) CPU tensors: what the
    zoo's builders return (see :func:`_materialize`)."""
    return _materialize(module)


def _materialize(module: nn.Module) -> nn.Module:
    """Give every meta parameter and buffer of ``module`` uninitialized CPU memory of its shape
    and dtype (a shared tensor stays shared); ``Module.to_empty`` would do it 5x slower."""
    import torch
    from torch import nn

    done: dict[int, torch.Tensor] = {}
    for sub in module.modules():
        for store in (sub._parameters, sub._buffers):
            for key, value in list(store.items()):
                if value is None or not value.is_meta:
                    continue
                if id(value) not in done:
                    real = torch.empty(value.shape, dtype=value.dtype)
                    if isinstance(value, nn.Parameter):
                        real = nn.Parameter(real, requires_grad=value.requires_grad)
                    done[id(value)] = real
                store[key] = done[id(value)]
    return module


def _check_multiplier(entry: ZooEntry, knob: str, value: float | None) -> float:
    if value is None:
        return 1.0
    if not (isinstance(value, (int, float)) and math.isfinite(value)) or not (
        0 < value <= MULTIPLIER_MAX
    ):
        raise UsageError(
            f"{knob} {value!r} for model {entry.name!r} is out of range; "
            f"use a multiplier in (0, {MULTIPLIER_MAX:g}] (1.0 is the published network)"
        )
    return float(value)


def _check_resolution(entry: ZooEntry, value: int | None) -> int:
    if value is None:
        return entry.input_chw[1]
    step = entry.resolution_step
    if not isinstance(value, int) or value % step or not step <= value <= RESOLUTION_MAX:
        raise UsageError(
            f"resolution {value!r} for model {entry.name!r} is not accepted; use a multiple of "
            f"{step} between {step} and {RESOLUTION_MAX} (default {entry.input_chw[1]})"
        )
    return value
