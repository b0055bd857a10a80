"""agent.rules.bundle: verify first, then parse; refuse what an attacker could send."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.rules.bundle import (
    BundleError,
    key_id,
    load_private_key,
    load_public_key,
    make_bundle,
    private_key_pem,
    public_key_text,
    verify_bundle,
)
from tests.server.conftest import pack_text

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
KEY = Ed25519PrivateKey.generate()
PINNED = {key_id(KEY.public_key()): KEY.public_key()}


def bundle(version: int = 3, key: Ed25519PrivateKey = KEY, **kw: object) -> bytes:
    return make_bundle(
        pack_source=pack_text(version),
        pack_id="m365-habits",
        version=version,
        private_key=key,
        created=NOW,
        **kw,  # type: ignore[arg-type]
    )


def reason(data: bytes, last: int | None = 2, **kw: object) -> str:
    with pytest.raises(BundleError) as info:
        verify_bundle(data, PINNED, last, NOW, **kw)  # type: ignore[arg-type]
    return info.value.reason


def test_a_good_bundle_verifies_and_carries_its_pack() -> None:
    got = verify_bundle(bundle(), PINNED, 2, NOW)
    assert (got.pack.id, got.pack.version) == ("m365-habits", 3)
    assert got.manifest.expires == NOW + timedelta(days=90)
    assert re.fullmatch(r"[0-9a-f]{16}", got.manifest.key_id)


def test_a_second_pinned_key_allows_rotation() -> None:
    new = Ed25519PrivateKey.generate()
    both = {**PINNED, key_id(new.public_key()): new.public_key()}
    assert verify_bundle(bundle(key=new), both, None, NOW).manifest.version == 3


def test_refusals_name_their_reason() -> None:
    outer = json.loads(bundle())
    manifest = base64.b64decode(outer["manifest"])
    flipped = dict(
        outer, manifest=base64.b64encode(manifest.replace(b'"version":3', b'"version":9')).decode()
    )
    assert reason(json.dumps(flipped).encode()) == "bad_signature"
    assert reason(bundle(key=Ed25519PrivateKey.generate())) == "unknown_key"
    assert reason(bundle(2)) == "rollback"
    assert reason(bundle(1)) == "rollback"
    assert reason(bundle(expires_in=timedelta(seconds=-1))) == "expired"
    assert reason(bundle(min_agent_version="9.0"), agent_version="0.1.0") == "agent_too_old"
    assert reason(b"{}") == "malformed"
    assert reason(b"\x00garbage") == "malformed"


def test_a_signed_invalid_pack_or_a_lying_manifest_is_refused() -> None:
    bad = make_bundle(
        pack_source="rules: [", pack_id="m365-habits", version=3, private_key=KEY, created=NOW
    )
    assert reason(bad) == "invalid_pack"
    lying = make_bundle(
        pack_source=pack_text(7), pack_id="m365-habits", version=3, private_key=KEY, created=NOW
    )
    assert reason(lying) == "mismatch"


def test_keys_round_trip_through_their_text_forms() -> None:
    again = load_private_key(private_key_pem(KEY))
    assert key_id(again.public_key()) == key_id(KEY.public_key())
    assert key_id(load_public_key(public_key_text(KEY.public_key()))) == key_id(KEY.public_key())
    with pytest.raises(ValueError, match="Ed25519"):
        load_public_key("bm90IGEga2V5")
