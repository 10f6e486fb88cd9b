"""``ctxfit compare A.json B.json``: two compile results side by side.

It reads two files written by ``ctxfit compile --json`` (schema 1) and shows: the headline
figures (contexts, FPS per batch, latency, what binds, link bandwidth, energy per frame,
precision settings, knob values, solver status and gap) with the change from A to B, each
context's utilization and binding, and which layers moved between contexts. Runs of layers
that moved together are shown as one row (``conv3 .. conv9``).

>>> a = {"contexts": [{"index": 0, "layers": ["c0", "c1", "c2"]}, {"index": 1, "layers": ["c3"]}]}
>>> b = {"contexts": [{"index": 0, "layers": ["c0"]}, {"index": 1, "layers": ["c1", "c2", "c3"]}]}
>>> [(m.from_context, m.to_context, m.layers) for m in layer_moves(a, b)]
[(0, 1, ('c1', 'c2'))]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from cost_model.context import FitMargin, share_text
from partitioner.errors import UsageError
from partitioner.search_types import gap_text
from partitioner.user_text import text

SCHEMA = 1
REQUIRED_KEYS = ("schema", "model", "hardware", "num_contexts", "fps", "latency_ms", "contexts")
CONTEXT_KEYS = ("index", "layers", "utilization", "fps", "binding")

BINDING_WORDS: dict[str, str] = {
    "lcus": "Control (LCUs)",
    "subclusters": "Compute (SCs)",
    "l3_cuts": "Memory (L3 cuts)",
    "apus": "APUs",
    "input_aligners": "IAs",
    "layer": "layer split limit",
    "pcie": "PCIe",
    "reload": "switch reload",
    "target": "required FPS",
}


# -- reading -------------------------------------------------------------------------------------
def load_result(path: str | Path) -> dict[str, Any]:
    """A compile result written by ``ctxfit compile --json``, checked for what compare reads.

    Raises:
        UsageError: the file is missing or unreadable, not UTF-8 or not JSON, of another schema,
            lacks a key compare needs or holds a value of the wrong type (the message names the
            file and the key or value).
    """
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise UsageError(f"cannot read {name!r}: {err.strerror}") from err
    except UnicodeDecodeError as err:
        raise UsageError(
            f"{name!r} is not UTF-8 text (byte {err.start}); give a file written by "
            "`ctxfit compile MODEL --json FILE`"
        ) from err
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise UsageError(
            f"{name!r} is not JSON ({err.msg} at line {err.lineno}); give a file written by "
            "`ctxfit compile MODEL --json FILE`"
        ) from err
    if isinstance(data, list):
        raise UsageError(
            f"{name!r} holds {len(data)} compile results (several --hw parts); compare takes one "
            "per file: write each with `ctxfit compile MODEL --hw PART --json FILE`"
        )
    if not isinstance(data, dict) or "contexts" not in data or "schema" not in data:
        raise UsageError(
            f"{name!r} is not a compile result (no 'schema'/'contexts'); give a file written by "
            "`ctxfit compile MODEL --json FILE`"
        )
    if data["schema"] != SCHEMA:
        raise UsageError(
            f"{name!r} has schema {data['schema']!r}; this ctxfit reads schema {SCHEMA}"
        )
    missing = [key for key in REQUIRED_KEYS if key not in data]
    for i, ctx in enumerate(data["contexts"]):
        missing += [f"contexts[{i}].{key}" for key in CONTEXT_KEYS if key not in ctx]
    if missing:
        raise UsageError(f"{name!r} lacks {', '.join(missing[:4])}; re-run `ctxfit compile`")
    try:  # every value compare reads, read once: a wrong type is the file's fault, named here
        compare_dict(data, data)
    except (ArithmeticError, AttributeError, KeyError, IndexError, TypeError, ValueError) as err:
        raise UsageError(
            f"{name!r} has a malformed value ({type(err).__name__}: {err}); re-run "
            "`ctxfit compile MODEL --json FILE`"
        ) from err
    return data


# -- comparing -----------------------------------------------------------------------------------
def placement(result: Mapping[str, Any]) -> dict[str, int]:
    """Layer name -> context index, in the result's order (context by context, which is a
    topological order: data only flows to later contexts)."""
    return {name: int(c["index"]) for c in result["contexts"] for name in c["layers"]}


@dataclass(frozen=True, kw_only=True)
class LayerMove:
    """A run of layers, consecutive in A's order, that all moved from one context to another.

    Attributes:
        layers: the layers, in A's order.
        from_context: their context in A; ``to_context``: in B.
    """

    layers: tuple[str, ...]
    from_context: int
    to_context: int

    def describe(self) -> str:
        """``conv3`` / ``conv3, conv4`` / ``conv3 .. conv9 (7 layers)``."""
        if len(self.layers) <= 3:
            return ", ".join(self.layers)
        return f"{self.layers[0]} .. {self.layers[-1]} ({len(self.layers)} layers)"


def layer_moves(a: Mapping[str, Any], b: Mapping[str, Any]) -> tuple[LayerMove, ...]:
    """Layers placed in different contexts by A and B (layers present in only one of them are
    left out; see :func:`unmatched_layers`), grouped into runs that moved together."""
    in_a, in_b = placement(a), placement(b)
    moves: list[LayerMove] = []
    run: list[str] = []
    key: tuple[int, int] | None = None
    for name, ca in in_a.items():
        cb = in_b.get(name)
        here = None if cb is None or cb == ca else (ca, cb)
        if here != key and run and key is not None:
            moves.append(LayerMove(layers=tuple(run), from_context=key[0], to_context=key[1]))
            run = []
        if here is not None:
            run.append(name)
        key = here
    if run and key is not None:
        moves.append(LayerMove(layers=tuple(run), from_context=key[0], to_context=key[1]))
    return tuple(moves)


def unmatched_layers(
    a: Mapping[str, Any], b: Mapping[str, Any]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``(layers only in A, layers only in B)``, each in its own order."""
    in_a, in_b = placement(a), placement(b)
    return (
        tuple(n for n in in_a if n not in in_b),
        tuple(n for n in in_b if n not in in_a),
    )


