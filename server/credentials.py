"""The life of every credential: issue, list, expire and revoke, each change audited.

Devices, admin tokens and publisher keys are never deleted here: a revoked
one keeps its row (with the time it was revoked), so a listing says what was
trusted and until when.  Every lookup that authenticates a request
(:meth:`server.store.Store.device`, :meth:`~server.store.Store.admin`), the
event write (which may start from a cached device but checks its devices in
its own transaction) and every bundle check
(:meth:`~server.store.Store.publisher_keys`) read the ``revoked`` column from
the database, so a revocation holds at once in every server process.
Revoking an admin token also ends its dashboard sessions.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import Engine, select, update

from agent.rules.bundle import key_id, load_public_key, public_key_text
from server import schema as s
from server.audit import write_audit
from server.errors import Invalid, NotFound
from server.tokens import hash_token, new_token

__all__ = [
    "DEVICE_PAGE",
    "ROLES",
    "AdminTokenInfo",
    "Credentials",
    "DeviceInfo",
    "PublisherKeyInfo",
]

ROLES: Final = ("publisher", "analyst")
#: The most devices one listing returns (page on with ``after``).
DEVICE_PAGE: Final = 1000


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    id: str
    os: str
    agent_version: str
    groups: tuple[str, ...]
    created: float
    last_seen: float | None
    revoked: float | None


@dataclass(frozen=True, slots=True)
class AdminTokenInfo:
    id: int
    role: str
    created: float
    expires: float | None
    revoked: float | None


@dataclass(frozen=True, slots=True)
class PublisherKeyInfo:
    key_id: str
    public_key: str
    created: float
    revoked: float | None


def _opt(value: Any) -> float | None:
    return None if value is None else float(value)


class Credentials:
    """Devices, admin tokens and publisher keys of every tenant, over one engine."""

    def __init__(self, engine: Engine, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self._clock = clock

    # ---------------------------------------------------------------- admin tokens

    def issue_admin_token(
        self, tenant_id: int, role: str, *, actor: str, expires_in: float | None = None
    ) -> tuple[int, str]:
        """A new admin token ``(row id, token)``; the token is shown once, stored hashed."""
        if role not in ROLES:
            raise Invalid("role must be publisher or analyst", code="bad_role")
        if expires_in is not None and expires_in <= 0:
            raise Invalid("an expiry must be in the future", code="bad_expiry")
        token = new_token("admin")
        now = self._clock()
        expires = None if expires_in is None else now + expires_in
        with self.engine.begin() as conn:
            result = conn.execute(
                s.admin_tokens.insert().values(
                    tenant_id=tenant_id,
                    token_hash=hash_token(token),
                    role=role,
                    created=now,
                    expires=expires,
                )
            )
            pk = result.inserted_primary_key
            assert pk is not None
            token_id = int(pk[0])
            detail: dict[str, Any] = {"role": role}
            if expires is not None:
                detail["expires"] = expires
            write_audit(conn, tenant_id, now, "admin_token_created", actor, detail,
                        object_id=str(token_id))  # fmt: skip
        return token_id, token

    def admin_tokens(self, tenant_id: int) -> list[AdminTokenInfo]:
        """Every admin token of the tenant, revoked and expired ones too (oldest first)."""
        c = s.admin_tokens.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(c.id, c.role, c.created, c.expires, c.revoked)
                .where(c.tenant_id == tenant_id)
                .order_by(c.id)
            ).all()
        return [
            AdminTokenInfo(int(r[0]), str(r[1]), float(r[2]), _opt(r[3]), _opt(r[4])) for r in rows
        ]

    def revoke_admin_token(self, tenant_id: int, token_id: int, *, actor: str) -> AdminTokenInfo:
        """Revoke one of the tenant's admin tokens and end its dashboard sessions."""
        c = s.admin_tokens.c
        now = self._clock()
        with self.engine.begin() as conn:
            where = (c.tenant_id == tenant_id) & (c.id == token_id)
            row = conn.execute(select(c.revoked).where(where)).first()
            if row is None:
                raise NotFound(f"this tenant has no admin token {token_id}")
            if row[0] is None:
                conn.execute(update(s.admin_tokens).where(where).values(revoked=now))
                ended = conn.execute(
                    s.dashboard_sessions.delete().where(
                        s.dashboard_sessions.c.admin_token_id == token_id
                    )
                ).rowcount
                write_audit(conn, tenant_id, now, "admin_token_revoked", actor,
                            {"sessions_ended": ended}, object_id=str(token_id))  # fmt: skip
        return next(t for t in self.admin_tokens(tenant_id) if t.id == token_id)

    # ---------------------------------------------------------------- devices

    def devices(
        self, tenant_id: int, *, after: str = "", limit: int = DEVICE_PAGE
    ) -> list[DeviceInfo]:
        """The tenant's devices by id, those after ``after`` (at most ``limit``)."""
        c = s.devices.c
        return self._devices(
            (c.tenant_id == tenant_id) & (c.id > after), order_by=c.id, limit=limit
        )

    def device(self, device_id: str) -> DeviceInfo | None:
        """One device, by id, whichever its tenant."""
        found = self._devices(s.devices.c.id == device_id)
        return found[0] if found else None

    def _devices(
        self, where: Any, order_by: Any = None, limit: int | None = None
    ) -> list[DeviceInfo]:
        c = s.devices.c
        query = select(
            c.id, c.os, c.agent_version, c.groups, c.created, c.last_seen, c.revoked
        ).where(where)
        if order_by is not None:
            query = query.order_by(order_by)
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [
            DeviceInfo(
                id=str(r[0]),
                os=str(r[1]),
                agent_version=str(r[2]),
                groups=tuple(str(g) for g in json.loads(r[3])),
                created=float(r[4]),
                last_seen=_opt(r[5]),
                revoked=_opt(r[6]),
            )
            for r in rows
        ]

    def revoke_device(self, tenant_id: int | None, device_id: str, *, actor: str) -> DeviceInfo:
        """Revoke a device's secret (``tenant_id`` None: whichever tenant has it).

        Its data stays (``device erase`` deletes it); it can enroll again only
        with an enrollment token, as a new device.
        """
        c = s.devices.c
        now = self._clock()
        with self.engine.begin() as conn:
            row = conn.execute(select(c.tenant_id, c.revoked).where(c.id == device_id)).first()
            if row is None or (tenant_id is not None and int(row[0]) != tenant_id):
                raise NotFound(f"no device {device_id}" + (" in this tenant" if tenant_id else ""))
            owner = int(row[0])
            if row[1] is None:
                conn.execute(update(s.devices).where(c.id == device_id).values(revoked=now))
                write_audit(conn, owner, now, "device_revoked", actor, object_id=device_id)
        found = self.device(device_id)
        assert found is not None
        return found

    # ---------------------------------------------------------------- publisher keys

    def add_publisher_key(self, tenant_id: int, public_key: str, *, actor: str) -> str:
        """Trust a public key for the tenant's uploads; its key id.

        Adding a key that is already there changes nothing; a revoked key
        cannot be trusted again (make a new one).
        """
        key = load_public_key(public_key)
        kid = key_id(key)
        c = s.publisher_keys.c
        now = self._clock()
        with self.engine.begin() as conn:
            row = conn.execute(
                select(c.revoked).where(c.tenant_id == tenant_id, c.key_id == kid)
            ).first()
            if row is not None and row[0] is not None:
                raise Invalid(f"publisher key {kid} was revoked; it cannot be trusted again",
                              code="key_revoked")  # fmt: skip
            if row is None:
                conn.execute(
                    s.publisher_keys.insert().values(
                        tenant_id=tenant_id, key_id=kid, public_key=public_key_text(key),
                        created=now,
                    )
                )  # fmt: skip
                write_audit(conn, tenant_id, now, "publisher_key_added", actor, object_id=kid)
        return kid

    def publisher_keys(self, tenant_id: int) -> list[PublisherKeyInfo]:
        """Every publisher key of the tenant, revoked ones too (oldest first)."""
        c = s.publisher_keys.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(c.key_id, c.public_key, c.created, c.revoked)
                .where(c.tenant_id == tenant_id)
                .order_by(c.id)
            ).all()
        return [PublisherKeyInfo(str(r[0]), str(r[1]), float(r[2]), _opt(r[3])) for r in rows]

    def revoke_publisher_key(self, tenant_id: int, kid: str, *, actor: str) -> PublisherKeyInfo:
        """Revoke a key: no upload signed with it is accepted and no bundle signed with it
        is served any more (devices keep the pack they run until a newer one comes)."""
        c = s.publisher_keys.c
        now = self._clock()
        with self.engine.begin() as conn:
            where = (c.tenant_id == tenant_id) & (c.key_id == kid)
            row = conn.execute(select(c.revoked).where(where)).first()
            if row is None:
                raise NotFound(f"this tenant has no publisher key {kid}")
            if row[0] is None:
                conn.execute(update(s.publisher_keys).where(where).values(revoked=now))
                write_audit(conn, tenant_id, now, "publisher_key_revoked", actor, object_id=kid)
        return next(k for k in self.publisher_keys(tenant_id) if k.key_id == kid)

    def record(
        self,
        tenant_id: int,
        action: str,
        actor: str,
        object_id: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """Add an entry to the audit log on its own (an upload, a rollout, a sign-in)."""
        with self.engine.begin() as conn:
            write_audit(conn, tenant_id, self._clock(), action, actor, detail,
                        object_id=object_id)  # fmt: skip
