"""``ctxfit sweep``: contexts, FPS and binding resource over a grid of architecture knobs.

A sweep is a :class:`SweepPlan`: a model, the values of up to two of ``width``, ``depth`` and
``resolution`` (:func:`parse_range` reads ``START:STOP:STEP``), the parts and the batch sizes.
With no knob it sweeps the parts alone (one point: the model as given), which is how ONNX files
and saved ``.json`` graphs, which have no knobs, are swept.
Each grid point is one :class:`SweepTask` for :func:`run_task`, a top-level function, so that the
same task runs inline, in a :class:`~concurrent.futures.ProcessPoolExecutor` (``--jobs``) or on a
Dask cluster (``--executor dask://HOST:PORT``, the ``ctxfit[cluster]`` extra). A task builds the
network once and compiles it for every part that is not cached yet.

Results are cached on disk (:class:`SweepCache`), one JSON file per (point, part), written
atomically as soon as the point is finished, under a key (:func:`cache_key`) of the model (a
factory file's content hash included), the knob values, the part's every parameter, the batches,
the search settings, :data:`COST_MODEL_VERSION` and ctxfit's version. A rerun skips finished
points; an interrupted sweep loses nothing finished; a cost-model change invalidates the cache.

The record of a point (``sweep.json`` ``points``, ``sweep.csv`` rows): ``num_contexts``,
``single_context``, ``fps`` per batch, ``binding``: for one context, what stops its FPS rising
(a resource, ``layer`` at its split limit, or ``pcie``); for several, the resource furthest over
its single-context limit (what keeps the network from one context); ``one_context``: how
close the one-context verdict was, the deciding ``used / limit`` of the lowest demand
(``share``, ``resource``, ``used``, ``limit``, ``base_caps``:
:class:`cost_model.context.FitMargin`; ``None`` when the flow forces several contexts); the
solver's ``solver_status`` and ``gap``; and
``knobs``, the effective knob values (a zoo model's published value for a knob not swept) with
``input_shapes``.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import hashlib
import io
import json
import math
import os
import re
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cost_model
from cost_model.hardware import HardwareSpec
from partitioner.errors import CtxfitError, UsageError
from partitioner.flows import FLOW_PARAMS

SWEEP_SCHEMA = 1
RECORD_VERSION = 3
"""The fields and the flow of a record (2: ``solver_status``, ``gap``, ``knobs``,
``input_shapes``, compiled as ``ctxfit compile --compiler-defaults``; 3: ``one_context``); part
of every cache key, so that older records are computed again."""
KNOBS = ("width", "depth", "resolution")
OUTPUT_FILES = ("sweep.json", "sweep.csv", "fitmap.png", "fitmap.svg")
"""The files a sweep writes into its output folder (``sweep.json`` marks the folder as one)."""
CACHE_DIR = ".ctxfit-cache"
"""The cache's folder inside the output folder."""
DEFAULT_TIMEOUT_S = 5.0
"""Multi-context search budget per point and part (``--timeout``)."""
OPTIMIZE_FOR_BATCH = 8
"""Batch whose time the partitioner minimises at every point (``ctxfit compile``'s default)."""
SOLVER_WORKERS = 1
"""CP-SAT workers per task: parallelism comes from the tasks (and one worker is deterministic)."""
MAX_POINTS = 10_000
DASK_CONNECT_TIMEOUT_S = 5.0


def source_digest(root: Path, patterns: Sequence[str] = ("*.py", "*.toml")) -> str:
    """First 12 hex digits of the SHA-256 of every file under ``root`` matching ``patterns``
    (relative path and content, in sorted order; ``__pycache__`` skipped)."""
    digest = hashlib.sha256()
    files = sorted(
        {p for pattern in patterns for p in root.rglob(pattern) if "__pycache__" not in p.parts}
    )
    for path in files:
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


COST_MODEL_VERSION = source_digest(Path(cost_model.__file__).parent)
"""Hash of the ``cost_model`` package's sources (``*.py``, the hardware ``*.toml``): any change
to the cost model changes it, and with it every cache key."""


