"""Packs from the server, kept on disk: the last verified bundle and what is trusted.

``<data>/sync/`` holds ``bundle.json`` (the signed bundle exactly as received),
``pack.yaml`` (its pack, the file the agent runs and watches) and
``state.json`` (the last ETag, whether that bundle was refused and under
which pinned keys and agent version, the highest version trusted per pack,
and the server's word on a newer version this device is not in).
A refused bundle is not downloaded again until the server has a new one,
or until policy pins other keys or the agent is upgraded: then the refusal
may no longer hold, so the ETag is not sent and the bundle is checked again.
Files are replaced atomically, so a crash leaves the old pack or the new one,
never half.  At start the stored bundle is verified again: a pack edited on
disk, an expired bundle or a key no longer pinned is not run.

**Rollback is refused even when a file is lost.**  The highest version trusted
per pack is kept in two files, ``sync/state.json`` and
``<data>/trusted-packs.json``, and a bundle is accepted only if it is newer
than both and than the stored ``bundle.json`` (when its signature still
checks).  Deleting or corrupting any one of the three (any two, in fact)
does not let an older validly signed pack in; the ones left write the lost
one again.

Corrupt files are set aside (agent/storage.py): a ``bundle.json`` whose bytes
are damaged (not a bundle, a bad signature) is set aside and its ETag
forgotten, so the server sends the pack again; a ``pack.yaml`` that differs
from its signed bundle is set aside and written again from the bundle.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from agent.config.paths import write_atomic
from agent.rules.bundle import (
    BundleError,
    VerifiedBundle,
    key_id,
    load_public_key,
    read_manifest_unverified,
    verified_manifest,
    verify_bundle,
)
from agent.storage import StoreUnavailable, load_json_object, private_dir, set_aside

__all__ = ["TRUST_FILE", "SyncedPacks", "pinned_keys", "refusal_conditions", "stored_withheld"]

log = logging.getLogger(__name__)

#: The second record of trusted versions, in the data folder (beside ``sync/``).
TRUST_FILE: Final = "trusted-packs.json"
#: Refusals that mean the stored bundle's bytes are damaged (not a key or a date problem).
_DAMAGED: Final = frozenset({"malformed", "bad_signature", "mismatch"})


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


def stored_withheld(folder: Path) -> str | None:
    """The rollout notice of the last pack check in ``folder`` (``<data>/sync``), read
    without changing anything (for ``waymark doctor``); None when there is none."""
    try:
        doc = json.loads((folder / "state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    value = doc.get("withheld") if isinstance(doc, dict) else None
    return value if isinstance(value, str) else None


def refusal_conditions(keys: Mapping[str, Ed25519PublicKey], agent_version: str) -> str:
    """What a bundle's refusal depended on besides its bytes: the pinned key ids and
    this agent's version (``state.json``'s ``refused_under``)."""
    return f"keys={','.join(sorted(keys))};agent={agent_version}"


def _versions(value: object) -> dict[str, int] | None:
    """``{pack id: version}`` from JSON, or None when it is not that shape."""
    if not isinstance(value, dict):
        return None
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in value.values()):
        return None
    return dict(value)


def _check_state(doc: dict[str, Any]) -> str | None:
    if not isinstance(doc.get("etag"), (str, type(None))):
        return "etag is not a string"
    if not isinstance(doc.get("refused", False), bool):
        return "refused is not true or false"
    if not isinstance(doc.get("refused_under"), (str, type(None))):
        return "refused_under is not a string"
    if _versions(doc.get("trusted", {})) is None:
        return "trusted is not a map of pack ids to versions"
    if not isinstance(doc.get("withheld"), (str, type(None))):
        return "withheld is not a string"
    return None


def _check_trust(doc: dict[str, Any]) -> str | None:
    return None if _versions(doc) is not None else "not a map of pack ids to versions"


class SyncedPacks:
    """The verified pack from the server, in ``folder`` (``trust_file``: the second record
    of trusted versions, by default ``folder/../trusted-packs.json``)."""

    def __init__(self, folder: Path, trust_file: Path | None = None) -> None:
        self.folder = folder
        self.pack_path = folder / "pack.yaml"
        self.bundle_path = folder / "bundle.json"
        self._state_path = folder / "state.json"
        self._trust_path = trust_file if trust_file is not None else folder.parent / TRUST_FILE
        self._state = self._read(self._state_path, _check_state)
        self._trust = _versions(self._read(self._trust_path, _check_trust)) or {}

    @property
    def etag(self) -> str | None:
        value = self._state.get("etag")
        return value if isinstance(value, str) else None

    def etag_to_send(self, conditions: str) -> str | None:
        """The ETag for the next pack check: None (so the server sends the bundle again)
        when the bundle behind it was refused under other ``conditions``
        (:func:`refusal_conditions`), since the refusal may no longer hold."""
        if self._state.get("refused") and self._state.get("refused_under") != conditions:
            return None
        return self.etag

    def trusted_version(
        self, pack_id: str, keys: Mapping[str, Ed25519PublicKey] | None = None
    ) -> int | None:
        """The highest version of ``pack_id`` trusted so far, from both records and (with
        ``keys``) the stored bundle when its signature checks; None if none."""
        found = [
            v for v in (self._recorded().get(pack_id), self._trust.get(pack_id)) if v is not None
        ]
        if keys is not None:
            stored = self._stored_manifest(keys)
            if stored is not None and stored[0] == pack_id:
                found.append(stored[1])
        return max(found) if found else None

    @property
    def withheld(self) -> str | None:
        """What the server said at the last pack check about a newer version this device is
        not in (``waymark doctor`` shows it); None when it said nothing."""
        value = self._state.get("withheld")
        return value if isinstance(value, str) else None

    def remember_withheld(self, notice: str | None) -> None:
        """Keep the server's word on a withheld version until the next pack check."""
        if notice == self.withheld:
            return
        try:
            self._save_state({**self._state, "withheld": notice})
        except OSError as exc:
            log.info("cannot write %s (%s); the rollout notice is kept in memory",
                     self._state_path, exc)  # fmt: skip

    def holds(self, data: bytes) -> bool:
        """True when ``data`` is exactly the stored bundle (the server sent it again)."""
        try:
            return self.bundle_path.read_bytes() == data
        except OSError:
            return False

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
            data, keys, self.trusted_version(pack_id, keys), now, agent_version=agent_version
        )

    def accept(self, data: bytes, bundle: VerifiedBundle, etag: str | None) -> Path:
        """Store a verified bundle and its pack; returns the pack file to run.

        The bundle goes first and the trusted versions after it, so a crash in
        between leaves a trust no higher than the stored bundle.  Raises OSError
        when the files cannot be written (a full disk): the running pack stays.
        """
        private_dir(self.folder)
        write_atomic(self.bundle_path, data)
        write_atomic(self.pack_path, bundle.manifest.pack.encode("utf-8"))
        self._trust_version(bundle.manifest.pack_id, bundle.manifest.version, etag=etag,
                            refused=False, refused_under=None)  # fmt: skip
        return self.pack_path

    def remember_etag(self, etag: str | None, *, refused_under: str | None = None) -> None:
        """Keep the ETag of a bundle that was refused under ``refused_under``
        (:func:`refusal_conditions`), or, without it, of the stored one, so it is not
        fetched again and again (in memory at least, when the file cannot be written)."""
        refused = refused_under is not None and bool(etag)
        state = {**self._state, "etag": etag, "refused": refused,
                 "refused_under": refused_under if refused else None}  # fmt: skip
        try:
            self._save_state(state)
        except OSError as exc:
            log.info("cannot write %s (%s); the ETag is kept in memory", self._state_path, exc)

    def current(
        self, keys: Mapping[str, Ed25519PublicKey], now: datetime, agent_version: str
    ) -> Path | None:
        """The stored pack file if its bundle still verifies and the file matches it."""
        try:
            data = self.bundle_path.read_bytes()
        except OSError:
            self._forget_etag()
            return None
        try:
            bundle = verify_bundle(data, keys, None, now, agent_version=agent_version)
        except BundleError as exc:
            if exc.reason in _DAMAGED:
                set_aside(self.bundle_path, str(exc))
                self._forget_etag()
            else:
                log.warning("the stored server pack is not used: %s", exc)
            return None
        manifest = bundle.manifest
        if manifest.version < (self.trusted_version(manifest.pack_id) or 0):
            log.warning("the stored server pack is older than one trusted before; not used")
            return None
        expected = manifest.pack.encode("utf-8")
        try:
            on_disk: bytes | None = self.pack_path.read_bytes()
        except FileNotFoundError:
            on_disk = None
        except OSError as exc:
            log.warning("cannot read %s (%s); the stored server pack is not used",
                        self.pack_path, exc)  # fmt: skip
            return None
        try:
            if on_disk != expected:
                if on_disk is not None:
                    set_aside(self.pack_path, "it differs from its signed bundle")
                write_atomic(self.pack_path, expected)
            # The records of trust are written again if one was lost.
            self._trust_version(manifest.pack_id, manifest.version)
        except OSError as exc:
            log.warning("cannot write %s (%s); the stored server pack is not used",
                        self.pack_path, exc)  # fmt: skip
            return None
        return self.pack_path

    # -- internals ---------------------------------------------------------------

    def _recorded(self) -> dict[str, int]:
        return _versions(self._state.get("trusted", {})) or {}

    def _stored_manifest(self, keys: Mapping[str, Ed25519PublicKey]) -> tuple[str, int] | None:
        try:
            manifest = verified_manifest(self.bundle_path.read_bytes(), keys)
        except (OSError, BundleError):
            return None
        return manifest.pack_id, manifest.version

    def _trust_version(self, pack_id: str, version: int, **state: object) -> None:
        """Record ``version`` as trusted in both places (never lowering either), with
        ``state`` (the ETag) in ``state.json``."""
        trusted = self._recorded()
        trusted[pack_id] = max(version, trusted.get(pack_id, version))
        new = {**self._state, **state, "trusted": trusted}
        if new != self._state:
            self._save_state(new)
        if self._trust.get(pack_id, -1) < version:
            self._trust = {**self._trust, pack_id: version}
            write_atomic(self._trust_path, json.dumps(self._trust, indent=1).encode("utf-8"))

    def _forget_etag(self) -> None:
        """The stored bundle is gone: without its ETag the server sends the pack again
        (the ETag of a bundle that was refused is kept: that one is not wanted again)."""
        if self.etag is not None and not self._state.get("refused"):
            self.remember_etag(None)

    def _save_state(self, state: dict[str, Any]) -> None:
        self._state = state
        private_dir(self.folder)
        write_atomic(self._state_path, json.dumps(state, indent=1).encode("utf-8"))

    def _read(self, path: Path, check: Callable[[dict[str, Any]], str | None]) -> dict[str, Any]:
        try:
            return load_json_object(path, check) or {}
        except StoreUnavailable as exc:
            log.warning("%s; the other record of trusted versions is used", exc)
            return {}
