"""The one way to print text that came from the user: names, paths, messages that quote them.

Rich parses ``[...]`` in a plain ``str`` as markup and ``:name:`` as emoji, so a path like
``x[/]y.onnx`` raised ``MarkupError``, ``[bold]`` in a layer name styled the terminal and error
messages lost their ``[link]`` parts. Everything here builds :class:`rich.text.Text`, which is
never parsed; the CLI, the reports and the renderers pass user text through :func:`text` (table
cells, titles) or print lines with :func:`error_line` / :func:`info_line`.

Control characters (ANSI escapes, carriage returns, bidi overrides, line separators) would act
on the terminal; :func:`visible` shows them as Python escapes instead. Printing is linear in
the length of the text (a 1 MB line of backslashes in an error takes milliseconds), and an error
line longer than :data:`MAX_LINE_CHARS` is shortened in its middle.

>>> visible("conv\\x1b[31m0\\u202e\\tx")
'conv\\\\x1b[31m0\\\\u202e\\\\tx'
>>> text("[bold]x[/]").plain
'[bold]x[/]'
>>> error_line("no file 'x[/]y.onnx'").plain
"error: no file 'x[/]y.onnx'"
"""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

MAX_LINE_CHARS = 4000
"""An error or info line longer than this keeps its first and last parts (the file, line and
key come first) and says how much was left out."""

_TAIL_CHARS = 500


def visible(value: object, *, keep_newlines: bool = False) -> str:
    """``str(value)`` with every character that is not printable written as its escape
    (``\\x1b``, ``\\r``, ``\\u202e``), so that nothing in it acts on the terminal; line breaks
    are kept when ``keep_newlines``.

    >>> visible("a\\nb"), visible("a\\nb", keep_newlines=True)
    ('a\\\\nb', 'a\\nb')
    """
    s = str(value)
    if s.isprintable():
        return s
    return "".join(
        ch if ch.isprintable() or (keep_newlines and ch == "\n") else _escape(ch) for ch in s
    )


def _escape(ch: str) -> str:
    return repr(ch)[1:-1] if ch not in "'\"" else ch


def shorten(s: str, limit: int = MAX_LINE_CHARS) -> str:
    """``s``, or its start and end around ``... (N characters left out) ...`` past ``limit``.

    >>> shorten("short")
    'short'
    >>> shorten("a" * 3500 + "b" * 1100 + "c" * 500) == (
    ...     "a" * 3500 + " ... (1100 characters left out) ... " + "c" * 500)
    True
    """
    if len(s) <= limit + 100:
        return s
    head = limit - _TAIL_CHARS
    left_out = len(s) - head - _TAIL_CHARS
    return f"{s[:head]} ... ({left_out} characters left out) ... {s[-_TAIL_CHARS:]}"


def text(value: object, style: str = "") -> Text:
    """A rich ``Text`` of user text: shown as written (no markup, no emoji), control
    characters escaped. Use it for table cells and titles that hold names or paths."""
    return Text(visible(value), style=style)


def error_line(message: object) -> Text:
    """``error: MESSAGE`` with ``error:`` in bold red and the message as written."""
    return Text.assemble(("error:", "bold red"), " ", shorten(visible(message)))


def info_line(message: object, style: str = "") -> Text:
    """``[info] MESSAGE`` as written."""
    return Text("[info] " + shorten(visible(message)), style=style)


def warning_line(message: object) -> Text:
    """``[warning] MESSAGE`` as written, as the compiler prints its warnings."""
    return Text.assemble(("[warning]", "bold yellow"), " ", shorten(visible(message)))


def print_warning(console: Console, message: object) -> None:
    """Print :func:`warning_line` as one line, like :func:`print_error`."""
    console.print(warning_line(message), soft_wrap=True)


def print_error(console: Console, message: object) -> None:
    """Print :func:`error_line` as one line (the terminal wraps it; a pipe gets one line)."""
    console.print(error_line(message), soft_wrap=True)


def print_info(console: Console, message: object, style: str = "") -> None:
    """Print :func:`info_line` as one line, like :func:`print_error` (never hard-wrapped at
    80 columns when stderr is not a terminal)."""
    console.print(info_line(message, style), soft_wrap=True)


__all__ = [
    "MAX_LINE_CHARS",
    "error_line",
    "info_line",
    "print_error",
    "print_warning",
    "print_info",
    "shorten",
    "text",
    "visible",
    "warning_line",
]
