"""The rollups' SQL: kept up to date as batches are stored, read by the report, erased, purged.

One code path for SQLite and PostgreSQL; only the transport of a bulk insert
differs (PostgreSQL unpacks one JSON parameter, as the event insert does).
:meth:`RollupStore.apply` runs inside the transaction that stores a batch and
sees only the events that were new in it, so the rollups are exactly the sum
of the stored events: a resend adds nothing, a late event lands in its own
day, and a failed transaction takes its rollup changes back with it.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

from sqlalchemy import Connection, Engine, and_, bindparam, case, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from server import schema as s
from server.days import LocalDays
from server.ingest import CheckedEvent
from server.reports import DailyRow, ExposureRow, VersionMark
from server.rollups import (
    CellKey,
    CohortKey,
    Exposure,
    HabitActivity,
    RawKey,
    activities,
    cell_key,
    cohort_key,
    counted_in,
    merge_exposure,
)

__all__ = [
    "CellIds",
    "ErasedRows",
    "EventKey",
    "Learned",
    "NewEvent",
    "RollupStore",
    "canonical_groups",
    "event_keys",
]

#: A stored event and what the rollups need of its device: (device id, tenant, group set, event).
NewEvent = tuple[str, int, int, CheckedEvent]
#: Per (tenant, an event's cell fields): the ids of the cells such an event counts in.
CellIds = Mapping[tuple[int, RawKey], tuple[int, ...]]
_DAY: Final = 86400.0
#: Rows per statement when rows are deleted in bulk (bounds a transaction).
DELETE_CHUNK: Final = 20_000
#: Rows of one daily cell that concurrent writers add to (PostgreSQL; SQLite has one writer).
ROLLUP_SHARDS: Final = 8
#: Committed facts remembered per process, so most batches need no read: above this, forgotten.
KNOWN_LIMIT: Final = 300_000


#: What an event adds to the daily cells: (device, tenant, group set, day, cell fields).
EventKey = tuple[str, int, int, str, RawKey]


def event_keys(events: Iterable[NewEvent]) -> Counter[EventKey]:
    """Events counted by what they add to the daily cells: thousands of events, few keys."""
    return Counter(
        (device, tenant, gs, e.day, (e.pack_id, e.habit, e.rule, e.kind, e.reason))
        for device, tenant, gs, e in events
    )


def canonical_groups(groups: Iterable[str]) -> str:
    """The one spelling of a set of groups: a sorted JSON list."""
    return json.dumps(sorted(set(groups)), separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class ErasedRows:
    """How many of a device's rows an erasure deleted."""

    events: int
    exposures: int


@dataclass(slots=True)
class Learned:
    """What one transaction read or wrote that later batches can skip reading again.

    Both only ever grow in the database (cells counted for a device-day) or move
    earlier (an exposure's times), so a fact remembered from a committed
    transaction can only make a batch look *more* likely to change something,
    never less: a stale memory costs a read, it never skips a needed write.
    """

    cells: dict[tuple[str, str], frozenset[int]]
    exposures: dict[tuple[str, str], Exposure]


