"""Tenancy isolation and the adoption report over HTTP (every figure ≥ 10 devices)."""

from __future__ import annotations

import time
import uuid
from datetime import date
from typing import Any

import httpx
import pytest

from server.lift import newcombe_diff, wilson
from server.reports import build_report
from server.store import Store
from tests.server.conftest import Tenant, auth, enroll
from tests.server.test_packs import upload

#: When the lift's tests happen: a cohort week whose 14-day window has ended.
WEEKS_AGO = time.time() - 27 * 86400


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


def report(client: httpx.Client, token: str, **params: str | int) -> dict[str, Any]:
    r = client.get("/v1/admin/reports", headers=auth(token), params=params)
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


def test_the_lift_compares_the_arms_by_intention_to_treat_with_intervals(
    client: httpx.Client, acme: Tenant
) -> None:
    t = WEEKS_AGO
    treated = [enroll(client, acme) for _ in range(20)]
    holdout = [enroll(client, acme) for _ in range(10)]
    for i, s in enumerate(treated):
        # Four of them paused coaching: never shown a toast, still in the treatment arm.
        first = ev("suppressed", reason="paused", t=t) if i < 4 else ev("shown", t=t)
        adopted = [ev("adopted", rule=None, t=t + 3600)] if 4 <= i < 16 else []
        send(client, s, [first, *adopted])
    for i, s in enumerate(holdout):
        adopted = [ev("adopted", rule=None, t=t + 7200)] if i < 2 else []
        send(client, s, [ev("suppressed", reason="holdout", t=t), *adopted])
    (entry,) = report(client, acme.publisher_token)["adoption"]
    treatment, held = entry["treatment"], entry["holdout"]
    assert (treatment["devices"], treatment["adopted"], treatment["rate"]) == (20, 12, 0.6)
    assert (held["devices"], held["adopted"], held["rate"]) == (10, 2, 0.2)
    assert treatment["shown"] == 16 and treatment["exposure"] == 0.8
    lo, hi = treatment["rate_ci95"]
    assert lo < 0.6 < hi
    assert entry["lift"] == pytest.approx(0.4)
    lo, hi = entry["lift_ci95"]
    assert 0 < lo < 0.4 < hi < 1
    assert entry["significant"] is True and entry["withheld"] is False
    assert entry["verdict"].startswith("Nudges raised adoption by ")
    assert entry["window_days"] == 14 and entry["cohorts"]["weeks"] == 1


def test_adoption_counts_only_within_the_window_after_the_first_trigger(
    client: httpx.Client, acme: Tenant
) -> None:
    t = WEEKS_AGO
    for i, s in enumerate(enroll(client, acme) for _ in range(12)):
        when = {0: t - 60, 1: t, 2: t + 13 * 86400, 3: t + 14 * 86400}.get(i)
        adopted = [ev("adopted", rule=None, t=when)] if when is not None else []
        send(client, s, [ev("shown", t=t), *adopted])
    for s in [enroll(client, acme) for _ in range(10)]:
        send(client, s, [ev("suppressed", reason="holdout", t=t)])
    (entry,) = report(client, acme.analyst_token)["adoption"]
    # Before the trigger: no; at it and 13 days later: yes; 14 days later: outside.
    assert entry["treatment"]["adopted"] == 2
    (wider,) = report(client, acme.analyst_token, window_days=15)["adoption"]
    assert wider["treatment"]["adopted"] == 3


def test_the_first_trigger_decides_the_arm(client: httpx.Client, acme: Tenant) -> None:
    t = WEEKS_AGO
    for s in [enroll(client, acme) for _ in range(10)]:
        # Held out first, shown later (an old agent bucketing per rule): the holdout arm.
        send(client, s, [ev("suppressed", reason="holdout", t=t), ev("shown", t=t + 60)])
    for s in [enroll(client, acme) for _ in range(10)]:
        # Outside the audience first: no arm yet; then shown: the treatment arm from then.
        later = ev("shown", t=t + 60, rule="other-rule")
        send(client, s, [ev("suppressed", reason="audience", t=t), later])
    (entry,) = report(client, acme.analyst_token)["adoption"]
    assert entry["holdout"]["devices"] == 10 and entry["holdout"]["shown"] == 10
    assert entry["treatment"]["devices"] == 10


