"""The enrollment broker's pure parts: the protocol lines, the kernel's peer credentials,
Windows SIDs and TOKEN_USER buffers, the installation ids (agent/sync/broker*.py)."""

from __future__ import annotations

import json
import struct

import pytest

from agent.sync.broker import (
    BrokerCore,
    BrokerRequest,
    broker_installation_id,
    decode_answer,
    decode_peercred,
    decode_request,
    decode_xucred,
    encode_request,
)
from agent.sync.broker_windows import sid_from_token_user, sid_to_string
from agent.sync.client import DeviceCredentials, SyncError
from agent.sync.credentials import installation_id

# S-1-5-21-1004336348-1177238915-682003330-512, as Windows stores it.
SID = bytes([1, 5, 0, 0, 0, 0, 0, 5]) + struct.pack("<5I", 21, 1004336348, 1177238915,
                                                    682003330, 512)  # fmt: skip


def test_a_request_round_trips_and_bad_ones_say_what_is_wrong() -> None:
    line = encode_request(["sales", "emea", "sales"], "linux", "0.3.1")
    assert line.endswith(b"\n")
    assert decode_request(line.strip()) == BrokerRequest(("emea", "sales"), "linux", "0.3.1")
    for bad, why in (
        (b"not json", "not JSON"),
        (b"[]", "not a JSON object"),
        (json.dumps({"os": "Linux!", "agent_version": "1"}).encode(), "os"),
        (json.dumps({"os": "linux", "agent_version": "1", "groups": ["-x"]}).encode(), "group"),
        (json.dumps({"os": "linux", "agent_version": "1", "groups": ["g"] * 33}).encode(), "32"),
        (b"{" + b" " * 9000 + b"}", "too long"),
    ):
        with pytest.raises(ValueError, match=why):
            decode_request(bad)


def test_an_answer_gives_credentials_or_a_sync_error_the_worker_understands() -> None:
    ok = json.dumps({"device_id": "d1", "device_secret": "wmd_x"}).encode()
    assert decode_answer(ok) == DeviceCredentials("d1", "wmd_x")
    with pytest.raises(SyncError) as limited:
        decode_answer(
            json.dumps({"error": "rate_limited", "message": "m", "retry_after": 30}).encode()
        )
    assert limited.value.kind == "rate_limited" and limited.value.retry_after == 30
    with pytest.raises(SyncError) as refused:
        decode_answer(json.dumps({"error": "no_token", "message": "none"}).encode())
    assert refused.value.kind == "refused" and "no_token" in str(refused.value)
    with pytest.raises(SyncError):
        decode_answer(b"garbage")


def test_peer_credentials_are_read_from_the_kernels_bytes() -> None:
    cred = decode_peercred(struct.pack("=iII", 4242, 1000, 1000))
    assert (cred.pid, cred.uid, cred.gid) == (4242, 1000, 1000)
    with pytest.raises(ValueError):
        decode_peercred(b"\0" * 8)
    xucred = struct.pack("=IIh2x16I", 0, 501, 1, 20, *([0] * 15))
    assert decode_xucred(xucred) == 501
    with pytest.raises(ValueError, match="version"):
        decode_xucred(struct.pack("=IIh2x16I", 7, 501, 1, *([0] * 16)))


def test_a_sid_is_written_as_windows_writes_it() -> None:
    assert sid_to_string(SID) == "S-1-5-21-1004336348-1177238915-682003330-512"
    assert sid_to_string(bytes([1, 1, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0])) == "S-1-5-18"  # SYSTEM
    for bad in (b"", bytes([2, 0, 0, 0, 0, 0, 0, 5]), bytes([1, 3, 0, 0, 0, 0, 0, 5, 1, 0])):
        with pytest.raises(ValueError):
            sid_to_string(bad)


@pytest.mark.parametrize("pointer_size", [4, 8])
def test_the_sid_is_found_inside_a_token_user_buffer(pointer_size: int) -> None:
    address = 0x7FF6_1000 if pointer_size == 8 else 0x0100_0000
    header = pointer_size * 2  # TOKEN_USER: Sid pointer, Attributes, padding
    pack = "<QI4x" if pointer_size == 8 else "<II"
    buffer = struct.pack(pack, address + header, 0) + SID
    assert sid_from_token_user(buffer, address, pointer_size) == SID
    wild = struct.pack(pack, address + 4096, 0) + SID
    with pytest.raises(ValueError, match="outside"):
        sid_from_token_user(wild, address, pointer_size)
    with pytest.raises(ValueError, match="past"):
        sid_from_token_user(buffer[:-4], address, pointer_size)


def test_installation_ids_are_stable_per_user_and_unguessable_without_the_key() -> None:
    key = bytes(range(32))
    alice = broker_installation_id(key, "machine-1", "1000")
    assert alice == broker_installation_id(key, "machine-1", "1000")
    assert alice != broker_installation_id(key, "machine-1", "1001")
    assert alice != broker_installation_id(key, "machine-2", "1000")
    assert alice != broker_installation_id(bytes(32), "machine-1", "1000")
    with pytest.raises(ValueError):
        broker_installation_id(b"short", "m", "u")
    # An agent's own: per data folder, 64 hex characters (the server's pattern).
    own = installation_id("local-5b1c")
    assert own == installation_id("local-5b1c") != installation_id("local-5b1d")
    assert len(own) == 64 and int(own, 16) >= 0


@pytest.mark.allow_log("cannot read the enrollment token")
def test_the_broker_core_enrolls_the_user_the_os_named_with_that_users_id() -> None:
    calls: list[tuple[str, str]] = []

    def enroll(
        token: str, inst: str, groups: object, os_name: str, version: str
    ) -> DeviceCredentials:
        calls.append((token, inst))
        return DeviceCredentials(f"dev-{inst[:6]}", "wmd_secret")

    core = BrokerCore(read_token=lambda: "wme_tok", key=bytes(32), enroll=enroll, machine="m")
    request = BrokerRequest((), "linux", "1.0")
    first = core.enroll_user("1000", request)
    assert first == {"device_id": f"dev-{calls[0][1][:6]}", "device_secret": "wmd_secret"}
    core.enroll_user("1001", request)
    assert calls[0][0] == "wme_tok" and calls[0][1] != calls[1][1]
    assert "wme_tok" not in json.dumps(first)

    def no_token() -> str:
        raise PermissionError("denied")

    empty = BrokerCore(read_token=no_token, key=bytes(32), enroll=enroll, machine="m")
    assert empty.enroll_user("1000", request)["error"] == "no_token"
