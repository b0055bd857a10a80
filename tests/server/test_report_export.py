"""Export: ``GET /v1/admin/reports.csv`` and ``waymark-server report``, with the same floor."""

from __future__ import annotations

import csv
import io
import json
import time
import uuid

import httpx
import pytest

from server import cli
from server.days import LocalDays
from server.ingest import CheckedEvent
from server.store import Store
from tests.server.conftest import Tenant, auth

NOW = time.time()


def fill(store: Store, tenant: Tenant) -> None:
    """12 devices shown a toast in sales, 4 snoozed it: snoozed is withheld."""
    for i in range(12):
        device = store.enroll_device(tenant.id, ["sales"], "linux", "0.1.0")[0]
        kinds = ["shown", "snoozed"] if i < 4 else ["shown"]
        store.insert_events(
            device,
            [
                CheckedEvent(
                    uuid=str(uuid.uuid4()), t=NOW - 60, kind=k, pack_id="p", pack_version=1,  # type: ignore[arg-type]
                    rule="r", habit="h", reason=None, action=None, app=None,
                    day=LocalDays().day(NOW - 60),
                )
                for k in kinds
            ],
        )  # fmt: skip


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_the_csv_export_has_the_figures_of_the_report_and_withholds_the_same(
    client: httpx.Client, store: Store, acme: Tenant
) -> None:
    fill(store, acme)
    r = client.get("/v1/admin/reports.csv", headers=auth(acme.analyst_token))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    daily = {row["figure"]: row for row in rows(r.text) if row["section"] == "daily"}
    assert daily["shown"]["value"] == "12" and daily["shown"]["note"] == ""
    assert daily["snoozed"]["value"] == "" and daily["snoozed"]["note"] == "withheld"
    doc = client.get("/v1/admin/reports", headers=auth(acme.analyst_token)).json()
    assert doc["days"][0]["shown"] == 12 and doc["days"][0]["snoozed"] is None
    r = client.get(
        "/v1/admin/reports.csv", params={"group": "it"}, headers=auth(acme.analyst_token)
    )
    assert [row for row in rows(r.text) if row["section"] == "daily"] == []
    assert client.get("/v1/admin/reports.csv").status_code == 401


def test_the_report_command_writes_csv_or_json(
    db_url: str, store: Store, acme: Tenant, capsys: pytest.CaptureFixture[str]
) -> None:
    fill(store, acme)
    assert cli.main(["report", "acme", "--format", "csv", "--db", db_url]) == 0
    out = rows(capsys.readouterr().out)
    assert {"shown", "snoozed"} <= {row["figure"] for row in out}
    assert cli.main(["report", "acme", "--group", "sales", "--db", db_url]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["group"] == "sales" and doc["days"][0]["shown"] == 12
    assert cli.main(["report", "acme", "--since", "2026-12-02", "--until", "2026-12-01",
                     "--db", db_url]) == 2  # fmt: skip
    assert "swap them" in capsys.readouterr().err


def test_a_tenant_time_zone_is_set_by_name(
    db_url: str, store: Store, acme: Tenant, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["tenant", "set-timezone", "acme", "Europe/Rome", "--db", db_url]) == 0
    assert store.local_days(acme.id).zone_name == "Europe/Rome"
    assert cli.main(["tenant", "set-timezone", "acme", "Mars/Olympus", "--db", db_url]) == 2
    assert "unknown time zone" in capsys.readouterr().err
