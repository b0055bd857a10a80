"""Issue 14 §1: the enrollment token in world-readable policy must not let an employee
flood a tenant with devices or make one person's counts recoverable.

Each test replays one part of the attack against the real server (SQLite and
PostgreSQL) and would pass the attacker on the code before the fix: there a
token enrolled without limit (1,000 devices in 3.1 s), every enrollment added
a device, and ten devices of one day reached the ≥ 10 floor.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from devtools.live_server import RunningServer, running_server
from server import cli
from server import schema as s
from server.enrollment import Enrollment
from server.settings import ServerSettings
from server.store import Store
from tests.server.conftest import METRICS_TOKEN, Tenant, auth, dashboard_sign_in

DAY = 86400.0
WEEKS_AGO = time.time() - 27 * DAY


def ev(kind: str, t: float, **fields: Any) -> dict[str, Any]:
    return {
        "uuid": str(uuid.uuid4()),
        "t": t,
        "kind": kind,
        "pack_id": "m365-habits",
        "pack_version": 1,
        "rule": fields.pop("rule", "share-link"),
        "habit": "share-links",
        **fields,
    }


def enroll_as(client: httpx.Client, token: str, installation: str | None = None) -> httpx.Response:
    body: dict[str, Any] = {"token": token, "os": "linux", "agent_version": "0.1.0"}
    if installation is not None:
        body["installation_id"] = installation
    return client.post("/v1/enroll", json=body)


def secret_of(client: httpx.Client, token: str, installation: str | None = None) -> str:
    r = enroll_as(client, token, installation)
    assert r.status_code == 200, r.text
    value: str = r.json()["device_secret"]
    return value


def send(client: httpx.Client, secret: str, events: list[dict[str, Any]]) -> httpx.Response:
    return client.post("/v1/events", json={"events": events}, headers=auth(secret))


def sent(client: httpx.Client, secret: str, events: list[dict[str, Any]]) -> None:
    r = send(client, secret, events)
    assert r.status_code == 200 and r.json()["rejected"] == 0, r.text


def report(client: httpx.Client, tenant: Tenant) -> dict[str, Any]:
    r = client.get("/v1/admin/reports", headers=auth(tenant.analyst_token))
    assert r.status_code == 200, r.text
    doc: dict[str, Any] = r.json()
    return doc


def db_of(store: Store) -> str:
    return store.engine.url.render_as_string(hide_password=False)


@pytest.fixture
def strict(store: Store) -> Iterator[RunningServer]:
    """The server with the default enrollment limits (per source address too)."""
    settings = ServerSettings(rate_per_second=1000, rate_burst=1000, metrics_token=METRICS_TOKEN)
    with running_server(store, settings) as srv:
        yield srv


# ---------------------------------------------------------------- token limits


def test_a_token_stops_at_its_uses_its_expiry_and_its_revocation(
    client: httpx.Client, store: Store, acme: Tenant
) -> None:
    enrollment = Enrollment(store)
    _info, limited = enrollment.create_token(acme.id, max_uses=3)
    for _ in range(3):
        secret_of(client, limited)
    r = enroll_as(client, limited)
    assert (r.status_code, r.json()["error"]) == (401, "token_used_up")

    clock = [time.time()]
    later = Enrollment(store, clock=lambda: clock[0])
    _info, short = later.create_token(acme.id, expires_in=3600)
    secret_of(client, short)
    clock[0] += 3601
    with pytest.raises(Exception, match="expired") as caught:
        later.enroll(short, installation_id=None, groups=[], os_name="linux", agent_version="1")
    assert getattr(caught.value, "code", None) == "token_expired"

    info, revoked = enrollment.create_token(acme.id)
    secret_of(client, revoked)
    enrollment.revoke_token(acme.id, info.id)
    r = enroll_as(client, revoked)
    assert (r.status_code, r.json()["error"]) == (401, "token_revoked")
    # Devices it enrolled keep working; the listing never holds a secret.
    listing = {t.id: t for t in enrollment.tokens(acme.id)}
    assert listing[info.id].state(time.time()) == "revoked" and listing[info.id].uses == 1
    assert listing[info.id].prefix == revoked[:8]
    assert not any(secret in repr(listing) for secret in (limited, short, revoked))
    audit = store.audit_entries(acme.id)
    assert [a["action"] for a in audit].count("enroll_token_created") == 3
    assert [a["action"] for a in audit].count("enroll_token_revoked") == 1
    assert not any(limited in str(a) or revoked in str(a) for a in audit)


def test_a_token_enrolls_at_most_its_hourly_rate(
    client: httpx.Client, store: Store, acme: Tenant
) -> None:
    _info, token = Enrollment(store).create_token(acme.id, per_hour=5)
    codes = [enroll_as(client, token) for _ in range(8)]
    assert [r.status_code for r in codes] == [200] * 5 + [429] * 3
    assert codes[5].json()["error"] == "token_rate_limited"
    assert 3000 <= int(codes[5].headers["Retry-After"]) <= 3600


def test_a_flood_of_enrollments_from_one_address_is_cut_to_its_burst(
    strict: RunningServer, store: Store, acme: Tenant
) -> None:
    """The issue's 1,000 enrollments: 20 get through, the rest wait (429), none fails (5xx)."""
    started = time.monotonic()
    with httpx.Client(base_url=strict.url, timeout=30) as http:
        answers = [enroll_as(http, acme.enroll_token) for _ in range(1000)]
    took = time.monotonic() - started
    statuses = Counter(r.status_code for r in answers)
    assert statuses == {200: 20, 429: 980}, (statuses, took)
    refused = next(r for r in answers if r.status_code == 429)
    assert refused.json()["error"] == "source_rate_limited"
    assert int(refused.headers["Retry-After"]) >= 1
    with httpx.Client(base_url=strict.url, timeout=30) as http:
        metrics = http.get("/metrics", headers=auth(METRICS_TOKEN)).text
    assert 'waymark_enrollments_total{outcome="new"} 20' in metrics
    assert 'waymark_enrollments_total{outcome="source_rate_limited"} 980' in metrics
    assert "waymark_enrollments_last_hour_peak 20" in metrics
    print(f"1000 enrollment attempts from one address in {took:.2f} s: {dict(statuses)}")