class RollupStore:
    """The analytics tables of one database; ids of cells and group sets are cached."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._postgres = engine.dialect.name == "postgresql"
        self._insert = postgresql.insert if self._postgres else sqlite.insert
        # Ids are cached only once committed, so a rolled-back id is never reused.
        self._cells: dict[tuple[int, CellKey], int] = {}
        self._counted_in: dict[tuple[int, RawKey], tuple[int, ...]] = {}
        self._shards = ROLLUP_SHARDS if self._postgres else 1
        # Built once: an upsert's `excluded` alias costs more to build than to run.
        add = self._insert(s.daily_rollups)
        self._add_rollups_stmt = add.on_conflict_do_update(
            index_elements=["cell_id", "day", "group_set_id", "shard"],
            set_={
                "events": s.daily_rollups.c.events + add.excluded.events,
                "devices": s.daily_rollups.c.devices + add.excluded.devices,
            },
        )
        count = self._insert(s.cohort_counts)
        self._count_cohorts_stmt = count.on_conflict_do_update(
            index_elements=[
                "tenant_id", "pack_id", "habit", "first_week", "group_set_id", "arm",
                "shown_days", "adopted_days", "shard",
            ],
            set_={"devices": s.cohort_counts.c.devices + count.excluded.devices},
        )  # fmt: skip
        self._known_cells: dict[tuple[str, str], frozenset[int]] = {}
        self._known_exposures: dict[tuple[str, str], Exposure] = {}
        self._group_sets: dict[tuple[int, str], int] = {}

    # ---------------------------------------------------------------- ids

    def group_set_id(self, tenant_id: int, groups: Iterable[str]) -> int:
        """The id of a tenant's group set, created (and committed) on first use."""
        text_ = canonical_groups(groups)
        key = (tenant_id, text_)
        found = self._group_sets.get(key)
        if found is not None:
            return found
        digest = hashlib.sha256(text_.encode()).hexdigest()
        c = s.group_sets.c
        with self.engine.begin() as conn:
            conn.execute(
                self._insert(s.group_sets)
                .values(tenant_id=tenant_id, digest=digest, groups=text_)
                .on_conflict_do_nothing(index_elements=["tenant_id", "digest"])
            )
            value = conn.execute(
                select(c.id).where(c.tenant_id == tenant_id, c.digest == digest)
            ).scalar_one()
        self._group_sets[key] = int(value)
        return int(value)

    def cell_ids(self, tenant_id: int, keys: Iterable[CellKey]) -> dict[CellKey, int]:
        """The ids of a tenant's cells, created (and committed) on first use."""
        wanted = set(keys)
        out = {k: self._cells[(tenant_id, k)] for k in wanted if (tenant_id, k) in self._cells}
        missing = sorted(wanted - out.keys())
        if not missing:
            return out
        c = s.report_cells.c
        rows = [{"tenant_id": tenant_id, **k._asdict()} for k in missing]
        with self.engine.begin() as conn:
            conn.execute(
                self._insert(s.report_cells).on_conflict_do_nothing(
                    index_elements=["tenant_id", "pack_id", "habit", "rule", "kind", "reason"]
                ),
                rows,
            )
            packs = sorted({k.pack_id for k in missing})
            found = conn.execute(
                select(c.id, c.pack_id, c.habit, c.rule, c.kind, c.reason).where(
                    c.tenant_id == tenant_id, c.pack_id.in_(packs)
                )
            ).all()
        for r in found:
            key = CellKey(str(r[1]), str(r[2]), str(r[3]), str(r[4]), str(r[5]))
            self._cells[(tenant_id, key)] = int(r[0])
            if key in wanted:
                out[key] = int(r[0])
        return out

    def cells_for(self, tenant_id: int, keys: Iterable[RawKey]) -> dict[RawKey, tuple[int, ...]]:
        """For each event key, the ids of the cells such an event counts in (made on first use)."""
        wanted = set(keys)
        out = {
            k: self._counted_in[(tenant_id, k)]
            for k in wanted
            if (tenant_id, k) in self._counted_in
        }
        missing = wanted - out.keys()
        if missing:
            parts = {k: counted_in(cell_key(k)) for k in missing}
            ids = self.cell_ids(tenant_id, {c for cells in parts.values() for c in cells})
            for k, cells in parts.items():
                out[k] = self._counted_in[(tenant_id, k)] = tuple(ids[c] for c in cells)
        return out

    # ---------------------------------------------------------------- ingest

    def apply(
        self,
        conn: Connection,
        new: Sequence[NewEvent],
        cells: CellIds,
        days_of: Callable[[int], LocalDays],
        same: Mapping[EventKey, int] | None = None,
    ) -> Learned:
        """Add the events that were new in this transaction to the rollups.

        ``same`` is ``new`` counted by :func:`event_keys` when the caller has it.
        Returns what to :meth:`learn` once the transaction has committed.
        """
        learned = Learned({}, {})
        if not new:
            return learned
        if same is None:
            same = event_keys(new)
        presence: dict[tuple[str, int, str], int] = {}
        events: dict[tuple[int, str, int], int] = defaultdict(int)
        tenants: dict[str, tuple[int, int]] = {}
        tenant_of_cell: dict[int, int] = {}
        for (device, tenant, gs, day, key), n in same.items():
            tenants[device] = (tenant, gs)
            for cell in cells[(tenant, key)]:
                tenant_of_cell[cell] = tenant
                events[(cell, day, gs)] += n
                presence.setdefault((day, cell, device), gs)
        devices: dict[tuple[int, str, int], int] = defaultdict(int)
        for day, cell, device in self._mark_present(conn, presence, tenants, learned):
            devices[(cell, day, presence[(day, cell, device)])] += 1
        self._update_exposures(conn, new, tenants, days_of, learned)
        shard = self._shard()
        # Last, in key order: these rows are shared by every device, so their locks
        # are held for the shortest time and always taken in the same order.
        rows = [
            {
                "cell_id": cell,
                "day": day,
                "group_set_id": gs,
                "shard": shard,
                "tenant_id": tenant_of_cell[cell],
                "events": n,
                "devices": devices.get((cell, day, gs), 0),
            }
            for (cell, day, gs), n in sorted(events.items())
        ]
        self._add_rollups(conn, rows)
        return learned

    def _add_rollups(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        conn.execute(self._add_rollups_stmt, rows)

    def learn(self, learned: Learned) -> None:
        """Remember what a committed transaction found (see :class:`Learned`)."""
        if len(self._known_cells) > KNOWN_LIMIT:
            self._known_cells.clear()
        if len(self._known_exposures) > KNOWN_LIMIT:
            self._known_exposures.clear()
        self._known_cells.update(learned.cells)
        self._known_exposures.update(learned.exposures)

    def forget(self) -> None:
        """Drop what was remembered (rows were deleted: an erasure, retention, a rebuild)."""
        self._known_cells.clear()
        self._known_exposures.clear()

    def _mark_present(
        self,
        conn: Connection,
        presence: Mapping[tuple[str, int, str], int],
        tenants: Mapping[str, tuple[int, int]],
        learned: Learned,
    ) -> list[tuple[str, int, str]]:
        """Note which cells counted each device on each day; returns the (day, cell, device)
        that were not counted before (each adds one to its cell's devices)."""
        wanted: dict[tuple[str, str], dict[int, int]] = defaultdict(dict)
        for (day, cell, device), gs in presence.items():
            wanted[(day, device)][cell] = gs
        # A device's later batches of a day mostly fall in cells it was counted in.
        wanted = {
            key: cells
            for key, cells in wanted.items()
            if not cells.keys() <= self._known_cells.get(key, frozenset())
        }
        if not wanted:
            return []
        c = s.device_days.c
        # Locked, so two transactions with one device cannot both count it (PostgreSQL;
        # SQLite has a single writer and renders no FOR UPDATE).
        known = {
            (str(r[0]), str(r[1])): _cells(str(r[2]))
            for r in conn.execute(
                select(c.day, c.device_id, c.cells)
                .where(
                    c.device_id.in_(sorted({d for _, d in wanted})),
                    c.day.in_(sorted({day for day, _ in wanted})),
                )
                .with_for_update()
            )
        }
        fresh: list[tuple[str, int, str]] = []
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        for (day, device), cells in sorted(wanted.items()):
            before = known.get((day, device), {})
            added = {cell: gs for cell, gs in cells.items() if cell not in before}
            learned.cells[(day, device)] = frozenset(before.keys() | added.keys())
            if not added:
                continue
            fresh += [(day, cell, device) for cell in added]
            row = {"b_day": day, "b_device": device, "b_cells": _cells_text({**before, **added})}
            if (day, device) in known:
                updates.append(row)
            else:
                inserts.append({**row, "b_tenant": tenants[device][0]})
        if inserts:
            # A row another transaction added meanwhile fails this one, and group
            # commit retries each batch alone, which then sees and locks that row.
            conn.execute(_INSERT_DEVICE_DAY, inserts)
        if updates:
            conn.execute(_UPDATE_DEVICE_DAY, updates)
        return fresh

    def _update_exposures(
        self,
        conn: Connection,
        new: Sequence[NewEvent],
        tenants: Mapping[str, tuple[int, int]],
        days_of: Callable[[int], LocalDays],
        learned: Learned,
    ) -> None:
        acts = {
            key: act
            for key, act in activities((device, e) for device, _, _, e in new).items()
            if not _changes_nothing(self._known_exposures.get(key), act)
        }
        if not acts:
            return
        c = s.exposures.c
        stored = {
            (str(r[0]), str(r[1])): _exposure(r)
            for r in conn.execute(
                select(c.device_id, c.habit, *_EXPOSURE_COLUMNS).where(
                    c.device_id.in_(sorted({d for d, _ in acts}))
                )
            )
        }
        changed: dict[tuple[str, str], tuple[Exposure, bool]] = {}
        for (device, habit), act in sorted(acts.items()):
            tenant, group_set = tenants[device]
            old = stored.get((device, habit))
            merged, moved = merge_exposure(old, act, days_of(tenant).week, group_set)
            if merged is not None and merged != old:
                changed[(device, habit)] = (merged, moved)
            elif old is not None:
                learned.exposures[(device, habit)] = old
        adoptions = _adoptions(conn, sorted({d for (d, _), (_, moved) in changed.items() if moved}))
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        cohorts: dict[tuple[int, str, CohortKey], int] = defaultdict(int)
        for (device, habit), (merged, moved) in changed.items():
            if moved:  # the first trigger moved: its first adoption from the raw events
                after = [t for t in adoptions.get((device, habit), ()) if t >= merged.first_t]
                merged = replace(merged, adopted_t=min(after) if after else None)
            tenant = tenants[device][0]
            row = {"device_id": device, "habit": habit, "tenant_id": tenant, **_columns(merged)}
            old = stored.get((device, habit))
            (inserts if old is None else updates).append(row)
            learned.exposures[(device, habit)] = merged
            if old is not None:
                cohorts[(tenant, habit, cohort_key(old))] -= 1
            cohorts[(tenant, habit, cohort_key(merged))] += 1
        if inserts:
            conn.execute(s.exposures.insert(), inserts)
        if updates:
            conn.execute(_UPDATE_EXPOSURE, [{f"b_{k}": v for k, v in r.items()} for r in updates])
        self._count_cohorts(conn, cohorts)

    def _count_cohorts(
        self, conn: Connection, deltas: Mapping[tuple[int, str, CohortKey], int]
    ) -> None:
        """Add ``deltas`` (devices, may be negative) to the cohort counts, in key order.

        Into this writer's shard: a shard's row may go below zero (a device counted
        in one shard moved to another key in another) — only the sum is a count.
        """
        shard = self._shard()
        rows = [
            {"tenant_id": tenant, "habit": habit, **key._asdict(), "shard": shard, "devices": n}
            for (tenant, habit, key), n in sorted(deltas.items())
            if n
        ]
        if rows:
            conn.execute(self._count_cohorts_stmt, rows)

    def _shard(self) -> int:
        """This writer's shard of shared counters (one per process and thread, mostly)."""
        return hash((os.getpid(), threading.get_ident())) % self._shards

    # ---------------------------------------------------------------- reports

    def group_sets(self, tenant_id: int) -> dict[int, frozenset[str]]:
        c = s.group_sets.c
        with self.engine.connect() as conn:
            rows = conn.execute(select(c.id, c.groups).where(c.tenant_id == tenant_id)).all()
        return {int(r[0]): frozenset(json.loads(r[1])) for r in rows}

    def daily_rows(
        self, tenant_id: int, since_day: str, until_day: str, pack_id: str | None
    ) -> list[DailyRow]:
        """The cells of local days ``since_day``..``until_day``, one row per group set.

        Without a pack, a cell's packs are merged: events add up, and the devices
        are the largest pack's, a lower bound of the distinct count (the floor
        can only withhold more, never less).
        """
        d = s.daily_rollups.c
        # The shards of a cell first: they are parts of one count.
        r = (
            select(
                d.cell_id, d.day, d.group_set_id,
                func.sum(d.events).label("events"), func.sum(d.devices).label("devices"),
            )
            .where(d.tenant_id == tenant_id, d.day >= since_day, d.day <= until_day)
            .group_by(d.cell_id, d.day, d.group_set_id)
            .subquery()
        ).c  # fmt: skip
        c = s.report_cells.c
        query = (
            select(
                r.day, c.habit, c.rule, c.kind, c.reason, r.group_set_id,
                func.sum(r.events), func.max(r.devices),
            )
            .select_from(r.cell_id.table.join(s.report_cells, c.id == r.cell_id))
            .group_by(r.day, c.habit, c.rule, c.kind, c.reason, r.group_set_id)
        )  # fmt: skip
        if pack_id is not None:
            query = query.where(c.pack_id == pack_id)
        with self.engine.connect() as conn:
            return [
                DailyRow(
                    str(x[0]),
                    str(x[1]),
                    str(x[2]),
                    str(x[3]),
                    str(x[4]),
                    int(x[5]),
                    int(x[6]),
                    int(x[7]),
                )
                for x in conn.execute(query)
            ]

    def exposure_rows(
        self,
        tenant_id: int,
        first_week: str,
        last_week: str,
        pack_id: str | None,
        window_days: int,
    ) -> list[ExposureRow]:
        """Devices per cohort week, group set and arm, with adoption and toasts in the window."""
        d = s.cohort_counts.c

        def within(column: Any) -> Any:
            inside = and_(column >= 0, column < window_days)
            return func.sum(case((inside, d.devices), else_=0))

        query = (
            select(
                d.habit, d.first_week, d.group_set_id, d.arm, func.sum(d.devices),
                within(d.adopted_days), within(d.shown_days),
            )
            .where(d.tenant_id == tenant_id, d.first_week >= first_week, d.first_week <= last_week)
            .group_by(d.habit, d.first_week, d.group_set_id, d.arm)
        )  # fmt: skip
        if pack_id is not None:
            query = query.where(d.pack_id == pack_id)
        with self.engine.connect() as conn:
            return [
                ExposureRow(
                    str(x[0]), str(x[1]), int(x[2]), str(x[3]), int(x[4]), int(x[5]), int(x[6])
                )
                for x in conn.execute(query)
            ]

    def version_marks(self, tenant_id: int, pack_id: str | None) -> list[VersionMark]:
        c = s.rollout_log.c
        query = select(c.at, c.pack_id, c.version, c.action, c.rollout, c.groups).where(
            c.tenant_id == tenant_id
        )
        if pack_id is not None:
            query = query.where(c.pack_id == pack_id)
        with self.engine.connect() as conn:
            return [
                VersionMark(
                    float(r[0]),
                    str(r[1]),
                    int(r[2]),
                    str(r[3]),
                    int(r[4]),
                    None if r[5] is None else tuple(json.loads(r[5])),
                )
                for r in conn.execute(query.order_by(c.at))
            ]

    # ---------------------------------------------------------------- erasure and retention

    def erase_device(self, conn: Connection, device_id: str) -> ErasedRows:
        """Take one device's events back out of the rollups, then delete its rows.

        Its events within the retention period are subtracted from the daily
        cells they were counted in (and the device from their device counts);
        older contributions were folded into counts of at least 10 devices long
        ago and name no device.  Its exposures are deleted and taken out of the
        cohort counts.
        """
        ev, pr = s.events.c, s.device_days.c
        tenant = conn.execute(
            select(s.devices.c.tenant_id).where(s.devices.c.id == device_id)
        ).scalar()
        if tenant is None:
            return ErasedRows(0, 0)
        counts = conn.execute(
            select(
                ev.day,
                ev.pack_id,
                ev.habit,
                ev.rule,
                ev.kind,
                ev.reason,
                ev.group_set_id,
                func.count(),
            )
            .where(ev.device_id == device_id)
            .group_by(ev.day, ev.pack_id, ev.habit, ev.rule, ev.kind, ev.reason, ev.group_set_id)
        ).all()
        minus: dict[tuple[int, str, int], list[int]] = defaultdict(lambda: [0, 0])
        cell_c = s.report_cells.c
        cell_ids = {
            CellKey(str(r[1]), str(r[2]), str(r[3]), str(r[4]), str(r[5])): int(r[0])
            for r in conn.execute(
                select(
                    cell_c.id, cell_c.pack_id, cell_c.habit, cell_c.rule, cell_c.kind, cell_c.reason
                ).where(cell_c.tenant_id == int(tenant))
            )
        }
        for day, pack, habit, rule, kind, reason, gs, n in counts:
            own = CellKey(str(pack), habit or "", rule or "", str(kind), reason or "")
            for key in counted_in(own):
                cell = cell_ids.get(key)
                if cell is not None and gs is not None:
                    minus[(cell, str(day), int(gs))][0] += int(n)
        present = conn.execute(
            select(pr.day, pr.cells).where(
                pr.device_id == device_id, pr.day.in_(sorted({str(r[0]) for r in counts}))
            )
        ).all()
        for day, text_ in present:
            for cell, gs in _cells(str(text_)).items():
                minus[(cell, str(day), gs)][1] += 1
        if minus:
            self._subtract(conn, int(tenant), minus)
        conn.execute(delete(s.device_days).where(pr.device_id == device_id))
        e = s.exposures.c
        mine = conn.execute(
            select(e.device_id, e.habit, *_EXPOSURE_COLUMNS).where(e.device_id == device_id)
        ).all()
        self._count_cohorts(
            conn, {(int(tenant), str(x[1]), cohort_key(_exposure(x))): -1 for x in mine}
        )
        exposures = conn.execute(delete(s.exposures).where(e.device_id == device_id)).rowcount
        events = conn.execute(delete(s.events).where(ev.device_id == device_id)).rowcount
        return ErasedRows(int(events or 0), int(exposures or 0))

    def _subtract(
        self, conn: Connection, tenant_id: int, minus: Mapping[tuple[int, str, int], list[int]]
    ) -> None:
        """Take events and devices out of daily cells: each cell's shards become one row."""
        r = s.daily_rollups.c
        keys = sorted(minus)
        totals: dict[tuple[int, str, int], list[int]] = defaultdict(lambda: [0, 0])
        for cell, day, gs, events, devices in conn.execute(
            select(r.cell_id, r.day, r.group_set_id, r.events, r.devices).where(
                r.tenant_id == tenant_id,
                r.cell_id.in_(sorted({k[0] for k in keys})),
                r.day.in_(sorted({k[1] for k in keys})),
            )
        ):
            key = (int(cell), str(day), int(gs))
            if key in minus:
                totals[key][0] += int(events)
                totals[key][1] += int(devices)
        for cell, day, gs in keys:
            conn.execute(
                delete(s.daily_rollups).where(r.cell_id == cell, r.day == day, r.group_set_id == gs)
            )
        rows = [
            {"cell_id": cell, "day": day, "group_set_id": gs, "shard": 0, "tenant_id": tenant_id,
             "events": events - minus[(cell, day, gs)][0],
             "devices": max(0, devices - minus[(cell, day, gs)][1])}
            for (cell, day, gs), (events, devices) in sorted(totals.items())
            if events - minus[(cell, day, gs)][0] > 0
        ]  # fmt: skip
        if rows:
            conn.execute(s.daily_rollups.insert(), rows)

    def compact(self, tenant_id: int, before_day: str) -> int:
        """Merge the shards of a tenant's cells of days before ``before_day`` into shard 0
        (no writer adds to them any more, and a report then reads one row per cell), and
        the shards of its cohort counts."""
        return self._compact_days(tenant_id, before_day) + self._compact_cohorts(tenant_id)

    def _compact_days(self, tenant_id: int, before_day: str) -> int:
        r = s.daily_rollups.c
        with self.engine.begin() as conn:
            spread = conn.execute(
                select(r.cell_id, r.day, r.group_set_id, func.sum(r.events), func.sum(r.devices))
                .where(r.tenant_id == tenant_id, r.day < before_day, r.shard != 0)
                .group_by(r.cell_id, r.day, r.group_set_id)
            ).all()
            if not spread:
                return 0
            conn.execute(
                delete(s.daily_rollups).where(
                    r.tenant_id == tenant_id, r.day < before_day, r.shard != 0
                )
            )
            self._add_rollups(
                conn,
                [
                    {"cell_id": x[0], "day": x[1], "group_set_id": x[2], "shard": 0,
                     "tenant_id": tenant_id, "events": int(x[3]), "devices": int(x[4])}
                    for x in sorted(spread, key=lambda x: (x[0], x[1], x[2]))
                ],
            )  # fmt: skip
        return len(spread)

    def _compact_cohorts(self, tenant_id: int) -> int:
        """Sum each cohort count's shards into shard 0 and drop what sums to zero."""
        c = s.cohort_counts.c
        key = (c.pack_id, c.habit, c.first_week, c.group_set_id, c.arm, c.shown_days,
               c.adopted_days)  # fmt: skip
        with self.engine.begin() as conn:
            spread = conn.execute(
                select(*key, func.sum(c.devices), func.max(c.shard), func.min(c.shard))
                .where(c.tenant_id == tenant_id)
                .group_by(*key)
            ).all()
            merged = [x for x in spread if int(x[8]) != 0 or int(x[9]) != 0 or int(x[7]) <= 0]
            if not merged:
                return 0
            names = ("pack_id", "habit", "first_week", "group_set_id", "arm", "shown_days",
                     "adopted_days")  # fmt: skip
            for x in merged:
                conn.execute(
                    delete(s.cohort_counts).where(
                        c.tenant_id == tenant_id,
                        *(col == value for col, value in zip(key, x[:7], strict=True)),
                    )
                )
            rows = [
                {"tenant_id": tenant_id, **dict(zip(names, x[:7], strict=True)), "shard": 0,
                 "devices": int(x[7])}
                for x in merged
                if int(x[7]) > 0
            ]  # fmt: skip
            if rows:
                conn.execute(s.cohort_counts.insert(), rows)
        return len(merged)

    def purge_events(self, tenant_id: int, before_day: str) -> int:
        """Delete a tenant's raw events and daily device lists of days before ``before_day``."""
        gone = 0
        ev = s.events.c
        while True:
            with self.engine.begin() as conn:
                ids = select(ev.id).where(ev.tenant_id == tenant_id, ev.day < before_day)
                n = conn.execute(
                    delete(s.events).where(ev.id.in_(ids.limit(DELETE_CHUNK).scalar_subquery()))
                ).rowcount
            gone += int(n or 0)
            if not n or n < DELETE_CHUNK:
                break
        with self.engine.begin() as conn:
            conn.execute(
                delete(s.device_days).where(
                    s.device_days.c.tenant_id == tenant_id, s.device_days.c.day < before_day
                )
            )
        return gone

    def forget_idle(self, conn: Connection, tenant_id: int, idle_before: float) -> int:
        """Delete the exposures of devices idle since ``idle_before``; they stay in the cohort
        counts, without their ids, so a closed cohort's lift does not change."""
        dv, e = s.devices.c, s.exposures.c
        idle = select(dv.id).where(
            dv.tenant_id == tenant_id,
            func.coalesce(dv.last_seen, dv.created) < idle_before,
        )
        gone = conn.execute(
            delete(s.exposures).where(e.tenant_id == tenant_id, e.device_id.in_(idle))
        ).rowcount
        return int(gone or 0)

    def clear(self, conn: Connection, tenant_id: int) -> None:
        """Empty a tenant's daily cells, device lists and exposures (before a rebuild).

        The cohort counts lose the live exposures only: those of devices already
        forgotten for inactivity cannot be rebuilt, so they stay.
        """
        conn.execute(delete(s.device_days).where(s.device_days.c.tenant_id == tenant_id))
        conn.execute(delete(s.daily_rollups).where(s.daily_rollups.c.tenant_id == tenant_id))
        e = s.exposures.c
        live: dict[tuple[int, str, CohortKey], int] = defaultdict(int)
        for x in conn.execute(
            select(e.device_id, e.habit, *_EXPOSURE_COLUMNS).where(e.tenant_id == tenant_id)
        ):
            live[(tenant_id, str(x[1]), cohort_key(_exposure(x)))] -= 1
        self._count_cohorts(conn, live)
        conn.execute(delete(s.exposures).where(e.tenant_id == tenant_id))


_EXPOSURE_COLUMNS: Final = (
    s.exposures.c.pack_id,
    s.exposures.c.arm,
    s.exposures.c.first_t,
    s.exposures.c.first_week,
    s.exposures.c.group_set_id,
    s.exposures.c.shown_t,
    s.exposures.c.adopted_t,
)

_UPDATE_EXPOSURE: Final = (
    update(s.exposures)
    .where(
        s.exposures.c.device_id == bindparam("b_device_id"),
        s.exposures.c.habit == bindparam("b_habit"),
    )
    .values(
        {
            name: bindparam(f"b_{name}")
            for name in (
                "pack_id",
                "arm",
                "first_t",
                "first_week",
                "group_set_id",
                "shown_t",
                "adopted_t",
            )
        }
    )
)

_INSERT_DEVICE_DAY: Final = s.device_days.insert().values(
    day=bindparam("b_day"),
    device_id=bindparam("b_device"),
    tenant_id=bindparam("b_tenant"),
    cells=bindparam("b_cells"),
)
_UPDATE_DEVICE_DAY: Final = (
    update(s.device_days)
    .where(s.device_days.c.day == bindparam("b_day"))
    .where(s.device_days.c.device_id == bindparam("b_device"))
    .values(cells=bindparam("b_cells"))
)


def _cells(text_: str) -> dict[int, int]:
    """``"12:3,15:3"`` → {cell: group set}."""
    out: dict[int, int] = {}
    for pair in text_.split(","):
        if pair:
            cell, _, gs = pair.partition(":")
            out[int(cell)] = int(gs)
    return out


def _cells_text(cells: Mapping[int, int]) -> str:
    return ",".join(f"{cell}:{gs}" for cell, gs in sorted(cells.items()))


def _changes_nothing(known: Exposure | None, act: HabitActivity) -> bool:
    """Whether a batch's activity cannot change an exposure remembered from a commit.

    Safe with a stale memory: the stored times can only be earlier than
    remembered, which makes each condition below only harder to miss.
    """
    if known is None:
        return False
    if act.first_t is not None and (act.first_t, act.arm) < (known.first_t, known.arm):
        return False
    if act.shown_t is not None and (known.shown_t is None or act.shown_t < known.shown_t):
        return False
    earlier_adoption = bool(act.adoptions) and (
        known.adopted_t is None or min(act.adoptions) < known.adopted_t
    )
    return not earlier_adoption


def _exposure(row: Sequence[Any], offset: int = 2) -> Exposure:
    r = row[offset:]
    return Exposure(
        str(r[0]),
        str(r[1]),
        float(r[2]),
        str(r[3]),
        int(r[4]),
        None if r[5] is None else float(r[5]),
        None if r[6] is None else float(r[6]),
    )


def _columns(x: Exposure) -> dict[str, Any]:
    return {
        "pack_id": x.pack_id,
        "arm": x.arm,
        "first_t": x.first_t,
        "first_week": x.first_week,
        "group_set_id": x.group_set_id,
        "shown_t": x.shown_t,
        "adopted_t": x.adopted_t,
    }


def _adoptions(conn: Connection, devices: Sequence[str]) -> dict[tuple[str, str], list[float]]:
    """Every stored adoption of these devices, per (device, habit): one query for a batch."""
    if not devices:
        return {}
    c = s.events.c
    out: dict[tuple[str, str], list[float]] = defaultdict(list)
    for device, habit, t in conn.execute(
        select(c.device_id, c.habit, c.t).where(c.device_id.in_(devices), c.kind == "adopted")
    ):
        if habit is not None:
            out[(str(device), str(habit))].append(float(t))
    return out
