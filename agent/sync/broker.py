"""The enrollment broker: the token stays with the administrator, each user gets its own device.

An enrollment token in policy is readable by every user of the machine (the
agent runs as that user).  Where the OS lets a privileged service learn who
is calling, the token can live in a file only that service reads:

* **Linux**: the token in ``/etc/waymark/enroll-token`` (root, 0600); the
  ``waymark-enroll-broker`` systemd system service (``waymark broker``, as
  root) listens on ``/run/waymark/enroll.sock``, learns the caller's uid from
  the kernel (``SO_PEERCRED``), enrolls with the installation id
  ``HMAC-SHA256(broker key, machine id ":" uid)`` and hands that caller only its
  own device id and secret, which the agent keeps in its keyring as before;
* **macOS** (documented, docs/admin-guide.md): the same over a UNIX socket from a
  LaunchDaemon, the uid from ``getpeereid``;
* **Windows**: :mod:`agent.sync.broker_windows` (a named pipe, the caller's SID).

Because the installation id is derived from the uid by the broker, with a key
only root reads, a user cannot enroll as another user, and the same user asking
twice renews the same device.  The agent asks the broker when policy has no
``enroll_token`` and the socket exists (:func:`broker_path`).

The protocol is one JSON line each way: the agent sends ``{"groups": [...],
"os": "linux", "agent_version": "..."}``; the broker answers ``{"device_id",
"device_secret", "status"}`` or ``{"error", "message"}``.  Reading and writing
the lines are pure functions with unit tests.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import socket
import stat
import struct
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from agent.sync.client import DeviceCredentials, SyncError, SyncErrorKind

__all__ = [
    "DEFAULT_KEY_FILE",
    "DEFAULT_SOCKET",
    "DEFAULT_TOKEN_FILE",
    "BrokerCore",
    "BrokerRequest",
    "EnrollBroker",
    "Enroller",
    "PeerCred",
    "broker_enroller",
    "broker_installation_id",
    "broker_path",
    "broker_runs_here",
    "check_secret_file",
    "decode_answer",
    "decode_peercred",
    "decode_request",
    "decode_xucred",
    "encode_answer",
    "encode_request",
    "enroll_via_broker",
    "file_token",
    "load_key",
    "machine_id",
    "peer_uid",
]

log = logging.getLogger(__name__)

DEFAULT_SOCKET: Final = Path("/run/waymark/enroll.sock")
DEFAULT_TOKEN_FILE: Final = Path("/etc/waymark/enroll-token")
DEFAULT_KEY_FILE: Final = Path("/var/lib/waymark/broker.key")
#: One line each way is small; anything longer is not the protocol.
MAX_LINE: Final = 8192
_OS: Final = re.compile(r"^[a-z0-9_-]{1,16}$")
_VERSION: Final = re.compile(r"^[0-9A-Za-z.+-]{1,32}$")
_GROUP: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._@-]{0,63}$")
#: struct ucred (Linux): pid_t, uid_t, gid_t.
_UCRED: Final = struct.Struct("=iII")
#: struct xucred (macOS, LOCAL_PEERCRED at SOL_LOCAL): version, uid, ngroups, 16 gids.
_XUCRED: Final = struct.Struct("=IIh2x16I")
_SOL_LOCAL: Final = 0
_LOCAL_PEERCRED: Final = 0x001
#: AF_UNIX by name: the constant does not exist in Windows' socket module.
_AF_UNIX: Final = socket.AddressFamily["AF_UNIX"] if hasattr(socket, "AF_UNIX") else None

#: What the broker calls to enroll: (token, installation id, groups, os, version).
Enroller = Callable[[str, str, Sequence[str], str, str], DeviceCredentials]


@dataclass(frozen=True, slots=True)
class PeerCred:
    pid: int
    uid: int
    gid: int


@dataclass(frozen=True, slots=True)
class BrokerRequest:
    groups: tuple[str, ...]
    os: str
    agent_version: str


def decode_peercred(raw: bytes) -> PeerCred:
    """The caller of a UNIX socket from ``getsockopt(SOL_SOCKET, SO_PEERCRED)``."""
    if len(raw) != _UCRED.size:
        raise ValueError(f"SO_PEERCRED gave {len(raw)} bytes, not {_UCRED.size}")
    pid, uid, gid = _UCRED.unpack(raw)
    return PeerCred(pid, uid, gid)


def decode_xucred(raw: bytes) -> int:
    """The caller's uid from macOS's ``getsockopt(SOL_LOCAL, LOCAL_PEERCRED)``."""
    if len(raw) < 8:
        raise ValueError(f"LOCAL_PEERCRED gave {len(raw)} bytes")
    version, uid = struct.unpack_from("=II", raw, 0)
    if version != 0:
        raise ValueError(f"unknown xucred version {version}")
    return int(uid)


def peer_uid(conn: socket.socket) -> int:
    """Who is at the other end of a UNIX socket, as the kernel says."""
    if sys.platform == "linux":
        return decode_peercred(
            conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
        ).uid
    elif sys.platform == "darwin":
        return decode_xucred(conn.getsockopt(_SOL_LOCAL, _LOCAL_PEERCRED, _XUCRED.size))
    else:
        raise OSError("peer credentials of a UNIX socket: Linux and macOS only")


def _unix_socket() -> socket.socket:
    if _AF_UNIX is None:
        raise OSError("UNIX sockets are not available here")
    return socket.socket(_AF_UNIX, socket.SOCK_STREAM)


def broker_installation_id(key: bytes, machine: str, user: str) -> str:
    """The installation id of ``user`` (a uid, or a Windows SID) on ``machine``."""
    if len(key) < 16:
        raise ValueError("the broker key is too short (want at least 16 bytes)")
    return hmac.new(key, f"{machine}:{user}".encode(), hashlib.sha256).hexdigest()


def encode_request(groups: Sequence[str], os_name: str, agent_version: str) -> bytes:
    doc = {"groups": list(groups), "os": os_name, "agent_version": agent_version}
    return json.dumps(doc).encode() + b"\n"


def decode_request(line: bytes) -> BrokerRequest:
    """A request line; ValueError saying what is wrong."""
    if len(line) > MAX_LINE:
        raise ValueError("request too long")
    try:
        doc = json.loads(line)
    except ValueError:
        raise ValueError("the request is not JSON") from None
    if not isinstance(doc, dict):
        raise ValueError("the request is not a JSON object")
    groups, os_name, version = doc.get("groups", []), doc.get("os"), doc.get("agent_version")
    if not isinstance(groups, list) or len(groups) > 32:
        raise ValueError("groups must be a list of at most 32 names")
    if not all(isinstance(g, str) and _GROUP.match(g) for g in groups):
        raise ValueError("a group name is not valid")
    if not isinstance(os_name, str) or not _OS.match(os_name):
        raise ValueError("os is not valid")
    if not isinstance(version, str) or not _VERSION.match(version):
        raise ValueError("agent_version is not valid")
    return BrokerRequest(tuple(sorted(set(groups))), os_name, version)


def encode_answer(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc).encode() + b"\n"


def decode_answer(line: bytes) -> DeviceCredentials:
    """The broker's answer: credentials, or a :class:`SyncError` saying why not."""
    try:
        doc = json.loads(line)
    except ValueError:
        raise SyncError("server", "enroll broker: the answer is not JSON") from None
    if not isinstance(doc, dict):
        raise SyncError("server", "enroll broker: the answer is not a JSON object")
    device_id, secret = doc.get("device_id"), doc.get("device_secret")
    if isinstance(device_id, str) and isinstance(secret, str) and device_id and secret:
        return DeviceCredentials(device_id, secret)
    code, message = str(doc.get("error", "error")), str(doc.get("message", ""))
    retry = doc.get("retry_after")
    kind: SyncErrorKind = "rate_limited" if code.endswith("rate_limited") else "refused"
    raise SyncError(
        kind,
        f"enroll broker: {code}: {message}".rstrip(": "),
        retry_after=float(retry) if isinstance(retry, int | float) else None,
    )


