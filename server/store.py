"""Every read and write of the database, scoped by tenant.

Functions take the tenant id from an authenticated token, never from the
request, so one tenant's token cannot name another tenant's rows.
"""

from __future__ import annotations

import json
import threading
import time
import uuid as uuidlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from datetime import timedelta
from operator import attrgetter
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Engine, and_, func, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from agent.rules.bundle import load_public_key
from agent.rules.records import WIRE_FIELDS
from server import schema as s
from server.audit import audit_entries, write_audit
from server.counting import DeviceCounting
from server.credentials import Credentials
from server.days import DEFAULT_ZONE, LocalDays, check_zone
from server.db import checkpoint
from server.errors import NotFound, Unauthenticated
from server.ingest import CheckedEvent
from server.reports import DailyRow, ExposureRow, VersionMark
from server.rollup_store import CellIds, EventKey, NewEvent, RollupStore, event_keys
from server.rollups import RawKey
from server.tokens import hash_token, new_token, ring_of

__all__ = [
    "Admin",
    "BundleRow",
    "Device",
    "Erasure",
    "EventGroup",
    "Purge",
    "Store",
    "device_row",
    "excluded_by",
    "new_device",
]


_WIRE_NAMES: Final = tuple(f.name for f in WIRE_FIELDS)
_wire_values: Final = attrgetter(*_WIRE_NAMES)
#: json_to_recordset's column types: text for every string (the checks kept it short).
_PG_TYPES: Final = {str: "TEXT", int: "INT", float: "FLOAT8"}
_EVENT_COLUMNS: Final[dict[str, str]] = {
    "tenant_id": "INT",
    "device_id": "TEXT",
    "day": "TEXT",
    "group_set_id": "INT",
    **{f.name: _PG_TYPES[f.python_type] for f in WIRE_FIELDS},
}
#: How long a looked-up device (its groups) or a tenant's time zone is trusted.  A
#: revocation or an erasure still holds at once in every process: the event write
#: checks its devices in its own transaction, and other requests read the device afresh.
CACHE_SECONDS: Final = 300.0
#: The enrollments log (rates, approval quota, burst notice) is kept this long.
ENROLLMENTS_KEPT_DAYS: Final = 30
#: last_seen is written at most this often per device (retention counts in days).
LAST_SEEN_EVERY: Final = 3600.0
# The rows travel as one JSON parameter that PostgreSQL unpacks in C: a short
# statement psycopg prepares once, with no per-element adaptation in Python
# (text arrays cost the server 3x the CPU; a multi-row VALUES, 10x).
_PG_INSERT = text(
    "INSERT INTO events ("
    + ", ".join(_EVENT_COLUMNS)
    + ", received) SELECT r.*, :received FROM json_to_recordset(CAST(:rows AS json)) AS r("
    + ", ".join(f"{name} {kind}" for name, kind in _EVENT_COLUMNS.items())
    + ") ON CONFLICT (device_id, uuid) DO NOTHING RETURNING device_id, uuid"
)

#: One device's checked events, as the ingest endpoint hands them to the store.
EventGroup = tuple["Device", Sequence[CheckedEvent]]


@dataclass(frozen=True, slots=True)
class Device:
    id: str
    tenant_id: int
    ring: int
    groups: tuple[str, ...]
    #: False while the device waits for approval (server/enrollment.py): no telemetry.
    approved: bool = True
    #: sha256 of the secret it was looked up by (a renewal replaces the secret, not the id).
    secret_hash: str = ""


@dataclass(frozen=True, slots=True)
class Admin:
    tenant_id: int
    role: str
    #: The admin token's row id: what the audit log names (``token:<id>``), never the token.
    token_id: int = 0

    @property
    def actor(self) -> str:
        """This admin as the audit log names it."""
        return f"token:{self.token_id}"


@dataclass(frozen=True, slots=True)
class Erasure:
    """What ``waymark-server device erase`` deleted (the audit log keeps these counts)."""

    device_found: bool
    events: int
    exposures: int


@dataclass(frozen=True, slots=True)
class Purge:
    """What one retention run deleted, over every tenant."""

    events: int
    exposures: int


@dataclass(frozen=True, slots=True)
class BundleRow:
    pack_id: str
    version: int
    sha256: str
    key_id: str
    created: float
    expires: float
    uploaded: float
    rollout: int
    groups: tuple[str, ...] | None
    withdrawn: bool


