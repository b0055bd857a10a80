"""Accepting a publisher's signed bundle: checked against the tenant's keys, never older.

The server cannot sign; it verifies an upload exactly as an agent would
(signature first, then expiry and the pack) and refuses a version that is not
higher than every version uploaded before for that pack, withdrawn ones
included, so a replayed old bundle cannot be served again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.exc import IntegrityError

from agent.rules.bundle import BundleError, verify_bundle
from server.errors import Conflict, Invalid
from server.store import BundleRow, Store

__all__ = ["publish_bundle"]


def publish_bundle(
    store: Store,
    tenant_id: int,
    data: bytes,
    rollout: int,
    groups: Sequence[str] | None,
    now: datetime,
) -> BundleRow:
    """Store ``data`` for ``tenant_id`` at ``rollout`` percent; its listing entry.

    Raises :class:`~server.errors.Invalid` (with the bundle's refusal reason as
    the code) or :class:`~server.errors.Conflict` (code ``rollback``).
    """
    keys = store.publisher_keys(tenant_id)
    # Verify first (signature, expiry, pack); only then look at the version.
    try:
        verified = verify_bundle(data, keys, None, now)
    except BundleError as exc:
        raise Invalid(str(exc), code=exc.reason) from exc
    m = verified.manifest
    current = store.latest_version(tenant_id, m.pack_id)
    if current is not None and m.version <= current:
        raise Conflict(
            f"pack {m.pack_id} version {m.version} is not newer than version {current} "
            "already uploaded; sign a higher version",
            code="rollback",
        )
    try:
        store.add_bundle(
            tenant_id,
            pack_id=m.pack_id,
            version=m.version,
            data=data,
            sha256=hashlib.sha256(data).hexdigest(),
            key=m.key_id,
            created=m.created.timestamp(),
            expires=m.expires.timestamp(),
            rollout=rollout,
            groups=groups,
        )
    except IntegrityError as exc:  # a concurrent upload of the same version won the race
        raise Conflict("this version was just uploaded", code="rollback") from exc
    return next(
        r
        for r in store.list_bundles(tenant_id)
        if r.pack_id == m.pack_id and r.version == m.version
    )
