"""The agent's sync worker against the real server on 127.0.0.1 (SQLite store on disk).

The wired agent (AgentCore, no hooks) enrolls, sends its records, pulls and
runs signed packs, waits for consent, survives a dead server and a forgotten
device.  Only the OS keyring is replaced (tests/fakes.py).
"""

from __future__ import annotations

import functools
import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select

from agent.app import AgentCore, AgentOptions
from agent.config.policy import Policy
from agent.events import Chord, Focus
from agent.rules.bundle import make_bundle, public_key_text
from agent.rules.records import Record
from agent.sync.client import DeviceCredentials
from agent.sync.outbox import Outbox
from devtools.live_server import running_server
from devtools.waiting import free_port, wait_for
from server import schema
from server.cli import open_store
from server.settings import ServerSettings
from server.store import Store
from tests.fakes import MemoryCredentials
from tests.helpers.canary import places_with
from tests.helpers.logfail import LogFailHandler

PACK = """\
waymark: 1
id: {pack_id}
version: {version}
title: Test pack
default_locale: en
apps:
  editor: {{windows: [notepad.exe], macos: [com.apple.TextEdit], linux: [gedit]}}
rules:
  - id: paste-plain
    habit: plain-paste
    when: {{event: chord, app: editor, chord: ctrl+v}}
    toast:
      title: {{en: Paste without formatting}}
"""

ROOT = Path(__file__).resolve().parents[2]
CANARY_TITLE = "canary-title-8d1f Salary review.xlsx"


@dataclass
class Backend:
    store: Store
    tenant: int
    enroll_token: str
    publisher_token: str
    key: Ed25519PrivateKey
    pack_file: Path

    def events(self) -> int:
        with self.store.engine.connect() as conn:
            count = conn.execute(select(func.count()).select_from(schema.events)).scalar_one()
        return int(count)

    def devices(self) -> int:
        with self.store.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(schema.devices)).scalar_one())

    def bundle(self, version: int, *, key: Ed25519PrivateKey | None = None) -> bytes:
        return make_bundle(
            pack_source=PACK.format(pack_id="test-pack", version=version),
            pack_id="test-pack",
            version=version,
            private_key=key or self.key,
            created=datetime.now(UTC),
            expires_in=timedelta(days=30),
        )


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[Backend]:
    (tmp_path / "server").mkdir()
    store = open_store(f"sqlite:///{tmp_path / 'server' / 'server.db'}")
    tenant = store.create_tenant("acme")
    key = Ed25519PrivateKey.generate()
    store.add_publisher_key(tenant, public_key_text(key.public_key()))
    pack_file = tmp_path / "local-pack.yaml"
    pack_file.write_text(PACK.format(pack_id="test-pack", version=1), encoding="utf-8")
    yield Backend(
        store,
        tenant,
        store.add_enroll_token(tenant),
        store.add_admin_token(tenant, "publisher"),
        key,
        pack_file,
    )
    store.engine.dispose()


def policy(backend: Backend, url: str, **extra: object) -> Policy:
    values: dict[str, object] = {
        "server_url": url,
        "enroll_token": backend.enroll_token,
        "publisher_keys": [public_key_text(backend.key.public_key())],
        "telemetry_mode": "org-notice",
        **extra,
    }
    return Policy(values, "test")


def agent(
    data_dir: Path,
    pol: Policy,
    credentials: MemoryCredentials,
    pack_path: Path | None = None,
) -> AgentCore:
    return AgentCore(
        AgentOptions(
            pack_path=pack_path,
            data_dir=data_dir,
            hooks=False,
            policy=pol,
            sync_every=0.1,
            credentials=credentials,
        )
    )


def paste(core: AgentCore, title: str = "notes.txt") -> None:
    now = core.clock.now()
    core.post(Focus(now, "gedit", title))
    core.post(Chord(now, "ctrl+v"))
    assert core.wait_idle()


