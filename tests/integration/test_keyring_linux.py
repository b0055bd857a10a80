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

from agent.app import local_device_id
from agent.sync.credentials import SERVICE, credential_account, enrollment_fingerprint
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
        # This data folder's entry: server, tenant enrollment, the folder's own device id.
        account = credential_account(srv.url, enrollment_fingerprint(token),
                                     local_device_id(data_dir))  # fmt: skip
        stored = python_in(
            env, f"import keyring; print(keyring.get_password({SERVICE!r}, {account!r}))"
        )
    assert devices[0] and devices[0] == devices[1]  # enrolled once, then reused
    assert json.loads(stored.stdout)["device_id"] == devices[0]
    secret = json.loads(stored.stdout)["secret"]
    assert secret.startswith("wmd_")
    for path in data_dir.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
    store.engine.dispose()


def test_two_data_folders_on_one_account_enroll_as_two_devices(
    secret_service: dict[str, str], tmp_path: Path
) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'server.db'}")
    tenant = store.create_tenant("acme")
    token = store.add_enroll_token(tenant)
    with running_server(store, ServerSettings(rate_per_second=100)) as srv:
        policy = tmp_path / "policy.json"
        policy.write_text(json.dumps({"server_url": srv.url, "enroll_token": token}))
        devices = []
        for folder in ("first", "second", "first"):
            env = {**secret_service, "WAYMARK_DATA_DIR": str(tmp_path / folder),
                   "WAYMARK_POLICY_FILE": str(policy)}  # fmt: skip
            done = subprocess.run(
                [sys.executable, "-m", "agent", "sync", "--json"],
                env=env, capture_output=True, text=True, timeout=60, cwd=ROOT,
            )  # fmt: skip
            assert done.returncode == 0, done.stderr + done.stdout
            devices.append(json.loads(done.stdout)["device_id"])
        # `waymark doctor` names the device of the data folder it looks at.
        seen = {}
        for folder in ("first", "second", "never-ran"):
            env = {**secret_service, "WAYMARK_DATA_DIR": str(tmp_path / folder),
                   "WAYMARK_POLICY_FILE": str(policy)}  # fmt: skip
            done = subprocess.run(
                [sys.executable, "-m", "agent", "doctor", "--json"],
                env=env, capture_output=True, text=True, timeout=60, cwd=ROOT,
            )  # fmt: skip
            seen[folder] = json.loads(done.stdout)["sync"]
    assert devices[0] != devices[1]  # one device per data folder
    assert devices[2] == devices[0]  # and each keeps its own
    assert seen["first"]["device_id"] == devices[0]
    assert seen["second"]["device_id"] == devices[1]
    assert seen["never-ran"]["device_id"] is None
    assert "not enrolled yet" in seen["never-ran"]["summary"]
    store.engine.dispose()
