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
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

from sqlalchemy import Connection, Engine, and_, bindparam, case, delete, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from server import schema as s
from server.days import LocalDays
from server.ingest import CheckedEvent
from server.reports import DailyRow, ExposureRow, VersionMark
from server.rollups import (
    CellKey,
    CohortKey,
    Exposure,
    RawKey,
    activities,
    cell_key,
    cohort_key,
    counted_in,
    merge_exposure,
)

__all__ = ["CellIds", "ErasedRows", "NewEvent", "RollupStore", "canonical_groups"]

#: A stored event and what the rollups need of its device: (device id, tenant, group set, event).
NewEvent = tuple[str, int, int, CheckedEvent]
#: Per (tenant, an event's cell fields): the ids of the cells such an event counts in.
CellIds = Mapping[tuple[int, RawKey], tuple[int, ...]]
_DAY: Final = 86400.0
#: Rows per statement when rows are deleted in bulk (bounds a transaction).
DELETE_CHUNK: Final = 20_000


def canonical_groups(groups: Iterable[str]) -> str:
    """The one spelling of a set of groups: a sorted JSON list."""
    return json.dumps(sorted(set(groups)), separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class ErasedRows:
    """How many of a device's rows an erasure deleted."""

    events: int
    exposures: int


class RollupStore:
    """The analytics tables of one database; ids of cells and group sets are cached."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._postgres = engine.dialect.name == "postgresql"
        self._insert = postgresql.insert if self._postgres else sqlite.insert
        # Ids are cached only once committed, so a rolled-back id is never reused.
        self._cells: dict[tuple[int, CellKey], int] = {}
        self._counted_in: dict[tuple[int, RawKey], tuple[int, ...]] = {}
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
    ) -> None:
        """Add the events that were new in this transaction to the rollups."""
        if not new:
            return
        # Counted as plain tuples first: a batch has thousands of events, few keys.
        same = Counter(
            (device, tenant, gs, e.day, (e.pack_id, e.habit, e.rule, e.kind, e.reason))
            for device, tenant, gs, e in new
        )
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
        fresh = self._insert_presence(conn, presence)
        devices: dict[tuple[int, str, int], int] = defaultdict(int)
        for day, cell, device in fresh:
            devices[(cell, day, presence[(day, cell, device)])] += 1
        self._update_exposures(conn, new, tenants, days_of)
        # Last, in key order: these rows are shared by every device, so their locks
        # are held for the shortest time and always taken in the same order.
        rows = [
            {
                "cell_id": cell,
                "day": day,
                "group_set_id": gs,
                "tenant_id": tenant_of_cell[cell],
                "events": n,
                "devices": devices.get((cell, day, gs), 0),
            }
            for (cell, day, gs), n in sorted(events.items())
        ]
        stmt = self._insert(s.daily_rollups)
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["cell_id", "day", "group_set_id"],
                set_={
                    "events": s.daily_rollups.c.events + stmt.excluded.events,
                    "devices": s.daily_rollups.c.devices + stmt.excluded.devices,
                },
            ),
            rows,
        )

    def _insert_presence(
        self, conn: Connection, presence: Mapping[tuple[str, int, str], int]
    ) -> list[tuple[str, int, str]]:
        """Insert (day, cell, device) rows; returns those that were not there yet."""
        rows = [
            {"day": day, "cell_id": cell, "device_id": device, "group_set_id": gs}
            for (day, cell, device), gs in sorted(presence.items())
        ]
        if self._postgres:
            result = conn.execute(_PG_PRESENCE, {"rows": json.dumps(rows)})
        else:
            result = conn.execute(
                sqlite.insert(s.daily_devices)
                .on_conflict_do_nothing(index_elements=["day", "cell_id", "device_id"])
                .returning(
                    s.daily_devices.c.day, s.daily_devices.c.cell_id, s.daily_devices.c.device_id
                ),
                rows,
            )
        return [(str(r[0]), int(r[1]), str(r[2])) for r in result]

    def _update_exposures(
        self,
        conn: Connection,
        new: Sequence[NewEvent],
        tenants: Mapping[str, tuple[int, int]],
        days_of: Callable[[int], LocalDays],
    ) -> None:
        acts = activities((device, e) for device, _, _, e in new)
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
        """Add ``deltas`` (devices, may be negative) to the cohort counts, in key order."""
        rows = [
            {"tenant_id": tenant, "habit": habit, **key._asdict(), "devices": n}
            for (tenant, habit, key), n in sorted(deltas.items())
            if n
        ]
        if not rows:
            return
        stmt = self._insert(s.cohort_counts)
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=[
                    "tenant_id", "pack_id", "habit", "first_week", "group_set_id", "arm",
                    "shown_days", "adopted_days",
                ],
                set_={"devices": s.cohort_counts.c.devices + stmt.excluded.devices},
            ),
            rows,
        )  # fmt: skip
        conn.execute(delete(s.cohort_counts).where(s.cohort_counts.c.devices <= 0))

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
        r, c = s.daily_rollups.c, s.report_cells.c
        query = (
            select(
                r.day,
                c.habit,
                c.rule,
                c.kind,
                c.reason,
                r.group_set_id,
                func.sum(r.events),
                func.max(r.devices),
            )
            .select_from(s.daily_rollups.join(s.report_cells, c.id == r.cell_id))
            .where(r.tenant_id == tenant_id, r.day >= since_day, r.day <= until_day)
            .group_by(r.day, c.habit, c.rule, c.kind, c.reason, r.group_set_id)
        )
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
        ev, pr = s.events.c, s.daily_devices.c
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
            select(pr.day, pr.cell_id, pr.group_set_id).where(
                pr.device_id == device_id, pr.day.in_(sorted({str(r[0]) for r in counts}))
            )
        ).all()
        for day, cell, gs in present:
            minus[(int(cell), str(day), int(gs))][1] += 1
        r = s.daily_rollups.c
        if minus:
            conn.execute(
                update(s.daily_rollups)
                .where(
                    r.cell_id == bindparam("b_cell"),
                    r.day == bindparam("b_day"),
                    r.group_set_id == bindparam("b_gs"),
                )
                .values(
                    events=r.events - bindparam("b_events"),
                    devices=r.devices - bindparam("b_devices"),
                ),
                [
                    {"b_cell": cell, "b_day": day, "b_gs": gs, "b_events": n, "b_devices": k}
                    for (cell, day, gs), (n, k) in sorted(minus.items())
                ],
            )
            conn.execute(delete(s.daily_rollups).where(r.events <= 0))
        conn.execute(delete(s.daily_devices).where(pr.device_id == device_id))
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
        cells = select(s.report_cells.c.id).where(s.report_cells.c.tenant_id == tenant_id)
        with self.engine.begin() as conn:
            conn.execute(
                delete(s.daily_devices).where(
                    s.daily_devices.c.day < before_day, s.daily_devices.c.cell_id.in_(cells)
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
        cells = select(s.report_cells.c.id).where(s.report_cells.c.tenant_id == tenant_id)
        conn.execute(delete(s.daily_devices).where(s.daily_devices.c.cell_id.in_(cells)))
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

# Like the event insert: one JSON parameter that PostgreSQL unpacks in C.
_PG_PRESENCE: Final = text(
    "INSERT INTO daily_devices (day, cell_id, device_id, group_set_id) "
    "SELECT r.day, r.cell_id, r.device_id, r.group_set_id "
    "FROM json_to_recordset(CAST(:rows AS json)) "
    "AS r(day TEXT, cell_id INT, device_id TEXT, group_set_id INT) "
    "ON CONFLICT (day, cell_id, device_id) DO NOTHING RETURNING day, cell_id, device_id"
)


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
