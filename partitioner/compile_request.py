"""Everything ``ctxfit compile`` does before the search, in one place for the CLI and the
benchmarks: the Model Zoo script of a zoo model, the flow, and the network's precisions.

A zoo model compiles as ``hailomz compile`` compiles it: with the compile-side lines of its Model
Zoo script for the chosen chip (:mod:`partitioner.zoo_scripts`), unless a script is given or
``compiler_defaults`` asks for the bare compiler defaults. Files (ONNX, factories, saved graphs)
get the compiler's defaults unless a script is given.
"""

from __future__ import annotations

from dataclasses import dataclass

from cost_model.hardware import HardwareSpec
from partitioner.flows import FLOW_PARAMS, FlowParams
from partitioner.graph import Network
from partitioner.model_script import ModelScript, parse_model_script
from partitioner.settings import (
    CompileSettings,
    anchor_layer_names,
    apply_precision,
    merge_settings,
    names_layers,
    without_absent_layers,
)
from partitioner.zoo_scripts import ZooScript, zoo_script


@dataclass(frozen=True, kw_only=True)
class PreparedCompile:
    """The network as it will be compiled, the merged settings, and the log lines so far."""

    net: Network
    settings: CompileSettings
    zoo: ZooScript | None
    log_lines: tuple[str, ...]


def chip_of(hw: HardwareSpec) -> str:
    """The Model Zoo device a part is: ``hailo8l`` (64 LCUs or fewer) or ``hailo8``.

    >>> from cost_model.hardware import preset
    >>> chip_of(preset("hailo8l")), chip_of(preset("hailo8"))
    ('hailo8l', 'hailo8')
    """
    return "hailo8l" if hw.totals().lcus <= 64 else "hailo8"


def prepare_compile(
    net: Network,
    hw: HardwareSpec,
    script: ModelScript | None,
    *,
    zoo_name: str | None = None,
    compiler_defaults: bool = False,
    flow_params: FlowParams = FLOW_PARAMS,
    **flags: object,
) -> PreparedCompile:
    """Resolve the script (the zoo model's own when ``zoo_name`` is given and no ``script``),
    merge it with ``flags`` (keyword arguments of :func:`partitioner.settings.merge_settings`)
    and apply the precisions.

    Raises:
        ModelScriptError, UsageError: from the script and the flags.
    """
    lines: list[str] = []
    zoo = None
    if script is None and zoo_name is not None and not compiler_defaults:
        zoo = zoo_script(zoo_name, chip_of(hw))
    if zoo is not None:
        script = parse_model_script(zoo.text, source=zoo.row.script)
        body = zoo.text.splitlines()[1:]
        lines += [f"Model Zoo script {zoo.row.script}: {line}" for line in body]
        if not body:
            lines.append(f"Model Zoo script {zoo.row.script}: no compile-side lines")
        lines += zoo.notes
        script, dropped = _published_layers(net, zoo.row.network, script)
        if dropped:
            lines.append(
                f"{dropped} layers the Model Zoo script names are not in this network (its "
                "knobs changed it): their precision is not set"
            )
    settings = merge_settings(
        net,
        script,
        fixed_contexts=zoo.fixed_contexts if zoo is not None else None,
        flow_params=flow_params,
        **flags,  # type: ignore[arg-type]
    )
    lines.append(
        f"Compile flow: {settings.flow.name} (compiler_optimization_level={settings.flow.level})"
    )
    lines += settings.notes
    return PreparedCompile(
        net=apply_precision(net, settings.precision),
        settings=settings,
        zoo=zoo,
        log_lines=tuple(lines),
    )


def _published_layers(net: Network, network: str, script: ModelScript) -> tuple[ModelScript, int]:
    """The zoo script's layers named one by one are the *published* network's (Hailo's
    ``conv45`` is a position): pinned to the layers they name there
    (:func:`~partitioner.settings.anchor_layer_names`) and kept where ``net``, the zoo model at
    other knobs (``--depth``), still has them; with the number of rules dropped."""
    if not names_layers(script):
        return script, 0
    from partitioner.models import ModelRequest, load_network

    published = load_network(ModelRequest(spec=network))
    if published == net:
        return script, 0
    anchored = anchor_layer_names(published, script)
    kept = without_absent_layers(net, anchored)
    return kept, len(anchored.precision) - len(kept.precision)