def fps_by_batch(result: Mapping[str, Any]) -> dict[int, float]:
    """``{batch: FPS}`` with integer batches (JSON keys are strings).

    >>> fps_by_batch({"fps": {"8": 250.0, "1": 120.5}})
    {1: 120.5, 8: 250.0}
    """
    return {int(k): float(v) for k, v in sorted(result["fps"].items(), key=lambda kv: int(kv[0]))}


def binding_summary(result: Mapping[str, Any]) -> str:
    """What binds, in the profiler's words, with how many contexts each binds.

    >>> binding_summary({"contexts": [{"binding": "pcie"}, {"binding": "subclusters"},
    ...                               {"binding": "subclusters"}]})
    'Compute (SCs) x2, PCIe x1'
    """
    counts: dict[str, int] = {}
    for c in result["contexts"]:
        counts[c["binding"]] = counts.get(c["binding"], 0) + 1
    if len(result["contexts"]) == 1:
        return BINDING_WORDS.get(result["contexts"][0]["binding"], result["contexts"][0]["binding"])
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], BINDING_WORDS.get(kv[0], kv[0])))
    return ", ".join(f"{BINDING_WORDS.get(k, k)} x{n}" for k, n in ranked)


def _change(a: float, b: float) -> str:
    """``+12.3%`` (B relative to A)."""
    if a == 0:
        return "-"
    return f"{b / a - 1:+.1%}"


# -- rendering -----------------------------------------------------------------------------------
def summary_table(
    a: Mapping[str, Any], b: Mapping[str, Any], *, label_a: str = "A", label_b: str = "B"
) -> Table:
    """Headline figures of A and B and the change from A to B."""
    table = Table(title="compile results side by side", title_justify="left")
    table.add_column("")
    table.add_column(text(label_a), justify="right")
    table.add_column(text(label_b), justify="right")
    table.add_column("B vs A", justify="right")
    table.add_row(
        "model", text(a["model"]), text(b["model"]), "" if a["model"] == b["model"] else "differs"
    )
    table.add_row(
        "hardware",
        text(a["hardware"]),
        text(b["hardware"]),
        "" if a["hardware"] == b["hardware"] else "differs",
    )
    ka, kb = int(a["num_contexts"]), int(b["num_contexts"])
    table.add_row("contexts", str(ka), str(kb), f"{kb - ka:+d}" if ka != kb else "same")
    table.add_row(
        "one context",
        "yes" if ka == 1 else "no",
        "yes" if kb == 1 else "no",
        "",
    )
    fa, fb = fps_by_batch(a), fps_by_batch(b)
    for batch in sorted(set(fa) | set(fb)):
        va, vb = fa.get(batch), fb.get(batch)
        table.add_row(
            f"FPS at batch {batch}",
            "-" if va is None else f"{va:,.1f} FPS",
            "-" if vb is None else f"{vb:,.1f} FPS",
            _change(va, vb) if va is not None and vb is not None else "",
        )
    la, lb = float(a["latency_ms"]), float(b["latency_ms"])
    table.add_row("latency (batch 1)", f"{la:.2f} ms", f"{lb:.2f} ms", _change(la, lb))
    table.add_row("binding", text(binding_summary(a)), text(binding_summary(b)), "")
    if "optimize_for_batch" in a or "optimize_for_batch" in b:
        table.add_row(
            "optimised for batch",
            text(a.get("optimize_for_batch", "-")),
            text(b.get("optimize_for_batch", "-")),
            "",
        )
    if "caps" in a and "caps" in b:
        table.add_row("caps (control / compute / memory)", _caps(a["caps"]), _caps(b["caps"]), "")
    for label, read, show, change in _EXTRA_ROWS:
        va, vb = read(a), read(b)
        if va is None and vb is None:
            continue
        delta = _change(va, vb) if change and va is not None and vb is not None else ""
        if not change and va != vb:
            delta = "differs"
        table.add_row(label, text(show(va)), text(show(vb)), delta)
    return table


