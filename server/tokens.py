"""Secrets: random 256-bit tokens with a readable prefix, stored only as sha256."""

from __future__ import annotations

import hashlib
import secrets
from typing import Final, Literal

__all__ = ["PREFIXES", "TokenKind", "hash_token", "new_token", "ring_of"]

TokenKind = Literal["enroll", "admin", "device"]
PREFIXES: Final[dict[TokenKind, str]] = {"enroll": "wme_", "admin": "wma_", "device": "wmd_"}


def new_token(kind: TokenKind) -> str:
    """A fresh secret such as ``wmd_…`` (shown once, never stored in clear)."""
    return PREFIXES[kind] + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    # The tokens carry 256 bits of randomness, so a fast hash is enough:
    # there is nothing to brute-force that a slow KDF would protect.
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def ring_of(device_id: str) -> int:
    """The device's rollout ring: ``sha256(device id) mod 100``."""
    return int.from_bytes(hashlib.sha256(device_id.encode()).digest(), "big") % 100
