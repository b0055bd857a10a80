"""Reports at fleet scale: the adoption report and the dashboard over rollups, not raw rows.

Two tenants in one PostgreSQL 15: 1,000 and 20,000 devices, each sending 40
events a day for 30 days (1.2 M and 24 M events).  They are seeded through the
ingestion's own SQL: ``Store.insert_event_groups`` — the event insert, the
rollup maintenance, the exposures and cohort counts — in transactions of 250
device-days (10,000 events, what group commit builds under load), by two
processes (devices split between them, days in order).  PostgreSQL runs with
fsync off while seeding: durability does not change what a read costs, and
ingestion with fsync on is bench/server_ingest.py.

Then ``waymark-server serve`` (one process) answers, for each tenant, 30 times
after two warm-ups: ``GET /v1/admin/reports`` (the last 13 weeks), the same
for one group, ``GET /v1/admin/reports.csv`` and ``GET /dashboard`` (signed
in).  The clock is the client's, around each request on a kept-alive
connection.  ``WAYMARK_BENCH_REPORT_DEVICES=2000`` shrinks the large tenant
for a quick run; the recorded run is the full size.
"""

from __future__ import annotations

import os
import random
import statistics
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import httpx
from sqlalchemy import text

from bench._server import server_process
from devtools.postgres import postgres_available, running_postgres
from server.cli import open_store
from server.days import LocalDays
from server.ingest import CheckedEvent
from server.store import Device

SMALL: Final = 1_000
LARGE: Final = int(os.environ.get("WAYMARK_BENCH_REPORT_DEVICES", "20000"))
DAYS: Final = 30
EVENTS_PER_DAY: Final = 40
#: Device-days per transaction while seeding (250 × 40 = 10,000 events).
GROUP: Final = 250
SEEDERS: Final = 2
REQUESTS: Final = 30
BUDGET_P95_MS: Final = 300.0
BUDGET_RATIO: Final = 1.5
#: Four departments in two regions: eight group sets.
GROUP_SETS: Final = tuple(
    [d, r] for d in ("sales", "it", "hr", "finance") for r in ("emea", "amer")
)
#: A device's day: (habit, rule, kind, reason, how many); holdout devices see "holdout"
#: wherever a nudged device is shown a toast or held back by a later guard.
DAY_TEMPLATE: Final = (
    ("share-links", "share-link", "shown", None, 2),
    ("share-links", "share-link", "acted", None, 1),
    ("share-links", "share-link", "suppressed", "cooldown", 5),
    ("share-links", "share-link", "suppressed", "pack_gap", 3),
    ("share-links", "attach-link", "shown", None, 1),
    ("share-links", "attach-link", "suppressed", "cooldown", 2),
    ("share-links", "attach-link", "suppressed", "quiet", 1),
    ("meeting-notes", "notes-loop", "shown", None, 1),
    ("meeting-notes", "notes-loop", "dismissed", None, 1),
    ("meeting-notes", "notes-loop", "suppressed", "cooldown", 4),
    ("meeting-notes", "notes-loop", "suppressed", "pack_gap", 2),
    ("ctrl-k", "insert-link", "shown", None, 2),
    ("ctrl-k", "insert-link", "snoozed", None, 1),
    ("ctrl-k", "insert-link", "suppressed", "cooldown", 5),
    ("ctrl-k", "insert-link", "suppressed", "pack_daily_cap", 2),
    ("ctrl-k", "insert-link", "suppressed", "schedule", 4),
)
_HELD_BACK: Final = frozenset({"shown", "acted", "dismissed", "snoozed"})
_LATER_GUARDS: Final = frozenset({"cooldown", "pack_gap", "pack_daily_cap", "quiet"})
HABITS: Final = ("share-links", "meeting-notes", "ctrl-k")
#: The tables whose sizes the section reports.
TABLES: Final = (
    "events", "device_days", "daily_rollups", "report_cells", "exposures", "cohort_counts",
)  # fmt: skip


