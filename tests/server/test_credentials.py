"""Credential lifecycle: devices, admin tokens and publisher keys listed, revoked, expired.

Each revocation is replayed as the attack it stops: the revoked credential is
used again on the very next request (through a second server process over the
same database, too) and must get 401, or its bundle must be refused.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.rules.bundle import key_id, public_key_text
from devtools.live_server import RunningServer
from devtools.waiting import free_port, stop_process, wait_for
from server import cli
from server.credentials import Credentials
from server.enrollment import Enrollment
from server.store import Store
from tests.server.conftest import Tenant, auth, make_tenant
from tests.server.test_api import event, post_events


def enroll_device(client: httpx.Client, tenant: Tenant) -> tuple[str, str]:
    """A new device of ``tenant``: ``(device id, secret)``."""
    r = client.post("/v1/enroll", json={"token": tenant.enroll_token, "os": "linux"})
    assert r.status_code == 200, r.text
    return r.json()["device_id"], r.json()["device_secret"]


def token_id(client: httpx.Client, tenant: Tenant, role: str) -> int:
    """The row id of the tenant's (first) admin token of ``role``."""
    r = client.get("/v1/admin/tokens", headers=auth(tenant.publisher_token))
    return int(next(t["id"] for t in r.json() if t["role"] == role))


def audit(client: httpx.Client, tenant: Tenant) -> list[dict[str, Any]]:
    r = client.get("/v1/admin/audit", headers=auth(tenant.analyst_token))
    assert r.status_code == 200, r.text
    entries: list[dict[str, Any]] = r.json()
    return entries


# ---------------------------------------------------------------- devices


def test_a_revoked_device_gets_401_on_its_next_request_to_every_endpoint(
    client: httpx.Client, acme: Tenant
) -> None:
    device, secret = enroll_device(client, acme)
    _other, other_secret = enroll_device(client, acme)
    assert post_events(client, secret, [event()]).status_code == 200
    assert client.get("/v1/pack", headers=auth(secret)).status_code == 204
    r = client.post(f"/v1/admin/devices/{device}/revoke", headers=auth(acme.publisher_token))
    assert r.status_code == 200 and r.json()["revoked"], r.text
    for answer in (
        post_events(client, secret, [event()]),
        client.get("/v1/pack", headers=auth(secret)),
        client.put("/v1/device/groups", json={"groups": []}, headers=auth(secret)),
    ):
        assert answer.status_code == 401 and answer.json()["error"] == "bad_token"
    # Only that device: the rest of the fleet goes on.
    assert post_events(client, other_secret, [event()]).status_code == 200
    listed = client.get("/v1/admin/devices", headers=auth(acme.analyst_token)).json()
    assert {d["device_id"]: bool(d["revoked"]) for d in listed} == {device: True, _other: False}
    # Revoking again changes nothing and is not audited twice.
    again = client.post(f"/v1/admin/devices/{device}/revoke", headers=auth(acme.publisher_token))
    assert again.status_code == 200 and again.json()["revoked"] == r.json()["revoked"]
    revoked = [e for e in audit(client, acme) if e["action"] == "device_revoked"]
    publisher = token_id(client, acme, "publisher")
    assert revoked == [
        {"at": revoked[0]["at"], "action": "device_revoked", "actor": f"token:{publisher}",
         "object": device, "detail": {}}
    ]  # fmt: skip


def test_a_device_this_process_has_cached_is_refused_once_another_process_revokes_it(
    db_url: str, live: RunningServer, client: httpx.Client, acme: Tenant
) -> None:
    device, secret = enroll_device(client, acme)
    erased, erased_secret = enroll_device(client, acme)
    for s in (secret, erased_secret):
        assert post_events(client, s, [event()]).status_code == 200
        assert live.store.cached_device(s) is not None  # uploads are answered from memory
    other = cli.open_store(db_url)  # another server process's store, same database
    try:
        other.credentials.revoke_device(None, device, actor="cli")
        other.erase_device(erased, None, actor="cli")
    finally:
        other.engine.dispose()
    for s in (secret, erased_secret):
        for answer in (
            post_events(client, s, [event()]),  # the write transaction checks the device
            post_events(client, s, []),  # nothing to write: checked afresh
            post_events(client, s, [{"kind": "nonsense"}]),  # every event rejected
            client.post("/v1/events", content=b"{not json", headers=auth(s)),
        ):
            assert answer.status_code == 401, answer.text
        assert live.store.cached_device(s) is None


