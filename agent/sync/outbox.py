"""The telemetry outbox: records wait here, on disk, until the server has them.

SQLite in WAL mode.  Appends are buffered and committed in batches at most
``max_delay`` seconds apart (or every ``batch_size`` records), so a crash or
``kill -9`` loses at most the last second while appends stay cheap.  Sending
follows a transaction shape (Telegraf's buffer): :meth:`take` a batch,
then :meth:`accept` or :meth:`reject` its ids; nothing is removed before the
server confirms it.  Only the fields of the wire table
(:data:`agent.rules.records.WIRE_FIELDS`) are stored — no titles, typed text or
positions exist to store.  A file written before a field was added gains its
column when it is opened.

Faults (the disk is full, an I/O error, a damaged file):

* a damaged file is set aside at open and a fresh one started
  (:func:`agent.storage.open_sqlite`);
* when a commit fails, its records go back to the front of the buffer and
  nothing is raised; the next commit waits with back-off.  The buffer holds at
  most ``max_buffered`` records: beyond that the oldest are dropped and
  counted (:attr:`Outbox.dropped`), and only those are ever lost.  Marks of
  sent/rejected records and the deletion of withdrawn ones wait in memory the
  same way (a record the server has but the file does not know yet is sent
  again and answered ``duplicate``);
* the WAL stays small: ``journal_size_limit`` and automatic checkpoints
  (agent/storage.py), and a truncating checkpoint after old records are purged.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from operator import attrgetter
from pathlib import Path
from typing import Final

from agent.rules.records import (
    RECORD_FIELDS,
    UUID_FIELD,
    WIRE_FIELDS,
    Record,
    WireField,
    WireRecord,
)
from agent.storage import SqliteFile, WrongShape

__all__ = ["MAX_BUFFERED", "Outbox"]

log = logging.getLogger(__name__)

_SQLITE_TYPES: Final = {str: "TEXT", int: "INTEGER", float: "REAL"}
#: Records kept in memory while the file cannot be written; beyond this the oldest go.
MAX_BUFFERED: Final = 10_000


def _column(f: WireField) -> str:
    if f is UUID_FIELD:
        return f"{f.name} TEXT PRIMARY KEY"
    return f"{f.name} {_SQLITE_TYPES[f.python_type]}" + (" NOT NULL" if f.required else "")


#: The record columns come from the wire table; the rest is the outbox's own bookkeeping.
_SCHEMA: Final = f"""
CREATE TABLE IF NOT EXISTS outbox (
    {", ".join(_column(f) for f in WIRE_FIELDS)},
    state INTEGER NOT NULL DEFAULT 0,      -- 0 pending, 1 sent, 2 rejected
    sent_at REAL,
    note TEXT
);
CREATE INDEX IF NOT EXISTS outbox_state_t ON outbox(state, t);
"""

_COLUMNS: Final = ", ".join(f.name for f in WIRE_FIELDS)
_INSERT: Final = (
    f"INSERT OR IGNORE INTO outbox ({_COLUMNS}) VALUES ({', '.join('?' for _ in WIRE_FIELDS)})"
)
_record_values: Final = attrgetter(*(f.name for f in RECORD_FIELDS))

PENDING: Final = 0
SENT: Final = 1
REJECTED: Final = 2

_Mark = tuple[int, float, str | None]


def _time_ordered_uuid() -> str:
    """A UUID whose first 48 bits are the time in milliseconds and the other 74 random
    (the layout of RFC 9562's version 7).  Records then go to the right edge of the
    primary-key index, so a batch dirties a few pages instead of one per record (random
    version-4 UUIDs made a batch of 512 write ~2 MiB of WAL).  The time is no news: a
    record carries its time anyway."""
    millis = time.time_ns() // 1_000_000 & _MASK_48
    rand = int.from_bytes(os.urandom(10), "big")
    value = (
        millis << 80
        | 0x7 << 76
        | (rand >> 62 & 0xFFF) << 64
        | 0b10 << 62
        | rand & _MASK_62
    )  # fmt: skip
    return str(uuid.UUID(int=value))


_MASK_48: Final = (1 << 48) - 1
_MASK_62: Final = (1 << 62) - 1


def _prepare(db: sqlite3.Connection) -> None:
    known = {str(row[1]) for row in db.execute("PRAGMA table_info(outbox)")}
    if known and not {UUID_FIELD.name, "state"} <= known:
        raise WrongShape("its outbox table is not one the agent wrote")
    db.executescript(_SCHEMA)
    _add_missing_columns(db)
    # A table of other columns fails here, and the file is set aside.
    db.execute(f"SELECT {_COLUMNS}, state, sent_at, note FROM outbox LIMIT 1").fetchall()


def _add_missing_columns(db: sqlite3.Connection) -> None:
    """Add the columns of fields declared after this file was created."""
    known = {str(row[1]) for row in db.execute("PRAGMA table_info(outbox)")}
    for f in WIRE_FIELDS:
        if f.name not in known:
            # Nullable even for a required field: the rows already here have no value.
            db.execute(f"ALTER TABLE outbox ADD COLUMN {f.name} {_SQLITE_TYPES[f.python_type]}")


class Outbox:
    """Durable, batched store of telemetry records. Safe to use from several threads."""

    def __init__(
        self,
        path: Path | str,
        *,
        batch_size: int = 512,
        max_delay: float = 0.5,
        max_buffered: int = MAX_BUFFERED,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = Path(path)
        self._batch_size = batch_size
        self._max_delay = max_delay
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._buffer: deque[tuple[object, ...]] = deque(maxlen=max_buffered)
        self._first_buffered = 0.0
        #: Sent/rejected marks not written yet, by UUID.
        self._marks: dict[str, _Mark] = {}
        #: The pending rows on disk are to be deleted (consent withdrawn) once the file allows.
        self._discard_on_disk = False
        #: Records dropped, oldest first, because the buffer was full while the file was not
        #: writable (the only records the outbox ever loses).
        self.dropped = 0
        self._dropped_reported = 0
        self._file = SqliteFile(
            self.path,
            _prepare,
            meanwhile=f"records are kept in memory (at most {max_buffered}, then the oldest "
            "are dropped) and written once it works",
            monotonic=monotonic,
        )

    # -- writing (engine thread) --------------------------------------------

    def append(self, record: Record) -> str:
        """Buffer ``record``; returns its UUID. Commits when the batch is due."""
        rid = _time_ordered_uuid()
        row = (rid, *_record_values(record))
        with self._lock:
            buffer = self._buffer
            if not buffer:
                self._first_buffered = self._monotonic()
            elif len(buffer) == buffer.maxlen:
                self.dropped += 1  # the deque lets the oldest go
            buffer.append(row)
            if len(buffer) >= self._batch_size:
                self._commit_locked(force=False)
        return rid

    def flush_if_due(self) -> None:
        """Commit the buffer if its oldest record waited ``max_delay`` seconds."""
        with self._lock:
            waited = self._monotonic() - self._first_buffered
            if self._has_unwritten() and waited >= self._max_delay:
                self._commit_locked(force=False)

    def flush(self) -> bool:
        """Commit everything buffered now; False when the file cannot be written (kept)."""
        with self._lock:
            return self._commit_locked(force=True)

    # -- sending (sync thread) ----------------------------------------------

    def take(self, limit: int = 500) -> list[WireRecord]:
        """The oldest pending records, without removing them."""
        with self._lock:
            self._commit_locked(force=False)
        return self._select(PENDING, limit, "ASC")

    def accept(self, uuids: Iterable[str], now: float | None = None) -> None:
        """The server has these (``ok`` or ``duplicate``): mark them sent."""
        self._mark(uuids, SENT, now, None)

    def reject(self, uuids: Iterable[str], why: str, now: float | None = None) -> None:
        """The server refused these for good: keep them out of the queue, with why."""
        self._mark(uuids, REJECTED, now, why)

    def purge_sent(self, older_than: float) -> int:
        """Delete sent/rejected records whose send time is before ``older_than``."""
        deleted = 0

        def purge(db: sqlite3.Connection) -> None:
            nonlocal deleted
            cur = db.execute(
                "DELETE FROM outbox WHERE state != ? AND sent_at < ?", (PENDING, older_than)
            )
            deleted = cur.rowcount

        with self._lock:
            # A clean-up: while the file cannot be written it waits for the next round.
            if not self._file.failing and self._file.write(purge) and deleted:
                self._checkpoint()
            return deleted

    def discard_pending(self) -> int:
        """Delete every record not yet sent (the person withdrew consent)."""
        with self._lock:
            dropped = len(self._buffer) + self._count_on_disk()
            self._buffer.clear()
            self._discard_on_disk = True
            self._commit_locked(force=True)
            return dropped

    # -- reading (UI) ----------------------------------------------------------

    def pending(self, limit: int = 200) -> list[WireRecord]:
        """Records waiting to be sent, newest first (for the Privacy page)."""
        with self._lock:
            self._commit_locked(force=False)
        return self._select(PENDING, limit, "DESC")

    def recent_sent(self, limit: int = 200) -> list[WireRecord]:
        """Records the server confirmed, newest first."""
        return self._select(SENT, limit, "DESC")

    def count_pending(self) -> int:
        with self._lock:
            return self._count_on_disk() + len(self._buffer)

    @property
    def buffered(self) -> int:
        """Records in memory, not yet in the file."""
        with self._lock:
            return len(self._buffer)

    def close(self) -> None:
        """Commit what is buffered and close the file."""
        with self._lock:
            self._commit_locked(force=True)
            if self._has_unwritten():
                log.warning("%d record(s) could not be written to %s and are lost",
                            len(self._buffer), self.path)  # fmt: skip
            self._file.close()

    # -- internals ---------------------------------------------------------------

    def _has_unwritten(self) -> bool:
        return bool(self._buffer or self._marks or self._discard_on_disk)

    def _commit_locked(self, *, force: bool) -> bool:
        """Write the buffer, the marks and a withdrawal in one transaction.

        On failure everything stays in memory and the next try waits (unless
        ``force``); nothing is raised.  Returns True when nothing is left unwritten.
        """
        if not self._has_unwritten():
            return True
        rows = list(self._buffer)
        marks = list(self._marks.items())
        discard = self._discard_on_disk

        def write(db: sqlite3.Connection) -> None:
            if discard:
                db.execute("DELETE FROM outbox WHERE state = ?", (PENDING,))
            if marks:
                db.executemany(
                    "UPDATE outbox SET state = ?, sent_at = ?, note = ? WHERE uuid = ?",
                    [(*mark, u) for u, mark in marks],
                )
            if rows:
                db.executemany(_INSERT, rows)

        recovering = self._file.failing
        if not self._file.write(write, force=force):
            return False
        # The lock is held throughout: what was read above is exactly what was written.
        self._buffer.clear()
        self._marks.clear()
        self._discard_on_disk = False
        if recovering:
            lost = self.dropped - self._dropped_reported
            self._dropped_reported = self.dropped
            log.info("%s can be written again: %d record(s) kept in memory were saved, %d "
                     "dropped", self.path, len(rows), lost)  # fmt: skip
            self._checkpoint()
        return True

    def _checkpoint(self) -> None:
        """Fold the WAL into the file and cut it to nothing (if no reader is in the way)."""
        if self._file.db is not None:
            try:
                self._file.db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
            except sqlite3.Error as exc:
                log.debug("checkpoint of %s failed: %s", self.path, exc)

    def _count_on_disk(self) -> int:
        db = self._file.reader()
        if db is None or self._discard_on_disk:
            return 0
        try:
            row = db.execute("SELECT COUNT(*) FROM outbox WHERE state = ?", (PENDING,)).fetchone()
        except sqlite3.Error:
            return 0
        waiting = sum(1 for mark in self._marks.values() if mark[0] != PENDING)
        return max(0, int(row[0]) - waiting)

    def _select(self, state: int, limit: int, order: str) -> list[WireRecord]:
        with self._lock:
            db = self._file.reader()
            if db is None or (state == PENDING and self._discard_on_disk):
                return []
            marks = self._marks
            try:
                cur = db.execute(
                    f"SELECT {_COLUMNS} FROM outbox WHERE state = ? "
                    f"ORDER BY t {order}, rowid {order} LIMIT ?",
                    (state, limit + len(marks)),
                )
                found = cur.fetchall()
            except sqlite3.Error as exc:
                log.info("cannot read %s: %s", self.path, exc)
                return []
        # The UUID leads in the columns; the record's fields follow in their order.
        rows = [WireRecord(*row[1:], uuid=row[0]) for row in found if row[0] not in marks]
        return rows[:limit]

    def _mark(self, uuids: Iterable[str], state: int, now: float | None, note: str | None) -> None:
        when = time.time() if now is None else now
        with self._lock:
            for u in uuids:
                self._marks[u] = (state, when, note)
            self._commit_locked(force=False)
