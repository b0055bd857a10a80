"""Where log records go besides agent.log: the systemd journal and the Windows Event Log.

``waymark run --log-journal`` (the systemd user unit passes it) sends every
record to the journal in journald's native protocol: one datagram of
``FIELD=value`` lines to /run/systemd/journal/socket, or a sealed memfd passed
over that socket when a record is too big for a datagram.  It is a few lines
of socket code, so the frozen agent needs no libsystemd binding.  On Windows,
errors also go to the Application log under the source ``Waymark``
(``ReportEventW``), where an admin's event collection finds them.

A sink that cannot deliver a record drops it and counts it (``dropped``): a
log sink never raises into the code that logged, and never prints a
traceback.  The encoding and the choice of fields are plain functions, tested
without a journal or Windows; the ctypes layer is only the calls.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import stat
import sys
from collections.abc import Iterable, Sequence
from typing import Final, Protocol

__all__ = [
    "EVENT_LOG_SOURCE",
    "JOURNAL_SOCKET",
    "EventLogApi",
    "EventLogHandler",
    "JournalHandler",
    "encode_journal",
    "event_id",
    "event_strings",
    "event_type",
    "journal_available",
    "journal_fields",
    "journal_socket_path",
    "log_sinks",
    "syslog_priority",
]

#: journald's native socket; ``WAYMARK_JOURNAL_SOCKET`` points elsewhere (tests).
JOURNAL_SOCKET: Final = "/run/systemd/journal/socket"
#: What ``journalctl -t`` (SYSLOG_IDENTIFIER) and the Event Log (source) call the agent.
JOURNAL_IDENTIFIER: Final = "waymark"
EVENT_LOG_SOURCE: Final = "Waymark"


def journal_socket_path() -> str:
    """The journal socket this process sends to."""
    return os.environ.get("WAYMARK_JOURNAL_SOCKET") or JOURNAL_SOCKET


def journal_available(path: str | None = None) -> bool:
    """True when a journald (or anything) listens as a socket at ``path``."""
    try:
        return stat.S_ISSOCK(os.stat(path or journal_socket_path()).st_mode)
    except OSError:
        return False


def syslog_priority(levelno: int) -> int:
    """The journal's PRIORITY (syslog levels: 2 crit, 3 err, 4 warning, 6 info, 7 debug)."""
    if levelno >= logging.CRITICAL:
        return 2
    if levelno >= logging.ERROR:
        return 3
    if levelno >= logging.WARNING:
        return 4
    if levelno >= logging.INFO:
        return 6
    return 7


def journal_fields(
    record: logging.LogRecord, message: str, identifier: str = JOURNAL_IDENTIFIER
) -> list[tuple[str, str]]:
    """The journal fields of one record; ``message`` is the formatted text (with any traceback).

    journald adds the process, user, unit and time fields itself (``_PID``,
    ``_SYSTEMD_USER_UNIT`` …): only what it cannot know is sent.
    """
    fields = [
        ("MESSAGE", message),
        ("PRIORITY", str(syslog_priority(record.levelno))),
        ("SYSLOG_IDENTIFIER", identifier),
        ("LOGGER", record.name),
        ("CODE_FILE", record.pathname),
        ("CODE_LINE", str(record.lineno)),
        ("CODE_FUNC", record.funcName or ""),
        ("THREAD_NAME", record.threadName or ""),
    ]
    if record.exc_info and record.exc_info[0] is not None:
        fields.append(("EXCEPTION", record.exc_info[0].__name__))
    return fields


def encode_journal(fields: Iterable[tuple[str, str]]) -> bytes:
    """journald's native datagram: ``KEY=value\\n``, or for a value with a newline
    ``KEY\\n`` + its length (64-bit little-endian) + the value + ``\\n``."""
    out = bytearray()
    for key, value in fields:
        name = key.encode("ascii")
        data = value.encode("utf-8", "replace")
        if b"\n" in data:
            out += name + b"\n" + len(data).to_bytes(8, "little") + data + b"\n"
        else:
            out += name + b"=" + data + b"\n"
    return bytes(out)


