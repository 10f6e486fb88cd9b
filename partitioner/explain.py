"""``ctxfit explain``: why a model takes several contexts, and the smallest verified changes
that make it fit one (or run faster).

The model is prepared and compiled exactly as ``ctxfit compile`` does it
(:func:`~partitioner.compile_request.prepare_compile`: a zoo model's Model Zoo script, the flow,
its caps and search budget), so explain's contexts and FPS are compile's. The explanation
starts with the reason: one line per resource the single context lacks, in numbers
(:func:`partitioner.blocks.reason_lines`: on these chips every fused layer takes at least one
LCU, so width, resolution and 4-bit weights cannot help when the layer count alone is over),
and the network's blocks with their share of the budget (:func:`partitioner.blocks.block_table`).

For a model that needs several contexts, each *kind* of change is searched for the smallest
change that makes the single-context attempt succeed at the flow's caps:

* ``blocks``: block-level changes (:mod:`partitioner.tweaks`, :mod:`partitioner.block_search`):
  fewer repeats in one stage, a CSP block without its split and concat, an optional block
  dropped (SPPF, C2PSA), the largest-stride head scale dropped, one stage narrowed, 4-bit
  weights in one block. Zoo YOLO detectors are rebuilt from the source; other models have the
  change applied to the layer graph (said to be an approximation). For zoo YOLO detectors an
  exact row search comes first (:mod:`partitioner.explain_rows`): every row's states are read
  from a few rebuilt networks, a dynamic programme lists the combinations within one context
  (caps raised up to :data:`CAP_LIMITS` where needed) keeping 90% of the MACs, the fewest
  changes first, then the most MACs (of the published network's: a plain block's extra MACs do
  not count), and the first that the rebuilt network confirms is suggested. A change
  is what the user edits: one per architecture change (a row's repeats, a plain block, a block
  or the head scale dropped), one for all 4-bit weights together (one ``quantization_param``
  line listing the blocks), one for raised caps (one ``resources_param`` line). When none
  keeping 90% of the MACs can exist, one line proves it with lower bounds (one LCU per fused
  layer; L3 cuts with every weight in 4 bits and the offered rows at their narrowest);
* ``caps``: the cap of what binds raised in steps of :data:`CAP_STEP`, following the next
  binding resource, up to :data:`CAP_LIMITS` (``resources_param(max_..._utilization=u)``); a
  network over 75% on both nodes and L3 (the rule of one raised class) gets the caps of one
  class only, the one closest to its limit (:func:`nearest_class`);
* ``width`` / ``depth``: a lower multiplier, in steps of :data:`MULTIPLIER_STEP` (zoo models and
  ``file.py:factory`` functions that take the keyword);
* ``resolution``: a lower input side, in steps of the family's stride (32, 16 for ViT);
* ``precision``: 4-bit weights for the largest layers,
  ``model_optimization_flavor(compression_level=N)`` with N = 1..5;
* ``cut``: end the graph earlier (Hailo's ``--end-node-names``), the longest prefix of the layer
  order that fits, with at most ``edge_layers_per_context`` tensors in and out; the rest runs on
  the host.

A model that already fits one context is asked to run faster instead: the goal becomes one
context at :data:`DEFAULT_SPEEDUP` times its FPS (or ``target_fps``); blocks and the cut are
not offered. Suggestions keeping less than 90% of the MACs on the chip are listed last; the
block-level ones are listed fewest changes first (the suggestion's ``value``), then most MACs.

Each knob's candidates are ordered from the smallest change to the largest. The goal is taken
as monotone along them (a larger change never needs more resources), so :func:`first_passing`
checks the largest change, then gallops out from the smallest and bisects. Every check runs the
cost model on the changed network (re-imported for the architecture knobs, once per distinct
module: :func:`module_signature`). The chosen change is then compiled by the partitioner
(:func:`~partitioner.compile.compile_network`, validated) for its FPS per batch; a suggestion
whose compile does not give one context is dropped. Nothing is extrapolated.
"""

from __future__ import annotations

import inspect
import math
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from typing import Any

from cost_model.caps import (  # noqa: F401
    CAP_RESOURCE,
    CONTROL_CLASS,
    MEMORY_CLASS,
    SINGLE_CONTEXT_CAPS,
    ResourceCaps,
)
from cost_model.context import ContextFit, context_fit
from cost_model.hardware import HardwareSpec
from cost_model.layer import OpKind
from cost_model.resources import COMPILER_LABELS, EDGE_LAYERS, RESOURCE_NAMES, format_over
from partitioner.block_search import MIN_MACS_KEPT
from partitioner.blocks import BlockRow
from partitioner.compile import DEFAULT_BATCHES, CompileReport, compile_network
from partitioner.compile_request import PreparedCompile, prepare_compile
from partitioner.errors import CtxfitError, InfeasiblePartitionError
from partitioner.flows import COMPRESSION_FRACTION
from partitioner.graph import Network
from partitioner.model_script import ModelScript
from partitioner.models import ModelRequest, load_network
from partitioner.search import CtrlC
from partitioner.settings import (
    anchor_layer_names,
    compression_precision,
    names_layers,
    without_absent_layers,
)

JSON_SCHEMA = 1

KINDS: tuple[str, ...] = ("blocks", "caps", "precision", "cut", "width", "depth", "resolution")
"""Every kind of change, in the order they are searched and reported (the ones that rebuild the
model many times last, so that the time budget cuts those first)."""

REBUILDING_KINDS = ("width", "depth", "resolution")
"""Kinds that import the model again per candidate: skipped once the budget is spent (the
others check the layer graph only, or, for blocks, stop where the budget ends)."""

SEARCH_BUDGET_S = 25.0
"""Wall time for the searches of one explanation (the unchanged model's compile runs alongside):
a kind not started by then is reported as not searched. Rebuilt networks are kept in the
network cache, so a second run gets further."""

MULTIPLIER_STEP = 1 / 16
"""Grid of the width and depth multipliers searched (0.0625, 0.125, ..., below the current)."""

CAP_STEP = 0.05
CAP_MAX = 1.0
"""Caps are raised from the default 0.75 in steps of 0.05 up to 1.0 (the Model Zoo goes to 1.2
on control only, unexplained; ctxfit does not suggest caps above 100%)."""

DEFAULT_SPEEDUP = 1.25
"""Goal for a model that already fits one context: this many times its FPS."""


W4_BLOCKS = 8
"""Blocks (the largest L3 users) offered 4-bit weights when L3 cuts do not fit."""

TOP_LAYERS = 3
"""Layers listed per context as the largest users of its binding resource."""

CAP_OPTION = {resource: cap for cap, resource in CAP_RESOURCE.items()}
"""Resource name -> the ``resources_param`` cap that limits it (``lcus`` -> ``control``)."""

Log = Callable[[str], None]


# -- value types ---------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class LayerShare:
    """One layer's amount of a resource (``units`` in ``unit``: LCUs, SCs, L3 cuts, bytes)."""

    layer: str
    units: int


@dataclass(frozen=True, kw_only=True)
class ContextBinding:
    """What stops one context's rate rising, and the layers that use most of it.

    Attributes:
        index: context number.
        layers: how many layers it holds.
        binding: a resource name, ``layer`` (a layer at its split limit), ``pcie`` or
            ``reload`` (kept at the search's rate: a higher one reloads more configuration at
            every switch than it saves in frames).
        unit: what ``used``, ``limit`` and the layer amounts count (``LCUs``, ``bytes/frame``,
            ``config bytes``).
        used, limit: the context's amount of the binding resource and its cap limit (``limit``
            is ``None`` for ``layer``, ``pcie`` and ``reload``).
        top_layers: the largest users, largest first.
    """

    index: int
    layers: int
    binding: str
    unit: str
    used: int
    limit: int | None
    top_layers: tuple[LayerShare, ...]