def excluded_by(
    device: Device,
    rollout: int,
    groups: Sequence[str] | None,
    mine: frozenset[str] | set[str] | None = None,
) -> str | None:
    """Why a version at ``rollout`` percent, limited to ``groups``, is not for ``device``:
    ``"rollout"`` (its ring is outside), ``"groups"`` (it shares none), or None (it is)."""
    if device.ring >= rollout:
        return "rollout"
    if groups and not (mine if mine is not None else set(device.groups)).intersection(groups):
        return "groups"
    return None


def _revoked_keys(tenant_id: int) -> Any:
    """The ids of a tenant's revoked publisher keys, as a subquery."""
    k = s.publisher_keys.c
    return select(k.key_id).where(k.tenant_id == tenant_id, k.revoked.is_not(None))


def _groups(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    value = json.loads(text)
    return tuple(str(g) for g in value)


def new_device(tenant_id: int, groups: Sequence[str], approved: bool = True) -> Device:
    """A device with a fresh random id, in the rollout ring that id falls in."""
    device_id = str(uuidlib.uuid4())
    return Device(device_id, tenant_id, ring_of(device_id), tuple(groups), approved)


def device_row(
    device: Device, secret: str, os_name: str, agent_version: str, now: float
) -> dict[str, Any]:
    """The ``devices`` columns every new device has (its secret stored only as a hash)."""
    return {
        "id": device.id,
        "tenant_id": device.tenant_id,
        "secret_hash": hash_token(secret),
        "ring": device.ring,
        "groups": json.dumps(list(device.groups)),
        "os": os_name,
        "agent_version": agent_version,
        "created": now,
    }


class Store:
    """The server's data, over one SQLAlchemy engine (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.rollups = RollupStore(engine)
        self.credentials = Credentials(engine, clock)
        # A lookup is remembered for a while (for the event path, which checks
        # revocation in its write transaction instead): secrets never change, groups rarely.
        self._device_cache: dict[str, tuple[Device, float]] = {}
        self.counting = DeviceCounting()
        self._clock = clock
        self._insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        self._days: dict[int, tuple[LocalDays, float]] = {}
        self._last_seen: dict[str, float] = {}
        # SQLite has one writer; queueing here is fairer and faster than its busy
        # handler, which sleeps and retries (that made the p99 of ingestion).
        self._write_lock: threading.Lock | None = (
            threading.Lock() if engine.dialect.name == "sqlite" else None
        )

    def ping(self) -> None:
        """Raise unless the database answers a trivial query (for /healthz)."""
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    # ---------------------------------------------------------------- tenants

    def create_tenant(self, name: str) -> int:
        with self.engine.begin() as conn:
            try:
                result = conn.execute(s.tenants.insert().values(name=name, created=time.time()))
            except IntegrityError as exc:
                raise ValueError(f"tenant {name!r} already exists") from exc
            pk = result.inserted_primary_key
            assert pk is not None
            return int(pk[0])

    def tenant_id(self, name: str) -> int:
        with self.engine.connect() as conn:
            row = conn.execute(select(s.tenants.c.id).where(s.tenants.c.name == name)).first()
        if row is None:
            raise NotFound(
                f"no tenant named {name!r}; create it with `waymark-server tenant create`"
            )
        return int(row[0])

    def local_days(self, tenant_id: int) -> LocalDays:
        """The calendar of a tenant's time zone (cached for a while)."""
        hit = self._days.get(tenant_id)
        if hit is not None and self._clock() - hit[1] <= CACHE_SECONDS:
            return hit[0]
        with self.engine.connect() as conn:
            zone = conn.execute(
                select(s.tenants.c.time_zone).where(s.tenants.c.id == tenant_id)
            ).scalar()
        days = LocalDays(str(zone or DEFAULT_ZONE))
        self._days[tenant_id] = (days, self._clock())
        return days

    def set_time_zone(self, tenant_id: int, zone: str) -> None:
        """Set the IANA zone whose days the tenant's reports use (from the next event on)."""
        check_zone(zone)
        with self.engine.begin() as conn:
            conn.execute(
                update(s.tenants).where(s.tenants.c.id == tenant_id).values(time_zone=zone)
            )
        self._days.pop(tenant_id, None)

    def tenants(self) -> list[tuple[int, str]]:
        """Every tenant: ``(id, name)``."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(s.tenants.c.id, s.tenants.c.name)).all()
        return [(int(r[0]), str(r[1])) for r in rows]

    def add_enroll_token(self, tenant_id: int) -> str:
        token = new_token("enroll")
        with self.engine.begin() as conn:
            conn.execute(
                s.enroll_tokens.insert().values(
                    tenant_id=tenant_id,
                    token_hash=hash_token(token),
                    created=time.time(),
                    prefix=token[:8],
                )
            )
        return token

    def add_admin_token(self, tenant_id: int, role: str) -> str:
        """A new admin token that never expires (:class:`Credentials` issues and revokes them)."""
        return self.credentials.issue_admin_token(tenant_id, role, actor="cli")[1]

    def add_publisher_key(self, tenant_id: int, public_key: str) -> str:
        """Trust a publisher key for the tenant (as :meth:`Credentials.add_publisher_key`)."""
        return self.credentials.add_publisher_key(tenant_id, public_key, actor="cli")

    def publisher_keys(self, tenant_id: int) -> dict[str, Ed25519PublicKey]:
        """The tenant's trusted keys by key id (a revoked key is not among them)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(s.publisher_keys.c.key_id, s.publisher_keys.c.public_key).where(
                    s.publisher_keys.c.tenant_id == tenant_id, s.publisher_keys.c.revoked.is_(None)
                )
            ).all()
        return {str(r[0]): load_public_key(str(r[1])) for r in rows}

    # ---------------------------------------------------------------- auth

    def admin(self, token: str) -> Admin | None:
        """The admin of ``token``, unless it is unknown, revoked or expired (read every time)."""
        c = s.admin_tokens.c
        with self.engine.connect() as conn:
            row = conn.execute(
                select(c.tenant_id, c.role, c.id).where(
                    c.token_hash == hash_token(token),
                    c.revoked.is_(None),
                    or_(c.expires.is_(None), c.expires > self._clock()),
                )
            ).first()
        if row is None:
            return None
        return Admin(tenant_id=int(row[0]), role=str(row[1]), token_id=int(row[2]))

    def cached_device(self, secret: str) -> Device | None:
        """The device of ``secret`` if it was looked up lately (no database access).

        Only for the event path: :meth:`insert_event_groups` checks in its own
        transaction that every device it writes for is still enrolled and not revoked.
        """
        hit = self._device_cache.get(hash_token(secret))
        if hit is None or self._clock() - hit[1] > CACHE_SECONDS:
            return None
        return hit[0]

    def device(self, secret: str) -> Device | None:
        """The device of ``secret``, unless it is unknown, erased or revoked.

        Always read from the database (one indexed row), so a revocation in one
        server process holds at once in all; the answer refreshes the cache.
        """
        digest = hash_token(secret)
        c = s.devices.c
        with self.engine.connect() as conn:
            row = conn.execute(
                select(c.id, c.tenant_id, c.ring, c.groups, c.approval).where(
                    c.secret_hash == digest, c.revoked.is_(None)
                )
            ).first()
        if row is None:
            self._device_cache.pop(digest, None)
            return None
        found = Device(
            id=str(row[0]),
            tenant_id=int(row[1]),
            ring=int(row[2]),
            groups=_groups(row[3]) or (),
            approved=row[4] == "approved",
            secret_hash=digest,
        )
        if len(self._device_cache) >= 100_000:
            self._device_cache.clear()
        self._device_cache[digest] = (found, self._clock())
        return found

    def set_groups(self, device: Device, groups: Sequence[str]) -> Device:
        """Store the groups a device re-announced; returns the device as it is now."""
        wanted = tuple(sorted(set(groups)))
        if wanted == tuple(sorted(device.groups)):
            return device
        with self.engine.begin() as conn:
            conn.execute(
                update(s.devices)
                .where(s.devices.c.id == device.id)
                .values(groups=json.dumps(list(wanted)))
            )
        changed = replace(device, groups=wanted)
        for digest, (known, _at) in list(self._device_cache.items()):
            if known.id == device.id:
                self._device_cache[digest] = (changed, self._clock())
        return changed

    def forget_devices(self, device_ids: Iterable[str]) -> None:
        """Drop these devices from this process's cache (a new secret, an approval, a
        revocation or an erasure)."""
        gone = set(device_ids)
        for digest, (known, _at) in list(self._device_cache.items()):
            if known.id in gone:
                self._device_cache.pop(digest, None)

    def enroll_device(
        self, tenant_id: int, groups: Sequence[str], os_name: str, agent_version: str
    ) -> tuple[Device, str]:
        """A device the operator's own code adds (benchmarks, imports, tests): trusted, so
        approved and counted in the reports from its first event.

        Agents enroll through :mod:`server.enrollment` instead, whose devices count
        only once approved and active on two local days (server/counting.py).
        """
        device, secret = new_device(tenant_id, groups), new_token("device")
        now = time.time()
        with self.engine.begin() as conn:
            conn.execute(
                s.devices.insert().values(
                    **device_row(device, secret, os_name, agent_version, now), counted_since=now
                )
            )
        return device, secret

    # ---------------------------------------------------------------- events

    def insert_events(self, device: Device, batch: Sequence[CheckedEvent]) -> set[str]:
        """Store ``batch``; returns the UUIDs that were new (the rest were duplicates)."""
        return self.insert_event_groups([(device, batch)])[0]

    def insert_event_groups(self, groups: Sequence[EventGroup]) -> list[set[str]]:
        """Store several devices' batches in one transaction (group commit).

        Returns, per group, the UUIDs that were new.  When two groups carry the
        same device and UUID (a resend racing its original), the first claims it
        and the second sees a duplicate.  The rollups take the new events in
        the same transaction (:meth:`RollupStore.apply`).

        The transaction first checks that every device is still enrolled and not
        revoked (one indexed query per transaction, not per request): otherwise it
        raises :class:`~server.errors.Unauthenticated` and writes nothing, so the
        group writer retries each batch alone and only the revoked device's
        request gets 401, whichever process revoked it.
        """
        if not any(batch for _, batch in groups):
            return [set() for _ in groups]
        with self._writing():
            # Ids of group sets and cells are made (and committed) before the
            # batch's transaction, so that one can be retried on its own.
            group_sets = {d.id: self.rollups.group_set_id(d.tenant_id, d.groups) for d, _ in groups}
            every = [(d.id, d.tenant_id, group_sets[d.id], e) for d, batch in groups for e in batch]
            same = event_keys(every)
            cells = self._cells_for(same)
            # Read before the transaction: on SQLite a second connection would wait for it.
            calendars = {d.tenant_id: self.local_days(d.tenant_id) for d, _ in groups}
            rows = [
                {
                    "tenant_id": device.tenant_id,
                    "device_id": device.id,
                    "day": e.day,
                    "group_set_id": group_sets[device.id],
                    **dict(zip(_WIRE_NAMES, _wire_values(e), strict=True)),
                }
                for device, batch in groups
                for e in batch
            ]
            received = self._clock()
            with self.engine.begin() as conn:
                self._check_enrolled(conn, [d for d, batch in groups if batch])
                if self.engine.dialect.name == "postgresql":
                    stored = conn.execute(
                        _PG_INSERT, {"rows": json.dumps(rows), "received": received}
                    ).all()
                else:
                    for row in rows:
                        row["received"] = received
                    stmt = (
                        self._insert(s.events)
                        .on_conflict_do_nothing(index_elements=["device_id", "uuid"])
                        .returning(s.events.c.device_id, s.events.c.uuid)
                    )
                    stored = conn.execute(stmt, rows).all()
                new = {(str(r[0]), str(r[1])) for r in stored}
                results: list[set[str]] = []
                fresh: list[NewEvent] = []
                for device, batch in groups:
                    mine: set[str] = set()
                    for e in batch:
                        key = (device.id, e.uuid)
                        if key in new:
                            new.discard(key)
                            mine.add(e.uuid)
                            fresh.append((device.id, device.tenant_id, group_sets[device.id], e))
                    results.append(mine)
                # Devices not counted yet (server/counting.py) keep their events out.
                waiting = self.counting.waiting(conn, [d.id for d, _ in groups])
                ready: list[str] = []
                if waiting:
                    self.counting.hold(conn, waiting)
                    fresh = [f for f in fresh if f[0] not in waiting]
                    ready = self.counting.ready(conn, waiting)
                if len(fresh) < len(every):  # resends: count only what was new
                    same = event_keys(fresh)
                learned = self.rollups.apply(conn, fresh, cells, calendars.__getitem__, same=same)
                self._touch(conn, [d for d, _ in groups], received)
            self.rollups.learn(learned)  # committed: later batches may rely on it
            for device_id in ready:
                self._start_counting(device_id)
        return results

    def _check_enrolled(self, conn: Any, devices: Sequence[Device]) -> None:
        """Raise Unauthenticated unless every device is enrolled, not revoked, and (when
        it was looked up by a secret) still has that secret: a renewal elsewhere replaced it."""
        c = s.devices.c
        wanted = {d.id for d in devices}
        live = dict(
            conn.execute(
                select(c.id, c.secret_hash).where(c.id.in_(sorted(wanted)), c.revoked.is_(None))
            ).all()
        )
        stale = {d.id for d in devices if d.secret_hash and live.get(d.id) != d.secret_hash}
        if stale or set(live) != wanted:
            self.forget_devices(stale | (wanted - set(live)))
            raise Unauthenticated("unknown or revoked device secret; enroll again")

    def _start_counting(self, device_id: str) -> None:
        """Add a device's held events to the rollups and count it from now on."""
        for _attempt in range(5):
            if self._count_held(device_id):
                return
        raise RuntimeError(f"device {device_id}: its held events kept changing")

    def _count_held(self, device_id: str) -> bool:
        """One attempt; False when a concurrent batch held more events meanwhile."""
        ev, dv = s.events.c, s.devices.c
        names = (*_WIRE_NAMES, "day")
        found = self._select_all(select(dv.tenant_id, dv.ring, dv.groups).where(dv.id == device_id))
        if not found:
            return True
        tenant_id = int(found[0][0])
        groups = _groups(found[0][2]) or ()
        held = self._select_all(
            select(ev.id, *(ev[n] for n in names))
            .where(ev.device_id == device_id, ev.group_set_id.is_(None))
            .order_by(ev.id)
        )
        group_set = self.rollups.group_set_id(tenant_id, groups)
        fresh: list[NewEvent] = [
            (device_id, tenant_id, group_set, CheckedEvent(**dict(zip(names, r[1:], strict=True))))
            for r in held
        ]
        same = event_keys(fresh)
        cells = self._cells_for(same)
        calendars = {tenant_id: self.local_days(tenant_id)}
        with self.engine.begin() as conn:
            since = conn.execute(
                select(dv.counted_since).where(dv.id == device_id).with_for_update()
            ).first()
            if since is None or since[0] is not None:
                return True  # erased, or counted by another process meanwhile
            now_held = conn.execute(
                select(ev.id).where(ev.device_id == device_id, ev.group_set_id.is_(None))
            ).scalars()
            if sorted(int(i) for i in now_held) != [int(r[0]) for r in held]:
                return False
            conn.execute(
                update(s.events)
                .where(ev.device_id == device_id, ev.group_set_id.is_(None))
                .values(group_set_id=group_set)
            )
            learned = self.rollups.apply(conn, fresh, cells, calendars.__getitem__, same=same)
            conn.execute(
                update(s.devices).where(dv.id == device_id).values(counted_since=self._clock())
            )
        self.rollups.learn(learned)
        self.counting.remember(device_id)
        return True

    def _cells_for(self, keys: Iterable[EventKey]) -> CellIds:
        by_tenant: dict[int, set[RawKey]] = {}
        for _device, tenant, _gs, _day, raw in keys:
            by_tenant.setdefault(tenant, set()).add(raw)
        return {
            (tenant, key): cells
            for tenant, raws in by_tenant.items()
            for key, cells in self.rollups.cells_for(tenant, raws).items()
        }

    def _touch(self, conn: Any, devices: Sequence[Device], now: float) -> None:
        """Note that these devices are active (at most hourly each: retention counts days)."""
        due = sorted(
            {d.id for d in devices if now - self._last_seen.get(d.id, 0.0) >= LAST_SEEN_EVERY}
        )
        if not due:
            return
        conn.execute(update(s.devices).where(s.devices.c.id.in_(due)).values(last_seen=now))
        if len(self._last_seen) > 200_000:
            self._last_seen.clear()
        self._last_seen.update(dict.fromkeys(due, now))

    def _writing(self) -> AbstractContextManager[object]:
        return self._write_lock if self._write_lock is not None else nullcontext()

    def writing(self) -> AbstractContextManager[object]:
        """Hold while writing from outside the store (SQLite has one writer at a time)."""
        return self._writing()

    # ---------------------------------------------------------------- bundles

    def latest_version(self, tenant_id: int, pack_id: str) -> int | None:
        with self.engine.connect() as conn:
            value = conn.execute(
                select(func.max(s.bundles.c.version)).where(
                    s.bundles.c.tenant_id == tenant_id, s.bundles.c.pack_id == pack_id
                )
            ).scalar()
        return None if value is None else int(value)

    def add_bundle(
        self,
        tenant_id: int,
        *,
        pack_id: str,
        version: int,
        data: bytes,
        sha256: str,
        key: str,
        created: float,
        expires: float,
        rollout: int,
        groups: Sequence[str] | None,
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                s.bundles.insert().values(
                    tenant_id=tenant_id,
                    pack_id=pack_id,
                    version=version,
                    data=data,
                    sha256=sha256,
                    key_id=key,
                    created=created,
                    expires=expires,
                    uploaded=time.time(),
                    rollout=rollout,
                    groups=None if groups is None else json.dumps(list(groups)),
                    withdrawn=0,
                )
            )
            self._log_rollout(conn, tenant_id, pack_id, version, "upload", rollout, groups)

    def set_rollout(
        self, tenant_id: int, pack_id: str, version: int, rollout: int, groups: Sequence[str] | None
    ) -> None:
        values: dict[str, Any] = {"rollout": rollout}
        if groups is not None:
            values["groups"] = json.dumps(list(groups)) if groups else None
        with self.engine.begin() as conn:
            result = conn.execute(
                update(s.bundles)
                .where(
                    s.bundles.c.tenant_id == tenant_id,
                    s.bundles.c.pack_id == pack_id,
                    s.bundles.c.version == version,
                )
                .values(**values)
            )
            if result.rowcount == 0:
                raise NotFound(f"pack {pack_id} has no version {version}")
            current = conn.execute(
                select(s.bundles.c.groups).where(
                    s.bundles.c.tenant_id == tenant_id,
                    s.bundles.c.pack_id == pack_id,
                    s.bundles.c.version == version,
                )
            ).scalar()
            self._log_rollout(
                conn, tenant_id, pack_id, version, "rollout", rollout, _groups(current)
            )

    def rollback(self, tenant_id: int, pack_id: str, to_version: int) -> list[int]:
        """Withdraw every version above ``to_version``; returns the withdrawn versions."""
        with self.engine.begin() as conn:
            target = conn.execute(
                select(s.bundles.c.withdrawn).where(
                    s.bundles.c.tenant_id == tenant_id,
                    s.bundles.c.pack_id == pack_id,
                    s.bundles.c.version == to_version,
                )
            ).first()
            if target is None:
                raise NotFound(f"pack {pack_id} has no version {to_version}")
            where = and_(
                s.bundles.c.tenant_id == tenant_id,
                s.bundles.c.pack_id == pack_id,
                s.bundles.c.version > to_version,
                s.bundles.c.withdrawn == 0,
            )
            versions = [
                int(v) for v in conn.execute(select(s.bundles.c.version).where(where)).scalars()
            ]
            conn.execute(update(s.bundles).where(where).values(withdrawn=1))
            conn.execute(
                update(s.bundles)
                .where(
                    s.bundles.c.tenant_id == tenant_id,
                    s.bundles.c.pack_id == pack_id,
                    s.bundles.c.version == to_version,
                )
                .values(withdrawn=0)
            )
            serving = conn.execute(
                select(s.bundles.c.rollout, s.bundles.c.groups).where(
                    s.bundles.c.tenant_id == tenant_id,
                    s.bundles.c.pack_id == pack_id,
                    s.bundles.c.version == to_version,
                )
            ).one()
            self._log_rollout(
                conn,
                tenant_id,
                pack_id,
                to_version,
                "rollback",
                int(serving[0]),
                _groups(serving[1]),
            )
        return sorted(versions)

    def list_bundles(self, tenant_id: int) -> list[BundleRow]:
        cols = s.bundles.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(
                    cols.pack_id,
                    cols.version,
                    cols.sha256,
                    cols.key_id,
                    cols.created,
                    cols.expires,
                    cols.uploaded,
                    cols.rollout,
                    cols.groups,
                    cols.withdrawn,
                )
                .where(cols.tenant_id == tenant_id)
                .order_by(cols.pack_id, cols.version.desc())
            ).all()
        return [
            BundleRow(
                pack_id=str(r[0]),
                version=int(r[1]),
                sha256=str(r[2]),
                key_id=str(r[3]),
                created=float(r[4]),
                expires=float(r[5]),
                uploaded=float(r[6]),
                rollout=int(r[7]),
                groups=_groups(r[8]),
                withdrawn=bool(r[9]),
            )
            for r in rows
        ]

    def bundle_for(
        self, device: Device, pack_id: str | None, now: float
    ) -> tuple[bytes, str] | None:
        """The bundle this device should run: ``(data, sha256)``, or None.

        A version applies to a device when it is live (not withdrawn, not
        expired, not signed with a revoked publisher key), the device's ring is
        inside its rollout and it has no group limit or shares a group with the
        device (:func:`excluded_by`).  Of each pack id the highest
        applicable version counts; with ``pack_id`` that pack's, without it the
        pack whose applicable version was uploaded last — a pack limited to
        other groups never hides the packs that do apply.
        """
        cols = s.bundles.c
        query = select(
            cols.pack_id, cols.version, cols.rollout, cols.groups, cols.sha256, cols.uploaded
        ).where(
            cols.tenant_id == device.tenant_id,
            cols.withdrawn == 0,
            cols.expires > now,
            cols.key_id.not_in(_revoked_keys(device.tenant_id)),
        )
        if pack_id is not None:
            query = query.where(cols.pack_id == pack_id)
        with self.engine.connect() as conn:
            mine = set(device.groups)
            newest: dict[str, Any] = {}
            for r in conn.execute(query):
                if excluded_by(device, int(r[2]), _groups(r[3]), mine) is not None:
                    continue
                if r[0] not in newest or int(r[1]) > int(newest[r[0]][1]):
                    newest[str(r[0])] = r
            if not newest:
                return None
            best = max(newest.values(), key=lambda r: (float(r[5]), int(r[1])))
            data = conn.execute(
                select(cols.data).where(
                    cols.tenant_id == device.tenant_id,
                    cols.pack_id == best[0],
                    cols.version == best[1],
                )
            ).scalar_one()
        return bytes(data), str(best[4])

    def _log_rollout(
        self,
        conn: Any,
        tenant_id: int,
        pack_id: str,
        version: int,
        action: str,
        rollout: int,
        groups: Sequence[str] | None,
    ) -> None:
        conn.execute(
            s.rollout_log.insert().values(
                tenant_id=tenant_id,
                at=self._clock(),
                pack_id=pack_id,
                version=version,
                action=action,
                rollout=rollout,
                groups=None if not groups else json.dumps(list(groups)),
            )
        )

    # ---------------------------------------------------------------- reports

    def group_sets(self, tenant_id: int) -> Mapping[int, frozenset[str]]:
        return self.rollups.group_sets(tenant_id)

    def daily_rows(
        self, tenant_id: int, since_day: str, until_day: str, pack_id: str | None
    ) -> list[DailyRow]:
        return self.rollups.daily_rows(tenant_id, since_day, until_day, pack_id)

    def exposure_rows(
        self,
        tenant_id: int,
        first_week: str,
        last_week: str,
        pack_id: str | None,
        window_days: int,
    ) -> list[ExposureRow]:
        return self.rollups.exposure_rows(tenant_id, first_week, last_week, pack_id, window_days)

    def version_marks(self, tenant_id: int, pack_id: str | None) -> list[VersionMark]:
        return self.rollups.version_marks(tenant_id, pack_id)

    # ---------------------------------------------------------------- erasure and retention

    def erase_device(self, device_id: str, tenant_id: int | None, actor: str) -> Erasure:
        """Delete everything about one device; ``tenant_id`` None: whichever tenant has it.

        The audit log records that a device was erased, when, by whom and how
        many rows went, never which device.  Its secret stops working at once
        in every server process.
        """
        with self._writing(), self.engine.begin() as conn:
            row = conn.execute(
                select(s.devices.c.tenant_id).where(s.devices.c.id == device_id)
            ).first()
            if row is None or (tenant_id is not None and int(row[0]) != tenant_id):
                return Erasure(False, 0, 0)
            self.rollups.forget()
            erased = self.rollups.erase_device(conn, device_id)
            conn.execute(s.devices.delete().where(s.devices.c.id == device_id))
            self._audit(
                conn,
                int(row[0]),
                "device_erased",
                actor,
                {"events": erased.events, "exposures": erased.exposures},
            )
        self.forget_devices([device_id])
        self._last_seen.pop(device_id, None)
        with self._writing():
            checkpoint(self.engine)
        return Erasure(True, erased.events, erased.exposures)

    def purge(self, retain_days: int, actor: str = "retention") -> Purge:
        """Delete raw events older than ``retain_days`` local days, in every tenant, and the
        exposures of devices idle that long (the cohort counts keep them, without ids), and
        the enrollments log beyond what the rates and the burst notice look at."""
        now = self._clock()
        events = exposures = 0
        with self._writing(), self.engine.begin() as conn:
            kept_since = now - ENROLLMENTS_KEPT_DAYS * 86400.0
            conn.execute(s.enrollments.delete().where(s.enrollments.c.at < kept_since))
        for tenant_id, _name in self.tenants():
            today = self.local_days(tenant_id).date_of(now)
            cutoff = (today - timedelta(days=retain_days)).isoformat()
            with self._writing():
                self.rollups.forget()
                gone = self.rollups.purge_events(tenant_id, cutoff)
                self.rollups.compact(tenant_id, (today - timedelta(days=1)).isoformat())
                with self.engine.begin() as conn:
                    folded = self.rollups.forget_idle(conn, tenant_id, now - retain_days * 86400.0)
                    if gone or folded:
                        self._audit(
                            conn,
                            tenant_id,
                            "retention",
                            actor,
                            {"before_day": cutoff, "events": gone, "exposures_deleted": folded},
                        )
            events += gone
            exposures += folded
        return Purge(events, exposures)

    def rebuild_rollups(self, tenant_id: int, chunk: int = 5000) -> int:
        """Fill a tenant's rollups again from the raw events it still has; returns events read.

        For a database migrated from before the rollups existed.  Devices already
        forgotten for inactivity stay in the cohort counts as they were.
        """
        ev = s.events.c
        with self._writing(), self.engine.begin() as conn:
            self.rollups.forget()
            self.rollups.clear(conn, tenant_id)
        # Devices not counted yet stay out, as at ingest (server/counting.py).
        devices = {
            str(r[0]): Device(str(r[0]), tenant_id, int(r[1]), _groups(r[2]) or ())
            for r in self._select_all(
                select(s.devices.c.id, s.devices.c.ring, s.devices.c.groups).where(
                    s.devices.c.tenant_id == tenant_id, s.devices.c.counted_since.is_not(None)
                )
            )
        }
        last, seen = 0, 0
        names = (*_WIRE_NAMES, "day")
        while True:
            rows = self._select_all(
                select(ev.id, ev.device_id, ev.group_set_id, *(ev[n] for n in names))
                .where(ev.tenant_id == tenant_id, ev.id > last)
                .order_by(ev.id)
                .limit(chunk)
            )
            if not rows:
                return seen
            last, seen = int(rows[-1][0]), seen + len(rows)
            fresh: list[NewEvent] = []
            for r in rows:
                device = devices.get(str(r[1]))
                if device is None:
                    continue
                group_set = (
                    int(r[2])
                    if r[2] is not None
                    else self.rollups.group_set_id(tenant_id, device.groups)
                )
                event = CheckedEvent(**dict(zip(names, r[3:], strict=True)))
                fresh.append((device.id, tenant_id, group_set, event))
            cells = self._cells_for(event_keys(fresh))
            calendars = {tenant_id: self.local_days(tenant_id)}
            with self._writing(), self.engine.begin() as conn:
                self.rollups.apply(conn, fresh, cells, calendars.__getitem__)

    def _select_all(self, query: Any) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(query).all())

    def record_audit(
        self, conn: Any, tenant_id: int | None, action: str, actor: str, detail: Mapping[str, Any]
    ) -> None:
        """Add an audit-log entry in ``conn``'s transaction (ids and counts, no personal data)."""
        self._audit(conn, tenant_id, action, actor, detail)

    def _audit(
        self, conn: Any, tenant_id: int | None, action: str, actor: str, detail: Mapping[str, Any]
    ) -> None:
        write_audit(conn, tenant_id, self._clock(), action, actor, detail)

    def audit_entries(self, tenant_id: int) -> list[dict[str, Any]]:
        """The tenant's audit log, oldest first."""
        return audit_entries(self.engine, tenant_id)

    def counts(self) -> Mapping[str, int]:
        """Row counts for /metrics gauges."""
        with self.engine.connect() as conn:
            return {
                "devices": int(
                    conn.execute(select(func.count()).select_from(s.devices)).scalar_one()
                ),
                "bundles": int(
                    conn.execute(select(func.count()).select_from(s.bundles)).scalar_one()
                ),
                # The burst gauge: the most enrollments one token made in the last hour.
                "enrollments_last_hour_peak": max(
                    (
                        int(n)
                        for n in conn.execute(
                            select(func.count())
                            .where(s.enrollments.c.at > self._clock() - 3600.0)
                            .group_by(s.enrollments.c.token_id)
                        ).scalars()
                    ),
                    default=0,
                ),
            }
