"""Every local file × every way it can be corrupt: the real agent starts, coaches, and says so.

Each case copies a data folder written by a real run of the agent (engine
state, outbox records, settings, device id, a verified pack from the server
with its bundle, ETag and trusted versions), damages one file one way, and
starts the wired agent (AgentCore, no hooks) on it.  The agent must start,
show a toast, log one WARNING naming the file and what was wrong, keep the
damaged file as ``NAME.corrupt-<time>`` for support, list it in ``waymark
doctor``, and say nothing more about it at the next start.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.app import AgentCore, AgentOptions
from agent.commands.doctor import local_files
from agent.config.policy import Policy
from agent.rules.bundle import make_bundle, public_key_text
from agent.rules.effects import Effect, ShowToast
from agent.rules.engine import decisions_of
from agent.sync.credentials import ENROLLMENT_FILE, NO_ENROLLMENT, folder_credentials
from agent.sync.packs import SyncedPacks, pinned_keys
from devtools.waiting import free_port
from tests.fakes import MemoryCredentials
from tests.helpers.logfail import LogFailHandler
from tests.helpers.packs import editor_pack, paste_in_editor

ROOT = Path(__file__).resolve().parents[2]
KEY = Ed25519PrivateKey.generate()
PACK = editor_pack(4)


def policy() -> Policy:
    return Policy(
        {
            "server_url": f"http://127.0.0.1:{free_port()}",  # nobody answers: offline
            "enroll_token": "wme_unused",
            "publisher_keys": [public_key_text(KEY.public_key())],
        },
        "test",
    )


def agent(data: Path) -> AgentCore:
    return AgentCore(
        AgentOptions(
            data_dir=data, hooks=False, policy=policy(), sync_every=3600.0,
            credentials=MemoryCredentials(),
        )
    )  # fmt: skip


def coach(data: Path) -> list[Effect]:
    """Start the agent on ``data``, paste in the editor, stop; the effects it produced."""
    core = agent(data)
    seen: list[Effect] = []
    core.add_effect_listener(seen.append)
    core.start()
    try:
        paste_in_editor(core)
    finally:
        core.stop()
    return seen


@pytest.fixture(scope="module")
def used_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder after a real run: every file of every store is there."""
    data = tmp_path_factory.mktemp("used") / "data"
    bundle = make_bundle(
        pack_source=PACK, pack_id="test-pack", version=4, private_key=KEY,
        created=datetime.now(UTC), expires_in=timedelta(days=30),
    )  # fmt: skip
    packs = SyncedPacks(data / "sync")
    keys = pinned_keys([public_key_text(KEY.public_key())])
    packs.accept(bundle, packs.verify(bundle, keys, datetime.now(UTC), "0.1.0"), '"v4"')
    core = agent(data)
    core.settings.set("consent", "granted")
    core.settings.set("language", "it")
    core.stop()
    for _ in range(2):
        assert any(isinstance(e, ShowToast) for e in coach(data))
    expected = {
        "state.db", "outbox.db", "settings.json", "device.json", "trusted-packs.json",
        "sync/state.json", "sync/bundle.json", "sync/pack.yaml",
    }  # fmt: skip
    assert expected <= {p.relative_to(data).as_posix() for p in data.rglob("*") if p.is_file()}
    return data


# -- the ways a file breaks ----------------------------------------------------


def _rng(path: Path) -> random.Random:
    return random.Random(path.name)


