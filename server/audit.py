"""The admin audit log: who created, revoked, erased or rolled out what, and when.

One row per action: the tenant, the time, the action, the actor (``cli``,
``retention`` or ``token:<id>``, an admin token's row id, never the token)
and the object acted on (a token id, a key id, ``pack vN``, a device id;
none for an erasure, which must not say which device it was).  The detail is
counts and settings, never personal data.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from sqlalchemy import Engine, select

from server import schema as s

__all__ = ["AUDIT_LIMIT", "audit_entries", "write_audit"]

#: The most entries one listing returns (the newest ones).
AUDIT_LIMIT: Final = 1000


def write_audit(
    conn: Any,
    tenant_id: int | None,
    at: float,
    action: str,
    actor: str,
    detail: Mapping[str, Any] | None = None,
    *,
    object_id: str | None = None,
) -> None:
    """Add one entry, in the caller's transaction (it commits with what it records)."""
    conn.execute(
        s.audit_log.insert().values(
            tenant_id=tenant_id,
            at=at,
            action=action,
            actor=actor[:32],
            object_id=object_id,
            detail=json.dumps(dict(detail or {}), sort_keys=True),
        )
    )


def audit_entries(engine: Engine, tenant_id: int, limit: int = AUDIT_LIMIT) -> list[dict[str, Any]]:
    """The tenant's audit log, oldest first (the newest ``limit`` entries)."""
    c = s.audit_log.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(c.id, c.at, c.action, c.actor, c.object_id, c.detail)
            .where(c.tenant_id == tenant_id)
            .order_by(c.id.desc())
            .limit(limit)
        ).all()
    entries = []
    for r in reversed(rows):
        entry: dict[str, Any] = {
            "at": float(r[1]),
            "action": str(r[2]),
            "actor": str(r[3]),
            **json.loads(r[5]),
        }
        if r[4] is not None:
            entry["object"] = str(r[4])
        entries.append(entry)
    return entries
