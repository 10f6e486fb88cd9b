"""The ``ctxfit`` command line: ``main(argv=None) -> int``.

User errors (every :class:`CtxfitError`) print one red line on stderr and exit 2; ``--debug``
shows the traceback instead. Ctrl-C exits 130. Rendering lives in :mod:`partitioner.report`.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from rich.console import Console

from cost_model.errors import CtxfitError
from partitioner import cli_values
from partitioner.errors import UsageError
from partitioner.user_text import print_error, print_info, print_warning

PLUGIN_COMMANDS: tuple[str, ...] = (
    "partitioner.cmd_explain",
    "partitioner.cmd_sweep",
    "partitioner.cmd_compare",
    "partitioner.cmd_parts",
)
"""Modules that add sub-commands: each has ``register(subparsers) -> None`` which adds its
parser and sets ``handler`` (``(args, console) -> int``). Keep their top-level imports light."""

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


# argparse types of the numeric flags: ASCII numbers, finite, in the ranges of cost_model.ranges
positive_float = cli_values.multiplier  # --width, --depth
positive_int = cli_values.resolution  # --resolution
batch_size = cli_values.batch_size


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """MODEL and the options every model-taking command shares."""
    parser.add_argument(
        "model",
        metavar="MODEL",
        help="zoo name (see `ctxfit zoo`), path/to/file.py:factory, a saved .json graph, "
        "or an .onnx file",
    )
    parser.add_argument(
        "--input-shape",
        metavar="NxCxHxW",
        help="input shape with batch, e.g. 1x3x640x640 (needed for file.py:factory)",
    )
    parser.add_argument(
        "--width",
        type=positive_float,
        help="width multiplier relative to the published model (1.0 = the Model Zoo's network; "
        "0.5 halves its channel gain); zoo models, factories",
    )
    parser.add_argument(
        "--depth",
        type=positive_float,
        help="depth multiplier relative to the published model (1.0 = its block counts)",
    )
    parser.add_argument(
        "--resolution",
        type=positive_int,
        help="input height in pixels (a zoo model keeps its input's aspect ratio; for another "
        "width give --input-shape 1x3xHxW)",
    )
    add_onnx_arguments(parser)


def add_flow_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that choose the compile flow and the solver (``compile``, ``explain``)."""
    parser.add_argument(
        "--max-utilization",
        type=cli_values.utilization_cap,
        metavar="U",
        help="cap every resource at U in both flows, 0.05 to 1.5 (e.g. 0.8; above 1 lets a "
        "context use more than the nominal total, as the compiler's 142/154 LCUs), like "
        "resources_param(max_utilization=U)",
    )
    parser.add_argument(
        "--script",
        metavar="FILE.alls",
        help="a Hailo model script to apply (for a zoo model, instead of its Model Zoo script)",
    )
    parser.add_argument(
        "--performance",
        action="store_true",
        help="the compiler's Performance Flow, as hailomz compile --performance: "
        "performance_param(compiler_optimization_level=max) unless the script sets caps",
    )
    parser.add_argument(
        "--compiler-defaults",
        action="store_true",
        help="for a zoo model, compile with the compiler's defaults instead of the lines of its "
        "Model Zoo script (which a zoo model gets by default, as hailomz compiles it)",
    )
    parser.add_argument(
        "--no-gpu",
        action="store_true",
        help="a compile without a GPU: optimization level 0, so no 4-bit compression",
    )
    parser.add_argument(
        "--seed",
        type=cli_values.seed,
        default=0,
        help="CP-SAT random seed, 0 to 2147483647 (default 0)",
    )
    parser.add_argument(
        "--workers",
        type=cli_values.workers,
        help="CP-SAT workers: one search without LP (proves optima fastest), plus, from 2 "
        "(default), a solve with the LP bound alongside it for a better bound when the search "
        "is stopped before its proof",
    )


def add_onnx_arguments(parser: argparse.ArgumentParser) -> None:
    """The import options of ONNX models (``compile``, ``profile``, ``explain``, ``sweep``)."""
    onnx = parser.add_argument_group("ONNX models")
    onnx.add_argument(
        "--start-nodes",
        metavar="A,B",
        help="cut the ONNX graph: start at these nodes (or tensors), like Hailo's parser",
    )
    onnx.add_argument(
        "--end-nodes", metavar="A,B", help="cut the ONNX graph: end at these nodes (or tensors)"
    )
    onnx.add_argument(
        "--allow-unknown",
        action="store_true",
        help="price unsupported ONNX ops as generic elementwise layers (warned once per type)",
    )
    onnx.add_argument(
        "--keep-postprocess",
        action="store_true",
        help="keep a YOLO export's decoding/NMS tail on the chip instead of cutting it",
    )


