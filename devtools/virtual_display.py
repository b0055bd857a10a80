"""A virtual X display: Xvfb with the openbox window manager.

Used by `make demo` / `make screenshots` and by the tests.  Each call gets its
own display number (Xvfb picks a free one with ``-displayfd``).  Waiting is on
conditions with deadlines, never fixed sleeps.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from devtools.waiting import stop_process, wait_for

__all__ = ["XServer", "running_xserver"]


@dataclass
class XServer:
    display: str
    xvfb: subprocess.Popen[bytes]
    wm: subprocess.Popen[bytes] | None

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["DISPLAY"] = self.display
        env.pop("WAYLAND_DISPLAY", None)
        env["XDG_SESSION_TYPE"] = "x11"
        return env


def _wm_running(server: XServer) -> bool:
    out = subprocess.run(
        ["xprop", "-root", "_NET_SUPPORTING_WM_CHECK"],
        env=server.env,
        capture_output=True,
        text=True,
        timeout=10,
    )
    return "window id" in out.stdout


@contextmanager
def running_xserver(size: str = "1280x800x24", window_manager: bool = True) -> Iterator[XServer]:
    """Start Xvfb (and openbox) on a fresh display; stop both afterwards."""
    if shutil.which("Xvfb") is None:
        raise RuntimeError("Xvfb is not installed: run `make test` as root or apt-get install xvfb")
    read_fd, write_fd = os.pipe()
    xvfb = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", size, "-nolisten", "tcp",
         "+extension", "MIT-SCREEN-SAVER", "-noreset"],
        pass_fds=(write_fd,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    os.close(write_fd)
    wm: subprocess.Popen[bytes] | None = None
    try:
        with os.fdopen(read_fd, "rb") as pipe:
            number = pipe.readline().decode().strip()
        if not number:
            raise RuntimeError("Xvfb did not report a display number")
        server = XServer(display=f":{number}", xvfb=xvfb, wm=None)
        if window_manager:
            config_dir = tempfile.mkdtemp(prefix="waymark-openbox-")
            env = server.env
            env["XDG_CONFIG_HOME"] = config_dir
            wm = subprocess.Popen(
                ["openbox", "--sm-disable"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            server.wm = wm
            wait_for(lambda: _wm_running(server), 15, "openbox to manage the screen")
        yield server
    finally:
        for proc in (wm, xvfb):
            if proc is not None:
                stop_process(proc, 5)
