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
"""

from __future__ import annotations

import gzip
import json

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


class PoisonRefusingServer:
    """An httpx.MockTransport handler: 400 for any batch holding a record with ``rule``."""

    def __init__(self, rule: str) -> None:
        self.rule = rule
        self.batch_sizes: list[int] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/pack":
            return httpx.Response(204)
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
        if request.url.path != "/v1/pack":
            events = json.loads(gzip.decompress(request.content))["events"]
            return httpx.Response(200, json={"results": [
                {"uuid": e["uuid"], "status": "ok"} for e in events]})  # fmt: skip
        if request.headers.get("if-none-match") == self.etag:
            return httpx.Response(304)
        self.downloads += 1
        return httpx.Response(200, content=self.bundle, headers={"ETag": self.etag})