class _Parser(argparse.ArgumentParser):
    """argparse with one error line: ``error: ctxfit compile: argument --timeout: ...`` and
    where the flags are listed, exit code 2 (argparse prints its whole usage first)."""

    def error(self, message: str) -> NoReturn:
        print_error(
            Console(stderr=True, highlight=False),
            f"{self.prog}: {message} (`{self.prog} --help` lists the arguments)",
        )
        raise SystemExit(EXIT_USER_ERROR)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every sub-command."""
    parser = _Parser(
        prog="ctxfit",
        description="Predict how Hailo's Dataflow Compiler splits a network into contexts on "
        "Hailo-8 / Hailo-8L, and the FPS it reaches.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    parser.add_argument(
        "--version", action=_VersionAction, help="print ctxfit's and the cost model's version"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    zoo = sub.add_parser("zoo", help="list the built-in reference models")
    zoo.add_argument("--json", metavar="PATH|-", help="also write the list as JSON")
    zoo.set_defaults(handler=_cmd_zoo)

    profile = sub.add_parser(
        "profile", help="one row per layer: op, output shape, params, MACs, output bytes"
    )
    add_model_arguments(profile)
    profile.add_argument(
        "--hw",
        metavar="hailo8|hailo8l|FILE.toml",
        help="also price every layer on this hardware at the single-context FPS",
    )
    profile.add_argument(
        "--json", metavar="PATH|-", help="write the layer graph as JSON (reusable as MODEL)"
    )
    profile.set_defaults(handler=_cmd_profile)

    comp = sub.add_parser(
        "compile",
        help="split the network into contexts like the Dataflow Compiler, and report FPS",
        description="Try one context at the single-context caps; if it does not fit, search "
        "for the best partition into contexts with CP-SAT, iterating over the number of "
        "contexts with timeouts, and report FPS per batch, latency, PCIe traffic and energy.",
    )
    add_model_arguments(comp)
    comp.add_argument(
        "--hw",
        nargs="+",
        default=["hailo8"],
        metavar="PART",
        help="target part and host link: hailo8 (default), hailo8l, a bundled part by name "
        "(see `ctxfit parts`) or FILE.toml; several parts print one summary row each",
    )
    comp.add_argument(
        "--batch",
        type=batch_size,
        nargs="+",
        default=None,
        metavar="N",
        help="batch sizes to report FPS at (default: 1 8)",
    )
    comp.add_argument(
        "--optimize-for-batch",
        type=batch_size,
        metavar="N",
        help="batch whose time the partition minimises (default: 8, or the script's "
        "performance_param(optimize_for_batch=...))",
    )
    comp.add_argument(
        "--timeout",
        type=cli_values.timeout_seconds,
        metavar="S",
        help="global search budget in seconds, 0.1 to 86400 (default: 10, or the script's "
        "allocator_param)",
    )
    comp.add_argument(
        "--iteration-timeout",
        type=cli_values.timeout_seconds,
        metavar="S",
        help="limit of one iteration, 0.1 to 86400 s (default: what is left of --timeout)",
    )
    comp.add_argument(
        "--context-switch",
        choices=("allowed", "enabled", "disabled"),
        help="allowed: one context if it fits (default); enabled: always split; "
        "disabled: one context or fail",
    )
    add_flow_arguments(comp)
    comp.add_argument(
        "--emit-script",
        metavar="FILE.alls",
        help="write a model script: the settings that produced the partition (caps, "
        "precisions, compression, batch) and its context_N = context([...]) lines",
    )
    comp.add_argument("--json", metavar="PATH|-", help="write the result as JSON (schema 1)")
    comp.add_argument(
        "--quiet", action="store_true", help="no flow log and no live status, only the tables"
    )
    comp.add_argument(
        "--html",
        metavar="PATH",
        help="also write a self-contained HTML report (plots inline, opens offline)",
    )
    comp.add_argument(
        "--clusters",
        action="store_true",
        help="also print each context's Control / Compute / Memory utilization per cluster "
        "(the spread over clusters is synthetic: an even split of the context's usage)",
    )
    # -- i17-layers: per-layer costs (partitioner/layer_table.py, report.layer_table) --
    comp.add_argument(
        "--layers",
        action="store_true",
        help="also print every layer: context, op, SCs, LCUs, L3 cuts, precision and the FPS "
        "it was allocated for",
    )
    comp.set_defaults(handler=_cmd_compile)
    for module_name in PLUGIN_COMMANDS:
        importlib.import_module(module_name).register(sub)
    for command in sub.choices.values():  # --debug also after the sub-command
        command.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS
        )
    return parser


class _VersionAction(argparse.Action):
    """``--version``: ctxfit's version and the cost model's source digest, then exit 0."""

    def __init__(self, option_strings: Sequence[str], dest: str, help: str) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        sys.stdout.write(version_text() + "\n")
        parser.exit()


def version_text() -> str:
    """``ctxfit 0.1.0 (cost model 1a2b3c4d5e6f)``: the package version and the digest of the
    ``cost_model`` sources (what sweep caches are keyed by)."""
    from partitioner.sweep import COST_MODEL_VERSION, ctxfit_version

    return f"ctxfit {ctxfit_version()} (cost model {COST_MODEL_VERSION})"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ctxfit`` command; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USER_ERROR
    console = make_console()
    errors = Console(stderr=True, highlight=False)
    try:
        handler: Callable[[argparse.Namespace, Console], int] = args.handler
        return handler(args, console)
    except CtxfitError as err:
        if args.debug:
            raise
        print_error(errors, err)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        errors.print("interrupted")
        return EXIT_INTERRUPTED


# -- helpers shared by commands ------------------------------------------------------------------
def make_console() -> Console:
    """stdout console: the terminal's width, or 160 columns when piped (logs stay readable)."""
    if sys.stdout.isatty() or os.environ.get("COLUMNS"):
        return Console(highlight=False)
    return Console(highlight=False, width=160)