@pytest.mark.parametrize("trusted", [False, True])
def test_a_forged_forwarded_for_does_not_dodge_the_address_bucket(
    store: Store, acme: Tenant, trusted: bool
) -> None:
    """Each request claims another X-Forwarded-For: only a trusted proxy is believed."""
    settings = ServerSettings(
        rate_per_second=1000,
        rate_burst=1000,
        enroll_source_burst=3,
        trusted_proxies=frozenset({"127.0.0.1"}) if trusted else frozenset(),
    )
    with running_server(store, settings) as srv, httpx.Client(base_url=srv.url) as http:
        statuses = [
            http.post(
                "/v1/enroll",
                json={"token": acme.enroll_token},
                headers={"X-Forwarded-For": f"203.0.113.{i}"},
            ).status_code
            for i in range(6)
        ]
    # Behind the trusted proxy each client has its own bucket; otherwise the peer's counts.
    assert statuses == ([200] * 6 if trusted else [200] * 3 + [429] * 3)


# ---------------------------------------------------------------- installation id


def test_re_enrolling_an_installation_replaces_its_device(
    client: httpx.Client, store: Store, acme: Tenant, globex: Tenant
) -> None:
    installation = "inst-" + uuid.uuid4().hex
    first = enroll_as(client, acme.enroll_token, installation).json()
    second = enroll_as(client, acme.enroll_token, installation).json()
    assert second["device_id"] == first["device_id"]
    assert second["device_secret"] != first["device_secret"]
    # The old secret is dead at once, the new one works.
    old = client.get("/v1/pack", headers=auth(first["device_secret"]))
    assert old.status_code == 401
    assert client.get("/v1/pack", headers=auth(second["device_secret"])).status_code == 204
    assert store.counts()["devices"] == 1
    (token,) = Enrollment(store).tokens(acme.id)
    assert token.uses == 1  # a renewal adds no device, so it spends no use
    # The same installation in another tenant is another device there.
    other = enroll_as(client, globex.enroll_token, installation).json()
    assert other["device_id"] != first["device_id"]
    # Without an installation id (agents before this version), each call is a device.
    enroll_as(client, acme.enroll_token)
    enroll_as(client, acme.enroll_token)
    assert store.counts()["devices"] == 4


