"""Where a command writes: checked before the long work, and never onto a file the user gave.

Every command that writes (``compile``, ``profile``, ``explain``, ``compare``, ``sweep``, ``zoo``)
calls :func:`check_outputs` first with its output flags and the files it reads: the model
(``.onnx``, ``.json``, the ``.py`` of ``file.py:factory``), ``--script``, a ``--hw`` TOML file,
compare's two results. A target is refused when it *is* one of them, compared by file identity
(device and inode), so ``./x``, ``sub/../x``, a symbolic link and a hard link are all caught.
It is also refused when it is empty (``--json ''``), a directory, in a directory that does not
exist, ``-`` for a flag that cannot write to stdout (``--html``), or when two outputs go to the
same place (two ``-``, or one file twice).

>>> check_outputs([("--json", "-"), ("--emit-script", "-")], inputs=[])
Traceback (most recent call last):
...
partitioner.errors.UsageError: --json and --emit-script both write to stdout (-); send one of them
to a file
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from partitioner.errors import UsageError

STDOUT = "-"
STDOUT_FLAGS = frozenset({"--json", "--emit-script"})
"""Output flags that accept ``-`` (stdout). ``--html`` writes a page with inline images: a file."""


def same_file(a: str | Path, b: str | Path) -> bool:
    """True when both paths name one existing file (same device and inode).

    >>> same_file(__file__, __file__), same_file(__file__, "no/such/file")
    (True, False)
    """
    try:
        sa, sb = os.stat(a), os.stat(b)
    except (OSError, ValueError):  # missing, unreadable, or a NUL in the name
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def model_file(spec: str) -> str | None:
    """The file a MODEL argument reads: the path itself, or the ``.py`` of ``file.py:factory``
    (``None`` for a zoo name, which names no file).

    >>> model_file("nets/m.py:build"), model_file("m.onnx"), model_file("yolov8n")
    ('nets/m.py', 'm.onnx', None)
    """
    if ".py:" in spec:
        return spec.rpartition(":")[0]
    return spec if os.path.sep in spec or "." in spec else None


def hardware_files(specs: Iterable[str | None]) -> list[str]:
    """The TOML files among ``--hw`` values (presets name no file)."""
    from cost_model.hardware import hardware_file

    found = []
    for spec in specs:
        path = hardware_file(spec) if spec else None
        if path is not None:
            found.append(str(path))
    return found


def check_outputs(
    outputs: Sequence[tuple[str, str | None]], *, inputs: Iterable[str | Path | None]
) -> None:
    """Refuse every output target that would lose data or cannot be written.

    ``outputs`` are ``(flag, target)`` pairs (``None``: the flag was not given); ``inputs`` the
    files the command reads (``None`` entries are skipped).

    Raises:
        UsageError: a target that is empty, ``-`` for a flag that cannot write to stdout, ``-``
            twice, a directory, in a missing directory, the same file as an input or as another
            output. The message names the flag and the path.
    """
    given = [str(p) for p in inputs if p]
    seen: dict[str, str] = {}
    to_stdout: list[str] = []
    for flag, target in outputs:
        if target is None:
            continue
        if target == "":
            raise UsageError(f"{flag} '' is empty; give a file path" + _or_stdout(flag))
        if target == STDOUT:
            if flag not in STDOUT_FLAGS:
                raise UsageError(
                    f"{flag} cannot write to stdout (-); give a file name such as report.html "
                    "(./- for a file named '-')"
                )
            to_stdout.append(flag)
            continue
        _check_target(flag, target)
        for path in given:
            if same_file(target, path):
                also = "" if path == target else f" {path!r} (the same file)"
                raise UsageError(
                    f"{flag} {target!r} is the input file{also}; choose another output path "
                    "(ctxfit never overwrites a file you gave)"
                )
        for other_flag, other in seen.items():
            if other == target or same_file(other, target):
                raise UsageError(
                    f"{other_flag} and {flag} both write {target!r}; give each its own file"
                )
        seen[flag] = target
    if len(to_stdout) > 1:
        raise UsageError(
            f"{' and '.join(to_stdout)} both write to stdout (-); send one of them to a file"
        )


def _or_stdout(flag: str) -> str:
    return ", or - for stdout" if flag in STDOUT_FLAGS else ""


def _check_target(flag: str, target: str) -> None:
    path = Path(target)
    try:
        if path.is_dir():
            raise UsageError(f"cannot write {flag} {target!r}: it is a directory; give a file name")
        parent = path.parent
        if not parent.is_dir():
            raise UsageError(
                f"cannot write {flag} {target!r}: directory {str(parent)!r} does not exist"
            )
    except (OSError, ValueError) as err:  # a name too long, a NUL byte
        raise UsageError(f"cannot write {flag} {target!r}: {err}") from err


def write_text(flag: str, target: str, text: str) -> None:
    """Write ``text`` to ``target``, or to stdout for ``-`` (after :func:`check_outputs`).

    Raises:
        UsageError: the file cannot be written (the message names it and the reason).
    """
    if target == STDOUT:
        sys.stdout.write(text)
        return
    try:
        Path(target).write_text(text, encoding="utf-8")
    except (OSError, ValueError) as err:
        reason = getattr(err, "strerror", None) or str(err)
        raise UsageError(f"cannot write {flag} {target!r}: {reason}") from err


__all__ = [
    "STDOUT",
    "STDOUT_FLAGS",
    "check_outputs",
    "hardware_files",
    "model_file",
    "same_file",
    "write_text",
]
