"""Fixtures for the server tests: the same tests run on SQLite and on a real PostgreSQL.

PostgreSQL is started once per session (initdb into a temporary folder, run as
the ``postgres`` user when the tests run as root, 127.0.0.1 on a free port);
every test gets its own database in it, or its own SQLite file.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import update

from agent.rules.bundle import make_bundle, public_key_text
from devtools.live_server import RunningServer, running_server
from devtools.postgres import PostgresCluster, postgres_available, running_postgres
from server import schema as s
from server.cli import open_store
from server.settings import ServerSettings
from server.store import Store

_counter = itertools.count()
#: The /metrics bearer token of the `live` server.
METRICS_TOKEN = "wmm_test-metrics-token"

PACK_TEMPLATE = """\
waymark: 1
id: {pack_id}
version: {version}
title: Microsoft 365 habits
default_locale: en
apps:
  outlook: {{windows: [outlook.exe], macos: [com.microsoft.Outlook], linux: [thunderbird]}}
rules:
  - id: share-link
    habit: share-links
    when: {{event: chord, app: outlook, chord: ctrl+v}}
    adopted: {{event: chord, app: outlook, chord: ctrl+k}}
    toast:
      title: {{en: Share a link instead}}
      body: {{en: "Links keep **one** version of the file."}}
"""


def pack_text(version: int, pack_id: str = "m365-habits") -> str:
    return PACK_TEMPLATE.format(pack_id=pack_id, version=version)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster]:
    if not postgres_available():
        pytest.skip("PostgreSQL is not installed (scripts/bootstrap-debian.sh installs it)")
    with running_postgres() as cluster:
        yield cluster


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'server.db'}"
    cluster: PostgresCluster = request.getfixturevalue("pg_cluster")
    return cluster.create_database(f"t{next(_counter)}")


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    opened = open_store(db_url)
    yield opened
    opened.engine.dispose()


@dataclass
class Tenant:
    """A tenant with every kind of credential, as an admin would set it up."""

    name: str
    id: int
    enroll_token: str
    publisher_token: str
    analyst_token: str
    key: Ed25519PrivateKey
    store: Store

    def bundle(self, version: int, *, pack_id: str = "m365-habits", days: int = 90) -> bytes:
        return make_bundle(
            pack_source=pack_text(version, pack_id),
            pack_id=pack_id,
            version=version,
            private_key=self.key,
            created=datetime.now(UTC),
            expires_in=timedelta(days=days),
        )


def make_tenant(store: Store, name: str) -> Tenant:
    tenant_id = store.create_tenant(name)
    key = Ed25519PrivateKey.generate()
    store.add_publisher_key(tenant_id, public_key_text(key.public_key()))
    return Tenant(
        name=name,
        id=tenant_id,
        enroll_token=store.add_enroll_token(tenant_id),
        publisher_token=store.add_admin_token(tenant_id, "publisher"),
        analyst_token=store.add_admin_token(tenant_id, "analyst"),
        key=key,
        store=store,
    )


@pytest.fixture
def acme(store: Store) -> Tenant:
    return make_tenant(store, "acme")


@pytest.fixture
def globex(store: Store) -> Tenant:
    return make_tenant(store, "globex")


@pytest.fixture
def live(store: Store) -> Iterator[RunningServer]:
    """The real server on its own loopback port (generous rate limits)."""
    settings = ServerSettings(
        rate_per_second=1000,
        rate_burst=1000,
        enroll_source_burst=1000,
        admin_failure_burst=1000,
        metrics_token=METRICS_TOKEN,
    )
    with running_server(store, settings) as srv:
        yield srv


@pytest.fixture
def client(live: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live.url, timeout=30) as c:
        yield c


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def enroll(
    client: httpx.Client,
    tenant: Tenant,
    groups: list[str] | None = None,
    *,
    established: bool = True,
) -> str:
    """Enroll a device over HTTP; returns its secret.

    ``established``: the device is one of a fleet that has run for a while, so
    the reports count it from its first event here (approved, active on two
    earlier days: what server/counting.py waits for).  Tests of that rule
    enroll fresh devices (tests/server/test_enrollment_abuse.py).
    """
    r = client.post(
        "/v1/enroll",
        json={
            "token": tenant.enroll_token,
            "os": "linux",
            "agent_version": "0.1.0",
            "groups": groups or [],
        },
    )
    assert r.status_code == 200, r.text
    secret: str = r.json()["device_secret"]
    if established:
        with tenant.store.engine.begin() as conn:
            conn.execute(
                update(s.devices)
                .where(s.devices.c.id == r.json()["device_id"])
                .values(counted_since=s.devices.c.created)
            )
    return secret


def dashboard_csrf(client: httpx.Client) -> str:
    """Open the dashboard's sign-in form: the CSRF token of its hidden field (its cookie is
    now in ``client``)."""
    page = client.get("/dashboard")
    assert page.status_code == 200 and "name=csrf" in page.text, page.text
    return page.text.split("name=csrf value='", 1)[1].split("'", 1)[0]


def dashboard_sign_in(client: httpx.Client, token: str) -> httpx.Response:
    """Sign in to the dashboard as a browser would: open the form, post it back."""
    return client.post("/dashboard/login", data={"token": token, "csrf": dashboard_csrf(client)})