def ctxfit_version() -> str:
    """The installed ctxfit's version (``0+unknown`` from a source tree not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ctxfit")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0+unknown"


# -- grids ---------------------------------------------------------------------------------------
_NUMBER = r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+"
_RANGE_RE = re.compile(rf"^({_NUMBER}):({_NUMBER}):({_NUMBER})$")


def parse_range(text: str, *, flag: str, integer: bool = False) -> tuple[float | int, ...]:
    """``START:STOP:STEP`` (STOP included) or one value, as a tuple of values.

    Raises:
        UsageError: not one number or ``START:STOP:STEP``; a step of 0; STOP below START; an
            integer flag given a fraction; more than :data:`MAX_POINTS` values.

    >>> parse_range("0.25:1.0:0.25", flag="--width")
    (0.25, 0.5, 0.75, 1.0)
    >>> parse_range("320:416:32", flag="--res", integer=True)
    (320, 352, 384, 416)
    >>> parse_range("0.5", flag="--width")
    (0.5,)
    >>> parse_range("0.25:1.0", flag="--width")
    Traceback (most recent call last):
    ...
    partitioner.errors.UsageError: --width '0.25:1.0' is not START:STOP:STEP or one number; \
write e.g. 0.25:1.0:0.125 (STOP included)
    """
    text = text.strip()
    if re.fullmatch(_NUMBER, text):
        start = stop = float(text)
        step = 1.0
    else:
        match = _RANGE_RE.match(text)
        if not match:
            example = "320:640:32" if integer else "0.25:1.0:0.125"
            raise UsageError(
                f"{flag} {text!r} is not START:STOP:STEP or one number; "
                f"write e.g. {example} (STOP included)"
            )
        start, stop, step = (float(g) for g in match.groups())
        if step <= 0:
            raise UsageError(f"{flag} {text!r} has a step of 0; the step must be > 0")
        if stop < start:
            raise UsageError(f"{flag} {text!r} stops below its start; write START:STOP:STEP")
    count = math.floor((stop - start) / step + 1e-9) + 1
    if count > MAX_POINTS:
        raise UsageError(f"{flag} {text!r} has {count} values; at most {MAX_POINTS} are allowed")
    values = [round(start + i * step, 10) for i in range(count)]
    if integer:
        if any(v != int(v) for v in values):
            raise UsageError(f"{flag} {text!r} must give whole numbers of pixels")
        return tuple(int(v) for v in values)
    return tuple(values)


@dataclass(frozen=True, kw_only=True)
class Point:
    """One grid point: each knob's value, ``None`` for the model's own value."""

    width: float | None = None
    depth: float | None = None
    resolution: int | None = None

    def as_dict(self) -> dict[str, float | int | None]:
        """``{knob: value}``."""
        return {"width": self.width, "depth": self.depth, "resolution": self.resolution}


def hardware_fingerprint(hw: HardwareSpec) -> dict[str, Any]:
    """Every compared field of ``hw`` as plain data (the cache key of the part)."""
    return {f.name: _plain(getattr(hw, f.name)) for f in dataclasses.fields(hw) if f.compare}


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: _plain(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value


@dataclass(frozen=True, kw_only=True)
class OnnxOptions:
    """How an ONNX model is imported at every point (``--start-nodes``, ``--end-nodes``,
    ``--allow-unknown``, ``--keep-postprocess``); the defaults import it as given."""

    start_nodes: tuple[str, ...] | None = None
    end_nodes: tuple[str, ...] | None = None
    allow_unknown: bool = False
    keep_postprocess: bool = False

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True, kw_only=True)
class SweepPlan:
    """What to sweep. Build it with :func:`plan_sweep`, which checks it.

    Attributes:
        model: MODEL as given; ``model_id``: what identifies it in cache keys.
        input_shape: ``--input-shape``, if given.
        axes: the values of each knob (``(None,)`` for a knob not swept).
        hardware: the parts, without repeats.
        batches: the batch sizes FPS is reported at.
        timeout_s: multi-context search budget per point and part.
    """

    model: str
    model_id: str
    input_shape: tuple[int, ...] | None
    axes: dict[str, tuple[Any, ...]]
    hardware: tuple[HardwareSpec, ...]
    batches: tuple[int, ...]
    timeout_s: float = DEFAULT_TIMEOUT_S
    seed: int = 0
    onnx_options: OnnxOptions = OnnxOptions()

    @property
    def swept(self) -> tuple[str, ...]:
        """The knobs given on the command line, in ``width, depth, resolution`` order."""
        return tuple(k for k in KNOBS if self.axes[k] != (None,))

    def points(self) -> list[Point]:
        """Every grid point, width slowest, resolution fastest."""
        return [
            Point(width=w, depth=d, resolution=r)
            for w in self.axes["width"]
            for d in self.axes["depth"]
            for r in self.axes["resolution"]
        ]

    def key_data(self, point: Point, hw: HardwareSpec) -> dict[str, Any]:
        """Everything a point's result depends on (hashed by :func:`cache_key`)."""
        return {
            "sweep_schema": SWEEP_SCHEMA,
            "record_version": RECORD_VERSION,
            "cost_model": COST_MODEL_VERSION,
            "ctxfit": ctxfit_version(),
            "model": self.model_id,
            "input_shape": list(self.input_shape) if self.input_shape else None,
            **point.as_dict(),
            "hardware": hardware_fingerprint(hw),
            "batches": sorted(self.batches),
            "optimize_for_batch": OPTIMIZE_FOR_BATCH,
            "timeout_s": self.timeout_s,
            "seed": self.seed,
            "solver_workers": SOLVER_WORKERS,
            "flow": repr(FLOW_PARAMS),
            **({"onnx": self.onnx_options.as_dict()} if self.onnx_options != OnnxOptions() else {}),
        }

    def task(self, point: Point, hardware: Sequence[HardwareSpec]) -> SweepTask:
        """The task that computes ``point`` on ``hardware``."""
        return SweepTask(
            model=self.model,
            input_shape=self.input_shape,
            point=point,
            hardware=tuple(hardware),
            batches=self.batches,
            timeout_s=self.timeout_s,
            seed=self.seed,
            onnx_options=self.onnx_options,
        )


