"""The HTML report in a real headless browser (Chromium from Debian's packages).

The browser is driven over the DevTools protocol through ``--remote-debugging-pipe`` (JSON
messages separated by NUL bytes on file descriptors 3 and 4), so no websocket library is
needed. The page is loaded from a ``file://`` URL and the test collects everything that would
show in the browser's console: uncaught exceptions (``Runtime.exceptionThrown``),
``console.error`` / ``console.assert`` calls, the browser's own error log entries (failed
loads, blocked content: ``Log.entryAdded``), and every request that is not to a ``file:``,
``data:`` or ``about:`` URL (``Network.requestWillBeSent``). A control page with a script error
and a remote image proves that each of these is caught.

Skipped, with the reason, only where Chromium is not installed (``make test`` installs it with
``apt-get install -y chromium`` when it can).
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import shutil
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from cost_model.hardware import preset
from partitioner.compile import compile_network
from partitioner.html_report import binding_text, write_html
from partitioner.search import SearchOptions
from tests.nets import conv_chain

CHROMIUM = next(
    (
        p
        for p in ("/usr/bin/chromium", shutil.which("chromium") or "")
        if p and os.access(p, os.X_OK)
    ),
    None,
)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Chromium is not installed (/usr/bin/chromium); `make test` installs it with "
    "`apt-get install -y chromium` where apt can run",
)

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--mute-audio",
    "--remote-debugging-pipe",
)
REPLY_TIMEOUT_S = 60.0  # a guard against a hung browser, not a performance assertion
LOCAL_SCHEMES = ("file:", "data:", "about:")


class Browser:
    """Chromium under the DevTools protocol over a pipe: one page, its problems recorded."""

    def __init__(self, binary: str, profile: Path, log: Path) -> None:
        to_browser_r, self._to_browser = _pipe()
        self._from_browser, from_browser_w = _pipe()
        devnull = os.open(os.devnull, os.O_RDWR)
        logfd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        actions = [
            (os.POSIX_SPAWN_DUP2, devnull, 0),
            (os.POSIX_SPAWN_DUP2, devnull, 1),
            (os.POSIX_SPAWN_DUP2, logfd, 2),
            (os.POSIX_SPAWN_DUP2, to_browser_r, 3),  # the browser reads commands on fd 3
            (os.POSIX_SPAWN_DUP2, from_browser_w, 4),  # and writes replies on fd 4
        ]
        argv = [binary, *FLAGS, f"--user-data-dir={profile}", "about:blank"]
        self.pid = os.posix_spawn(binary, argv, dict(os.environ), file_actions=actions)
        for fd in (to_browser_r, from_browser_w, devnull, logfd):
            os.close(fd)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []
        self.session: str | None = None

    # -- protocol ----------------------------------------------------------------------------
    def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send a command (to the page's session once attached) and return its result."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if self.session is not None and not method.startswith(("Target.", "Browser.")):
            message["sessionId"] = self.session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._receive()
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str) -> dict[str, Any]:
        """The first event called ``method`` (already received, or the next ones)."""
        for event in self.events:
            if event.get("method") == method:
                return event
        while True:
            event = self._receive()
            self.events.append(event)
            if event.get("method") == method:
                return event

    def _receive(self) -> dict[str, Any]:
        deadline = time.monotonic() + REPLY_TIMEOUT_S
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self._from_browser], [], [], max(0.0, left))
            if not ready:
                raise TimeoutError(f"no reply from Chromium within {REPLY_TIMEOUT_S:g} s")
            chunk = os.read(self._from_browser, 1 << 16)
            if not chunk:
                raise EOFError("Chromium closed the DevTools pipe (did it crash? see its log)")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    # -- a page ------------------------------------------------------------------------------
    def open(self, url: str) -> None:
        """Open ``url`` in a new page with the domains that report problems enabled, and wait
        for its load event."""
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        attached = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})
        self.session = attached["sessionId"]
        for domain in ("Runtime", "Log", "Network", "Page"):
            self.send(f"{domain}.enable")
        self.send("Page.navigate", {"url": url})
        self.wait_for("Page.loadEventFired")

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page."""
        reply = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in reply:
            raise RuntimeError(f"{expression!r} failed: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    def problems(self) -> list[str]:
        """Everything a user would see in the console, and every non-local request."""
        found = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                text = details.get("exception", {}).get("description") or details.get("text")
                found.append(f"uncaught: {text}")
            elif method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
                args = " ".join(str(a.get("value", a.get("description"))) for a in params["args"])
                found.append(f"console.{params['type']}: {args}")
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                found.append(f"log: {params['entry']['text']}")
            elif method == "Network.requestWillBeSent":
                url = params["request"]["url"]
                if not url.startswith(LOCAL_SCHEMES):
                    found.append(f"request: {url}")
        return found

    def close(self) -> None:
        try:
            self.session = None
            self.send("Browser.close")
        except (OSError, EOFError, TimeoutError, RuntimeError):
            pass
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            pid, _ = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                break
            time.sleep(0.05)
        else:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        os.close(self._to_browser)
        os.close(self._from_browser)


def _pipe() -> tuple[int, int]:
    """A pipe whose ends are numbered 10 or above (so dup2 onto 3 and 4 cannot clobber them)
    and close on exec (only the dup2 copies reach the browser)."""
    ends = []
    for fd in os.pipe():
        ends.append(fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10))
        os.close(fd)
    return ends[0], ends[1]