def test_a_secret_renewed_through_another_process_is_refused_where_the_old_one_was_cached(
    db_url: str, live: RunningServer, client: httpx.Client, acme: Tenant
) -> None:
    installation = "install-" + "a" * 24
    body = {"token": acme.enroll_token, "os": "linux", "installation_id": installation}
    first = client.post("/v1/enroll", json=body).json()
    old = first["device_secret"]
    assert post_events(client, old, [event()]).status_code == 200
    assert live.store.cached_device(old) is not None  # this process answers it from memory
    other = cli.open_store(db_url)  # another server process renews the same installation
    try:
        renewed = Enrollment(other).enroll(
            acme.enroll_token, installation_id=installation, groups=[], os_name="linux",
            agent_version="0.1.0",
        )  # fmt: skip
    finally:
        other.engine.dispose()
    assert renewed.device.id == first["device_id"]  # the same device, a new secret
    assert post_events(client, old, [event()]).status_code == 401
    assert live.store.cached_device(old) is None
    assert post_events(client, renewed.secret, [event()]).status_code == 200


def test_device_revocation_needs_a_publisher_of_the_same_tenant(
    client: httpx.Client, acme: Tenant, globex: Tenant
) -> None:
    device, secret = enroll_device(client, acme)
    url = f"/v1/admin/devices/{device}/revoke"
    assert client.post(url, headers=auth(acme.analyst_token)).status_code == 403
    assert client.post(url, headers=auth(globex.publisher_token)).status_code == 404
    assert client.post(url).status_code == 401
    bad = client.post("/v1/admin/devices/not-a-device/revoke", headers=auth(acme.publisher_token))
    assert bad.status_code == 422
    assert client.get("/v1/admin/devices", headers=auth(globex.analyst_token)).json() == []
    assert post_events(client, secret, [event()]).status_code == 200  # still enrolled


def test_the_device_listing_pages_by_id(client: httpx.Client, acme: Tenant) -> None:
    ids = sorted(enroll_device(client, acme)[0] for _ in range(5))
    first = client.get("/v1/admin/devices", params={"limit": 2}, headers=auth(acme.analyst_token))
    assert [d["device_id"] for d in first.json()] == ids[:2]
    rest = client.get("/v1/admin/devices", params={"after": ids[1]},
                      headers=auth(acme.analyst_token))  # fmt: skip
    assert [d["device_id"] for d in rest.json()] == ids[2:]
    too_many = client.get("/v1/admin/devices", params={"limit": 5000},
                          headers=auth(acme.analyst_token))  # fmt: skip
    assert too_many.status_code == 422


# ---------------------------------------------------------------- admin tokens


def test_a_revoked_admin_token_gets_401_on_its_next_request(
    client: httpx.Client, store: Store, acme: Tenant
) -> None:
    spare_id, spare = store.credentials.issue_admin_token(acme.id, "publisher", actor="cli")
    assert client.get("/v1/admin/packs", headers=auth(spare)).status_code == 200
    r = client.post(f"/v1/admin/tokens/{spare_id}/revoke", headers=auth(acme.publisher_token))
    assert r.status_code == 200 and r.json()["revoked"] and not r.json()["active"], r.text
    for answer in (
        client.get("/v1/admin/packs", headers=auth(spare)),
        client.post("/v1/admin/bundles", content=acme.bundle(1), headers=auth(spare)),
        client.post(f"/v1/admin/tokens/{token_id(client, acme, 'publisher')}/revoke",
                    headers=auth(spare)),
    ):  # fmt: skip
        assert answer.status_code == 401
    listed = client.get("/v1/admin/tokens", headers=auth(acme.analyst_token)).json()
    assert [(t["id"], t["active"]) for t in listed][-1] == (spare_id, False)
    assert all("token_hash" not in t and "wma_" not in json.dumps(t) for t in listed)


