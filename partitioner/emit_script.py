"""``--emit-script``: the model script of a compile, settings and partition together.

The script holds what produced the partition, as commands Hailo's compiler reads: the caps the
user set (``resources_param``), the optimization level, the context-switch mode, every layer's
precision (``quantization_param``, with ``compression_level=0`` so that no other layer is
compressed: the 4-bit layers the run chose are all listed), ``optimize_for_batch``, a required
FPS, a search budget that is not the default, and the ``context_N = context([...])`` lines.
Read back alone (``ctxfit compile MODEL --script FILE``) it gives the same partition: every layer
is pinned, so the search only sets each context's rate.
"""

from __future__ import annotations

from typing import Any

from cost_model.caps import ResourceCaps
from cost_model.hardware import PRESETS
from cost_model.layer import Precision
from partitioner.model_script import (
    CapOverrides,
    ScriptSettings,
    emit_partition_script,
    emit_settings_lines,
)
from partitioner.search import DEFAULT_TIMEOUT_S


def _caps_text(caps: ResourceCaps) -> str:
    return (
        f"control {caps.control:.0%}, compute {caps.compute:.0%}, memory {caps.memory:.0%}, "
        f"APU {caps.apu:.0%}, input aligner {caps.input_aligner:.0%}"
    )


def script_settings(report: Any) -> ScriptSettings:
    """The :class:`ScriptSettings` of a :class:`~partitioner.compile.CompileReport`."""
    flow, options = report.flow, report.options
    comments: list[str] = []
    caps = CapOverrides()
    level = context_switch = target = timeout = None
    if flow is not None:
        explicit = {name: getattr(flow.single_caps, name) for name in flow.explicit}
        caps = CapOverrides(**explicit)
        level = None if flow.level == "1" else flow.level
        target = flow.target_fps
        comments.append(f"flow: {flow.name} (compiler_optimization_level={flow.level})")
        if not explicit:
            comments.append(f"caps: the flow's own; one context: {_caps_text(flow.single_caps)}")
            comments.append(
                f"caps: the flow's own; several contexts: {_caps_text(flow.multi_caps)}"
            )
        if flow.compression_fraction > 0:
            comments.append(
                f"4-bit weights: {flow.compression_fraction:.0%} of the parameters, "
                "listed per layer below"
            )
    if options is not None:
        context_switch = None if options.context_switch == "allowed" else options.context_switch
        timeout = None if options.timeout_s == DEFAULT_TIMEOUT_S else options.timeout_s
    precision = tuple(
        (row.name, Precision(row.precision)) for row in report.layers if row.precision != "a8_w8"
    )
    return ScriptSettings(
        caps=caps,
        optimization_level=level,
        context_switch=context_switch,
        compression_level=0,
        precision=precision,
        optimize_for_batch=report.search.batch,
        target_fps=target,
        timeout_s=timeout,
        comments=tuple(comments),
    )


def compile_script(report: Any) -> str:
    """The whole script: a header, the settings, then the ``context_N`` lines."""
    b = report.search.batch
    n = report.num_contexts
    part = report.hardware.name if report.hardware.name in PRESETS else "FILE.toml"
    header = (
        f"ctxfit partition of {report.model} on {report.hardware.name}: {n} "
        f"context{'' if n == 1 else 's'}, {report.fps[b]:,.1f} FPS at batch {b}\n"
        f"read back with: ctxfit compile MODEL --hw {part} --script THIS_FILE"
    )
    lines = [f"# {line}" for line in header.split("\n")]
    lines += emit_settings_lines(script_settings(report))
    return "\n".join(lines) + "\n" + emit_partition_script([c.layers for c in report.contexts])


__all__ = ["compile_script", "script_settings"]