def cache_key(data: dict[str, Any]) -> str:
    """SHA-256 (hex) of ``data`` as canonical JSON (sorted keys, no spaces).

    >>> cache_key({"b": 1, "a": [1.0, None]}) == cache_key({"a": [1.0, None], "b": 1})
    True
    """
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def plan_sweep(
    model: str,
    *,
    hardware: Sequence[HardwareSpec],
    widths: Sequence[float] | None = None,
    depths: Sequence[float] | None = None,
    resolutions: Sequence[int] | None = None,
    input_shape: tuple[int, ...] | None = None,
    batches: Sequence[int] = (1, 8),
    timeout_s: float = DEFAULT_TIMEOUT_S,
    seed: int = 0,
    onnx_options: OnnxOptions = OnnxOptions(),
) -> SweepPlan:
    """Check a sweep request and return its plan.

    ``onnx_options`` import an ``.onnx`` model at every point as ``ctxfit compile`` would with
    the same flags; they are refused for other models.

    No knob sweeps the parts alone: one point, the model as given.

    Raises:
        UsageError: three knobs swept; a knob the model does not have (every zoo entry lists its
            knobs; a factory must take the keyword; ONNX files and saved graphs have none); a
            value the zoo rejects (multipliers in (0, 4], resolutions a multiple of 32, 16 for
            ViT); ``--input-shape`` with a zoo resolution sweep.
        ModelNotFoundError: an unknown zoo name, or a model file, factory file or function that
            does not exist.
    """
    given = {"width": widths, "depth": depths, "resolution": resolutions}
    swept = [k for k in KNOBS if given[k]]
    if len(swept) == 3:
        raise UsageError(
            "sweep at most two of --width, --depth, --res at once (the fit map is 2-D); "
            "fix the third with a single value in another sweep"
        )
    if not hardware:
        raise UsageError("give at least one part with --hw")
    model_id = _check_model(model, {k: tuple(given[k] or ()) for k in swept}, input_shape)
    if onnx_options != OnnxOptions() and not model.lower().endswith(".onnx"):
        flags = {
            "--start-nodes": onnx_options.start_nodes,
            "--end-nodes": onnx_options.end_nodes,
            "--allow-unknown": onnx_options.allow_unknown,
            "--keep-postprocess": onnx_options.keep_postprocess,
        }
        given_flags = ", ".join(flag for flag, value in flags.items() if value)
        raise UsageError(f"{given_flags} apply to .onnx models only, not {model!r}")
    unique: dict[str, HardwareSpec] = {}
    for hw in hardware:
        unique.setdefault(cache_key(hardware_fingerprint(hw)), hw)
    return SweepPlan(
        model=model,
        model_id=model_id,
        input_shape=input_shape,
        axes={k: tuple(dict.fromkeys(given[k])) if given[k] else (None,) for k in KNOBS},
        hardware=tuple(unique.values()),
        batches=tuple(sorted(set(batches))),
        timeout_s=timeout_s,
        seed=seed,
        onnx_options=onnx_options,
    )


