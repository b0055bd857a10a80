"""Tenancy isolation and the adoption report (every figure ≥ 10 devices)."""

from __future__ import annotations

import time
import uuid
from datetime import date
from typing import Any

import httpx
import pytest

from server.reports import HabitFact, adoption, build_report, newcombe_diff, wilson
from server.store import Store
from tests.server.conftest import Tenant, auth, enroll
from tests.server.test_packs import upload


def ev(kind: str, habit: str = "share-links", **fields: Any) -> dict[str, Any]:
    return {
        "uuid": str(uuid.uuid4()),
        "t": fields.pop("t", time.time() - 60),
        "kind": kind,
        "pack_id": "m365-habits",
        "pack_version": 1,
        "rule": fields.pop("rule", "share-link"),
        "habit": habit,
        **fields,
    }


def send(client: httpx.Client, secret: str, events: list[dict[str, Any]]) -> None:
    r = client.post("/v1/events", json={"events": events}, headers=auth(secret))
    assert r.status_code == 200 and r.json()["rejected"] == 0, r.text


def report(client: httpx.Client, token: str) -> dict[str, Any]:
    r = client.get("/v1/admin/reports", headers=auth(token))
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


# ---------------------------------------------------------------- tenancy


def test_one_tenant_cannot_touch_another_tenants_packs(
    client: httpx.Client, acme: Tenant, globex: Tenant
) -> None:
    assert upload(client, acme.publisher_token, acme.bundle(1)).status_code == 201
    # Globex's token names Acme's pack: nothing is found, nothing changes.
    g = auth(globex.publisher_token)
    assert client.get("/v1/admin/packs", headers=g).json() == []
    r = client.put("/v1/admin/packs/m365-habits/versions/1/rollout", json={"percent": 0}, headers=g)
    assert r.status_code == 404
    r = client.post("/v1/admin/packs/m365-habits/rollback", json={"to_version": 1}, headers=g)
    assert r.status_code == 404
    # Acme's bundle uploaded with Globex's token: signed by a key Globex does not trust.
    r = upload(client, globex.publisher_token, acme.bundle(2))
    assert r.json()["error"] == "unknown_key"
    # A Globex device gets no Acme pack.
    assert client.get("/v1/pack", headers=auth(enroll(client, globex))).status_code == 204
    acme_pack = client.get("/v1/admin/packs", headers=auth(acme.publisher_token)).json()
    assert [(b["version"], b["rollout"]) for b in acme_pack] == [(1, 100)]


def test_one_tenants_enrollment_token_enrolls_into_that_tenant_only(
    client: httpx.Client, acme: Tenant, globex: Tenant
) -> None:
    secrets = [enroll(client, acme) for _ in range(10)]
    for s in secrets:
        send(client, s, [ev("shown")])
    assert report(client, acme.analyst_token)["days"][0]["shown"] == 10
    assert report(client, globex.analyst_token)["days"] == []


def test_admin_endpoints_need_an_admin_token(client: httpx.Client, acme: Tenant) -> None:
    device = enroll(client, acme)
    for token in (None, "wma_wrong", device, acme.enroll_token):
        headers = auth(token) if token else {}
        assert client.get("/v1/admin/reports", headers=headers).status_code == 401
        assert client.get("/v1/admin/packs", headers=headers).status_code == 401


# ---------------------------------------------------------------- reports


def test_the_report_counts_each_figure_and_withholds_those_under_ten_devices(
    client: httpx.Client, acme: Tenant
) -> None:
    devices = [enroll(client, acme) for _ in range(12)]
    for i, s in enumerate(devices):
        batch = [ev("shown"), ev("shown"), ev("suppressed", reason="cooldown")]
        if i < 3:
            batch.append(ev("snoozed", action="snooze"))
        if i < 11:
            batch.append(ev("acted", action="how"))
        if i < 2:
            batch.append(ev("suppressed", reason="pack_gap"))
        send(client, s, batch)
    days = report(client, acme.analyst_token)["days"]
    assert len(days) == 1
    day = days[0]
    assert (day["habit"], day["rule"]) == ("share-links", "share-link")
    assert day["shown"] == 24 and day["acted"] == 11
    assert day["snoozed"] is None  # 3 devices: withheld
    assert day["dismissed"] == 0
    assert day["suppressed"] == {"cooldown": 12, "pack_gap": None}