class JournalHandler(logging.Handler):
    """Sends each record to the systemd journal (``journalctl --user -t waymark``)."""

    def __init__(self, path: str | None = None, identifier: str = JOURNAL_IDENTIFIER) -> None:
        super().__init__()
        self.path = path or journal_socket_path()
        self.identifier = identifier
        #: Records the journal did not take (not running, full, too slow).
        self.dropped = 0
        self._sock = _unix_datagram_socket()
        self.setFormatter(logging.Formatter("%(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            payload = encode_journal(journal_fields(record, self.format(record), self.identifier))
            self._send(payload)
        except Exception:  # never into the caller: a lost journal line is only counted
            self.dropped += 1

    def _send(self, payload: bytes) -> None:
        try:
            self._sock.sendto(payload, self.path)
        except OSError as exc:
            if exc.errno not in (errno.EMSGSIZE, errno.ENOBUFS):
                raise
            _send_memfd(self._sock, self.path, payload)  # bigger than a datagram may be

    def close(self) -> None:
        self._sock.close()
        super().close()


if sys.platform == "win32":

    def _unix_datagram_socket() -> socket.socket:
        raise OSError("the systemd journal exists only on Linux")

else:

    def _unix_datagram_socket() -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.setblocking(False)  # a stalled journald must not stall the thread that logs
        return sock


if sys.platform == "linux":

    def _send_memfd(sock: socket.socket, path: str, payload: bytes) -> None:
        """Send a record too big for one datagram: a sealed memfd, passed as SCM_RIGHTS."""
        import array
        import fcntl

        fd = os.memfd_create("waymark-journal", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        try:
            view = memoryview(payload)
            while view:
                view = view[os.write(fd, view) :]
            # journald takes a memfd only once nobody can change it any more.
            seals = fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE | fcntl.F_SEAL_SEAL
            fcntl.fcntl(fd, fcntl.F_ADD_SEALS, seals)
            rights = (socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fd]).tobytes())
            sock.sendmsg([], [rights], 0, path)
        finally:
            os.close(fd)

else:

    def _send_memfd(sock: socket.socket, path: str, payload: bytes) -> None:
        raise OSError("a record too big for one datagram needs a memfd (Linux)")


# -- the Windows Event Log -------------------------------------------------------------

EVENTLOG_ERROR_TYPE: Final = 0x0001
EVENTLOG_WARNING_TYPE: Final = 0x0002
EVENTLOG_INFORMATION_TYPE: Final = 0x0004
#: ReportEventW takes at most this many characters in one insertion string.
EVENT_STRING_MAX: Final = 31_839
_TRUNCATED: Final = "\n… (cut short; the whole record is in agent.log)"


def event_type(levelno: int) -> int:
    """The Event Log entry type of a logging level."""
    if levelno >= logging.ERROR:
        return EVENTLOG_ERROR_TYPE
    if levelno >= logging.WARNING:
        return EVENTLOG_WARNING_TYPE
    return EVENTLOG_INFORMATION_TYPE


def event_id(levelno: int) -> int:
    """Event ids an admin can filter on: 1000 error (and critical), 2000 warning, 3000 other."""
    if levelno >= logging.ERROR:
        return 1000
    if levelno >= logging.WARNING:
        return 2000
    return 3000


def event_strings(record: logging.LogRecord, message: str) -> list[str]:
    """The one insertion string of an entry: the logger and the text, cut to what fits."""
    text = f"{record.name}: {message}".replace("\x00", "")
    if len(text) > EVENT_STRING_MAX:
        text = text[: EVENT_STRING_MAX - len(_TRUNCATED)] + _TRUNCATED
    return [text]


class EventLogApi(Protocol):
    """The three advapi32 calls the handler makes (a recorder stands in off Windows)."""

    def register(self, source: str) -> int:
        """RegisterEventSourceW: a handle, or 0."""
        ...

    def report(self, handle: int, kind: int, event: int, strings: Sequence[str]) -> bool:
        """ReportEventW: True when the entry was written."""
        ...

    def deregister(self, handle: int) -> None:
        """DeregisterEventSource."""
        ...


class EventLogHandler(logging.Handler):
    """Writes records (by default errors only) to the Application log as ``Waymark``.

    Without the source registered (the MSI registers it) Windows still keeps the
    entry; Event Viewer then prefixes "The description … cannot be found" to it.
    """

    def __init__(
        self,
        source: str = EVENT_LOG_SOURCE,
        level: int = logging.ERROR,
        api: EventLogApi | None = None,
    ) -> None:
        super().__init__(level)
        self.api = api if api is not None else _win32_event_log()
        self.source = source
        self.dropped = 0
        self._handle = self.api.register(source)
        if not self._handle:
            raise OSError(f"RegisterEventSourceW({source!r}) failed")
        self.setFormatter(logging.Formatter("%(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            strings = event_strings(record, self.format(record))
            kind, number = event_type(record.levelno), event_id(record.levelno)
            if not self.api.report(self._handle, kind, number, strings):
                raise OSError("ReportEventW failed")
        except Exception:  # the Event Log is a copy: a lost entry is only counted
            self.dropped += 1

    def close(self) -> None:
        if self._handle:
            self.api.deregister(self._handle)
            self._handle = 0
        super().close()


if sys.platform == "win32":

    def _win32_event_log() -> EventLogApi:
        import ctypes
        from ctypes import wintypes

        advapi32 = ctypes.WinDLL("advapi32", use_last_error=True)
        register = advapi32.RegisterEventSourceW
        register.argtypes = [wintypes.LPCWSTR, wintypes.LPCWSTR]
        register.restype = wintypes.HANDLE
        report = advapi32.ReportEventW
        report.argtypes = [
            wintypes.HANDLE, wintypes.WORD, wintypes.WORD, wintypes.DWORD, wintypes.LPVOID,
            wintypes.WORD, wintypes.DWORD, ctypes.POINTER(wintypes.LPCWSTR), wintypes.LPVOID,
        ]  # fmt: skip
        report.restype = wintypes.BOOL
        deregister = advapi32.DeregisterEventSource
        deregister.argtypes = [wintypes.HANDLE]
        deregister.restype = wintypes.BOOL

        class Win32EventLog:
            def register(self, source: str) -> int:
                return int(register(None, source) or 0)

            def report(self, handle: int, kind: int, event: int, strings: Sequence[str]) -> bool:
                array = (wintypes.LPCWSTR * len(strings))(*strings)
                return bool(report(handle, kind, 0, event, None, len(strings), 0, array, None))

            def deregister(self, handle: int) -> None:
                deregister(handle)

        return Win32EventLog()

else:

    def _win32_event_log() -> EventLogApi:
        raise OSError("the Windows Event Log exists only on Windows")


def log_sinks(platform: str, *, journal: bool) -> tuple[list[logging.Handler], list[str]]:
    """The extra handlers ``waymark run`` logs to here, and what could not be set up (to log)."""
    handlers: list[logging.Handler] = []
    problems: list[str] = []
    if journal:
        path = journal_socket_path()
        if platform != "linux":
            problems.append("--log-journal: the systemd journal exists only on Linux; ignored")
        elif not journal_available(path):
            problems.append(
                f"--log-journal: no systemd journal at {path}; logging to agent.log only"
            )
        else:
            handlers.append(JournalHandler(path))
    if platform == "win32":
        try:
            handlers.append(EventLogHandler())
        except OSError as exc:
            problems.append(
                f"the Windows Event Log is unavailable ({exc}); errors stay in agent.log"
            )
    return handlers, problems
