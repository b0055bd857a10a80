"""Every read and write of the database, scoped by tenant.

Functions take the tenant id from an authenticated token, never from the
request, so one tenant's token cannot name another tenant's rows.
"""

from __future__ import annotations

import json
import threading
import time
import uuid as uuidlib
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Engine, and_, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from agent.rules.bundle import key_id, load_public_key, public_key_text
from agent.rules.records import WIRE_FIELDS
from server import schema as s
from server.errors import NotFound
from server.ingest import CheckedEvent
from server.reports import HabitFact
from server.tokens import hash_token, new_token, ring_of

__all__ = [
    "Admin",
    "BundleRow",
    "Device",
    "EventGroup",
    "Store",
]


_WIRE_NAMES: Final = tuple(f.name for f in WIRE_FIELDS)
_wire_values: Final = attrgetter(*_WIRE_NAMES)
#: json_to_recordset's column types: text for every string (the checks kept it short).
_PG_TYPES: Final = {str: "TEXT", int: "INT", float: "FLOAT8"}
_EVENT_COLUMNS: Final[dict[str, str]] = {
    "tenant_id": "INT",
    "device_id": "TEXT",
    "day": "TEXT",
    **{f.name: _PG_TYPES[f.python_type] for f in WIRE_FIELDS},
}
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


@dataclass(frozen=True, slots=True)
class Admin:
    tenant_id: int
    role: str


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