def test_the_agent_enrolls_sends_its_records_once_and_titles_never_leave(
    backend: Backend, data_dir: Path
) -> None:
    creds = MemoryCredentials()
    with running_server(backend.store, ServerSettings(rate_per_second=100)) as srv:
        core = agent(data_dir, policy(backend, srv.url), creds, backend.pack_file)
        core.start()
        try:
            paste(core, CANARY_TITLE)
            wait_for(lambda: backend.events() >= 1, 10, "the record to reach the server")
            wait_for(lambda: core.outbox.count_pending() == 0, 10, "the outbox to drain")
            status = core.sync_status()
            assert status is not None and status.device_id == creds.value.device_id  # type: ignore[union-attr]
            wait_for(lambda: core.last_sync is not None, 10, "the round to finish")
        finally:
            core.stop()
    assert creds.saves == 1 and backend.devices() == 1
    assert backend.events() == 1
    server_db = Path(str(backend.store.engine.url.database))
    needles = [CANARY_TITLE, "canary-title"]
    # Through SQL, rows still in the -wal file included, and the bytes of every file.
    assert places_with(server_db.parent, needles) == []
    # The search can fail: what the record did carry is found in the rows.
    assert f"{server_db} (rows)" in places_with(server_db.parent, ["paste-plain"])
    # After a checkpoint the rows are in the main file too, and still in the -wal frames.
    with closing(sqlite3.connect(server_db)) as db:
        db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    assert str(server_db) in places_with(server_db.parent, ["paste-plain"])
    assert places_with(server_db.parent, needles) == []


def test_records_wait_for_consent_and_go_once_it_is_given(backend: Backend, data_dir: Path) -> None:
    creds = MemoryCredentials()
    with running_server(backend.store, ServerSettings(rate_per_second=100)) as srv:
        pol = policy(backend, srv.url, telemetry_mode="opt-in")
        core = agent(data_dir, pol, creds, backend.pack_file)
        core.start()
        try:
            paste(core)
            wait_for(lambda: creds.saves == 1, 10, "enrollment")  # packs need no consent
            assert core.outbox.count_pending() == 0 and backend.events() == 0
            core.settings.set("consent", "granted")
            paste(core)
            wait_for(lambda: backend.events() == 1, 10, "the record after consent")
        finally:
            core.stop()


