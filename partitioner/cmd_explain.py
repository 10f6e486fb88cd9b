"""``ctxfit explain MODEL``: why a model takes its contexts, and the smallest verified changes
that make it fit one context (or run faster). The search is :func:`partitioner.explain.explain`;
this module only parses arguments and builds the rich renderables.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from partitioner.user_text import print_info, text, visible

if TYPE_CHECKING:
    from partitioner.explain import Explanation


def register(subparsers: Any) -> None:
    """Add the ``explain`` sub-command."""
    from partitioner import cli_values
    from partitioner.cli import add_flow_arguments, add_model_arguments, batch_size

    parser = subparsers.add_parser(
        "explain",
        help="what must change so the model fits one context (verified suggestions)",
        description="For a model that needs several contexts: why (one line per resource the "
        "single context lacks), where the budget goes (per block), what binds each context, and "
        "the smallest change of each kind (block-level changes, caps, width, resolution, 4-bit "
        "weights, depth, cutting the graph) that makes it fit one context, each compiled for its "
        "FPS with the same flow and budget as ctxfit compile. For a model that already fits: "
        "the smallest changes that make it faster by --target-fps.",
    )
    add_model_arguments(parser)
    parser.add_argument(
        "--hw",
        default="hailo8",
        metavar="hailo8|hailo8l|FILE.toml",
        help="target part and host link (default: hailo8)",
    )
    parser.add_argument(
        "--batch",
        type=batch_size,
        nargs="+",
        default=None,
        metavar="N",
        help="batch sizes to report FPS at (default: 1 8)",
    )
    parser.add_argument(
        "--target-fps",
        type=cli_values.frame_rate,
        metavar="F",
        help="also require this single-context FPS (default for a model that already fits: "
        "1.25 x its FPS)",
    )
    parser.add_argument(
        "--only",
        nargs="+",
        metavar="KIND",
        help="search only these kinds of change: blocks caps width resolution precision depth cut",
    )
    parser.add_argument(
        "--timeout",
        type=cli_values.timeout_seconds,
        metavar="S",
        help="search budget of the unchanged model's multi-context compile, as ctxfit compile's, "
        "0.1 to 86400 s (default: 10, or the script's allocator_param)",
    )
    add_flow_arguments(parser)
    parser.add_argument("--json", metavar="PATH|-", help="write the explanation as JSON")
    parser.add_argument("--quiet", action="store_true", help="do not log every check")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, console: Console) -> int:
    """Handler of ``ctxfit explain``."""
    from cost_model.hardware import load_hardware
    from partitioner.cli import EXIT_INTERRUPTED, request_from_args, write_json
    from partitioner.compile import DEFAULT_BATCHES
    from partitioner.explain import KINDS, explain
    from partitioner.model_script import read_model_script
    from partitioner.outputs import check_outputs, hardware_files, model_file

    inputs = [model_file(args.model), args.script, *hardware_files([args.hw])]
    check_outputs([("--json", args.json)], inputs=inputs)
    hw = load_hardware(args.hw)
    script = read_model_script(args.script) if args.script else None
    request = request_from_args(args)
    log_console = Console(stderr=True, highlight=False) if args.json == "-" else console
    quiet = args.quiet

    def log(message: str) -> None:
        if not quiet:
            print_info(log_console, message, style="dim")

    result = explain(
        request,
        hw,
        batches=tuple(args.batch or DEFAULT_BATCHES),
        target_fps=args.target_fps,
        kinds=tuple(args.only or KINDS),
        script=script,
        compiler_defaults=args.compiler_defaults,
        timeout_s=args.timeout,
        log=log,
        max_utilization=args.max_utilization,
        performance=args.performance,
        gpu=not args.no_gpu,
        seed=args.seed,
        workers=args.workers,
    )
    code = EXIT_INTERRUPTED if result.interrupted else 0  # as compile: the best so far, 130
    if args.json:
        write_json(args.json, result.to_dict(), protect=inputs)
        if args.json == "-":
            return code
    console.print(explanation_view(result))
    return code


def _fps_text(fps: dict[int, float]) -> str:
    return ", ".join(f"{f:,.1f} FPS at batch {b}" for b, f in fps.items())


def headline(result: Explanation) -> Text:
    """One line: contexts and FPS of the unchanged model, and why one context fails."""
    from cost_model.resources import format_over

    line = Text()
    line.append(visible(f"{result.model} on {result.hardware}: "), style="bold")
    r = result.report
    if r is None:
        line.append(visible(f"no partition found ({result.error})"))
    else:
        plural = "" if r.num_contexts == 1 else "s"
        line.append(f"{r.num_contexts} context{plural}, {_fps_text(r.fps)}")
    fit = result.single_fit
    if not fit.fits:
        line.append(f"\nOne context ({result.flow} flow) needs {format_over(fit.over)}")
        if fit.both_classes:
            line.append(
                " (either the nodes or the L3 cuts under those limits would do: ctxfit's rule of "
                "one raised class)"
            )
    for reason in result.reasons:
        line.append(f"\n- {visible(reason)}")
    return line


def block_view(result: Explanation, limit: int = 40) -> Table:
    """Per block: its layers, LCUs, SCs and L3 cuts at the single-context rate, and MACs."""
    from partitioner.report import fmt_count

    rate = "the lowest rate" if not result.single_fit.fits else "the single-context rate"
    table = Table(
        title=f"Where the single-context budget goes (per block, at {rate})", title_justify="left"
    )
    for name in ("block", "layers", "LCUs", "SCs", "L3 cuts", "MACs"):
        table.add_column(name, justify="left" if name == "block" else "right")
    rows = sorted(result.blocks, key=lambda r: (-r.lcus, -r.l3_cuts, r.block))[:limit]
    for r in sorted(rows, key=lambda r: result.blocks.index(r)):
        table.add_row(
            text(r.block),
            str(r.layers),
            str(r.lcus),
            str(r.subclusters),
            str(r.l3_cuts),
            fmt_count(r.macs),
        )
    table.add_row(
        "total",
        str(sum(r.layers for r in result.blocks)),
        str(sum(r.lcus for r in result.blocks)),
        str(sum(r.subclusters for r in result.blocks)),
        str(sum(r.l3_cuts for r in result.blocks)),
        fmt_count(result.macs),
        style="bold",
    )
    if len(result.blocks) > limit:
        table.caption = f"the {limit} blocks with most LCUs of {len(result.blocks)}"
    return table


def binding_table(result: Explanation) -> Table:
    """Per context: its binding resource, used/limit, and the layers that use most of it."""
    table = Table(title="What binds each context", title_justify="left", caption_justify="left")
    for name, justify in (
        ("context", "left"),
        ("layers", "right"),
        ("binding", "left"),
        ("used / limit", "right"),
        ("largest users", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    from partitioner.report import fmt_bytes

    def amount(units: int, unit: str) -> str:
        if unit == "config bytes":
            return fmt_bytes(units)
        return f"{fmt_bytes(units)}/frame" if unit == "bytes/frame" else str(units)

    for c in result.contexts:
        if c.limit is not None:
            used = f"{c.used}/{c.limit} {c.unit}"
        else:
            bytes_unit = c.unit in ("bytes/frame", "config bytes")
            used = f"{amount(c.used, c.unit)}" + ("" if bytes_unit else f" {c.unit}")
        if c.binding == "layer":
            binding = "layer split limit"
        elif c.binding == "pcie":
            binding = "PCIe"
        elif c.binding == "reload":
            binding = "switch reload"
        else:
            binding = c.unit
        users = ", ".join(f"{s.layer} ({amount(s.units, c.unit)})" for s in c.top_layers)
        table.add_row(f"context_{c.index}", str(c.layers), binding, used, text(users))
    return table


def suggestion_table(result: Explanation) -> Table:
    """The verified suggestions: the change, how to ask for it and a note under it; then size,
    contexts and FPS per batch."""
    from partitioner.block_search import MIN_MACS_KEPT
    from partitioner.report import fmt_count

    batches = sorted({b for s in result.suggestions for b in s.fps})
    table = Table(
        title=f"Smallest changes to reach {result.goal} (each compiled by ctxfit)",
        title_justify="left",
    )
    table.add_column("change / how to ask for it", overflow="fold", ratio=1)
    table.add_column("params", justify="right", no_wrap=True)
    table.add_column("MACs kept", justify="right", no_wrap=True)
    table.add_column("contexts", justify="right", no_wrap=True)
    for b in batches:
        table.add_column(f"FPS b{b}", justify="right", no_wrap=True)
    for s in result.suggestions:
        cell = text(s.change, style="bold")
        cell.append(f"\n{visible(s.apply, keep_newlines=True)}", style="")
        if s.note:
            cell.append(f"\n{visible(s.note, keep_newlines=True)}", style="italic")
        if s.macs_kept < MIN_MACS_KEPT:
            cell.append(f"\n[!] keeps only {s.macs_kept:.1%} of the MACs on the chip")
        table.add_row(
            cell,
            fmt_count(s.params),
            f"{s.macs_kept:.1%}",
            str(s.num_contexts),
            *(f"{s.fps[b]:,.1f}" if b in s.fps else "-" for b in batches),
        )
    return table


def explanation_view(result: Explanation) -> Group:
    """Everything ``ctxfit explain`` prints."""
    parts: list[Any] = [headline(result)]
    if result.blocks and not result.goal_met:
        parts.append(block_view(result))
    if result.contexts:
        parts.append(binding_table(result))
    if result.goal_met:
        parts.append(Text(f"It already reaches {result.goal}.", style="bold green"))
    elif result.suggestions:
        parts.append(suggestion_table(result))
    else:
        parts.append(Text(f"No change searched reaches {result.goal}.", style="bold yellow"))
    for u in result.unreachable:
        parts.append(text(f"{u.kind}: cannot reach {result.goal}: {u.reason}"))
    if result.interrupted:
        parts.append(
            Text(
                "Interrupted (Ctrl-C): the changes verified so far; the search did not finish",
                style="bold yellow",
            )
        )
    return Group(*parts)