def _device_day(
    rng: random.Random, holdout: bool, start: float, day: str, serial: list[int]
) -> list[CheckedEvent]:
    out: list[CheckedEvent] = []

    def add(habit: str, rule: str | None, kind: str, reason: str | None) -> None:
        serial[0] += 1
        out.append(
            CheckedEvent(
                uuid=f"{serial[1]:08x}-0000-4000-8000-{serial[0]:012x}",
                t=start + rng.random() * 36000, kind=kind, pack_id="m365-habits",  # type: ignore[arg-type]
                pack_version=7, rule=rule, habit=habit, reason=reason, action=None, app=None,
                day=day,
            )
        )  # fmt: skip

    for habit, rule, kind, reason, count in DAY_TEMPLATE:
        if holdout and (kind in _HELD_BACK or reason in _LATER_GUARDS):
            kind, reason = "suppressed", "holdout"
        for _ in range(count):
            add(habit, rule, kind, reason)
    while len(out) < EVENTS_PER_DAY:
        # Nudged devices adopt a little more often than held-out ones.
        if rng.random() < (0.4 if holdout else 0.6):
            add(rng.choice(HABITS), None, "adopted", None)
        else:
            add("share-links", "share-link", "suppressed", "holdout" if holdout else "cooldown")
    return out


def _seed_slice(url: str, devices: Sequence[Device], first_day: float, worker: int) -> int:
    """Seed one process's devices for every day, day by day; returns the events stored."""
    store = open_store(url)
    rng = random.Random(worker)
    days = LocalDays()
    serial = [0, worker]
    stored = 0
    try:
        for d in range(DAYS):
            start = first_day + d * 86400 + 8 * 3600
            day = days.day(start)
            for i in range(0, len(devices), GROUP):
                groups = [
                    (dev, _device_day(rng, _held_out(dev), start, day, serial))
                    for dev in devices[i : i + GROUP]
                ]
                stored += sum(len(n) for n in store.insert_event_groups(groups))
    finally:
        store.engine.dispose()
    return stored


def _held_out(device: Device) -> bool:
    return device.ring < 10  # a tenth of the fleet, as a 10 % holdout would be


def _seed(url: str, name: str, count: int, first_day: float) -> tuple[int, str, float]:
    """Enroll ``count`` devices into a new tenant and seed their 30 days; the admin token."""
    store = open_store(url)
    tenant = store.create_tenant(name)
    token = store.add_admin_token(tenant, "analyst")
    devices = [
        store.enroll_device(tenant, GROUP_SETS[i % len(GROUP_SETS)], "windows", "0.1.0")[0]
        for i in range(count)
    ]
    store.engine.dispose()
    started = time.perf_counter()
    with ProcessPoolExecutor(SEEDERS) as pool:
        jobs = [
            pool.submit(_seed_slice, url, devices[k::SEEDERS], first_day, 100 * tenant + k)
            for k in range(SEEDERS)
        ]
        stored = sum(job.result() for job in jobs)
    return stored, token, time.perf_counter() - started


@dataclass
class _Latency:
    what: str
    p50_ms: float
    p95_ms: float
    size: int


def _measure(client: httpx.Client, what: str, path: str, **params: str) -> _Latency:
    for _ in range(2):
        client.get(path, params=params).raise_for_status()
    times: list[float] = []
    size = 0
    for _ in range(REQUESTS):
        started = time.perf_counter()
        r = client.get(path, params=params)
        times.append(time.perf_counter() - started)
        r.raise_for_status()
        size = len(r.content)
    times.sort()
    p95 = times[min(len(times) - 1, int(0.95 * len(times)))]
    return _Latency(what, 1000 * statistics.median(times), 1000 * p95, size)


