"""A real Secret Service for tests: GNOME Keyring, unlocked, on a private D-Bus session."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from devtools.waiting import stop_process, wait_for

__all__ = ["python_in", "secret_service"]


def python_in(env: dict[str, str], code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )


@contextmanager
def secret_service(folder: Path) -> Iterator[dict[str, str]]:
    """An environment whose session bus has an unlocked GNOME Keyring; files in ``folder``."""
    if shutil.which("gnome-keyring-daemon") is None or shutil.which("dbus-daemon") is None:
        pytest.skip("gnome-keyring and dbus-daemon are not installed (bootstrap-debian.sh)")
    home, run = folder / "home", folder / "run"
    home.mkdir(parents=True)
    run.mkdir(mode=0o700, parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DBUS_", "GNOME_KEYRING"))}
    env.pop("PYTHON_KEYRING_BACKEND", None)
    env.update(HOME=str(home), XDG_RUNTIME_DIR=str(run), XDG_DATA_HOME=str(home / "data"))
    bus = subprocess.Popen(
        ["dbus-daemon", "--session", "--nofork", "--print-address"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
    )  # fmt: skip
    daemon: subprocess.Popen[str] | None = None
    try:
        assert bus.stdout is not None
        env["DBUS_SESSION_BUS_ADDRESS"] = bus.stdout.readline().strip()
        daemon = subprocess.Popen(
            ["gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets"],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            text=True, env=env,
        )  # fmt: skip
        assert daemon.stdin is not None
        daemon.stdin.write("test-password")
        daemon.stdin.close()

        def serving() -> bool:
            probe = python_in(env, "import keyring; print(type(keyring.get_keyring()).__module__)")
            return "SecretService" in probe.stdout

        wait_for(serving, 30, "GNOME Keyring to own org.freedesktop.secrets")
        yield env
    finally:
        for proc in (daemon, bus):
            if proc is not None:
                stop_process(proc, 10)
        if bus.stdout is not None:
            bus.stdout.close()
