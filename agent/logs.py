"""Logging set-up: JSON lines in the log folder, short lines on stderr.

Hook callbacks never log (DESIGN.md); everything else logs through
``logging.getLogger(__name__)``.  The JSON file lets end-to-end tests and
support read what happened without parsing prose.

Logging never throws and never floods stderr with tracebacks when the disk
is full: a record that cannot be written is counted, and once the disk has
room again one line says how many were lost; half a line a full disk cut
short is removed, so the file stays one JSON object a line.  The log files
are 0600.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import logging.handlers
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent.storage import private_dir, private_file

__all__ = ["JsonFormatter", "LogFileHandler", "setup_logging"]


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message (and exception)."""

    def format(self, record: logging.LogRecord) -> str:
        data = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


def _private_opener(path: str, flags: int) -> int:
    return os.open(path, flags, 0o600)


class LogFileHandler(logging.handlers.RotatingFileHandler):
    """The rotating log file; a record it cannot write (a full disk) is counted, not raised."""

    def __init__(self, path: Path, max_bytes: int = 1 << 20, backups: int = 5) -> None:
        #: Records not written since the last one that was.
        self.lost = 0
        self._failed = False
        self._torn = False
        private_file(path)  # a file an older version made 0644
        super().__init__(path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8",
                         delay=True)  # fmt: skip
        try:
            self.stream = self._open()  # the file exists from the start, for support
        except OSError:
            self._torn = True  # no room even for an empty file: opened at a later record

    def _open(self) -> io.TextIOWrapper:
        stream = open(  # noqa: SIM115 - the handler owns and closes it
            self.baseFilename, "a", encoding=self.encoding, errors=self.errors,
            opener=_private_opener,
        )  # fmt: skip
        if self._torn:
            _cut_torn_line(self.baseFilename)
            self._torn = False
        return stream

    def emit(self, record: logging.LogRecord) -> None:
        if self.lost and not self._write(self._lost_note()):
            self.lost += 1
            return
        self.lost = 0
        if not self._write(record):
            self.lost += 1

    def _write(self, record: logging.LogRecord) -> bool:
        self._failed = False
        super().emit(record)  # errors come back through handleError
        return not self._failed

    def _lost_note(self) -> logging.LogRecord:
        return logging.LogRecord(
            "agent.logs", logging.WARNING, __file__, 0,
            "%d log record(s) could not be written (the disk was full or failing)",
            (self.lost,), None,
        )  # fmt: skip

    def handleError(self, record: logging.LogRecord) -> None:
        """Drop the stream (its buffer may hold half a line) and reopen it on the next record."""
        self._failed = True
        self._torn = True
        stream, self.stream = self.stream, None
        if stream is not None:
            with contextlib.suppress(Exception):
                stream.close()


def _cut_torn_line(path: str) -> None:
    """Remove half a line a full disk left at the end of the file (the record is counted
    lost), so that every line stays one JSON object."""
    with open(path, "rb+") as f:
        end = f.seek(0, os.SEEK_END)
        start = max(0, end - 65536)  # a record is far shorter than this
        f.seek(start)
        tail = f.read()
        if tail.endswith(b"\n") or not tail:
            return
        newline = tail.rfind(b"\n")
        f.truncate(start + newline + 1 if newline >= 0 else start)


class _StderrHandler(logging.StreamHandler[Any]):
    """Short lines on stderr; a closed or full stderr is not worth a traceback."""

    def handleError(self, record: logging.LogRecord) -> None:
        pass


def setup_logging(
    log_dir: Path, verbose: bool = False, extra_handlers: tuple[logging.Handler, ...] = ()
) -> Path:
    """Log to ``log_dir/agent.log`` (rotated, 5 × 1 MiB) and to stderr."""
    private_dir(log_dir)
    path = log_dir / "agent.log"
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for handler in list(root.handlers):
        if getattr(handler, "_waymark", False):
            root.removeHandler(handler)
    file_handler = LogFileHandler(path)
    file_handler.setFormatter(JsonFormatter())
    stderr_handler = _StderrHandler(sys.stderr)
    stderr_handler.setFormatter(logging.Formatter("waymark: %(levelname)s: %(message)s"))
    stderr_handler.setLevel(logging.DEBUG if verbose else logging.WARNING)
    # extra_handlers: the journal or the Event Log (agent/log_sinks.py), set up by the caller.
    ours: tuple[logging.Handler, ...] = (file_handler, stderr_handler, *extra_handlers)
    for handler in ours:
        setattr(handler, "_waymark", True)  # noqa: B010 - marks our own handlers
        root.addHandler(handler)
    return path