def broker_path(platform: str = sys.platform) -> Path | None:
    """The broker's socket when one is running here (Linux, macOS), else None."""
    if platform.startswith("linux"):
        candidate = DEFAULT_SOCKET
    elif platform == "darwin":
        candidate = Path("/var/run/waymark/enroll.sock")
    else:
        return None
    with contextlib.suppress(OSError):
        if stat.S_ISSOCK(candidate.stat().st_mode):
            return candidate
    return None


def broker_runs_here(platform: str) -> bool:
    """Whether an enrollment broker serves this computer (its pipe or its socket)."""
    if platform == "win32":
        from agent.sync.broker_windows import PIPE_NAME, pipe_exists

        return pipe_exists(PIPE_NAME)
    return broker_path(platform) is not None


def broker_enroller(
    platform: str, os_name: str
) -> Callable[[Sequence[str]], DeviceCredentials] | None:
    """The worker's way to enroll through the broker running here, if one does."""
    if platform == "win32":
        from agent.sync.broker_windows import PIPE_NAME, enroll_via_pipe

        if not broker_runs_here(platform):
            return None
        return lambda groups: enroll_via_pipe(PIPE_NAME, groups, os_name, _version())
    path = broker_path(platform)
    if path is None:
        return None
    return lambda groups: enroll_via_broker(path, groups, os_name, _version())


def _version() -> str:
    from agent import __version__

    return __version__


def enroll_via_broker(
    path: Path, groups: Sequence[str], os_name: str, agent_version: str, timeout: float = 60.0
) -> DeviceCredentials:
    """Ask the broker at ``path`` for this user's device (the agent's side)."""
    try:
        with _unix_socket() as conn:
            conn.settimeout(timeout)
            conn.connect(str(path))
            conn.sendall(encode_request(groups, os_name, agent_version))
            answer = _read_line(conn)
    except OSError as exc:
        raise SyncError("network", f"enroll broker {path}: {exc}") from exc
    return decode_answer(answer)


