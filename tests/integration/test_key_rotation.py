"""Rotating a publisher key with overlap, on the server and in a running agent's policy.

The wired agent follows its policy file (no restart): while the old and the
new key are both pinned, bundles signed by either are run; once the old key
is removed from policy, a bundle it signed is refused and the running pack
kept; once it is revoked on the server, the server refuses its uploads too.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.app import AgentCore, AgentOptions
from agent.rules.bundle import key_id, make_bundle, public_key_text
from agent.sync.worker import SyncWorker
from devtools.live_server import RunningServer, running_server
from devtools.waiting import wait_for
from server.cli import open_store
from server.settings import ServerSettings
from server.store import Store
from tests.fakes import MemoryCredentials

PACK = """\
waymark: 1
id: rotation-pack
version: {version}
title: Rotation
apps:
  editor: {{linux: [gedit]}}
rules:
  - id: paste
    when: {{event: chord, app: editor, chord: ctrl+v}}
    toast: {{title: {{en: Paste plain}}}}
"""


def bundle(version: int, key: Ed25519PrivateKey) -> bytes:
    return make_bundle(
        pack_source=PACK.format(version=version), pack_id="rotation-pack", version=version,
        private_key=key, created=datetime.now(UTC), expires_in=timedelta(days=30),
    )  # fmt: skip


def pin(path: Path, base: dict[str, Any], *keys: Ed25519PrivateKey) -> None:
    """Write the policy file at once (as an admin's tool does) with these keys pinned."""
    doc = {**base, "publisher_keys": [public_key_text(k.public_key()) for k in keys]}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc), encoding="utf-8")
    tmp.replace(path)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[Store, RunningServer]]:
    store = open_store(f"sqlite:///{tmp_path / 'server.db'}")
    with running_server(store, ServerSettings(rate_per_second=1000, rate_burst=1000)) as srv:
        yield store, srv
    store.engine.dispose()


@pytest.mark.allow_log("the server's pack was refused \\(unknown_key\\)")
def test_a_key_rotated_with_overlap_reaches_a_running_agent_without_a_restart(
    tmp_path: Path,
    server: tuple[Store, RunningServer],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store, srv = server
    tenant = store.create_tenant("acme")
    old, new = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    store.add_publisher_key(tenant, public_key_text(old.public_key()))
    publisher = {"Authorization": f"Bearer {store.add_admin_token(tenant, 'publisher')}"}

    def publish(data: bytes) -> httpx.Response:
        return httpx.post(srv.url + "/v1/admin/bundles", content=data, headers=publisher)

    # The worker checks for a new pack every 15 minutes; here, at every round.
    original = SyncWorker.__init__

    def often(self: SyncWorker, **kwargs: Any) -> None:
        original(self, **{**kwargs, "pack_every": 0.1})

    monkeypatch.setattr(SyncWorker, "__init__", often)
    policy_file = tmp_path / "policy.json"
    monkeypatch.setenv("WAYMARK_POLICY_FILE", str(policy_file))
    base = {"server_url": srv.url, "enroll_token": store.add_enroll_token(tenant),
            "telemetry_mode": "org-notice"}  # fmt: skip
    pin(policy_file, base, old)
    assert publish(bundle(1, old)).status_code == 201
    core = AgentCore(AgentOptions(data_dir=tmp_path / "data", hooks=False, watch_every=0.05,
                                  sync_every=0.1, credentials=MemoryCredentials()))  # fmt: skip
    core.start()
    try:
        wait_for(lambda: core.pack_info() == ("rotation-pack", 1), 15, "v1 from the old key")
        # The rotation starts: the server and the policy trust both keys.
        store.add_publisher_key(tenant, public_key_text(new.public_key()))
        pin(policy_file, base, old, new)
        assert publish(bundle(2, new)).status_code == 201
        wait_for(lambda: core.pack_info() == ("rotation-pack", 2), 15, "v2 from the new key")
        assert publish(bundle(3, old)).status_code == 201  # the old key still works meanwhile
        wait_for(lambda: core.pack_info() == ("rotation-pack", 3), 15, "v3 from the old key")
        # The old key leaves the policy: a bundle it signs is refused, the running pack kept.
        pin(policy_file, base, new)
        wait_for(lambda: core.settings.get("publisher_keys") == [public_key_text(new.public_key())],
                 10, "the policy without the old key")  # fmt: skip
        assert publish(bundle(4, old)).status_code == 201  # the server has not revoked it yet

        def refused() -> bool:
            status = core.sync_status()
            return status is not None and "not pinned here" in str(status.last_error)

        wait_for(refused, 15, "the agent to refuse the old key's bundle")
        assert core.pack_info() == ("rotation-pack", 3)
        assert publish(bundle(5, new)).status_code == 201
        wait_for(lambda: core.pack_info() == ("rotation-pack", 5), 15, "v5 from the new key")
    finally:
        core.stop()
    # The server revokes the old key: its uploads are refused from now on.
    store.credentials.revoke_publisher_key(tenant, key_id(old.public_key()), actor="cli")
    refused_upload = publish(bundle(6, old))
    assert refused_upload.status_code == 400 and refused_upload.json()["error"] == "key_revoked"
    assert publish(bundle(6, new)).status_code == 201