def request_from_args(args: argparse.Namespace) -> Any:
    """The :class:`~partitioner.models.ModelRequest` named by the common model arguments."""
    from partitioner.models import ModelRequest, parse_shape

    return ModelRequest(
        spec=args.model,
        input_shape=parse_shape(args.input_shape) if args.input_shape is not None else None,
        width=args.width,
        depth=args.depth,
        resolution=args.resolution,
        start_nodes=node_list(args.start_nodes),
        end_nodes=node_list(args.end_nodes),
        allow_unknown=args.allow_unknown,
        keep_postprocess=args.keep_postprocess,
    )


def node_list(text: str | None) -> tuple[str, ...] | None:
    """``--start-nodes`` / ``--end-nodes``: comma-separated names, blanks dropped.

    >>> node_list("a, b,,c"), node_list(""), node_list(None)
    (('a', 'b', 'c'), None, None)
    """
    if not text:
        return None
    return tuple(part.strip() for part in text.split(",") if part.strip()) or None


def stderr_info(message: str) -> None:
    """Print an importer's note (graph cut, warnings) as an ``[info]`` line on stderr."""
    print_info(Console(stderr=True, highlight=False), message)


def write_json(target: str, data: Any, *, protect: Sequence[str | None] = ()) -> None:
    """Write ``data`` as strict JSON (no NaN or Infinity) to a path, or to stdout for ``-``.

    Commands check their targets with :func:`partitioner.outputs.check_outputs` before the work;
    ``protect`` (the files the command read, a ``file.py:factory`` MODEL included) is checked
    again here by file identity.

    Raises:
        UsageError: the path is one of the inputs in ``protect`` (never overwrite what the
            user gave), or cannot be written; the data holds a non-finite number.
    """
    from partitioner.outputs import check_outputs, model_file, write_text

    try:
        text = json.dumps(data, indent=1, allow_nan=False) + "\n"
    except ValueError as err:
        raise UsageError(
            f"--json: the result holds a number that is not finite ({err}); check the hardware "
            "file's values"
        ) from err
    check_outputs([("--json", target)], inputs=[model_file(p) if p else p for p in protect])
    write_text("--json", target, text)


