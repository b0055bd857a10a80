"""/dashboard in headless Chromium: sign-in, filters in the URL, gaps, tables, version markers."""

from __future__ import annotations

import hashlib
import os
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from agent.rules.records import RecordKind
from devtools.live_server import running_server
from devtools.waiting import wait_for
from server.cli import open_store
from server.ingest import CheckedEvent
from server.store import Device, Store
from tests.server.conftest import Tenant, make_tenant
from tests.server.webdriver import Browser, chromium_available, headless_chromium

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
# `make screenshots` sets this to refresh the docs copies; a plain test run leaves docs/ alone.
WRITE_DOCS = os.environ.get("WAYMARK_WRITE_SCREENSHOTS") == "1"
HABITS = {"share-links": "share-link", "meeting-notes": "notes-in-loop", "ctrl-k": "insert-link"}
DAYS = 42
TODAY = datetime.now(UTC).replace(hour=10, minute=0, second=0, microsecond=0)

pytestmark = [
    pytest.mark.chromium,
    pytest.mark.skipif(not chromium_available(), reason="needs chromium and chromium-driver"),
]


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


def _device_days(index: int, holdout: bool, rng: random.Random) -> list[CheckedEvent]:
    """One device's weeks: it joins during the first ten days (a rollout ramping up); nudged
    devices adopt share-links and meeting-notes more than the holdout, ctrl-k no more."""
    batch: list[CheckedEvent] = []
    start = index % 10
    for back in range(start, DAYS):
        at = TODAY - timedelta(days=DAYS - 1 - back)
        # At weekends only a handful of devices work: those days are withheld (gaps).
        if at.weekday() >= 5 and index % 10:
            continue
        for habit, rule in HABITS.items():
            effect = 0.0 if holdout or habit == "ctrl-k" else 0.05
            if holdout:
                batch.append(_event("suppressed", habit, rule, at, "holdout"))
            else:
                batch.append(_event("shown", habit, rule, at))
                if rng.random() < 0.5:
                    batch.append(_event("acted", habit, rule, at))
                if rng.random() < 0.3:
                    batch.append(_event("suppressed", habit, rule, at, "cooldown"))
            if rng.random() < 0.015 + effect:
                batch.append(_event("adopted", habit, None, at))
    return batch