def test_an_expired_admin_token_is_refused_and_listed_as_expired(
    client: httpx.Client, store: Store, acme: Tenant
) -> None:
    past = Credentials(store.engine, clock=lambda: time.time() - 7200)
    old_id, old = past.issue_admin_token(acme.id, "analyst", actor="cli", expires_in=3600)
    live_id, live = store.credentials.issue_admin_token(acme.id, "analyst", actor="cli",
                                                        expires_in=3600)  # fmt: skip
    assert client.get("/v1/admin/packs", headers=auth(old)).status_code == 401
    assert client.get("/v1/admin/packs", headers=auth(live)).status_code == 200
    listed = {t["id"]: t for t in client.get("/v1/admin/tokens", headers=auth(live)).json()}
    assert not listed[old_id]["active"] and listed[old_id]["revoked"] is None
    assert listed[live_id]["active"] and listed[live_id]["expires"]


def test_token_revocation_is_a_publisher_action_within_its_tenant(
    client: httpx.Client, acme: Tenant, globex: Tenant
) -> None:
    analyst = token_id(client, acme, "analyst")
    url = f"/v1/admin/tokens/{analyst}/revoke"
    assert client.post(url, headers=auth(acme.analyst_token)).status_code == 403
    assert client.post(url, headers=auth(globex.publisher_token)).status_code == 404
    assert client.post("/v1/admin/tokens/0/revoke",
                       headers=auth(acme.publisher_token)).status_code == 422  # fmt: skip
    assert client.get("/v1/admin/packs", headers=auth(acme.analyst_token)).status_code == 200


# ---------------------------------------------------------------- publisher keys


def test_a_revoked_publisher_key_signs_nothing_the_server_accepts_or_serves(
    client: httpx.Client, store: Store, acme: Tenant
) -> None:
    old = key_id(acme.key.public_key())
    new = Ed25519PrivateKey.generate()
    publisher = auth(acme.publisher_token)
    _device, secret = enroll_device(client, acme)

    def upload(data: bytes) -> httpx.Response:
        return client.post("/v1/admin/bundles", content=data, headers=publisher)

    assert upload(acme.bundle(1)).status_code == 201
    # Rotation with overlap: both keys trusted, a bundle signed by either is accepted.
    store.credentials.add_publisher_key(acme.id, public_key_text(new.public_key()), actor="cli")
    rotated = Tenant(acme.name, acme.id, acme.enroll_token, acme.publisher_token,
                     acme.analyst_token, new, acme.store)  # fmt: skip
    by_new = rotated.bundle(3)
    by_old = acme.bundle(4)
    for data in (acme.bundle(2), by_new, by_old):
        assert upload(data).status_code == 201
    assert client.get("/v1/pack", headers=auth(secret)).content == by_old
    # The old key is revoked: its uploads are refused, its bundles no longer served.
    r = client.post(f"/v1/admin/publisher-keys/{old}/revoke", headers=publisher)
    assert r.status_code == 200 and r.json()["revoked"], r.text
    refused = upload(acme.bundle(5))
    assert refused.status_code == 400 and refused.json()["error"] == "key_revoked"
    assert old in refused.json()["message"]
    assert client.get("/v1/pack", headers=auth(secret)).content == by_new
    assert upload(rotated.bundle(6)).status_code == 201
    keys = client.get("/v1/admin/publisher-keys", headers=auth(acme.analyst_token)).json()
    assert [(k["key_id"], bool(k["revoked"])) for k in keys] == [
        (old, True), (key_id(new.public_key()), False)
    ]  # fmt: skip
    # A revoked key cannot be trusted again.
    with pytest.raises(Exception, match="was revoked"):
        store.credentials.add_publisher_key(acme.id, public_key_text(acme.key.public_key()),
                                            actor="cli")  # fmt: skip


