"""``ctxfit sweep MODEL --width A:B:S --res A:B:S``: the grid of contexts, FPS and binding
resource into ``sweep.csv`` / ``sweep.json``, and the fit map (``fitmap.png`` / ``fitmap.svg``:
FPS as a heat map, contexts in each cell, the one-context boundary drawn). Without a knob it
sweeps the parts alone (``ctxfit sweep model.onnx --hw hailo8 hailo8l rpi5_hailo8l``), and the
"fit map" is a bar chart of FPS per part. At the end it prints a compact results table: one row
per (point, part).

The computation, cache and executors are :mod:`partitioner.sweep`; this module parses the
arguments, shows the progress bar and draws the map (matplotlib's Agg canvas, no pyplot state).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from partitioner.search_types import gap_text
from partitioner.user_text import text, visible

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from partitioner.sweep import SweepPlan, SweepRun


def register(subparsers: Any) -> None:
    """Add the ``sweep`` sub-command."""
    from partitioner import cli_values
    from partitioner.cli import add_onnx_arguments, batch_size

    parser = subparsers.add_parser(
        "sweep",
        help="contexts and FPS over a grid of width / depth / resolution and over parts, "
        "with a fit map",
        description="Compile the model at every point of a grid of up to two knobs on each "
        "part (no knob: the parts alone); write sweep.csv, sweep.json and the fit map "
        "(fitmap.png, fitmap.svg) into --out, and print a compact results table. Results are "
        "cached in --out/.ctxfit-cache: a rerun skips finished points.",
    )
    parser.add_argument(
        "model",
        metavar="MODEL",
        help="zoo name, path/to/file.py:factory taking width / depth / resolution keywords, "
        "or (parts alone) an .onnx file or a saved .json graph",
    )
    parser.add_argument(
        "--width",
        metavar="START:STOP:STEP",
        help="width multipliers, relative to the published model (1.0 = its channels)",
    )
    parser.add_argument(
        "--depth",
        metavar="START:STOP:STEP",
        help="depth multipliers, relative to the published model (1.0 = its block counts)",
    )
    parser.add_argument(
        "--res", "--resolution", dest="res", metavar="START:STOP:STEP", help="input sides (px)"
    )
    parser.add_argument(
        "--input-shape", metavar="NxCxHxW", help="input shape (file.py:factory without one)"
    )
    parser.add_argument(
        "--hw",
        nargs="+",
        default=["hailo8"],
        metavar="PART",
        help="parts: hailo8, hailo8l, a bundled part by name (see `ctxfit parts`) or "
        "FILE.toml (default: hailo8)",
    )
    parser.add_argument(
        "--batch",
        type=batch_size,
        nargs="+",
        default=None,
        metavar="N",
        help="batch sizes to report FPS at (default: 1 8)",
    )
    parser.add_argument("--out", metavar="DIR", help="output folder (default: sweep-MODEL)")
    parser.add_argument(
        "--jobs",
        type=cli_values.jobs,
        metavar="N",
        help="parallel processes, 1 to 1024 (default: the number of CPUs)",
    )
    parser.add_argument(
        "--executor",
        default="local",
        metavar="local|dask://HOST:PORT",
        help="where to run the points: this machine (default) or a Dask cluster's scheduler",
    )
    parser.add_argument(
        "--timeout",
        type=cli_values.timeout_seconds,
        default=5.0,
        metavar="S",
        help="multi-context search budget per point and part, 0.1 to 86400 s (default 5)",
    )
    add_onnx_arguments(parser)
    parser.set_defaults(handler=run)


def plan_from_args(args: argparse.Namespace) -> SweepPlan:
    """The checked :class:`~partitioner.sweep.SweepPlan` of the command line."""
    from cost_model.hardware import load_hardware
    from partitioner.cli import node_list
    from partitioner.compile import DEFAULT_BATCHES
    from partitioner.models import parse_shape
    from partitioner.sweep import OnnxOptions, parse_range, plan_sweep

    def axis(text: str | None, flag: str, integer: bool = False) -> Any:
        return parse_range(text, flag=flag, integer=integer) if text is not None else None

    widths = axis(args.width, "--width")
    depths = axis(args.depth, "--depth")
    resolutions = axis(args.res, "--res", integer=True)
    return plan_sweep(
        args.model,
        hardware=[load_hardware(h) for h in args.hw],
        widths=widths,
        depths=depths,
        resolutions=resolutions,
        input_shape=parse_shape(args.input_shape) if args.input_shape else None,
        batches=tuple(args.batch or DEFAULT_BATCHES),
        timeout_s=args.timeout,
        onnx_options=OnnxOptions(
            start_nodes=node_list(args.start_nodes),
            end_nodes=node_list(args.end_nodes),
            allow_unknown=args.allow_unknown,
            keep_postprocess=args.keep_postprocess,
        ),
    )


def run(args: argparse.Namespace, console: Console) -> int:
    """Handler of ``ctxfit sweep``."""
    import os

    from partitioner.errors import UsageError
    from partitioner.outputs import hardware_files
    from partitioner.sweep import (
        CACHE_DIR,
        SweepCache,
        SweepRun,
        check_out_dir,
        dask_address,
        default_out_dir,
        run_sweep,
    )

    if args.out == "":
        raise UsageError("--out '' is empty; give a folder")
    plan = plan_from_args(args)
    if args.executor != "local":
        dask_address(args.executor)  # a malformed address fails before anything runs
    out = Path(args.out) if args.out else default_out_dir(args.model)
    check_out_dir(out, inputs=[args.model, *hardware_files(args.hw)])
    cache = SweepCache(out / CACHE_DIR)
    jobs = args.jobs or os.cpu_count() or 1
    finished: dict[tuple[int, int], dict[str, Any]] = {}
    total = len(plan.points()) * len(plan.hardware)
    try:
        with _Progress(console, plan, total) as on_progress:
            result = run_sweep(
                plan,
                cache,
                jobs=jobs,
                executor=args.executor,
                on_progress=on_progress,
                results=finished,
            )
    except KeyboardInterrupt:
        partial = SweepRun(
            records=tuple(finished[ij] for ij in sorted(finished)),
            total=total,
            cached=0,
            computed=len(finished),
            failed=0,
        )
        write_outputs(out, plan, partial)
        raise
    files = write_outputs(out, plan, result)
    console.print(
        text(
            f"{plan.model}: {result.total} point(s) x part(s): {result.computed} computed, "
            f"{result.cached} from the cache, {result.failed} failed; wrote "
            + ", ".join(str(f) for f in files)
        )
    )
    if result.records:
        console.print(results_table(plan, result))
    for record in result.records:
        if record["status"] != "ok":
            knobs = ", ".join(f"{k} {record[k]}" for k in plan.swept)
            console.print(text(f"  failed: {record['hardware']} {knobs}: {record['error']}"))
    if result.records and all(r["status"] != "ok" for r in result.records):
        from partitioner.cli import EXIT_USER_ERROR

        return EXIT_USER_ERROR  # no point has an answer: as `ctxfit compile` fails, exit 2
    return 0


MAX_TABLE_ROWS = 60
"""Rows the results table prints; the rest are in sweep.csv."""


def results_table(plan: SweepPlan, run: SweepRun, *, max_rows: int = MAX_TABLE_ROWS) -> Any:
    """One compact row per (point, part): the part, each knob's value, contexts, FPS at each
    batch, binding resource, the lowest demand's share of the one-context limit (how close the
    verdict was: under 100% fits), solver status and gap; fits 80 columns."""
    from cost_model.context import share_text
    from partitioner.parts_summary import SHORT_BINDING, add_number_column, compact_table
    from partitioner.sweep import KNOBS, knob_value

    shown = run.records[:max_rows]
    knobs = [k for k in KNOBS if any(knob_value(r, k) is not None for r in run.records)]
    more = len(run.records) - len(shown)
    shapes = {str(r.get("input_shapes")) for r in run.records if r.get("input_shapes")}
    inputs = ""
    if len(shapes) == 1:  # one input shape over the sweep: say it once
        first = next(r["input_shapes"] for r in run.records if r.get("input_shapes"))
        inputs = " (input " + ", ".join("x".join(str(d) for d in s) for s in first) + ")"
    table = compact_table(
        f"{plan.model}: results{inputs}",
        caption=f"{more} more row(s) in sweep.csv" if more else None,
    )
    table.add_column("part", overflow="fold")
    for knob in knobs:
        add_number_column(table, "res" if knob == "resolution" else knob)
    add_number_column(table, "contexts")
    for b in plan.batches:
        add_number_column(table, f"FPS\nbatch {b}")
    table.add_column("binding", overflow="fold")
    add_number_column(table, "1 ctx\nlimit")
    table.add_column("solver", no_wrap=True)
    add_number_column(table, "gap")
    for r in shown:
        ok = r["status"] == "ok"
        gap = r.get("gap")
        table.add_row(
            text(r["hardware"]),
            *("-" if knob_value(r, k) is None else f"{knob_value(r, k):g}" for k in knobs),
            str(r["num_contexts"]) if ok else "-",
            *(f"{r['fps'][str(b)]:,.1f}" if ok else "-" for b in plan.batches),
            SHORT_BINDING.get(r["binding"], r["binding"]) or "-",
            share_text(r["one_context"]["share"]) if ok and r.get("one_context") else "-",
            r.get("solver_status", "") if ok else "failed",
            gap_text(gap),
        )
    return table


class _Progress:
    """A rich progress bar on a terminal; nothing otherwise. Yields the progress callback."""

    def __init__(self, console: Console, plan: SweepPlan, total: int) -> None:
        self.console = console
        self.plan = plan
        self.total = total
        self.bar: Any = None

    def __enter__(self) -> Any:
        if not self.console.is_terminal:
            return None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

        self.bar = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.console,
            transient=False,
        )
        self.bar.start()
        from rich.markup import escape

        model = escape(visible(self.plan.model))  # the description column renders markup
        task = self.bar.add_task(f"sweep {model}", total=self.total)

        def update(p: Any) -> None:
            self.bar.update(
                task,
                completed=p.done,
                description=f"sweep {model} ({p.cached} cached, {p.failed} failed)",
            )

        return update

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


def write_outputs(out: Path, plan: SweepPlan, run: SweepRun) -> list[Path]:
    """``sweep.json``, ``sweep.csv``, ``fitmap.png`` and ``fitmap.svg`` into ``out``."""
    from partitioner.errors import UsageError
    from partitioner.sweep import atomic_write, write_data_files

    files = write_data_files(out, plan, run)
    figure = fit_map(plan, run)
    for name in ("fitmap.png", "fitmap.svg"):
        path = out / name
        buffer = _render(figure, name.rsplit(".", 1)[1])
        try:
            atomic_write(path, buffer)
        except OSError as err:
            raise UsageError(f"cannot write {str(path)!r}: {err}") from err
        files.append(path)
    return files


def _render(figure: Figure, fmt: str) -> bytes:
    import io
    import warnings

    buffer = io.BytesIO()
    metadata = {"Date": None} if fmt == "svg" else {"Software": None}
    with warnings.catch_warnings():  # an empty map's layout note is matplotlib's, not the user's
        warnings.filterwarnings("ignore", message="constrained_layout not applied")
        figure.savefig(buffer, format=fmt, dpi=110, metadata=metadata)
    return buffer.getvalue()


# -- the fit map -------------------------------------------------------------------------------
def grid_axes(plan: SweepPlan) -> tuple[str | None, str | None]:
    """``(y knob, x knob)`` of the map: the swept knobs (resolution on x when swept)."""
    swept = list(plan.swept)
    if not swept:  # the parts alone: one cell per panel
        return None, None
    if len(swept) == 1:
        return None, swept[0]
    return swept[0], swept[1]


def grid_values(
    plan: SweepPlan, run: SweepRun, hardware: str, batch: int
) -> tuple[list[list[float]], list[list[int | None]]]:
    """FPS (NaN where missing or failed) and contexts per cell, rows along y, columns along x."""
    y_knob, x_knob = grid_axes(plan)
    ys = plan.axes[y_knob] if y_knob else (None,)
    xs = plan.axes[x_knob] if x_knob else (None,)
    by_cell = {
        (r[y_knob] if y_knob else None, r[x_knob] if x_knob else None): r
        for r in run.records
        if r["hardware"] == hardware
    }
    fps: list[list[float]] = []
    contexts: list[list[int | None]] = []
    for y in ys:
        fps_row, ctx_row = [], []
        for x in xs:
            r = by_cell.get((y, x))
            ok = r is not None and r["status"] == "ok"
            fps_row.append(r["fps"][str(batch)] if ok else math.nan)  # type: ignore[index]
            ctx_row.append(r["num_contexts"] if ok else None)  # type: ignore[index]
        fps.append(fps_row)
        contexts.append(ctx_row)
    return fps, contexts


def boundary_segments(
    contexts: list[list[int | None]],
) -> list[tuple[tuple[float, float], tuple[float, float]]]:
    """Cell edges between a one-context cell and a multi-context one, in cell coordinates
    (cell ``(row, col)`` spans ``[col, col + 1] x [row, row + 1]``).

    >>> boundary_segments([[1, 2], [1, 1]])
    [((1, 0), (1, 1)), ((1, 1), (2, 1))]
    """
    segments = []
    rows, cols = len(contexts), len(contexts[0]) if contexts else 0
    for r in range(rows):
        for c in range(cols):
            here = contexts[r][c]
            if c + 1 < cols and _differs(here, contexts[r][c + 1]):
                segments.append(((c + 1, r), (c + 1, r + 1)))
            if r + 1 < rows and _differs(here, contexts[r + 1][c]):
                segments.append(((c, r + 1), (c + 1, r + 1)))
    return segments


def _differs(a: int | None, b: int | None) -> bool:
    return a is not None and b is not None and (a == 1) != (b == 1)


def fit_map(plan: SweepPlan, run: SweepRun) -> Figure:
    """One panel per part (rows) and batch (columns): FPS as colour, contexts in each cell, the
    one-context boundary as a thick black line; grey cells failed or were not computed. A sweep
    of the parts alone draws :func:`parts_chart` instead."""
    if not plan.swept:
        return parts_chart(plan, run)
    from matplotlib import colormaps
    from matplotlib.colors import LogNorm, Normalize
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    y_knob, x_knob = grid_axes(plan)
    xs = plan.axes[x_knob] if x_knob else (None,)
    ys = plan.axes[y_knob] if y_knob else (None,)
    parts = [hw.name for hw in plan.hardware]
    batches = list(plan.batches)
    width = max(4.5, 0.55 * len(xs) + 2.5)
    height = max(2.0 if y_knob is None else 2.6, 0.4 * len(ys) + 1.8)
    figure = Figure(figsize=(width * len(batches), height * len(parts)), layout="constrained")
    axes = figure.subplots(len(parts), len(batches), squeeze=False)
    cmap = colormaps["viridis"].with_extremes(bad="#bbbbbb")
    for i, part in enumerate(parts):
        for j, batch in enumerate(batches):
            ax = axes[i][j]
            fps, contexts = grid_values(plan, run, part, batch)
            finite = [v for row in fps for v in row if not math.isnan(v) and v > 0]
            lo, hi = (min(finite), max(finite)) if finite else (1.0, 10.0)
            norm = LogNorm(lo, hi) if hi > 10 * lo else Normalize(lo * 0.95, hi * 1.05)
            mesh = ax.pcolormesh(range(len(xs) + 1), range(len(ys) + 1), fps, cmap=cmap, norm=norm)
            for r, row in enumerate(contexts):
                for c, k in enumerate(row):
                    dark = k is not None and float(norm(fps[r][c])) < 0.6
                    ax.text(
                        c + 0.5,
                        r + 0.5,
                        "-" if k is None else str(k),
                        ha="center",
                        va="center",
                        fontsize=7,
                        color="white" if dark else "black",
                    )
            for (x0, y0), (x1, y1) in boundary_segments(contexts):
                ax.plot([x0, x1], [y0, y1], color="black", linewidth=2.5)
            ax.set_xticks([c + 0.5 for c in range(len(xs))], [_tick(v) for v in xs], fontsize=7)
            if y_knob is None:
                ax.set_yticks([])
            else:
                ax.set_yticks([r + 0.5 for r in range(len(ys))], [_tick(v) for v in ys], fontsize=7)
            ax.set_xlabel(x_knob or "")
            ax.set_ylabel(y_knob or "")
            ax.set_title(f"{part}, batch {batch}: FPS", fontsize=9)
            figure.colorbar(mesh, ax=ax, label="FPS")
    figure.legend(
        handles=[Line2D([], [], color="black", linewidth=2.5, label="one-context boundary")],
        loc="outside lower center",
        fontsize=8,
    )
    figure.suptitle(f"{plan.model}: FPS (numbers: contexts)", fontsize=10)
    return figure


def parts_chart(plan: SweepPlan, run: SweepRun) -> Figure:
    """A sweep of the parts alone: one panel per batch, one bar per part (its FPS, a log axis
    when the FPS span more than 10x), the contexts written on each bar; a failed part has no
    bar and ``failed`` written in its place."""
    from matplotlib.figure import Figure

    parts = [hw.name for hw in plan.hardware]
    by_part = {r["hardware"]: r for r in run.records}
    batches = list(plan.batches)
    figure = Figure(
        figsize=(max(4.5, 1.1 * len(parts) + 2) * len(batches), 3.6), layout="constrained"
    )
    axes = figure.subplots(1, len(batches), squeeze=False)[0]
    for ax, batch in zip(axes, batches, strict=True):
        heights = []
        for part in parts:
            r = by_part.get(part)
            ok = r is not None and r["status"] == "ok"
            heights.append(r["fps"][str(batch)] if ok else 0.0)  # type: ignore[index]
        bars = ax.bar(range(len(parts)), heights, color="#3b7dd8")
        finite = [h for h in heights if h > 0]
        if finite and max(finite) > 10 * min(finite):
            ax.set_yscale("log")
        for i, (bar, part) in enumerate(zip(bars, parts, strict=True)):
            r = by_part.get(part)
            label = (
                f"{r['num_contexts']} ctx" if r is not None and r["status"] == "ok" else "failed"
            )
            y = bar.get_height() if heights[i] > 0 else (min(finite) if finite else 1.0)
            ax.text(i, y, label, ha="center", va="bottom", fontsize=8)
        ax.set_xticks(range(len(parts)), parts, fontsize=7, rotation=20, ha="right")
        ax.set_ylabel("FPS")
        ax.set_title(f"batch {batch}: FPS per part", fontsize=9)
    figure.suptitle(f"{plan.model}: FPS per part (on each bar: contexts)", fontsize=10)
    return figure


def _tick(value: Any) -> str:
    return "default" if value is None else f"{value:g}"
