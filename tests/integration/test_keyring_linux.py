"""The device secret in a real Secret Service: GNOME Keyring on a private D-Bus session.

`waymark sync` runs as its own process with keyring's automatic backend
choice (no override), enrolls with the real server, keeps the secret in GNOME
Keyring, and the second run reuses it instead of enrolling again.  Nothing in
the data folder holds the secret.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from agent.sync.credentials import SERVICE
from devtools.live_server import running_server
from server.cli import open_store
from server.settings import ServerSettings
from tests.secret_service import python_in

ROOT = Path(__file__).resolve().parents[2]


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
        stored = python_in(
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
