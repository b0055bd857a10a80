"""On a real X server (Xvfb + openbox): a toast never takes the keyboard focus
from the window the person is typing in (checked with xdotool getwindowfocus)."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator

import pytest

from tests.ui.x11 import UiProcess
from tests.xserver import XServer, wait_for, xdotool

pytestmark = pytest.mark.x11


@pytest.fixture
def typing_window(xserver: XServer) -> Iterator[str]:
    """An X client window (xlogo) that holds the keyboard focus, as an editor would."""
    if shutil.which("xlogo") is None:
        pytest.skip("xlogo (x11-apps) is not installed")
    proc = subprocess.Popen(["xlogo", "-geometry", "400x300+100+100"], env=xserver.env,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        found = wait_for(
            lambda: xdotool(xserver, "search", "--class", "xlogo", check=False),
            20,
            "the xlogo window",
        )
        window = found.splitlines()[-1]

        def focused() -> bool:
            if _focus(xserver) == window:
                return True
            # Map it (again) and ask the window manager for it, until it is ours:
            # a client that starts while openbox settles can stay unmapped.
            xdotool(xserver, "windowmap", window, check=False)
            xdotool(xserver, "windowactivate", window, check=False)
            return False

        wait_for(focused, 20, "xlogo to take the focus")
        yield window
    finally:
        proc.terminate()
        proc.wait(5)


def _focus(server: XServer) -> str:
    return xdotool(server, "getwindowfocus", check=False)


def _visible(server: XServer, name: str) -> list[str]:
    out = xdotool(server, "search", "--onlyvisible", "--name", name, check=False)
    return out.splitlines()


def test_toast_does_not_steal_focus_from_the_focused_window(
    xserver: XServer, typing_window: str
) -> None:
    ui = UiProcess(xserver)
    try:
        before = _focus(xserver)
        assert before == typing_window
        answer = ui.send("toast")
        assert answer.startswith("shown ")
        toast_id = answer.split()[1]
        wait_for(lambda: toast_id in _visible(xserver, "Waymark tip"), 10, "the toast mapped")
        time.sleep(0.5)  # give the window manager time to (wrongly) move the focus
        assert _focus(xserver) == before

        # A second, stacked toast does not take it either.
        assert ui.send("toast").startswith("shown ")
        time.sleep(0.5)
        assert _focus(xserver) == before

        # Control: an ordinary window does take the focus here, so the check above
        # would have seen a toast that stole it.
        assert ui.send("window") == "window"
        wait_for(lambda: _focus(xserver) != before or None, 10, "an ordinary window to get focus")
    finally:
        ui.stop()


def test_go_to_newest_tip_gives_the_toast_the_keyboard_on_request(
    xserver: XServer, typing_window: str
) -> None:
    ui = UiProcess(xserver)
    try:
        toast_id = ui.send("toast").split()[1]
        wait_for(lambda: toast_id in _visible(xserver, "Waymark tip"), 10, "the toast mapped")
        assert _focus(xserver) == typing_window
        assert ui.send("focus") == "focused"
        wait_for(lambda: _focus(xserver) != typing_window or None, 10, "the toast to take focus")
        focused = _focus(xserver)
        assert focused in _visible(xserver, "Waymark tip")
    finally:
        ui.stop()
