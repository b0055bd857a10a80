"""Why a device does not get a pack's newest version: the ``Waymark-Pack-Withheld`` header.

``GET /v1/pack`` answers the highest version that applies to the device (or
204).  When a higher live version exists that the device is outside of (its
rollout ring, or its groups), the answer says so, so ``waymark sync`` can say
"this device is not in the rollout of m365-habits v7" instead of "unchanged".
The header is ``<pack id> <version> <rollout|groups>``; agents that do not
know it ignore it (docs/api.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from server.store import BundleRow, Device, Store, excluded_by

__all__ = ["WITHHELD_HEADER", "Withheld", "withheld_version"]

#: The response header of GET /v1/pack that names a version the device is not in.
WITHHELD_HEADER: Final = "Waymark-Pack-Withheld"


@dataclass(frozen=True, slots=True)
class Withheld:
    pack_id: str
    version: int
    #: ``rollout`` (outside the percentage) or ``groups`` (in none of its groups).
    reason: str

    def header(self) -> str:
        return f"{self.pack_id} {self.version} {self.reason}"


def withheld_version(
    store: Store, device: Device, pack_id: str | None, served_sha256: str | None, now: float
) -> Withheld | None:
    """The newest live version the device is not in, when it is newer than what it gets.

    When a bundle is served only its pack counts; when none is, the pack
    uploaded last.  Versions signed with a revoked key, withdrawn or expired
    ones are never named.
    """
    revoked = {k.key_id for k in store.credentials.publisher_keys(device.tenant_id) if k.revoked}
    rows = [
        r
        for r in store.list_bundles(device.tenant_id)
        if not r.withdrawn
        and r.expires > now
        and r.key_id not in revoked
        and (pack_id is None or r.pack_id == pack_id)
    ]
    served = next((r for r in rows if r.sha256 == served_sha256), None)
    if served is not None:  # only the served pack's newer versions matter to this device
        rows = [r for r in rows if r.pack_id == served.pack_id and r.version > served.version]
    newest: dict[str, BundleRow] = {}
    for r in rows:
        if r.pack_id not in newest or r.version > newest[r.pack_id].version:
            newest[r.pack_id] = r
    for top in sorted(newest.values(), key=lambda r: r.uploaded, reverse=True):
        reason = excluded_by(device, top.rollout, top.groups)
        if reason is not None:
            return Withheld(top.pack_id, top.version, reason)
    return None
