"""Engine state that must survive a restart, kept in a small SQLite file.

What is kept: per rule the shown-today count with its local day, the total
shown, the last time shown (cooldowns are derived from it), snooze-until and
never-again; per habit the adoption count; per pack the last toast time and the
shown-today count with its day.  Occurrence windows and ``after`` sequences are
short-lived and are not kept.

Writes are rare (a toast shown, an action taken, a habit adopted) and each is
committed at once.  Without a path (replays, tests) the store lives in memory.
The store is created on one thread and used from the engine thread, so the
connection is shared behind a lock.

Faults never stop coaching (the engine keeps its state in memory; this file
is its memory across restarts):

* a damaged file, or one of other tables, is set aside at open and a fresh one
  started (:func:`agent.storage.open_sqlite`);
* a write that fails (the disk is full, an I/O error) is kept in memory,
  latest value per row, and tried again with back-off on the next write and
  on :meth:`StateStore.retry` (the engine tick calls it); reads see the
  changes not yet written.  A file that cannot even be opened (a full disk at
  start) is read through a read-only snapshot, so caps, snoozes and "never"
  choices hold, and opened later the same way (:class:`agent.storage.SqliteFile`).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

from agent.storage import SqliteFile

__all__ = ["PackState", "RuleState", "StateStore"]

log = logging.getLogger(__name__)

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS rule_state (
    rule TEXT PRIMARY KEY,
    shown_day INTEGER NOT NULL,
    shown_today INTEGER NOT NULL,
    total_shown INTEGER NOT NULL,
    last_shown REAL,
    snooze_until REAL,
    never INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS habit_state (
    habit TEXT PRIMARY KEY,
    adopted INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS pack_state (
    pack TEXT PRIMARY KEY,
    last_shown REAL,
    shown_day INTEGER NOT NULL,
    shown_today INTEGER NOT NULL
);
"""

_Table = Literal["rule_state", "habit_state", "pack_state"]
#: Each table's key column and its columns in order (the key first).
_COLUMNS: Final[dict[_Table, tuple[str, ...]]] = {
    "rule_state": (
        "rule", "shown_day", "shown_today", "total_shown", "last_shown", "snooze_until", "never",
    ),
    "habit_state": ("habit", "adopted"),
    "pack_state": ("pack", "last_shown", "shown_day", "shown_today"),
}  # fmt: skip

_Row = tuple[Any, ...]


def _prepare(db: sqlite3.Connection) -> None:
    db.executescript(_SCHEMA)
    for table, columns in _COLUMNS.items():  # a table of other columns fails here
        db.execute(f"SELECT {', '.join(columns)} FROM {table} LIMIT 1").fetchall()


@dataclass(slots=True)
class RuleState:
    """What the engine remembers about one rule (``shown_day`` is a local date ordinal)."""

    shown_day: int = 0
    shown_today: int = 0
    total_shown: int = 0
    last_shown: float | None = None
    snooze_until: float | None = None
    never: bool = False


@dataclass(slots=True)
class PackState:
    """Pack-wide memory for ``min_gap`` and the pack's daily cap."""

    last_shown: float | None = None
    shown_day: int = 0
    shown_today: int = 0


