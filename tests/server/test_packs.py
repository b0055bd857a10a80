"""Signed pack distribution: upload checks, rollout rings, groups, ETag, rollback."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.rules.bundle import make_bundle
from server.store import Store
from server.tokens import ring_of
from tests.server.conftest import Tenant, auth, enroll, pack_text


def upload(
    client: httpx.Client, token: str, data: bytes, **params: str | int | list[str]
) -> httpx.Response:
    return client.post("/v1/admin/bundles", content=data, params=params, headers=auth(token))


def fetch(client: httpx.Client, secret: str, etag: str | None = None) -> httpx.Response:
    headers = auth(secret)
    if etag:
        headers["If-None-Match"] = etag
    return client.get("/v1/pack", headers=headers)


def version_of(data: bytes) -> int:
    manifest = json.loads(base64.b64decode(json.loads(data)["manifest"]))
    return int(manifest["version"])


def test_a_device_gets_the_uploaded_bundle_byte_for_byte_and_304_after(
    client: httpx.Client, acme: Tenant
) -> None:
    secret = enroll(client, acme)
    assert fetch(client, secret).status_code == 204
    data = acme.bundle(1)
    r = upload(client, acme.publisher_token, data)
    assert r.status_code == 201, r.text
    assert r.json()["version"] == 1 and r.json()["rollout"] == 100
    got = fetch(client, secret)
    assert got.status_code == 200 and got.content == data
    assert got.headers["ETag"].strip('"') == r.json()["sha256"]
    assert fetch(client, secret, got.headers["ETag"]).status_code == 304


def test_uploads_with_bad_signature_unknown_key_or_tampered_pack_are_refused(
    client: httpx.Client, acme: Tenant
) -> None:
    good = json.loads(acme.bundle(1))
    bad_sig = dict(good, signature=base64.b64encode(b"\0" * 64).decode())
    manifest = base64.b64decode(good["manifest"]).replace(b"Share a link", b"Send a file!")
    tampered = dict(good, manifest=base64.b64encode(manifest).decode())
    stranger = make_bundle(
        pack_source=pack_text(1),
        pack_id="m365-habits",
        version=1,
        private_key=Ed25519PrivateKey.generate(),
        created=datetime.now(UTC),
    )
    for data, code in (
        (json.dumps(bad_sig).encode(), "bad_signature"),
        (json.dumps(tampered).encode(), "bad_signature"),
        (stranger, "unknown_key"),
        (b"not a bundle", "malformed"),
    ):
        r = upload(client, acme.publisher_token, data)
        assert (r.status_code, r.json()["error"]) == (400, code)


def test_a_signed_but_invalid_pack_is_refused(client: httpx.Client, acme: Tenant) -> None:
    data = make_bundle(
        pack_source="waymark: 1\nid: m365-habits\nversion: 2\nrules: 7\n",
        pack_id="m365-habits",
        version=2,
        private_key=acme.key,
        created=datetime.now(UTC),
    )
    r = upload(client, acme.publisher_token, data)
    assert (r.status_code, r.json()["error"]) == (400, "invalid_pack")


def test_an_expired_bundle_is_refused(client: httpx.Client, acme: Tenant) -> None:
    r = upload(client, acme.publisher_token, acme.bundle(1, days=-1))
    assert (r.status_code, r.json()["error"]) == (400, "expired")


def test_an_older_or_equal_version_is_refused(client: httpx.Client, acme: Tenant) -> None:
    assert upload(client, acme.publisher_token, acme.bundle(5)).status_code == 201
    for version in (5, 4):
        r = upload(client, acme.publisher_token, acme.bundle(version))
        assert (r.status_code, r.json()["error"]) == (409, "rollback")


def test_an_analyst_cannot_publish(client: httpx.Client, acme: Tenant) -> None:
    r = upload(client, acme.analyst_token, acme.bundle(1))
    assert r.status_code == 403
    assert client.get("/v1/admin/packs", headers=auth(acme.analyst_token)).status_code == 200


def test_a_staged_rollout_reaches_exactly_the_devices_below_the_percentage(
    client: httpx.Client, acme: Tenant, store: Store
) -> None:
    upload(client, acme.publisher_token, acme.bundle(1))
    upload(client, acme.publisher_token, acme.bundle(2), rollout=30)
    secrets = [enroll(client, acme) for _ in range(12)]
    for secret in secrets:
        device = store.device(secret)
        assert device is not None and device.ring == ring_of(device.id)
        expected = 2 if device.ring < 30 else 1
        assert version_of(fetch(client, secret).content) == expected
    r = client.put(
        "/v1/admin/packs/m365-habits/versions/2/rollout",
        json={"percent": 100},
        headers=auth(acme.publisher_token),
    )
    assert r.status_code == 200
    assert all(version_of(fetch(client, s).content) == 2 for s in secrets)


def test_a_version_limited_to_groups_only_reaches_those_groups(
    client: httpx.Client, acme: Tenant
) -> None:
    upload(client, acme.publisher_token, acme.bundle(1))
    upload(client, acme.publisher_token, acme.bundle(2), groups=["sales"])
    sales, other = enroll(client, acme, ["sales", "emea"]), enroll(client, acme, ["it"])
    assert version_of(fetch(client, sales).content) == 2
    assert version_of(fetch(client, other).content) == 1


def test_rollback_withdraws_newer_versions_and_lists_them(
    client: httpx.Client, acme: Tenant
) -> None:
    for v in (1, 2, 3):
        upload(client, acme.publisher_token, acme.bundle(v))
    secret = enroll(client, acme)
    assert version_of(fetch(client, secret).content) == 3
    r = client.post(
        "/v1/admin/packs/m365-habits/rollback",
        json={"to_version": 1},
        headers=auth(acme.publisher_token),
    )
    assert r.json() == {"pack_id": "m365-habits", "serving": 1, "withdrawn": [2, 3]}
    assert version_of(fetch(client, secret).content) == 1
    listed = client.get("/v1/admin/packs", headers=auth(acme.publisher_token)).json()
    assert [(b["version"], b["withdrawn"]) for b in listed] == [(3, True), (2, True), (1, False)]
    # Agents that took version 3 refuse anything lower: the publisher re-signs v1's pack as v4.
    assert upload(client, acme.publisher_token, acme.bundle(4)).status_code == 201
    assert version_of(fetch(client, secret).content) == 4


def test_rollout_and_rollback_of_unknown_versions_are_404(
    client: httpx.Client, acme: Tenant
) -> None:
    headers = auth(acme.publisher_token)
    r = client.put("/v1/admin/packs/nope/versions/1/rollout", json={"percent": 5}, headers=headers)
    assert r.status_code == 404
    r = client.post("/v1/admin/packs/nope/rollback", json={"to_version": 1}, headers=headers)
    assert r.status_code == 404
