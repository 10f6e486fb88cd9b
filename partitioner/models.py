"""Turn the MODEL argument of every command into a :class:`~partitioner.graph.Network`.

MODEL is one of:

* a zoo name or alias (``yolov8n``, ``resnet_v1_50``, ``resnet50``) — see ``ctxfit zoo``;
* ``path/to/file.py:factory`` — a function returning an ``nn.Module`` (``--input-shape`` needed);
* a saved layer graph ``.json`` (written by ``ctxfit profile MODEL --json FILE``);
* an ``.onnx`` file.

Zoo networks are cached on disk once imported (see :mod:`partitioner.netcache`); files are not.

>>> parse_shape("1x3x640x640")
(1, 3, 640, 640)
>>> parse_shape("1,3,224,224")
(1, 3, 224, 224)
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cost_model.ranges import RESOLUTION
from partitioner.errors import ModelNotFoundError, UsageError
from partitioner.graph import Network
from partitioner.netcache import cached_network

_SHAPE_RE = re.compile(r"^\s*[0-9]{1,9}(\s*[x,X]\s*[0-9]{1,9}){0,7}\s*$", re.ASCII)
MAX_DIM = RESOLUTION.high
"""The largest input dimension ``--input-shape`` takes (100,000: 8K video is 7,680 wide)."""


def parse_shape(text: str) -> tuple[int, ...]:
    """Parse ``1x3x640x640`` (or comma-separated) into a tuple of positive ints.

    Raises:
        UsageError: the text is not up to 8 ASCII dimensions separated by ``x`` or ``,``, or a
            dimension is 0 or above :data:`MAX_DIM`.

    >>> parse_shape("1x3x100001x8")
    Traceback (most recent call last):
    ...
    partitioner.errors.UsageError: input shape '1x3x100001x8' has a dimension of 100001; each must
    be from 1 to 100000
    """
    if not _SHAPE_RE.match(text):
        raise UsageError(
            f"input shape {text!r} is not understood; write it as NxCxHxW, e.g. 1x3x640x640"
        )
    dims = tuple(int(d) for d in re.split(r"[xX,]", text.replace(" ", "")))
    if any(d <= 0 for d in dims):
        raise UsageError(f"input shape {text!r} has a zero dimension; every dimension must be >= 1")
    big = [d for d in dims if d > MAX_DIM]
    if big:
        raise UsageError(
            f"input shape {text!r} has a dimension of {big[0]}; each must be from 1 to {MAX_DIM}"
        )
    return dims


def _shape_text(shape: tuple[int, ...]) -> str:
    return "x".join(str(d) for d in shape)


@dataclass(frozen=True, kw_only=True)
class ModelRequest:
    """What the user asked for: MODEL plus the optional shape and architecture knobs."""

    spec: str
    input_shape: tuple[int, ...] | None = None
    width: float | None = None
    depth: float | None = None
    resolution: int | None = None
    start_nodes: tuple[str, ...] | None = None
    end_nodes: tuple[str, ...] | None = None
    allow_unknown: bool = False
    keep_postprocess: bool = False


def load_network(
    request: ModelRequest, *, on_message: Callable[[str], None] | None = None
) -> Network:
    """Resolve and import a model.

    Raises:
        ModelNotFoundError: no such file, zoo entry or factory.
        ModelImportError: the model exists but cannot be turned into a layer graph.
        UsageError: a knob the model does not have, or a bad shape.
    """
    spec = request.spec
    lower = spec.lower()
    if lower.endswith(".json"):
        _reject_knobs(request, "a saved .json layer graph")
        _reject_onnx_options(request)
        return Network.load(existing_file(spec))
    if lower.endswith(".onnx"):
        _reject_knobs(request, "an .onnx file")
        return _load_onnx(request, on_message)
    _reject_onnx_options(request)
    if ".py:" in spec or lower.endswith(".py"):
        return _load_factory(request)
    return _load_zoo(request)


def existing_file(path_text: str) -> Path:
    """``path_text`` as a path if it is a regular file (checked without opening it: a FIFO
    would block).

    Raises:
        ModelNotFoundError: nothing is there, or a directory, FIFO, device or socket is.
    """
    path = Path(path_text)
    if path.is_file():
        return path
    if path.is_dir():
        raise ModelNotFoundError(
            f"model file {path_text!r} is a directory; give the path of the model file itself"
        )
    if path.exists():
        raise ModelNotFoundError(
            f"model file {path_text!r} is not a regular file (a FIFO, device or socket); give "
            "the path of a model file"
        )
    raise ModelNotFoundError(f"model file {path_text!r} does not exist (check the path)")


def _reject_knobs(request: ModelRequest, what: str) -> None:
    for knob in ("width", "depth", "resolution"):
        if getattr(request, knob) is not None:
            raise UsageError(
                f"--{knob} cannot change {what}; it applies to zoo models and file.py:factory "
                "functions that accept it"
            )


def _reject_onnx_options(request: ModelRequest) -> None:
    given = [
        flag
        for flag, value in (
            ("--start-nodes", request.start_nodes),
            ("--end-nodes", request.end_nodes),
            ("--allow-unknown", request.allow_unknown),
            ("--keep-postprocess", request.keep_postprocess),
        )
        if value
    ]
    if given:
        raise UsageError(f"{', '.join(given)} apply to .onnx models only")


def _load_onnx(request: ModelRequest, on_message: Callable[[str], None] | None) -> Network:
    from partitioner.importers.onnx_import import import_onnx

    path = existing_file(request.spec)
    return import_onnx(
        path,
        input_shape=request.input_shape,
        start_nodes=request.start_nodes,
        end_nodes=request.end_nodes,
        allow_unknown=request.allow_unknown,
        keep_postprocess=request.keep_postprocess,
        on_message=on_message,
    )


def _load_factory(request: ModelRequest) -> Network:
    if ":" not in request.spec:
        raise UsageError(
            f"{request.spec!r} names a file but no factory; write {request.spec}:FUNCTION, "
            "a function that returns an nn.Module"
        )
    if request.input_shape is not None:
        _check_factory_shape(request.spec, request.input_shape)  # before importing torch
    from partitioner.importers.torch_fx import import_module, load_factory

    factory = load_factory(request.spec)
    kwargs = {
        k: getattr(request, k)
        for k in ("width", "depth", "resolution")
        if getattr(request, k) is not None
    }
    module = _call_factory(factory, request.spec, kwargs)
    shape = request.input_shape or getattr(module, "input_shape", None)
    if shape is None:
        raise UsageError(
            f"{request.spec!r} needs an input shape: pass --input-shape, e.g. 1x3x640x640"
        )
    name = request.spec.rsplit(":", 1)[1]
    return import_module(module, tuple(shape), name=name)


def _check_factory_shape(spec: str, shape: tuple[int, ...]) -> None:
    """A factory's input shape has the batch first, and the batch is 1 (``--batch`` is the
    batch size); a 3-D shape most likely forgot the batch."""
    if len(shape) == 3:
        raise UsageError(
            f"--input-shape {_shape_text(shape)} for {spec!r} has no batch dimension; "
            f"pass {_shape_text((1, *shape))} (NxCxHxW with N = 1)"
        )
    if shape[0] != 1:
        raise UsageError(
            f"--input-shape {_shape_text(shape)} for {spec!r} has batch {shape[0]}; ctxfit "
            f"imports one frame: pass {_shape_text((1, *shape[1:]))} (the batch size is --batch)"
        )


def _call_factory(factory: object, spec: str, kwargs: dict[str, object]) -> object:
    from cost_model.errors import CtxfitError
    from partitioner.errors import ModelImportError

    try:
        return factory(**kwargs)  # type: ignore[operator]
    except ModelImportError as err:
        if kwargs and isinstance(err.__cause__, TypeError):
            raise UsageError(
                f"factory {spec!r} does not accept {', '.join(sorted(kwargs))}: {err.__cause__}"
            ) from err
        raise  # already names the factory and what it raised
    except CtxfitError:
        raise
    except TypeError as err:
        if kwargs:
            raise UsageError(
                f"factory {spec!r} does not accept {', '.join(sorted(kwargs))}: {err}"
            ) from err
        raise ModelImportError(f"factory {spec!r} raised TypeError: {err}") from err
    except Exception as err:  # the user's code: report, never crash
        raise ModelImportError(f"factory {spec!r} raised {type(err).__name__}: {err}") from err


def _load_zoo(request: ModelRequest) -> Network:
    """A zoo network, from the disk cache (:mod:`partitioner.netcache`) when it has it: a hit
    imports neither torch nor the zoo's torch modules."""
    from partitioner.zoo import check_knobs, resolve_name

    entry = resolve_name(request.spec)
    resolution = request.resolution
    input_width: int | None = None
    if request.input_shape is not None:
        shape = request.input_shape
        if len(shape) != 4:
            hint = f"; pass {_shape_text((1, *shape))}" if len(shape) == 3 else ""
            raise UsageError(
                f"zoo model {entry.name!r} takes a 4-D input shape NxCxHxW, "
                f"got {_shape_text(shape)}{hint}"
            )
        n, c, h, w = shape
        channels = entry.input_chw[0]
        wrong = [f"batch {n} (the batch size is --batch)"] if n != 1 else []
        wrong += [f"{c} channels ({entry.name!r} takes {channels})"] if c != channels else []
        if wrong:
            raise UsageError(
                f"--input-shape {_shape_text(shape)} has {' and '.join(wrong)}; "
                f"pass {_shape_text((1, channels, h, w))}"
            )
        if resolution is not None and resolution != h:
            raise UsageError("--resolution and --input-shape disagree; give one of them")
        if (h, w) != entry.input_chw[1:]:
            resolution = h
        if (h, w) != entry.input_hw_at(h):
            input_width = w  # an input of its own aspect ratio (1x3x384x640 for a 640x640 model)
    width, depth = request.width, request.depth
    _, effective = check_knobs(
        entry.name, width=width, depth=depth, resolution=resolution, input_width=input_width
    )

    def build() -> Network:
        from partitioner.importers.torch_fx import import_module
        from partitioner.zoo import build_module

        module, shape = build_module(
            entry.name, width=width, depth=depth, resolution=resolution, input_width=input_width
        )
        return import_module(module, shape, name=entry.name)

    return cached_network(entry.name, effective, build)