def test_the_lift_is_withheld_while_an_arm_is_under_ten_devices(
    client: httpx.Client, acme: Tenant
) -> None:
    t = WEEKS_AGO
    for s in [enroll(client, acme) for _ in range(10)]:
        send(client, s, [ev("shown", t=t), ev("adopted", t=t + 1)])
    for s in [enroll(client, acme) for _ in range(9)]:
        send(client, s, [ev("suppressed", reason="holdout", t=t)])
    (entry,) = report(client, acme.analyst_token)["adoption"]
    assert entry["withheld"] is True
    assert entry["treatment"] is None and entry["holdout"] is None and entry["lift"] is None
    assert entry["verdict"].startswith("Not enough devices yet")


def test_a_cohort_counts_once_its_window_has_ended(client: httpx.Client, acme: Tenant) -> None:
    recent = time.time() - 3 * 86400
    for s in [enroll(client, acme) for _ in range(12)]:
        send(client, s, [ev("shown", t=recent)])
    for s in [enroll(client, acme) for _ in range(10)]:
        send(client, s, [ev("suppressed", reason="holdout", t=recent)])
    (entry,) = report(client, acme.analyst_token)["adoption"]
    assert entry["withheld"] is True and entry["cohorts"]["weeks"] == 0
    assert entry["in_window"] == {"treatment": 12, "holdout": 10}


def test_a_report_without_dates_covers_the_thirteen_weeks_up_to_today(
    store: Store, acme: Tenant
) -> None:
    now = 1796040000.0  # 2026-12-01 in UTC
    doc = build_report(store, acme.id, None, None, None, now=now)
    assert (doc["since"], doc["until"], doc["min_devices"]) == ("2026-09-01", "2026-11-30", 10)
    assert (doc["days"], doc["adoption"], doc["time_zone"]) == ([], [], "UTC")
    doc = build_report(store, acme.id, date(2026, 11, 20), None, "p", now=now)
    assert (doc["since"], doc["until"], doc["pack_id"]) == ("2026-11-20", "2026-11-30", "p")


def test_a_range_that_ends_before_it_starts_is_a_400_not_a_500(
    client: httpx.Client, acme: Tenant
) -> None:
    r = client.get(
        "/v1/admin/reports",
        params={"since": "2026-11-30", "until": "2026-11-01"},
        headers=auth(acme.analyst_token),
    )
    assert r.status_code == 400 and r.json()["error"] == "bad_range"
    r = client.get("/v1/admin/reports", params={"window_days": 0}, headers=auth(acme.analyst_token))
    assert r.status_code == 422


def test_wilson_and_newcombe_intervals_match_published_values() -> None:
    # Newcombe (1998), table II example: 56/70 vs 48/80 → difference 0.2, CI 0.0524–0.3339.
    d, lo, hi = newcombe_diff(56, 70, 48, 80)
    assert d == pytest.approx(0.2)
    assert lo == pytest.approx(0.0524, abs=1e-4)
    assert hi == pytest.approx(0.3339, abs=1e-4)
    assert wilson(0, 10)[0] == 0.0


def test_the_lift_is_broken_down_by_group_with_the_floor_on_every_cell(
    client: httpx.Client, acme: Tenant
) -> None:
    t = WEEKS_AGO
    for groups, arm, n in ((["sales"], "shown", 14), (["sales"], "holdout", 12),
                           (["legal"], "shown", 6), (["legal"], "holdout", 5)):  # fmt: skip
        for i in range(n):
            s = enroll(client, acme, groups)
            first = ev("shown", t=t) if arm == "shown" else ev("suppressed", reason="holdout", t=t)
            send(client, s, [first, *([ev("adopted", rule=None, t=t + 60)] if i % 2 else [])])
    (entry,) = report(client, acme.analyst_token)["adoption"]
    by = {g["group"]: g for g in entry["by_group"]}
    assert by["sales"]["treatment"]["devices"] == 14 and by["sales"]["holdout"]["devices"] == 12
    assert by["legal"]["withheld"] is True and by["legal"]["treatment"] is None
    # Everyone: sales, plus legal's 11 devices only together (5 held out: short of 10).
    assert entry["treatment"]["devices"] == 14 and entry["holdout"]["devices"] == 12
    (filtered,) = report(client, acme.analyst_token, group="sales")["adoption"]
    assert filtered["lift"] == by["sales"]["lift"] and filtered["by_group"] == []
