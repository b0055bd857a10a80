"""The Linux enrollment broker for real: `waymark broker` as root, users by their uid.

The token sits in a root-only file; the broker (a real `python -m agent broker`
process) listens on a UNIX socket, learns each caller's uid from the kernel
(SO_PEERCRED) and hands each user only its own device.  The callers are forked
children that drop to other uids (no account needed for a uid), like the
agents of two people on one machine.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.sync.broker import enroll_via_broker
from devtools.live_server import running_server
from devtools.waiting import stop_process, wait_for
from server.cli import open_store
from server.enrollment import Enrollment
from server.settings import ServerSettings
from server.store import Store

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or os.geteuid() != 0,
    reason="the broker runs as root and its callers as other uids (Linux, as root)",
)

ROOT = Path(__file__).resolve().parents[2]
ALICE, BOB = 61001, 61002


def as_user(uid: int, socket_path: Path, token_file: Path) -> dict[str, Any]:
    """In a child running as ``uid``: try the token file, then ask the broker."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 0
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            out: dict[str, Any] = {"uid": os.getuid()}
            # The folder is open to it (policy.json reads), the token file is not.
            out["policy"] = (token_file.parent / "policy.json").read_text()
            try:
                out["token"] = token_file.read_text()
            except PermissionError as exc:
                out["token_error"] = type(exc).__name__
            try:
                got = enroll_via_broker(socket_path, ["sales"], "linux", "0.1.0", timeout=30)
                out["device_id"], out["secret"] = got.device_id, got.secret
            except Exception as exc:  # reported to the parent, which fails the test
                out["error"] = f"{type(exc).__name__}: {exc}"
            os.write(write_end, json.dumps(out).encode())
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    result: dict[str, Any] = json.loads(data)
    return result


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A folder other uids may traverse (pytest's own is root's only), as /etc and /run are."""
    folder = Path(tempfile.mkdtemp(prefix="waymark-broker-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path / 'server.db'}")
    yield opened
    opened.engine.dispose()


def broker_files(tmp_path: Path, token: str) -> tuple[Path, Path, Path]:
    # Open folders, as /etc/waymark and /run/waymark are: the file's mode protects the token.
    etc = tmp_path / "etc"
    run = tmp_path / "run"
    for folder in (tmp_path, etc, run):
        folder.mkdir(exist_ok=True)
        folder.chmod(0o755)
    (etc / "policy.json").write_text("{}")
    (etc / "policy.json").chmod(0o644)
    token_file = etc / "enroll-token"
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)
    return token_file, run / "enroll.sock", tmp_path / "lib" / "broker.key"


def test_each_user_gets_its_own_device_and_never_the_token(store: Store, open_dir: Path) -> None:
    tenant = store.create_tenant("acme")
    _info, token = Enrollment(store).create_token(tenant)
    token_file, socket_path, key_file = broker_files(open_dir, token)
    with running_server(store, ServerSettings()) as srv:
        broker = subprocess.Popen(
            [sys.executable, "-m", "agent", "broker", "--server", srv.url,
             "--socket", str(socket_path), "--token-file", str(token_file),
             "--key-file", str(key_file)],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            wait_for(socket_path.exists, 20, "the broker's socket")
            alice = as_user(ALICE, socket_path, token_file)
            bob = as_user(BOB, socket_path, token_file)
            alice_again = as_user(ALICE, socket_path, token_file)
        finally:
            stop_process(broker)
            log = broker.communicate()[1].decode()
    for who in (alice, bob, alice_again):
        assert "error" not in who, (who, log)
        assert who["policy"] == "{}" and who["token_error"] == "PermissionError"
        assert "token" not in who
        assert token not in json.dumps(who) and who["secret"].startswith("wmd_")
    assert (alice["uid"], bob["uid"]) == (ALICE, BOB)
    # Two users, two devices; the same user again, the same device with a new secret.
    assert alice["device_id"] != bob["device_id"]
    assert alice_again["device_id"] == alice["device_id"]
    assert alice_again["secret"] != alice["secret"]
    assert store.counts()["devices"] == 2
    assert store.device(alice["secret"]) is None  # renewed: the old secret is dead
    assert store.device(alice_again["secret"]) is not None
    # The broker's key, from which installation ids are made, is root's alone.
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert token not in log


def test_the_broker_refuses_a_token_file_other_users_can_read(open_dir: Path) -> None:
    token_file, socket_path, key_file = broker_files(open_dir, "wme_x")
    token_file.chmod(0o644)
    done = subprocess.run(
        [sys.executable, "-m", "agent", "broker", "--server", "http://127.0.0.1:9",
         "--socket", str(socket_path), "--token-file", str(token_file),
         "--key-file", str(key_file)],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1
    assert "open to other users" in done.stderr and "chmod 600" in done.stderr
    assert not socket_path.exists()
