"""The agent against the real server's enrollment protections (issue 14 §1).

A data folder enrolls with its installation id, so losing the keyring entry
and enrolling again renews the same device; a device waiting for approval
keeps its records, backs off instead of spinning, and `waymark sync` and
`waymark doctor` say it is waiting.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import httpx
import pytest

from agent.app import build_sync_worker
from agent.rules.records import Record
from agent.sync.client import PENDING_RETRY, WAITING_FOR_APPROVAL, SyncError
from agent.sync.outbox import Outbox
from agent.sync.worker import backoff_delay
from devtools.live_server import running_server
from server import cli
from server.enrollment import Enrollment
from server.settings import ServerSettings
from tests.fakes import MemoryCredentials
from tests.integration.test_sync import Backend, agent, backend, policy, waymark_json

__all__ = ["backend"]  # the fixture, shared with test_sync.py


def _waymark(command: str, data_dir: Path, policy_file: Path) -> tuple[int, dict[str, object], str]:
    # Each run starts with an empty keyring: it has lost the device secret.
    return waymark_json(command, data_dir, policy_file, "tests.fakes.MemoryKeyring")


def test_enrolling_again_from_the_same_data_folder_renews_the_same_device(
    backend: Backend, data_dir: Path, tmp_path: Path
) -> None:
    policy_file = tmp_path / "policy.json"
    with running_server(backend.store, ServerSettings(rate_per_second=100)) as srv:
        policy_file.write_text(json.dumps(dict(policy(backend, srv.url).values)))
        ids = []
        for _ in range(3):
            code, report, err = _waymark("sync", data_dir, policy_file)
            assert code == 0, err
            ids.append(report["device_id"])
        # Another data folder (another user or profile) is another device.
        code, other, err = _waymark("sync", tmp_path / "other-user", policy_file)
        assert code == 0, err
    assert ids[0] and ids == [ids[0]] * 3 and other["device_id"] != ids[0]
    assert backend.devices() == 2
    (token,) = Enrollment(backend.store).tokens(backend.tenant)
    assert token.uses == 2  # renewals spend no use of the token


def test_a_device_waiting_for_approval_keeps_its_records_and_says_so(
    backend: Backend, data_dir: Path, tmp_path: Path
) -> None:
    db = backend.store.engine.url.render_as_string(hide_password=False)
    assert cli.main(["tenant", "approval", "acme", "manual", "--db", db]) == 0
    box = Outbox(data_dir / "outbox.db")
    for kind in ("shown", "acted"):
        box.append(Record(time.time() - 30, kind, "test-pack", 1, rule="paste-plain"))
    box.close()
    policy_file = tmp_path / "policy.json"
    with running_server(backend.store, ServerSettings(rate_per_second=100)) as srv:
        policy_file.write_text(json.dumps(dict(policy(backend, srv.url).values)))
        code, report, err = _waymark("sync", data_dir, policy_file)
        assert code == 1, err
        assert report["error"] == WAITING_FOR_APPROVAL and report["pending"] == 2
        assert report["device_id"] and backend.events() == 0
        code, doctor, err = _waymark("doctor", data_dir, policy_file)
        sync = doctor["sync"]
        assert isinstance(sync, dict) and sync["waiting_for_approval"] is True, doctor
        assert "waiting for approval" in str(sync["summary"])
        (pending,) = Enrollment(backend.store).pending(backend.tenant)
        assert pending.id == report["device_id"]
        assert Enrollment(backend.store).approve(backend.tenant, [pending.id]) == 1
        code, report, err = _waymark("sync", data_dir, policy_file)
        assert code == 0 and report["sent"] == 2 and report["error"] is None, err
        code, doctor, err = _waymark("doctor", data_dir, policy_file)
        assert "waiting_for_approval" not in doctor["sync"]  # type: ignore[operator]
    assert backend.events() == 2


def test_a_waiting_agent_backs_off_for_long_and_still_gets_its_pack(
    backend: Backend, data_dir: Path
) -> None:
    Enrollment(backend.store).set_approval(backend.tenant, "manual", None)
    creds = MemoryCredentials()
    settings = ServerSettings(rate_per_second=100, metrics_token="wmm_enroll-agent-test")
    with running_server(backend.store, settings) as srv:
        published = httpx.post(
            srv.url + "/v1/admin/bundles",
            content=backend.bundle(2),
            headers={"Authorization": f"Bearer {backend.publisher_token}"},
        )
        assert published.status_code == 201, published.text
        core = agent(data_dir, policy(backend, srv.url), creds, backend.pack_file)
        try:
            core.outbox.append(
                Record(time.time() - 30, "shown", "test-pack", 1, rule="paste-plain")
            )
            worker = build_sync_worker(
                srv.url, settings=core.settings, outbox=core.outbox, data_dir=data_dir,
                platform=sys.platform, on_pack=None, credentials=creds,
            )  # fmt: skip
            with pytest.raises(SyncError) as caught:
                worker.run_once()
            worker.stop()
            kept = core.outbox.count_pending()
        finally:
            core.stop()
        events_403 = [
            line
            for line in httpx.get(
                srv.url + "/metrics", headers={"Authorization": "Bearer wmm_enroll-agent-test"}
            ).text.splitlines()
            if 'route="/v1/events"' in line and 'status="403"' in line and "_total" in line
        ]
    assert caught.value.kind == "pending" and str(caught.value) == WAITING_FOR_APPROVAL
    # The next try waits at least PENDING_RETRY (15 min), whatever the failure count.
    retry = caught.value.retry_after
    assert retry is not None and retry >= PENDING_RETRY >= 900
    assert min(backoff_delay(1, retry, rng=lambda: 0.0) for _ in range(3)) >= PENDING_RETRY
    # The round went on to the pack: coaching is up to date while the device waits.
    assert worker.status().pack == "test-pack v2"
    assert kept == 1 and backend.events() == 0
    assert len(events_403) == 1 and events_403[0].endswith(" 1"), events_403
