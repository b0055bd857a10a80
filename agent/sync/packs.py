"""Packs from the server, kept on disk: the last verified bundle and what is trusted.

``<data>/sync/`` holds ``bundle.json`` (the signed bundle exactly as received),
``pack.yaml`` (its pack, the file the agent runs and watches) and
``state.json`` (the bundle's ETag and the highest version trusted per pack,
which refuses a rollback even across restarts).  Files are replaced
atomically, so a crash leaves the old pack or the new one, never half.  At
start the stored bundle is verified again: a pack edited on disk, an expired
bundle or a key no longer pinned is not run.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from agent.config.paths import write_atomic
from agent.rules.bundle import (
    BundleError,
    VerifiedBundle,
    key_id,
    load_public_key,
    read_manifest_unverified,
    verify_bundle,
)

__all__ = ["SyncedPacks", "pinned_keys"]

log = logging.getLogger(__name__)


def pinned_keys(setting: object) -> dict[str, Ed25519PublicKey]:
    """The ``publisher_keys`` setting as keys by key id; a bad entry is logged and skipped."""
    keys: dict[str, Ed25519PublicKey] = {}
    for text in setting if isinstance(setting, list) else []:
        if not isinstance(text, str):
            continue
        try:
            key = load_public_key(text)
        except ValueError as exc:
            log.warning("publisher_keys: %s; that key is ignored", exc)
            continue
        keys[key_id(key)] = key
    return keys


class SyncedPacks:
    """The verified pack from the server, in ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.pack_path = folder / "pack.yaml"
        self.bundle_path = folder / "bundle.json"
        self._state_path = folder / "state.json"
        self._state = self._read_state()

    @property
    def etag(self) -> str | None:
        value = self._state.get("etag")
        return value if isinstance(value, str) else None

    def trusted_version(self, pack_id: str) -> int | None:
        value = self._state.get("trusted", {}).get(pack_id)
        return value if isinstance(value, int) else None

    def verify(
        self,
        data: bytes,
        keys: Mapping[str, Ed25519PublicKey],
        now: datetime,
        agent_version: str,
    ) -> VerifiedBundle:
        """Check a bundle from the server against the keys and the trusted version."""
        try:
            pack_id = read_manifest_unverified(data).pack_id
        except BundleError:
            pack_id = ""
        return verify_bundle(
            data, keys, self.trusted_version(pack_id), now, agent_version=agent_version
        )

    def accept(self, data: bytes, bundle: VerifiedBundle, etag: str | None) -> Path:
        """Store a verified bundle and its pack; returns the pack file to run."""
        self.folder.mkdir(parents=True, exist_ok=True)
        write_atomic(self.bundle_path, data)
        write_atomic(self.pack_path, bundle.manifest.pack.encode("utf-8"))
        trusted = dict(self._state.get("trusted", {}))
        trusted[bundle.manifest.pack_id] = bundle.manifest.version
        self._save_state({"etag": etag, "trusted": trusted})
        return self.pack_path

    def remember_etag(self, etag: str | None) -> None:
        """Keep the ETag of a bundle that was refused, so it is not fetched again and again."""
        self._save_state({**self._state, "etag": etag})

    def current(
        self, keys: Mapping[str, Ed25519PublicKey], now: datetime, agent_version: str
    ) -> Path | None:
        """The stored pack file if its bundle still verifies and the file matches it."""
        try:
            data = self.bundle_path.read_bytes()
            on_disk = self.pack_path.read_text(encoding="utf-8")
        except OSError:
            return None
        try:
            bundle = verify_bundle(data, keys, None, now, agent_version=agent_version)
        except BundleError as exc:
            log.warning("the stored server pack is not used: %s", exc)
            return None
        if bundle.manifest.version < (self.trusted_version(bundle.manifest.pack_id) or 0):
            log.warning("the stored server pack is older than one trusted before; not used")
            return None
        if on_disk != bundle.manifest.pack:
            log.warning("%s differs from its signed bundle; writing it again", self.pack_path)
            write_atomic(self.pack_path, bundle.manifest.pack.encode("utf-8"))
        return self.pack_path

    def _save_state(self, state: dict[str, Any]) -> None:
        self._state = state
        self.folder.mkdir(parents=True, exist_ok=True)
        write_atomic(self._state_path, json.dumps(state, indent=1).encode("utf-8"))

    def _read_state(self) -> dict[str, Any]:
        try:
            doc = json.loads(self._state_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return doc if isinstance(doc, dict) else {}
