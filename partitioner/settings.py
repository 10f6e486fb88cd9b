"""What a compile run is asked to do: command-line flags and a model script, merged.

Precedence: a command-line flag beats the model script, which beats the compiler's defaults.
The flow (caps for feasibility and for FPS, required FPS, forced multi-context, 4-bit share) is
resolved by :func:`partitioner.flows.resolve_flow`; this module turns it into search options and
per-layer precisions:

* ``quantization_param(LAYERS, precision_mode=...)`` changes those layers' precision; LAYERS may
  name ctxfit's layers or Hailo's generated names (``conv1``, ``ew_add*``, ``output_layer*``:
  :func:`hailo_layer_names`).
* 4-bit weights for the largest layers until the flow's compression fraction of all parameters
  is 4-bit.
* ``context_N = context([...])`` pins layers to contexts.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from cost_model.layer import Layer, OpKind, Precision
from partitioner.flows import FLOW_PARAMS, Flow, FlowParams, resolve_flow
from partitioner.graph import Network
from partitioner.model_script import ModelScript, PrecisionRule, layer_matches, literal_pattern
from partitioner.search import DEFAULT_TIMEOUT_S, DEFAULT_WORKERS, SearchOptions

DEFAULT_OPTIMIZE_FOR_BATCH = 8
"""Batch whose time the partitioner minimises unless ``optimize_for_batch`` says otherwise.

