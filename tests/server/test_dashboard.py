"""/dashboard in headless Chromium: login with an admin token, charts drawn as SVG."""

from __future__ import annotations

import hashlib
import os
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent.rules.records import RecordKind
from devtools.live_server import running_server
from devtools.waiting import wait_for
from server.cli import open_store
from server.ingest import CheckedEvent
from server.store import Store
from tests.server.conftest import make_tenant
from tests.server.webdriver import chromium_available, headless_chromium

DOCS_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "dashboard.png"
# `make screenshots` sets this to refresh the docs copy; a plain test run leaves docs/ alone.
WRITE_DOCS = os.environ.get("WAYMARK_WRITE_SCREENSHOTS") == "1"
HABITS = {"share-links": "share-link", "meeting-notes": "notes-in-loop", "ctrl-k": "insert-link"}


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    store = open_store(f"sqlite:///{tmp_path / 'dash.db'}")
    yield store
    store.engine.dispose()


def _event(
    kind: RecordKind, habit: str, rule: str | None, at: datetime, reason: str | None = None
) -> CheckedEvent:
    return CheckedEvent(
        uuid=str(uuid.uuid4()), t=at.timestamp(), day=at.strftime("%Y-%m-%d"), kind=kind,
        pack_id="m365-habits", pack_version=3, rule=rule, habit=habit, reason=reason,
        action=None, app=None,
    )  # fmt: skip


def _fill(store: Store, tenant_id: int, devices: int = 120, days: int = 14) -> None:
    """Two weeks of telemetry in which nudged devices adopt more and more."""
    rng = random.Random(7)
    today = datetime.now(UTC).replace(hour=10, minute=0, second=0, microsecond=0)
    fleet = [
        store.enroll_device(tenant_id, ["sales"], "windows", "0.1.0")[0] for _ in range(devices)
    ]
    for index, device in enumerate(fleet):
        holdout = index % 4 == 0
        batch: list[CheckedEvent] = []
        for back in range(days):
            at = today - timedelta(days=days - 1 - back)
            for habit, rule in HABITS.items():
                if holdout:
                    batch.append(_event("suppressed", habit, rule, at, "holdout"))
                    if rng.random() < 0.03:
                        batch.append(_event("adopted", habit, None, at))
                    continue
                batch.append(_event("shown", habit, rule, at))
                if rng.random() < 0.5:
                    batch.append(_event("acted", habit, rule, at))
                if rng.random() < 0.3:
                    batch.append(_event("suppressed", habit, rule, at, "cooldown"))
                if rng.random() < 0.05 + back * 0.025:
                    batch.append(_event("adopted", habit, None, at))
        store.insert_events(device, batch)


@pytest.mark.chromium
@pytest.mark.skipif(not chromium_available(), reason="needs chromium and chromium-driver")
def test_dashboard_logs_in_with_an_admin_token_and_draws_the_report(
    sqlite_store: Store,
) -> None:
    acme = make_tenant(sqlite_store, "acme")
    _fill(sqlite_store, acme.id)
    for version, rollout in ((2, 100), (3, 20)):
        data = acme.bundle(version)
        sqlite_store.add_bundle(
            acme.id, pack_id="m365-habits", version=version, data=data,
            sha256=hashlib.sha256(data).hexdigest(), key="0123456789abcdef",
            created=0.0, expires=4e9, rollout=rollout, groups=None,
        )  # fmt: skip
    with running_server(sqlite_store) as srv, headless_chromium() as browser:
        browser.open(srv.url + "/dashboard")
        wait_for(lambda: "Admin token" in browser.source(), 20, "the login page")
        browser.type("input[name=token]", "wma_not-a-token")
        browser.click("button[type=submit]")
        wait_for(lambda: "not a valid admin token" in browser.source(), 20, "the refusal")
        browser.type("input[name=token]", acme.analyst_token)
        browser.click("button[type=submit]")
        wait_for(lambda: "Sign out" in browser.source(), 20, "the dashboard after login")
        page = browser.source()
        assert "Shown, acted on and adopted per day" in page
        assert page.count("<svg") >= 4  # three habits + the lift chart (+ legends)
        assert "pp [" in page  # a lift with its interval
        assert "20%" in page.split("Pack versions")[1]
        png = browser.screenshot()
        assert png.startswith(b"\x89PNG")
        assert len(png) > 10_000  # a real rendering, not a blank page
        if WRITE_DOCS:
            DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            DOCS_SCREENSHOT.write_bytes(png)
