"""A private desktop session with an accessibility bus, for the AT-SPI tests.

A session D-Bus of its own (``dbus-daemon --session``) with its own
``XDG_RUNTIME_DIR``, so the accessibility bus that ``at-spi-bus-launcher``
starts on demand (D-Bus activation, Debian's ``at-spi2-core``) belongs to this
test alone.  Apps started with :meth:`A11ySession.app` use the test's X
server and this bus.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from devtools.waiting import stop_process, wait_for
from tests.xserver import XServer, xdotool

__all__ = ["A11ySession", "QtTestApp", "a11y_session"]

APP = Path(__file__).resolve().parent / "integration" / "a11y_app.py"


@dataclass
class QtTestApp:
    """A running tests/integration/a11y_app.py on ``xserver``."""

    proc: subprocess.Popen[str]
    title: str
    xserver: XServer

    def activate(self) -> None:
        """Bring the app's window to the front (xdotool, as a person's click would)."""
        found = wait_for(
            lambda: xdotool(self.xserver, "search", "--name", self.title, check=False),
            10,
            f"the window {self.title!r}",
        )
        xdotool(self.xserver, "windowactivate", "--sync", found.split()[0])

    def click(self, widget: str) -> None:
        """Move the pointer to a widget and click it with the left button."""
        x, y = self.where(widget)
        xdotool(self.xserver, "mousemove", "--sync", str(x), str(y), "click", "1")

    def where(self, widget: str) -> tuple[int, int]:
        """The screen position of a widget's centre."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(f"where {widget}\n")
        self.proc.stdin.flush()
        x, y = self.proc.stdout.readline().split()
        return int(x), int(y)


@dataclass
class A11ySession:
    xserver: XServer
    bus: str
    env: dict[str, str]
    apps: list[QtTestApp] = field(default_factory=list)

    def app(self, process_name: str, title: str) -> QtTestApp:
        env = {**self.env, "QT_QPA_PLATFORM": "xcb"}
        env.pop("QT_LINUX_ACCESSIBILITY_ALWAYS_ON", None)  # the agent turns accessibility on
        proc = subprocess.Popen(
            [sys.executable, str(APP), process_name, title],
            env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if line != "ready":
            stop_process(proc, 5)
            raise RuntimeError(f"the test app did not start: {line!r}")
        app = QtTestApp(proc, title, self.xserver)
        self.apps.append(app)
        return app


def _running(pid: int) -> bool:
    """True while ``pid`` runs (a zombie nobody reaps counts as ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


@contextmanager
def a11y_session(xserver: XServer) -> Iterator[A11ySession]:
    """A session bus (and, on first use, an accessibility bus) for one test."""
    runtime = tempfile.mkdtemp(prefix="waymark-a11y-")
    os.chmod(runtime, 0o700)
    env = {**xserver.env, "XDG_RUNTIME_DIR": runtime}
    daemon = subprocess.Popen(
        ["dbus-daemon", "--session", "--nofork", "--print-address"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert daemon.stdout is not None
    bus = daemon.stdout.readline().strip()
    env["DBUS_SESSION_BUS_ADDRESS"] = bus
    session = A11ySession(xserver, bus, env)
    try:
        yield session
    finally:
        for app in session.apps:
            stop_process(app.proc, 5)
            for pipe in (app.proc.stdin, app.proc.stdout):
                if pipe is not None:
                    pipe.close()
        # The bus launcher and registry were started by this bus; end them with it.
        helpers = _children(daemon.pid)
        stop_process(daemon, 5)
        daemon.stdout.close()
        for pid in helpers:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
        wait_for(lambda: not any(_running(p) for p in helpers), 10, "the accessibility bus to end")
