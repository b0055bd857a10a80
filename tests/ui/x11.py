"""Driving UI processes on a real X server: the toast harness and the person's mouse."""

from __future__ import annotations

import contextlib
import json
import select
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.xserver import XServer, wait_for, xdotool

ROOT = Path(__file__).resolve().parents[2]

__all__ = ["ROOT", "UiProcess", "click_at", "visible_windows"]


class UiProcess:
    """``tests/ui/x11_toast_app.py`` on ``server``: one command line in, one line out."""

    def __init__(self, server: XServer) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.ui.x11_toast_app"],
            cwd=ROOT, env=server.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert self.read() == "ready"

    def read(self, timeout: float = 20.0) -> str:
        assert self.proc.stdout is not None
        # One answer per command, so nothing waits in Python's buffer: select is enough.
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            raise TimeoutError(f"the UI process did not answer within {timeout:.0f} s")
        line = self.proc.stdout.readline().strip()
        if not line:
            raise RuntimeError(
                f"UI process ended: {self.proc.stderr.read() if self.proc.stderr else ''}"
            )
        return line

    def send(self, command: str) -> str:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self.read()

    def ask(self, command: str) -> Any:
        """A command whose answer is JSON."""
        return json.loads(self.send(command))

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(BrokenPipeError, RuntimeError):
                self.send("quit")
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()


def visible_windows(server: XServer, name: str) -> list[str]:
    out = xdotool(server, "search", "--onlyvisible", "--name", name, check=False)
    return out.splitlines()


def click_at(server: XServer, x: int, y: int, arrived: Any = None) -> None:
    """Move the real pointer to (x, y), wait until ``arrived()`` is true (the UI saw the
    pointer come in), then press and release the left button there."""
    xdotool(server, "mousemove", "--sync", str(x), str(y))
    if arrived is not None:
        wait_for(arrived, 10, f"the UI to see the pointer at {x},{y}")
    xdotool(server, "click", "1")


def window_rect(server: XServer, window: str) -> tuple[int, int, int, int]:
    """(x, y, width, height) of an X window on the screen, as the X server has it."""
    from Xlib import display as xdisplay

    conn = xdisplay.Display(server.display)
    try:
        xwin = conn.create_resource_object("window", int(window))
        place = xwin.translate_coords(conn.screen().root, 0, 0)
        geometry = xwin.get_geometry()
        return -place.x, -place.y, geometry.width, geometry.height
    finally:
        conn.close()


def find_colour(
    server: XServer, rect: tuple[int, int, int, int], colour: str, *, skip_left: int = 0
) -> tuple[int, int] | None:
    """The centre of the pixels of ``colour`` (``#rrggbb``) inside ``rect`` on the screen,
    as a person's eye finds the one blue button; None when there are none."""
    from Xlib import X
    from Xlib import display as xdisplay

    x0, y0, w, h = rect
    want = bytes.fromhex(colour.removeprefix("#"))
    conn = xdisplay.Display(server.display)
    try:
        image = conn.screen().root.get_image(x0, y0, w, h, X.ZPixmap, 0xFFFFFFFF)
    finally:
        conn.close()
    data = image.data if isinstance(image.data, bytes) else bytes(image.data)
    hits = [
        (x, y)
        for y in range(h)
        for x in range(skip_left, w)
        # 24-bit Xvfb pixels are B, G, R, pad.
        if data[(y * w + x) * 4 + 2] == want[0]
        and data[(y * w + x) * 4 + 1] == want[1]
        and data[(y * w + x) * 4] == want[2]
    ]
    if len(hits) < 20:
        return None
    return x0 + sum(x for x, _ in hits) // len(hits), y0 + sum(y for _, y in hits) // len(hits)