[assumption] The Model Zoo publishes batch 1 and batch 8 FPS; the compiler's MAX_FPS objective is
taken at batch 8, the batch at which multi-context networks are benchmarked."""

HAILO_PREFIX = {
    OpKind.CONV: "conv",
    OpKind.DWCONV: "dw",
    OpKind.DECONV: "deconv",
    OpKind.DENSE: "fc",
    OpKind.MATMUL: "matmul",
    OpKind.ADD: "ew_add",
    OpKind.MUL: "ew_mult",
    OpKind.NORM: "normalization",
    OpKind.AFFINE: "mul_and_add",
    OpKind.SOFTMAX: "softmax",
    OpKind.MAXPOOL: "maxpool",
    OpKind.AVGPOOL: "avgpool",
    OpKind.GLOBAL_POOL: "avgpool",
    OpKind.CONCAT: "concat",
    OpKind.RESIZE: "resize",
    OpKind.ARGMAX: "argmax",
}
"""[assumption] The names Hailo's parser generates, per layer kind (``conv1``, ``ew_add3``...):
numbered from 1 per prefix in the parser's order (:func:`hailo_parser_order`); graph outputs are
also ``output_layer1..N``. Model Zoo scripts name layers this way
(``quantization_param({ew_add*}, precision_mode=a16_w16)``, ``quantization_param(conv45,
precision_mode=a8_w4)``)."""


@dataclass(frozen=True, kw_only=True)
class CompileSettings:
    """The merged request: search options plus the flow, network changes and log notes;
    ``warnings`` are the notes about the script that the user should act on (a line ctxfit
    ignores, a ``quantization_param`` pattern that matches no layer), printed as warnings."""

    options: SearchOptions
    flow: Flow
    precision: dict[str, Precision] = field(default_factory=dict)
    target_fps: float | None = None
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


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
    performance: bool = False,
    gpu: bool = True,
    fixed_contexts: int | None = None,
    flow_params: FlowParams = FLOW_PARAMS,
) -> CompileSettings:
    """Merge flags (``None`` = not given) and the script into :class:`CompileSettings`.

    ``fixed_contexts`` runs the multi-context search at exactly that many contexts (a Model Zoo
    script that pins its partition, whose layer lists ctxfit cannot reproduce).

    Raises:
        ModelScriptError / GraphError: a pinned or quantized layer name that is not in ``net``.
        UsageError: an out-of-range option (from :class:`SearchOptions`); explicit caps with
            the performance flow.
    """
    flow = resolve_flow(
        script,
        performance=performance,
        max_utilization=max_utilization,
        context_switch=context_switch,
        gpu=gpu,
        params=flow_params,
    )
    notes: list[str] = list(flow.log_lines)
    precision: dict[str, Precision] = {}
    pins: dict[str, int] = {}
    if flow.compression_fraction > 0:
        precision.update(compression_precision(net, flow.compression_fraction))
        notes.append(
            f"4-bit weights: {flow.compression_fraction:.0%} of the parameters "
            f"({len(precision)} largest layers)"
        )
    warnings: list[str] = list(script.warnings) if script else []
    if script is not None:
        precision.update(script_precision(net, script))
        rules = precision_rules(net, script)
        notes += [rule.message for rule in rules]
        warnings += [rule.message for rule in rules if rule.matched == 0]
        pins = script.resolve_pinned(net.topological_order())
    mode = flow.context_switch
    if script is not None:
        script.check_pins_allowed(mode, flag=context_switch is not None)
    batch = optimize_for_batch or (
        script.optimize_for_batch if script and script.optimize_for_batch else None
    )
    timeout = timeout_s or (script.timeout_s if script and script.timeout_s else DEFAULT_TIMEOUT_S)
    fewest = flow.min_contexts
    most = 64
    if fixed_contexts is not None:
        fewest = most = fixed_contexts
        mode = "enabled" if fixed_contexts > 1 else "disabled"
    options = SearchOptions(
        single_caps=flow.single_caps,
        single_base_caps=flow.single_base_caps,
        multi_caps=flow.multi_caps,
        context_switch=mode,
        batch=batch or DEFAULT_OPTIMIZE_FOR_BATCH,
        timeout_s=timeout,
        iteration_timeout_s=iteration_timeout_s,
        pins=pins,
        seed=seed,
        workers=workers or DEFAULT_WORKERS,
        min_contexts=fewest,
        max_contexts=most,
        wall_clock=True,  # --timeout is a wall-clock promise (issue 18)
    )
    return CompileSettings(
        options=options,
        flow=flow,
        precision=precision,
        target_fps=flow.target_fps,
        notes=tuple(notes) + (script.warnings if script else ()),
        warnings=tuple(warnings),
    )


def hailo_prefix(layer: Layer) -> str | None:
    """The prefix of Hailo's generated name for one layer (:data:`HAILO_PREFIX`), or None.

    [assumption] A dense layer applied to every token of a sequence (input ``(tokens,
    features)``) is a 1x1 convolution to Hailo, named ``conv``; only a dense layer on a flat
    vector (a classifier head) is ``fc``. Evidence: Whisper-tiny's encoder script sets
    ``conv4, conv6, ..., conv18`` and ``conv5, conv9, conv13, conv17`` to 16 bits; with the two
    stem convolutions and four per block (qkv, out, fc1, fc2) counted as convs these are the
    out, fc1 and fc2 of all four blocks, while naming them ``fc`` leaves no ``conv4`` at all.

    >>> from cost_model.layer import Layer
    >>> token = Layer(name="mlp", op=OpKind.DENSE, inputs=("x",), input_shapes=((197, 192),),
    ...               output_shape=(197, 768), params=148224, macs=29048832)
    >>> head = Layer(name="head", op=OpKind.DENSE, inputs=("x",), input_shapes=((512,),),
    ...              output_shape=(1000,), params=513000, macs=512000)
    >>> hailo_prefix(token), hailo_prefix(head)
    ('conv', 'fc')
    """
    if layer.op == OpKind.DENSE and any(len(shape) > 1 for shape in layer.input_shapes):
        return HAILO_PREFIX[OpKind.CONV]
    return HAILO_PREFIX.get(layer.op)


def hailo_parser_order(net: Network) -> tuple[str, ...]:
    """[assumption] The order in which Hailo's parser numbers layers: breadth first (Kahn's
    algorithm with a queue: a layer is numbered once all its producers are, in the order it
    became ready; ties in ctxfit's topological order, which is the export's).

    Evidence (the Model Zoo v2.18 scripts of YOLOv5m and YOLOv5m-wo-SPP, both chips): the
    layers their ``loss_layer_names`` name (``conv94, conv85, conv75``; ``conv93, conv84,
    conv74``) are the three detection outputs in this order, where the export's order gives
    one of six; their seven ``quantization_param(..., precision_mode=a8_w4)`` layers each are
    13 of the 14 largest convolutions in this order (the seven largest of YOLOv5m-wo-SPP; SPP's
    first 1x1 in place of its second in YOLOv5m), 2 of 14 in the export's; CenterPose's
    ``conv60 ... conv65`` (its fine-tuning loss) are its six heads and ``conv60`` / ``conv64``
    (its sigmoids) its two heatmaps in this order, not in the export's. Not exact for
    YOLOv8: its NMS config names P3's box / class outputs ``conv41`` / ``conv42`` (P4 52 / 53, P5
    62 / 63), where this order gives 42 / 43 and 53 / 54 (62 / 63 right): Hailo numbers the
    next C2f's first conv after the head's outputs, this order before them.

    >>> from cost_model.layer import Layer
    >>> def conv(name, src):
    ...     return Layer(name=name, op=OpKind.CONV, inputs=(src,), input_shapes=((8, 4, 4),),
    ...                  output_shape=(8, 4, 4), params=72, macs=1152)
    >>> net = Network("n", [conv("a", "x"), conv("a2", "a"), conv("b", "x")],
    ...               inputs={"x": (8, 4, 4)}, outputs=["a2", "b"])
    >>> net.topological_order(), hailo_parser_order(net)
    (('a', 'a2', 'b'), ('a', 'b', 'a2'))
    """
    position = {name: i for i, name in enumerate(net.topological_order())}
    waiting = {name: len(set(net.predecessors(name))) for name in position}
    queue = deque(name for name in position if waiting[name] == 0)
    order: list[str] = []
    while queue:
        name = queue.popleft()
        order.append(name)
        for nxt in sorted(set(net.successors(name)), key=position.__getitem__):
            waiting[nxt] -= 1
            if waiting[nxt] == 0:
                queue.append(nxt)
    return tuple(order)


def hailo_layer_names(net: Network) -> dict[str, str]:
    """Hailo's generated name of each layer (see :data:`HAILO_PREFIX`) -> ctxfit's name.

    >>> from cost_model.layer import Layer
    >>> def conv(name, src):
    ...     return Layer(name=name, op=OpKind.CONV, inputs=(src,), input_shapes=((8, 4, 4),),
    ...                  output_shape=(8, 4, 4), params=72, macs=1152)
    >>> net = Network("n", [conv("a", "x"), conv("b", "a")], inputs={"x": (8, 4, 4)},
    ...               outputs=["b"])
    >>> hailo_layer_names(net)
    {'conv1': 'a', 'conv2': 'b', 'output_layer1': 'b'}
    """
    names: dict[str, str] = {}
    counts: dict[str, int] = {}
    for name in hailo_parser_order(net):
        prefix = hailo_prefix(net.layer(name))
        if prefix is not None:
            counts[prefix] = counts.get(prefix, 0) + 1
            names[f"{prefix}{counts[prefix]}"] = name
    for i, name in enumerate(dict.fromkeys(net.outputs), start=1):
        names[f"output_layer{i}"] = name
    return names


def anchor_layer_names(net: Network, script: ModelScript) -> ModelScript:
    """``script`` with every ``quantization_param`` rule that names one layer exactly pinned to
    the layer it names in ``net``: a Hailo generated name (``conv45``, ``output_layer1``) becomes
    ctxfit's name of that layer. Hailo's names are positions (the 45th conv), so a changed
    network (``ctxfit explain``'s candidates) would give them to other layers; pinned, a rule
    keeps its layer, and :func:`without_absent_layers` drops it where a change removed the layer.
    Globs (``{ew_add*}``) and ctxfit's own names stay as they are.

    >>> from cost_model.layer import Layer
    >>> def conv(name, src):
    ...     return Layer(name=name, op=OpKind.CONV, inputs=(src,), input_shapes=((8, 4, 4),),
    ...                  output_shape=(8, 4, 4), params=72, macs=1152)
    >>> from partitioner.model_script import parse_model_script
    >>> net = Network("n", [conv("a", "x"), conv("b", "a")], inputs={"x": (8, 4, 4)},
    ...               outputs=["b"])
    >>> s = parse_model_script("quantization_param(conv2, precision_mode=a8_w4)\\n"
    ...                        "quantization_param({conv*}, precision_mode=a8_w4)")
    >>> anchor_layer_names(net, s).precision
    (('b', <Precision.A8_W4: 'a8_w4'>), ('conv*', <Precision.A8_W4: 'a8_w4'>))
    """
    aliases = hailo_layer_names(net)
    own = set(net.topological_order())
    rules: list[tuple[str, Precision]] = []
    lines: list[int] = []
    for (pattern, mode), line in zip(script.precision, script.precision_lines, strict=True):
        named = (
            []
            if is_glob(pattern) or any(layer_matches(pattern, n) for n in own)
            else [layer for alias, layer in aliases.items() if layer_matches(pattern, alias)]
        )
        for layer in named or [None]:
            rules.append((pattern if layer is None else literal_pattern(layer), mode))
            lines.append(line)
    return replace(script, precision=tuple(rules), precision_lines=tuple(lines))


def without_absent_layers(net: Network, script: ModelScript) -> ModelScript:
    """``script`` without the ``quantization_param`` rules that name one layer exactly and find
    it nowhere in ``net`` (a layer a change removed; globs stay, matching what they match)."""
    own = net.topological_order()
    kept = [
        (rule, line)
        for rule, line in zip(script.precision, script.precision_lines, strict=True)
        if is_glob(rule[0], literal_ok=True) or any(layer_matches(rule[0], n) for n in own)
    ]
    return replace(
        script,
        precision=tuple(rule for rule, _ in kept),
        precision_lines=tuple(line for _, line in kept),
    )


def names_layers(script: ModelScript | None) -> bool:
    """Whether ``script`` has a ``quantization_param`` rule that names one layer exactly (not a
    glob): the rules :func:`anchor_layer_names` pins and :func:`without_absent_layers` drops."""
    return script is not None and any(not is_glob(pattern) for pattern, _ in script.precision)


def is_glob(pattern: str, *, literal_ok: bool = False) -> bool:
    """A pattern with a wildcard (``*``, ``?``, a class); with ``literal_ok`` a bracketed single
    character (``x[[]0]``, :func:`~partitioner.model_script.literal_pattern`) is not one."""
    if literal_ok:
        pattern = re.sub(r"\[(.)\]", "", pattern)
    return any(c in pattern for c in "*?[")


def script_precision(net: Network, script: ModelScript) -> dict[str, Precision]:
    """The precision the script's ``quantization_param`` rules give each layer, matching
    ctxfit's layer names and Hailo's generated names (:func:`hailo_layer_names`); a layer
    matched under both takes the rule matched by its own name."""
    aliases = hailo_layer_names(net)
    own = net.topological_order()
    matched = script.precision_by_layer([*own, *(a for a in aliases if a not in set(own))])
    result = {aliases[a]: mode for a, mode in matched.items() if a in aliases and a not in own}
    result.update({name: mode for name, mode in matched.items() if name in set(own)})
    return result


def precision_rules(net: Network, script: ModelScript) -> tuple[PrecisionRule, ...]:
    """Each ``quantization_param`` pattern with the number of distinct layers it matches, by
    ctxfit's name or Hailo's generated one (a rule matching none is a warning in the log)."""
    aliases = hailo_layer_names(net)
    rules = []
    for rule in script.precision_rules_matched(()):
        hits = {n for n in net.topological_order() if layer_matches(rule.pattern, n)}
        hits |= {aliases[a] for a in aliases if layer_matches(rule.pattern, a)}
        rules.append(replace(rule, matched=len(hits)))
    return tuple(rules)


def compression_precision(net: Network, fraction: float) -> dict[str, Precision]:
    """4-bit weights for the largest layers until ``fraction`` of all parameters are 4-bit (a
    layer at 16 bits keeps its precision).

    >>> from cost_model.layer import Layer
    >>> def dense(name, params):
    ...     return Layer(name=name, op=OpKind.DENSE, inputs=("x",), input_shapes=((8,),),
    ...                  output_shape=(8,), params=params, macs=params)
    >>> net = Network("n", [dense("a", 600), dense("b", 300), dense("c", 100)],
    ...               inputs={"x": (8,)}, outputs=["a", "b", "c"])
    >>> sorted(compression_precision(net, 0.6))     # 60% of 1000 params: 'a' alone is enough
    ['a']
    >>> sorted(compression_precision(net, 0.8))     # 80%: 'a' and 'b'
    ['a', 'b']
    """
    target = min(max(fraction, 0.0), 1.0) * net.total_params
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