def test_a_bad_installation_id_is_refused_clearly(client: httpx.Client, acme: Tenant) -> None:
    r = enroll_as(client, acme.enroll_token, "short")
    assert r.status_code == 422 and "installation_id" in r.text


# ---------------------------------------------------------------- approval


def test_in_manual_approval_a_new_device_waits_and_sends_nothing(
    client: httpx.Client, store: Store, acme: Tenant
) -> None:
    assert cli.main(["tenant", "approval", "acme", "manual", "--db", db_of(store)]) == 0
    store.forget_devices([])
    r = enroll_as(client, acme.enroll_token, "inst-" + uuid.uuid4().hex)
    assert r.status_code == 200 and r.json()["status"] == "pending"
    device, secret = r.json()["device_id"], r.json()["device_secret"]
    refused = send(client, secret, [ev("shown", time.time() - 60)])
    assert (refused.status_code, refused.json()["error"]) == (403, "pending_approval")
    groups = client.put("/v1/device/groups", json={"groups": ["it"]}, headers=auth(secret))
    assert groups.status_code == 403
    # It may fetch the pack (coaching works while it waits): 204, no pack yet.
    assert client.get("/v1/pack", headers=auth(secret)).status_code == 204
    publisher = auth(acme.publisher_token)
    listed = client.get("/v1/admin/devices/pending", headers=publisher).json()
    assert [d["device_id"] for d in listed] == [device]
    analyst = client.get("/v1/admin/devices/pending", headers=auth(acme.analyst_token))
    assert analyst.status_code == 403
    approved = client.post(
        "/v1/admin/devices/approve", json={"device_ids": [device]}, headers=publisher
    )
    assert approved.json() == {"approved": 1}
    sent(client, secret, [ev("shown", time.time() - 60)])
    assert client.get("/v1/admin/devices/pending", headers=publisher).json() == []
    assert any(a["action"] == "devices_approved" for a in store.audit_entries(acme.id))


def test_auto_approval_lets_n_per_hour_through_and_queues_the_rest(
    client: httpx.Client, store: Store, acme: Tenant
) -> None:
    publisher = auth(acme.publisher_token)
    r = client.put("/v1/admin/approval", json={"mode": "auto", "per_hour": 2}, headers=publisher)
    assert r.json() == {"mode": "auto", "per_hour": 2}
    statuses = [enroll_as(client, acme.enroll_token).json()["status"] for _ in range(5)]
    assert statuses == ["approved", "approved", "pending", "pending", "pending"]
    assert len(Enrollment(store).pending(acme.id)) == 3
    bad = client.put("/v1/admin/approval", json={"mode": "later"}, headers=publisher)
    assert bad.status_code == 422


# ---------------------------------------------------------------- the floor


def test_nine_fresh_fakes_beside_one_real_person_reveal_nothing(
    client: httpx.Client, acme: Tenant
) -> None:
    """The issue's attack: 9 fake devices + 1 real pass a floor that counts enrollments."""
    now = time.time()
    real = secret_of(client, acme.enroll_token)
    sent(client, real, [ev("shown", now - DAY), ev("acted", now - DAY, action="how")])
    sent(client, real, [ev("shown", now - 60), ev("shown", now - 50)])
    fakes = [secret_of(client, acme.enroll_token) for _ in range(9)]
    for fake in fakes:  # the attacker knows exactly what each fake sent
        sent(client, fake, [ev("shown", now - 40)])
    today = [d for d in report(client, acme)["days"] if d["shown"] != 0]
    # Only the real device counts (two active days): every figure is withheld.
    assert today and all(d["shown"] is None for d in today), today
    # The documented limit: fakes kept alive on a second day do count (that is what
    # the rates, the approval mode and the token's max uses are for).
    for fake in fakes:
        sent(client, fake, [ev("shown", now - DAY + 60)])
    shown = {d["day"]: d["shown"] for d in report(client, acme)["days"]}
    assert all(v is not None for v in shown.values()), shown


