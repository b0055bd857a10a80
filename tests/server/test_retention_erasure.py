"""Retention and erasure: raw events go after the period, a device can be erased entirely.

Rollups stay and the report does not move when raw events go; an idle
device's exposures go but stay in the cohort counts (without its id), so a
closed cohort's lift does not change; an erased device is gone from every table (and, on SQLite,
from the files, -wal included), and the audit log says so without naming it.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text

from agent.rules.records import RecordKind
from devtools.waiting import wait_for
from server import cli
from server import schema as s
from server.app import create_app
from server.days import LocalDays
from server.ingest import CheckedEvent
from server.reports import build_report
from server.settings import ServerSettings
from server.store import Device, Store
from tests.helpers.canary import places_with
from tests.server.conftest import Tenant, auth, enroll

NOW = time.time()
OLD = NOW - 50 * 86400  # past the 35-day retention period


def checked(kind: RecordKind, t: float, reason: str | None = None) -> CheckedEvent:
    return CheckedEvent(
        uuid=str(uuid.uuid4()), t=t, kind=kind, pack_id="p", pack_version=1,
        rule=None if kind == "adopted" else "r", habit="links", reason=reason, action=None,
        app=None, day=LocalDays().day(t),
    )  # fmt: skip


def count(store: Store, table: Any, *where: Any) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def fill(store: Store, tenant: Tenant, t: float, devices: int = 24) -> list[Device]:
    """Half held out, half nudged; a third of each adopted within a day."""
    fleet = [store.enroll_device(tenant.id, ["sales"], "linux", "0.1.0")[0] for _ in range(devices)]
    for i, d in enumerate(fleet):
        first = checked("suppressed", t, "holdout") if i % 2 else checked("shown", t)
        later = [checked("adopted", t + 3600)] if i % 3 == 0 else []
        store.insert_events(d, [first, checked("acted", t + 60), *later])
    return fleet


def strip_volatile(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k != "versions"}


def test_retention_deletes_old_raw_events_and_keeps_the_report(store: Store, acme: Tenant) -> None:
    # Devices that sent their events 50 days ago and nothing since, and active ones.
    fill(Store(store.engine, clock=lambda: OLD), acme, OLD)
    fill(store, acme, NOW - 3600)
    since = LocalDays().date_of(OLD)
    before = build_report(store, acme.id, since, None, None)
    assert before["adoption"][0]["treatment"]["devices"] == 12
    done = store.purge(35)
    assert done.events == 56  # 24 devices × (trigger + acted) + 8 adoptions
    assert count(store, s.events) == 56
    assert count(store, s.events, s.events.c.t < NOW - 35 * 86400) == 0
    cutoff = LocalDays().day(NOW - 35 * 86400)
    assert count(store, s.device_days, s.device_days.c.day < cutoff) == 0
    # The idle devices' exposures are gone; the cohort counts keep them without ids.
    assert done.exposures == 24
    assert count(store, s.exposures) == 24 and count(store, s.cohort_counts) > 0
    after = build_report(store, acme.id, since, None, None)
    assert strip_volatile(after) == strip_volatile(before)
    (entry,) = store.audit_entries(acme.id)
    assert entry["action"] == "retention" and entry["events"] == 56
    assert store.purge(35) == type(done)(0, 0)  # nothing left to do, nothing logged
    assert len(store.audit_entries(acme.id)) == 1


def test_the_server_runs_retention_itself(tmp_path: Path) -> None:
    store = cli.open_store(f"sqlite:///{tmp_path / 'server.db'}")
    tenant = store.create_tenant("acme")
    device = store.enroll_device(tenant, [], "linux", "0.1.0")[0]
    store.insert_events(device, [checked("shown", OLD), checked("shown", NOW - 60)])
    app = create_app(store, ServerSettings(retain_days=35, purge_every=3600))

    async def serve_a_while() -> None:
        # The app's lifespan starts the job, whose first run is at start.
        async with app.router.lifespan_context(app):
            runs = app.state.parts.retention
            await asyncio.to_thread(wait_for, lambda: runs.runs >= 1, 20, "a retention run")

    asyncio.run(serve_a_while())
    assert count(store, s.events) == 1
    store.engine.dispose()


def test_erasing_a_device_deletes_its_rows_and_takes_it_out_of_the_rollups(
    store: Store, acme: Tenant
) -> None:
    fleet = fill(store, acme, NOW - 3600, devices=20)
    gone = fleet[0]  # shown a toast, acted, adopted
    (before,) = [d for d in build_report(store, acme.id, None, None, None)["days"] if d["rule"]]
    assert before["shown"] == 10 and before["acted"] == 20
    done = store.erase_device(gone.id, acme.id, actor="test")
    assert (done.device_found, done.events, done.exposures) == (True, 3, 1)
    for table, column in (
        (s.events, s.events.c.device_id), (s.exposures, s.exposures.c.device_id),
        (s.device_days, s.device_days.c.device_id), (s.devices, s.devices.c.id),
    ):  # fmt: skip
        assert count(store, table, column == gone.id) == 0
    (after,) = [d for d in build_report(store, acme.id, None, None, None)["days"] if d["rule"]]
    # 19 devices acted: still shown; 9 were shown a toast: now withheld.
    assert after["acted"] == 19 and after["shown"] is None
    with store.engine.connect() as conn:
        audit = conn.execute(select(s.audit_log)).all()
        everything = " ".join(
            repr(row) for table in s.metadata.sorted_tables for row in conn.execute(select(table))
        )
    assert len(audit) == 1 and gone.id not in everything
    with store.engine.connect() as conn:
        counted = conn.execute(select(func.sum(s.cohort_counts.c.devices))).scalar_one()
    assert counted == 19  # the erased device is out of the lift's counts too
    assert store.erase_device(gone.id, acme.id, actor="test").device_found is False


def test_an_erased_device_is_gone_from_the_sqlite_files_too(tmp_path: Path) -> None:
    folder = tmp_path / "server"
    folder.mkdir()
    store = cli.open_store(f"sqlite:///{folder / 'server.db'}")
    tenant = store.create_tenant("acme")
    device = store.enroll_device(tenant, ["sales"], "linux", "0.1.0")[0]
    store.insert_events(device, [checked("shown", NOW - 60), checked("adopted", NOW - 30)])
    # The check can fail: before the erasure it finds the device in rows and in the files.
    assert any(p.endswith("(rows)") for p in places_with(folder, [device.id]))
    store.erase_device(device.id, None, actor="test")
    assert places_with(folder, [device.id]) == []
    store.engine.dispose()


def test_the_cli_erases_a_device_and_logs_it_without_its_id(
    db_url: str, store: Store, acme: Tenant, capsys: pytest.CaptureFixture[str]
) -> None:
    device = fill(store, acme, NOW - 3600, devices=1)[0]
    assert cli.main(["device", "erase", device.id, "--db", db_url]) == 0
    assert "erased: 3 raw event(s), 1 exposure(s)" in capsys.readouterr().out
    assert cli.main(["device", "erase", device.id, "--db", db_url]) == 2
    (entry,) = store.audit_entries(acme.id)
    assert entry["action"] == "device_erased" and entry["actor"] == "cli"
    assert device.id not in json.dumps(entry)


def test_the_admin_api_erases_a_device_of_its_own_tenant_only(
    client: httpx.Client, store: Store, acme: Tenant, globex: Tenant
) -> None:
    secret = enroll(client, acme)
    device = store.device(secret)
    assert device is not None
    path = f"/v1/admin/devices/{device.id}"
    assert client.delete(path, headers=auth(acme.analyst_token)).status_code == 403
    assert client.delete(path, headers=auth(globex.publisher_token)).status_code == 404
    assert (
        client.delete("/v1/admin/devices/not-an-id", headers=auth(acme.publisher_token)).status_code
        == 422
    )
    r = client.delete(path, headers=auth(acme.publisher_token))
    assert r.status_code == 200 and r.json()["erased"] is True
    # Its secret no longer works: the agent would enroll again as a new device.
    r = client.post("/v1/events", json={"events": []}, headers=auth(secret))
    assert r.status_code == 401


def test_events_older_than_the_retention_period_are_refused_as_too_old(
    client: httpx.Client, acme: Tenant
) -> None:
    secret = enroll(client, acme)
    old = {"uuid": str(uuid.uuid4()), "t": OLD, "kind": "shown", "pack_id": "p", "pack_version": 1}
    r = client.post("/v1/events", json={"events": [old]}, headers=auth(secret))
    assert r.json()["results"][0]["status"] == "rejected:too_old"


def test_a_sqlite_database_keeps_no_deleted_rows_in_free_pages(tmp_path: Path) -> None:
    # A SQLite setting, so a SQLite database of its own rather than the store fixture.
    sqlite_store = cli.open_store(f"sqlite:///{tmp_path / 'server.db'}")
    try:
        with sqlite_store.engine.connect() as conn:
            assert conn.execute(text("PRAGMA secure_delete")).scalar() == 1
    finally:
        sqlite_store.engine.dispose()
