"""The compiler's flows: which caps decide feasibility, which price the FPS, and what else a
model script changes (HAILO.md sections 4 and 7).

* **default** (``compiler_optimization_level=1``): one context is decided at the single-context
  caps (75%); when it fits, the compiler raises utilization for FPS ("Model fits in single
  context ... but tries to increase utilization") up to a ceiling per resource
  (:attr:`FlowParams.raised_caps`). Otherwise ``Using Multi-context flow`` at 60% caps;
  whether the contexts' utilization is raised too is :attr:`FlowParams.raise_multi_context`.
* **explicit caps** (``resources_param``): a resource with a cap is held at that cap in both
  flows, for feasibility and FPS alike (the compiler takes the user's caps as given);
  ``max_utilization=0.0`` means not set. Caps above 1.0 are reported as the compiler does
  (used/limit against the cap, "142/154 LCUs").
* **performance** (``compiler_optimization_level=max``, ``ctxfit compile --performance``): the
  compiler picks the caps itself (:attr:`FlowParams.performance_single_caps`,
  :attr:`FlowParams.performance_multi_caps`) and refuses explicit ones.
* **required FPS** (``performance_param(fps=N)``): one context is allocated for N FPS; ignored in
  the multi-context flow with the compiler's warning.
* ``context_switch_param(mode=enabled)``: the multi-context flow even for a network that fits;
  its answer has at least 2 contexts.
* **4-bit weights**: ``compression_level`` 0..5 puts :data:`COMPRESSION_FRACTION` of the weights
  in 4 bits, the largest layers first; without a level, a compile on a machine with a GPU
  compresses :attr:`FlowParams.implicit_compression`; without a GPU (``--no-gpu``) or at
  ``optimization_level=0`` nothing is compressed.

Every constant marked *calibrated* is fitted by ``python -m benchmarks.calibrate`` on the Model
Zoo rows under each row's own flow (``benchmarks/RESULTS.md``, "Calibration").

>>> flow = resolve_flow(None)
>>> flow.name, flow.single_caps.control, flow.single_fps_caps.control
('default', 1.1, 1.1)
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

from cost_model.caps import MULTI_CONTEXT_CAPS, SINGLE_CONTEXT_CAPS, ResourceCaps
from partitioner.errors import UsageError
from partitioner.model_script import ModelScript


# -- calibrated flow parameters --------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class FlowParams:
    """The compiler-flow parameters nobody publishes, as calibrated (see each field).

    Attributes:
        raised_caps: [calibrated] the ceiling up to which the default flow raises a fitting
            single context's utilization for FPS. Evidence: a DFC 3.33.0 compile stepped the
            control cap 117.5% -> 100% -> 97.5% ... -> 75% in 2.5% steps, and final
            single-context totals above 75% are common (Control 82%, Compute 92.2%, Memory
            70.8%). What would decide each ceiling exactly: profiler totals of single-context
            compiles at the defaults.
        raise_multi_context: [calibrated choice] whether each context of a multi-context answer
            also runs at utilization raised to ``raised_caps`` after the partition is chosen at
            60%. Not published; the calibration compares both by leave-one-network-out error.
            What would decide it: per-context utilization tables of a default multi-context
            compile.
        multi_raised_caps: [calibrated] the ceiling of that raise for the contexts of a
            multi-context answer, when it differs from a single context's (``None``: the same,
            ``raised_caps``). The multi-context flow re-runs its allocation per context with
            the next context's weights coming over PCIe anyway, so nothing says its ceiling is
            the single context's; the calibration fits its compute share. What would decide
            it: per-context profiler totals of a default multi-context compile.
        decide_at_raised_caps: [calibrated choice] whether one context is decided at the raised
            caps too (the compiler tries utilization from the top down, "117.5% -> 100% -> ...
            -> 75%", and keeps the first that maps) rather than at 75% with the raise for FPS
            only (HAILO.md 7's inferred reading). The calibration compares both by
            leave-one-network-out error. What would decide it: the single-context profiler totals
            of a network that needs more than 75% of a resource at its lowest rate.
        single_raise_one_class: [calibrated choice] with ``decide_at_raised_caps``, whether
            one context may pass the default single-context caps (75%) on one class of
            resource only: on the control class (LCUs, APUs, input aligners: one of each per
            node) or on memory (L3 cuts), not on both, at its lowest rate. The mechanism read
            into it: the allocator places each node with its weights in one cluster (16 LCUs,
            128 L3 cuts on Hailo-8), so a context crowded on both at once packs into the
            clusters worse than the totals say. The Model Zoo rows that bear on it: on Hailo-8
            YOLOX-S (102 nodes, 51% of L3) and ResNeXt-50 (56 nodes, 91% of L3) run in one
            context, YOLOX-S-wide (102 nodes, 85%), YOLOv5m-6.1 and HarDNet-68 (108, 76%) in
            several (L3 at 32 KiB cuts, every node at its lowest rate).
            The calibration compares both values by leave-one-network-out error. What would
            decide it: the single-context profiler totals (or the "Resources presolve failed"
            line) of a network over 75% on both.
        performance_single_caps: [assumption] feasibility caps of the performance flow's single
            context, which "fits one context more often" than the default flow (HAILO.md 7).
            Compiles of one network at level 1 and at max would decide it.
        performance_multi_caps: [assumption] caps of the performance flow's multi-context
            search (no Model Zoo row that ctxfit builds decides it).
        implicit_compression: [calibrated] share of parameters in 4 bits when a compile with a
            GPU sets no ``compression_level`` (the optimizer may compress implicitly; Hailo's
            diagnostic tool warns "Model might have implicit compression"; the default is not
            published).
    """

    raised_caps: ResourceCaps = ResourceCaps(
        control=1.1, compute=0.75, memory=0.92, apu=1.1, input_aligner=1.1
    )
    raise_multi_context: bool = True
    multi_raised_caps: ResourceCaps | None = ResourceCaps(
        control=1.1, compute=0.92, memory=0.92, apu=1.1, input_aligner=1.1
    )
    decide_at_raised_caps: bool = True
    single_raise_one_class: bool = True
    performance_single_caps: ResourceCaps = ResourceCaps.uniform(0.75)
    performance_multi_caps: ResourceCaps = ResourceCaps.uniform(0.75)
    implicit_compression: float = 0.0


FLOW_PARAMS = FlowParams()
"""The calibrated values (``python -m benchmarks.calibrate``; ``benchmarks/RESULTS.md``)."""

COMPRESSION_FRACTION = {0: 0.0, 1: 0.2, 2: 0.4, 3: 0.6, 4: 0.8, 5: 1.0}
"""[assumption] Share of all parameters in 4 bits at each ``compression_level`` (0-5; the
compiler documents only that 0 is none and 5 about all). Largest layers first."""

NO_GPU_LINE = (
    "Reducing optimization level to 0 (the accuracy won't be optimized and compression won't "
    "be used) because there's no available GPU"
)
REQUIRED_FPS_MULTI_LINE = (
    "REQUIRED_FPS is not currently supported for multi context, reverting to MAX_FPS"
)
PERFORMANCE_CAPS_ERROR = (
    "Compilation failed: Performance Flow requires automatic resource utilization"
)


@dataclass(frozen=True, kw_only=True)
class Flow:
    """How one compile runs: its caps, its goal and its weights.

    Attributes:
        name: ``default``, ``performance`` or ``explicit caps`` (as the log names it).
        level: the compiler optimization level (``"1"`` or ``"max"``).
        single_caps: caps deciding whether one context fits.
        single_base_caps: with the rule of one raised class
            (:attr:`FlowParams.single_raise_one_class`), the caps that one context may pass on
            the control class or on memory but not on both; ``None`` without the rule.
        single_fps_caps: caps at which a fitting single context is priced (raised utilization).
        multi_caps: caps of the multi-context search.
        multi_fps_caps: caps at which each context of a multi-context answer is priced.
        explicit: the resources whose cap the user set (never raised).
        target_fps: ``performance_param(fps=N)``: one context allocated for N FPS.
        context_switch: ``allowed``, ``enabled`` or ``disabled``.
        min_contexts: 2 for ``enabled``, else 1.
        compression_fraction: share of parameters in 4-bit weights, largest layers first.
        log_lines: the flow's lines for the log, in the compiler's words.
    """

    name: str
    level: str
    single_caps: ResourceCaps
    single_base_caps: ResourceCaps | None
    single_fps_caps: ResourceCaps
    multi_caps: ResourceCaps
    multi_fps_caps: ResourceCaps
    explicit: tuple[str, ...]
    target_fps: float | None
    context_switch: str
    min_contexts: int
    compression_fraction: float
    log_lines: tuple[str, ...]


def _caps_fields() -> tuple[str, ...]:
    return tuple(f.name for f in fields(ResourceCaps))


def _merge(base: ResourceCaps, explicit: dict[str, float]) -> ResourceCaps:
    return replace(base, **{k: v for k, v in explicit.items() if k in _caps_fields()})


def _raise(caps: ResourceCaps, ceiling: ResourceCaps, explicit: dict[str, float]) -> ResourceCaps:
    """Each resource not set by the user at the higher of its cap and the ceiling."""
    return ResourceCaps(
        **{
            name: getattr(caps, name)
            if name in explicit
            else max(getattr(caps, name), getattr(ceiling, name))
            for name in _caps_fields()
        }
    )


def resolve_flow(
    script: ModelScript | None,
    *,
    performance: bool = False,
    max_utilization: float | None = None,
    context_switch: str | None = None,
    gpu: bool = True,
    params: FlowParams = FLOW_PARAMS,
) -> Flow:
    """The flow a compile with ``script`` and these flags runs (flags win over the script).

    ``performance`` is hailomz's ``--performance``: level=max unless caps are set (then it is
    ignored, as hailomz only adds the line to a generic script). ``max_utilization`` 0 means
    not set, as in ``resources_param``.

    Raises:
        UsageError: explicit caps together with ``compiler_optimization_level=max`` in the
            script (the compiler's own error).

    >>> from partitioner.model_script import parse_model_script
    >>> s = parse_model_script("resources_param(max_utilization=0.8)")
    >>> f = resolve_flow(s)
    >>> f.name, f.single_caps.compute, f.single_fps_caps.compute, f.multi_caps.compute
    ('explicit caps', 0.8, 0.8, 0.8)
    >>> resolve_flow(parse_model_script("performance_param(compiler_optimization_level=max)\\n"
    ...                                 "resources_param(max_control_utilization=0.9)"))
    Traceback (most recent call last):
    ...
    partitioner.errors.UsageError: Compilation failed: Performance Flow requires automatic \
resource utilization (the script sets compiler_optimization_level=max and caps: control=0.9); \
remove one of them
    """
    explicit: dict[str, float] = {}
    lines: list[str] = []
    if script is not None:
        explicit.update({k: v for k, v in script.caps.as_dict().items() if k in _caps_fields()})
    if max_utilization:
        explicit = dict.fromkeys(_caps_fields(), float(max_utilization))
    level = (
        str(script.optimization_level) if script and script.optimization_level is not None else "1"
    )
    if level == "max" and explicit:
        listed = ", ".join(f"{k}={v:g}" for k, v in explicit.items())
        raise UsageError(
            f"{PERFORMANCE_CAPS_ERROR} (the script sets compiler_optimization_level=max and "
            f"caps: {listed}); remove one of them"
        )
    if performance:
        if explicit:
            lines.append(
                "--performance ignored: the caps are set "
                "(hailomz adds level=max only to a script without them)"
            )
        else:
            level = "max"
    if level == "max":
        name = "performance"
        single, multi = params.performance_single_caps, params.performance_multi_caps
        lines.append(
            "Performance Flow: compiler_optimization_level=max, automatic resource utilization"
        )
    else:
        name = "explicit caps" if explicit else "default"
        single, multi = _merge(SINGLE_CONTEXT_CAPS, explicit), _merge(MULTI_CONTEXT_CAPS, explicit)
        if level != "0":
            lines.append(
                'To achieve optimal performance, set the compiler_optimization_level to "max" '
                "by adding performance_param(compiler_optimization_level=max) to the model "
                "script. Note that this may increase compilation time."
                + (
                    " (Without the caps this script sets: the two do not combine.)"
                    if explicit
                    else ""
                )
            )
    single_fps = _raise(single, params.raised_caps, explicit)
    base = None
    if params.decide_at_raised_caps and level != "max":
        base = single if params.single_raise_one_class else None
        single = single_fps
    multi_ceiling = params.multi_raised_caps or params.raised_caps
    multi_fps = _raise(multi, multi_ceiling, explicit) if params.raise_multi_context else multi
    mode = context_switch or (script.context_switch if script else "allowed")
    fraction = _compression(script, gpu, lines, params.implicit_compression)
    return Flow(
        name=name,
        level=level,
        single_caps=single,
        single_base_caps=base,
        single_fps_caps=single_fps,
        multi_caps=multi,
        multi_fps_caps=multi_fps,
        explicit=tuple(explicit),
        target_fps=script.target_fps if script else None,
        context_switch=mode,
        min_contexts=2 if mode == "enabled" else 1,
        compression_fraction=fraction,
        log_lines=tuple(lines),
    )


def _compression(script: ModelScript | None, gpu: bool, lines: list[str], implicit: float) -> float:
    """Share of parameters in 4 bits (see the module docstring), with its log line."""
    level = script.compression_level if script else None
    if not gpu:
        lines.append(NO_GPU_LINE)
        return 0.0
    if script is not None and script.flavor_optimization_level == 0:
        lines.append("optimization_level=0: compression won't be used")
        return 0.0
    if level is not None:
        return COMPRESSION_FRACTION[level]
    return implicit