def _check_model(
    model: str, values: dict[str, tuple[Any, ...]], input_shape: tuple[int, ...] | None
) -> str:
    lower = model.lower()
    if lower.endswith((".onnx", ".json")):
        if values:
            raise UsageError(
                f"{model!r} has no width, depth or resolution knob to sweep; sweep its parts "
                "alone (no --width/--depth/--res), or sweep a zoo model or a file.py:factory "
                "that accepts those keywords"
            )
        return _file_id(model)
    if ".py:" in model or lower.endswith(".py"):
        return _check_factory(model, values)
    from partitioner.zoo import MULTIPLIER_MAX, RESOLUTION_MAX, resolve_name

    entry = resolve_name(model)
    for knob, knob_values in values.items():
        if knob not in entry.knobs:
            raise UsageError(
                f"model {entry.name!r} has no {knob} knob to sweep; its knobs are "
                f"{', '.join(entry.knobs)}"
            )
        for v in knob_values:
            if knob == "resolution":
                step = entry.resolution_step
                if v % step or not step <= v <= RESOLUTION_MAX:
                    raise UsageError(
                        f"--res value {v} for model {entry.name!r} is not accepted; use "
                        f"multiples of {step} between {step} and {RESOLUTION_MAX}"
                    )
            elif not 0 < v <= MULTIPLIER_MAX:
                raise UsageError(
                    f"--{knob} value {v:g} for model {entry.name!r} is out of range; use "
                    f"multipliers in (0, {MULTIPLIER_MAX:g}]"
                )
    if input_shape is not None and "resolution" in values:
        raise UsageError(
            "--input-shape fixes the resolution of a zoo model; drop it to sweep --res"
        )
    return f"zoo:{entry.name}"


def _file_id(model: str) -> str:
    """``file:PATH@HASH`` of an ONNX file or saved graph (its content is in every cache key).

    Raises:
        ModelNotFoundError: no regular file at ``model``.
    """
    from partitioner.models import existing_file

    path = existing_file(model).resolve()
    try:
        content = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    except OSError as err:
        raise UsageError(f"cannot read model file {model!r}: {err.strerror}") from err
    return f"file:{path}@{content}"


def _check_factory(model: str, values: dict[str, tuple[Any, ...]]) -> str:
    import inspect

    from partitioner.importers.torch_fx import load_factory

    if ":" not in model:
        raise UsageError(f"{model!r} names a file but no factory; write {model}:FUNCTION")
    params = inspect.signature(load_factory(model)).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    for knob, knob_values in values.items():
        if knob not in params and not takes_any:
            raise UsageError(
                f"factory {model!r} has no {knob!r} keyword to sweep; its parameters are "
                f"{', '.join(params) or 'none'}"
            )
        if any(v <= 0 for v in knob_values):
            raise UsageError(f"--{knob} values must be > 0")
    path_text, _, func = model.rpartition(":")
    path = Path(path_text).resolve()
    content = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    return f"factory:{path}:{func}@{content}"


# -- the task ------------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class SweepTask:
    """One grid point to compute on some parts (picklable: plain values and HardwareSpecs)."""

    model: str
    input_shape: tuple[int, ...] | None
    point: Point
    hardware: tuple[HardwareSpec, ...]
    batches: tuple[int, ...]
    timeout_s: float
    seed: int = 0
    onnx_options: OnnxOptions = OnnxOptions()


def _request(task: SweepTask) -> Any:
    from partitioner.models import ModelRequest

    p = task.point
    shape = task.input_shape
    if p.resolution is not None and shape is not None and len(shape) == 4:
        shape = (*shape[:2], p.resolution, p.resolution)
    return ModelRequest(
        spec=task.model,
        input_shape=shape,
        width=p.width,
        depth=p.depth,
        resolution=p.resolution,
        **task.onnx_options.as_dict(),
    )