@dataclass(frozen=True, kw_only=True)
class Suggestion:
    """One verified change: the changed network compiled into one context.

    Attributes:
        kind: one of :data:`KINDS`.
        value: the new knob value (multiplier, pixels, compression level, cap, layers kept).
        change: what changes, for people (``width 1 -> 0.75``).
        apply: how to ask for it (a flag, a model-script line, end nodes).
        num_contexts: contexts of the compiled change (always 1).
        fps: FPS per batch of the compiled change.
        layers, params, macs: size of the changed network.
        note: extra facts (how many layers became 4-bit, the share of MACs kept by a cut).
    """

    kind: str
    value: float | int
    change: str
    apply: str
    num_contexts: int
    fps: dict[int, float]
    layers: int
    params: int
    macs: int
    note: str = ""
    macs_kept: float = 1.0
    approximate: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``--json``."""
        return {
            "kind": self.kind,
            "value": self.value,
            "change": self.change,
            "apply": self.apply,
            "num_contexts": self.num_contexts,
            "fps": {str(b): f for b, f in self.fps.items()},
            "layers": self.layers,
            "params": self.params,
            "macs": self.macs,
            "macs_kept": self.macs_kept,
            "below_macs_kept": self.macs_kept < MIN_MACS_KEPT,
            "approximate": self.approximate,
            "note": self.note,
        }


@dataclass(frozen=True, kw_only=True)
class Unreachable:
    """A kind of change that cannot reach the goal, and why (with the numbers)."""

    kind: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class Explanation:
    """Everything ``ctxfit explain`` reports.

    Attributes:
        model, hardware: the unchanged model and the part.
        flow, caps: the compile flow's name and the caps deciding one context.
        single_fit: the single-context attempt of the unchanged model.
        reasons: one line per resource over its single-context limit: what drives it.
        blocks: the network's blocks and their share of the single-context budget.
        report: its compile (``None`` when the search found no partition: see ``error``).
        goal: ``"one context"`` or ``"one context at >= F FPS"``.
        target_fps: F, when the goal has one.
        goal_met: the unchanged model already reaches the goal (nothing is searched).
        contexts: per context of ``report``: binding and largest users.
        suggestions: the smallest verified change of each kind that reaches the goal.
        unreachable: the kinds that cannot, with the reason.
        knobs: the architecture knobs the model has, with their current values.
        interrupted: Ctrl-C stopped the search: ``suggestions`` are those verified so far (the
            unchanged model's compile keeps its best partition so far).
    """

    model: str
    hardware: str
    layers: int
    params: int
    macs: int
    flow: str
    caps: ResourceCaps
    single_fit: ContextFit
    reasons: tuple[str, ...]
    blocks: tuple[BlockRow, ...]
    report: CompileReport | None
    error: str | None
    goal: str
    target_fps: float | None
    goal_met: bool
    contexts: tuple[ContextBinding, ...]
    suggestions: tuple[Suggestion, ...]
    unreachable: tuple[Unreachable, ...]
    knobs: dict[str, float | int]
    interrupted: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``--json`` (schema :data:`JSON_SCHEMA`)."""
        r = self.report
        return {
            "schema": JSON_SCHEMA,
            "kind": "ctxfit.explain",
            "model": self.model,
            "hardware": self.hardware,
            "layers": self.layers,
            "params": self.params,
            "macs": self.macs,
            "knobs": dict(self.knobs),
            "flow": self.flow,
            "single_context_caps": asdict(self.caps),
            "single_context": self.single_fit.fits,
            "reasons": list(self.reasons),
            "blocks": [b.to_dict() for b in self.blocks],
            "single_context_over": [
                {"resource": name, "used": used, "limit": limit}
                for name, used, limit in self.single_fit.over
            ],
            "num_contexts": None if r is None else r.num_contexts,
            "fps": None if r is None else {str(b): f for b, f in r.fps.items()},
            "error": self.error,
            "goal": self.goal,
            "target_fps": self.target_fps,
            "goal_met": self.goal_met,
            "contexts": [
                {
                    "index": c.index,
                    "layers": c.layers,
                    "binding": c.binding,
                    "unit": c.unit,
                    "used": c.used,
                    "limit": c.limit,
                    "top_layers": [{"layer": s.layer, "units": s.units} for s in c.top_layers],
                }
                for c in self.contexts
            ],
            "suggestions": [s.to_dict() for s in self.suggestions],
            "unreachable": [{"kind": u.kind, "reason": u.reason} for u in self.unreachable],
            "interrupted": self.interrupted,
        }


# -- small pure helpers --------------------------------------------------------------------------
def first_passing(count: int, passes: Callable[[int], bool]) -> int | None:
    """Index of the first of ``count`` candidates that passes, or ``None`` if none does.

    ``passes`` must be monotone in the index (once a candidate passes, every later one does).
    The last candidate (the largest change) is checked first: when even it fails, that is the
    answer after one call (common: no width makes an LCU-bound network fit). Otherwise the
    search gallops out from index 0, the smallest change, which often passes or nearly does
    (0, 1, 3, 7, ...), then bisects between the last failure and the first pass:
    ``O(log i)`` calls for an answer ``i``. Whenever the answer ``i`` is above 0, ``i - 1`` was
    checked and failed.

    >>> calls = []
    >>> def passes(i):
    ...     calls.append(i)
    ...     return i >= 5
    >>> first_passing(16, passes), calls
    (5, [15, 0, 1, 3, 7, 5, 4])
    >>> first_passing(4, lambda i: False), first_passing(0, lambda i: True)
    (None, None)
    """
    if count <= 0 or not passes(count - 1):
        return None
    failed, probe = -1, 0  # every index <= failed fails; count - 1 passes
    while probe < count - 1 and not passes(probe):
        failed, probe = probe, min(2 * probe + 1, count - 1)
    lo, hi = failed + 1, probe  # hi passes
    while lo < hi:
        mid = (lo + hi) // 2
        if passes(mid):
            hi = mid
        else:
            lo = mid + 1
    return hi


def multiplier_candidates(current: float, step: float = MULTIPLIER_STEP) -> list[float]:
    """Multipliers on the ``step`` grid below ``current``, nearest first.

    >>> multiplier_candidates(0.5)
    [0.4375, 0.375, 0.3125, 0.25, 0.1875, 0.125, 0.0625]
    >>> multiplier_candidates(0.3, 0.1)
    [0.2, 0.1]
    """
    top = math.ceil(current / step - 1e-9) - 1
    return [round(k * step, 10) for k in range(top, 0, -1)]


def resolution_candidates(current: int, step: int) -> list[int]:
    """Input sides that are multiples of ``step`` below ``current``, nearest first.

    >>> resolution_candidates(224, 32)
    [192, 160, 128, 96, 64, 32]
    >>> resolution_candidates(200, 32)[:2]
    [192, 160]
    """
    top = (current - 1) // step
    return [k * step for k in range(top, 0, -1)]


def cap_candidates(base: ResourceCaps, resources: Sequence[str]) -> list[ResourceCaps]:
    """``base`` with the caps of ``resources`` raised together, 0.05 at a time up to 1.0.

    The grid starts at the first multiple of :data:`CAP_STEP` above the highest of those caps.

    >>> [c.memory for c in cap_candidates(SINGLE_CONTEXT_CAPS, ["l3_cuts"])]
    [0.8, 0.85, 0.9, 0.95, 1.0]
    >>> cap_candidates(SINGLE_CONTEXT_CAPS, ["lcus"])[0].control, SINGLE_CONTEXT_CAPS.memory
    (0.8, 0.75)
    """
    names = [CAP_OPTION[r] for r in resources]
    start = max(getattr(base, n) for n in names)
    out = []
    k = math.floor(start / CAP_STEP + 1e-9) + 1
    while k * CAP_STEP <= CAP_MAX + 1e-9:
        u = round(k * CAP_STEP, 10)
        caps = base
        for name in names:
            caps = caps.with_cap(name, u)
        out.append(caps)
        k += 1
    return out


def caps_script(caps: ResourceCaps, resources: Sequence[str]) -> str:
    """The ``resources_param`` line that sets the caps of ``resources``.

    >>> caps_script(ResourceCaps.uniform(0.85), ["l3_cuts", "lcus"])
    'resources_param(max_memory_utilization=0.85, max_control_utilization=0.85)'
    """
    parts = [f"max_{CAP_OPTION[r]}_utilization={getattr(caps, CAP_OPTION[r]):g}" for r in resources]
    return f"resources_param({', '.join(parts)})"


def end_layers(net: Network, keep: int) -> tuple[str, ...]:
    """Layers among the first ``keep`` (topological order) whose output leaves that prefix:
    read by a later layer, or a graph output. They are the prefix's graph outputs."""
    kept = set(net.topological_order()[:keep])
    return tuple(
        name
        for name in net.topological_order()[:keep]
        if name in net.outputs or any(s not in kept for s in net.successors(name))
    )


def prefix_network(net: Network, keep: int) -> Network:
    """The sub-network of the first ``keep`` layers in topological order, ending at the layers
    whose output leaves it (:func:`end_layers`): the graph cut with ``--end-node-names``.

    >>> from cost_model.layer import Layer, OpKind
    >>> def relu(name, src):
    ...     return Layer(name=name, op=OpKind.ACTIVATION, inputs=src, input_shapes=((4,),) *
    ...                  len(src), output_shape=(4,))
    >>> net = Network("n", [relu("a", ("x",)), relu("b", ("a",)), relu("c", ("a", "b"))],
    ...               inputs={"x": (4,)}, outputs=["c"])
    >>> cut = prefix_network(net, 2)
    >>> cut.topological_order(), cut.outputs
    (('a', 'b'), ('a', 'b'))
    """
    names = net.topological_order()[:keep]
    layers = [net.layer(n) for n in names]
    read = {src for layer in layers for src in layer.inputs}
    inputs = {k: v for k, v in net.inputs.items() if k in read}
    return Network(net.name, layers, inputs=inputs, outputs=end_layers(net, keep))


def cut_candidates(net: Network, max_edges: int) -> list[int]:
    """Prefix lengths ``keep`` (longest first, the whole network excluded) whose cut has at most
    ``max_edges`` tensors in and out: the graph inputs read plus the end layers."""
    order = net.topological_order()
    out = []
    for keep in range(len(order) - 1, 0, -1):
        read = {src for n in order[:keep] for src in net.layer(n).inputs}
        edges = len(read & set(net.inputs)) + len(end_layers(net, keep))
        if edges <= max_edges:
            out.append(keep)
    return out


def fmt_value(value: float | int) -> str:
    """``0.75``, ``224``: knob values without trailing zeros.

    >>> fmt_value(0.6875), fmt_value(1.0), fmt_value(320)
    ('0.6875', '1', '320')
    """
    return f"{value:g}"


def furthest_over(fit: ContextFit) -> str:
    """The resource furthest over its limit (``used / limit``), or ``""`` when it fits."""
    if not fit.over:
        return ""
    order = (*RESOURCE_NAMES, EDGE_LAYERS)
    return max(fit.over, key=lambda o: (o[1] / max(o[2], 1), -order.index(o[0])))[0]


# -- what binds each context ---------------------------------------------------------------------
def _top(costs: Sequence[Any], resource: str, top: int) -> tuple[LayerShare, ...]:
    ranked = sorted(costs, key=lambda c: (-getattr(c.resources, resource), c.layer))
    return tuple(LayerShare(layer=c.layer, units=getattr(c.resources, resource)) for c in ranked)[
        :top
    ]


def context_bindings(
    net: Network, report: CompileReport, *, top: int = TOP_LAYERS
) -> tuple[ContextBinding, ...]:
    """For every context of ``report``: its binding resource and the layers that use most of it
    (at the context's highest rate; for ``pcie``, the tensors it writes to the host)."""
    out = []
    for ctx, check in zip(report.contexts, report.validation.contexts, strict=True):
        costs = check.fit.layer_costs
        limit: int | None = None
        if ctx.binding in RESOURCE_NAMES:
            unit, used = COMPILER_LABELS[ctx.binding], getattr(ctx.usage, ctx.binding)
            limit = getattr(ctx.limits, ctx.binding)  # compile's context table
            tops = _top(costs, ctx.binding, top)
        elif ctx.binding == "reload":  # at its highest rate: what a raise would reload
            unit, used = "config bytes", ctx.config_bytes
            shares = [LayerShare(layer=c.layer, units=c.config_bytes) for c in costs]
            tops = tuple(sorted(shares, key=lambda s: (-s.units, s.layer))[:top])
        elif ctx.binding == "layer":
            name = check.fit.capping_layer or ""
            scs = {c.layer: c.resources.subclusters for c in costs}
            unit, used = "SCs", ctx.usage.subclusters
            tops = (LayerShare(layer=name, units=scs.get(name, 0)),)
        else:
            inside = set(ctx.layers)
            leaving = [
                LayerShare(layer=n, units=net.layer(n).output_bytes)
                for n in ctx.layers
                if n in net.outputs or any(s not in inside for s in net.successors(n))
            ]
            unit, used = "bytes/frame", ctx.boundary_in_bytes + ctx.boundary_out_bytes
            tops = tuple(sorted(leaving, key=lambda s: (-s.units, s.layer))[:top])
        out.append(
            ContextBinding(
                index=ctx.index,
                layers=len(ctx.layers),
                binding=ctx.binding,
                unit=unit,
                used=used,
                limit=limit,
                top_layers=tops,
            )
        )
    return tuple(out)


def over_top_layers(fit: ContextFit, *, top: int = TOP_LAYERS) -> tuple[LayerShare, ...]:
    """The largest users of the resource furthest over its limit, at the lowest demand."""
    resource = furthest_over(fit)
    return _top(fit.layer_costs, resource, top) if resource in RESOURCE_NAMES else ()


# -- the model's knobs ---------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class Knob:
    """An architecture knob of the model: its current value and its candidate values."""

    name: str
    current: float | int
    candidates: tuple[float | int, ...]


def model_knobs(request: ModelRequest) -> tuple[dict[str, Knob], tuple[Unreachable, ...]]:
    """The width / depth / resolution knobs the model has, and notes on the ones it cannot use.

    Zoo models have their entry's knobs (current values: the request's, else 1.0 and the
    default side). A ``file.py:factory`` has the knobs it takes as keyword arguments (current:
    the request's, else the parameter's numeric default). ``.onnx`` and ``.json`` have none.

    Raises:
        ModelNotFoundError: an unknown zoo name or factory.
    """
    spec = request.spec
    lower = spec.lower()
    if lower.endswith((".onnx", ".json")):
        return {}, ()
    if ".py:" in spec:
        return _factory_knobs(request)
    from partitioner.zoo import resolve_name

    entry = resolve_name(spec)
    side = request.resolution or (
        request.input_shape[-1] if request.input_shape else entry.input_chw[1]
    )
    current: dict[str, float | int] = {
        "width": request.width or 1.0,
        "depth": request.depth or 1.0,
        "resolution": side,
    }
    return {k: _knob(k, current[k], entry.resolution_step) for k in entry.knobs if k in current}, ()


def _knob(name: str, current: float | int, resolution_step: int) -> Knob:
    if name == "resolution":
        values: list[Any] = resolution_candidates(int(current), resolution_step)
    else:
        values = multiplier_candidates(float(current))
    return Knob(name=name, current=current, candidates=tuple(values))


def _factory_knobs(request: ModelRequest) -> tuple[dict[str, Knob], tuple[Unreachable, ...]]:
    from partitioner.importers.torch_fx import load_factory

    params = inspect.signature(load_factory(request.spec)).parameters
    knobs: dict[str, Knob] = {}
    notes: list[Unreachable] = []
    for name in ("width", "depth", "resolution"):
        if name not in params:
            continue
        given = getattr(request, name)
        default = params[name].default
        if name == "resolution" and given is None and request.input_shape:
            given = request.input_shape[-1]
        current = given if given is not None else default
        if isinstance(current, bool) or not isinstance(current, (int, float)):
            notes.append(
                Unreachable(
                    kind=name,
                    reason=f"the factory's {name!r} has no numeric default; pass --{name} "
                    "to search below a value",
                )
            )
            continue
        knobs[name] = _knob(name, current, 32)
    return knobs, tuple(notes)


def changed_request(request: ModelRequest, knob: str, value: float | int) -> ModelRequest:
    """``request`` with one knob changed (a given ``input_shape`` follows a new resolution).

    >>> r = changed_request(ModelRequest(spec="m.py:f", input_shape=(1, 3, 640, 640)),
    ...                     "resolution", 320)
    >>> r.resolution, r.input_shape
    (320, (1, 3, 320, 320))
    """
    if knob == "resolution" and request.input_shape and len(request.input_shape) == 4:
        shape = (*request.input_shape[:2], int(value), int(value))
        return replace(request, resolution=int(value), input_shape=shape)
    return replace(request, **{knob: value})


# -- the search ----------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class _Check:
    """The outcome of one candidate: reached the goal, its fit, and why not."""

    passed: bool
    fit: ContextFit | None
    reason: str
    report: CompileReport | None = None
    prepared: PreparedCompile | None = None


class _Explorer:
    """Runs the checks of one explanation, each through :func:`prepare_compile` and
    :func:`compile_network` as ``ctxfit compile`` runs them (same script, flow, caps, budget).
    Every distinct network is imported and checked once: a candidate is first built as a module
    (cheap), and candidates whose modules have the same parameter shapes, module types and input
    shape (depth 0.9375 and 0.75 both give ResNet-18's 2 units per stage) share one import and
    one check."""

    def __init__(
        self,
        request: ModelRequest,
        hw: HardwareSpec,
        *,
        batches: Sequence[int],
        target_fps: float | None,
        log: Log,
        script: ModelScript | None = None,
        zoo_name: str | None = None,
        compiler_defaults: bool = False,
        flags: dict[str, Any] | None = None,
    ) -> None:
        self.request = request
        self.hw = hw
        self.batches = tuple(batches)
        self.target_fps = target_fps
        self.log = log
        self.script = script
        self.zoo_name = zoo_name
        self.compiler_defaults = compiler_defaults
        self.flags = dict(flags or {})
        self.deadline = time.monotonic() + SEARCH_BUDGET_S
        self.stop = threading.Event()  # Ctrl-C: every compile stops with its best so far
        self.base_script = script
        if script is None and zoo_name is not None and not compiler_defaults:
            from partitioner.compile_request import chip_of
            from partitioner.model_script import parse_model_script
            from partitioner.zoo_scripts import zoo_script

            zoo = zoo_script(zoo_name, chip_of(hw))
            if zoo is not None:
                self.base_script = parse_model_script(zoo.text, source=zoo.row.script)
        self.original: Network | None = None
        self._networks: dict[Any, Network | CtxfitError] = {}
        self._checks: dict[Any, _Check] = {}
        self._keys: dict[ModelRequest, Any] = {}

    def anchor(self, net: Network) -> None:
        """Take ``net`` as the unchanged model: the script's layers named one by one (Hailo's
        positional ``conv45``) are pinned to the layers they name in it, or for a zoo model's
        own script in the published network (:func:`~partitioner.settings.anchor_layer_names`),
        so every changed network keeps them on the same layers, and loses them where the change
        removed the layer."""
        self.original = net
        if self.base_script is None or not names_layers(self.base_script):
            return
        named_in = net
        if self.script is None and self.zoo_name is not None:
            # the Model Zoo script names the published network's layers, not those of the
            # model at other knobs (--depth); at the published knobs this is ``net`` itself
            named_in = self.network(ModelRequest(spec=self.zoo_name))
        self.base_script = anchor_layer_names(named_in, self.base_script)

    def out_of_time(self) -> bool:
        """The search budget is spent, or Ctrl-C stopped the search."""
        return self.stop.is_set() or time.monotonic() > self.deadline

    def key(self, request: ModelRequest) -> Any:
        """What identifies the network of ``request``: its module signature when it can be
        built, else the request itself."""
        if request not in self._keys:
            self._keys[request] = module_signature(request) or request
        return self._keys[request]

    def remember(self, request: ModelRequest, net: Network) -> None:
        """Reuse ``net`` as the network of ``request``."""
        self._networks[self.key(request)] = net

    def network(self, request: ModelRequest) -> Network:
        """The network of ``request``, imported once (a build error is re-raised every time)."""
        key = self.key(request)
        if key not in self._networks:
            try:
                self._networks[key] = load_network(request)
            except CtxfitError as err:
                self._networks[key] = err
        found = self._networks[key]
        if isinstance(found, CtxfitError):
            raise found
        return found

    def prepare(self, net: Network, changes: dict[str, Any] | None = None) -> PreparedCompile:
        """``net`` as ``ctxfit compile`` prepares it; with ``changes``, the model script (the
        user's, the zoo model's, or an empty one) with those :class:`ModelScript` fields
        replaced (caps, compression level, precision rules)."""
        if changes is None and (net is self.original or not names_layers(self.base_script)):
            return prepare_compile(
                net,
                self.hw,
                self.script,
                zoo_name=self.zoo_name,
                compiler_defaults=self.compiler_defaults,
                **self.flags,
            )
        changes = changes or {}
        script = without_absent_layers(net, replace(self.base_script or ModelScript(), **changes))
        flags = dict(self.flags)
        if "caps" in changes:
            flags["max_utilization"] = None  # the changed caps carry the user's
        return prepare_compile(net, self.hw, script, **flags)

    def fit(self, prepared: PreparedCompile) -> ContextFit:
        """The single-context attempt of ``prepared`` at its flow's caps (the cost model)."""
        net = prepared.net
        options = prepared.settings.options
        pairs = [(x, net.fan_out(x.name)) for x in net.layers]
        return context_fit(pairs, self.hw, options.single_caps, base_caps=options.single_base_caps)

    def compile(self, prepared: PreparedCompile) -> CompileReport:
        """The partitioner's answer for ``prepared``, as ``ctxfit compile`` computes it."""
        return compile_network(
            prepared.net,
            self.hw,
            replace(prepared.settings.options, stop=self.stop),
            batches=self.batches,
            flow=prepared.settings.flow,
        )

    def check(self, label: str, net: Network, changes: dict[str, Any] | None = None) -> _Check:
        """Does ``net`` (with script ``changes``) reach the goal? The cost model decides whether
        it fits; with an FPS goal the partitioner's single-context FPS (the same at every
        batch) is compared."""
        prepared = self.prepare(net, changes)
        fit = self.fit(prepared)
        if not fit.fits:
            result = _Check(passed=False, fit=fit, reason=format_over(fit.over), prepared=prepared)
        elif self.target_fps is None:
            result = _Check(
                passed=True, fit=fit, reason=f"fits at {fit.fps:,.1f} FPS", prepared=prepared
            )
        else:
            report = self.compile(prepared)
            fps = min(report.fps.values())
            passed = report.single_context and fps >= self.target_fps
            result = _Check(
                passed=passed,
                fit=fit,
                reason=f"{fps:,.1f} FPS",
                report=report,
                prepared=prepared,
            )
        self.log(f"{label}: {'reaches the goal' if result.passed else 'no'} ({result.reason})")
        return result

    def check_knob(self, knob: str, value: float | int) -> _Check:
        """:meth:`check` of the model with one knob changed (once per distinct network)."""
        label = f"{knob} {fmt_value(value)}"
        request = changed_request(self.request, knob, value)
        key = self.key(request)
        if key in self._checks:
            found = self._checks[key]
            self.log(f"{label}: the same network as an earlier check ({found.reason})")
            return found
        try:
            net = self.network(request)
        except CtxfitError as err:
            self.log(f"{label}: cannot be built ({err})")
            result = _Check(passed=False, fit=None, reason=f"cannot be built: {err}")
        else:
            result = self.check(label, net)
        self._checks[key] = result
        return result


def module_signature(request: ModelRequest) -> tuple[Any, ...] | None:
    """Input shape, parameter names and shapes, and module types of the ``nn.Module`` a zoo
    model or ``file.py:factory`` builds for ``request``; ``None`` for other models or when the
    module cannot be built (the import then reports why)."""
    spec = request.spec
    if spec.lower().endswith((".onnx", ".json")):
        return None
    knobs = {k: getattr(request, k) for k in ("width", "depth", "resolution")}
    try:
        if ".py:" in spec:
            from partitioner.importers.torch_fx import load_factory

            module = load_factory(spec)(**{k: v for k, v in knobs.items() if v is not None})
            shape = request.input_shape or getattr(module, "input_shape", None)
        else:
            from partitioner.zoo import build_module

            module, shape = build_module(spec, **knobs)
            shape = request.input_shape or shape
    except (CtxfitError, TypeError):
        return None
    return (
        tuple(shape) if shape is not None else None,
        tuple((name, tuple(p.shape)) for name, p in module.named_parameters()),
        tuple(type(m).__name__ for m in module.modules()),
    )


def explain(
    request: ModelRequest,
    hw: HardwareSpec,
    *,
    batches: Sequence[int] = DEFAULT_BATCHES,
    target_fps: float | None = None,
    kinds: Sequence[str] = KINDS,
    script: ModelScript | None = None,
    compiler_defaults: bool = False,
    timeout_s: float | None = None,
    log: Log = lambda _: None,
    **flags: Any,
) -> Explanation:
    """Explain why ``request`` takes the contexts it takes on ``hw``, and the smallest verified
    change of each kind in ``kinds`` that makes it fit one context (or, when it already does,
    reach ``target_fps``, by default :data:`DEFAULT_SPEEDUP` times its FPS).

    The model is prepared as ``ctxfit compile`` prepares it (:func:`prepare_compile`: a zoo
    model's Model Zoo script unless ``script`` or ``compiler_defaults``; ``flags`` are the
    keyword arguments of :func:`~partitioner.settings.merge_settings`), so its flow, budget
    (``timeout_s``, else the script's or the compiler's default) and numbers are compile's.

    Raises:
        ModelNotFoundError, ModelImportError, UsageError: the unchanged model cannot be loaded.
        UsageError: an unknown kind.
        ModelScriptError: from the script.
    """
    from partitioner.blocks import block_table, reason_lines
    from partitioner.errors import UsageError

    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise UsageError(f"unknown kind of change {unknown[0]!r}; use one of {', '.join(KINDS)}")
    net = load_network(request)
    knobs, notes = model_knobs(request)
    explorer = _Explorer(
        request,
        hw,
        batches=batches,
        target_fps=None,
        log=log,
        script=script,
        zoo_name=zoo_model_name(request.spec),
        compiler_defaults=compiler_defaults,
        flags={**flags, "timeout_s": timeout_s},
    )
    explorer.remember(request, net)
    explorer.anchor(net)
    prepared = explorer.prepare(net)
    for line in prepared.log_lines:
        log(line)
    single = explorer.fit(prepared)
    caps = prepared.settings.options.single_caps
    rows = block_table(prepared.net, single)
    with ThreadPoolExecutor(max_workers=1) as pool, _ctrl_c(explorer):
        # the unchanged model's multi-context search runs while the changes are searched (they
        # need it only when the model fits one context, and then it takes no search)
        pending = pool.submit(explorer.compile, prepared)
        if single.fits:
            report, error = _result(pending)
        found = _search_all(explorer, net, single, rows, kinds, knobs, target_fps, pending)
        report, error = _result(pending)
    suggestions, unreachable, goal_fps, met = found
    unreachable = [n for n in notes if n.kind in kinds] + unreachable
    if not met and not explorer.stop.is_set():  # a kind asked for that gave nothing: say why
        said = {s.kind for s in suggestions} | {u.kind for u in unreachable}
        unreachable += [
            Unreachable(
                kind=k,
                reason=f"this model has no {k} knob"
                if k in ("width", "depth", "resolution")
                else "no change of this kind applies to this model",
            )
            for k in kinds
            if k not in said
        ]
    goal = "one context" if goal_fps is None else f"one context at >= {goal_fps:,.1f} FPS"
    ordered = order_suggestions(suggestions)
    return Explanation(
        model=net.name,
        hardware=hw.name,
        layers=len(net),
        params=net.total_params,
        macs=net.total_macs,
        flow=prepared.settings.flow.name,
        caps=caps,
        single_fit=single,
        # the limits the fit failed against: the base caps when the rule of one raised class did
        reasons=reason_lines(
            prepared.net,
            single,
            rows,
            hw,
            prepared.settings.options.single_base_caps or caps if single.both_classes else caps,
        ),
        blocks=rows,
        report=report,
        error=error,
        goal=goal,
        target_fps=goal_fps,
        goal_met=met,
        contexts=() if report is None else context_bindings(prepared.net, report),
        suggestions=tuple(ordered),
        unreachable=tuple(unreachable),
        knobs={name: k.current for name, k in knobs.items()},
        interrupted=explorer.stop.is_set(),
    )


def _ctrl_c(explorer: _Explorer) -> CtrlC:
    """Ctrl-C while explain searches (in the main thread, when SIGINT raises
    ``KeyboardInterrupt`` there): the first sets the explorer's stop event, so that the search
    takes no new check and every compile, the unchanged model's in its worker thread included,
    stops with its best so far; the second raises ``KeyboardInterrupt``."""

    def press() -> None:
        explorer.stop.set()
        explorer.log("Interrupted: keeping the changes verified so far")

    ctrl_c = CtrlC()
    ctrl_c.on_press = press
    return ctrl_c


def order_suggestions(suggestions: Sequence[Suggestion]) -> tuple[Suggestion, ...]:
    """Suggestions keeping at least :data:`MIN_MACS_KEPT` of the MACs on the chip first, the
    others last (each group in search order)."""
    keep = [s for s in suggestions if s.macs_kept >= MIN_MACS_KEPT]
    return (*keep, *(s for s in suggestions if s.macs_kept < MIN_MACS_KEPT))


def _result(pending: Future[CompileReport]) -> tuple[CompileReport | None, str | None]:
    try:
        return pending.result(), None
    except InfeasiblePartitionError as err:
        return None, str(err)


def _search_all(
    explorer: _Explorer,
    net: Network,
    single: ContextFit,
    rows: Sequence[BlockRow],
    kinds: Sequence[str],
    knobs: dict[str, Knob],
    target_fps: float | None,
    pending: Future[CompileReport],
) -> tuple[list[Suggestion], list[Unreachable], float | None, bool]:
    """Every kind's search: suggestions, unreachable kinds, the FPS goal, goal met."""
    report = pending.result() if single.fits else None
    goal_fps = target_fps
    if goal_fps is None and single.fits and report is not None:
        goal_fps = min(report.fps.values()) * DEFAULT_SPEEDUP
    explorer.target_fps = goal_fps
    goal = "one context" if goal_fps is None else f"one context at >= {goal_fps:,.1f} FPS"
    explorer.log(f"goal: {goal}")
    suggestions: list[Suggestion] = []
    unreachable: list[Unreachable] = []
    met = (
        report is not None
        and report.single_context
        and (goal_fps is None or min(report.fps.values()) >= goal_fps)
    )
    for kind in () if met else [k for k in KINDS if k in kinds]:
        found: Suggestion | Unreachable | list[Suggestion | Unreachable] | None
        if explorer.stop.is_set():
            if kind in REBUILDING_KINDS and kind not in knobs:
                continue
            found = Unreachable(kind=kind, reason="not searched: interrupted (Ctrl-C)")
        elif explorer.out_of_time() and kind in REBUILDING_KINDS:
            found = Unreachable(
                kind=kind,
                reason=f"not searched: explain's search budget ({SEARCH_BUDGET_S:g} s) ran out; "
                f"run again (rebuilt networks are cached) or with --only {kind}",
            )
        elif kind in ("width", "depth", "resolution"):
            if kind not in knobs:
                continue
            found = _search_knob(explorer, knobs[kind], net)
        elif kind == "precision":
            found = _search_precision(explorer, net)
        elif kind == "caps":
            found = _search_caps(explorer, net, single, report)
        elif kind == "blocks":
            if single.fits:
                continue  # block changes remove work: asked only to fit one context
            found = _search_blocks(explorer, net, single, rows)
        else:
            if single.fits:
                continue  # cutting removes work: not a way to run the same network faster
            found = _search_cut(explorer, net)
        for item in found if isinstance(found, list) else [found]:
            if isinstance(item, Suggestion):
                suggestions.append(replace(item, macs_kept=item.macs / max(net.total_macs, 1)))
            elif item is not None:
                unreachable.append(item)
    return suggestions, unreachable, goal_fps, met


def zoo_model_name(spec: str) -> str | None:
    """The zoo name ``spec`` resolves to, or None for a file, a factory or an unknown name."""
    from pathlib import Path

    from partitioner.zoo import resolve_name

    if Path(spec).exists() or ":" in spec or spec.lower().endswith((".onnx", ".json")):
        return None
    try:
        return resolve_name(spec).name
    except CtxfitError:
        return None


def _suggestion(
    explorer: _Explorer,
    kind: str,
    value: float | int,
    net: Network,
    check: _Check,
    *,
    change: str,
    apply: str,
    note: str = "",
    approximate: bool = False,
) -> Suggestion | Unreachable:
    """Compile the chosen change; drop it (as unreachable) if the partitioner disagrees."""
    assert check.prepared is not None
    report = check.report or explorer.compile(check.prepared)
    if not report.single_context:
        return Unreachable(
            kind=kind,
            reason=f"{change} fits by the cost model but the partitioner gives "
            f"{report.num_contexts} contexts",
        )
    return Suggestion(
        kind=kind,
        value=value,
        change=change,
        apply=apply,
        num_contexts=report.num_contexts,
        fps=dict(report.fps),
        layers=len(net),
        params=net.total_params,
        macs=net.total_macs,
        note=note,
        approximate=approximate,
    )


def _why_not(check: _Check, goal_fps: float | None) -> str:
    if check.fit is None or not check.fit.fits or goal_fps is None:
        return check.reason
    return f"{check.reason} < {goal_fps:,.1f} FPS"


def _search_knob(explorer: _Explorer, knob: Knob, base: Network) -> Suggestion | Unreachable:
    values = knob.candidates
    if not values:
        return Unreachable(kind=knob.name, reason=f"{knob.name} {knob.current} is the lowest")
    checks: dict[int, _Check] = {}

    def passes(i: int) -> bool:
        checks[i] = explorer.check_knob(knob.name, values[i])
        return checks[i].passed

    i = first_passing(len(values), passes)
    if i is None:
        last = checks[len(values) - 1]
        return Unreachable(
            kind=knob.name,
            reason=f"even {knob.name} {fmt_value(values[-1])}: "
            + _why_not(last, explorer.target_fps),
        )
    value = values[i]
    net = explorer.network(changed_request(explorer.request, knob.name, value))
    flag = f"--{knob.name} {fmt_value(value)}"
    note = ""
    if knob.name == "depth":
        note = _layers_note(len(net), len(base))
    return _suggestion(
        explorer,
        knob.name,
        value,
        net,
        checks[i],
        change=f"{knob.name} {fmt_value(knob.current)} -> {fmt_value(value)}",
        apply=flag if ".py:" not in explorer.request.spec else f"{knob.name}={fmt_value(value)}",
        note=note,
    )


def _search_precision(explorer: _Explorer, net: Network) -> Suggestion | Unreachable | None:
    levels = [lv for lv in sorted(COMPRESSION_FRACTION) if lv > 0]
    checks: dict[int, _Check] = {}

    def passes(i: int) -> bool:
        checks[i] = explorer.check(
            f"compression_level={levels[i]}", net, {"compression_level": levels[i]}
        )
        return checks[i].passed

    i = first_passing(len(levels), passes)
    if i is None:
        return Unreachable(
            kind="precision",
            reason="even every weight in 4 bits (compression_level=5): "
            + _why_not(checks[len(levels) - 1], explorer.target_fps),
        )
    chosen = compression_precision(net, COMPRESSION_FRACTION[levels[i]])
    share = sum(net.layer(n).params for n in chosen) / max(net.total_params, 1)
    return _suggestion(
        explorer,
        "precision",
        levels[i],
        net,
        checks[i],
        change=f"4-bit weights for the {len(chosen)} largest layers",
        apply=f"model_optimization_flavor(compression_level={levels[i]})",
        note=f"{share:.0%} of the parameters in 4 bits",
    )


CAP_LIMITS = ResourceCaps(control=1.2, compute=1.0, memory=1.0, apu=1.2, input_aligner=1.2)
"""[assumption] The highest cap explain suggests per resource: 100% of compute and memory, 120%
of the per-cluster control structures (the Model Zoo's highest, ``max_control_utilization=1.2``,
"142/154 LCUs"; APUs and input aligners are taken alike)."""


def next_cap(current: float, limit: float) -> float | None:
    """The next multiple of :data:`CAP_STEP` above ``current``, or ``None`` above ``limit``.

    >>> next_cap(0.75, 1.0), next_cap(0.92, 1.0), next_cap(1.0, 1.0)
    (0.8, 0.95, None)
    """
    k = math.floor(current / CAP_STEP + 1e-9) + 1
    u = round(k * CAP_STEP, 10)
    return u if u <= limit + 1e-9 else None


def caps_line(caps: dict[str, float]) -> str:
    """The ``resources_param`` line setting ``caps`` (``max_utilization`` when all five are
    equal).

    >>> caps_line({"compute": 1.0, "memory": 0.95})
    'resources_param(max_compute_utilization=1, max_memory_utilization=0.95)'
    >>> caps_line(dict.fromkeys(("control", "compute", "memory", "apu", "input_aligner"), 1.0))
    'resources_param(max_utilization=1)'
    """
    values = set(caps.values())
    if len(caps) == len(CAP_RESOURCE) and len(values) == 1:
        return f"resources_param(max_utilization={values.pop():g})"
    parts = [f"max_{name}_utilization={u:g}" for name, u in caps.items()]
    return f"resources_param({', '.join(parts)})"


def _search_caps(
    explorer: _Explorer, net: Network, single: ContextFit, report: CompileReport | None
) -> Suggestion | Unreachable | None:
    """Raise the cap of what binds, step by step, following the next binding resource, until
    the goal is reached or every binding cap is at :data:`CAP_LIMITS`."""
    from partitioner.model_script import CapOverrides

    base = explorer.prepare(net)
    flow = base.settings.flow
    if flow.level == "max":
        return Unreachable(kind="caps", reason="the Performance Flow sets its caps itself")
    if flow.min_contexts > 1 or base.settings.options.max_contexts < 1:
        return Unreachable(kind="caps", reason="the script forces several contexts")
    caps: dict[str, float] = {name: getattr(flow.single_caps, name) for name in flow.explicit}
    changed: dict[str, float] = {}  # what the suggestion changes (the script keeps the rest)
    fit, fps_report, prepared = single, report, base
    for _ in range(4 * len(CAP_RESOURCE) * round(1 / CAP_STEP)):
        settings = prepared.settings
        if not fit.fits:
            resources = [r for r, _, _ in fit.over if r in RESOURCE_NAMES]
            if fit.both_classes:  # the rule of one raised class: either class is enough
                resources = nearest_class(fit.over)
            current = settings.flow.single_caps
            if not resources:
                return Unreachable(kind="caps", reason="edge layers bind, and no cap changes them")
        else:
            binding = fps_report.contexts[0].binding if fps_report is not None else fit.binding
            if binding not in RESOURCE_NAMES:
                what = "PCIe" if binding == "pcie" else f"layer {fit.capping_layer!r}"
                if not changed:
                    return Unreachable(kind="caps", reason=f"FPS is bound by {what}, not by a cap")
                reached = "" if fps_report is None else f": {min(fps_report.fps.values()):,.1f} FPS"
                return Unreachable(  # the caps raised so far stop buying FPS at this point
                    kind="caps",
                    reason=f"even {caps_line(changed)}{reached}, then {what} binds, not a cap",
                )
            resources = [binding]
            current = settings.flow.single_fps_caps
        raised = False
        for r in resources:
            name = CAP_OPTION[r]
            new = next_cap(getattr(current, name), getattr(CAP_LIMITS, name))
            if new is not None:
                caps[name] = new
                changed[name] = new
                raised = True
        if not raised:
            labels = ", ".join(COMPILER_LABELS[r] for r in resources)
            where = caps_line(caps) if caps else "the flow's caps"
            why = format_over(fit.over) if not fit.fits else f"{labels} bind"
            return Unreachable(
                kind="caps",
                reason=f"{labels} at the highest cap explain suggests ({where}): {why}"
                + ("" if not fit.fits else _fps_short(fps_report, explorer.target_fps)),
            )
        line = caps_line(caps)
        check = explorer.check(line, net, {"caps": CapOverrides(**caps)})
        if check.passed:
            return _suggestion(
                explorer,
                "caps",
                max(caps.values()),
                net,
                check,
                change=", ".join(
                    f"{name} cap {_cap_text(flow.single_caps, name)} -> {u:g}"
                    for name, u in changed.items()
                ),
                apply=caps_line(changed),
                note=_full_caps_note(explorer, net) if explorer.target_fps is not None else "",
            )
        assert check.fit is not None and check.prepared is not None
        fit, prepared = check.fit, check.prepared
        fps_report = check.report
        if fit.fits and fps_report is None:
            fps_report = explorer.compile(prepared)
    return None


def nearest_class(over: list[tuple[str, int, int]]) -> list[str]:
    """The resources of ``over`` in the class (nodes or L3 memory) closest to its limit: under
    the rule of one raised class a context over both may fit once either is not, and a cap set
    in ``resources_param`` is that class's own limit, so raising one class's caps is enough.

    >>> nearest_class([("lcus", 121, 96), ("apus", 121, 120), ("l3_cuts", 830, 768)])
    ['l3_cuts']
    >>> nearest_class([("lcus", 100, 96), ("l3_cuts", 900, 768)])
    ['lcus']
    """

    def share(names: tuple[str, ...]) -> float:
        return max((u / max(cap, 1) for r, u, cap in over if r in names), default=math.inf)

    names = min((CONTROL_CLASS, MEMORY_CLASS), key=share)
    return [r for r, _, _ in over if r in names]


def _cap_text(caps: ResourceCaps, name: str) -> str:
    return f"{getattr(caps, name):g}"


def _full_caps_note(explorer: _Explorer, net: Network) -> str:
    """The FPS with every cap at 100% (``resources_param(max_utilization=1.0)``), compiled."""
    from partitioner.model_script import CapOverrides

    every = dict.fromkeys(CAP_RESOURCE, 1.0)
    check = explorer.check(caps_line(every), net, {"caps": CapOverrides(**every)})
    if check.report is None or not check.report.single_context:
        return ""
    fps = min(check.report.fps.values())
    return f"with every cap at 100% ({caps_line(every)}): {fps:,.1f} FPS in one context"


def _layers_note(now: int, before: int) -> str:
    """``77 layers instead of 95``; ``the same 121 layers`` when a change keeps the count (4-bit
    weights, a narrower block).

    >>> _layers_note(77, 95), _layers_note(121, 121)
    ('77 layers instead of 95', 'the same 121 layers')
    """
    return f"{now} layers instead of {before}" if now != before else f"the same {now} layers"


def _fps_short(report: CompileReport | None, goal: float | None) -> str:
    if report is None or goal is None:
        return ""
    return f" ({min(report.fps.values()):,.1f} < {goal:,.1f} FPS)"


def _search_cut(explorer: _Explorer, net: Network) -> Suggestion | Unreachable | None:
    keeps = cut_candidates(net, explorer.hw.edge_layers_per_context)
    checks: dict[int, _Check] = {}

    def passes(i: int) -> bool:
        checks[i] = explorer.check(f"first {keeps[i]} layers", prefix_network(net, keeps[i]))
        return checks[i].passed

    i = first_passing(len(keeps), passes)
    if i is None:
        if not keeps:
            return Unreachable(
                kind="cut",
                reason="no prefix of the layer order has at most "
                f"{explorer.hw.edge_layers_per_context} tensors in and out",
            )
        return Unreachable(kind="cut", reason=f"even the first {keeps[-1]} layers do not fit")
    keep = keeps[i]
    cut, apply = _verified_cut(explorer, net, keep)
    host = 1 - cut.total_macs / max(net.total_macs, 1)
    return _suggestion(
        explorer,
        "cut",
        keep,
        cut,
        explorer.check(f"first {keep} layers as cut", cut),  # compiled: it may be re-imported
        change=f"end the graph after {keep} of {len(net)} layers",
        apply=apply,
        note=f"the host runs the other {len(net) - keep} layers ({host:.0%} of the MACs)",
    )


def _verified_cut(explorer: _Explorer, net: Network, keep: int) -> tuple[Network, str]:
    """The cut network and how to ask for it. For an ONNX model the file is imported again
    with ``end_nodes`` (the last ONNX node fused into each end layer) and that network is used
    when it holds the same layers; otherwise the prefix is cut from the layer graph and its
    end layers are named."""
    cut = prefix_network(net, keep)
    ends = end_layers(net, keep)
    if explorer.request.spec.lower().endswith(".onnx"):
        nodes = tuple(net.layer(n).fused[-1] if net.layer(n).fused else n for n in ends)
        try:
            imported = explorer.network(replace(explorer.request, end_nodes=nodes))
        except CtxfitError as err:
            explorer.log(f"--end-nodes {','.join(nodes)}: the importer refuses it ({err})")
        else:
            if set(imported.topological_order()) == set(cut.topological_order()):
                return imported, f"--end-nodes {','.join(nodes)}"
            explorer.log(f"--end-nodes {','.join(nodes)} imports other layers; cut kept")
    return cut, (
        f"end the graph after {' '.join(ends)} (ctxfit's layer names: export the model to ONNX "
        "and pass the nodes these end at as --end-nodes, Hailo's --end-node-names)"
    )


def _search_blocks(
    explorer: _Explorer, net: Network, single: ContextFit, rows: Sequence[Any]
) -> list[Suggestion | Unreachable]:
    """Block-level changes (:mod:`partitioner.tweaks`, :mod:`partitioner.block_search`), each
    compiled."""
    from partitioner.block_search import Evaluated, estimate, greedy, prune, strongest
    from partitioner.blocks import block_of, largest_blocks
    from partitioner.explain_rows import row_search
    from partitioner.model_script import CapOverrides
    from partitioner.tweaks import (
        Atom,
        GraphSpace,
        YoloSpace,
        apply_lines,
        change_count,
        w4_change,
        w4_rules,
        yolo_recipe,
    )

    space: Any
    if yolo_recipe(explorer.request.spec) is not None:
        space = YoloSpace(explorer.request)
    else:
        space = GraphSpace(net)
    over = {r for r, _, _ in single.over}
    heavy = list(
        dict.fromkeys(
            [r.block for r in largest_blocks(rows, "l3_cuts")] * ("l3_cuts" in over)
            + [r.block for r in largest_blocks(rows, "subclusters")] * ("subclusters" in over)
        )
    )
    atoms = space.atoms(net, heavy)
    if "l3_cuts" in over:  # 4-bit weights of more blocks: exact and cheap (no rebuild)
        more = [r.block for r in largest_blocks(rows, "l3_cuts", W4_BLOCKS) if r.params]
        atoms += [
            Atom(kind="w4", target=b, value=None, block=b, change=f"4-bit weights in {b}")
            for b in more
            if b not in heavy
        ]
    if not atoms:
        return [Unreachable(kind="blocks", reason="no block of this network can be changed")]
    base_precision = explorer.base_script.precision if explorer.base_script else ()
    base_lines = explorer.base_script.precision_lines if explorer.base_script else ()
    cache: dict[Any, Evaluated] = {}

    def evaluate(chosen: Sequence[Any], caps: dict[str, float] | None = None) -> Evaluated:
        key = (frozenset(chosen), tuple(sorted((caps or {}).items())))
        if key not in cache and explorer.out_of_time():
            raise OutOfTime
        if key not in cache:
            changed = space.build(net, chosen)
            rules = w4_rules(changed, chosen)
            changes: dict[str, Any] = {}
            if rules:
                changes["precision"] = base_precision + rules
                changes["precision_lines"] = base_lines + (0,) * len(rules)
            if caps:
                changes["caps"] = CapOverrides(**caps)
            prepared = explorer.prepare(changed, changes or None)
            cache[key] = Evaluated(
                atoms=tuple(chosen), net=changed, fit=explorer.fit(prepared), prepared=prepared
            )
        return cache[key]

    base = Evaluated(atoms=(), net=net, fit=single, prepared=None)
    found: list[Evaluated] = []
    raised: dict[frozenset[Any], dict[str, float]] = {}  # caps a found combination needs
    if isinstance(space, YoloSpace):
        try:
            rows_found, proof = row_search(explorer, space, net, heavy, evaluate)
        except OutOfTime:
            rows_found, proof = [], None
            explorer.log("row search: the search budget ran out")
        for ev, caps in rows_found:
            found.append(ev)
            raised[frozenset(ev.atoms)] = caps
        if proof is not None:
            return [Unreachable(kind="blocks", reason=proof)]
    every_w4 = [
        Atom(
            kind="w4",
            target=r.block,
            value=None,
            block=r.block,
            change=f"4-bit weights in {r.block}",
        )
        for r in rows
        if r.params and "l3_cuts" in over
    ]
    try:
        everything: Evaluated | None = evaluate(strongest([*atoms, *every_w4]))
    except OutOfTime:  # the budget spent (or Ctrl-C) before it was built
        everything = None
        if not found:
            return [Unreachable(kind="blocks", reason=_stopped_reason(explorer))]
    if everything is not None and not everything.fits and not found:
        return [
            Unreachable(
                kind="blocks",
                reason=f"even all {len(everything.atoms)} block-level changes together "
                f"({len(everything.net)} layers left) need {format_over(everything.fit.over)}",
            )
        ]
    quiet = explorer.log
    try:
        measured = estimate(atoms, base, lambda a: space.removed_layers(a, net), evaluate, quiet)
        missing = {r: used - limit for r, used, limit in single.over if r in RESOURCE_NAMES}
        # over the caps on nodes and memory at once: either class brought under them is enough
        classes = (CONTROL_CLASS, MEMORY_CLASS) if single.both_classes else (tuple(missing),)
        alone = sorted(
            (
                m
                for m in measured
                if m.fits
                or any(all(m.saves[r] >= missing[r] for r in c if r in missing) for c in classes)
            ),
            key=lambda m: -m.macs_kept,
        )
        for m in alone[:2]:
            ev = evaluate([m.atom])
            quiet(f"{m.atom.change}: {'fits' if ev.fits else 'no'} ({len(ev.net)} layers)")
            if ev.fits:
                found.append(ev)
        architecture = [m for m in measured if m.atom.kind != "w4"]
        for pool in (architecture, measured) if len(architecture) < len(measured) else [measured]:
            combo = greedy(pool, base, evaluate, quiet)
            if combo is not None:
                found.append(prune(combo, evaluate, quiet))
    except OutOfTime:
        quiet(f"block changes: the search budget ({SEARCH_BUDGET_S:g} s) ran out")
    if not found and everything is not None:
        found.append(everything)  # built and checked: it fits
    out: list[Suggestion | Unreachable] = []
    seen: set[frozenset[Any]] = set()
    for ev in found:
        if frozenset(ev.atoms) in seen:
            continue
        seen.add(frozenset(ev.atoms))
        caps = raised.get(frozenset(ev.atoms), {})
        how = "; ".join(
            x
            for x in [
                space.how(ev.atoms),
                *apply_lines(ev.net, ev.atoms),
                caps_line(caps) if caps else "",
            ]
            if x
        )
        live = {block_of(n) for n in ev.net.topological_order()}
        kept = [a for a in ev.atoms if a.kind != "w4" or a.block in live]
        label = "; ".join(
            [a.change for a in kept if a.kind != "w4"]
            + [w4_change(kept)] * any(a.kind == "w4" for a in kept)
            + [f"{name} cap -> {u:g}" for name, u in caps.items()]
        )
        check = _Check(passed=True, fit=ev.fit, reason="", prepared=ev.prepared)
        if explorer.target_fps is not None:
            continue
        out.append(
            _suggestion(
                explorer,
                "blocks",
                change_count(kept) + bool(caps),
                ev.net,
                check,
                change=label,
                apply=how,
                note=_layers_note(len(ev.net), len(net))
                + (PLAIN_NOTE if any(a.kind == "plain" for a in ev.atoms) else "")
                + ("; applied to the layer graph: an approximation" if space.approximate else ""),
                approximate=space.approximate,
            )
        )
    # fewest changes first; at equal count in search order (the row search's first)
    out.sort(key=lambda o: (0, o.value) if isinstance(o, Suggestion) else (1, 0))
    kept = [o.macs / max(net.total_macs, 1) for o in out if isinstance(o, Suggestion)]
    if not kept:
        out.append(Unreachable(kind="blocks", reason="no combination of block changes found fits"))
    elif max(kept) < MIN_MACS_KEPT:
        why = [f"the best found keeps {max(kept):.0%} of the MACs"]
        why += [
            f"{COMPILER_LABELS[r]}: {used - limit} over"
            for r, used, limit in single.over
            if r in RESOURCE_NAMES and r != "l3_cuts"
        ]
        if single.both_classes:
            why.append(
                "over the single-context caps on nodes and on L3 memory at once (bringing either "
                "under them would do: ctxfit's rule of one raised class)"
            )
        if "l3_cuts" in over:
            every = [Atom(kind="w4", target=r.block, value=None, block=r.block, change="")
                     for r in rows if r.params]  # fmt: skip
            try:
                all_w4 = evaluate(every)
                l3 = [(u, lim) for r, u, lim in all_w4.fit.over if r == "l3_cuts"]
                if l3:
                    why.append(
                        f"even every weight in 4 bits leaves L3 cuts {l3[0][0]}/{l3[0][1]}"
                        + (" with the nodes over 75% too" if all_w4.fit.both_classes else "")
                    )
            except OutOfTime:
                pass
        out.append(
            Unreachable(
                kind="blocks",
                reason="none found that fits one context keeping >= 90% of the MACs: "
                + "; ".join(why),
            )
        )
    note = activation_note(net)
    if note:  # its own kind: the block search may have found changes that do fit
        out.append(Unreachable(kind="activation", reason=note))
    return out


def activation_note(net: Network) -> str:
    """Why swapping the activation (SiLU -> ReLU) changes nothing here, or what it would save:
    a fused activation is part of its conv's layer; a standalone one is a layer of its own.

    >>> from cost_model.layer import Layer, OpKind
    >>> conv = Layer(name="c", op=OpKind.CONV, inputs=("x",), input_shapes=((8, 4, 4),),
    ...              output_shape=(8, 4, 4), activation="silu")
    >>> activation_note(Network("n", [conv], inputs={"x": (8, 4, 4)}, outputs=["c"]))[:48]
    'SiLU -> ReLU changes no resource here: all 1 act'
    """
    fused = sum(1 for x in net.layers if x.activation not in (None, "relu"))
    alone = sum(1 for x in net.layers if x.op is OpKind.ACTIVATION)
    if alone:
        return (
            f"{alone} activations are layers of their own (not fused into a conv): each takes "
            "an LCU; an activation the compiler fuses (right after a conv) saves one layer each"
        )
    if fused:
        return (
            f"SiLU -> ReLU changes no resource here: all {fused} activations are fused into "
            "their layers (one layer either way)"
        )
    return ""


PLAIN_NOTE = "; plain block: a 1x1 conv, then the bottlenecks (1x1 + 3x3) on its output"


def _stopped_reason(explorer: _Explorer) -> str:
    """Why the block search ended with nothing verified: Ctrl-C or the budget."""
    if explorer.stop.is_set():
        return "interrupted (Ctrl-C) before a change that fits was verified"
    return (
        f"the search budget ({SEARCH_BUDGET_S:g} s) ran out before a change that fits was verified"
    )


class OutOfTime(Exception):
    """The search budget ran out, or Ctrl-C stopped the search (caught inside the block search
    and the row search, :mod:`partitioner.explain_rows`)."""


__all__ = [
    "CAP_STEP",
    "DEFAULT_SPEEDUP",
    "KINDS",
    "MULTIPLIER_STEP",
    "ContextBinding",
    "Explanation",
    "Knob",
    "LayerShare",
    "Suggestion",
    "Unreachable",
    "cap_candidates",
    "caps_script",
    "changed_request",
    "context_bindings",
    "cut_candidates",
    "end_layers",
    "explain",
    "first_passing",
    "fmt_value",
    "model_knobs",
    "module_signature",
    "order_suggestions",
    "multiplier_candidates",
    "prefix_network",
    "resolution_candidates",
]