def test_key_revocation_is_a_publisher_action_within_its_tenant(
    client: httpx.Client, acme: Tenant, globex: Tenant
) -> None:
    kid = key_id(acme.key.public_key())
    url = f"/v1/admin/publisher-keys/{kid}/revoke"
    assert client.post(url, headers=auth(acme.analyst_token)).status_code == 403
    assert client.post(url, headers=auth(globex.publisher_token)).status_code == 404
    assert client.post("/v1/admin/publisher-keys/XYZ/revoke",
                       headers=auth(acme.publisher_token)).status_code == 422  # fmt: skip
    ok = client.post("/v1/admin/bundles", content=acme.bundle(1),
                     headers=auth(acme.publisher_token))  # fmt: skip
    assert ok.status_code == 201


# ---------------------------------------------------------------- the audit log


def test_the_audit_log_says_who_did_what_to_which_object_and_holds_no_secret(
    client: httpx.Client, store: Store, acme: Tenant, globex: Tenant
) -> None:
    publisher = auth(acme.publisher_token)
    me = token_id(client, acme, "publisher")
    assert client.post("/v1/admin/bundles", content=acme.bundle(7), headers=publisher).is_success
    assert client.put("/v1/admin/packs/m365-habits/versions/7/rollout", json={"percent": 10},
                      headers=publisher).is_success  # fmt: skip
    assert client.post("/v1/admin/packs/m365-habits/rollback", json={"to_version": 7},
                       headers=publisher).is_success  # fmt: skip
    device, _secret = enroll_device(client, acme)
    assert client.delete(f"/v1/admin/devices/{device}", headers=publisher).is_success
    entries = audit(client, acme)
    mine = [(e["action"], e["actor"], e.get("object")) for e in entries]
    assert mine[:3] == [
        ("publisher_key_added", "cli", key_id(acme.key.public_key())),
        ("admin_token_created", "cli", str(me)),
        ("admin_token_created", "cli", str(me + 1)),
    ]
    assert mine[3:] == [
        ("bundle_uploaded", f"token:{me}", "m365-habits v7"),
        ("rollout", f"token:{me}", "m365-habits v7"),
        ("rollback", f"token:{me}", "m365-habits v7"),
        ("device_erased", f"token:{me}", None),
    ]
    assert entries[4]["detail"] == {"rollout": 10}
    text = json.dumps(entries)
    for secret in (acme.publisher_token, acme.analyst_token, acme.enroll_token, device):
        assert secret not in text
    # Each tenant sees its own log only.
    assert [e["action"] for e in audit(client, globex)] == [
        "publisher_key_added", "admin_token_created", "admin_token_created"
    ]  # fmt: skip
    assert client.get("/v1/admin/audit", params={"limit": 2},
                      headers=auth(acme.analyst_token)).json() == entries[-2:]  # fmt: skip


# ---------------------------------------------------------------- the CLI


