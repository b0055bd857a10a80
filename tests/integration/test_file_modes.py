"""The data folder is the person's alone: 0700, and every file in it 0600 (POSIX)."""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.app import AgentCore, AgentOptions
from agent.config.policy import Policy
from agent.rules.bundle import make_bundle, public_key_text
from agent.sync.packs import SyncedPacks, pinned_keys
from devtools.waiting import free_port
from tests.fakes import MemoryCredentials
from tests.helpers.packs import editor_pack, paste_in_editor

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")

PACK = editor_pack(2)


def mode(path: Path) -> str:
    return oct(stat.S_IMODE(path.stat().st_mode))


def run_everything(data: Path, agent_logging: Callable[[Path], Path]) -> None:
    """Every store writes its file, and the log is written: checked while the agent runs
    (the -wal and -shm files exist only then)."""
    key = Ed25519PrivateKey.generate()
    bundle = make_bundle(
        pack_source=PACK, pack_id="test-pack", version=2, private_key=key,
        created=datetime.now(UTC), expires_in=timedelta(days=3),
    )  # fmt: skip
    text = public_key_text(key.public_key())
    packs = SyncedPacks(data / "sync")
    packs.accept(
        bundle, packs.verify(bundle, pinned_keys([text]), datetime.now(UTC), "0.1.0"), None
    )
    agent_logging(data / "logs")
    policy = Policy(
        {"server_url": f"http://127.0.0.1:{free_port()}", "publisher_keys": [text]}, "t"
    )
    core = AgentCore(AgentOptions(data_dir=data, hooks=False, policy=policy, sync_every=3600,
                                  credentials=MemoryCredentials()))  # fmt: skip
    core.settings.set("consent", "granted")
    core.start()
    try:
        paste_in_editor(core)
        core.outbox.flush()
        logging.getLogger("agent.test").info("a line in agent.log")
        files = {p.relative_to(data).as_posix(): mode(p) for p in data.rglob("*") if p.is_file()}
        folders = {p.relative_to(data).as_posix(): mode(p) for p in data.rglob("*") if p.is_dir()}
    finally:
        core.stop()
    expected = {
        "state.db", "state.db-wal", "state.db-shm", "outbox.db", "outbox.db-wal",
        "outbox.db-shm", "settings.json", "device.json", "trusted-packs.json", "logs/agent.log",
        "sync/state.json", "sync/bundle.json", "sync/pack.yaml",
    }  # fmt: skip
    assert expected <= set(files), sorted(files)
    assert files == dict.fromkeys(files, "0o600")
    assert folders == dict.fromkeys(folders, "0o700")
    assert mode(data) == "0o700"


@pytest.mark.allow_log("sync failed")
def test_a_new_data_folder_is_0700_and_every_file_0600(
    tmp_path: Path, agent_logging: Callable[[Path], Path]
) -> None:
    old = os.umask(0o022)  # what a desktop session usually has
    try:
        run_everything(tmp_path / "new" / "data", agent_logging)
    finally:
        os.umask(old)


@pytest.mark.allow_log("sync failed")
def test_the_files_of_an_older_version_are_narrowed(
    tmp_path: Path, agent_logging: Callable[[Path], Path]
) -> None:
    data = tmp_path / "data"
    (data / "sync").mkdir(parents=True, mode=0o755)
    (data / "logs").mkdir(mode=0o755)
    os.chmod(data, 0o755)
    with closing(sqlite3.connect(data / "outbox.db")) as db:
        db.execute("PRAGMA journal_mode=WAL")
    (data / "settings.json").write_text('{"language": "it"}')
    (data / "device.json").write_text('{"device": "local-old"}')
    (data / "logs" / "agent.log").write_text("")
    for path in data.rglob("*"):
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    run_everything(data, agent_logging)
    assert (data / "device.json").read_text() == '{"device": "local-old"}'
