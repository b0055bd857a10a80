"""GET /v1/pack says which newer version a device is not in (``Waymark-Pack-Withheld``)."""

from __future__ import annotations

import httpx

from server.tokens import ring_of
from tests.server.conftest import Tenant, auth

HEADER = "Waymark-Pack-Withheld"


def device_in_ring(client: httpx.Client, tenant: Tenant, inside: bool, percent: int) -> str:
    """The secret of a new device whose ring is inside (or outside) ``percent``."""
    for _ in range(500):
        r = client.post("/v1/enroll", json={"token": tenant.enroll_token, "groups": ["sales"]})
        if (ring_of(r.json()["device_id"]) < percent) == inside:
            return str(r.json()["device_secret"])
    raise AssertionError("no device in that ring after 500 enrollments")


def test_a_device_outside_a_rollout_is_told_which_version_it_does_not_get(
    client: httpx.Client, acme: Tenant
) -> None:
    publisher = auth(acme.publisher_token)
    v6 = acme.bundle(6)
    assert client.post("/v1/admin/bundles", content=v6, headers=publisher).status_code == 201
    assert client.post("/v1/admin/bundles", content=acme.bundle(7), params={"rollout": 10},
                       headers=publisher).status_code == 201  # fmt: skip
    outside = device_in_ring(client, acme, inside=False, percent=10)
    inside = device_in_ring(client, acme, inside=True, percent=10)

    r = client.get("/v1/pack", headers=auth(outside))
    assert r.status_code == 200 and r.content == v6
    assert r.headers[HEADER] == "m365-habits 7 rollout"
    again = client.get("/v1/pack", headers={**auth(outside), "If-None-Match": r.headers["etag"]})
    assert again.status_code == 304 and again.headers[HEADER] == "m365-habits 7 rollout"
    got = client.get("/v1/pack", headers=auth(inside))
    assert got.status_code == 200 and HEADER not in got.headers  # it has the newest

    # A newer version for other groups only: named with its reason, to both devices.
    v8 = client.post("/v1/admin/bundles", content=acme.bundle(8), params={"groups": ["legal"]},
                     headers=publisher)  # fmt: skip
    assert v8.status_code == 201
    for secret in (outside, inside):
        answer = client.get("/v1/pack", headers=auth(secret))
        assert answer.headers[HEADER] == "m365-habits 8 groups"
    # Withdrawn versions are never named.
    rolled = client.post("/v1/admin/packs/m365-habits/rollback", json={"to_version": 6},
                         headers=publisher)  # fmt: skip
    assert rolled.status_code == 200
    assert HEADER not in client.get("/v1/pack", headers=auth(outside)).headers


def test_a_device_with_no_pack_yet_is_told_it_is_outside_the_rollout(
    client: httpx.Client, acme: Tenant, globex: Tenant
) -> None:
    publisher = auth(acme.publisher_token)
    assert client.post("/v1/admin/bundles", content=acme.bundle(3), params={"rollout": 0},
                       headers=publisher).status_code == 201  # fmt: skip
    r = client.get("/v1/pack", headers=auth(device_in_ring(client, acme, False, 0)))
    assert r.status_code == 204 and r.headers[HEADER] == "m365-habits 3 rollout"
    # Another tenant's device hears nothing of acme's packs.
    other = client.get("/v1/pack", headers=auth(device_in_ring(client, globex, False, 0)))
    assert other.status_code == 204 and HEADER not in other.headers
