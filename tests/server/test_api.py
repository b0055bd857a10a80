"""The HTTP contract (docs/api.md), against the real server on SQLite and PostgreSQL."""

from __future__ import annotations

import gzip
import hashlib
import json
import time
import uuid
from typing import Any

import httpx
from sqlalchemy import select

from devtools.live_server import running_server
from server import schema
from server.settings import ServerSettings
from server.store import Store
from tests.server.conftest import METRICS_TOKEN, Tenant, auth, enroll


def event(kind: str = "shown", **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "uuid": str(uuid.uuid4()),
        "t": time.time() - 60,
        "kind": kind,
        "pack_id": "m365-habits",
        "pack_version": 1,
        "rule": "share-link",
        "habit": "share-links",
    }
    base.update(fields)
    return base


def post_events(client: httpx.Client, secret: str, events: list[dict[str, Any]]) -> httpx.Response:
    return client.post("/v1/events", json={"events": events}, headers=auth(secret))


# ---------------------------------------------------------------- enrollment


def test_enroll_gives_a_device_secret_that_is_stored_only_hashed(
    client: httpx.Client, acme: Tenant, store: Store
) -> None:
    secret = enroll(client, acme, ["sales"])
    with store.engine.connect() as conn:
        stored = conn.execute(select(schema.devices.c.secret_hash, schema.devices.c.groups)).one()
    assert stored[0] == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in stored[0]
    assert json.loads(stored[1]) == ["sales"]


def test_enroll_with_a_wrong_or_missing_token_is_refused(client: httpx.Client) -> None:
    assert client.post("/v1/enroll", json={"token": "wme_nope"}).status_code == 401
    assert client.post("/v1/enroll", json={}).status_code == 422
    assert client.post("/v1/enroll", content=b"{not json").status_code == 422


# ---------------------------------------------------------------- events


def test_events_are_stored_once_and_a_resend_is_reported_duplicate(
    client: httpx.Client, acme: Tenant
) -> None:
    secret = enroll(client, acme)
    batch = [event(), event("acted", action="how"), event("suppressed", reason="cooldown")]
    first = post_events(client, secret, batch)
    assert first.status_code == 200
    assert [r["status"] for r in first.json()["results"]] == ["ok", "ok", "ok"]
    again = post_events(client, secret, [*batch, event()])
    assert [r["status"] for r in again.json()["results"]] == ["duplicate"] * 3 + ["ok"]
    assert again.json()["duplicate"] == 3


def test_duplicate_uuids_inside_one_batch_are_stored_once(
    client: httpx.Client, acme: Tenant, store: Store
) -> None:
    secret = enroll(client, acme)
    one = event()
    r = post_events(client, secret, [one, dict(one), one])
    assert [x["status"] for x in r.json()["results"]] == ["ok", "duplicate", "duplicate"]
    with store.engine.connect() as conn:
        assert len(conn.execute(select(schema.events.c.id)).all()) == 1


def test_the_same_uuid_from_two_devices_is_two_events(client: httpx.Client, acme: Tenant) -> None:
    a, b = enroll(client, acme), enroll(client, acme)
    shared = event()
    assert post_events(client, a, [shared]).json()["ok"] == 1
    assert post_events(client, b, [shared]).json()["ok"] == 1


def test_gzip_batches_are_accepted(client: httpx.Client, acme: Tenant) -> None:
    secret = enroll(client, acme)
    body = gzip.compress(json.dumps({"events": [event() for _ in range(50)]}).encode())
    r = client.post(
        "/v1/events",
        content=body,
        headers={**auth(secret), "Content-Encoding": "gzip", "Content-Type": "application/json"},
    )
    assert r.status_code == 200 and r.json()["ok"] == 50