# -- commands ------------------------------------------------------------------------------------
def _cmd_zoo(args: argparse.Namespace, console: Console) -> int:
    from partitioner.outputs import check_outputs
    from partitioner.report import source_family
    from partitioner.zoo import ZOO
    from partitioner.zoo_listing import zoo_listing

    entries = list(ZOO.values())
    check_outputs([("--json", args.json)], inputs=[])
    if args.json:
        write_json(
            args.json,
            [
                {
                    "name": e.name,
                    "task": e.task,
                    "family": e.family,
                    "source_family": source_family(e),
                    "input_chw": list(e.input_chw),
                    "aliases": list(e.aliases),
                    "knobs": list(e.knobs),
                    "published_params": e.published_params,
                    "published_macs": e.published_macs,
                }
                for e in entries
            ],
        )
        if args.json == "-":
            return 0
    console.print(zoo_listing(entries, width=console.width))
    return 0


def _cmd_profile(args: argparse.Namespace, console: Console) -> int:
    from partitioner.models import load_network
    from partitioner.outputs import check_outputs, hardware_files, model_file
    from partitioner.report import profile_table

    inputs = [model_file(args.model), *hardware_files([args.hw])]
    check_outputs([("--json", args.json)], inputs=inputs)
    net = load_network(request_from_args(args), on_message=stderr_info)
    if args.json:
        write_json(args.json, net.to_dict(), protect=inputs)
        if args.json == "-":
            return 0
    extra: dict[str, list[str]] = {}
    verdict = None
    if args.hw:
        from cost_model.hardware import load_hardware
        from partitioner.compile_request import prepare_compile
        from partitioner.profile_hw import price_profile

        # priced as `ctxfit compile` prices one context: a zoo model under its Model Zoo script
        prepared = prepare_compile(net, load_hardware(args.hw), None, zoo_name=zoo_name(args.model))
        flow = prepared.settings.flow
        stderr_info(f"Compile flow: {flow.name} (as `ctxfit compile` with no script)")
        options = prepared.settings.options
        extra, verdict = price_profile(
            prepared.net, args.hw, options.single_caps, flow.single_fps_caps, flow.single_base_caps
        )
    console.print(profile_table(net, extra, width=console.width))
    if verdict is not None:
        console.print(verdict)
    return 0


def zoo_name(model: str) -> str | None:
    """The zoo name ``model`` resolves to, or None for a file, a factory or an unknown name."""
    from partitioner.zoo import resolve_name

    if Path(model).exists() or ":" in model or model.endswith((".onnx", ".json")):
        return None
    try:
        return resolve_name(model).name
    except CtxfitError:
        return None


def _cmd_compile(args: argparse.Namespace, console: Console) -> int:
    from cost_model.hardware import load_hardware
    from partitioner.compile import DEFAULT_BATCHES
    from partitioner.model_script import check_emittable, read_model_script
    from partitioner.models import load_network
    from partitioner.outputs import check_outputs, hardware_files, model_file, write_text
    from partitioner.report import context_table, summary_table, timing_table

    parts = list(dict.fromkeys(args.hw))
    inputs = [model_file(args.model), args.script, *hardware_files(parts)]
    outputs = [("--json", args.json), ("--emit-script", args.emit_script), ("--html", args.html)]
    hws = list(dict.fromkeys(load_hardware(part) for part in parts))  # hailo8 = HAILO8
    if len(hws) > 1:
        _check_multi_part_flags(args, len(hws))
    check_outputs(outputs, inputs=inputs)  # before the long work, never onto an input
    if args.html:
        from partitioner.html_report import check_target

        check_target(args.html)  # fail before a long compile, not after it
    script = read_model_script(args.script) if args.script else None
    caveats: list[str] = []
    request = request_from_args(args)
    net = load_network(request, on_message=caveats.append if args.quiet else stderr_info)
    if args.emit_script:
        check_emittable(net.topological_order())  # a name no script can hold: fail before
    log_console = Console(stderr=True, highlight=False) if args.json == "-" else console
    quiet = args.quiet

    def log(message: str) -> None:
        if not quiet:
            print_info(log_console, message)

    batches = tuple(args.batch or DEFAULT_BATCHES)
    if len(hws) > 1:
        return _compile_parts(args, console, log, net, hws, script, batches, caveats, inputs)
    hw = hws[0]
    report, settings, compiled = _compile_on(args, net, hw, script, batches, log, log_console)
    if args.html:
        from partitioner.html_report import write_html

        write_html(args.html, report, compiled)
        log(f"HTML report written to {args.html}")
    if args.emit_script:
        from partitioner.emit_script import compile_script  # i17-layers: settings + contexts

        write_text("--emit-script", args.emit_script, compile_script(report))
    if args.json:
        data = _result_dict(report, settings, request, compiled)
        write_json(args.json, data, protect=inputs)
        if args.json == "-":
            _print_caveats(Console(stderr=True, highlight=False), caveats)
            return _compile_exit_code(report)
    console.print(context_table(report))
    if args.clusters:
        from partitioner.clusters import SYNTHETIC_NOTE, cluster_tables

        for table in cluster_tables(report):
            console.print(table)
        console.print(SYNTHETIC_NOTE)
    console.print(timing_table(report))
    if args.layers:
        from partitioner.report import layer_table  # i17-layers

        console.print(layer_table(report))
    console.print(summary_table(report))
    _print_knobs(console, request, compiled)
    if settings.target_fps is not None:
        b = settings.options.batch
        reached = report.fps[b] >= settings.target_fps
        console.print(
            f"performance_param(fps={settings.target_fps:g}): "
            + ("reached" if reached else "NOT reached")
            + f" at batch {b} ({report.fps[b]:,.1f} FPS)"
        )
    _print_caveats(console, caveats)
    return _compile_exit_code(report)


