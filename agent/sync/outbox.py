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
"""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
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

__all__ = ["Outbox"]

_SQLITE_TYPES: Final = {str: "TEXT", int: "INTEGER", float: "REAL"}


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


class Outbox:
    """Durable, batched store of telemetry records. Safe to use from several threads."""

    def __init__(
        self,
        path: Path | str,
        *,
        batch_size: int = 512,
        max_delay: float = 0.5,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = Path(path)
        self._batch_size = batch_size
        self._max_delay = max_delay
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._buffer: list[tuple[object, ...]] = []
        self._first_buffered = 0.0
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode survives a process kill (only an OS crash can lose
        # the last commits); FULL would cost an fsync per batch.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._add_missing_columns()

    # -- writing (engine thread) --------------------------------------------

    def append(self, record: Record) -> str:
        """Buffer ``record``; returns its UUID. Commits when the batch is due."""
        rid = str(uuid.uuid4())
        row = (rid, *_record_values(record))
        with self._lock:
            if not self._buffer:
                self._first_buffered = self._monotonic()
            self._buffer.append(row)
            if len(self._buffer) >= self._batch_size:
                self._commit_locked()
        return rid

    def flush_if_due(self) -> None:
        """Commit the buffer if its oldest record waited ``max_delay`` seconds."""
        with self._lock:
            if self._buffer and self._monotonic() - self._first_buffered >= self._max_delay:
                self._commit_locked()

    def flush(self) -> None:
        """Commit everything buffered now."""
        with self._lock:
            self._commit_locked()

    def _commit_locked(self) -> None:
        if not self._buffer:
            return
        rows, self._buffer = self._buffer, []
        self._db.execute("BEGIN")
        try:
            self._db.executemany(_INSERT, rows)
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            self._buffer[:0] = rows
            raise

    # -- sending (sync thread) ----------------------------------------------

    def take(self, limit: int = 500) -> list[WireRecord]:
        """The oldest pending records, without removing them."""
        self.flush()
        return self._select(PENDING, limit, "ASC")

    def accept(self, uuids: Iterable[str], now: float | None = None) -> None:
        """The server has these (``ok`` or ``duplicate``): mark them sent."""
        self._mark(uuids, SENT, now, None)

    def reject(self, uuids: Iterable[str], why: str, now: float | None = None) -> None:
        """The server refused these for good: keep them out of the queue, with why."""
        self._mark(uuids, REJECTED, now, why)

    def purge_sent(self, older_than: float) -> int:
        """Delete sent/rejected records whose send time is before ``older_than``."""
        with self._lock:
            cur = self._db.execute(
                "DELETE FROM outbox WHERE state != ? AND sent_at < ?", (PENDING, older_than)
            )
            return cur.rowcount

    def discard_pending(self) -> int:
        """Delete every record not yet sent (the person withdrew consent)."""
        with self._lock:
            dropped = len(self._buffer)
            self._buffer.clear()
            cur = self._db.execute("DELETE FROM outbox WHERE state = ?", (PENDING,))
            return dropped + cur.rowcount

    # -- reading (UI) ----------------------------------------------------------

    def pending(self, limit: int = 200) -> list[WireRecord]:
        """Records waiting to be sent, newest first (for the Privacy page)."""
        self.flush()
        return self._select(PENDING, limit, "DESC")

    def recent_sent(self, limit: int = 200) -> list[WireRecord]:
        """Records the server confirmed, newest first."""
        return self._select(SENT, limit, "DESC")

    def count_pending(self) -> int:
        with self._lock:
            row = self._db.execute(
                "SELECT COUNT(*) FROM outbox WHERE state = ?", (PENDING,)
            ).fetchone()
            return int(row[0]) + len(self._buffer)

    def close(self) -> None:
        """Commit what is buffered and close the file."""
        with self._lock:
            self._commit_locked()
            self._db.close()

    # -- internals ---------------------------------------------------------------

    def _select(self, state: int, limit: int, order: str) -> list[WireRecord]:
        with self._lock:
            cur = self._db.execute(
                f"SELECT {_COLUMNS} FROM outbox WHERE state = ? ORDER BY t {order}, rowid {order} "
                "LIMIT ?",
                (state, limit),
            )
            # The UUID leads in the columns; the record's fields follow in their order.
            return [WireRecord(*row[1:], uuid=row[0]) for row in cur.fetchall()]

    def _add_missing_columns(self) -> None:
        """Add the columns of fields declared after this file was created."""
        known = {str(row[1]) for row in self._db.execute("PRAGMA table_info(outbox)")}
        for f in WIRE_FIELDS:
            if f.name not in known:
                # Nullable even for a required field: the rows already here have no value.
                self._db.execute(
                    f"ALTER TABLE outbox ADD COLUMN {f.name} {_SQLITE_TYPES[f.python_type]}"
                )

    def _mark(self, uuids: Iterable[str], state: int, now: float | None, note: str | None) -> None:
        when = time.time() if now is None else now
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany(
                "UPDATE outbox SET state = ?, sent_at = ?, note = ? WHERE uuid = ?",
                [(state, when, note, u) for u in uuids],
            )
            self._db.execute("COMMIT")