def test_the_cli_lists_and_revokes_every_credential_and_prints_the_audit_log(
    db_url: str, store: Store, acme: Tenant, capsys: pytest.CaptureFixture[str]
) -> None:
    def run(*argv: str) -> str:
        assert cli.main([*argv, "--db", db_url]) == 0, capsys.readouterr().err
        return capsys.readouterr().out

    token = run("token", "admin", "acme", "--role", "analyst", "--expires", "90d").strip()
    assert token.startswith("wma_") and store.admin(token) is not None
    tokens = run("token", "list", "acme", "admin").splitlines()
    assert len(tokens) == 4 and tokens[-1].split()[1] == "analyst"
    assert "active" in tokens[-1] and tokens[-1].count("UTC") == 2  # created and expires
    new_id = tokens[-1].split()[0]
    run("token", "revoke", "acme", "admin", new_id)
    assert store.admin(token) is None
    assert "revoked" in run("token", "list", "acme", "admin").splitlines()[-1]

    device, _secret = store.enroll_device(acme.id, [], "linux", "0.1.0")
    assert device.id in run("device", "list", "acme")
    run("device", "revoke", device.id)
    assert store.device(_secret) is None
    assert "revoked" in run("device", "list", "acme")

    kid = key_id(acme.key.public_key())
    assert f"{kid}" in run("publisher-key", "list", "acme")
    assert cli.main(["publisher-key", "revoke", "acme", kid, "--db", db_url]) == 0
    out = capsys.readouterr()
    assert "revoked" in out.out and "trusts no publisher key" in out.err
    assert store.publisher_keys(acme.id) == {}

    log = run("audit", "acme")
    for action in ("admin_token_created", "admin_token_revoked", "device_revoked",
                   "publisher_key_revoked"):  # fmt: skip
        assert action in log
    entries = json.loads(run("audit", "acme", "--json"))
    assert {e["actor"] for e in entries} == {"cli"}
    assert token not in log and acme.publisher_token not in log

    # Mistakes are refused with a message, not a traceback.
    assert cli.main(["token", "revoke", "acme", "admin", "9999", "--db", db_url]) == 2
    assert cli.main(["device", "revoke", "nope", "--db", db_url]) == 2
    assert cli.main(["publisher-key", "revoke", "acme", "0000000000000000", "--db", db_url]) == 2
    err = capsys.readouterr().err
    assert "no admin token 9999" in err and "no device nope" in err and "no publisher key" in err
    with pytest.raises(SystemExit):
        cli.main(["token", "admin", "acme", "--role", "analyst", "--expires", "soon"])
    assert "soon" in capsys.readouterr().err


# ---------------------------------------------------------------- two server processes


@contextmanager
def server_process(db_url: str) -> Iterator[str]:
    """``waymark-server serve`` in its own process over ``db_url``; yields its URL."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "server", "serve", "--db", db_url, "--port", str(port),
         "--rate-per-second", "1000", "--rate-burst", "1000"],
        env={**os.environ}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else b""
        try:
            return httpx.get(url + "/healthz", timeout=2).is_success
        except httpx.HTTPError:
            return False

    try:
        wait_for(answers, 60, "waymark-server serve")
        yield url
    finally:
        stop_process(proc, 20)
        if proc.stderr:
            proc.stderr.close()


def test_a_revocation_through_one_server_process_holds_at_once_in_another(
    db_url: str, store: Store, tmp_path: Path
) -> None:
    acme = make_tenant(store, "acme")
    spare_id, spare = store.credentials.issue_admin_token(acme.id, "analyst", actor="cli")
    with (
        server_process(db_url) as one,
        server_process(db_url) as other,
        httpx.Client(base_url=one, timeout=30) as a,
        httpx.Client(base_url=other, timeout=30) as b,
    ):
        device, secret = enroll_device(a, acme)
        # Both processes have just authenticated the device and the token (a cache would
        # hold them now).
        for c in (a, b):
            assert post_events(c, secret, [event()]).status_code == 200
            assert c.get("/v1/pack", headers=auth(secret)).status_code == 204
            assert c.get("/v1/admin/packs", headers=auth(spare)).status_code == 200
        r = a.post(f"/v1/admin/devices/{device}/revoke", headers=auth(acme.publisher_token))
        assert r.status_code == 200
        assert post_events(b, secret, [event()]).status_code == 401
        assert b.get("/v1/pack", headers=auth(secret)).status_code == 401
        r = a.post(f"/v1/admin/tokens/{spare_id}/revoke", headers=auth(acme.publisher_token))
        assert r.status_code == 200
        assert b.get("/v1/admin/packs", headers=auth(spare)).status_code == 401
        # And the other way round: a key revoked through the second process.
        kid = key_id(acme.key.public_key())
        r = b.post(f"/v1/admin/publisher-keys/{kid}/revoke", headers=auth(acme.publisher_token))
        assert r.status_code == 200
        refused = a.post("/v1/admin/bundles", content=acme.bundle(1),
                         headers=auth(acme.publisher_token))  # fmt: skip
        assert refused.status_code == 400 and refused.json()["error"] == "key_revoked"
