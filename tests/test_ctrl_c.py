"""Ctrl-C (SIGINT, as a terminal sends it) to a real ``ctxfit compile`` process.

Before a partition exists the run exits 130 with one line; during the multi-context search it
prints and writes the best partition so far and exits 130 (issue 15, D1: CP-SAT's own SIGINT
handler used to abort the process with ``std::bad_function_call``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(
    sys.platform != "linux", reason="reads /proc to know when the import has started"
)
ROOT = Path(__file__).resolve().parents[1]
# YOLO11x on Hailo-8L: its search runs to the wall clock (gap ~7% at 60 s), so a signal sent
# during the import or after the first partition always finds the process busy
COMPILE = ["-m", "partitioner.cli", "compile", "yolov11x", "--hw", "hailo8l", "--timeout", "60"]
LIMIT_S = 60  # a hung process fails the test instead of hanging the suite


def start(tmp_path: Path, *extra: str) -> subprocess.Popen[str]:
    env = dict(os.environ, CTXFIT_CACHE_DIR=str(tmp_path / "cache"), PYTHONPATH=str(ROOT))
    env.pop("CTXFIT_NO_CACHE", None)
    return subprocess.Popen(
        [sys.executable, *COMPILE, *extra],
        cwd=tmp_path,
        env=env,
        # a shell that starts jobs in the background (nohup, `&`) hands them SIGINT ignored;
        # a terminal's Ctrl-C reaches a process whose SIGINT has its default action
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def importing_torch(pid: int) -> bool:
    """True once the process has mapped torch's library (the model import has started)."""
    try:
        return "torch" in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


def test_ctrl_c_during_start_up_exits_130_with_one_line(tmp_path: Path):
    process = start(tmp_path, "--json", "out.json")  # an empty cache: the import takes seconds
    deadline = time.monotonic() + LIMIT_S
    while not importing_torch(process.pid) and process.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=LIMIT_S)
    assert process.returncode == 130
    assert err == "interrupted\n"
    assert not (tmp_path / "out.json").exists()


def test_ctrl_c_during_the_search_reports_the_best_partition_so_far(tmp_path: Path):
    process = start(tmp_path, "--json", "out.json")
    assert process.stdout is not None
    lines = []
    for line in process.stdout:  # the log goes to stdout when --json is a file
        lines.append(line)
        if "Found valid partition" in line:  # a best exists; the search goes on for ~50 s
            process.send_signal(signal.SIGINT)
            break
    out, err = process.communicate(timeout=LIMIT_S)
    output = "".join(lines) + out
    assert process.returncode == 130, err
    assert "Traceback" not in err and "bad_function_call" not in err
    assert "Interrupted: keeping the best partition so far" in output
    assert "yolov11x on hailo8l:" in output and "(interrupted)" in output
    result = json.loads((tmp_path / "out.json").read_text())
    assert result["solver"]["interrupted"] is True
    # YOLO11x needs at least 8 contexts on Hailo-8L: 2269 L3 cuts > 7 x 308 (60% of 512)
    assert result["num_contexts"] >= 8


def test_ctrl_c_while_the_cli_is_still_importing_exits_130_with_one_line(monkeypatch, capsys):
    import builtins

    from partitioner import entry

    real_import = builtins.__import__

    def interrupted_import(name, *args, **kwargs):
        if name == "partitioner.cli":
            raise KeyboardInterrupt
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "partitioner.cli", raising=False)
    monkeypatch.setattr(builtins, "__import__", interrupted_import)
    assert entry.main() == 130
    assert capsys.readouterr().err == "interrupted\n"
