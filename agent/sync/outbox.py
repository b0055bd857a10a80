"""The telemetry outbox: records wait here, on disk, until the server has them.

SQLite in WAL mode.  Appends are buffered and committed in batches at most
``max_delay`` seconds apart (or every ``batch_size`` records), so a crash or
``kill -9`` loses at most the last second while appends stay cheap.  Sending
follows a transaction shape (Telegraf's buffer): :meth:`take` a batch,
then :meth:`accept` or :meth:`reject` its ids; nothing is removed before the
server confirms it.  Only :class:`agent.events.Record` fields are stored — no
titles, typed text or positions exist to store.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from agent.rules.records import Record

__all__ = ["Outbox", "OutboxRow"]

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS outbox (
    uuid TEXT PRIMARY KEY,
    t REAL NOT NULL,
    kind TEXT NOT NULL,
    pack_id TEXT NOT NULL,
    pack_version INTEGER NOT NULL,
    rule TEXT, habit TEXT, reason TEXT, action TEXT, app TEXT,
    state INTEGER NOT NULL DEFAULT 0,      -- 0 pending, 1 sent, 2 rejected
    sent_at REAL,
    note TEXT
);
CREATE INDEX IF NOT EXISTS outbox_state_t ON outbox(state, t);
"""

_COLUMNS: Final = "uuid, t, kind, pack_id, pack_version, rule, habit, reason, action, app"

PENDING: Final = 0
SENT: Final = 1
REJECTED: Final = 2


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One stored record with its client UUID (the server's idempotency key)."""

    uuid: str
    t: float
    kind: str
    pack_id: str
    pack_version: int
    rule: str | None
    habit: str | None
    reason: str | None
    action: str | None
    app: str | None

    def to_wire(self) -> dict[str, object]:
        """The JSON object sent to ``POST /v1/events`` (docs/api.md)."""
        out: dict[str, object] = {
            "uuid": self.uuid,
            "t": self.t,
            "kind": self.kind,
            "pack_id": self.pack_id,
            "pack_version": self.pack_version,
        }
        for name in ("rule", "habit", "reason", "action", "app"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out


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

    # -- writing (engine thread) --------------------------------------------

    def append(self, record: Record) -> str:
        """Buffer ``record``; returns its UUID. Commits when the batch is due."""
        rid = str(uuid.uuid4())
        row = (
            rid, record.t, record.kind, record.pack_id, record.pack_version,
            record.rule, record.habit, record.reason, record.action, record.app,
        )  # fmt: skip
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
            self._db.executemany(
                f"INSERT OR IGNORE INTO outbox ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)", rows
            )
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            self._buffer[:0] = rows
            raise

    # -- sending (sync thread) ----------------------------------------------

    def take(self, limit: int = 500) -> list[OutboxRow]:
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

    def pending(self, limit: int = 200) -> list[OutboxRow]:
        """Records waiting to be sent, newest first (for the Privacy page)."""
        self.flush()
        return self._select(PENDING, limit, "DESC")

    def recent_sent(self, limit: int = 200) -> list[OutboxRow]:
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

    def _select(self, state: int, limit: int, order: str) -> list[OutboxRow]:
        with self._lock:
            cur = self._db.execute(
                f"SELECT {_COLUMNS} FROM outbox WHERE state = ? ORDER BY t {order}, rowid {order} "
                "LIMIT ?",
                (state, limit),
            )
            return [OutboxRow(*row) for row in cur.fetchall()]

    def _mark(self, uuids: Iterable[str], state: int, now: float | None, note: str | None) -> None:
        when = time.time() if now is None else now
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany(
                "UPDATE outbox SET state = ?, sent_at = ?, note = ? WHERE uuid = ?",
                [(state, when, note, u) for u in uuids],
            )
            self._db.execute("COMMIT")
