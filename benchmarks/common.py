"""What every benchmark shares: the run header, markdown tables, fits, and RESULTS.md sections.

``benchmarks/RESULTS.md`` is written by several scripts, some at the same time, each owning one
``## Title`` section. :func:`write_section` replaces only its own section (read, replace, write
under a lock file, atomically), so concurrent writers of other sections are never lost.

>>> text = "# Results\\n\\n## A\\n\\nold a\\n\\n## B\\n\\nb\\n"
>>> print(replace_section(text, "A", ["new a"]), end="")
# Results
<BLANKLINE>
## A
<BLANKLINE>
new a
<BLANKLINE>
## B
<BLANKLINE>
b
>>> round(fit_exponent([100, 200, 400], [1.0, 2.83, 8.0]), 2)
1.5
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.metadata as metadata
import math
import os
import platform
import re
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS_PATH = ROOT / "benchmarks" / "RESULTS.md"
RESULTS_TITLE = "# Results"
VERSIONED_PACKAGES = ("numpy", "ortools", "networkx", "torch", "onnx", "ctxfit")


# -- RESULTS.md sections -------------------------------------------------------------------------
def _heading(title: str) -> str:
    return f"## {title}"


def replace_section(text: str, title: str, body: Sequence[str]) -> str:
    """``text`` with its ``## title`` section replaced by ``body`` (appended when absent).

    A section runs from its heading to the next ``## `` heading or the end. Other sections keep
    their place and bytes; the body may use ``###`` headings but no ``## `` ones.

    Raises:
        ValueError: the body contains a ``## `` heading (it would split the section).
    """
    if any(line.startswith("## ") for line in body):
        raise ValueError(f"the body of section {title!r} contains a '## ' heading")
    lines = text.splitlines() if text.strip() else [RESULTS_TITLE]
    section = [_heading(title), "", *[line.rstrip() for line in body]]
    while section[-1] == "":
        section.pop()
    try:
        start = lines.index(_heading(title))
    except ValueError:
        while lines and lines[-1] == "":
            lines.pop()
        return "\n".join([*lines, "", *section]) + "\n"
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    tail = lines[end:]
    return "\n".join([*lines[:start], *section, *([""] + tail if tail else [])]) + "\n"


def lock_path(path: Path) -> Path:
    """The lock file of ``path``: in the temp directory (not the repository), one per file."""
    key = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"ctxfit-results-{key}.lock"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with lock_path(path).open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def write_section(title: str, body: Sequence[str], path: Path = RESULTS_PATH) -> None:
    """Replace the ``## title`` section of ``path`` (created if missing) with ``body``.

    Read-modify-write under an exclusive lock (:func:`lock_path`), then an atomic rename, so a
    reader never sees half a file and writers of other sections are not lost.
    """
    with _locked(path):
        old = path.read_text() if path.is_file() else ""
        new = replace_section(old, title, body)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".results-", suffix=".md")
        with os.fdopen(fd, "w") as f:
            f.write(new)
        os.replace(tmp, path)


# -- the run header ------------------------------------------------------------------------------
def versions() -> str:
    """Python and the installed versions of the packages that matter (without importing them)."""
    parts = [f"Python {platform.python_version()}"]
    for name in VERSIONED_PACKAGES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            parts.append(f"{name} {metadata.version(name)}")
    return ", ".join(parts)


def git_revision() -> str:
    """Short commit of the tree, with ``+ uncommitted changes`` when it differs (read-only git)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown commit"
    return f"commit {head}" + (" + uncommitted changes" if dirty else "")


STARTED = (datetime.now(), os.getloadavg())
"""When this process imported the benchmarks (its start) and the load averages then: a section
is written at the end of a run, when the load includes the run itself."""


def load_text(loads: tuple[float, float, float] | None = None) -> str:
    """The 1, 5 and 15-minute load averages (now, or ``loads``), over the CPU count.

    >>> load_text((1.0, 0.5, 0.25)).startswith("load average 1.0 / 0.5 / 0.2")
    True
    """
    one, five, fifteen = os.getloadavg() if loads is None else loads
    return f"load average {one:.1f} / {five:.1f} / {fifteen:.1f} on {os.cpu_count()} CPUs"