def _lifts(url: str, token: str) -> str:
    """What the large tenant's report says (the figures the timings are of)."""
    headers = {"Authorization": f"Bearer {token}"}
    doc = httpx.get(f"{url}/v1/admin/reports", headers=headers, timeout=120).json()
    parts = [
        f"{a['habit']}: {a['treatment']['devices']:,} nudged, {a['holdout']['devices']:,} "
        f"held out, lift {a['lift'] * 100:+.1f} points "
        f"[{a['lift_ci95'][0] * 100:+.1f}, {a['lift_ci95'][1] * 100:+.1f}]"
        for a in doc["adoption"]
        if not a["withheld"]
    ]
    return f"{len(doc['days']):,} daily entries; " + "; ".join(parts)


def _latencies(url: str, token: str) -> list[_Latency]:
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, timeout=120, headers=headers) as api:
        rows = [
            _measure(api, "report (JSON)", "/v1/admin/reports"),
            _measure(api, "report, group sales", "/v1/admin/reports", group="sales"),
            _measure(api, "report (CSV)", "/v1/admin/reports.csv"),
        ]
    with httpx.Client(base_url=url, timeout=120) as browser:
        signed_in = browser.post("/dashboard/login", data={"token": token})
        if signed_in.status_code != 303:
            raise RuntimeError(f"the dashboard sign-in failed: {signed_in.status_code}")
        rows.append(_measure(browser, "dashboard (HTML)", "/dashboard"))
    return rows


def _sizes(url: str) -> dict[str, int]:
    store = open_store(url)
    try:
        with store.engine.connect() as conn:
            return {
                t: int(conn.execute(text(f"SELECT pg_total_relation_size('{t}')")).scalar_one())
                for t in TABLES
            }
    finally:
        store.engine.dispose()


def _rows(url: str) -> dict[str, int]:
    store = open_store(url)
    try:
        with store.engine.connect() as conn:
            return {
                t: int(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()) for t in TABLES
            }
    finally:
        store.engine.dispose()


def main() -> str:
    if not postgres_available():
        return "## Reports at fleet scale (bench/report_scale.py)\n\nNo PostgreSQL: skipped.\n"
    first_day = time.time() - (DAYS + 1) * 86400
    with (
        tempfile.TemporaryDirectory(prefix="waymark-bench-") as tmp,
        running_postgres(settings={"shared_buffers": "512MB", "max_wal_size": "8GB"}) as pg,
    ):
        url = pg.create_database("reports")
        open_store(url).engine.dispose()  # migrated once, before the seeders start
        small = _seed(url, "small", SMALL, first_day)
        after_small = _sizes(url)
        large = _seed(url, "large", LARGE, first_day)
        sizes, rows = _sizes(url), _rows(url)
        with server_process(url, Path(tmp)) as server:
            measured = {
                "small": _latencies(server.url, small[1]),
                "large": _latencies(server.url, large[1]),
            }
            said = _lifts(server.url, large[1])
    return _section(small, large, after_small, sizes, rows, measured, said)


def _mib(n: float) -> str:
    return f"{n / 2**20:,.0f} MiB" if n < 2**30 else f"{n / 2**30:,.2f} GiB"


