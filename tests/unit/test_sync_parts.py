"""The sync worker's pure parts: URLs, batches, answers, Retry-After, backoff, keyring, packs."""

from __future__ import annotations

import base64
import gzip
import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import keyring
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from keyring.backends import fail

from agent.rules.bundle import BundleError, make_bundle, public_key_text
from agent.rules.records import Record, WireRecord
from agent.sync.client import (
    DeviceCredentials,
    ServerClient,
    SyncError,
    check_server_url,
    decode_upload_answer,
    encode_batch,
    retry_after_seconds,
)
from agent.sync.credentials import (
    CredentialError,
    KeyringCredentials,
    decode_credentials,
    encode_credentials,
)
from agent.sync.outbox import Outbox
from agent.sync.packs import SyncedPacks, pinned_keys
from agent.sync.worker import SyncWorker, backoff_delay
from tests.fakes import BundleServer, MemoryCredentials, MemoryKeyring, PoisonRefusingServer

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def row(uid: str, **fields: object) -> WireRecord:
    base: dict[str, object] = {"uuid": uid, "t": 1.79e9, "kind": "shown", "pack_id": "p",
                               "pack_version": 1, "rule": "r", "habit": "h", "reason": None,
                               "action": None, "app": None}  # fmt: skip
    base.update(fields)
    return WireRecord(**base)  # type: ignore[arg-type]


def test_server_urls_must_be_https_or_loopback_http() -> None:
    assert check_server_url("https://waymark.example.com/") == "https://waymark.example.com"
    assert check_server_url("http://127.0.0.1:8080") == "http://127.0.0.1:8080"
    assert check_server_url("http://localhost:8080/") == "http://localhost:8080"
    assert check_server_url("http://[::1]:8080") == "http://[::1]:8080"
    for bad in ("http://waymark.example.com", "ftp://x", "waymark.example.com", "https://"):
        with pytest.raises(ValueError, match="server_url"):
            check_server_url(bad)


def test_a_batch_is_gzipped_json_of_the_wire_fields_only() -> None:
    body = json.loads(gzip.decompress(encode_batch([row("a"), row("b", app="outlook")])))
    assert body == {
        "events": [
            {"uuid": "a", "t": 1.79e9, "kind": "shown", "pack_id": "p", "pack_version": 1,
             "rule": "r", "habit": "h"},
            {"uuid": "b", "t": 1.79e9, "kind": "shown", "pack_id": "p", "pack_version": 1,
             "rule": "r", "habit": "h", "app": "outlook"},
        ]
    }  # fmt: skip


def test_an_upload_answer_sorts_uuids_into_accepted_rejected_and_unanswered() -> None:
    answer = {
        "results": [
            {"uuid": "a", "status": "ok"},
            {"uuid": "b", "status": "duplicate"},
            {"uuid": "c", "status": "rejected:future"},
            {"uuid": "zzz", "status": "ok"},  # not sent: ignored
            "junk",
        ]
    }
    result = decode_upload_answer(["a", "b", "c", "d"], answer)
    assert result.accepted == ("a", "b")
    assert result.rejected == (("c", "future"),)
    assert result.unanswered == ("d",)
    with pytest.raises(SyncError, match="no results"):
        decode_upload_answer(["a"], {"ok": 1})


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert retry_after_seconds("120", NOW) == 120.0
    assert retry_after_seconds("Sat, 28 Nov 2026 12:01:30 GMT", NOW) == 90.0
    assert retry_after_seconds("Sat, 28 Nov 2026 11:00:00 GMT", NOW) == 0.0
    assert retry_after_seconds("soon", NOW) is None
    assert retry_after_seconds(None, NOW) is None


def test_backoff_doubles_with_jitter_is_capped_and_honours_retry_after() -> None:
    low, high = (lambda: 0.0), (lambda: 1.0)
    assert [backoff_delay(n, None, high) for n in (1, 2, 3)] == [5.0, 10.0, 20.0]
    assert backoff_delay(1, None, low) == 2.5
    assert backoff_delay(30, None, high) == 900.0
    assert backoff_delay(1, 120.0, high) == 120.0
    assert backoff_delay(1, 10 * 86400.0, high) == 86400.0