def _compile_on(
    args: argparse.Namespace,
    net: Any,
    hw: Any,
    script: Any,
    batches: tuple[int, ...],
    log: Callable[[str], None],
    log_console: Console,
) -> tuple[Any, Any, Any]:
    """Prepare (zoo script, flow, precisions) and compile ``net`` on ``hw``: the report, the
    merged settings and the network as compiled."""
    from partitioner.compile import compile_network
    from partitioner.compile_request import prepare_compile
    from partitioner.live import LiveStatus

    prepared = prepare_compile(
        net,
        hw,
        script,
        zoo_name=zoo_name(args.model),
        compiler_defaults=args.compiler_defaults,
        max_utilization=args.max_utilization,
        context_switch=args.context_switch,
        optimize_for_batch=args.optimize_for_batch,
        timeout_s=args.timeout,
        iteration_timeout_s=args.iteration_timeout,
        seed=args.seed,
        workers=args.workers,
        performance=args.performance,
        gpu=not args.no_gpu,
    )
    compiled, settings = prepared.net, prepared.settings
    warn = Console(stderr=True, highlight=False)
    for line in prepared.log_lines:
        if line in settings.warnings:
            print_warning(warn, line)  # with --quiet too: the script needs the user's eye
        else:
            log(line)
    with LiveStatus(log_console, enabled=not args.quiet) as status:
        report = compile_network(
            compiled,
            hw,
            settings.options,
            batches=batches,
            log=log,
            progress=status.update,
            flow=settings.flow,
            zoo_name=zoo_name(args.model),  # i17-layers: the error band of its task family
            knobs={
                "width": args.width,
                "depth": args.depth,
                "resolution": args.resolution,
                "input_shape": args.input_shape,
            },
        )
    return report, settings, compiled


MULTI_PART_FLAGS = (
    ("emit_script", "--emit-script"),
    ("html", "--html"),
    ("clusters", "--clusters"),
    ("layers", "--layers"),  # i17-layers' flag, when present
)
"""Flags that describe one partition, so they take one part."""


def _check_multi_part_flags(args: argparse.Namespace, parts: int) -> None:
    """Raises UsageError for a one-partition flag given with several parts."""
    for dest, flag in MULTI_PART_FLAGS:
        if getattr(args, dest, None):
            raise UsageError(
                f"{flag} describes one partition but --hw names {parts} parts; "
                f"run it with one --hw PART"
            )


