"""The Windows enrollment broker for real (windows-latest in CI; not run on Linux).

A :class:`PipeBroker` serves a named pipe of its own in a thread and enrolls with
the real server on loopback; the agent's side (:func:`enroll_via_pipe`) asks it
from this process. The broker learns the caller's SID by impersonating it
(``ImpersonateNamedPipeClient`` + ``GetTokenInformation``), which must be this
user's as ``whoami /user`` says; asking twice renews the same device.
"""

from __future__ import annotations

import subprocess
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path

from agent.sync.broker_windows import PipeBroker, enroll_via_pipe, pipe_exists
from agent.sync.client import DeviceCredentials, ServerClient
from devtools.live_server import running_server
from devtools.waiting import wait_for
from server.cli import open_store
from server.enrollment import Enrollment


def test_the_pipe_broker_enrolls_the_caller_by_its_sid(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'server.db'}")
    tenant = store.create_tenant("acme")
    _info, token = Enrollment(store).create_token(tenant)
    pipe = rf"\\.\pipe\waymark-enroll-test-{uuid.uuid4().hex[:8]}"
    users: list[str] = []
    try:
        with running_server(store) as srv:
            client = ServerClient(srv.url)

            def enroll(
                tok: str, inst: str, groups: Sequence[str], os_name: str, version: str
            ) -> DeviceCredentials:
                return client.enroll(tok, os_name, version, groups, inst)

            broker = PipeBroker(read_token=lambda: token, key=bytes(32), enroll=enroll)
            original = broker.enroll_user

            def recording(user: str, request: object) -> dict[str, object]:
                users.append(user)
                return original(user, request)  # type: ignore[arg-type]

            broker.enroll_user = recording  # type: ignore[method-assign]

            def serve_twice() -> None:
                broker.serve_one(pipe)
                broker.serve_one(pipe)

            thread = threading.Thread(target=serve_twice, daemon=True)
            thread.start()
            wait_for(lambda: pipe_exists(pipe), 10, "the broker's pipe")
            first = enroll_via_pipe(pipe, ["sales"], "windows", "0.1.0")
            wait_for(lambda: pipe_exists(pipe), 10, "the broker's pipe again")
            second = enroll_via_pipe(pipe, ["sales"], "windows", "0.1.0")
            thread.join(30)
            client.close()
    finally:
        store.engine.dispose()
    whoami = subprocess.run(["whoami", "/user", "/fo", "csv", "/nh"], capture_output=True,
                            text=True, timeout=60).stdout  # fmt: skip
    sid = whoami.strip().split(",")[-1].strip('"')
    assert users == [sid, sid]
    assert first.device_id == second.device_id and first.secret != second.secret
