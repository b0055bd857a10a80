"""The rollups are exactly the stored events, on SQLite and on PostgreSQL, through the same code.

Each test stores batches the way ingestion does (``Store.insert_event_groups``,
group commit included) and compares what the report reads — daily cells and
exposures — with the same figures computed from the raw events.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from agent.rules.records import RecordKind
from server import schema as s
from server.days import LocalDays
from server.ingest import CheckedEvent
from server.reports import build_report
from server.rollups import HABIT_TOTAL, Exposure, arm_of, cohort_key
from server.store import Device, Store
from tests.server.conftest import Tenant

NOW = time.time()
RULES = {"r1": "links", "r2": "links", "r3": "notes"}
KINDS: tuple[tuple[RecordKind, str | None], ...] = (
    ("shown", None), ("acted", None), ("snoozed", None), ("suppressed", "cooldown"),
    ("suppressed", "holdout"), ("suppressed", "paused"), ("suppressed", "audience"),
    ("adopted", None),
)  # fmt: skip


def checked(
    kind: RecordKind,
    t: float,
    rule: str | None = "r1",
    reason: str | None = None,
    habit: str | None = None,
    days: LocalDays | None = None,
) -> CheckedEvent:
    return CheckedEvent(
        uuid=str(uuid.uuid4()), t=t, kind=kind, pack_id="p", pack_version=1,
        rule=None if kind == "adopted" else rule,
        habit=habit or (RULES[rule] if rule else "links"), reason=reason, action=None,
        app=None, day=(days or LocalDays()).day(t),
    )  # fmt: skip


def fleet(store: Store, tenant: Tenant, n: int) -> list[Device]:
    out = []
    for i in range(n):
        groups = [["sales"], ["it"], ["sales", "emea"]][i % 3]
        secret = store.enroll_device(tenant.id, groups, "linux", "0.1.0")[1]
        device = store.device(secret)
        assert device is not None
        out.append(device)
    return out


def rollup_cells(store: Store, tenant: Tenant) -> dict[tuple[Any, ...], tuple[int, int]]:
    r, c = s.daily_rollups.c, s.report_cells.c
    key = (r.day, c.habit, c.rule, c.kind, c.reason, r.group_set_id)
    query = (
        select(*key, func.sum(r.events), func.sum(r.devices))  # the shards of a cell
        .select_from(s.daily_rollups.join(s.report_cells, c.id == r.cell_id))
        .where(r.tenant_id == tenant.id)
        .group_by(*key)
    )
    with store.engine.connect() as conn:
        return {tuple(x[:6]): (int(x[6]), int(x[7])) for x in conn.execute(query)}


def raw_cells(store: Store, tenant: Tenant) -> dict[tuple[Any, ...], tuple[int, int]]:
    """The same cells straight from the raw events: counts and distinct devices."""
    e = s.events.c
    key = (e.day, e.habit, e.rule, e.kind, e.reason, e.group_set_id)
    own = select(*key, func.count(), func.count(func.distinct(e.device_id))).where(
        e.tenant_id == tenant.id
    )
    total = select(
        e.day,
        e.habit,
        e.kind,
        e.reason,
        e.group_set_id,
        func.count(),
        func.count(func.distinct(e.device_id)),
    ).where(e.tenant_id == tenant.id, e.rule.is_not(None), e.kind.in_(("shown", "acted")))
    with store.engine.connect() as conn:
        out: dict[tuple[Any, ...], tuple[int, int]] = {}
        for x in conn.execute(own.group_by(*key)):
            k = tuple("" if v is None else v for v in x[:6])
            out[k] = (int(x[6]), int(x[7]))
        for x in conn.execute(total.group_by(e.day, e.habit, e.kind, e.reason, e.group_set_id)):
            out[(x[0], x[1], HABIT_TOTAL, x[2], x[3] or "", x[4])] = (int(x[5]), int(x[6]))
    return out


def exposures(store: Store, tenant: Tenant) -> dict[tuple[str, str], tuple[Any, ...]]:
    e = s.exposures.c
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(e.device_id, e.habit, e.arm, e.first_t, e.shown_t, e.adopted_t).where(
                e.tenant_id == tenant.id
            )
        ).all()
    return {(str(r[0]), str(r[1])): tuple(r[2:]) for r in rows}


def cohorts_match_exposures(store: Store, tenant: Tenant) -> bool:
    """The cohort counts are the live exposures, counted by key (nobody was forgotten)."""
    e, c = s.exposures.c, s.cohort_counts.c
    with store.engine.connect() as conn:
        live = conn.execute(
            select(e.device_id, e.habit, e.pack_id, e.arm, e.first_t, e.first_week,
                   e.group_set_id, e.shown_t, e.adopted_t).where(e.tenant_id == tenant.id)
        ).all()  # fmt: skip
        key = (c.habit, c.pack_id, c.first_week, c.group_set_id, c.arm, c.shown_days,
               c.adopted_days)  # fmt: skip
        counted = {
            (str(r[0]), *r[1:-1]): int(r[-1])
            for r in conn.execute(  # the shards of a count summed
                select(*key, func.sum(c.devices)).where(c.tenant_id == tenant.id).group_by(*key)
            )
            if int(r[-1]) != 0
        }
    expected: dict[tuple[Any, ...], int] = defaultdict(int)
    for r in live:
        cohort = cohort_key(Exposure(r[2], r[3], r[4], r[5], r[6], r[7], r[8]))
        expected[(str(r[1]), *cohort)] += 1
    return counted == dict(expected)


def expected_exposures(stored: Iterable[tuple[str, CheckedEvent]]) -> dict[Any, tuple[Any, ...]]:
    """Exposures by their definition, from every stored event at once."""
    by: dict[tuple[str, str], list[CheckedEvent]] = defaultdict(list)
    for device, ev in stored:
        if ev.habit:
            by[(device, ev.habit)].append(ev)
    out: dict[Any, tuple[Any, ...]] = {}
    for key, evs in by.items():
        triggers = sorted((ev.t, arm) for ev in evs if (arm := arm_of(ev)) is not None)
        if not triggers:
            continue
        first, arm = triggers[0]
        shown = min((ev.t for ev in evs if ev.kind == "shown"), default=None)
        adopted = min((ev.t for ev in evs if ev.kind == "adopted" and ev.t >= first), default=None)
        out[key] = (arm, first, shown, adopted)
    return out


def test_rollups_equal_the_raw_events_with_resends_duplicates_and_late_events(
    store: Store, acme: Tenant
) -> None:
    rng = random.Random(13)
    devices = fleet(store, acme, 14)
    stored: dict[tuple[str, str], CheckedEvent] = {}
    for _round in range(6):
        groups = []
        for device in rng.sample(devices, 8):
            batch = []
            for _ in range(rng.randint(1, 30)):
                kind, reason = rng.choice(KINDS)
                # Mostly today, some late: up to a few days back, each in its own day.
                t = NOW - rng.choice([60, 600, 3600, 86400, 3 * 86400, 5 * 86400 + 7])
                batch.append(checked(kind, t, rng.choice(list(RULES)), reason))
            known = [ev for (d, _), ev in stored.items() if d == device.id]
            batch += rng.sample(known, min(len(known), 3))  # resent after a lost answer
            groups.append((device, batch))
        # A resend racing its original inside the same group commit.
        groups.append((groups[0][0], list(groups[0][1][:2])))
        results = store.insert_event_groups(groups)
        for (device, batch), new in zip(groups, results, strict=True):
            for ev in batch:
                if ev.uuid in new:
                    stored[(device.id, ev.uuid)] = ev
    assert rollup_cells(store, acme) == raw_cells(store, acme)
    with store.engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(s.events)).scalar_one()
    assert total == len(stored)
    assert exposures(store, acme) == expected_exposures((d, ev) for (d, _), ev in stored.items())


def test_a_late_event_lands_in_its_own_day(store: Store, acme: Tenant) -> None:
    devices = fleet(store, acme, 10)
    yesterday = NOW - 86400
    for d in devices:
        store.insert_events(d, [checked("shown", NOW - 60)])
    before = build_report(store, acme.id, None, None, None)["days"]
    for d in devices:
        store.insert_events(d, [checked("shown", yesterday)])
    after = build_report(store, acme.id, None, None, None)["days"]
    today, day_before = LocalDays().day(NOW - 60), LocalDays().day(yesterday)
    assert [(x["day"], x["shown"]) for x in before] == [(today, 10)]
    assert [(x["day"], x["shown"]) for x in after] == [(day_before, 10), (today, 10)]


def test_days_follow_the_tenants_time_zone(store: Store, acme: Tenant) -> None:
    store.set_time_zone(acme.id, "Europe/Rome")
    rome = store.local_days(acme.id)
    # 23:30 UTC on a winter day is 00:30 the next day in Rome.
    base = datetime.now(UTC).replace(hour=23, minute=30, second=0, microsecond=0)
    late = (base - timedelta(days=2)).timestamp()
    for d in fleet(store, acme, 10):
        store.insert_events(d, [checked("shown", late, days=rome)])
    doc = build_report(store, acme.id, None, None, None)
    assert doc["time_zone"] == "Europe/Rome"
    expected = datetime.fromtimestamp(late, rome.zone).date().isoformat()
    assert expected != datetime.fromtimestamp(late, UTC).date().isoformat()
    assert [x["day"] for x in doc["days"]] == [expected]


def test_an_adoption_that_arrives_before_its_trigger_still_counts(
    store: Store, acme: Tenant
) -> None:
    t = NOW - 3 * 86400
    devices = fleet(store, acme, 3)
    a, b, c = devices
    # a: the adoption's batch arrives first, then the trigger from before it.
    store.insert_events(a, [checked("adopted", t + 100)])
    store.insert_events(a, [checked("shown", t)])
    # b: shown, then a late holdout suppression from before it moves the first trigger.
    store.insert_events(b, [checked("shown", t), checked("adopted", t - 50)])
    store.insert_events(b, [checked("suppressed", t - 100, reason="holdout")])
    # c: an adoption before any trigger never counts.
    store.insert_events(c, [checked("adopted", t - 10), checked("shown", t)])
    got = exposures(store, acme)
    assert got[(a.id, "links")] == ("treatment", t, t, t + 100)
    assert got[(b.id, "links")] == ("holdout", t - 100, t, t - 50)
    assert got[(c.id, "links")] == ("treatment", t, t, None)
    assert cohorts_match_exposures(store, acme)


def test_rebuilding_the_rollups_from_raw_events_gives_the_same_rollups(
    store: Store, acme: Tenant
) -> None:
    rng = random.Random(5)
    for device in fleet(store, acme, 12):
        batch = []
        for _ in range(20):
            kind, reason = rng.choice(KINDS)
            t = NOW - rng.randint(60, 6 * 86400)
            batch.append(checked(kind, t, rng.choice(list(RULES)), reason))
        store.insert_events(device, batch)
    cells, exposed = rollup_cells(store, acme), exposures(store, acme)
    assert store.rebuild_rollups(acme.id, chunk=37) == 12 * 20
    assert rollup_cells(store, acme) == cells
    assert exposures(store, acme) == exposed
    assert cohorts_match_exposures(store, acme)


def test_concurrent_writers_add_to_shards_that_compaction_and_erasure_keep_exact(
    store: Store, acme: Tenant
) -> None:
    rng = random.Random(9)
    devices = fleet(store, acme, 16)
    batches = [
        (d, [checked(kind, NOW - rng.randint(60, 2 * 86400), rng.choice(list(RULES)), reason)
             for kind, reason in rng.choices(KINDS, k=25)])
        for d in devices
    ]  # fmt: skip
    threads = [threading.Thread(target=store.insert_event_groups, args=([b],)) for b in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert rollup_cells(store, acme) == raw_cells(store, acme)
    store.erase_device(devices[1].id, acme.id, actor="test")  # out of several shards
    assert rollup_cells(store, acme) == raw_cells(store, acme)
    assert cohorts_match_exposures(store, acme)
    tomorrow = (datetime.now(UTC).date() + timedelta(days=1)).isoformat()
    store.rollups.compact(acme.id, tomorrow)
    with store.engine.connect() as conn:
        spread = conn.execute(
            select(func.count()).select_from(s.daily_rollups).where(s.daily_rollups.c.shard != 0)
        ).scalar_one()
        spread += conn.execute(
            select(func.count()).select_from(s.cohort_counts).where(s.cohort_counts.c.shard != 0)
        ).scalar_one()
    assert spread == 0
    assert rollup_cells(store, acme) == raw_cells(store, acme)
    assert cohorts_match_exposures(store, acme)
    store.erase_device(devices[0].id, acme.id, actor="test")
    assert rollup_cells(store, acme) == raw_cells(store, acme)