def _get(result: Mapping[str, Any], *keys: str) -> Any:
    """``result[k1][k2]...``, or None where a key is missing (results of older ctxfits)."""
    value: Any = result
    for key in keys:
        if not isinstance(value, Mapping) or key not in value:
            return None
        value = value[key]
    return value


def solver_status(result: Mapping[str, Any]) -> str | None:
    """``OPTIMAL (gap 0.10%)``: the solver's status and gap.

    >>> solver_status({"solver": {"status": "FEASIBLE", "gap": 0.0512}})
    'FEASIBLE (gap 5.12%)'
    """
    status = _get(result, "solver", "status")
    if status is None:
        return None
    gap = _get(result, "solver", "gap")
    return str(status) if gap is None else f"{status} (gap {gap_text(float(gap))})"


def precision_layers(result: Mapping[str, Any]) -> dict[str, int] | None:
    """Layers per precision mode: ``precision.layers_by_precision`` (the compile JSON's
    settings), else ``precision_layers``; None when the result has neither.

    >>> precision_layers({"precision": {"layers_by_precision": {"a8_w8": 9}}})
    {'a8_w8': 9}
    """
    layers = _get(result, "precision", "layers_by_precision")
    if layers is None:
        layers = _get(result, "precision_layers")
    return dict(layers) if isinstance(layers, Mapping) else None


def precision_text(result: Mapping[str, Any]) -> str | None:
    """The precision settings: layers per mode, and the 4-bit share of the parameters the
    flow compresses.

    >>> precision_text({"precision_layers": {"a8_w8": 50, "a8_w4": 3},
    ...                 "flow": {"compression_fraction": 0.2}})
    'a8_w8 x50, a8_w4 x3; 4-bit share 20%'
    """
    layers = precision_layers(result)
    share = _get(result, "flow", "compression_fraction")
    parts = []
    if layers:
        parts.append(", ".join(f"{mode} x{n}" for mode, n in layers.items()))
    if share is not None:
        parts.append(f"4-bit share {float(share):.0%}")
    return "; ".join(parts) or None


def input_shapes_of(result: Mapping[str, Any]) -> list[list[int]] | None:
    """The input shapes with the batch first (``[[1, 3, 640, 640]]``), from ``input_shapes``
    as a list of NCHW shapes or a mapping of input name to CHW; None when absent.

    >>> input_shapes_of({"input_shapes": {"images": [3, 64, 64]}})
    [[1, 3, 64, 64]]
    >>> input_shapes_of({"input_shapes": [[1, 3, 64, 64]]})
    [[1, 3, 64, 64]]
    """
    shapes = _get(result, "input_shapes")
    if isinstance(shapes, Mapping):
        return [[1, *map(int, shape)] for shape in shapes.values()]
    if isinstance(shapes, list):
        return [[int(d) for d in shape] for shape in shapes]
    return None


def knob_values(result: Mapping[str, Any]) -> dict[str, Any] | None:
    """The knob values: ``knob_values`` (the effective ones ``ctxfit compile`` writes), else
    the width, depth and resolution given in ``knobs``; None when the result has neither.

    >>> knob_values({"knobs": {"width": 0.5, "depth": None, "input_shape": None}})
    {'width': 0.5}
    """
    values = _get(result, "knob_values")
    if isinstance(values, Mapping):
        return dict(values)
    given = _get(result, "knobs")
    if not isinstance(given, Mapping):
        return None
    return {k: given[k] for k in ("width", "depth", "resolution") if given.get(k) is not None}