def _fill(store: Store, tenant: Tenant, devices: int = 240) -> list[Device]:
    rng = random.Random(7)
    fleet = []
    for index in range(devices):
        groups = ["sales"] if index % 2 else ["it"]
        if index % 16 == 3:
            groups.append("legal")  # a small group: its cells stay withheld
        fleet.append(store.enroll_device(tenant.id, groups, "windows", "0.1.0")[0])
    for index, device in enumerate(fleet):
        store.insert_events(device, _device_days(index, (index // 2) % 4 == 0, rng))
    # Versions uploaded in the past: the markers on the time axis.
    for version, rollout, back in ((2, 100, 30), (3, 20, 12)):
        data = tenant.bundle(version)
        then = Store(store.engine, clock=(TODAY - timedelta(days=back)).timestamp)
        then.add_bundle(
            tenant.id, pack_id="m365-habits", version=version, data=data,
            sha256=hashlib.sha256(data).hexdigest(), key="0123456789abcdef",
            created=0.0, expires=4e9, rollout=rollout, groups=None,
        )  # fmt: skip
    return fleet


def _sign_in(browser: Browser, url: str, token: str) -> None:
    browser.open(url + "/dashboard")
    wait_for(lambda: "Admin token" in browser.source(), 20, "the sign-in page")
    browser.type("input[name=token]", "wma_not-a-token")
    browser.click("button[type=submit]")
    wait_for(lambda: "not a valid admin token" in browser.source(), 20, "the refusal")
    browser.type("input[name=token]", token)
    browser.click("button[type=submit]")
    wait_for(lambda: "Sign out" in browser.source(), 20, "the dashboard after sign-in")


def _save(name: str, png: bytes) -> None:
    assert png.startswith(b"\x89PNG") and len(png) > 10_000  # a rendering, not a blank page
    if WRITE_DOCS:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        (SCREENSHOTS / name).write_bytes(png)


def test_the_dashboard_draws_trends_lifts_gaps_markers_and_tables(sqlite_store: Store) -> None:
    acme = make_tenant(sqlite_store, "acme")
    _fill(sqlite_store, acme)
    with running_server(sqlite_store) as srv, headless_chromium(1280, 2400) as browser:
        _sign_in(browser, srv.url, acme.analyst_token)
        page = browser.source()
        assert "Did the nudges change the habit?" in page
        assert page.count("Nudges raised adoption by") >= 2  # two habits moved; ctrl-k did not
        assert "No evidence of an effect yet" in page
        assert "at least 10 devices in each group" in page  # the minimum, beside the lift
        assert page.count("Lift per group") == 3  # a breakdown per habit, floored per cell
        # Weekend adoptions come from under 10 devices: gaps in the chart, "withheld" in tables.
        assert page.count("withheld (fewer than 10 devices)") >= 3
        assert "m365-habits v3 20%" in page and "m365-habits v2 100%" in page
        # Every chart has its table: three trend charts, three weekly lifts, the overview.
        assert page.count("<svg") - page.count('aria-hidden="true"') >= 7
        assert page.count("Table of this chart") >= 7
        # Charts fit their cards: nothing is wider than the window.
        overflow = browser.run(
            "return [...document.querySelectorAll('svg[role=img]')]"
            ".filter(s => s.getBoundingClientRect().right > document.documentElement.clientWidth)"
            ".length"
        )
        assert overflow == 0
        # Under its CSP (no inline style or script) the page is styled by its stylesheet,
        # and the browser reports no violation.
        background = browser.run("return getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(248, 250, 252)"
        assert [m for m in browser.console() if "Content Security Policy" in m] == []
        since = (TODAY.date() - timedelta(days=DAYS - 1)).isoformat()
        browser.open(f"{srv.url}/dashboard?since={since}")
        wait_for(lambda: f"{since} to" in browser.source(), 20, "the six weeks with data")
        _save("dashboard.png", browser.screenshot())


def test_filters_are_in_the_url_and_a_small_group_is_withheld(sqlite_store: Store) -> None:
    acme = make_tenant(sqlite_store, "acme")
    _fill(sqlite_store, acme)
    since = (TODAY.date() - timedelta(days=DAYS - 1)).isoformat()
    with running_server(sqlite_store) as srv, headless_chromium(1280, 1600) as browser:
        _sign_in(browser, srv.url, acme.publisher_token)
        browser.open(f"{srv.url}/dashboard?since={since}&group=sales&window_days=7")
        wait_for(lambda: "group sales" in browser.source(), 20, "the filtered dashboard")
        query = parse_qs(urlsplit(browser.url()).query)
        assert query == {"since": [since], "group": ["sales"], "window_days": ["7"]}
        fields = browser.run(
            "return ['since', 'group', 'window_days']"
            ".map(n => document.querySelector(`[name=${n}]`).value)"
        )
        assert fields == [since, "sales", "7"]  # the form shows what the URL says
        assert "adoption within 7 days" in browser.source()
        _save("dashboard-group.png", browser.screenshot())
        # Five devices are in "legal": every figure of that group is withheld.
        browser.open(f"{srv.url}/dashboard?group=legal")
        wait_for(lambda: "group legal" in browser.source(), 20, "the legal view")
        legal = browser.source()
        assert "Nudges raised" not in legal and "Not enough devices yet" in legal
        # A filter that makes no sense is said, not a server error.
        browser.open(f"{srv.url}/dashboard?since=2026-13-40&window_days=7")
        wait_for(lambda: "showing the default report" in browser.source(), 20, "the error")


def test_the_dashboard_exports_its_view_as_csv(sqlite_store: Store) -> None:
    acme = make_tenant(sqlite_store, "acme")
    _fill(sqlite_store, acme, devices=40)
    with running_server(sqlite_store) as srv, httpx.Client(base_url=srv.url) as http:
        r = http.post("/dashboard/login", data={"token": acme.analyst_token})
        assert r.status_code == 303
        r = http.get("/dashboard/report.csv", params={"group": "it"})
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        lines = r.text.splitlines()
        assert lines[0] == "section,period,habit,rule,figure,value,note"
        assert any(line.startswith("habit_daily,") for line in lines)
        assert any(line.endswith(",withheld") for line in lines)
        assert http.get("/dashboard/report.csv", params={"until": "x"}).status_code == 400