def test_lift_compares_nudged_devices_with_the_holdout_with_an_interval(
    client: httpx.Client, acme: Tenant
) -> None:
    nudged = [enroll(client, acme) for _ in range(20)]
    holdout = [enroll(client, acme) for _ in range(10)]
    for i, s in enumerate(nudged):
        send(client, s, [ev("shown")] + ([ev("adopted", rule=None)] if i < 12 else []))
    for i, s in enumerate(holdout):
        send(client, s, [ev("suppressed", reason="holdout")] + ([ev("adopted")] if i < 2 else []))
    (entry,) = report(client, acme.publisher_token)["adoption"]
    assert entry["nudged_devices"] == 20 and entry["holdout_devices"] == 10
    assert entry["nudged_rate"] == 0.6 and entry["holdout_rate"] == 0.2
    assert entry["lift"] == pytest.approx(0.4)
    lo, hi = entry["lift_ci95"]
    assert 0 < lo < 0.4 < hi < 1
    assert entry["withheld"] is False


def test_lift_is_withheld_while_the_holdout_is_under_ten_devices(
    client: httpx.Client, acme: Tenant
) -> None:
    for s in [enroll(client, acme) for _ in range(10)]:
        send(client, s, [ev("shown"), ev("adopted")])
    for s in [enroll(client, acme) for _ in range(9)]:
        send(client, s, [ev("suppressed", reason="holdout")])
    (entry,) = report(client, acme.analyst_token)["adoption"]
    assert entry["holdout_devices"] is None and entry["lift"] is None and entry["withheld"]
    assert entry["nudged_rate"] == 1.0


def test_a_report_without_dates_covers_the_thirty_days_up_to_today(
    store: Store, acme: Tenant
) -> None:
    doc = build_report(store, acme.id, None, None, None, today=date(2026, 11, 30))
    assert (doc["since"], doc["until"], doc["min_devices"]) == ("2026-11-01", "2026-11-30", 10)
    assert (doc["days"], doc["adoption"]) == ([], [])
    doc = build_report(store, acme.id, date(2026, 11, 20), None, "p", today=date(2026, 11, 30))
    assert (doc["since"], doc["until"], doc["pack_id"]) == ("2026-11-20", "2026-11-30", "p")


def test_wilson_and_newcombe_intervals_match_published_values() -> None:
    # Newcombe (1998), table II example: 56/70 vs 48/80 → difference 0.2, CI 0.0524–0.3339.
    d, lo, hi = newcombe_diff(56, 70, 48, 80)
    assert d == pytest.approx(0.2)
    assert lo == pytest.approx(0.0524, abs=1e-4)
    assert hi == pytest.approx(0.3339, abs=1e-4)
    assert wilson(0, 10)[0] == 0.0


def test_only_adoption_at_or_after_the_first_nudge_or_holdout_counts() -> None:
    def fact(device: str, kind: str, first: float, last: float | None = None) -> HabitFact:
        reason = "holdout" if kind == "suppressed" else None
        return HabitFact("links", kind, reason, device, first, first if last is None else last)

    facts = [fact(f"n{i}", "shown", 100.0) for i in range(10)]
    facts += [fact(f"n{i}", "adopted", 20.0, 50.0) for i in range(5)]  # had it already
    facts += [fact(f"n{i}", "adopted", 40.0, 150.0) for i in range(5, 8)]  # after the toast
    facts += [fact(f"h{i}", "suppressed", 100.0, 300.0) for i in range(10)]
    facts += [fact(f"h{i}", "adopted", 90.0) for i in range(4)]  # before the comparison
    facts += [fact(f"h{i}", "adopted", 100.0) for i in range(4, 6)]  # the same second counts
    (entry,) = adoption(facts)
    assert (entry["nudged_rate"], entry["holdout_rate"]) == (0.3, 0.2)
    assert entry["lift"] == pytest.approx(0.1)