def _groups(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    value = json.loads(text)
    return tuple(str(g) for g in value)


class Store:
    """The server's data, over one SQLAlchemy engine (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        # Device secrets never change, so a successful lookup can be remembered.
        self._device_cache: dict[str, Device] = {}
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

    def add_enroll_token(self, tenant_id: int) -> str:
        token = new_token("enroll")
        with self.engine.begin() as conn:
            conn.execute(
                s.enroll_tokens.insert().values(
                    tenant_id=tenant_id, token_hash=hash_token(token), created=time.time()
                )
            )
        return token

    def add_admin_token(self, tenant_id: int, role: str) -> str:
        if role not in ("publisher", "analyst"):
            raise ValueError("role must be publisher or analyst")
        token = new_token("admin")
        with self.engine.begin() as conn:
            conn.execute(
                s.admin_tokens.insert().values(
                    tenant_id=tenant_id,
                    token_hash=hash_token(token),
                    role=role,
                    created=time.time(),
                )
            )
        return token

    def add_publisher_key(self, tenant_id: int, public_key: str) -> str:
        key = load_public_key(public_key)
        kid = key_id(key)
        with self.engine.begin() as conn:
            exists = conn.execute(
                select(s.publisher_keys.c.id).where(
                    s.publisher_keys.c.tenant_id == tenant_id, s.publisher_keys.c.key_id == kid
                )
            ).first()
            if exists is None:
                conn.execute(
                    s.publisher_keys.insert().values(
                        tenant_id=tenant_id,
                        key_id=kid,
                        public_key=public_key_text(key),
                        created=time.time(),
                    )
                )
        return kid

    def publisher_keys(self, tenant_id: int) -> dict[str, Ed25519PublicKey]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(s.publisher_keys.c.key_id, s.publisher_keys.c.public_key).where(
                    s.publisher_keys.c.tenant_id == tenant_id
                )
            ).all()
        return {str(r[0]): load_public_key(str(r[1])) for r in rows}

    # ---------------------------------------------------------------- auth

    def enroll_tenant(self, token: str) -> int | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(s.enroll_tokens.c.tenant_id).where(
                    s.enroll_tokens.c.token_hash == hash_token(token)
                )
            ).first()
        return None if row is None else int(row[0])

    def admin(self, token: str) -> Admin | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(s.admin_tokens.c.tenant_id, s.admin_tokens.c.role).where(
                    s.admin_tokens.c.token_hash == hash_token(token)
                )
            ).first()
        return None if row is None else Admin(tenant_id=int(row[0]), role=str(row[1]))

    def cached_device(self, secret: str) -> Device | None:
        """The device of ``secret`` if it was looked up before (no database access)."""
        return self._device_cache.get(hash_token(secret))

    def device(self, secret: str) -> Device | None:
        digest = hash_token(secret)
        cached = self._device_cache.get(digest)
        if cached is not None:
            return cached
        with self.engine.connect() as conn:
            row = conn.execute(
                select(
                    s.devices.c.id, s.devices.c.tenant_id, s.devices.c.ring, s.devices.c.groups
                ).where(s.devices.c.secret_hash == digest)
            ).first()
        if row is None:
            return None
        found = Device(
            id=str(row[0]), tenant_id=int(row[1]), ring=int(row[2]), groups=_groups(row[3]) or ()
        )
        if len(self._device_cache) < 100_000:
            self._device_cache[digest] = found
        return found

    def enroll_device(
        self, tenant_id: int, groups: Sequence[str], os_name: str, agent_version: str
    ) -> tuple[Device, str]:
        device_id = str(uuidlib.uuid4())
        secret = new_token("device")
        device = Device(
            id=device_id, tenant_id=tenant_id, ring=ring_of(device_id), groups=tuple(groups)
        )
        with self.engine.begin() as conn:
            conn.execute(
                s.devices.insert().values(
                    id=device_id,
                    tenant_id=tenant_id,
                    secret_hash=hash_token(secret),
                    ring=device.ring,
                    groups=json.dumps(list(groups)),
                    os=os_name,
                    agent_version=agent_version,
                    created=time.time(),
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
        and the second sees a duplicate.
        """
        rows = [
            {
                "tenant_id": device.tenant_id,
                "device_id": device.id,
                "day": e.day,
                **dict(zip(_WIRE_NAMES, _wire_values(e), strict=True)),
            }
            for device, batch in groups
            for e in batch
        ]
        if not rows:
            return [set() for _ in groups]
        received = time.time()
        if self.engine.dialect.name == "postgresql":
            with self.engine.begin() as conn:
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
            with self._writing(), self.engine.begin() as conn:
                stored = conn.execute(stmt, rows).all()
        new = {(str(r[0]), str(r[1])) for r in stored}
        results: list[set[str]] = []
        for device, batch in groups:
            mine: set[str] = set()
            for e in batch:
                key = (device.id, e.uuid)
                if key in new:
                    new.discard(key)
                    mine.add(e.uuid)
            results.append(mine)
        return results

    def _writing(self) -> AbstractContextManager[object]:
        return self._write_lock if self._write_lock is not None else nullcontext()

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
        """The newest live bundle this device is in the audience of: ``(data, sha256)``."""
        cols = s.bundles.c
        query = select(
            cols.pack_id, cols.version, cols.rollout, cols.groups, cols.sha256, cols.uploaded
        ).where(cols.tenant_id == device.tenant_id, cols.withdrawn == 0, cols.expires > now)
        if pack_id is not None:
            query = query.where(cols.pack_id == pack_id)
        with self.engine.connect() as conn:
            candidates = conn.execute(query).all()
            mine = set(device.groups)
            eligible = [
                r
                for r in candidates
                if device.ring < int(r[2])
                and (r[3] is None or not (groups := _groups(r[3])) or mine.intersection(groups))
            ]
            if not eligible:
                return None
            if pack_id is None:
                # Without a pack id: the pack most recently uploaded to this tenant.
                newest_pack = max(candidates, key=lambda r: float(r[5]))[0]
                eligible = [r for r in eligible if r[0] == newest_pack]
                if not eligible:
                    return None
            best = max(eligible, key=lambda r: int(r[1]))
            data = conn.execute(
                select(cols.data).where(
                    cols.tenant_id == device.tenant_id,
                    cols.pack_id == best[0],
                    cols.version == best[1],
                )
            ).scalar_one()
        return bytes(data), str(best[4])

    # ---------------------------------------------------------------- reports

    def event_counts(
        self, tenant_id: int, since_day: str, until_day: str, pack_id: str | None
    ) -> list[tuple[str, str | None, str | None, str, str | None, int, int]]:
        """``(day, habit, rule, kind, reason, events, distinct devices)`` rows."""
        c = s.events.c
        query = (
            select(
                c.day,
                c.habit,
                c.rule,
                c.kind,
                c.reason,
                func.count(),
                func.count(func.distinct(c.device_id)),
            )
            .where(c.tenant_id == tenant_id, c.day >= since_day, c.day <= until_day)
            .group_by(c.day, c.habit, c.rule, c.kind, c.reason)
        )
        if pack_id is not None:
            query = query.where(c.pack_id == pack_id)
        with self.engine.connect() as conn:
            return [
                (str(r[0]), r[1], r[2], str(r[3]), r[4], int(r[5]), int(r[6]))
                for r in conn.execute(query)
            ]

    def habit_devices(
        self, tenant_id: int, since_day: str, until_day: str, pack_id: str | None
    ) -> list[HabitFact]:
        """Per habit, kind, reason and device: the first and last time, for the lift."""
        c = s.events.c
        query = (
            select(c.habit, c.kind, c.reason, c.device_id, func.min(c.t), func.max(c.t))
            .where(
                c.tenant_id == tenant_id,
                c.day >= since_day,
                c.day <= until_day,
                c.habit.is_not(None),
                c.kind.in_(("shown", "adopted", "suppressed")),
            )
            .group_by(c.habit, c.kind, c.reason, c.device_id)
        )
        if pack_id is not None:
            query = query.where(c.pack_id == pack_id)
        with self.engine.connect() as conn:
            return [
                HabitFact(str(r[0]), str(r[1]), r[2], str(r[3]), float(r[4]), float(r[5]))
                for r in conn.execute(query)
            ]

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
            }
