"""Stand-ins for what cannot run here, and only that.

A server that refuses a valid batch: the real one takes every valid record,
so the agent's handling of a "poison" record needs a stand-in.  A server that
hands out a hostile bundle (a compromised one): the real server refuses to
store one.

The OS keyring: Windows Credential Manager and the macOS Keychain do not exist
here.  The Linux path runs for real against GNOME Keyring
(tests/integration/test_keyring_linux.py) and the "no keyring" path against
keyring's own fail backend; the other sync tests keep the device secret in
memory so that each can start from a known state.

The systemd journal: no journald runs on these machines (PID 1 is not
systemd), so :class:`FakeJournal` listens where the agent's journal handler
sends (``WAYMARK_JOURNAL_SOCKET``) and reads journald's native protocol back
with a decoder of its own, including a record passed as a memfd.  The
Windows Event Log: :class:`RecordingEventLog` takes the place of advapi32 for
the handler's logic; tests/native/windows/test_event_log.py writes for real.
"""

from __future__ import annotations

import array
import gzip
import json
import os
import select
import socket
from collections.abc import Sequence
from pathlib import Path

import httpx

from agent.sync.client import DeviceCredentials


class MemoryCredentials:
    """A CredentialStore in memory; counts how often the agent enrolled."""

    def __init__(self, initial: DeviceCredentials | None = None) -> None:
        self.value = initial
        self.saves = 0
        self.clears = 0

    def load(self) -> DeviceCredentials | None:
        return self.value

    def save(self, credentials: DeviceCredentials) -> None:
        self.value = credentials
        self.saves += 1

    def clear(self) -> None:
        self.value = None
        self.clears += 1


def _keyring_backend_base() -> type:
    from keyring.backend import KeyringBackend

    return KeyringBackend


class MemoryKeyring(_keyring_backend_base()):  # type: ignore[misc]
    """A keyring backend for one process (``PYTHON_KEYRING_BACKEND=tests.fakes.MemoryKeyring``)."""

    priority = 1

    def __init__(self) -> None:
        super().__init__()
        self._items: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self._items.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self._items[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        from keyring.errors import PasswordDeleteError

        if self._items.pop((service, username), None) is None:
            raise PasswordDeleteError("not found")


class FakeJournal:
    """A datagram socket at ``path`` that reads journald's native protocol.

    Each record comes back as a dict of field name to value (the last value of
    a repeated field); ``via_memfd`` counts the records that came as a file
    descriptor, and ``seals`` holds each such memfd's seals (F_GET_SEALS).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.via_memfd = 0
        self.seals: list[int] = []

    def receive(self, timeout: float = 10.0) -> dict[str, str]:
        """The next record, waiting at most ``timeout`` seconds (TimeoutError)."""
        import fcntl  # Linux only, like journald

        ready, _, _ = select.select([self.sock], [], [], timeout)
        if not ready:
            raise TimeoutError(f"no journal record within {timeout} s")
        fds = array.array("i")
        data, ancillary, _flags, _addr = self.sock.recvmsg(1 << 20, socket.CMSG_SPACE(fds.itemsize))
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
        for fd in fds:
            self.seals.append(fcntl.fcntl(fd, fcntl.F_GET_SEALS))
            with os.fdopen(fd, "rb") as f:
                f.seek(0)
                data = f.read()
            self.via_memfd += 1
        return decode_journal(data)

    def close(self) -> None:
        self.sock.close()
        self.path.unlink(missing_ok=True)


def decode_journal(data: bytes) -> dict[str, str]:
    """Read a native-protocol datagram as journald does (``KEY=value`` or ``KEY``+length)."""
    fields: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        end = data.index(b"\n", pos)
        line = data[pos:end]
        if b"=" in line:
            key, _, value = line.partition(b"=")
            pos = end + 1
        else:
            key = line
            size = int.from_bytes(data[end + 1 : end + 9], "little")
            value = data[end + 9 : end + 9 + size]
            if data[end + 9 + size : end + 10 + size] != b"\n":
                raise ValueError(f"field {key!r}: no newline after {size} bytes")
            pos = end + 10 + size
        fields[key.decode("ascii")] = value.decode("utf-8")
    return fields


class RecordingEventLog:
    """An :class:`~agent.log_sinks.EventLogApi` that keeps what was reported."""

    def __init__(self, handle: int = 7) -> None:
        self.handle = handle
        self.reports: list[tuple[int, int, int, list[str]]] = []
        self.deregistered: list[int] = []

    def register(self, source: str) -> int:
        self.source = source
        return self.handle

    def report(self, handle: int, kind: int, event: int, strings: Sequence[str]) -> bool:
        self.reports.append((handle, kind, event, list(strings)))
        return True

    def deregister(self, handle: int) -> None:
        self.deregistered.append(handle)


class PoisonRefusingServer:
    """An httpx.MockTransport handler: 400 for any batch holding a record with ``rule``."""

    def __init__(self, rule: str) -> None:
        self.rule = rule
        self.batch_sizes: list[int] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/pack":
            return httpx.Response(204)
        if request.url.path == "/v1/device/groups":
            return httpx.Response(200, content=request.content)
        events = json.loads(gzip.decompress(request.content))["events"]
        self.batch_sizes.append(len(events))
        if any(e.get("rule") == self.rule for e in events):
            return httpx.Response(400, json={"error": "bad_shape", "message": "refused"})
        results = [{"uuid": e["uuid"], "status": "ok"} for e in events]
        return httpx.Response(200, json={"results": results})


class BundleServer:
    """An httpx.MockTransport handler serving ``bundle`` as the pack, with an ETag.

    It honours If-None-Match (304) like the real server and counts the times
    it sent the whole bundle (``downloads``).  Batches are all taken.
    """

    def __init__(self, bundle: bytes, etag: str = '"hostile"') -> None:
        self.bundle = bundle
        self.etag = etag
        self.downloads = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/device/groups":
            return httpx.Response(200, content=request.content)
        if request.url.path != "/v1/pack":
            events = json.loads(gzip.decompress(request.content))["events"]
            return httpx.Response(200, json={"results": [
                {"uuid": e["uuid"], "status": "ok"} for e in events]})  # fmt: skip
        if request.headers.get("if-none-match") == self.etag:
            return httpx.Response(304)
        self.downloads += 1
        return httpx.Response(200, content=self.bundle, headers={"ETag": self.etag})
