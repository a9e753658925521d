"""A headless Chromium for tests, driven over the DevTools protocol on a pipe (no extra package).

Chromium (Debian's ``chromium-headless-shell`` or ``chromium``) started with
``--remote-debugging-pipe`` reads NUL-terminated JSON commands on fd 3 and writes replies and
events on fd 4: the protocol Puppeteer and Playwright speak, without a websocket client or a
driver whose browser build must match. A test opens a page, waits for its load event, and gets
what the console and the page reported (errors, exceptions, CSP violations), the page's text
and a screenshot::

    with Chromium.start() as browser:
        page = browser.open(path.as_uri())
        page.errors, page.text, page.screenshot(out)

``find_chromium()`` returns None when no browser is installed (the caller skips with a reason).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CANDIDATES = ("chromium-headless-shell", "chromium", "chromium-browser")
INSTALL_HINT = "apt-get install -y chromium-headless-shell (Debian; .ci/run installs it)"


def find_chromium() -> str | None:
    override = os.environ.get("DDBUILD_TEST_CHROMIUM")
    if override:
        return override
    return next((path for name in CANDIDATES if (path := shutil.which(name))), None)


class BrowserError(RuntimeError):
    pass


@dataclass
class Page:
    browser: Chromium
    session: str
    errors: list[str] = field(default_factory=list)  # console errors, exceptions, log errors (CSP ...)

    def evaluate(self, expression: str) -> Any:
        reply = self.browser.call("Runtime.evaluate", {"expression": expression, "returnByValue": True},
                                  session=self.session)
        if "exceptionDetails" in reply:
            raise BrowserError(f"evaluate({expression!r}) threw: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    @property
    def text(self) -> str:
        return str(self.evaluate("document.body.innerText"))

    def screenshot(self, path: Path) -> Path:
        height = int(self.evaluate("Math.ceil(document.documentElement.scrollHeight)") or 800)
        self.browser.call("Emulation.setDeviceMetricsOverride",
                          {"width": 1280, "height": min(max(height, 400), 8000), "deviceScaleFactor": 1,
                           "mobile": False}, session=self.session)
        data = self.browser.call("Page.captureScreenshot", {"format": "png"}, session=self.session)["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path


class Chromium:
    """One headless browser process; ``open`` a page, ``close`` (or a with-block) ends it."""

    def __init__(self, executable: str, timeout: float = 15.0) -> None:
        self.timeout = timeout
        self._profile = tempfile.TemporaryDirectory(prefix="ddbuild-chromium-")
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        args = [executable, "--headless", "--remote-debugging-pipe", "--no-sandbox", "--disable-gpu",
                "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                "--disable-background-networking", "--disable-dev-shm-usage", "--mute-audio",
                f"--user-data-dir={self._profile.name}", "about:blank"]

        def remap() -> None:
            # In the child, before exec: the browser reads fd 3 and writes fd 4. Moved above 10
            # first, so neither end is overwritten when the pipes were given fd 3 or 4 here.
            import fcntl

            reader, writer = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD, 10), fcntl.fcntl(from_browser_w, fcntl.F_DUPFD, 10)
            os.dup2(reader, 3)
            os.dup2(writer, 4)

        self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, preexec_fn=remap, pass_fds=(3, 4))
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self._events: list[dict[str, Any]] = []

    @classmethod
    def start(cls, executable: str | None = None) -> Chromium:
        path = executable or find_chromium()
        if path is None:
            raise BrowserError(f"no Chromium found ({INSTALL_HINT})")
        return cls(path)

    # -- protocol --------------------------------------------------------------------------
    def _read_message(self, deadline: float) -> dict[str, Any]:
        import select

        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError("Chromium did not answer in time")
            ready, _, _ = select.select([self._from_browser], [], [], left)
            if ready:
                chunk = os.read(self._from_browser, 1 << 20)
                if not chunk:
                    raise BrowserError(f"Chromium exited (code {self.process.poll()})")
                self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        return json.loads(message)

    def call(self, method: str, params: dict[str, Any] | None = None, *, session: str | None = None) -> Any:
        self._next_id += 1
        command: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            command["sessionId"] = session
        os.write(self._to_browser, json.dumps(command).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            message = self._read_message(deadline)
            if message.get("id") == self._next_id:
                if "error" in message:
                    raise BrowserError(f"{method}: {message['error']}")
                return message.get("result", {})
            self._events.append(message)

    def wait_for(self, method: str, session: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        while True:
            for i, event in enumerate(self._events):
                if event.get("method") == method and event.get("sessionId") == session:
                    return self._events.pop(i)
            self._events.append(self._read_message(deadline))

    # -- pages -----------------------------------------------------------------------------
    def open(self, url: str) -> Page:
        """A new tab at ``url``, after its load event, with what it reported while loading."""
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable", session=session)
        self.call("Page.navigate", {"url": url}, session=session)
        self.wait_for("Page.loadEventFired", session)
        self.call("Runtime.evaluate", {"expression": "1"}, session=session)  # flush pending events
        return Page(self, session, self._errors(session))

    def _errors(self, session: str) -> list[str]:
        errors = []
        for event in self._events:
            if event.get("sessionId") != session:
                continue
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                errors.append("console: " + " ".join(str(a.get("value", a.get("description"))) for a in params["args"]))
            elif method == "Runtime.exceptionThrown":
                errors.append("exception: " + str(params["exceptionDetails"].get("text")))
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                errors.append(f"log ({params['entry'].get('source')}): {params['entry'].get('text')}")
        return errors

    def close(self) -> None:
        try:
            if self.process.poll() is None:
                try:
                    self.call("Browser.close")
                except BrowserError:
                    pass
                try:
                    self.process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.process.kill()  # our own child, by its handle
                    self.process.wait()
        finally:
            os.close(self._to_browser)
            os.close(self._from_browser)
            self._profile.cleanup()

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