def run_task(task: SweepTask) -> tuple[dict[str, Any], ...]:
    """Build the point's network once and compile it on each part: one record per part, in
    ``task.hardware`` order. A ctxfit error (the model cannot be built at this point, no
    partition within the timeout) becomes a record with ``status`` ``"failed"``; a search that
    Ctrl-C cut short raises ``KeyboardInterrupt`` (its best so far is no point's answer, and
    is never cached).

    Each part compiles as ``ctxfit compile MODEL --compiler-defaults --workers 1`` does: the
    compiler's default flow (its caps and its implicit 4-bit share, as a compile with a GPU),
    without a script: a grid point is not the published network, so a zoo model's Model Zoo
    script is not applied."""
    from partitioner.compile import compile_network
    from partitioner.compile_request import prepare_compile
    from partitioner.knobs import input_shapes, model_knobs
    from partitioner.models import load_network
    from partitioner.parts_summary import headline_binding

    knobs: dict[str, Any] = {}
    try:
        request = _request(task)
        with contextlib.suppress(CtxfitError):  # the knobs not swept, even if the build fails
            knobs = model_knobs(request)
        net = load_network(request)
    except CtxfitError as err:
        return tuple(_failed(task, hw, err, knobs) for hw in task.hardware)
    shapes = [list(shape) for shape in input_shapes(net)]
    records = []
    for hw in task.hardware:
        hw = dataclasses.replace(hw)  # re-hash here: a pickled hash is the sender's
        started = time.perf_counter()
        try:
            prepared = prepare_compile(
                net,
                hw,
                None,
                optimize_for_batch=OPTIMIZE_FOR_BATCH,
                timeout_s=task.timeout_s,
                seed=task.seed,
                workers=SOLVER_WORKERS,
            )
            settings = prepared.settings
            report = compile_network(
                prepared.net, hw, settings.options, batches=task.batches, flow=settings.flow
            )
        except CtxfitError as err:
            records.append(_failed(task, hw, err, knobs))
            continue
        if report.search.interrupted:  # Ctrl-C cut this search short: not a point's answer
            raise KeyboardInterrupt
        records.append(
            {
                **_base_record(task, hw),
                "status": "ok",
                "num_contexts": report.num_contexts,
                "single_context": report.single_context,
                "fps": {str(b): report.fps[b] for b in task.batches},
                "binding": headline_binding(report),
                "one_context": _margin_record(report),
                "solver_status": report.search.status,
                "gap": report.search.gap,
                "knobs": knobs,
                "input_shapes": shapes,
                "error": "",
                "seconds": time.perf_counter() - started,
            }
        )
    return tuple(records)


def _margin_record(report: Any) -> dict[str, Any] | None:
    margin = report.single_context_margin
    return None if margin is None else margin.to_dict()


def _base_record(task: SweepTask, hw: HardwareSpec) -> dict[str, Any]:
    return {
        "model": task.model,
        "hardware": hw.name,
        **task.point.as_dict(),
        "cost_model_version": COST_MODEL_VERSION,
    }


def _failed(
    task: SweepTask, hw: HardwareSpec, err: Exception, knobs: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        **_base_record(task, hw),
        "status": "failed",
        "num_contexts": None,
        "single_context": None,
        "fps": {},
        "binding": "",
        "one_context": None,
        "solver_status": "",
        "gap": None,
        "knobs": knobs or {},
        "input_shapes": [],
        "error": str(err),
        "seconds": 0.0,
    }


RESULT_FIELDS = (
    "status",
    "num_contexts",
    "single_context",
    "fps",
    "binding",
    "one_context",
    "solver_status",
    "gap",
    "knobs",
    "input_shapes",
    "error",
)
"""The fields of a record that are results (the rest say which point and part it is)."""


# -- the cache -----------------------------------------------------------------------------------
class SweepCache:
    """One JSON file per finished (point, part) under ``root``, named by its cache key."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, key: str) -> Path:
        """Where the entry of ``key`` lives."""
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        """The cached record of ``key``, or ``None`` (also for an unreadable entry)."""
        try:
            entry = json.loads(self.path(key).read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(entry, dict) or entry.get("key") != key:
            return None
        record = entry.get("record")
        return record if isinstance(record, dict) else None

    def put(self, key: str, data: dict[str, Any], record: dict[str, Any]) -> None:
        """Store ``record`` under ``key`` atomically (a crash leaves the old entry or none).

        Raises:
            UsageError: the cache folder cannot be written.
        """
        path = self.path(key)
        text = json.dumps({"key": key, "key_data": data, "record": record}, indent=1)
        try:
            atomic_write(path, text.encode())
        except OSError as err:
            raise UsageError(f"cannot write the sweep cache {str(self.root)!r}: {err}") from err

    def __len__(self) -> int:
        return sum(1 for _ in self.root.glob("*/*.json")) if self.root.is_dir() else 0


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file next to ``path``, then rename it over ``path`` (a
    reader sees the old file or the new one, never half of one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "xb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# -- executors -----------------------------------------------------------------------------------
Outcome = tuple[SweepTask, tuple[dict[str, Any], ...]]


def iter_inline(tasks: Sequence[SweepTask]) -> Iterator[Outcome]:
    """Run the tasks one after another in this process."""
    for task in tasks:
        yield task, run_task(task)


def iter_processes(tasks: Sequence[SweepTask], jobs: int) -> Iterator[Outcome]:
    """Run the tasks in ``jobs`` fresh processes (spawned: no state inherited), yielding each
    as it finishes. On an exception or Ctrl-C the pending tasks are cancelled."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"))
    try:
        pending = {pool.submit(run_task, task): task for task in tasks}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                task = pending.pop(future)
                yield task, future.result()
    except BaseException:  # Ctrl-C, an error, or the consumer stopped: do not finish the rest
        _terminate_workers(pool)
        raise
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _terminate_workers(pool: Any) -> None:
    """Stop the pool's worker processes now (their running tasks are lost, not cached)."""
    terminate = getattr(pool, "terminate_workers", None)  # Python >= 3.14
    if terminate is not None:
        terminate()
        return
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.terminate()


