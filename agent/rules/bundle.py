"""Signed pack bundles: the only way a rule pack travels between machines.

A bundle is a small JSON container::

    {"waymark_bundle": 1, "key_id": "<16 hex>",
     "manifest": "<base64 of the manifest bytes>", "signature": "<base64 Ed25519>"}

The manifest bytes are canonical JSON (sorted keys, no spaces, UTF-8) holding
``pack_id``, ``version``, ``created``, ``expires``, ``min_agent_version``,
``key_id`` and ``pack`` (the pack's YAML/JSON source text).  The signature is
a detached Ed25519 signature over exactly those bytes.

:func:`verify_bundle` checks the signature against pinned publisher keys
*before* it parses the manifest, then refuses rollbacks, expired bundles,
agents that are too old and packs that do not validate.  The server and the
agent's pack fetcher both use it; only the publisher (``waymark pack sign``)
calls :func:`make_bundle`, because only the publisher holds a private key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from agent.rules.loader import PackError, load_pack_text
from agent.rules.model import Pack

__all__ = [
    "BUNDLE_FORMAT",
    "BundleError",
    "BundleErrorReason",
    "Manifest",
    "VerifiedBundle",
    "key_id",
    "load_private_key",
    "load_public_key",
    "make_bundle",
    "private_key_pem",
    "public_key_text",
    "read_manifest_unverified",
    "verified_manifest",
    "verify_bundle",
]

BUNDLE_FORMAT: Final = 1
#: A bundle bigger than this is refused before any parsing.
MAX_BUNDLE_BYTES: Final = 4 * 1024 * 1024

BundleErrorReason = Literal[
    "malformed",
    "unknown_key",
    "bad_signature",
    "rollback",
    "expired",
    "agent_too_old",
    "invalid_pack",
    "mismatch",
]


class BundleError(Exception):
    """A bundle was refused; ``reason`` is a stable code, the message says why."""

    def __init__(self, reason: BundleErrorReason, message: str) -> None:
        super().__init__(message)
        self.reason: BundleErrorReason = reason


@dataclass(frozen=True, slots=True)
class Manifest:
    """What the publisher signed."""

    pack_id: str
    version: int
    created: datetime
    expires: datetime
    min_agent_version: str
    key_id: str
    pack: str


@dataclass(frozen=True, slots=True)
class VerifiedBundle:
    """A bundle whose signature, version, expiry and pack all checked out."""

    manifest: Manifest
    pack: Pack
    #: sha256 hex of the bundle bytes (the server's ETag).
    sha256: str


# --------------------------------------------------------------------------
# keys


def key_id(public_key: Ed25519PublicKey) -> str:
    """The first 16 hex digits of sha256 over the raw 32-byte public key."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_key_text(public_key: Ed25519PublicKey) -> str:
    """The public key as one line of base64 (raw 32 bytes): what admins paste."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def load_public_key(text: str | bytes) -> Ed25519PublicKey:
    """Read an Ed25519 public key in any of the forms people copy around.

    Base64 of the raw 32 bytes (what ``waymark pack keygen`` prints), base64 of
    the DER SubjectPublicKeyInfo (the ``MCowBQYDK2VwAyEA…`` line inside what
    ``openssl pkey -pubout`` prints), or that whole PEM block.
    """
    data = text.encode("ascii", "replace") if isinstance(text, str) else text
    data = data.strip()
    try:
        if data.startswith(b"-----BEGIN"):
            key = serialization.load_pem_public_key(data)
        else:
            raw = base64.b64decode(data, validate=True)
            if len(raw) == 32:
                return Ed25519PublicKey.from_public_bytes(raw)
            key = serialization.load_der_public_key(raw)
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("not an Ed25519 public key")
        return key
    except (ValueError, binascii.Error, TypeError) as exc:
        raise ValueError(
            "not an Ed25519 public key: expected one line of base64 (the 32-byte key, or the "
            "MCowBQYDK2VwAyEA… form openssl prints) or a PEM block"
        ) from exc


def private_key_pem(private_key: Ed25519PrivateKey) -> bytes:
    return private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load_private_key(pem: bytes) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"not an unencrypted PEM private key: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("not an Ed25519 private key")
    return key


# --------------------------------------------------------------------------
# making


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def canonical_json(value: Mapping[str, Any]) -> bytes:
    """Sorted keys, no whitespace, UTF-8: the same object always gives the same bytes."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def make_bundle(
    *,
    pack_source: str,
    pack_id: str,
    version: int,
    private_key: Ed25519PrivateKey,
    created: datetime,
    expires_in: timedelta = timedelta(days=90),
    min_agent_version: str = "0.1.0",
) -> bytes:
    """Sign ``pack_source`` and return the bundle bytes.

    The caller validates the pack first (``waymark pack sign`` does) and passes
    its id and version, which are copied into the manifest.
    """
    kid = key_id(private_key.public_key())
    manifest = canonical_json(
        {
            "pack_id": pack_id,
            "version": version,
            "created": _iso(created),
            "expires": _iso(created + expires_in),
            "min_agent_version": min_agent_version,
            "key_id": kid,
            "pack": pack_source,
        }
    )
    signature = private_key.sign(manifest)
    container = {
        "waymark_bundle": BUNDLE_FORMAT,
        "key_id": kid,
        "manifest": base64.b64encode(manifest).decode("ascii"),
        "signature": base64.b64encode(signature).decode("ascii"),
    }
    return canonical_json(container)


# --------------------------------------------------------------------------
# verifying