def truncated(path: Path) -> None:
    """Half-written: the file stops in the middle."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def random_bytes(path: Path) -> None:
    path.write_bytes(_rng(path).randbytes(max(path.stat().st_size, 4096)))


def zero_bytes(path: Path) -> None:
    path.write_bytes(b"")


def header_garbled(path: Path) -> None:
    """The first 100 bytes (SQLite's header) overwritten."""
    data = path.read_bytes()
    path.write_bytes(_rng(path).randbytes(100) + data[100:])


def pages_garbled(path: Path) -> None:
    """Header and schema page intact, every other page random."""
    data = path.read_bytes()
    path.write_bytes(data[:4096] + _rng(path).randbytes(len(data) - 4096))


def other_tables(path: Path) -> None:
    """A valid SQLite file whose tables have other columns."""
    path.unlink()
    with closing(sqlite3.connect(path)) as db:
        for table in ("rule_state", "habit_state", "pack_state", "outbox"):
            db.execute(f"CREATE TABLE {table} (something_else TEXT)")
        db.commit()


def wal_garbage(path: Path) -> None:
    """Random bytes where the write-ahead log would be."""
    Path(f"{path}-wal").write_bytes(_rng(path).randbytes(8192))


def not_utf8(path: Path) -> None:
    """Latin-1 bytes in the middle of the text."""
    data = path.read_bytes()
    middle = len(data) // 2
    path.write_bytes(data[:middle] + b"caf\xe9\xff" + data[middle:])


def json_list(path: Path) -> None:
    """Valid JSON, but not an object."""
    path.write_text("[1, 2, 3]\n", encoding="utf-8")


WRONG_INSIDE = {
    "settings.json": '{"consent": 5, "groups": "sales", "language": "it"}',
    "device.json": '{"device": 42}',
    "trusted-packs.json": '{"test-pack": "four"}',
    "state.json": '{"etag": 7, "trusted": ["test-pack"]}',
    "bundle.json": '{"waymark_bundle": 1, "key_id": 1, "manifest": [], "signature": null}',
    "pack.yaml": "- a list\n- not a pack\n",
    "enrollment.json": '{"https://waymark.example.com": 5}',
}


def wrong_inside(path: Path) -> None:
    """Valid JSON (YAML) of the wrong shape inside."""
    path.write_text(WRONG_INSIDE[path.name], encoding="utf-8")


def nested_deep(path: Path) -> None:
    """100,000 nested arrays (RecursionError for a naive reader)."""
    path.write_bytes(b"[" * 100_000 + b"]" * 100_000)


def another_pack(path: Path) -> None:
    """A valid pack, but not the one the server signed (edited by hand)."""
    path.write_text(PACK.replace("Paste without formatting", "Hacked"), encoding="utf-8")


Corruption = Callable[[Path], None]
SQLITE: list[Corruption] = [
    truncated, random_bytes, zero_bytes, header_garbled, pages_garbled, other_tables, wal_garbage,
]  # fmt: skip
JSON: list[Corruption] = [
    truncated, random_bytes, zero_bytes, not_utf8, json_list, wrong_inside, nested_deep,
]  # fmt: skip
YAML: list[Corruption] = [
    truncated, random_bytes, zero_bytes, not_utf8, wrong_inside, nested_deep, another_pack,
]  # fmt: skip
FILES: dict[str, list[Corruption]] = {
    "state.db": SQLITE,
    "outbox.db": SQLITE,
    "settings.json": JSON,
    "device.json": JSON,
    "trusted-packs.json": JSON,
    "sync/state.json": JSON,
    "sync/bundle.json": JSON,
    "sync/pack.yaml": YAML,
}
#: Not corruption at all: an empty SQLite file is an empty database, SQLite ignores a WAL
#: whose header is not its own, and settings of the wrong type fall back one by one.
NOT_SET_ASIDE = {
    ("state.db", zero_bytes), ("outbox.db", zero_bytes),
    ("state.db", wal_garbage), ("outbox.db", wal_garbage),
    ("settings.json", wrong_inside),
}  # fmt: skip
CASES = [(name, kind) for name, kinds in FILES.items() for kind in kinds]


def _warnings_about(log_fail: LogFailHandler, name: str) -> list[str]:
    texts = [log_fail.text_of(r) for r in log_fail.records]
    return [t for t in texts if f"{name} is corrupt" in t]


@pytest.mark.parametrize(
    ("name", "corrupt"), CASES, ids=[f"{n}-{k.__name__}" for n, k in CASES]
)  # fmt: skip
@pytest.mark.allow_log("is corrupt", "sync failed", "using the default")
def test_a_corrupt_file_is_set_aside_and_coaching_goes_on(
    name: str, corrupt: Corruption, used_folder: Path, tmp_path: Path, log_fail: LogFailHandler
) -> None:
    data = tmp_path / "data"
    shutil.copytree(used_folder, data)
    path = data / name
    before = path.read_bytes() if corrupt is not wal_garbage else None
    corrupt(path)
    damaged = path.read_bytes() if before is not None else None

    seen = coach(data)

    assert any(isinstance(e, ShowToast) for e in seen), "no toast: coaching stopped"
    warnings = _warnings_about(log_fail, path.name)
    aside = sorted(path.parent.glob(f"{path.name}.corrupt-*"))
    if (name, corrupt) in NOT_SET_ASIDE:
        assert warnings == [] and aside == [] and local_files(data) == []
        return
    # One WARNING naming the file, what was wrong and where it went.
    assert len(warnings) == 1, warnings
    assert str(path) in warnings[0] and aside[0].name in warnings[0]
    assert aside[0].read_bytes() == damaged  # kept as it was, for support
    assert [f["file"] for f in local_files(data)] == [name]  # waymark doctor lists it
    if name == "sync/bundle.json":
        # Without its bundle the stored pack is not trusted; the ETag goes too, so the
        # server sends the pack again at the next check.
        assert json.loads((data / "sync/state.json").read_text())["etag"] is None
    # Said once: the next start has nothing more to say about it (and still coaches: the
    # default pack's welcome tip was shown once already when the server's pack was lost).
    log_fail.records.clear()
    assert decisions_of(coach(data))
    assert _warnings_about(log_fail, path.name) == []


@pytest.mark.parametrize("corrupt", JSON, ids=[k.__name__ for k in JSON])
@pytest.mark.allow_log("is corrupt")
def test_a_corrupt_enrollment_record_is_set_aside(
    corrupt: Corruption, tmp_path: Path, log_fail: LogFailHandler
) -> None:
    """sync/enrollment.json (which enrollment a folder's keyring entry belongs to) is read
    when policy has no enroll_token: the keyring entry is then looked up as not enrolled."""
    path = tmp_path / "sync" / ENROLLMENT_FILE
    path.parent.mkdir()
    path.write_text('{"https://waymark.example.com": "enrollment-1"}', encoding="utf-8")
    corrupt(path)
    creds = folder_credentials("https://waymark.example.com", "", tmp_path, "local-1")
    assert creds.enrollment == NO_ENROLLMENT
    aside = list(path.parent.glob(f"{ENROLLMENT_FILE}.corrupt-*"))
    if corrupt is wrong_inside:  # an object after all: the entries of the wrong type are skipped
        assert aside == []
        return
    assert len(aside) == 1 and len(_warnings_about(log_fail, ENROLLMENT_FILE)) == 1


@pytest.mark.allow_log("is corrupt")
def test_a_file_that_keeps_breaking_keeps_three_copies_aside(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for _ in range(5):
        (data / "settings.json").write_bytes(b"\xff not json")
        (data / "state.db").write_bytes(b"not a database" * 300)
        agent(data).stop()
    for name in ("state.db", "settings.json"):
        assert len(list(data.glob(f"{name}.corrupt-*"))) == 3
    assert len(local_files(data)) == 6


def test_waymark_doctor_lists_the_files_set_aside(used_folder: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(used_folder, data)
    random_bytes(data / "outbox.db")
    script = tmp_path / "day.jsonl"
    script.write_text('{"t": 0.0, "kind": "focus", "app": "gedit", "title": "notes"}\n')
    env = {**os.environ, "WAYMARK_DATA_DIR": str(data),
           "WAYMARK_POLICY_FILE": str(tmp_path / "no-policy.json")}  # fmt: skip
    env.pop("DISPLAY", None)
    start = subprocess.run(
        [sys.executable, "-m", "agent", "run", "--headless", "--no-hooks", "--script",
         str(script), "--data-dir", str(data)],
        capture_output=True, text=True, timeout=60, env=env, cwd=ROOT,
    )  # fmt: skip
    assert start.returncode == 0 and "outbox.db is corrupt" in start.stderr, start.stderr
    log = (data / "logs" / "agent.log").read_text(encoding="utf-8")
    assert any("outbox.db is corrupt" in json.loads(line)["message"] for line in log.splitlines())
    doctor = subprocess.run(
        [sys.executable, "-m", "agent", "doctor", "--json"],
        capture_output=True, text=True, timeout=60, env=env, cwd=ROOT,
    )  # fmt: skip
    assert doctor.returncode == 0, doctor.stderr
    (found,) = json.loads(doctor.stdout)["local_files"]
    assert found["file"] == "outbox.db" and ".corrupt-" in found["set_aside_as"]
    text = subprocess.run(
        [sys.executable, "-m", "agent", "doctor"],
        capture_output=True, text=True, timeout=60, env=env, cwd=ROOT,
    )  # fmt: skip
    assert "Local files: 1 corrupt file(s) were set aside" in text.stdout