def memory_gb() -> float:
    """Physical memory of the machine in GB."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9


def command_line(prog: str, argv: Sequence[str] | None = None) -> str:
    """``prog`` and the arguments it was given (``sys.argv[1:]`` when None), quoted for a shell.

    >>> command_line("python -m benchmarks.fidelity", ["--caps", "zoo", "--from", "a b.jsonl"])
    "python -m benchmarks.fidelity --caps zoo --from 'a b.jsonl'"
    """
    args = sys.argv[1:] if argv is None else list(argv)
    return " ".join([prog, *(shlex.quote(a) for a in args)])


def header(command: str) -> list[str]:
    """The lines every section starts with: command, machine, the date it started, versions,
    the load at its start and at its end."""
    uname = platform.uname()
    return [
        f"`{command}` on {uname.node or 'this machine'} ({uname.machine}, {uname.system} "
        f"{uname.release}, {os.cpu_count()} CPUs, {memory_gb():.0f} GB RAM), "
        f"{STARTED[0].isoformat(timespec='minutes')}; {versions()}; {git_revision()}.",
        f"Machine load at the start: {load_text(STARTED[1])}; at the end "
        f"({datetime.now().isoformat(timespec='minutes')}): {load_text()} (times are "
        "wall-clock: a load above the benchmark's own means other processes shared the CPUs).",
    ]


# -- measurements --------------------------------------------------------------------------------
def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB (``ru_maxrss`` is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def median(values: Sequence[float]) -> float:
    """The median (``statistics.median``)."""
    return statistics.median(values)


def fit_exponent(sizes: Sequence[float], values: Sequence[float]) -> float:
    """Least-squares slope of ``log(value)`` on ``log(size)``: ``value ~ size ** slope``.

    Raises:
        ValueError: fewer than two points, a non-positive value, or a single distinct size.
    """
    if len(sizes) != len(values) or len(sizes) < 2:
        raise ValueError("a growth exponent needs at least two (size, value) points")
    if any(v <= 0 for v in values) or any(s <= 0 for s in sizes):
        raise ValueError("a growth exponent needs positive sizes and values")
    xs = [math.log(s) for s in sizes]
    ys = [math.log(v) for v in values]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        raise ValueError("a growth exponent needs at least two distinct sizes")
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx


# -- markdown ------------------------------------------------------------------------------------
_NUMERIC = re.compile(r"^(<=|>=|~)?\s*[-+]?[\d.,]+\s*(%|x|/\s*[\d.,]+)?$")


def _is_numeric(value: object) -> bool:
    if isinstance(value, (int, float)):
        return True
    return bool(_NUMERIC.match(str(value).strip()))


def md_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    """A markdown table; a column whose cells are all numbers (or ``-``) is right-aligned.

    >>> print("\\n".join(md_table(["model", "s", "gap"], [["a", 1.5, "-"], ["bb", "10", "2%"]])))
    | model | s | gap |
    |:--|--:|--:|
    | a | 1.5 | - |
    | bb | 10 | 2% |
    """
    align = []
    for col in range(len(headers)):
        cells = [row[col] for row in rows if str(row[col]).strip() not in ("-", "")]
        numeric = bool(cells) and all(_is_numeric(c) for c in cells)
        align.append("--:" if numeric else ":--")
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join(align) + "|"]
    out += ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]
    return out


def fmt_s(seconds: float | None, digits: int = 2) -> str:
    """Seconds for a table: ``"-"`` for None, else fixed digits.

    >>> fmt_s(None), fmt_s(1.23456), fmt_s(0.0004, 4)
    ('-', '1.23', '0.0004')
    """
    return "-" if seconds is None else f"{seconds:.{digits}f}"


def verdict(ok: bool) -> str:
    """``met`` or ``MISSED``, for goal lines."""
    return "met" if ok else "MISSED"


__all__ = [
    "RESULTS_PATH",
    "command_line",
    "fit_exponent",
    "fmt_s",
    "git_revision",
    "header",
    "load_text",
    "md_table",
    "median",
    "peak_rss_mb",
    "replace_section",
    "verdict",
    "versions",
    "write_section",
]
