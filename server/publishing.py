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

from agent.rules.bundle import BundleError, read_manifest_unverified, verify_bundle
from server.errors import Conflict, Invalid
from server.store import BundleRow, Store

__all__ = ["publish_bundle"]


def _revoked_signer(store: Store, tenant_id: int, data: bytes) -> str | None:
    """The key id of ``data``'s signer when that key is one of the tenant's revoked keys."""
    try:
        signer = read_manifest_unverified(data).key_id
    except BundleError:
        return None
    revoked = {k.key_id for k in store.credentials.publisher_keys(tenant_id) if k.revoked}
    return signer if signer in revoked else None


def publish_bundle(
    store: Store,
    tenant_id: int,
    data: bytes,
    rollout: int,
    groups: Sequence[str] | None,
    now: datetime,
    actor: str = "cli",
) -> BundleRow:
    """Store ``data`` for ``tenant_id`` at ``rollout`` percent; its listing entry (and an
    audit entry naming ``actor``).

    Only the tenant's keys that are not revoked are trusted: a bundle signed
    with a revoked key is refused with code ``key_revoked``.  Raises
    :class:`~server.errors.Invalid` (with the bundle's refusal reason as the
    code) or :class:`~server.errors.Conflict` (code ``rollback``).
    """
    keys = store.publisher_keys(tenant_id)
    # Verify first (signature, expiry, pack); only then look at the version.
    try:
        verified = verify_bundle(data, keys, None, now)
    except BundleError as exc:
        revoked = _revoked_signer(store, tenant_id, data) if exc.reason == "unknown_key" else None
        if revoked is not None:
            raise Invalid(
                f"the bundle is signed with publisher key {revoked}, which was revoked; sign "
                "it with a key the tenant trusts", code="key_revoked",
            ) from exc  # fmt: skip
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
    store.credentials.record(tenant_id, "bundle_uploaded", actor, f"{m.pack_id} v{m.version}",
                             {"rollout": rollout, "key_id": m.key_id})  # fmt: skip
    return next(
        r
        for r in store.list_bundles(tenant_id)
        if r.pack_id == m.pack_id and r.version == m.version
    )