def knobs_summary(result: Mapping[str, Any]) -> str | None:
    """The knob values and input shape the result was computed at.

    >>> knobs_summary({"knob_values": {"width": 0.5, "resolution": 640},
    ...                "input_shapes": [[1, 3, 640, 640]]})
    'width 0.5, resolution 640; input 1x3x640x640'
    """
    from partitioner.knobs import knobs_text

    knobs, shapes = knob_values(result), input_shapes_of(result)
    if knobs is None and shapes is None:
        return None
    return knobs_text(knobs or {}, shapes or []) or "-"


def _number(*keys: str) -> Any:
    def read(result: Mapping[str, Any]) -> float | None:
        value = _get(result, *keys)
        return None if value is None else float(value)

    return read


def _unit(fmt: str) -> Any:
    return lambda v: "-" if v is None else fmt.format(v)


def one_context_share(result: Mapping[str, Any]) -> str | None:
    """``93% (LCUs 66/71)``: the lowest demand's share of the limit that decides one context
    (``single_context_margin``; ``None`` in results without it or with a forced flow).

    >>> one_context_share({"single_context_margin": {"share": 0.93, "resource": "lcus",
    ...                                               "used": 66, "limit": 71}})
    '93% (LCUs 66/71)'
    """
    data = _get(result, "single_context_margin")
    if not isinstance(data, Mapping):
        return None
    try:
        margin = FitMargin.from_dict(data)
    except (KeyError, TypeError, ValueError):
        return None
    return f"{share_text(margin.share)} ({margin.label})"


_EXTRA_ROWS: tuple[tuple[str, Any, Any, bool], ...] = (
    ("one-context limit", one_context_share, lambda v: v or "-", False),
    ("link bandwidth", _number("pcie", "bandwidth_gbps"), _unit("{:.2f} GB/s"), True),
    ("dynamic energy per frame", _number("energy_mj_per_frame"), _unit("{:.3f} mJ"), True),
    ("precision", precision_text, lambda v: v or "-", False),
    ("knobs", knobs_summary, lambda v: v or "-", False),
    ("solver", solver_status, lambda v: v or "-", False),
)
"""Rows after the caps: (label, read from a result, show, whether to show the change)."""


def _caps(caps: Mapping[str, float]) -> str:
    return "/".join(f"{caps[k]:.0%}" for k in ("control", "compute", "memory"))


def contexts_table(
    a: Mapping[str, Any], b: Mapping[str, Any], *, label_a: str = "A", label_b: str = "B"
) -> Table:
    """Per context index, a row for A and a row for B: layers, Control / Compute / Memory
    utilization (of the whole chip), FPS and binding (``-`` where a result has fewer
    contexts)."""
    table = Table(
        title="per context",
        title_justify="left",
        caption="context rate: frames per second of that context alone while it runs",
        caption_justify="left",
    )
    table.add_column("context", no_wrap=True)
    table.add_column("result", overflow="fold")
    for name in ("layers", "Control", "Compute", "Memory", "context\nrate FPS"):
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("binding", overflow="fold")
    rows = max(len(a["contexts"]), len(b["contexts"]))
    for i in range(rows):
        for side, (label, result) in enumerate(((label_a, a), (label_b, b))):
            first = f"context_{i}" if side == 0 else ""
            if i >= len(result["contexts"]):
                table.add_row(first, text(label), *["-"] * 6, end_section=side == 1)
                continue
            c = result["contexts"][i]
            u = c["utilization"]
            table.add_row(
                first,
                text(label),
                str(len(c["layers"])),
                f"{u['control']:.1%}",
                f"{u['compute']:.1%}",
                f"{u['memory']:.1%}",
                f"{float(c['fps']):,.1f}",
                text(BINDING_WORDS.get(c["binding"], c["binding"])),
                end_section=side == 1,
            )
    return table


def moves_table(moves: Sequence[LayerMove]) -> Table:
    """One row per run of layers that moved: from, to, how many, which."""
    total = sum(len(m.layers) for m in moves)
    table = Table(
        title=f"layers that moved between contexts: {total}",
        title_justify="left",
    )
    table.add_column("from (A)")
    table.add_column("to (B)")
    table.add_column("layers", justify="right")
    table.add_column("which")
    for m in moves:
        table.add_row(
            f"context_{m.from_context}",
            f"context_{m.to_context}",
            str(len(m.layers)),
            text(m.describe()),
        )
    return table