def dask_address(text: str) -> str:
    """The scheduler address of ``dask://HOST:PORT`` (``tcp://HOST:PORT``).

    Raises:
        UsageError: not ``dask://HOST:PORT`` with a port in 1..65535.

    >>> dask_address("dask://10.0.0.5:8786")
    'tcp://10.0.0.5:8786'
    >>> dask_address("10.0.0.5:8786")
    Traceback (most recent call last):
    ...
    partitioner.errors.UsageError: --executor '10.0.0.5:8786' is not dask://HOST:PORT \
(e.g. dask://127.0.0.1:8786) or local
    """
    match = re.fullmatch(r"dask://(\[[0-9a-fA-F:]+\]|[^:/\s]+):(\d+)", text.strip())
    if not match or not 1 <= int(match.group(2)) <= 65535:
        raise UsageError(
            f"--executor {text!r} is not dask://HOST:PORT (e.g. dask://127.0.0.1:8786) or local"
        )
    return f"tcp://{match.group(1)}:{match.group(2)}"


def _probe(address: str, timeout_s: float) -> None:
    """Open and close a TCP connection to ``tcp://HOST:PORT`` (``OSError`` if refused)."""
    import socket

    host, _, port = address.removeprefix("tcp://").rpartition(":")
    with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
        pass


def iter_dask(
    tasks: Sequence[SweepTask], address: str, *, connect_timeout_s: float = DASK_CONNECT_TIMEOUT_S
) -> Iterator[Outcome]:
    """Run the tasks on the Dask cluster whose scheduler is at ``address`` (``tcp://...``),
    yielding each as it finishes. On an exception or Ctrl-C the pending tasks are cancelled.

    Raises:
        UsageError: Dask is not installed, or the scheduler cannot be reached within
            ``connect_timeout_s``.
    """
    try:
        from distributed import Client, as_completed
    except ImportError as err:
        raise UsageError("--executor dask:// needs Dask: pip install 'ctxfit[cluster]'") from err
    shown = address.replace("tcp://", "dask://", 1)
    try:
        _probe(address, connect_timeout_s)  # a closed port fails at once, not after the timeout
        client = Client(address, timeout=connect_timeout_s, set_as_default=False)
    except (OSError, TimeoutError) as err:
        raise UsageError(
            f"cannot reach the Dask scheduler at {shown} ({type(err).__name__}: {err}); start "
            "one with `dask scheduler` and workers with `dask worker HOST:PORT`, or check the "
            "address"
        ) from err
    futures: dict[Any, SweepTask] = {}
    try:
        futures = {client.submit(run_task, task, pure=False): task for task in tasks}
        for future in as_completed(futures, loop=client.loop):
            yield futures[future], future.result()
    finally:
        if futures:
            client.cancel(list(futures))
        client.close()


# -- running a sweep -----------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class SweepProgress:
    """Counts after each finished (point, part)."""

    done: int
    total: int
    cached: int
    failed: int


@dataclass(frozen=True, kw_only=True)
class SweepRun:
    """The records of every (point, part) finished, in grid order (points, then parts), and how
    many came from the cache, were computed, or failed."""

    records: tuple[dict[str, Any], ...]
    total: int
    cached: int
    computed: int
    failed: int

    @property
    def complete(self) -> bool:
        """Every (point, part) has a record."""
        return len(self.records) == self.total