@pytest.mark.allow_log("sync failed .*Connection refused")
def test_a_dead_server_keeps_records_on_disk_until_it_is_back(
    backend: Backend, data_dir: Path
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    creds = MemoryCredentials()
    core = agent(data_dir, policy(backend, url), creds, backend.pack_file)
    core.start()
    try:
        for _ in range(3):
            paste(core)
        wait_for(lambda: core.sync_status().last_error is not None, 10, "a failed round")  # type: ignore[union-attr]
        assert core.outbox.count_pending() == 3
        with running_server(backend.store, ServerSettings(rate_per_second=100), port=port):
            core._sync.wake()  # type: ignore[union-attr]  # skip the backoff wait
            wait_for(lambda: backend.events() == 3, 15, "the backlog to arrive")
    finally:
        core.stop()
    # And after a restart nothing is sent twice: the outbox knows what the server has.
    assert core.outbox is not None
    with running_server(backend.store, ServerSettings(rate_per_second=100), port=port):
        again = agent(data_dir, policy(backend, url), creds, backend.pack_file)
        assert again.outbox.count_pending() == 0
        again.outbox.close()
        again.state.close()
    assert backend.events() == 3


@pytest.mark.allow_log("no longer knows device")
def test_a_forgotten_device_enrolls_again(backend: Backend, data_dir: Path) -> None:
    creds = MemoryCredentials(DeviceCredentials("gone", "wmd_not-a-real-secret"))
    with running_server(backend.store, ServerSettings(rate_per_second=100)) as srv:
        core = agent(data_dir, policy(backend, srv.url), creds, backend.pack_file)
        core.start()
        try:
            paste(core)
            wait_for(lambda: backend.events() == 1, 15, "the record after enrolling again")
        finally:
            core.stop()
    assert creds.clears == 1 and creds.saves == 1
    assert creds.value is not None and creds.value.device_id != "gone"


@pytest.mark.allow_log("differs from its signed bundle", "not pinned here")
def test_a_published_pack_is_verified_run_and_kept_across_restarts(
    backend: Backend, data_dir: Path
) -> None:
    creds = MemoryCredentials()
    with running_server(backend.store, ServerSettings(rate_per_second=100)) as srv:
        published = httpx.post(
            srv.url + "/v1/admin/bundles",
            content=backend.bundle(5),
            headers={"Authorization": f"Bearer {backend.publisher_token}"},
        )
        assert published.status_code == 201, published.text
        core = agent(data_dir, policy(backend, srv.url), creds)
        assert core.pack_info() != ("test-pack", 5)  # the built-in pack until the server answers
        core.start()
        try:
            wait_for(lambda: core.pack_info() == ("test-pack", 5), 10, "the server's pack")
        finally:
            core.stop()
    # Offline restart: the verified pack is run again, a hand edit of it is undone.
    synced = data_dir / "sync" / "pack.yaml"
    synced.write_text(synced.read_text().replace("Paste without", "Hacked"), encoding="utf-8")
    url = f"http://127.0.0.1:{free_port()}"
    restarted = agent(data_dir, policy(backend, url), creds)
    try:
        assert restarted.pack_info() == ("test-pack", 5)
        assert "Hacked" not in synced.read_text()
    finally:
        restarted.outbox.close()
        restarted.state.close()
    # Without the publisher key pinned, the stored pack is not trusted at all.
    unpinned = agent(data_dir, policy(backend, url, publisher_keys=[]), creds)
    try:
        assert unpinned.pack_info() != ("test-pack", 5)
    finally:
        unpinned.outbox.close()
        unpinned.state.close()


def _synced(core: AgentCore) -> bool:
    return core.last_sync is not None


@pytest.mark.parametrize(
    ("lost", "how"),
    [("sync/state.json", "deleted"), ("sync/state.json", "corrupt"),
     ("trusted-packs.json", "deleted"), ("sync/bundle.json", "deleted")],
)  # fmt: skip
@pytest.mark.allow_log("pack was refused \\(rollback\\)", "is corrupt")
def test_a_server_rollback_is_refused_even_after_a_record_of_trust_is_lost(
    backend: Backend, data_dir: Path, lost: str, how: str, log_fail: LogFailHandler
) -> None:
    creds = MemoryCredentials()
    headers = {"Authorization": f"Bearer {backend.publisher_token}"}
    with running_server(backend.store, ServerSettings(rate_per_second=100)) as srv:
        for version in (4, 5):
            published = httpx.post(srv.url + "/v1/admin/bundles", content=backend.bundle(version),
                                   headers=headers)  # fmt: skip
            assert published.status_code == 201, published.text
        core = agent(data_dir, policy(backend, srv.url), creds)
        core.start()
        try:
            wait_for(lambda: core.pack_info() == ("test-pack", 5), 10, "v5 from the server")
        finally:
            core.stop()
        path = data_dir / lost
        if how == "deleted":
            path.unlink()
        else:
            path.write_bytes(b'{"etag": null, "trusted": {"test-pack": \xff')
        # The server (or whoever controls it) serves the older, validly signed v4 again.
        rolled = httpx.post(srv.url + "/v1/admin/packs/test-pack/rollback",
                            json={"to_version": 4}, headers=headers)  # fmt: skip
        assert rolled.status_code == 200, rolled.text
        problems = []
        for _ in range(2):  # refused at the first start; at the next, not even downloaded
            again = agent(data_dir, policy(backend, srv.url), creds)
            again.start()
            try:
                wait_for(functools.partial(_synced, again), 10, "a sync round")
                problems.append(again.sync_problem or "")
                assert again.pack_info() != ("test-pack", 4)
                if lost != "sync/bundle.json":
                    assert again.pack_info() == ("test-pack", 5)
            finally:
                again.stop()
    assert "version 4 is not newer than the trusted version 5" in problems[0]
    assert problems[1] == ""
    texts = [log_fail.text_of(r) for r in log_fail.records]
    assert len([t for t in texts if "pack was refused (rollback)" in t]) == 1


@pytest.mark.allow_log("pack was refused \\(unknown_key\\)")
def test_a_bundle_from_an_unpinned_key_is_refused_and_the_running_pack_kept(
    backend: Backend, data_dir: Path
) -> None:
    rogue = Ed25519PrivateKey.generate()
    # The server trusts the rogue key too (a compromised server account), the agent does not.
    backend.store.add_publisher_key(backend.tenant, public_key_text(rogue.public_key()))
    creds = MemoryCredentials()
    with running_server(backend.store, ServerSettings(rate_per_second=100)) as srv:
        published = httpx.post(
            srv.url + "/v1/admin/bundles",
            content=backend.bundle(9, key=rogue),
            headers={"Authorization": f"Bearer {backend.publisher_token}"},
        )
        assert published.status_code == 201, published.text
        core = agent(data_dir, policy(backend, srv.url), creds, None)
        before = core.pack_info()
        core.start()
        try:
            wait_for(
                lambda: "pack refused" in (core.sync_status().last_error or ""),  # type: ignore[union-attr]
                10,
                "the refusal",
            )
            assert core.pack_info() == before
            assert not (data_dir / "sync" / "pack.yaml").exists()
        finally:
            core.stop()


@pytest.mark.allow_log("sync is off: .*plain http")
def test_a_server_url_that_is_not_https_is_refused_with_a_clear_error(
    backend: Backend, data_dir: Path
) -> None:
    core = agent(data_dir, policy(backend, "http://waymark.example.com"), MemoryCredentials(),
                 backend.pack_file)  # fmt: skip
    core.start()
    try:
        assert core.sync_error is not None and "plain http" in core.sync_error
        assert core.sync_status() is None
    finally:
        core.stop()


def waymark_json(
    command: str, data_dir: Path, policy_file: Path, keyring_backend: str
) -> tuple[int, dict[str, object], str]:
    """``waymark COMMAND --json`` from source over this data folder and policy file: the
    exit code, the JSON it printed and its stderr."""
    env = {
        **os.environ,
        "WAYMARK_DATA_DIR": str(data_dir),
        "WAYMARK_POLICY_FILE": str(policy_file),
        "PYTHON_KEYRING_BACKEND": keyring_backend,
    }
    done = subprocess.run(
        [sys.executable, "-m", "agent", command, "--json"],
        env=env, capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    return done.returncode, json.loads(done.stdout or "{}"), done.stderr


def test_waymark_sync_runs_one_round_and_says_what_happened(
    backend: Backend, data_dir: Path, tmp_path: Path
) -> None:
    box = Outbox(data_dir / "outbox.db")
    for kind in ("shown", "acted"):
        box.append(Record(time.time() - 30, kind, "test-pack", 1, rule="paste-plain"))
    box.close()
    with running_server(backend.store, ServerSettings(rate_per_second=100)) as srv:
        policy_file = tmp_path / "policy.json"
        policy_file.write_text(json.dumps(dict(policy(backend, srv.url).values)))
        code, report, err = waymark_json("sync", data_dir, policy_file, "tests.fakes.MemoryKeyring")
        assert code == 0, err
        assert report["sent"] == 2 and report["pending"] == 0 and report["device_id"]
        assert report["error"] is None
        assert backend.events() == 2
        # On a machine with no OS keyring (this CI): a clear refusal, and no secret on disk.
        box = Outbox(data_dir / "outbox.db")
        box.append(Record(time.time(), "shown", "test-pack", 1, rule="paste-plain"))
        box.close()
        code, report, err = waymark_json(
            "sync", data_dir, policy_file, "keyring.backends.fail.Keyring"
        )
        assert code == 1
        assert "no OS keyring" in str(report["error"]) and report["pending"] == 1
    for path in data_dir.rglob("*"):
        if path.is_file():
            assert b"wmd_" not in path.read_bytes(), path


def test_waymark_sync_exits_1_when_it_refuses_the_pack_cannot_enroll_or_cannot_send(
    backend: Backend, data_dir: Path, tmp_path: Path
) -> None:
    rogue = Ed25519PrivateKey.generate()
    backend.store.add_publisher_key(backend.tenant, public_key_text(rogue.public_key()))
    policy_file = tmp_path / "policy.json"
    with running_server(backend.store, ServerSettings(rate_per_second=100)) as srv:
        published = httpx.post(
            srv.url + "/v1/admin/bundles",
            content=backend.bundle(9, key=rogue),
            headers={"Authorization": f"Bearer {backend.publisher_token}"},
        )
        assert published.status_code == 201, published.text
        policy_file.write_text(json.dumps(dict(policy(backend, srv.url).values)))
        code, report, err = waymark_json("sync", data_dir, policy_file, "tests.fakes.MemoryKeyring")
        assert code == 1, err
        assert report["pack"] is None and "not pinned here" in str(report["pack_refused"])
        assert not (data_dir / "sync" / "pack.yaml").exists()
        # A token the server does not know: cannot enroll.
        bad = dict(policy(backend, srv.url).values, enroll_token="wme_not-a-token")
        policy_file.write_text(json.dumps(bad))
        code, report, err = waymark_json("sync", tmp_path / "other", policy_file,
                                          "tests.fakes.MemoryKeyring")  # fmt: skip
        assert code == 1 and report["device_id"] is None and report["error"], err
    # The server is gone: the waiting statistics cannot be sent.
    box = Outbox(data_dir / "outbox.db")
    box.append(Record(time.time(), "shown", "test-pack", 1, rule="paste-plain"))
    box.close()
    policy_file.write_text(
        json.dumps(dict(policy(backend, f"http://127.0.0.1:{free_port()}").values))
    )
    code, report, err = waymark_json("sync", data_dir, policy_file, "tests.fakes.MemoryKeyring")
    assert code == 1 and report["pending"] == 1 and report["error"], err


def _waymark(data_dir: Path, policy_file: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WAYMARK_DATA_DIR": str(data_dir),
           "WAYMARK_POLICY_FILE": str(policy_file),
           "PYTHON_KEYRING_BACKEND": "tests.fakes.MemoryKeyring"}  # fmt: skip
    return subprocess.run([sys.executable, "-m", "agent", *argv], env=env, capture_output=True,
                          text=True, timeout=60, cwd=ROOT)  # fmt: skip


def test_waymark_sync_and_doctor_say_when_the_device_is_outside_a_rollout(
    backend: Backend, data_dir: Path, tmp_path: Path
) -> None:
    headers = {"Authorization": f"Bearer {backend.publisher_token}"}
    policy_file = tmp_path / "policy.json"
    with running_server(backend.store, ServerSettings(rate_per_second=100)) as srv:
        for version, rollout in ((1, 100), (2, 0)):  # no device is inside 0 %
            published = httpx.post(srv.url + "/v1/admin/bundles", content=backend.bundle(version),
                                   params={"rollout": rollout}, headers=headers)  # fmt: skip
            assert published.status_code == 201, published.text
        policy_file.write_text(json.dumps(dict(policy(backend, srv.url).values)))
        code, report, err = waymark_json("sync", data_dir, policy_file, "tests.fakes.MemoryKeyring")
        assert code == 0, err
        assert report["pack"] == "test-pack v1"
        assert report["pack_withheld"] == "this device is not in the rollout of test-pack v2"
        done = _waymark(data_dir, policy_file, "sync")
        assert done.returncode == 0, done.stderr
        assert "Pack: unchanged; this device is not in the rollout of test-pack v2" in done.stdout
        doctor = _waymark(data_dir, policy_file, "doctor")
        assert "last pack check: this device is not in the rollout of test-pack v2" in doctor.stdout
        # Rolled out to everyone: the next sync gets it and the notice is gone.
        assert httpx.put(srv.url + "/v1/admin/packs/test-pack/versions/2/rollout",
                         json={"percent": 100}, headers=headers).is_success  # fmt: skip
        code, report, err = waymark_json("sync", data_dir, policy_file, "tests.fakes.MemoryKeyring")
        assert code == 0 and report["pack"] == "test-pack v2" and report["pack_withheld"] is None
        doctor = _waymark(data_dir, policy_file, "doctor", "--json")
        assert json.loads(doctor.stdout)["sync"]["pack_withheld"] is None
