"""The enrollment broker on Windows: a named pipe served as SYSTEM, the caller by its SID.

The MSI writes the enrollment token to ``HKLM\\SOFTWARE\\Waymark\\Enrollment``
(value ``Token``), a key whose ACL lets only SYSTEM and Administrators read it
(installers/windows/msi.py).  The ``Waymark enrollment broker`` (``waymark
broker``, a scheduled task or service running as SYSTEM) serves
``\\\\.\\pipe\\waymark-enroll``; for each connection it impersonates the caller
(``ImpersonateNamedPipeClient``), reads the user SID from the thread token
(``OpenThreadToken`` + ``GetTokenInformation(TokenUser)``), reverts, and
enrolls that user with the installation id ``HMAC(broker key, machine
GUID ":" SID)`` (:class:`agent.sync.broker.BrokerCore`).  The pipe refuses
remote clients (``PIPE_REJECT_REMOTE_CLIENTS``).

The native calls are thin; what reads their bytes (a SID, a ``TOKEN_USER``)
is pure and unit-tested on every OS.  The native part is tested on Windows by
tests/native/windows/test_enroll_broker_windows.py.
"""

from __future__ import annotations

import struct
import sys
from collections.abc import Sequence
from typing import Any, Final

from agent.sync.broker import (
    MAX_LINE,
    BrokerCore,
    decode_answer,
    decode_request,
    encode_answer,
    encode_request,
)
from agent.sync.client import DeviceCredentials, SyncError

__all__ = [
    "PIPE_NAME",
    "TOKEN_KEY",
    "TOKEN_VALUE",
    "PipeBroker",
    "enroll_via_pipe",
    "pipe_exists",
    "registry_key",
    "registry_token",
    "sid_from_token_user",
    "sid_to_string",
]

PIPE_NAME: Final = r"\\.\pipe\waymark-enroll"
#: Where the MSI puts the token (HKLM; SYSTEM and Administrators only).
TOKEN_KEY: Final = r"SOFTWARE\Waymark\Enrollment"
TOKEN_VALUE: Final = "Token"
#: SDDL of the pipe: SYSTEM full control, interactive and authenticated users read/write.
PIPE_SDDL: Final = "D:(A;;GA;;;SY)(A;;GRGW;;;AU)"

_ERROR_FILE_NOT_FOUND: Final = 2
_ERROR_PIPE_CONNECTED: Final = 535
_PIPE_ACCESS_DUPLEX: Final = 0x3
#: PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT (all 0) | PIPE_REJECT_REMOTE_CLIENTS.
_PIPE_TYPE_BYTE_WAIT_REJECT_REMOTE: Final = 0x8
_TOKEN_QUERY: Final = 0x8
_TOKEN_USER_CLASS: Final = 1


def sid_to_string(sid: bytes) -> str:
    """``S-1-5-21-…`` from a binary SID (revision, count, 48-bit authority, sub-authorities)."""
    if len(sid) < 8:
        raise ValueError("a SID has at least 8 bytes")
    revision, count = sid[0], sid[1]
    if revision != 1 or count > 15 or len(sid) < 8 + 4 * count:
        raise ValueError("not a SID (revision 1, at most 15 sub-authorities)")
    authority = int.from_bytes(sid[2:8], "big")
    subs = struct.unpack_from(f"<{count}I", sid, 8)
    return "-".join(["S", str(revision), str(authority), *(str(s) for s in subs)])


def sid_from_token_user(buffer: bytes, address: int, pointer_size: int) -> bytes:
    """The SID inside a ``TOKEN_USER`` that ``GetTokenInformation`` wrote at ``address``.

    ``TOKEN_USER`` is ``{PSID Sid; DWORD Attributes}``; the SID itself lies in the
    same buffer, further on, and ``Sid`` points at it.
    """
    if pointer_size not in (4, 8) or len(buffer) < pointer_size + 4:
        raise ValueError("TOKEN_USER buffer too short")
    (pointer,) = struct.unpack_from("<Q" if pointer_size == 8 else "<I", buffer, 0)
    offset = pointer - address
    if not pointer_size <= offset <= len(buffer) - 8:
        raise ValueError("the SID pointer is outside the TOKEN_USER buffer")
    count = buffer[offset + 1]
    end = offset + 8 + 4 * count
    if end > len(buffer):
        raise ValueError("the SID runs past the TOKEN_USER buffer")
    return buffer[offset:end]