def machine_id() -> str:
    """This machine's id (Windows: MachineGuid; Linux: /etc/machine-id; else the hostname)."""
    if sys.platform == "win32":
        import winreg

        with (
            contextlib.suppress(OSError),
            winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, r"SOFTWARE\Microsoft\Cryptography") as key,
        ):
            return str(winreg.QueryValueEx(key, "MachineGuid")[0])
    for candidate in (Path("/etc/machine-id"), Path("/var/lib/dbus/machine-id")):
        with contextlib.suppress(OSError):
            text = candidate.read_text(encoding="ascii").strip()
            if text:
                return text
    return socket.gethostname()


def check_secret_file(path: Path) -> None:
    """Refuse a token or key file that anyone but its owner (root) may read or change."""
    info = path.stat()
    if info.st_mode & 0o077:
        raise PermissionError(f"{path} is open to other users (mode {info.st_mode & 0o777:o}); "
                              "chmod 600 it")  # fmt: skip
    if info.st_uid != getattr(os, "geteuid", lambda: info.st_uid)():
        raise PermissionError(f"{path} belongs to uid {info.st_uid}, not to this service")


def _read_line(conn: socket.socket) -> bytes:
    data = b""
    while b"\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
        if len(data) > MAX_LINE:
            raise ValueError("line too long")
    return data.split(b"\n", 1)[0]


def file_token(path: Path) -> Callable[[], str]:
    """The token source of the Linux and macOS brokers: a root-only file, read per request
    (so a rotated token is used at once)."""

    def read() -> str:
        check_secret_file(path)
        return path.read_text(encoding="utf-8").strip()

    return read


def load_key(path: Path) -> bytes:
    """The broker's own random key (made on first start, root-only)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(secrets.token_bytes(32))
    check_secret_file(path)
    return path.read_bytes()


class BrokerCore:
    """What every broker does once the OS has said who is calling."""

    def __init__(
        self,
        *,
        read_token: Callable[[], str],
        key: bytes,
        enroll: Enroller,
        machine: str | None = None,
    ) -> None:
        self._read_token = read_token
        self._key = key
        self._enroll = enroll
        self._machine = machine or machine_id()

    def enroll_user(self, user: str, request: BrokerRequest) -> dict[str, Any]:
        """Enroll ``user`` (a uid or a SID, as the OS said) and return its own credentials."""
        try:
            token = self._read_token()
        except OSError as exc:
            log.warning("enroll broker: cannot read the enrollment token: %s", exc)
            return {"error": "no_token", "message": "the broker has no usable enrollment token"}
        if not token:
            return {"error": "no_token", "message": "the broker has no enrollment token"}
        installation = broker_installation_id(self._key, self._machine, user)
        try:
            got = self._enroll(token, installation, request.groups, request.os,
                               request.agent_version)  # fmt: skip
        except SyncError as exc:
            log.warning("enroll broker: the server refused an enrollment (%s)", exc.kind)
            answer: dict[str, Any] = {"error": exc.kind, "message": str(exc)}
            if exc.retry_after is not None:
                answer["retry_after"] = exc.retry_after
            return answer
        log.info("enroll broker: enrolled user %s as device %s", user, got.device_id)
        return {"device_id": got.device_id, "device_secret": got.secret}


class EnrollBroker(BrokerCore):
    """The root side on a UNIX socket: one request per connection, the caller by uid."""

    def __init__(
        self,
        socket_path: Path,
        *,
        read_token: Callable[[], str],
        key: bytes,
        enroll: Enroller,
        machine: str | None = None,
    ) -> None:
        super().__init__(read_token=read_token, key=key, enroll=enroll, machine=machine)
        self.socket_path = socket_path
        self._stop = threading.Event()
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Listen (any local user may connect: the kernel says who they are)."""
        self.socket_path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()
        sock = _unix_socket()
        sock.bind(str(self.socket_path))
        os.chmod(self.socket_path, 0o666)
        sock.listen(16)
        sock.settimeout(0.5)
        self._sock = sock
        self._thread = threading.Thread(target=self._serve, name="enroll-broker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)
        if self._sock is not None:
            self._sock.close()
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()

    def wait(self) -> None:
        """Block until :meth:`stop` (the service's main thread)."""
        self._stop.wait()

    def _serve(self) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(10.0)
                try:
                    conn.sendall(encode_answer(self.answer(conn)))
                except OSError as exc:
                    log.info("enroll broker: a caller went away (%s)", exc)

    def answer(self, conn: socket.socket) -> dict[str, Any]:
        """The answer to one connection (its caller from the kernel, never from the request)."""
        try:
            uid = peer_uid(conn)
            request = decode_request(_read_line(conn))
        except (OSError, ValueError) as exc:
            return {"error": "bad_request", "message": str(exc)}
        return self.enroll_user(str(uid), request)
