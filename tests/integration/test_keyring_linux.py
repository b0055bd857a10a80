"""The device secret in a real Secret Service: GNOME Keyring on a private D-Bus session.

`waymark sync` runs as its own process with keyring's automatic backend
choice (no override), enrolls with the real server, keeps the secret in GNOME
Keyring, and the second run reuses it instead of enrolling again.  Nothing in
the data folder holds the secret.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.sync.credentials import SERVICE
from server.app import ServerSettings
from server.cli import open_store
from server.testing import running_server, wait_for

ROOT = Path(__file__).resolve().parents[2]


def _python(env: dict[str, str], code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def secret_service(tmp_path: Path) -> Iterator[dict[str, str]]:
    """An environment whose session bus has an unlocked GNOME Keyring on it."""
    if shutil.which("gnome-keyring-daemon") is None or shutil.which("dbus-daemon") is None:
        pytest.skip("gnome-keyring and dbus-daemon are not installed (bootstrap-debian.sh)")
    home, run = tmp_path / "home", tmp_path / "run"
    home.mkdir()
    run.mkdir(mode=0o700)
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
            probe = _python(env, "import keyring; print(type(keyring.get_keyring()).__module__)")
            return "SecretService" in probe.stdout

        wait_for(serving, 30, "GNOME Keyring to own org.freedesktop.secrets")
        yield env
    finally:
        for proc in (daemon, bus):
            if proc is not None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        if bus.stdout is not None:
            bus.stdout.close()


def test_the_device_secret_lives_in_gnome_keyring_and_is_reused(
    secret_service: dict[str, str], tmp_path: Path
) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'server.db'}")
    tenant = store.create_tenant("acme")
    token = store.add_enroll_token(tenant)
    data_dir = tmp_path / "agent-data"
    with running_server(store, ServerSettings(rate_per_second=100)) as srv:
        policy = tmp_path / "policy.json"
        settings = {"server_url": srv.url, "enroll_token": token, "telemetry_mode": "org-notice"}
        policy.write_text(json.dumps(settings))
        env = {**secret_service, "WAYMARK_DATA_DIR": str(data_dir),
               "WAYMARK_POLICY_FILE": str(policy)}  # fmt: skip
        devices = []
        for _ in range(2):
            done = subprocess.run(
                [sys.executable, "-m", "agent", "sync", "--json"],
                env=env, capture_output=True, text=True, timeout=60, cwd=ROOT,
            )  # fmt: skip
            assert done.returncode == 0, done.stderr + done.stdout
            devices.append(json.loads(done.stdout)["device_id"])
        stored = _python(
            env, f"import keyring; print(keyring.get_password({SERVICE!r}, {srv.url!r}))"
        )
    assert devices[0] and devices[0] == devices[1]  # enrolled once, then reused
    assert json.loads(stored.stdout)["device_id"] == devices[0]
    secret = json.loads(stored.stdout)["secret"]
    assert secret.startswith("wmd_")
    for path in data_dir.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
    store.engine.dispose()