@pytest.fixture
def browser(tmp_path):
    assert CHROMIUM is not None
    b = Browser(CHROMIUM, tmp_path / "profile", tmp_path / "chromium.log")
    try:
        yield b
    finally:
        b.close()


def test_the_console_check_catches_errors_and_remote_requests(browser, tmp_path):
    """The control: a page with every kind of problem the report must not have."""
    page = tmp_path / "broken.html"
    page.write_text(
        "<!DOCTYPE html><html><head><title>broken</title></head><body><p id='x'>text</p>"
        "<script>console.error('boom'); throw new Error('kaput');</script>"
        "<img src='http://127.0.0.1:9/remote.png'></body></html>"
    )
    browser.open(page.as_uri())
    assert browser.evaluate("document.getElementById('x').textContent") == "text"
    problems = browser.problems()
    assert "console.error: boom" in problems
    assert any(p.startswith("uncaught: Error: kaput") for p in problems)
    assert "request: http://127.0.0.1:9/remote.png" in problems
    assert any(p.startswith("log: ") for p in problems)  # the failed image load


def test_report_loads_without_console_errors_and_shows_the_summary(browser, tmp_path):
    net = conv_chain(60)  # several contexts on Hailo-8L (60 LCUs > 48)
    report = compile_network(net, preset("hailo8l"), SearchOptions(timeout_s=2))
    page = write_html(tmp_path / "report.html", report, net)
    browser.open(page.as_uri())
    browser.evaluate("document.body.offsetHeight")  # one more round trip: late events are in
    assert browser.problems() == []

    assert browser.evaluate("document.title") == "ctxfit: chain on hailo8l"
    shown = browser.evaluate(
        "Object.fromEntries([...document.querySelectorAll('[id^=summary-]')]"
        ".map(e => [e.id, e.innerText]))"
    )
    assert shown["summary-contexts"] == f"{report.num_contexts} (multi-context)"
    assert shown["summary-single-context"] == "no"
    assert shown["summary-fps-1"] == f"{report.fps[1]:,.1f} FPS"
    assert shown["summary-fps-8"] == f"{report.fps[8]:,.1f} FPS"
    assert shown["summary-latency"] == f"{report.latency_ms:.2f} ms"
    assert shown["summary-binding"] == binding_text(report)
    # the four plots are laid out with a size, and their text is rendered as text
    sizes = browser.evaluate(
        "[...document.querySelectorAll('svg.plot')].map(s => {"
        " const r = s.getBoundingClientRect(); return [r.width, r.height]; })"
    )
    assert len(sizes) == 4 and all(w > 100 and h > 50 for w, h in sizes)
    text = browser.evaluate("document.body.innerText")
    assert "one batch of 8 frames" in browser.evaluate(
        "[...document.querySelectorAll('svg text')].map(t => t.textContent).join(' ')"
    )
    assert "context_1 utilization" in text
    rows = browser.evaluate("document.querySelectorAll('#layers tbody tr').length")
    assert rows == len(net)
