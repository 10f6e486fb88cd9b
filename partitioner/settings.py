"""What a compile run is asked to do: command-line flags and a model script, merged.

Precedence: a command-line flag beats the model script, which beats the compiler's defaults
(75% single-context caps, 60% multi-context caps, ``context_switch_param(mode=allowed)``).

* ``resources_param`` caps apply to both flows (the compiler takes the user's caps as given).
* ``quantization_param(LAYERS, precision_mode=...)`` changes those layers' precision.
* ``model_optimization_flavor(compression_level=N)`` puts the largest layers' weights in 4 bits
  until :data:`COMPRESSION_FRACTION` ``[N]`` of all parameters are 4-bit.
* ``context_N = context([...])`` pins layers to contexts.
* ``compiler_optimization_level`` is read and reported but not modelled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from cost_model.caps import MULTI_CONTEXT_CAPS, SINGLE_CONTEXT_CAPS, ResourceCaps
from cost_model.layer import Precision
from partitioner.graph import Network
from partitioner.model_script import ModelScript
from partitioner.search import DEFAULT_TIMEOUT_S, DEFAULT_WORKERS, SearchOptions

DEFAULT_OPTIMIZE_FOR_BATCH = 8
"""Batch whose time the partitioner minimises unless ``optimize_for_batch`` says otherwise.

[assumption] The Model Zoo publishes batch 1 and batch 8 FPS; the compiler's MAX_FPS objective is
taken at batch 8, the batch at which multi-context networks are benchmarked."""

COMPRESSION_FRACTION = {0: 0.0, 1: 0.2, 2: 0.4, 3: 0.6, 4: 0.8, 5: 1.0}
"""[assumption] Share of all parameters held in 4 bits at each ``compression_level`` (0-5; the
compiler documents only that higher levels put more weights in 4 bits). Largest layers first."""


@dataclass(frozen=True, kw_only=True)
class CompileSettings:
    """The merged request: search options plus network changes and notes for the log."""

    options: SearchOptions
    precision: dict[str, Precision] = field(default_factory=dict)
    target_fps: float | None = None
    notes: tuple[str, ...] = ()


def merge_settings(
    net: Network,
    script: ModelScript | None,
    *,
    max_utilization: float | None = None,
    context_switch: str | None = None,
    optimize_for_batch: int | None = None,
    timeout_s: float | None = None,
    iteration_timeout_s: float | None = None,
    seed: int = 0,
    workers: int | None = None,
) -> CompileSettings:
    """Merge flags (``None`` = not given) and the script into :class:`CompileSettings`.

    Raises:
        ModelScriptError / GraphError: a pinned or quantized layer name that is not in ``net``.
        UsageError: an out-of-range option (from :class:`SearchOptions`).
    """
    single, multi = SINGLE_CONTEXT_CAPS, MULTI_CONTEXT_CAPS
    notes: list[str] = []
    precision: dict[str, Precision] = {}
    pins: dict[str, int] = {}
    if script is not None:
        for name, u in script.caps.as_dict().items():
            if name == "compute_16bit":
                continue
            single, multi = single.with_cap(name, u), multi.with_cap(name, u)
        if script.compression_level:
            precision.update(compression_precision(net, script.compression_level))
            notes.append(
                f"compression_level={script.compression_level}: {len(precision)} largest layers "
                "in 4-bit weights"
            )
        precision.update(script.precision_by_layer(net.topological_order()))
        pins = script.resolve_pinned(net.topological_order())
        if script.optimization_level is not None:
            notes.append(f"compiler_optimization_level={script.optimization_level} is not modelled")
    if max_utilization is not None:
        single = multi = ResourceCaps.uniform(max_utilization)
    mode = context_switch or (script.context_switch if script else "allowed")
    if script is not None:
        script.check_pins_allowed(mode, flag=context_switch is not None)
    batch = optimize_for_batch or (
        script.optimize_for_batch if script and script.optimize_for_batch else None
    )
    timeout = timeout_s or (script.timeout_s if script and script.timeout_s else DEFAULT_TIMEOUT_S)
    options = SearchOptions(
        single_caps=single,
        multi_caps=multi,
        context_switch=mode,
        batch=batch or DEFAULT_OPTIMIZE_FOR_BATCH,
        timeout_s=timeout,
        iteration_timeout_s=iteration_timeout_s,
        pins=pins,
        seed=seed,
        workers=workers or DEFAULT_WORKERS,
    )
    return CompileSettings(
        options=options,
        precision=precision,
        target_fps=script.target_fps if script else None,
        notes=tuple(notes) + (script.warnings if script else ()),
    )


def compression_precision(net: Network, level: int) -> dict[str, Precision]:
    """4-bit weights for the largest layers until ``COMPRESSION_FRACTION[level]`` of all
    parameters are 4-bit (a layer at 16 bits keeps its precision).

    >>> from cost_model.layer import Layer, OpKind
    >>> def dense(name, params):
    ...     return Layer(name=name, op=OpKind.DENSE, inputs=("x",), input_shapes=((8,),),
    ...                  output_shape=(8,), params=params, macs=params)
    >>> net = Network("n", [dense("a", 600), dense("b", 300), dense("c", 100)],
    ...               inputs={"x": (8,)}, outputs=["a", "b", "c"])
    >>> sorted(compression_precision(net, 3))     # 60% of 1000 params: 'a' alone is enough
    ['a']
    >>> sorted(compression_precision(net, 4))     # 80%: 'a' and 'b'
    ['a', 'b']
    """
    target = COMPRESSION_FRACTION[min(max(level, 0), 5)] * net.total_params
    chosen: dict[str, Precision] = {}
    done = 0
    for layer in sorted(net.layers, key=lambda x: (-x.params, x.name)):
        if done >= target or layer.params == 0:
            break
        if layer.precision is Precision.A16_W16:
            continue
        chosen[layer.name] = Precision.A8_W4
        done += layer.params
    return chosen


def apply_precision(net: Network, precision: dict[str, Precision]) -> Network:
    """``net`` with the requested precisions (unchanged when there are none)."""
    return net.with_precision(precision) if precision else net


def batches_text(batches: Sequence[int]) -> str:
    """``1, 8`` for messages."""
    return ", ".join(str(b) for b in batches)