def test_credentials_round_trip_and_garbage_means_enroll_again() -> None:
    creds = DeviceCredentials("dev-1", "wmd_secret")
    assert decode_credentials(encode_credentials(creds)) == creds
    for junk in (None, "", "not json", "[]", '{"device_id": "x"}', '{"device_id": 1, "secret": 2}'):
        assert decode_credentials(junk) is None


@pytest.fixture
def no_keyring() -> Iterator[None]:
    """keyring's own backend for a machine without any keyring (what CI has)."""
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())  # type: ignore[no-untyped-call]
    yield
    keyring.set_keyring(previous)


def test_without_an_os_keyring_the_secret_is_not_stored_anywhere(
    no_keyring: None, tmp_path: Path
) -> None:
    store = KeyringCredentials("https://waymark.example.com")
    with pytest.raises(CredentialError, match="no OS keyring"):
        store.save(DeviceCredentials("dev-1", "wmd_canary-secret"))
    with pytest.raises(CredentialError, match="Secret Service"):
        store.load()


def _bundle(key: Ed25519PrivateKey, version: int, days: int = 30) -> bytes:
    pack = (
        f"waymark: 1\nid: p\nversion: {version}\ntitle: T\ndefault_locale: en\n"
        "apps:\n  ed: {linux: [gedit]}\n"
        "rules:\n  - id: r\n    habit: h\n    when: {event: chord, app: ed, chord: ctrl+v}\n"
        "    toast: {title: {en: Hi}}\n"
    )
    return make_bundle(
        pack_source=pack,
        pack_id="p",
        version=version,
        private_key=key,
        created=NOW - timedelta(days=1),
        expires_in=timedelta(days=days),
    )