def _section(
    small: tuple[int, str, float],
    large: tuple[int, str, float],
    after_small: dict[str, int],
    sizes: dict[str, int],
    rows: dict[str, int],
    measured: dict[str, list[_Latency]],
    said: str,
) -> str:
    events = small[0] + large[0]
    seconds = small[2] + large[2]
    lines = [
        "## Reports at fleet scale (bench/report_scale.py)",
        "",
        f"Two tenants in one PostgreSQL 15: {SMALL:,} and {LARGE:,} devices × {DAYS} days × "
        f"{EVENTS_PER_DAY} events a day ({small[0]:,} and {large[0]:,} events; 3 habits, 5 "
        "rules, 8 group sets, a tenth of the devices held out). Seeded through the ingestion's "
        "SQL (`Store.insert_event_groups`: event insert + rollup maintenance, 10,000 events a "
        f"transaction, {SEEDERS} processes, fsync off): **{events:,} events in "
        f"{seconds / 60:.1f} min ({events / seconds:,.0f} events/s)**. Then "
        "`waymark-server serve` (one process) answers each request "
        f"{REQUESTS} times after two warm-ups; the report covers the last 13 weeks.",
        "",
        "| request | 1.2 M events: p50 | p95 | 24 M events: p50 | p95 | p95 ratio | answer size |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    ratios = []
    for a, b in zip(measured["small"], measured["large"], strict=True):
        ratio = b.p95_ms / a.p95_ms
        ratios.append((a.what, ratio, b.p95_ms))
        lines.append(
            f"| {a.what} | {a.p50_ms:.0f} ms | {a.p95_ms:.0f} ms | {b.p50_ms:.0f} ms | "
            f"{b.p95_ms:.0f} ms | {ratio:.2f} | {b.size / 1024:,.0f} KiB |"
        )
    worst_p95 = max(p for _, _, p in ratios)
    worst_ratio = max(r for _, r, _ in ratios)
    met = worst_p95 <= BUDGET_P95_MS and worst_ratio <= BUDGET_RATIO
    lines += [
        "",
        f"Budget: p95 ≤ {BUDGET_P95_MS:.0f} ms at {LARGE:,} devices × {DAYS} days and "
        f"report(24 M) / report(1.2 M) ≤ {BUDGET_RATIO} — **{'met' if met else 'missed'}** "
        f"(worst p95 {worst_p95:.0f} ms, worst ratio {worst_ratio:.2f}).",
        "",
        f"The large tenant's report: {said} (the synthetic devices adopt within days in "
        "both arms: the figures are what the timings are of, not a finding).",
        "",
        "| table (both tenants) | rows | size with indexes | per event |",
        "|---|---:|---:|---:|",
    ]
    for table, size in sizes.items():
        count = rows.get(table)
        lines.append(
            f"| `{table}` | {'' if count is None else f'{count:,}'} | {_mib(size)} | "
            f"{size / events:,.1f} B |"
        )
    growth = {t: sizes[t] - after_small[t] for t in sizes}
    per_device_day = {t: growth[t] / (LARGE * DAYS) for t in growth}
    lines += ["", _extrapolation(per_device_day, sizes)]
    return "\n".join(lines) + "\n"


def _extrapolation(per_device_day: dict[str, float], sizes: dict[str, int]) -> str:
    """100,000 devices on paper, from the bytes each device-day cost here."""
    retained = 100_000 * 35
    raw = per_device_day["events"] * retained
    presence = per_device_day["device_days"] * retained
    # Daily cells grow with days, cells and group sets, not devices: per tenant and year.
    lasting = sizes["daily_rollups"] / 2 / DAYS * 365
    return (
        "**100,000 devices, on paper.** What the report reads does not grow with the "
        "fleet: daily cells are one row per day, cell and group set (a bigger fleet fills "
        "the same rows), cohort counts one row per week, group set, arm and days-to-adoption "
        "(at most 92 × 92 per cohort), so its time stays that of the table above. What grows "
        "is what ingestion writes and retention deletes: 4 M events a day; kept 35 days, "
        f"about {_mib(raw)} of raw events and {_mib(presence)} of device-days (measured "
        f"{per_device_day['events']:,.0f} B and {per_device_day['device_days']:,.0f} B per "
        "device-day here), plus one exposure row per device and habit. Daily cells grow "
        f"with days only (here {_mib(sizes['daily_rollups'])} for 30 days of both tenants, "
        f"about {_mib(lasting)} per tenant and year). "
        "The next steps at that size are in the write path, not the report: PostgreSQL "
        "partitioning of `events` and `device_days` by day, so retention drops a partition "
        "instead of deleting 4 M rows a day and each day's inserts touch a small index; "
        "then sharding the ingest writers by tenant. A columnar store would only be needed "
        "for ad-hoc questions about raw events, which the report deliberately never asks."
    )


if __name__ == "__main__":
    print(main())