def test_a_truncated_gzip_body_is_a_400(client: httpx.Client, acme: Tenant) -> None:
    secret = enroll(client, acme)
    body = gzip.compress(json.dumps({"events": [event() for _ in range(50)]}).encode())
    r = client.post(
        "/v1/events",
        content=body[: len(body) // 2],
        headers={**auth(secret), "Content-Encoding": "gzip"},
    )
    assert r.status_code == 400 and r.json()["error"] == "bad_gzip"


def test_a_gzip_bomb_is_a_413_not_memory_exhaustion(client: httpx.Client, acme: Tenant) -> None:
    secret = enroll(client, acme)
    bomb = gzip.compress(b'{"events": [' + b" " * (200 * 1024 * 1024) + b"]}", compresslevel=9)
    assert len(bomb) < 1024 * 1024
    r = client.post(
        "/v1/events", content=bomb, headers={**auth(secret), "Content-Encoding": "gzip"}
    )
    assert r.status_code == 413


def test_a_body_over_one_mebibyte_is_a_413(client: httpx.Client, acme: Tenant) -> None:
    secret = enroll(client, acme)
    r = client.post("/v1/events", content=b" " * (1024 * 1024 + 1), headers=auth(secret))
    assert r.status_code == 413


def test_more_than_500_events_is_a_413(client: httpx.Client, acme: Tenant) -> None:
    secret = enroll(client, acme)
    r = post_events(client, secret, [event() for _ in range(501)])
    assert r.status_code == 413 and r.json()["error"] == "too_many_events"


def test_malformed_json_is_a_400(client: httpx.Client, acme: Tenant) -> None:
    secret = enroll(client, acme)
    for body in (b"{", b"[]", b'{"events": 3}', b"\xff\xfe"):
        r = client.post("/v1/events", content=body, headers=auth(secret))
        assert r.status_code == 400, body


def test_bad_events_are_rejected_one_by_one_with_the_reason(
    client: httpx.Client, acme: Tenant
) -> None:
    secret = enroll(client, acme)
    batch: list[Any] = [
        event(t=time.time() + 25 * 3600),
        event(title="Budget 2027.xlsx - Excel"),
        event(kind="typed"),
        event(pack_version="7"),
        {"t": time.time(), "kind": "shown"},
        "not an object",
        event(t="yesterday"),
        event(rule="x\x00y"),
        event(t=time.time() + 3600),  # within 24 h: clocks drift
        event(t="2026-11-27T09:00:00+01:00"),
    ]
    r = post_events(client, secret, batch)
    statuses = [x["status"] for x in r.json()["results"]]
    assert statuses == [
        "rejected:future",
        "rejected:unknown_field:title",
        "rejected:kind",
        "rejected:pack_version",
        "rejected:uuid",
        "rejected:not_an_object",
        "rejected:t",
        "rejected:rule",
        "ok",
        "ok",
    ]


def test_text_over_its_column_width_or_a_kind_of_the_wrong_shape_is_rejected_not_an_error(
    client: httpx.Client, acme: Tenant
) -> None:
    secret = enroll(client, acme)
    batch = [
        event("suppressed", reason="r" * 65),
        {**event(), "kind": ["shown"]},
        event("suppressed", reason="r" * 64),
    ]
    r = post_events(client, secret, batch)
    assert r.status_code == 200, r.text
    assert [x["status"] for x in r.json()["results"]] == [
        "rejected:reason",
        "rejected:kind",
        "ok",
    ]


def test_events_need_a_device_secret(client: httpx.Client, acme: Tenant) -> None:
    body = {"events": [event()]}
    assert client.post("/v1/events", json=body).status_code == 401
    assert client.post("/v1/events", json=body, headers=auth("wmd_wrong")).status_code == 401
    # An admin or enrollment token is not a device secret.
    assert (
        client.post("/v1/events", json=body, headers=auth(acme.publisher_token)).status_code == 401
    )
    assert client.post("/v1/events", json=body, headers=auth(acme.enroll_token)).status_code == 401


def test_a_device_over_its_rate_gets_429_with_retry_after(store: Store, acme: Tenant) -> None:
    with (
        running_server(store, ServerSettings(rate_per_second=0.01, rate_burst=2)) as srv,
        httpx.Client(base_url=srv.url) as c,
    ):
        secret = enroll(c, acme)
        other = enroll(c, acme)
        codes = [post_events(c, secret, [event()]).status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        limited = post_events(c, secret, [event()])
        assert int(limited.headers["Retry-After"]) >= 1
        assert post_events(c, other, [event()]).status_code == 200


# ---------------------------------------------------------------- service


def test_healthz_metrics_and_openapi(client: httpx.Client, acme: Tenant) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    secret = enroll(client, acme)
    one = event()
    post_events(client, secret, [one, one, event(kind="nope")])
    text = client.get("/metrics", headers=auth(METRICS_TOKEN)).text
    assert "waymark_events_ingested_total 1" in text
    assert "waymark_events_duplicate_total 1" in text
    assert "waymark_events_rejected_total 1" in text
    assert "waymark_event_write_transactions_total 1" in text
    assert "waymark_event_write_batches_total 1" in text
    assert 'route="/v1/events",status="200"' in text
    assert "waymark_http_request_duration_seconds_bucket" in text
    spec = client.get("/openapi.json").json()
    assert {"/v1/enroll", "/v1/events", "/v1/pack", "/v1/admin/bundles"} <= set(spec["paths"])