def test_forty_fakes_active_one_day_show_no_lift(client: httpx.Client, acme: Tenant) -> None:
    """The issue's invented habit: 40 fakes claim both arms and a lift of 1.0."""
    t = WEEKS_AGO
    for i in range(40):
        fake = secret_of(client, acme.enroll_token)
        if i < 20:
            sent(client, fake, [ev("shown", t), ev("adopted", t + 3600, rule=None)])
        else:
            sent(client, fake, [ev("suppressed", t, reason="holdout")])
    doc = report(client, acme)
    assert doc["adoption"] == [] and doc["days"] == []


def test_devices_counted_after_two_days_keep_the_report_exact(
    client: httpx.Client, acme: Tenant, store: Store
) -> None:
    """The events held while a device waited are all added once it counts (none twice)."""
    now = time.time()
    devices = [secret_of(client, acme.enroll_token) for _ in range(10)]
    for secret in devices:
        sent(client, secret, [ev("shown", now - DAY), ev("shown", now - DAY + 5)])
    assert report(client, acme)["days"] == []
    for secret in devices:
        batch = [ev("shown", now - 60)]
        sent(client, secret, batch)
        sent(client, secret, batch)  # a resend: a duplicate, counted once
    days = {d["day"]: d["shown"] for d in report(client, acme)["days"]}
    assert sorted(days.values()) == [10, 20], days
    # A rebuild from the raw events gives the same (only counted devices' events).
    before = report(client, acme)["days"]
    store.rebuild_rollups(acme.id)
    assert report(client, acme)["days"] == before


# ---------------------------------------------------------------- the burst alert


def test_an_enrollment_burst_shows_on_the_dashboard(
    client: httpx.Client, store: Store, acme: Tenant, live: RunningServer
) -> None:
    info, token = Enrollment(store).create_token(acme.id)
    for _ in range(12):
        secret_of(client, token)
    with httpx.Client(base_url=live.url, timeout=30) as http:
        assert dashboard_sign_in(http, acme.analyst_token).status_code == 303
        page = http.get("/dashboard").text
    assert f"12 device(s) enrolled in the last hour with token {token[:8]}…" in page
    assert "(usual: 0 an hour)" in page
    assert token not in page
    assert info.id in [b.token_id for b in Enrollment(store).bursts(acme.id)]


# ---------------------------------------------------------------- the admin commands


def test_the_token_commands_issue_list_and_revoke(
    store: Store, acme: Tenant, capsys: pytest.CaptureFixture[str]
) -> None:
    db = ["--db", db_of(store)]
    args = ["token", "enroll", "acme", "--expires", "30d", "--max-uses", "500", "--per-hour", "100"]
    assert cli.main([*args, *db]) == 0
    out = capsys.readouterr()
    token = out.out.strip()
    assert token.startswith("wme_") and "500 device(s)" in out.err
    assert cli.main(["token", "list", "acme", "enroll", *db]) == 0
    listing = capsys.readouterr().out
    assert token[:8] in listing and token not in listing and "0/500" in listing
    created = max(t.id for t in Enrollment(store).tokens(acme.id))
    assert cli.main(["token", "revoke", "acme", "enroll", str(created), *db]) == 0
    assert cli.main(["token", "list", "acme", *db]) == 0  # both kinds, each under its heading
    both = capsys.readouterr().out
    assert "revoked" in both.split("admin tokens:")[0] and "enroll tokens:" in both
    with pytest.raises(SystemExit):
        cli.main(["token", "enroll", "acme", "--expires", "soon", *db])
    assert cli.main(["token", "revoke", "acme", "enroll", "999", *db]) == 2


def test_retention_keeps_the_enrollments_log_30_days(store: Store, acme: Tenant) -> None:
    enrollment = Enrollment(store)
    _info, token = enrollment.create_token(acme.id)
    enrollment.enroll(token, installation_id=None, groups=[], os_name="linux", agent_version="1")
    with store.engine.begin() as conn:
        conn.execute(update(s.enrollments).values(at=time.time() - 31 * DAY))
    enrollment.enroll(token, installation_id=None, groups=[], os_name="linux", agent_version="1")
    store.purge(35)
    with store.engine.connect() as conn:
        ages = [time.time() - at for at in conn.execute(select(s.enrollments.c.at)).scalars()]
    assert len(ages) == 1 and ages[0] < 3600