def run_sweep(
    plan: SweepPlan,
    cache: SweepCache,
    *,
    jobs: int = 1,
    executor: str = "local",
    on_progress: Callable[[SweepProgress], None] | None = None,
    results: dict[tuple[int, int], dict[str, Any]] | None = None,
) -> SweepRun:
    """Compute every (point, part) of ``plan`` not in ``cache``, storing each result as it
    arrives. ``executor`` is ``local`` (inline for ``jobs`` 1, else a process pool) or
    ``dask://HOST:PORT``. ``results`` (optional) receives the records as they come, keyed by
    (point index, part index), so a caller keeps them if the run is interrupted.

    Failed points are reported but not cached (a rerun tries them again). A record computed by
    a worker with another cost model is failed with that reason.

    Raises:
        UsageError: a bad executor, an unreachable Dask scheduler, an unwritable cache.
        KeyboardInterrupt: Ctrl-C; everything finished before it is in the cache.
    """
    points = plan.points()
    keys = {
        (i, j): plan.key_data(p, hw)
        for i, p in enumerate(points)
        for j, hw in enumerate(plan.hardware)
    }
    got: dict[tuple[int, int], dict[str, Any]] = results if results is not None else {}
    cached = failed = 0
    for ij, data in keys.items():
        record = cache.get(cache_key(data))
        if record is not None:
            got[ij] = record
            cached += 1
    total = len(keys)
    missing: dict[int, list[HardwareSpec]] = {}
    for i, j in keys:
        if (i, j) not in got:
            missing.setdefault(i, []).append(plan.hardware[j])
    tasks = [plan.task(points[i], hws) for i, hws in missing.items()]
    point_index = {p: i for i, p in enumerate(points)}
    if on_progress is not None:
        on_progress(SweepProgress(done=len(got), total=total, cached=cached, failed=0))
    for task, records in _outcomes(tasks, jobs=jobs, executor=executor):
        i = point_index[task.point]
        for hw, record in zip(task.hardware, records, strict=True):
            j = plan.hardware.index(hw)
            record = _check_version(record)
            if record["status"] == "ok":
                cache.put(cache_key(keys[(i, j)]), keys[(i, j)], record)
            else:
                failed += 1
            got[(i, j)] = record
        if on_progress is not None:
            on_progress(SweepProgress(done=len(got), total=total, cached=cached, failed=failed))
    ordered = tuple(got[ij] for ij in sorted(got))
    return SweepRun(
        records=ordered,
        total=total,
        cached=cached,
        computed=len(got) - cached - failed,
        failed=failed,
    )


def _outcomes(tasks: Sequence[SweepTask], *, jobs: int, executor: str) -> Iterable[Outcome]:
    if not tasks:
        return ()
    if executor != "local":
        return iter_dask(tasks, dask_address(executor))
    if jobs <= 1 or len(tasks) == 1:
        return iter_inline(tasks)
    return iter_processes(tasks, min(jobs, len(tasks)))


def _check_version(record: dict[str, Any]) -> dict[str, Any]:
    version = record.get("cost_model_version")
    if version == COST_MODEL_VERSION:
        return record
    return {
        **record,
        "status": "failed",
        "error": f"computed with cost model {version}, this ctxfit has {COST_MODEL_VERSION}: "
        "install the same ctxfit on the cluster's workers",
    }


# -- outputs -------------------------------------------------------------------------------------
def sweep_document(plan: SweepPlan, run: SweepRun) -> dict[str, Any]:
    """``sweep.json``: the plan and one entry per finished (point, part)."""
    return {
        "schema": SWEEP_SCHEMA,
        "kind": "ctxfit.sweep",
        "model": plan.model,
        "axes": {k: list(v) for k, v in plan.axes.items() if k in plan.swept},
        "hardware": [hw.name for hw in plan.hardware],
        "batches": list(plan.batches),
        "optimize_for_batch": OPTIMIZE_FOR_BATCH,
        "timeout_s": plan.timeout_s,
        "cost_model_version": COST_MODEL_VERSION,
        "complete": run.complete,
        "points": [{k: r[k] for k in ("hardware", *KNOBS, *RESULT_FIELDS)} for r in run.records],
    }