def compare_renderables(
    a: Mapping[str, Any], b: Mapping[str, Any], *, label_a: str = "A", label_b: str = "B"
) -> Group:
    """Everything ``ctxfit compare`` prints, as one renderable."""
    parts: list[RenderableType] = [
        summary_table(a, b, label_a=label_a, label_b=label_b),
        contexts_table(a, b, label_a=label_a, label_b=label_b),
    ]
    moves = layer_moves(a, b)
    only_a, only_b = unmatched_layers(a, b)
    if moves:
        parts.append(moves_table(moves))
    elif not only_a and not only_b:
        parts.append(Text("No layer moved: both results place every layer in the same context."))
    for side, names in ((label_a, only_a), (label_b, only_b)):
        if names:
            shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
            parts.append(text(f"{len(names)} layer(s) only in {side}: {shown}"))
    return Group(*parts)


def compare_dict(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    """The comparison as plain data (``--json``)."""
    fa, fb = fps_by_batch(a), fps_by_batch(b)
    only_a, only_b = unmatched_layers(a, b)
    return {
        "schema": SCHEMA,
        "models": [a["model"], b["model"]],
        "hardware": [a["hardware"], b["hardware"]],
        "num_contexts": [a["num_contexts"], b["num_contexts"]],
        "fps": {str(k): [fa.get(k), fb.get(k)] for k in sorted(set(fa) | set(fb))},
        "latency_ms": [a["latency_ms"], b["latency_ms"]],
        "single_context_margin": [
            _get(a, "single_context_margin"),
            _get(b, "single_context_margin"),
        ],
        "binding": [[c["binding"] for c in a["contexts"]], [c["binding"] for c in b["contexts"]]],
        "moves": [
            {"from": m.from_context, "to": m.to_context, "layers": list(m.layers)}
            for m in layer_moves(a, b)
        ],
        "only_in_a": list(only_a),
        "only_in_b": list(only_b),
        "solver": [_solver_dict(a), _solver_dict(b)],
        "bandwidth_gbps": [_get(a, "pcie", "bandwidth_gbps"), _get(b, "pcie", "bandwidth_gbps")],
        "energy_mj_per_frame": [_get(a, "energy_mj_per_frame"), _get(b, "energy_mj_per_frame")],
        "precision_layers": [precision_layers(a), precision_layers(b)],
        "compression_fraction": [
            _get(a, "flow", "compression_fraction"),
            _get(b, "flow", "compression_fraction"),
        ],
        "knob_values": [knob_values(a), knob_values(b)],
        "input_shapes": [input_shapes_of(a), input_shapes_of(b)],
    }


def _solver_dict(result: Mapping[str, Any]) -> dict[str, Any]:
    return {"status": _get(result, "solver", "status"), "gap": _get(result, "solver", "gap")}


# -- the sub-command -----------------------------------------------------------------------------
def register(subparsers: Any) -> None:
    """Add ``compare`` to the ``ctxfit`` sub-commands (see ``partitioner.cli.PLUGIN_COMMANDS``)."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "compare",
        help="two compile results (--json files) side by side",
        description="Show two results of `ctxfit compile ... --json FILE` side by side: "
        "contexts, FPS per batch, latency, binding resources, link bandwidth, energy, precision "
        "settings, knob values, solver status and gap, and which layers moved between contexts.",
    )
    parser.add_argument("a", metavar="A.json", help="the first compile result")
    parser.add_argument("b", metavar="B.json", help="the second compile result")
    parser.add_argument("--json", metavar="PATH|-", help="also write the comparison as JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, console: Console) -> int:
    """Handler of ``ctxfit compare``."""
    from partitioner.outputs import check_outputs

    check_outputs([("--json", args.json)], inputs=[args.a, args.b])
    a, b = load_result(args.a), load_result(args.b)
    if args.json:
        from partitioner.cli import write_json

        write_json(args.json, compare_dict(a, b), protect=[args.a, args.b])
        if args.json == "-":
            return 0
    label_a, label_b = Path(args.a).name, Path(args.b).name
    if label_a == label_b:
        label_a, label_b = f"A ({label_a})", f"B ({label_b})"
    console.print(compare_renderables(a, b, label_a=label_a, label_b=label_b))
    return 0


__all__ = [
    "LayerMove",
    "binding_summary",
    "compare_dict",
    "compare_renderables",
    "contexts_table",
    "fps_by_batch",
    "input_shapes_of",
    "knob_values",
    "knobs_summary",
    "layer_moves",
    "load_result",
    "moves_table",
    "placement",
    "precision_layers",
    "precision_text",
    "register",
    "run",
    "solver_status",
    "summary_table",
    "unmatched_layers",
]