def _split(data: bytes) -> tuple[str, bytes, bytes]:
    """The container's key id, manifest bytes and signature (nothing is trusted yet)."""
    if len(data) > MAX_BUNDLE_BYTES:
        raise BundleError("malformed", f"bundle is larger than {MAX_BUNDLE_BYTES} bytes")
    try:
        outer = json.loads(data)
    except RecursionError:
        raise BundleError("malformed", "bundle is JSON nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise BundleError("malformed", f"bundle is not JSON: {exc}") from exc
    if not isinstance(outer, dict) or outer.get("waymark_bundle") != BUNDLE_FORMAT:
        raise BundleError("malformed", f"not a Waymark bundle of format {BUNDLE_FORMAT}")
    kid, manifest_b64, sig_b64 = outer.get("key_id"), outer.get("manifest"), outer.get("signature")
    if not (isinstance(kid, str) and isinstance(manifest_b64, str) and isinstance(sig_b64, str)):
        raise BundleError("malformed", "bundle needs key_id, manifest and signature strings")
    try:
        manifest = base64.b64decode(manifest_b64, validate=True)
        signature = base64.b64decode(sig_b64, validate=True)
    except (ValueError, binascii.Error) as exc:
        raise BundleError("malformed", "manifest or signature is not base64") from exc
    return kid, manifest, signature


def _parse_time(value: object, name: str) -> datetime:
    if not isinstance(value, str):
        raise BundleError("malformed", f"manifest {name} must be an ISO 8601 string")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise BundleError("malformed", f"manifest {name} is not ISO 8601: {value!r}") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _parse_manifest(manifest: bytes) -> Manifest:
    try:
        obj = json.loads(manifest)
    except RecursionError:
        raise BundleError("malformed", "manifest is JSON nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise BundleError("malformed", f"manifest is not JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise BundleError("malformed", "manifest is not a JSON object")
    pack_id, version = obj.get("pack_id"), obj.get("version")
    min_agent, kid, pack = obj.get("min_agent_version"), obj.get("key_id"), obj.get("pack")
    if not isinstance(pack_id, str) or not pack_id:
        raise BundleError("malformed", "manifest pack_id must be a non-empty string")
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise BundleError("malformed", "manifest version must be a non-negative integer")
    if not isinstance(min_agent, str) or not isinstance(kid, str) or not isinstance(pack, str):
        raise BundleError("malformed", "manifest min_agent_version, key_id, pack must be strings")
    return Manifest(
        pack_id=pack_id,
        version=version,
        created=_parse_time(obj.get("created"), "created"),
        expires=_parse_time(obj.get("expires"), "expires"),
        min_agent_version=min_agent,
        key_id=kid,
        pack=pack,
    )


def read_manifest_unverified(data: bytes) -> Manifest:
    """The manifest without checking anything: for listing and messages only."""
    _kid, manifest, _sig = _split(data)
    return _parse_manifest(manifest)


def verified_manifest(data: bytes, pinned_keys: Mapping[str, Ed25519PublicKey]) -> Manifest:
    """The manifest of a bundle whose signature checks against a pinned key (nothing else
    is checked: not the version, the expiry or the pack). Raises :class:`BundleError`."""
    kid, manifest_bytes, signature = _split(data)
    public_key = pinned_keys.get(kid)
    if public_key is None:
        raise BundleError(
            "unknown_key",
            f"bundle is signed with key {kid}, which is not pinned here "
            f"(pinned: {', '.join(sorted(pinned_keys)) or 'none'})",
        )
    try:
        public_key.verify(signature, manifest_bytes)
    except InvalidSignature as exc:
        raise BundleError("bad_signature", f"signature does not match key {kid}") from exc
    manifest = _parse_manifest(manifest_bytes)
    if manifest.key_id != kid:
        raise BundleError("mismatch", "manifest key_id differs from the container's key_id")
    return manifest


def _version_tuple(text: str) -> tuple[int, ...]:
    parts: list[int] = []
    for piece in text.split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def verify_bundle(
    data: bytes,
    pinned_keys: Mapping[str, Ed25519PublicKey],
    last_trusted_version: int | None,
    now: datetime,
    *,
    agent_version: str | None = None,
) -> VerifiedBundle:
    """Check a bundle and return its pack, or raise :class:`BundleError`.

    Order matters: the signature is verified over the raw manifest bytes
    before anything inside them is parsed.  ``last_trusted_version`` is the
    highest version accepted so far for this pack (``None`` if none): equal or
    lower versions are refused as a rollback.
    """
    manifest = verified_manifest(data, pinned_keys)
    if last_trusted_version is not None and manifest.version <= last_trusted_version:
        raise BundleError(
            "rollback",
            f"pack {manifest.pack_id} version {manifest.version} is not newer than the "
            f"trusted version {last_trusted_version}; publish a re-signed higher version instead",
        )
    if manifest.expires <= now:
        raise BundleError("expired", f"bundle expired at {_iso(manifest.expires)}")
    if agent_version is not None and _version_tuple(agent_version) < _version_tuple(
        manifest.min_agent_version
    ):
        raise BundleError(
            "agent_too_old",
            f"pack needs agent {manifest.min_agent_version} or newer (this is {agent_version})",
        )

    source = f"bundle:{manifest.pack_id}@{manifest.version}"
    try:
        pack = load_pack_text(manifest.pack, source)
    except PackError as exc:
        raise BundleError("invalid_pack", f"pack in bundle does not validate: {exc}") from exc
    if pack.id != manifest.pack_id or pack.version != manifest.version:
        raise BundleError(
            "mismatch",
            f"manifest says {manifest.pack_id}@{manifest.version} "
            f"but the pack is {pack.id}@{pack.version}",
        )
    return VerifiedBundle(manifest=manifest, pack=pack, sha256=hashlib.sha256(data).hexdigest())