@pytest.mark.allow_log("not an Ed25519 public key")
def test_synced_packs_refuse_a_rollback_even_after_a_restart(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    keys = pinned_keys([public_key_text(key.public_key()), "not a key"])
    packs = SyncedPacks(tmp_path / "sync")
    v3 = _bundle(key, 3)
    packs.accept(v3, packs.verify(v3, keys, NOW, "0.1.0"), '"etag-3"')
    again = SyncedPacks(tmp_path / "sync")
    assert again.trusted_version("p") == 3 and again.etag == '"etag-3"'
    for older in (2, 3):
        with pytest.raises(BundleError) as refused:
            again.verify(_bundle(key, older), keys, NOW, "0.1.0")
        assert refused.value.reason == "rollback"
    assert again.verify(_bundle(key, 4), keys, NOW, "0.1.0").manifest.version == 4
    assert again.current(keys, NOW, "0.1.0") == tmp_path / "sync" / "pack.yaml"


@pytest.mark.allow_log("stored server pack is not used: bundle expired")
def test_a_stored_bundle_that_expired_is_not_run(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    keys = pinned_keys([public_key_text(key.public_key())])
    packs = SyncedPacks(tmp_path / "sync")
    data = _bundle(key, 3, days=2)
    packs.accept(data, packs.verify(data, keys, NOW, "0.1.0"), None)
    assert packs.current(keys, NOW, "0.1.0") is not None
    assert packs.current(keys, NOW + timedelta(days=3), "0.1.0") is None


#: The records of the trusted version: lose any one of them, or any two.
TRUST_RECORDS = ("sync/state.json", "trusted-packs.json", "sync/bundle.json")
LOSSES = [
    *[(name, how) for name in TRUST_RECORDS for how in ("deleted", "corrupt")],
    *[((a, b), "deleted") for i, a in enumerate(TRUST_RECORDS) for b in TRUST_RECORDS[i + 1 :]],
]


def _lose(folder: Path, names: str | tuple[str, ...], how: str) -> None:
    for name in (names,) if isinstance(names, str) else names:
        path = folder / name
        if how == "deleted":
            path.unlink()
        else:
            path.write_bytes(b'{"trusted": {"p": ' + b"\xff" * 8)


@pytest.mark.parametrize(("lost", "how"), LOSSES, ids=[f"{n}-{h}" for n, h in LOSSES])
@pytest.mark.allow_log("is corrupt")
def test_an_older_signed_pack_is_refused_after_losing_any_record_of_trust(
    tmp_path: Path, lost: str | tuple[str, ...], how: str
) -> None:
    key = Ed25519PrivateKey.generate()
    keys = pinned_keys([public_key_text(key.public_key())])
    v5 = _bundle(key, 5)
    packs = SyncedPacks(tmp_path / "sync")
    packs.accept(v5, packs.verify(v5, keys, NOW, "0.1.0"), '"etag-5"')
    _lose(tmp_path, lost, how)

    again = SyncedPacks(tmp_path / "sync")  # the agent starts again
    for older in (4, 5):  # a re-signed 5 is no newer than 5 either
        with pytest.raises(BundleError) as refused:
            again.verify(_bundle(key, older), keys, NOW, "0.1.0")
        assert refused.value.reason == "rollback"
    assert again.verify(_bundle(key, 6), keys, NOW, "0.1.0").manifest.version == 6
    if "sync/bundle.json" not in lost:
        # The stored pack still runs, and the records of trust are whole again.
        assert again.current(keys, NOW, "0.1.0") == tmp_path / "sync" / "pack.yaml"
        assert json.loads((tmp_path / "sync/state.json").read_text())["trusted"] == {"p": 5}
        assert json.loads((tmp_path / "trusted-packs.json").read_text()) == {"p": 5}


def test_the_server_sending_the_stored_bundle_again_is_not_a_rollback(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    v5 = _bundle(key, 5)
    packs = SyncedPacks(tmp_path / "sync")
    keys = pinned_keys([public_key_text(key.public_key())])
    packs.accept(v5, packs.verify(v5, keys, NOW, "0.1.0"), '"etag-5"')
    (tmp_path / "sync/state.json").unlink()  # the ETag is lost: the server sends v5 again
    server = BundleServer(v5, '"etag-5"')
    box = Outbox(tmp_path / "outbox.db")
    worker = mock_worker(tmp_path, box, server, keys)
    worker.pack_every = 0.0  # the pack is checked at every round
    for _ in range(2):
        worker.run_once()
    assert worker.last_error is None and server.downloads == 1  # its ETag is known again
    box.close()
    # That ETag is the stored bundle's: were the bundle lost, it is asked for again.
    (tmp_path / "sync/bundle.json").unlink()
    assert SyncedPacks(tmp_path / "sync").current(keys, NOW, "0.1.0") is None
    assert SyncedPacks(tmp_path / "sync").etag is None


@pytest.mark.allow_log("pack was refused \\(malformed\\): bundle is JSON nested too deeply")
def test_a_bundle_nested_100000_deep_is_refused_once_and_not_downloaded_again(
    tmp_path: Path,
) -> None:
    key = Ed25519PrivateKey.generate()
    keys = pinned_keys([public_key_text(key.public_key())])
    server = BundleServer(b"[" * 100_000 + b"]" * 100_000)
    box = Outbox(tmp_path / "outbox.db")
    worker = mock_worker(tmp_path, box, server, keys)
    worker.pack_every = 0.0  # the pack is checked at every round
    for _ in range(3):
        worker.run_once()  # no RecursionError, no failed round
    box.close()
    assert server.downloads == 1
    assert worker.last_error is not None and "nested too deeply" in worker.last_error
    assert SyncedPacks(tmp_path / "sync").etag == '"hostile"'
    assert not (tmp_path / "sync" / "pack.yaml").exists()


@pytest.mark.allow_log("pack was refused \\(unknown_key\\)")
def test_a_bundle_refused_for_its_key_is_checked_again_once_policy_pins_that_key(
    tmp_path: Path,
) -> None:
    """The policy that pins a new key may arrive after the bundle it signed: the refusal
    is not kept once the pinned keys differ from those it was refused under."""
    old, new = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    server = BundleServer(_bundle(new, 2), '"etag-2"')
    box = Outbox(tmp_path / "outbox.db")
    worker = mock_worker(tmp_path, box, server, pinned_keys([public_key_text(old.public_key())]))
    worker.pack_every = 0.0  # the pack is checked at every round
    for _ in range(3):
        worker.run_once()
    assert server.downloads == 1 and worker.pack_refused is not None  # refused once, kept
    assert "not pinned here" in worker.pack_refused
    # Policy now pins both keys (a new worker, as the agent starts on a policy change).
    both = pinned_keys([public_key_text(k.public_key()) for k in (old, new)])
    worker = mock_worker(tmp_path, box, server, both)
    worker.pack_every = 0.0
    for _ in range(2):
        worker.run_once()
    box.close()
    assert server.downloads == 2 and worker.pack == "p v2"
    assert (tmp_path / "sync" / "pack.yaml").exists()


def test_a_manifest_nested_deep_inside_a_valid_signature_is_refused(tmp_path: Path) -> None:
    """A publisher key in the wrong hands: the signature checks, the manifest is hostile."""
    key = Ed25519PrivateKey.generate()
    keys = pinned_keys([public_key_text(key.public_key())])
    manifest = b"[" * 100_000 + b"]" * 100_000
    kid = next(iter(keys))
    bundle = json.dumps({
        "waymark_bundle": 1, "key_id": kid,
        "manifest": base64.b64encode(manifest).decode(),
        "signature": base64.b64encode(key.sign(manifest)).decode(),
    }).encode()  # fmt: skip
    with pytest.raises(BundleError, match="nested too deeply") as refused:
        SyncedPacks(tmp_path / "sync").verify(bundle, keys, NOW, "0.1.0")
    assert refused.value.reason == "malformed"


class Consenting:
    """Settings of a person who agreed to statistics, with nothing else set but the
    publisher keys."""

    telemetry_enabled = True

    def __init__(self, keys: dict[str, Ed25519PublicKey] | None = None) -> None:
        self.keys = [public_key_text(k) for k in (keys or {}).values()]

    def get(self, key: str) -> object:
        return self.keys if key == "publisher_keys" else None


def mock_worker(
    tmp_path: Path,
    box: Outbox,
    server: Callable[[httpx.Request], httpx.Response],
    keys: dict[str, Ed25519PublicKey] | None = None,
    settings: Consenting | None = None,
) -> SyncWorker:
    """A worker talking to a misbehaving server (tests/fakes.py)."""
    return SyncWorker(
        client=ServerClient("https://waymark.test", transport=httpx.MockTransport(server)),
        credentials=MemoryCredentials(DeviceCredentials("d", "wmd_s")),
        outbox=box,
        settings=settings or Consenting(keys),
        packs=SyncedPacks(tmp_path / "sync"),
        on_pack=None,
        os_name="linux",
        groups=(),
    )


@pytest.mark.allow_log("the server refused a batch", "refused record .* for good")
def test_a_poison_record_is_found_by_halving_and_set_aside_alone(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "outbox.db")
    for i in range(12):
        box.append(Record(1.79e9 + i, "shown", "p", 1, rule="poison" if i == 5 else "r"))
    server = PoisonRefusingServer(rule="poison")
    worker = mock_worker(tmp_path, box, server)
    worker.run_once()
    assert box.count_pending() == 0 and worker.sent == 11
    # Halving down to the poison record (the 6th), alone; then full batches again.
    assert server.batch_sizes == [12, 6, 3, 3, 1, 1, 1, 6]
    with closing(sqlite3.connect(tmp_path / "outbox.db")) as db:
        assert db.execute("SELECT rule, note FROM outbox WHERE state = 2").fetchall() == [
            ("poison", "refused:400")
        ]
    box.close()


def test_a_404_from_a_proxy_keeps_every_record(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "outbox.db")
    box.append(Record(1.79e9, "shown", "p", 1, rule="r"))
    worker = mock_worker(tmp_path, box, lambda _request: httpx.Response(404))
    with pytest.raises(SyncError) as failed:
        worker.run_once()
    assert failed.value.status == 404 and box.count_pending() == 1
    box.close()


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    """A keyring backend in this process (the real Secret Service: test_keyring_linux.py)."""
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


URL = "https://waymark.example.com"


def test_two_data_folders_on_one_account_are_two_devices(
    memory_keyring: MemoryKeyring, tmp_path: Path
) -> None:
    from agent.app import local_device_id
    from agent.sync.credentials import folder_credentials

    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    first = folder_credentials(URL, "wme_token-1", a, local_device_id(a))
    second = folder_credentials(URL, "wme_token-1", b, local_device_id(b))
    assert first.account != second.account
    first.save(DeviceCredentials("dev-a", "wmd_secret-a"))
    assert second.load() is None  # b enrolls on its own
    assert first.load() == DeviceCredentials("dev-a", "wmd_secret-a")
    # Keyed by server, tenant enrollment and folder; never the token itself.
    assert first.account.startswith(URL + " enroll-") and local_device_id(a) in first.account
    assert all("wme_token-1" not in user for _, user in memory_keyring._items)
    # Another tenant's token is another enrollment.
    assert folder_credentials(URL, "wme_token-2", a, local_device_id(a)).load() is None


def test_the_enrollment_is_remembered_when_policy_drops_the_token(
    memory_keyring: MemoryKeyring, tmp_path: Path
) -> None:
    from agent.sync.credentials import folder_credentials

    folder_credentials(URL, "wme_token-1", tmp_path, "local-1").save(
        DeviceCredentials("dev-1", "wmd_s")
    )
    assert folder_credentials(URL, "", tmp_path, "local-1").load() == DeviceCredentials(
        "dev-1", "wmd_s"
    )
    assert b"wmd_s" not in (tmp_path / "sync" / "enrollment.json").read_bytes()


def test_a_secret_under_the_old_server_only_key_is_found_once_and_moved(
    memory_keyring: MemoryKeyring, tmp_path: Path
) -> None:
    from agent.sync.credentials import SERVICE, encode_credentials, folder_credentials

    memory_keyring.set_password(SERVICE, URL, encode_credentials(DeviceCredentials("old", "s")))
    mine = folder_credentials(URL, "wme_t", tmp_path / "a", "local-a")
    assert mine.load() == DeviceCredentials("old", "s")
    assert memory_keyring.get_password(SERVICE, URL) is None  # moved, not copied
    assert mine.load() == DeviceCredentials("old", "s")  # now under this folder's entry
    other = folder_credentials(URL, "wme_t", tmp_path / "b", "local-b")
    assert other.load() is None  # a second folder does not take the same device


def test_publisher_keys_are_read_in_every_form_people_copy() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from agent.rules.bundle import load_public_key, public_key_text

    public = Ed25519PrivateKey.generate().public_key()
    raw = public_key_text(public)
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    spki = "".join(pem.strip().splitlines()[1:-1])  # the line openssl prints between BEGIN/END
    assert spki.startswith("MCowBQYDK2VwAyEA")
    for form in (raw, pem, spki):
        assert public_key_text(load_public_key(form)) == raw
    with pytest.raises(ValueError, match="MCowBQYDK2VwAyEA"):
        load_public_key("MCowBQYDK2Vw")  # truncated


class ChangingGroups(Consenting):
    """Settings whose policy groups an admin changes between two rounds."""

    def __init__(self, groups: list[str]) -> None:
        super().__init__()
        self.groups = groups

    def get(self, key: str) -> object:
        return list(self.groups) if key == "groups" else super().get(key)


def test_changed_groups_are_announced_once_on_the_next_round(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "outbox.db")
    announced: list[object] = []

    def server(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/device/groups":
            assert request.method == "PUT"
            announced.append(json.loads(request.content)["groups"])
            return httpx.Response(200, content=request.content)
        return httpx.Response(204)

    settings = ChangingGroups(["sales"])
    worker = mock_worker(tmp_path, box, server, settings=settings)
    worker.run_once()
    worker.run_once()
    settings.groups = ["sales", "emea", "sales"]
    worker.run_once()
    worker.run_once()
    assert announced == [["sales"], ["emea", "sales"]]
    box.close()


def test_a_server_without_group_changes_does_not_stop_the_round(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "outbox.db")
    box.append(Record(1.79e9, "shown", "p", 1, rule="r"))
    server = PoisonRefusingServer(rule="never-sent")

    def old_server(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/device/groups":
            return httpx.Response(404, json={"detail": "Not Found"})
        return server(request)

    worker = mock_worker(tmp_path, box, old_server)
    worker.run_once()
    assert box.count_pending() == 0 and worker.sent == 1
    box.close()
