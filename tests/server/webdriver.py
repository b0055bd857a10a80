"""A minimal W3C WebDriver client over httpx for Debian's chromium + chromedriver."""

from __future__ import annotations

import base64
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx

from devtools.waiting import free_port, stop_process, wait_for

__all__ = ["Browser", "chromium_available", "headless_chromium"]

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"


def chromium_available() -> bool:
    return Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()


class Browser:
    """One WebDriver session: navigate, type, click, read the page, screenshot."""

    def __init__(self, http: httpx.Client, session: str) -> None:
        self._http, self._base = http, f"/session/{session}"

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        r = self._http.request(method, self._base + path, json=body)
        r.raise_for_status()
        return r.json()["value"]

    def open(self, url: str) -> None:
        self._call("POST", "/url", {"url": url})

    def find(self, css: str) -> str:
        element: str = self._call("POST", "/element", {"using": "css selector", "value": css})[
            ELEMENT
        ]
        return element

    def type(self, css: str, text: str) -> None:
        self._call("POST", f"/element/{self.find(css)}/value", {"text": text})

    def click(self, css: str) -> None:
        self._call("POST", f"/element/{self.find(css)}/click", {})

    def source(self) -> str:
        text: str = self._call("GET", "/source")
        return text

    def screenshot(self) -> bytes:
        return base64.b64decode(self._call("GET", "/screenshot"))

    def run(self, script: str) -> Any:
        """The value of ``script`` (a function body, ``return …``) run in the page."""
        return self._call("POST", "/execute/sync", {"script": script, "args": []})

    def url(self) -> str:
        text: str = self._call("GET", "/url")
        return text

    def console(self) -> list[str]:
        """The browser's console messages since the last call (CSP violations among them)."""
        entries: list[dict[str, Any]] = self._call("POST", "/se/log", {"type": "browser"})
        return [f"{e.get('level')}: {e.get('message')}" for e in entries]


@contextmanager
def headless_chromium(width: int = 1280, height: int = 1500) -> Iterator[Browser]:
    port = free_port()
    profile = tempfile.mkdtemp(prefix="waymark-chromium-")
    driver = subprocess.Popen(
        [CHROMEDRIVER, f"--port={port}", "--allowed-ips=127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)
    session = None
    try:

        def ready() -> bool:
            try:
                return bool(http.get("/status").json()["value"]["ready"])
            except httpx.HTTPError:
                return False

        wait_for(ready, 30, "chromedriver")
        args = [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage", f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
        ]  # fmt: skip
        caps = {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
            "goog:loggingPrefs": {"browser": "ALL"},
        }
        r = http.post("/session", json={"capabilities": {"alwaysMatch": caps}})
        r.raise_for_status()
        session = r.json()["value"]["sessionId"]
        yield Browser(http, session)
    finally:
        if session is not None:
            with suppress(httpx.HTTPError):
                http.delete(f"/session/{session}")
        http.close()
        stop_process(driver, 10)
        shutil.rmtree(profile, ignore_errors=True)
