"""Headless Chromium for the page tests, driven over the Chrome DevTools Protocol on a pipe.

`--remote-debugging-pipe` (what Playwright uses) needs no port and no Python package: the
browser reads JSON commands on file descriptor 3 and writes replies and events on 4, each
message ending in a NUL byte. It is started with `os.posix_spawn`, whose file actions put the
pipe ends on 3 and 4 without running Python in the child (a `preexec_fn` can deadlock after a
fork in a process with threads, as a test process with torch has). The browser runs with a
fresh profile and with every host name unresolvable, so that a page that tried to reach the
network would fail here, not hang, and the Network domain logs every URL the page requests.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import signal
import tempfile
import time
from pathlib import Path

CANDIDATES = ("chromium", "chromium-browser", "google-chrome")
# As root on a closed network: no sandbox (it needs user namespaces), no GPU, and none of the
# background services (component updates, sync, safe browsing) that call home at start-up.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--mute-audio", "--host-resolver-rules=MAP * ~NOTFOUND")


def find_chromium() -> str | None:
    """The Chromium executable on PATH (Debian's `chromium`), or None."""
    return next((p for p in map(shutil.which, CANDIDATES) if p), None)


class BrowserError(RuntimeError):
    """Chromium quit, timed out, or answered a command with an error."""


class Chromium:
    """One headless Chromium with one tab; use as a context manager (it is killed on exit).

    Attributes:
        requests: every URL the tab requested, in order (Network.requestWillBeSent).
        failed: (URL, error text) of every request that failed (Network.loadingFailed).
    """

    def __init__(self, executable: str, timeout_s: float = 30.0):
        self.timeout_s = timeout_s
        self.requests: list[str] = []
        self.failed: list[tuple[str, str]] = []
        self._urls: dict[str, str] = {}
        self._events: list[dict] = []
        self._buffer = b""
        self._next_id = 0
        self._profile = tempfile.mkdtemp(prefix="neuro-codec-chromium-")
        self._exit_code: int | None = None
        self._log_path = Path(self._profile) / "stderr.txt"
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        # Copies at 5 or above, so that dup2 onto 3 cannot overwrite the end meant for 4; closed
        # on exec, as every descriptor Python opens: only 0–4 reach Chromium.
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 5) for fd in (to_browser_r, from_browser_w)]
        try:
            self._pid = os.posix_spawn(
                executable, [executable, *FLAGS, f"--user-data-dir={self._profile}",
                             "--remote-debugging-pipe", "about:blank"], dict(os.environ),
                file_actions=[(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                              (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
                              (os.POSIX_SPAWN_OPEN, 2, str(self._log_path),
                               os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
                              (os.POSIX_SPAWN_DUP2, high[0], 3),
                              (os.POSIX_SPAWN_DUP2, high[1], 4)],
                setsid=True)   # its own session: close() can end its helpers with it
        finally:
            for fd in (to_browser_r, from_browser_w, *high):
                os.close(fd)
        try:
            target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
            self._session = self.send("Target.attachToTarget",
                                      {"targetId": target, "flatten": True})["sessionId"]
            self.send("Network.enable", session=True)
            self.send("Page.enable", session=True)
        except BaseException:
            self.close()
            raise

    # --- protocol ----------------------------------------------------------------------------

    def _read(self, timeout_s: float) -> list[dict]:
        ready, _, _ = select.select([self._from_browser], [], [], timeout_s)
        if not ready:
            return []
        chunk = os.read(self._from_browser, 1 << 20)
        if not chunk:
            raise BrowserError(f"Chromium closed the pipe (exit code {self._poll()}); "
                               f"its stderr: {self.stderr()[-800:]}")
        self._buffer += chunk
        *messages, self._buffer = self._buffer.split(b"\0")
        out = [json.loads(m) for m in messages]
        for m in out:
            self._note(m)
        return out

    def _note(self, m: dict) -> None:
        method, params = m.get("method"), m.get("params", {})
        if method == "Network.requestWillBeSent":
            self.requests.append(params["request"]["url"])
            self._urls[params["requestId"]] = params["request"]["url"]
        elif method == "Network.loadingFailed":
            self.failed.append((self._urls.get(params["requestId"], "?"), params["errorText"]))
        elif "method" in m:
            self._events.append(m)

    def send(self, method: str, params: dict | None = None, session: bool = False) -> dict:
        """Send one command and wait for its reply; returns its result."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self._session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        end = time.monotonic() + self.timeout_s
        while time.monotonic() < end:
            for m in self._read(0.2):
                if m.get("id") == self._next_id:
                    if "error" in m:
                        raise BrowserError(f"{method}: {m['error']}")
                    return m.get("result", {})
        raise BrowserError(f"{method}: no reply in {self.timeout_s:g} s")

    def wait_for_event(self, method: str) -> dict:
        end = time.monotonic() + self.timeout_s
        while time.monotonic() < end:
            for i, m in enumerate(self._events):
                if m["method"] == method:
                    return self._events.pop(i)["params"]
            self._read(0.2)
        raise BrowserError(f"no {method} in {self.timeout_s:g} s")

    # --- what the tests use ------------------------------------------------------------------

    def viewport(self, width: int, height: int, mobile: bool = False) -> None:
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile},
                  session=True)

    def open(self, url: str) -> None:
        """Navigate and wait for the load event (every image loaded or failed)."""
        self._events.clear()
        reply = self.send("Page.navigate", {"url": url}, session=True)
        if reply.get("errorText"):
            raise BrowserError(f"cannot open {url}: {reply['errorText']}")
        self.wait_for_event("Page.loadEventFired")

    def evaluate(self, expression: str):
        """The value of a JavaScript expression (a Promise is awaited), as JSON."""
        reply = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                               "awaitPromise": True}, session=True)
        if "exceptionDetails" in reply:
            raise BrowserError(f"JavaScript error: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    def screenshot(self, path: str | os.PathLike) -> tuple[int, int]:
        """A PNG of the whole page, not only the viewport; returns its CSS size (w, h)."""
        size = self.send("Page.getLayoutMetrics", session=True)["cssContentSize"]
        w, h = int(size["width"]), int(size["height"])
        shot = self.send("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": w, "height": h, "scale": 1}}, session=True)
        Path(path).write_bytes(base64.b64decode(shot["data"]))
        return w, h

    def stderr(self) -> str:
        return self._log_path.read_text(errors="replace") if self._log_path.is_file() else ""

    def _poll(self) -> int | None:
        """Chromium's exit code, or None while it runs."""
        if self._exit_code is None:
            pid, status = os.waitpid(self._pid, os.WNOHANG)
            if pid:
                self._exit_code = os.waitstatus_to_exitcode(status)
        return self._exit_code

    def _wait(self, timeout_s: float) -> bool:
        end = time.monotonic() + timeout_s
        while self._poll() is None and time.monotonic() < end:
            time.sleep(0.05)
        return self._exit_code is not None

    def close(self) -> None:
        """Ask Chromium to quit; past a few seconds, kill its process group (its own session:
        the renderer and helper processes it started, nothing else)."""
        try:
            if self._poll() is None:
                try:
                    os.write(self._to_browser, json.dumps(
                        {"id": 0, "method": "Browser.close", "params": {}}).encode() + b"\0")
                except OSError:
                    pass
                if not self._wait(5):
                    os.killpg(self._pid, signal.SIGKILL)
                    self._wait(10)
        finally:
            for fd in (self._to_browser, self._from_browser):
                try:
                    os.close(fd)
                except OSError:
                    pass
            shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
