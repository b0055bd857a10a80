"""The agent frozen with PyInstaller (installers/pyinstaller/waymark.spec) works on its own.

The bundle is built once per test session (about 20 s; tests/packaging/
conftest.py) and then run with no access to the checkout's Python: the CLI,
replay (same decisions as from source), the X11 hooks and Qt under a real
Xvfb, and sync with the device secret in a real GNOME Keyring over the real
server.  This is what the MSI, the pkg and the deb wrap; it caught a missing
pynput backend that only shows when frozen.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import PySide6

from devtools.live_server import running_server
from server.cli import open_store
from server.settings import ServerSettings
from tests.xserver import XServer

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden"


def run(
    exe: Path, *args: str, env: dict[str, str] | None = None, cwd: Path
) -> subprocess.CompletedProcess[str]:
    # No PYTHONPATH and another working folder: the bundle must not lean on the checkout.
    base = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    return subprocess.run(
        [str(exe), *args], env={**base, **(env or {})}, capture_output=True, text=True,
        timeout=120, cwd=cwd,
    )  # fmt: skip


def test_the_frozen_cli_validates_and_replays_like_the_source(frozen: Path, tmp_path: Path) -> None:
    assert run(frozen, "--version", cwd=tmp_path).stdout.strip() == "waymark 0.1.0"
    pack = ROOT / "assets" / "packs" / "default" / "pack.yaml"
    checked = run(frozen, "pack", "validate", str(pack), cwd=tmp_path)
    assert checked.returncode == 0 and "ok: waymark-default" in checked.stdout
    day = GOLDEN / "windows-workday.jsonl"
    frozen_replay = run(frozen, "replay", str(pack), str(day), "--json", cwd=tmp_path)
    source_replay = subprocess.run(
        [sys.executable, "-m", "agent", "replay", str(pack), str(day), "--json"],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip
    assert frozen_replay.returncode == 0, frozen_replay.stderr
    assert frozen_replay.stdout == source_replay.stdout and frozen_replay.stdout.strip()


def test_the_frozen_agent_carries_the_smaller_icu_data(frozen: Path) -> None:
    """The spec swaps in installers/pyinstaller/icu_data.py's library (its behaviour under
    Qt is tested in test_icu_data.py); the wheel's original is 32 MB."""
    (bundled,) = [p for p in frozen.parent.rglob("libicudata.so.*") if not p.is_symlink()]
    original = Path(PySide6.__file__).parent / "Qt" / "lib" / bundled.name
    assert bundled.stat().st_size < original.stat().st_size * 0.45


def test_the_frozen_agent_hooks_x11_and_starts_its_ui(
    frozen: Path, xserver: XServer, tmp_path: Path
) -> None:
    env = {"DISPLAY": xserver.display, "WAYMARK_DATA_DIR": str(tmp_path / "data")}
    doctor = run(frozen, "doctor", "--json", env=env, cwd=tmp_path)
    assert doctor.returncode == 0, doctor.stderr
    sources = {s["name"]: s for s in json.loads(doctor.stdout)["sources"]}
    for name in ("input", "focus", "idle", "quiet"):
        assert sources[name]["ok"], sources[name]
    started = subprocess.Popen(
        [str(frozen), "run"], env={**os.environ, **env}, cwd=tmp_path,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert started.stdout is not None
        first = started.stdout.readline()
        assert "coaching with pack waymark-default" in first, first
    finally:
        started.terminate()
        out, _ = started.communicate(timeout=30)
    assert "Traceback" not in out, out


def test_the_frozen_agent_syncs_with_its_secret_in_gnome_keyring(
    frozen: Path, secret_service: dict[str, str], tmp_path: Path
) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'server.db'}")
    token = store.add_enroll_token(store.create_tenant("acme"))
    with running_server(store, ServerSettings()) as srv:
        policy = tmp_path / "policy.json"
        settings = {"server_url": srv.url, "enroll_token": token, "telemetry_mode": "org-notice"}
        policy.write_text(json.dumps(settings))
        env = {**secret_service, "WAYMARK_DATA_DIR": str(tmp_path / "data"),
               "WAYMARK_POLICY_FILE": str(policy)}  # fmt: skip
        done = run(frozen, "sync", "--json", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["device_id"]
    store.engine.dispose()