def csv_text(plan: SweepPlan, run: SweepRun) -> str:
    """``sweep.csv``: one row per finished (point, part); ``fps_bN`` per batch; a knob not
    swept holds its effective value (a zoo model's published one), empty where the model has
    no such knob or a factory keeps its own default; ``gap`` is the solver's."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    fps_cols = [f"fps_b{b}" for b in plan.batches]
    writer.writerow(
        ["model", "hardware", *KNOBS, "status", "contexts", "single_context", *fps_cols]
        + ["binding", "one_context_share", "one_context_limit", "solver_status", "gap", "error"]
    )
    for r in run.records:
        writer.writerow(
            [
                r["model"],
                r["hardware"],
                *("" if knob_value(r, k) is None else knob_value(r, k) for k in KNOBS),
                r["status"],
                "" if r["num_contexts"] is None else r["num_contexts"],
                "" if r["single_context"] is None else str(r["single_context"]).lower(),
                *(repr(r["fps"][str(b)]) if str(b) in r["fps"] else "" for b in plan.batches),
                r["binding"],
                *_margin_cells(r.get("one_context")),
                r.get("solver_status", ""),
                "" if r.get("gap") is None else repr(r["gap"]),
                r["error"],
            ]
        )
    return out.getvalue()


def _margin_cells(margin: dict[str, Any] | None) -> tuple[str, str]:
    """``one_context_share`` and ``one_context_limit`` of ``sweep.csv`` (``LCUs 66/71``).

    >>> _margin_cells({"share": 0.93, "resource": "lcus", "used": 66, "limit": 71})
    ('0.93', 'LCUs 66/71')
    >>> _margin_cells(None)
    ('', '')
    """
    from cost_model.context import FitMargin

    if not margin:
        return "", ""
    return repr(margin["share"]), FitMargin.from_dict(margin).label


def knob_value(record: dict[str, Any], knob: str) -> Any:
    """The record's value of ``knob``: the swept value, else the effective one.

    >>> knob_value({"width": None, "knobs": {"width": 1}}, "width")
    1
    >>> knob_value({"width": 0.5, "knobs": {}}, "width"), knob_value({"depth": None}, "depth")
    (0.5, None)
    """
    if record.get(knob) is not None:
        return record[knob]
    return (record.get("knobs") or {}).get(knob)


def default_out_dir(model: str) -> Path:
    """``sweep-MODEL``: the zoo name, or ``FILE-FUNCTION`` for a factory, made file-safe.

    >>> default_out_dir("yolov8n"), default_out_dir("models/my net.py:build")
    (PosixPath('sweep-yolov8n'), PosixPath('sweep-my_net-build'))
    >>> default_out_dir("exports/yolov8n.onnx")
    PosixPath('sweep-yolov8n')
    """
    path_text, sep, func = model.rpartition(":")
    stem = f"{Path(path_text).stem}-{func}" if sep and path_text.endswith(".py") else model
    if model.lower().endswith((".onnx", ".json")):
        stem = Path(model).stem
    return Path("sweep-" + re.sub(r"[^A-Za-z0-9._-]+", "_", stem))


def check_out_dir(out: Path, *, inputs: Sequence[str] = ()) -> None:
    """Refuse an output folder where the sweep would overwrite what it did not write.

    The sweep owns :data:`OUTPUT_FILES` and :data:`CACHE_DIR` in ``out``, and only where
    ``out/sweep.json`` is absent or is a ctxfit sweep; everything else is left alone.

    Raises:
        UsageError: ``out`` is a file; one of the sweep's files exists in a folder without a
            ctxfit ``sweep.json``, or ``sweep.json`` is not a ctxfit sweep; an input is one of
            the sweep's files.
    """
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {str(out)!r} is a file; give a folder")
    from partitioner.outputs import model_file, same_file

    owned = [out / name for name in OUTPUT_FILES]
    for given in inputs:
        path = model_file(given) or given
        if any(same_file(p, path) for p in owned):  # by file identity: links too
            raise UsageError(
                f"{given!r} is in the way of the sweep's outputs; choose another --out"
            )
    marker = out / "sweep.json"
    if marker.exists():
        try:
            ours = json.loads(marker.read_text()).get("kind") == "ctxfit.sweep"
        except (OSError, ValueError, AttributeError):
            ours = False
        if not ours:
            raise UsageError(
                f"{str(marker)!r} exists and was not written by ctxfit sweep; choose another --out"
            )
        return
    for path in owned:
        if path.exists():
            raise UsageError(
                f"{str(path)!r} exists and was not written by ctxfit sweep; choose another --out"
            )


def write_data_files(out: Path, plan: SweepPlan, run: SweepRun) -> list[Path]:
    """Write ``sweep.json`` and ``sweep.csv`` into ``out`` (atomically); returns their paths.

    Raises:
        UsageError: the folder cannot be written.
    """
    files = {
        out / "sweep.json": json.dumps(sweep_document(plan, run), indent=1) + "\n",
        out / "sweep.csv": csv_text(plan, run),
    }
    try:
        for path, text in files.items():
            atomic_write(path, text.encode())
    except OSError as err:
        raise UsageError(f"cannot write into {str(out)!r}: {err}") from err
    return list(files)


__all__ = [
    "CACHE_DIR",
    "COST_MODEL_VERSION",
    "OUTPUT_FILES",
    "Point",
    "SweepCache",
    "SweepPlan",
    "SweepProgress",
    "SweepRun",
    "SweepTask",
    "cache_key",
    "check_out_dir",
    "csv_text",
    "dask_address",
    "default_out_dir",
    "iter_dask",
    "iter_inline",
    "iter_processes",
    "knob_value",
    "parse_range",
    "plan_sweep",
    "run_sweep",
    "run_task",
    "source_digest",
    "sweep_document",
    "write_data_files",
]