class StateStore:
    """Persistent engine state; ``StateStore(None)`` keeps it in memory only."""

    def __init__(
        self, path: Path | str | None = None, *, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.path = Path(path) if path is not None else None
        self._lock = threading.Lock()
        self._closed = False
        #: Changes not written yet, latest per row: (table, key) → row, or None for a delete.
        self._unsaved: dict[tuple[_Table, str], _Row | None] = {}
        self._file = SqliteFile(
            self.path,
            _prepare,
            meanwhile="coaching goes on from memory and the changes are written once it works",
            monotonic=monotonic,
        )

    @property
    def unsaved(self) -> int:
        """Changes kept in memory because the file could not be written (yet)."""
        with self._lock:
            return len(self._unsaved)

    # -- rules -------------------------------------------------------------------

    def load_rules(self) -> dict[str, RuleState]:
        """Every rule's saved state, by rule id."""
        rows = self._load("rule_state")
        return {
            key: RuleState(row[1], row[2], row[3], row[4], row[5], bool(row[6]))
            for key, row in rows.items()
        }

    def save_rule(self, rule: str, state: RuleState) -> None:
        """Write one rule's state (insert or replace)."""
        self._write("rule_state", rule, (
            rule, state.shown_day, state.shown_today, state.total_shown, state.last_shown,
            state.snooze_until, int(state.never),
        ))  # fmt: skip

    def delete_rules(self, rules: Iterable[str]) -> None:
        """Forget the state of rules that left the pack."""
        ids = list(rules)
        if not ids:
            return
        with self._lock:
            self._check_open()
            for rule in ids:
                self._unsaved["rule_state", rule] = None
            self._save_locked(force=False)

    # -- habits ------------------------------------------------------------------

    def load_adoptions(self) -> dict[str, int]:
        """Adoption counts by habit."""
        return {key: int(row[1]) for key, row in self._load("habit_state").items()}

    def save_adoption(self, habit: str, count: int) -> None:
        self._write("habit_state", habit, (habit, count))

    # -- pack --------------------------------------------------------------------

    def load_pack(self, pack_id: str) -> PackState:
        """The pack-wide state of ``pack_id`` (fresh when never saved)."""
        row = self._load("pack_state", pack_id).get(pack_id)
        return PackState(row[1], row[2], row[3]) if row else PackState()

    def save_pack(self, pack_id: str, state: PackState) -> None:
        self._write("pack_state", pack_id, (pack_id, state.last_shown, state.shown_day,
                                            state.shown_today))  # fmt: skip

    # -- faults ------------------------------------------------------------------

    def retry(self) -> None:
        """Write the changes kept in memory, if a try is due (the engine tick calls this)."""
        with self._lock:
            if self._unsaved and not self._closed:
                self._save_locked(force=False)

    def close(self) -> None:
        """Write what is kept in memory (one last try) and close the file; idempotent."""
        with self._lock:
            if self._closed:
                return
            if self._unsaved:
                self._save_locked(force=True)
            if self._unsaved:
                log.warning("%d change(s) to %s could not be written and are lost",
                            len(self._unsaved), self.path)  # fmt: skip
            self._file.close()
            self._closed = True

    # -- internals ---------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("the state store is closed")

    def _load(self, table: _Table, key: str | None = None) -> dict[str, _Row]:
        """Rows of ``table`` by key (only ``key``'s when given), the unsaved changes applied."""
        columns = _COLUMNS[table]
        sql = f"SELECT {', '.join(columns)} FROM {table}"
        args: tuple[object, ...] = ()
        if key is not None:
            sql, args = f"{sql} WHERE {columns[0]} = ?", (key,)
        with self._lock:
            self._check_open()
            rows: dict[str, _Row] = {}
            db = self._file.reader()
            if db is not None:
                try:
                    rows = {str(r[0]): tuple(r) for r in db.execute(sql, args)}
                except sqlite3.Error as exc:
                    log.warning("cannot read %s from %s (%s); using what is in memory",
                                table, self.path, exc)  # fmt: skip
            for (t, k), row in self._unsaved.items():
                if t != table or (key is not None and k != key):
                    continue
                if row is None:
                    rows.pop(k, None)
                else:
                    rows[k] = row
            return rows

    def _write(self, table: _Table, key: str, row: _Row) -> None:
        with self._lock:
            self._check_open()
            self._unsaved[table, key] = row
            self._save_locked(force=False)

    def _save_locked(self, *, force: bool) -> None:
        """Write every unsaved change in one transaction; on failure keep them for later."""
        changes = list(self._unsaved.items())

        def write(db: sqlite3.Connection) -> None:
            for (table, key), row in changes:
                columns = _COLUMNS[table]
                if row is None:
                    db.execute(f"DELETE FROM {table} WHERE {columns[0]} = ?", (key,))
                else:
                    marks = ", ".join("?" for _ in columns)
                    db.execute(f"INSERT OR REPLACE INTO {table} VALUES ({marks})", row)

        recovering = self._file.failing
        if self._file.write(write, force=force):
            self._unsaved.clear()  # all of it was written: the lock is held throughout
            if recovering:
                log.info("%s can be written again; %d change(s) kept in memory were saved",
                         self.path, len(changes))  # fmt: skip
