"""The live status line of ``ctxfit compile``: elapsed time, the K being tried, the best FPS so
far and the gap, redrawn in place while the solver runs.

It is shown only on a terminal and never with ``--quiet``; elsewhere (pipes, CI logs) it prints
nothing at all, and the plain ``[info]`` log lines stay the record. It is transient: when the
search ends the line is erased, so the terminal keeps only the log and the result tables. Log
lines printed through the same console while it runs appear above it.

The search calls :meth:`LiveStatus.update` with each :class:`~partitioner.search.Progress`
(from the solver's thread); the line is redrawn by rich's refresh thread, which reads the
latest snapshot and the clock, so the elapsed time keeps moving between solutions.

>>> from partitioner.search import Progress
>>> status_line(None, 0.4)
'ctxfit: trying a single context | 0.4 s'
>>> status_line(Progress(elapsed_s=3.0, num_contexts=4, iteration=2, best_fps=251.25,
...                      bound_fps=262.0, gap=0.0412), 12.34)
'ctxfit: partitioning | 12.3 s | K = 4 contexts | best 251.2 FPS | gap 4.12%'
>>> status_line(Progress(elapsed_s=3.0, num_contexts=4, iteration=2, best_fps=251.25,
...                      bound_fps=251.26, gap=0.00004), 5.0).rsplit("| ", 1)[1]
'gap <0.01%'
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from partitioner.search import Progress
from partitioner.search_types import gap_text

REFRESH_PER_SECOND = 4


def status_line(progress: Progress | None, elapsed_s: float) -> str:
    """The text of the status line: before any :class:`Progress` the single-context flow is
    running; afterwards the K being tried, the best FPS so far (``-`` before the first
    solution) and the current iteration's gap as :func:`~partitioner.search_types.gap_text`
    prints it everywhere (``-`` until it has a bound)."""
    if progress is None:
        return f"ctxfit: trying a single context | {elapsed_s:.1f} s"
    best = "-" if progress.best_fps is None else f"{progress.best_fps:,.1f} FPS"
    gap = gap_text(progress.gap)  # never "0.0%" for a gap not closed
    return (
        f"ctxfit: partitioning | {elapsed_s:.1f} s | K = {progress.num_contexts} contexts | "
        f"best {best} | gap {gap}"
    )


class LiveStatus:
    """A context manager showing :func:`status_line` on ``console`` while it is open.

    Args:
        console: where to draw (the console the log lines go to).
        enabled: ``False`` for ``--quiet``.
        clock: seconds, for the elapsed time (``time.perf_counter``; injectable for tests).
        auto_refresh: redraw on rich's refresh thread; with ``False`` only :meth:`refresh`
            draws (tests).

    It draws only when ``enabled`` and ``console.is_terminal``; otherwise every method does
    nothing and nothing is written.
    """

    def __init__(
        self,
        console: Console,
        *,
        enabled: bool = True,
        clock: Callable[[], float] = time.perf_counter,
        auto_refresh: bool = True,
    ) -> None:
        self.console = console
        self.active = enabled and console.is_terminal
        self._clock = clock
        self._auto_refresh = auto_refresh
        self._started = clock()
        self._latest: Progress | None = None
        self._live: Live | None = None
        self._spinner = Spinner("dots", style="cyan")

    @property
    def latest(self) -> Progress | None:
        """The last snapshot received."""
        return self._latest

    def text(self) -> str:
        """The status line now."""
        return status_line(self._latest, self._clock() - self._started)

    def __rich__(self) -> RenderableType:
        grid = Table.grid(padding=(0, 1))
        grid.add_row(self._spinner, Text(self.text(), style="bold"))
        return Group(grid)

    def update(self, progress: Progress) -> None:
        """Record a snapshot (an ``OnProgress`` callback; safe from the solver's thread)."""
        self._latest = progress

    def refresh(self) -> None:
        """Redraw now (only needed without ``auto_refresh``)."""
        if self._live is not None:
            self._live.refresh()

    def __enter__(self) -> LiveStatus:
        self._started = self._clock()
        if self.active:
            self._live = Live(
                self,
                console=self.console,
                auto_refresh=self._auto_refresh,
                refresh_per_second=REFRESH_PER_SECOND,
                transient=True,
                redirect_stdout=False,
                redirect_stderr=False,
            )
            self._live.start(refresh=True)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None


__all__ = ["REFRESH_PER_SECOND", "LiveStatus", "status_line"]