if sys.platform == "win32":

    def pipe_exists(name: str = PIPE_NAME) -> bool:
        """Whether a broker serves ``name`` here."""
        import ctypes

        kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
        if kernel32.WaitNamedPipeW(name, 1):
            return True
        return bool(ctypes.get_last_error() != _ERROR_FILE_NOT_FOUND)

    def enroll_via_pipe(
        name: str, groups: Sequence[str], os_name: str, agent_version: str
    ) -> DeviceCredentials:
        """Ask the broker on the pipe for this user's device (the agent's side)."""
        try:
            with open(name, "r+b", buffering=0) as pipe:
                pipe.write(encode_request(groups, os_name, agent_version))
                answer = pipe.read(MAX_LINE)
        except OSError as exc:
            raise SyncError("network", f"enroll broker {name}: {exc}") from exc
        return decode_answer(answer.split(b"\n", 1)[0])

    def registry_token() -> str:
        """The token the MSI stored (readable by SYSTEM and Administrators only)."""
        import winreg

        with winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, TOKEN_KEY) as key:
            value, _kind = winreg.QueryValueEx(key, TOKEN_VALUE)
        return str(value).strip()

    def registry_key() -> bytes:
        """The broker's random key beside the token (made on first start, as SYSTEM)."""
        import secrets
        import winreg

        with winreg.CreateKeyEx(
            winreg.HKEY_LOCAL_MACHINE, TOKEN_KEY, 0, winreg.KEY_READ | winreg.KEY_WRITE
        ) as key:
            try:
                value, _kind = winreg.QueryValueEx(key, "BrokerKey")
                if isinstance(value, bytes) and len(value) >= 16:
                    return value
            except FileNotFoundError:
                pass
            fresh = secrets.token_bytes(32)
            winreg.SetValueEx(key, "BrokerKey", 0, winreg.REG_BINARY, fresh)
            return fresh

    class PipeBroker(BrokerCore):
        """Serves one connection at a time on the named pipe (run as SYSTEM)."""

        def serve_forever(self, name: str = PIPE_NAME) -> None:
            while True:
                self.serve_one(name)

        def serve_one(self, name: str = PIPE_NAME) -> None:
            import ctypes
            from ctypes import wintypes

            kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
            advapi32 = ctypes.WinDLL("advapi32", use_last_error=True)
            kernel32.CreateNamedPipeW.restype = wintypes.HANDLE
            security = _security_attributes(advapi32)
            pipe = kernel32.CreateNamedPipeW(
                name, _PIPE_ACCESS_DUPLEX, _PIPE_TYPE_BYTE_WAIT_REJECT_REMOTE, 255,
                MAX_LINE, MAX_LINE, 0, ctypes.byref(security),
            )  # fmt: skip
            if pipe in (None, wintypes.HANDLE(-1).value):
                raise ctypes.WinError(ctypes.get_last_error())
            try:
                connected = kernel32.ConnectNamedPipe(pipe, None)
                if not connected and ctypes.get_last_error() != _ERROR_PIPE_CONNECTED:
                    raise ctypes.WinError(ctypes.get_last_error())
                line = _read_pipe(kernel32, pipe)
                try:
                    user = _client_sid(kernel32, advapi32, pipe)
                    answer: dict[str, Any] = self.enroll_user(user, decode_request(line))
                except (OSError, ValueError) as exc:
                    answer = {"error": "bad_request", "message": str(exc)}
                data = encode_answer(answer)
                written = wintypes.DWORD()
                kernel32.WriteFile(pipe, data, len(data), ctypes.byref(written), None)
                kernel32.FlushFileBuffers(pipe)
                kernel32.DisconnectNamedPipe(pipe)
            finally:
                kernel32.CloseHandle(pipe)

    def _security_attributes(advapi32: Any) -> Any:
        import ctypes
        from ctypes import wintypes

        class SecurityAttributes(ctypes.Structure):
            _fields_ = [
                ("nLength", wintypes.DWORD),
                ("lpSecurityDescriptor", wintypes.LPVOID),
                ("bInheritHandle", wintypes.BOOL),
            ]

        descriptor = wintypes.LPVOID()
        if not advapi32.ConvertStringSecurityDescriptorToSecurityDescriptorW(
            PIPE_SDDL, 1, ctypes.byref(descriptor), None
        ):
            raise ctypes.WinError(ctypes.get_last_error())
        return SecurityAttributes(ctypes.sizeof(SecurityAttributes), descriptor, False)

    def _read_pipe(kernel32: Any, pipe: Any) -> bytes:
        import ctypes
        from ctypes import wintypes

        buffer = ctypes.create_string_buffer(MAX_LINE)
        got = wintypes.DWORD()
        if not kernel32.ReadFile(pipe, buffer, MAX_LINE, ctypes.byref(got), None):
            raise ctypes.WinError(ctypes.get_last_error())
        return buffer.raw[: got.value].split(b"\n", 1)[0]

    def _client_sid(kernel32: Any, advapi32: Any, pipe: Any) -> str:
        """The calling user's SID: impersonate, read the thread token's user, revert."""
        import ctypes
        from ctypes import wintypes

        if not advapi32.ImpersonateNamedPipeClient(pipe):
            raise ctypes.WinError(ctypes.get_last_error())
        try:
            token = wintypes.HANDLE()
            kernel32.GetCurrentThread.restype = wintypes.HANDLE
            if not advapi32.OpenThreadToken(
                kernel32.GetCurrentThread(), _TOKEN_QUERY, True, ctypes.byref(token)
            ):
                raise ctypes.WinError(ctypes.get_last_error())
            try:
                size = wintypes.DWORD()
                advapi32.GetTokenInformation(token, _TOKEN_USER_CLASS, None, 0, ctypes.byref(size))
                buffer = ctypes.create_string_buffer(size.value)
                if not advapi32.GetTokenInformation(
                    token, _TOKEN_USER_CLASS, buffer, size, ctypes.byref(size)
                ):
                    raise ctypes.WinError(ctypes.get_last_error())
                sid = sid_from_token_user(
                    buffer.raw, ctypes.addressof(buffer), ctypes.sizeof(ctypes.c_void_p)
                )
            finally:
                kernel32.CloseHandle(token)
        finally:
            advapi32.RevertToSelf()
        return sid_to_string(sid)

else:

    def pipe_exists(name: str = PIPE_NAME) -> bool:
        """Whether a broker serves ``name`` here (never, off Windows)."""
        return False

    def enroll_via_pipe(
        name: str, groups: Sequence[str], os_name: str, agent_version: str
    ) -> DeviceCredentials:
        raise SyncError("network", "the enrollment pipe is Windows only")

    def registry_token() -> str:
        raise OSError("the registry token is Windows only")

    def registry_key() -> bytes:
        raise OSError("the registry key is Windows only")

    class PipeBroker(BrokerCore):
        """Windows only."""

        def serve_forever(self, name: str = PIPE_NAME) -> None:
            raise OSError("named pipes are Windows only")