def _compile_parts(
    args: argparse.Namespace,
    console: Console,
    log: Callable[[str], None],
    net: Any,
    hws: Sequence[Any],
    script: Any,
    batches: tuple[int, ...],
    caveats: Sequence[str],
    inputs: Sequence[str | None],
) -> int:
    """``compile MODEL --hw A B ...``: the model on each part in turn, one summary row per part
    (``--json``: an array with one compile result per part). A part whose compile fails (no
    partition, a context-switch mode it cannot meet) gets a ``failed`` row, an ``error:`` line
    on stderr and exit code 2; the other parts are still reported. A Ctrl-C during one part's
    search keeps its best partition and skips the parts after it.

    Raises:
        CtxfitError: every part failed (the first part's error).
    """
    from partitioner.parts_summary import PartFailure, parts_table

    log_console = Console(stderr=True, highlight=False) if args.json == "-" else console
    request = request_from_args(args)
    rows: list[Any] = []
    data: list[dict[str, Any]] = []
    errors: list[CtxfitError] = []
    compiled = net
    for hw in hws:
        log(f"Part {hw.name} ({hw.link.label}):")
        try:
            report, settings, compiled = _compile_on(
                args, net, hw, script, batches, log, log_console
            )
        except CtxfitError as err:
            errors.append(err)
            rows.append(PartFailure(hardware=hw, error=str(err)))
            data.append({"schema": 1, "hardware": hw.name, "status": "failed", "error": str(err)})
            continue
        rows.append(report)
        data.append(_result_dict(report, settings, request, compiled))
        if report.search.interrupted:
            break
    if len(errors) == len(rows):
        raise errors[0]
    interrupted = any(getattr(r, "search", None) and r.search.interrupted for r in rows)
    code = EXIT_INTERRUPTED if interrupted else EXIT_USER_ERROR if errors else 0
    stderr = Console(stderr=True, highlight=False)
    if args.json:
        write_json(args.json, data, protect=inputs)
    if args.json != "-":
        console.print(parts_table(rows, model=compiled.name))
        _print_knobs(console, request, compiled)
    _print_caveats(console if args.json != "-" else stderr, caveats)
    for row in rows:
        if isinstance(row, PartFailure):
            print_error(stderr, f"on {row.hardware.name}: {row.error}")
    return code


def _result_dict(report: Any, settings: Any, request: Any, compiled: Any) -> dict[str, Any]:
    """The compile result as JSON data: the report's, the required FPS, ``knob_values`` (the
    effective knob values, a zoo model's published one for a knob not given) and, where the
    report does not carry them, the input shapes and the layers per precision mode."""
    from partitioner.knobs import input_shapes, model_knobs, precision_counts

    data: dict[str, Any] = report.to_dict()
    if settings.target_fps is not None:
        data["target_fps"] = settings.target_fps
    data["knob_values"] = model_knobs(request)
    data.setdefault("input_shapes", [list(s) for s in input_shapes(compiled)])
    if "precision" not in data:
        data["precision_layers"] = precision_counts(compiled)
    return data


def _print_knobs(console: Console, request: Any, compiled: Any) -> None:
    """``knobs: width 1, depth 1, resolution 640; input 1x3x640x640``."""
    from partitioner.knobs import input_shapes, knobs_text, model_knobs
    from partitioner.user_text import text

    console.print(text("knobs: " + knobs_text(model_knobs(request), input_shapes(compiled))))


def caveat_line(messages: Sequence[str]) -> str:
    """The importer's modelling caveats (graph cut, ops priced as generic, untested opset) as
    one line: each message up to its first ``:`` or ``;``.

    >>> caveat_line(["cut the graph at 3 head outputs: the last 40 nodes ...",
    ...              "priced 2 Foo nodes (first 'f') as generic elementwise layers; rough"])
    "caveats: cut the graph at 3 head outputs; priced 2 Foo nodes (first 'f') as generic \
elementwise layers (details without --quiet)"
    """
    heads = []
    for message in messages:
        cut = min((i for i in (message.find(":"), message.find(";")) if i > 0), default=None)
        heads.append(message[:cut].strip())
    return "caveats: " + "; ".join(heads) + " (details without --quiet)"


def _print_caveats(console: Console, messages: Sequence[str]) -> None:
    """Under ``--quiet``, the importer's caveats as one line (nothing when there are none)."""
    from partitioner.user_text import text

    if messages:
        console.print(text(caveat_line(messages)), soft_wrap=True)


def _compile_exit_code(report: Any) -> int:
    """0, or 130 when Ctrl-C stopped the search (the best partition so far was reported)."""
    return EXIT_INTERRUPTED if report.search.interrupted else 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
