"""The credentials admin API: list and revoke devices, admin tokens, publisher keys; the audit log.

Analysts may list; only publishers may revoke.  Every revocation is audited
with the admin token's id (``token:<id>``) as the actor, and holds from the
next request on in every server process (nothing is cached).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from server.audit import AUDIT_LIMIT, audit_entries
from server.credentials import DEVICE_PAGE, AdminTokenInfo, DeviceInfo, PublisherKeyInfo
from server.routes.auth import AdminDep, require_publisher
from server.routes.dependencies import StoreDep
from server.routes.errors import UNAUTHENTICATED, ErrorBody
from server.routes.fields import DEVICE_ID_PATTERN, iso_time

__all__ = ["AdminTokenEntry", "AuditEntry", "DeviceEntry", "PublisherKeyEntry", "router"]

router = APIRouter(tags=["credentials"])

_KEY_ID_PATTERN = r"^[0-9a-f]{16}$"
_WRITE = {
    **UNAUTHENTICATED,
    403: {"model": ErrorBody, "description": "Not a publisher token."},
    404: {"model": ErrorBody, "description": "Not in this tenant."},
}


class DeviceEntry(BaseModel):
    device_id: str
    os: str
    agent_version: str
    groups: list[str]
    created: str
    last_seen: str | None = Field(description="To the hour; null: never sent telemetry.")
    revoked: str | None

    @classmethod
    def of(cls, d: DeviceInfo) -> DeviceEntry:
        return cls(
            device_id=d.id, os=d.os, agent_version=d.agent_version, groups=list(d.groups),
            created=iso_time(d.created) or "", last_seen=iso_time(d.last_seen),
            revoked=iso_time(d.revoked),
        )  # fmt: skip


class AdminTokenEntry(BaseModel):
    id: int
    role: str
    created: str
    expires: str | None
    revoked: str | None
    active: bool

    @classmethod
    def of(cls, t: AdminTokenInfo, now: float) -> AdminTokenEntry:
        live = t.revoked is None and (t.expires is None or t.expires > now)
        return cls(
            id=t.id, role=t.role, created=iso_time(t.created) or "", expires=iso_time(t.expires),
            revoked=iso_time(t.revoked), active=live,
        )  # fmt: skip


class PublisherKeyEntry(BaseModel):
    key_id: str
    public_key: str
    created: str
    revoked: str | None

    @classmethod
    def of(cls, k: PublisherKeyInfo) -> PublisherKeyEntry:
        return cls(key_id=k.key_id, public_key=k.public_key, created=iso_time(k.created) or "",
                   revoked=iso_time(k.revoked))  # fmt: skip


class AuditEntry(BaseModel):
    at: str
    action: str
    actor: str = Field(description="cli, retention, or token:<admin token id>.")
    object: str | None = Field(default=None, description="What was acted on, when it is said.")
    detail: dict[str, Any]


@router.get("/v1/admin/devices", response_model=list[DeviceEntry], responses=UNAUTHENTICATED)
def list_devices(
    admin: AdminDep,
    store: StoreDep,
    after: Annotated[
        str, Query(pattern=f"^$|{DEVICE_ID_PATTERN}", description="Page on: the last id seen.")
    ] = "",
    limit: Annotated[int, Query(ge=1, le=DEVICE_PAGE)] = DEVICE_PAGE,
) -> list[DeviceEntry]:
    """This tenant's devices by id, revoked ones too (pages of at most 1000)."""
    found = store.credentials.devices(admin.tenant_id, after=after.lower(), limit=limit)
    return [DeviceEntry.of(d) for d in found]


@router.post("/v1/admin/devices/{device_id}/revoke", response_model=DeviceEntry, responses=_WRITE)
def revoke_device(
    device_id: Annotated[str, Path(pattern=DEVICE_ID_PATTERN)], admin: AdminDep, store: StoreDep
) -> DeviceEntry:
    """Revoke a device: its secret gets 401 from the next request on (its data stays)."""
    require_publisher(admin)
    done = store.credentials.revoke_device(admin.tenant_id, device_id.lower(), actor=admin.actor)
    return DeviceEntry.of(done)


@router.get("/v1/admin/tokens", response_model=list[AdminTokenEntry], responses=UNAUTHENTICATED)
def list_tokens(admin: AdminDep, store: StoreDep) -> list[AdminTokenEntry]:
    """This tenant's admin tokens (never the tokens themselves): role, expiry, revocation."""
    now = datetime.now(UTC).timestamp()
    return [AdminTokenEntry.of(t, now) for t in store.credentials.admin_tokens(admin.tenant_id)]


@router.post("/v1/admin/tokens/{token_id}/revoke", response_model=AdminTokenEntry, responses=_WRITE)
def revoke_token(
    token_id: Annotated[int, Path(ge=1, lt=2**31)], admin: AdminDep, store: StoreDep
) -> AdminTokenEntry:
    """Revoke an admin token (this one too, if named): 401 from the next request on, and
    its dashboard sessions end."""
    require_publisher(admin)
    done = store.credentials.revoke_admin_token(admin.tenant_id, token_id, actor=admin.actor)
    return AdminTokenEntry.of(done, datetime.now(UTC).timestamp())


@router.get(
    "/v1/admin/publisher-keys", response_model=list[PublisherKeyEntry], responses=UNAUTHENTICATED
)
def list_publisher_keys(admin: AdminDep, store: StoreDep) -> list[PublisherKeyEntry]:
    """The public keys this tenant's uploads are checked against, revoked ones too."""
    return [PublisherKeyEntry.of(k) for k in store.credentials.publisher_keys(admin.tenant_id)]


@router.post(
    "/v1/admin/publisher-keys/{key_id}/revoke",
    response_model=PublisherKeyEntry,
    responses=_WRITE,
)
def revoke_publisher_key(
    key_id: Annotated[str, Path(pattern=_KEY_ID_PATTERN)], admin: AdminDep, store: StoreDep
) -> PublisherKeyEntry:
    """Revoke a publisher key: uploads signed with it are refused and bundles signed with it
    are no longer served."""
    require_publisher(admin)
    done = store.credentials.revoke_publisher_key(admin.tenant_id, key_id, actor=admin.actor)
    return PublisherKeyEntry.of(done)


@router.get("/v1/admin/audit", response_model=list[AuditEntry], responses=UNAUTHENTICATED)
async def audit(
    admin: AdminDep,
    store: StoreDep,
    limit: Annotated[int, Query(ge=1, le=AUDIT_LIMIT)] = AUDIT_LIMIT,
) -> list[AuditEntry]:
    """This tenant's audit log, oldest first (the newest ``limit`` entries)."""
    rows = await run_in_threadpool(audit_entries, store.engine, admin.tenant_id, limit)
    return [_audit_entry(r) for r in rows]


def _audit_entry(row: dict[str, Any]) -> AuditEntry:
    fixed = {"at", "action", "actor", "object"}
    return AuditEntry(
        at=iso_time(row["at"]) or "",
        action=row["action"],
        actor=row["actor"],
        object=row.get("object"),
        detail={k: v for k, v in row.items() if k not in fixed},
    )
