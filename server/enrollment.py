"""Enrollment an employee cannot abuse: token lifecycle, the enroll decision, approval.

An enrollment token (``wme_…``) may sit where every user of a machine can read
it, so holding one must not be enough to flood a tenant with devices:

* a token **expires** (default 90 days), may add at most ``max_uses`` devices,
  and enrolls at most ``per_hour`` devices per rolling hour (default
  :data:`DEFAULT_PER_HOUR`; the route adds a per-source-address bucket);
* the agent sends an **installation id** (random, per data folder or per
  machine user, kept by the agent or its broker): enrolling the same one again
  in the same tenant *replaces* that device — a new secret, the old one dead,
  the same device id and ring — instead of adding one;
* a tenant may put new devices in **approval**: ``manual`` (every new device
  waits for ``waymark-server device approve``) or ``auto`` with a quota
  (``per_hour`` new devices per token and hour are approved, the rest wait);
  a pending device may fetch the pack but not send telemetry (403
  ``pending_approval``; the agent keeps its events and backs off);
* reports count a device only once it is approved and active on two local
  days (:mod:`server.counting`).

Every token create/revoke and approval change goes to the audit log, by id,
never the secret.  Nothing here knows HTTP: refusals are :mod:`server.errors`.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from sqlalchemy import Engine, and_, case, func, select, update

from server import schema as s
from server.errors import Invalid, NotFound, RateLimited, Unauthenticated
from server.store import Device, Store, device_row, new_device
from server.tokens import hash_token, new_token

__all__ = [
    "DEFAULT_EXPIRES_DAYS",
    "DEFAULT_PER_HOUR",
    "HOUR",
    "MAX_COUNT",
    "ApprovalMode",
    "Burst",
    "Enrolled",
    "Enrollment",
    "PendingDevice",
    "TenantApproval",
    "TokenInfo",
    "installation_hash",
]

HOUR: Final = 3600.0
DAY: Final = 86400.0
#: A token issued without ``--expires`` lives this long.
DEFAULT_EXPIRES_DAYS: Final = 90
#: Enrollments per token and rolling hour when the token names no rate.
DEFAULT_PER_HOUR: Final = 200
#: How long the burst notice looks back for the usual hourly figure.
USUAL_DAYS: Final = 7
#: A burst: this many times the usual hourly figure, and at least ``BURST_MIN``.
BURST_FACTOR: Final = 3
BURST_MIN: Final = 10
#: The largest count a limit may name (the columns are 32-bit).
MAX_COUNT: Final = 1_000_000_000

ApprovalMode = Literal["auto", "manual"]
Outcome = Literal["new", "pending", "replaced"]


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """An enrollment token as listings show it (never the secret)."""

    id: int
    prefix: str
    created: float
    expires: float | None
    max_uses: int | None
    uses: int
    per_hour: int | None
    revoked: float | None

    def state(self, now: float) -> str:
        """``active``, ``revoked``, ``expired`` or ``used_up``."""
        if self.revoked is not None:
            return "revoked"
        if self.expires is not None and now >= self.expires:
            return "expired"
        if self.max_uses is not None and self.uses >= self.max_uses:
            return "used_up"
        return "active"


@dataclass(frozen=True, slots=True)
class TenantApproval:
    mode: ApprovalMode
    #: In auto mode: new devices approved per token and hour (None: all of them).
    per_hour: int | None


@dataclass(frozen=True, slots=True)
class Enrolled:
    device: Device
    secret: str
    outcome: Outcome

    @property
    def approved(self) -> bool:
        return self.device.approved


@dataclass(frozen=True, slots=True)
class PendingDevice:
    id: str
    os: str
    agent_version: str
    created: float
    token_id: int | None


@dataclass(frozen=True, slots=True)
class Burst:
    """Enrollments of one token in the last hour, against its usual hour."""

    token_id: int
    prefix: str
    last_hour: int
    usual: float


def installation_hash(installation_id: str) -> str:
    """What the server keeps of an installation id (a secret of the agent's: sha256 only)."""
    return hashlib.sha256(b"waymark-installation:" + installation_id.encode()).hexdigest()


class Enrollment:
    """Enrollment tokens, the enroll decision and device approval, over the store's engine."""

    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self.engine: Engine = store.engine
        self._clock = clock

    # ---------------------------------------------------------------- tokens

    def create_token(
        self,
        tenant_id: int,
        *,
        expires_in: float | None = DEFAULT_EXPIRES_DAYS * DAY,
        max_uses: int | None = None,
        per_hour: int | None = None,
        actor: str = "cli",
    ) -> tuple[TokenInfo, str]:
        """A new token (the secret is returned once); ``expires_in`` None: never."""
        if expires_in is not None and expires_in <= 0:
            raise Invalid("expires must be in the future", code="bad_token_limits")
        if max_uses is not None and not 1 <= max_uses <= MAX_COUNT:
            raise Invalid(f"max_uses is 1 to {MAX_COUNT}", code="bad_token_limits")
        if per_hour is not None and not 1 <= per_hour <= MAX_COUNT:
            raise Invalid(f"per_hour is 1 to {MAX_COUNT}", code="bad_token_limits")
        secret = new_token("enroll")
        now = self._clock()
        values: dict[str, Any] = {
            "tenant_id": tenant_id,
            "token_hash": hash_token(secret),
            "created": now,
            "prefix": secret[:8],
            "expires": None if expires_in is None else now + expires_in,
            "max_uses": max_uses,
            "uses": 0,
            "per_hour": per_hour,
        }
        with self.engine.begin() as conn:
            pk = conn.execute(s.enroll_tokens.insert().values(**values)).inserted_primary_key
            assert pk is not None
            token_id = int(pk[0])
            self._store.record_audit(
                conn,
                tenant_id,
                "enroll_token_created",
                actor,
                {
                    "token_id": token_id,
                    "expires": values["expires"],
                    "max_uses": max_uses,
                    "per_hour": per_hour,
                },
            )
        info = TokenInfo(token_id, secret[:8], now, values["expires"], max_uses, 0, per_hour, None)
        return info, secret

    def tokens(self, tenant_id: int) -> list[TokenInfo]:
        c = s.enroll_tokens.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(*_token_columns()).where(c.tenant_id == tenant_id).order_by(c.id)
            ).all()
        return [_token_info(r) for r in rows]

    def revoke_token(self, tenant_id: int, token_id: int, actor: str = "cli") -> TokenInfo:
        c = s.enroll_tokens.c
        with self.engine.begin() as conn:
            done = conn.execute(
                update(s.enroll_tokens)
                .where(c.tenant_id == tenant_id, c.id == token_id, c.revoked.is_(None))
                .values(revoked=self._clock())
            ).rowcount
            row = conn.execute(
                select(*_token_columns()).where(c.tenant_id == tenant_id, c.id == token_id)
            ).first()
            if row is None:
                raise NotFound(f"no enrollment token {token_id} in this tenant")
            if done:
                self._store.record_audit(
                    conn, tenant_id, "enroll_token_revoked", actor, {"token_id": token_id}
                )
        return _token_info(row)

    # ---------------------------------------------------------------- approval

    def approval(self, tenant_id: int) -> TenantApproval:
        with self.engine.connect() as conn:
            return _tenant_approval(conn, tenant_id)

    def set_approval(
        self, tenant_id: int, mode: str, per_hour: int | None, actor: str = "cli"
    ) -> TenantApproval:
        if mode not in ("auto", "manual"):
            raise Invalid("approval is auto or manual", code="bad_approval")
        if per_hour is not None and (not 0 <= per_hour <= MAX_COUNT or mode == "manual"):
            raise Invalid("per_hour is a number ≥ 0, for auto approval only", code="bad_approval")
        with self.engine.begin() as conn:
            conn.execute(
                update(s.tenants)
                .where(s.tenants.c.id == tenant_id)
                .values(approval=mode, approval_per_hour=per_hour)
            )
            self._store.record_audit(
                conn, tenant_id, "approval_set", actor, {"mode": mode, "per_hour": per_hour}
            )
        return TenantApproval("manual" if mode == "manual" else "auto", per_hour)

    def pending(self, tenant_id: int) -> list[PendingDevice]:
        c = s.devices.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(c.id, c.os, c.agent_version, c.created, c.enroll_token_id)
                .where(c.tenant_id == tenant_id, c.approval == "pending")
                .order_by(c.created)
            ).all()
        return [
            PendingDevice(str(r[0]), str(r[1]), str(r[2]), float(r[3]), _int(r[4])) for r in rows
        ]

    def approve(self, tenant_id: int | None, device_ids: Sequence[str], actor: str = "cli") -> int:
        """Approve pending devices (``tenant_id`` None: whichever tenant has them).

        Returns how many were pending; unknown ids (or another tenant's) are NotFound.
        """
        c = s.devices.c
        wanted = sorted({d.lower() for d in device_ids})
        with self._store.writing(), self.engine.begin() as conn:
            query = select(c.id, c.tenant_id, c.approval).where(c.id.in_(wanted))
            if tenant_id is not None:
                query = query.where(c.tenant_id == tenant_id)
            found = {str(r[0]): (int(r[1]), str(r[2])) for r in conn.execute(query)}
            missing = [d for d in wanted if d not in found]
            if missing:
                raise NotFound(f"no device {missing[0]}" + (" in this tenant" if tenant_id else ""))
            waiting = [d for d in wanted if found[d][1] == "pending"]
            if waiting:
                conn.execute(update(s.devices).where(c.id.in_(waiting)).values(approval="approved"))
                by_tenant: dict[int, int] = {}
                for d in waiting:
                    by_tenant[found[d][0]] = by_tenant.get(found[d][0], 0) + 1
                for tenant, n in sorted(by_tenant.items()):
                    self._store.record_audit(
                        conn, tenant, "devices_approved", actor, {"devices": n}
                    )
        self._store.forget_devices(waiting)
        return len(waiting)

    # ---------------------------------------------------------------- enroll

    def enroll(
        self,
        token: str,
        *,
        installation_id: str | None,
        groups: Sequence[str],
        os_name: str,
        agent_version: str,
    ) -> Enrolled:
        """Trade a token for a device: a new one, or the installation's one renewed."""
        now = self._clock()
        t = s.enroll_tokens.c
        with self._store.writing(), self.engine.begin() as conn:
            row = conn.execute(
                select(t.id, t.tenant_id, t.expires, t.max_uses, t.uses, t.per_hour, t.revoked)
                .where(t.token_hash == hash_token(token))
                .with_for_update()
            ).first()
            if row is None:
                raise Unauthenticated("unknown enrollment token")
            token_id, tenant_id = int(row[0]), int(row[1])
            if row[6] is not None:
                raise Unauthenticated(
                    "this enrollment token was revoked; ask your administrator for a new one",
                    code="token_revoked",
                )
            if row[2] is not None and now >= float(row[2]):
                raise Unauthenticated(
                    "this enrollment token has expired; ask your administrator for a new one",
                    code="token_expired",
                )
            self._check_rate(conn, token_id, _int(row[5]) or DEFAULT_PER_HOUR, now)
            known = self._installation_device(conn, tenant_id, installation_id)
            secret = new_token("device")
            if known is not None:
                enrolled = self._renew(
                    conn, tenant_id, known, secret, groups, os_name, agent_version
                )
            else:
                max_uses = _int(row[3])
                if max_uses is not None and int(row[4]) >= max_uses:
                    raise Unauthenticated(
                        f"this enrollment token has enrolled its {max_uses} device(s); "
                        "ask your administrator for a new one",
                        code="token_used_up",
                    )
                approved = self._approves(conn, tenant_id, token_id, now)
                enrolled = self._add(
                    conn, tenant_id, token_id, installation_id, secret, groups, os_name,
                    agent_version, approved, now,
                )  # fmt: skip
                conn.execute(
                    update(s.enroll_tokens).where(t.id == token_id).values(uses=t.uses + 1)
                )
            conn.execute(
                s.enrollments.insert().values(
                    tenant_id=tenant_id,
                    token_id=token_id,
                    at=now,
                    device_id=enrolled.device.id,
                    outcome=enrolled.outcome,
                )
            )
        if enrolled.outcome == "replaced":
            self._store.forget_devices([enrolled.device.id])
        return enrolled

    def _check_rate(self, conn: Any, token_id: int, per_hour: int, now: float) -> None:
        e = s.enrollments.c
        recent = [
            float(v)
            for v in conn.execute(
                select(e.at)
                .where(e.token_id == token_id, e.at > now - HOUR)
                .order_by(e.at)
                .limit(per_hour)
            ).scalars()
        ]
        if len(recent) >= per_hour:
            raise RateLimited(
                max(1.0, recent[0] + HOUR - now),
                f"this enrollment token enrolls at most {per_hour} devices an hour",
                code="token_rate_limited",
            )

    def _installation_device(
        self, conn: Any, tenant_id: int, installation_id: str | None
    ) -> tuple[str, int, str] | None:
        if not installation_id:
            return None
        d = s.devices.c
        row = conn.execute(
            select(d.id, d.ring, d.approval).where(
                d.tenant_id == tenant_id, d.installation == installation_hash(installation_id)
            )
        ).first()
        return None if row is None else (str(row[0]), int(row[1]), str(row[2]))

    def _approves(self, conn: Any, tenant_id: int, token_id: int, now: float) -> bool:
        approval = _tenant_approval(conn, tenant_id)
        if approval.mode == "manual":
            return False
        if approval.per_hour is None:
            return True
        e = s.enrollments.c
        approved = conn.execute(
            select(func.count()).where(
                and_(e.token_id == token_id, e.at > now - HOUR, e.outcome == "new")
            )
        ).scalar_one()
        return int(approved) < approval.per_hour

    def _renew(
        self,
        conn: Any,
        tenant_id: int,
        known: tuple[str, int, str],
        secret: str,
        groups: Sequence[str],
        os_name: str,
        agent_version: str,
    ) -> Enrolled:
        device_id, ring, approval = known
        conn.execute(
            update(s.devices)
            .where(s.devices.c.id == device_id)
            .values(
                secret_hash=hash_token(secret),
                groups=json.dumps(list(groups)),
                os=os_name,
                agent_version=agent_version,
            )
        )
        device = Device(device_id, tenant_id, ring, tuple(groups), approval == "approved")
        return Enrolled(device, secret, "replaced")

    def _add(
        self,
        conn: Any,
        tenant_id: int,
        token_id: int,
        installation_id: str | None,
        secret: str,
        groups: Sequence[str],
        os_name: str,
        agent_version: str,
        approved: bool,
        now: float,
    ) -> Enrolled:
        device = new_device(tenant_id, groups, approved)
        conn.execute(
            s.devices.insert().values(
                **device_row(device, secret, os_name, agent_version, now),
                installation=installation_hash(installation_id) if installation_id else None,
                approval="approved" if approved else "pending",
                enroll_token_id=token_id,
            )
        )
        return Enrolled(device, secret, "new" if approved else "pending")

    # ---------------------------------------------------------------- bursts

    def bursts(self, tenant_id: int) -> list[Burst]:
        """Tokens of the tenant whose last hour is well above their usual hour."""
        return [
            b
            for b in self.hourly(tenant_id)
            if b.last_hour >= max(BURST_MIN, BURST_FACTOR * b.usual)
        ]

    def hourly(self, tenant_id: int) -> list[Burst]:
        """Per token with enrollments this week: the last hour's, and the week's mean hour."""
        now = self._clock()
        e, t = s.enrollments.c, s.enroll_tokens.c
        last = func.sum(case((e.at > now - HOUR, 1), else_=0))
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(e.token_id, t.prefix, last, func.count())
                .select_from(s.enrollments.join(s.enroll_tokens, t.id == e.token_id))
                .where(e.tenant_id == tenant_id, e.at > now - USUAL_DAYS * DAY)
                .group_by(e.token_id, t.prefix)
                .order_by(e.token_id)
            ).all()
        out = []
        for token_id, prefix, last_hour, week in rows:
            before = int(week) - int(last_hour or 0)
            out.append(
                Burst(
                    int(token_id),
                    str(prefix or "wme_"),
                    int(last_hour or 0),
                    before / (USUAL_DAYS * 24 - 1),
                )
            )
        return out


def _tenant_approval(conn: Any, tenant_id: int) -> TenantApproval:
    c = s.tenants.c
    row = conn.execute(select(c.approval, c.approval_per_hour).where(c.id == tenant_id)).first()
    if row is None:
        raise NotFound(f"no tenant {tenant_id}")
    mode: ApprovalMode = "manual" if row[0] == "manual" else "auto"
    return TenantApproval(mode, _int(row[1]))


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _token_columns() -> tuple[Any, ...]:
    """The ``enroll_tokens`` columns a :class:`TokenInfo` is read from, in its order."""
    c = s.enroll_tokens.c
    return (c.id, c.prefix, c.created, c.expires, c.max_uses, c.uses, c.per_hour, c.revoked)


def _token_info(r: Sequence[Any]) -> TokenInfo:
    return TokenInfo(
        id=int(r[0]),
        prefix=str(r[1] or "wme_"),
        created=float(r[2]),
        expires=None if r[3] is None else float(r[3]),
        max_uses=_int(r[4]),
        uses=int(r[5]),
        per_hour=_int(r[6]),
        revoked=None if r[7] is None else float(r[7]),
    )
