"""The live status line: its text, drawn only on a terminal, gone with --quiet, erased at the
end, and fed by the search's progress events through the CLI."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

import partitioner.cli as cli
from cost_model.hardware import preset
from partitioner.compile import compile_network
from partitioner.live import LiveStatus, status_line
from partitioner.search import Progress, SearchOptions
from tests.nets import conv_chain

HIDE_CURSOR, SHOW_CURSOR, ERASE_LINE = "\x1b[?25l", "\x1b[?25h", "\x1b[2K"


def terminal() -> Console:
    return Console(file=io.StringIO(), force_terminal=True, width=120, color_system=None)


def pipe() -> Console:
    return Console(file=io.StringIO(), force_terminal=False, width=120)


class Clock:
    def __init__(self, now: float = 100.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_status_line_text():
    assert status_line(None, 0.04) == "ctxfit: trying a single context | 0.0 s"
    start = Progress(elapsed_s=0.3, num_contexts=2, iteration=1)
    assert status_line(start, 0.31) == (
        "ctxfit: partitioning | 0.3 s | K = 2 contexts | best - | gap -"
    )
    found = Progress(
        elapsed_s=5.0, num_contexts=5, iteration=3, fps=1234.5, best_fps=1500.0, gap=0.125
    )
    assert status_line(found, 65.0) == (
        "ctxfit: partitioning | 65.0 s | K = 5 contexts | best 1,500.0 FPS | gap 12.50%"
    )


def test_drawn_on_a_terminal_with_elapsed_time_and_erased_at_the_end():
    console, clock = terminal(), Clock()
    with LiveStatus(console, clock=clock, auto_refresh=False) as status:
        assert status.active
        clock.now = 102.5  # 2.5 s after the start
        status.update(Progress(elapsed_s=2.4, num_contexts=3, iteration=2, best_fps=250.0))
        status.refresh()
        console.print("[info] Found valid partition to 3 contexts", markup=False)
        clock.now = 104.0
        status.update(
            Progress(elapsed_s=3.9, num_contexts=4, iteration=3, best_fps=260.0, gap=0.05)
        )
        status.refresh()
    out = console.file.getvalue()
    assert out.startswith(HIDE_CURSOR)
    assert "ctxfit: trying a single context | 0.0 s" in out
    assert "ctxfit: partitioning | 2.5 s | K = 3 contexts | best 250.0 FPS | gap -" in out
    assert "ctxfit: partitioning | 4.0 s | K = 4 contexts | best 260.0 FPS | gap 5.00%" in out
    # the log line is printed whole, above the status line
    assert "[info] Found valid partition to 3 contexts\n" in out
    # transient: the cursor comes back and the last status line is erased
    assert SHOW_CURSOR in out and out.endswith(ERASE_LINE)
    assert status.latest is not None and status.latest.num_contexts == 4


def test_silent_when_the_output_is_not_a_terminal():
    console = pipe()
    with LiveStatus(console, clock=Clock(), auto_refresh=False) as status:
        assert not status.active
        status.update(Progress(elapsed_s=1.0, num_contexts=2, iteration=1, best_fps=10.0))
        status.refresh()
    assert console.file.getvalue() == ""
    assert status.latest is not None  # still recorded, just not drawn


def test_silent_with_quiet_even_on_a_terminal():
    console = terminal()
    with LiveStatus(console, enabled=False, auto_refresh=False) as status:
        status.update(Progress(elapsed_s=1.0, num_contexts=2, iteration=1))
        status.refresh()
    assert not status.active
    assert console.file.getvalue() == ""


def test_fed_by_the_search():
    # 60 one-LCU layers on Hailo-8L: 60 > 48 (single-context cap), K starts at
    # ceil(60 / 39) = 2, so the search reports K = 2 first.
    seen: list[Progress] = []
    with LiveStatus(pipe(), auto_refresh=False) as status:

        def record(p: Progress) -> None:
            seen.append(p)
            status.update(p)

        report = compile_network(
            conv_chain(60), preset("hailo8l"), SearchOptions(timeout_s=2), progress=record
        )
    assert seen[0].num_contexts == 2 and seen[0].best_fps is None
    assert status.latest == seen[-1]
    s = report.search
    assert status.latest.best_fps == pytest.approx(s.batch / s.objective_s, rel=1e-9)


# -- through the CLI -----------------------------------------------------------------------------
@pytest.fixture
def model(tmp_path):
    path = tmp_path / "chain80.json"
    conv_chain(80).save(path)
    return str(path)


def run_cli(monkeypatch, console: Console, argv: list[str]) -> str:
    monkeypatch.setattr(cli, "make_console", lambda: console)
    assert cli.main(argv) == 0
    return console.file.getvalue()


def test_cli_shows_the_status_on_a_terminal(monkeypatch, model):
    out = run_cli(monkeypatch, terminal(), ["compile", model, "--hw", "hailo8l", "--timeout", "2"])
    # 80 LCUs over ceil(0.6 x 64) = 39 per context: the search starts at K = 3
    assert "ctxfit: partitioning |" in out and "K = 3 contexts" in out
    assert "[info] Using Multi-context flow" in out


def test_cli_keeps_plain_log_lines_when_piped(monkeypatch, model):
    out = run_cli(monkeypatch, pipe(), ["compile", model, "--hw", "hailo8l", "--timeout", "2"])
    assert "ctxfit:" not in out and "\x1b[" not in out
    assert "[info] Using Multi-context flow" in out
    assert "[info] Finding the best partition to contexts..." in out


def test_cli_quiet_has_no_status_and_no_log(monkeypatch, model):
    argv = ["compile", model, "--hw", "hailo8l", "--timeout", "2", "--quiet"]
    out = run_cli(monkeypatch, terminal(), argv)
    assert "ctxfit:" not in out and "[info]" not in out
    assert "context_1" in out  # the tables remain
