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
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PackState", "RuleState", "StateStore"]

_SCHEMA = """
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

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path is not None else None
        target = str(self.path) if self.path is not None else ":memory:"
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = sqlite3.connect(
            target, check_same_thread=False, isolation_level=None
        )
        if self.path is not None:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("the state store is closed")
        return self._db

    # -- rules -------------------------------------------------------------------

    def load_rules(self) -> dict[str, RuleState]:
        """Every rule's saved state, by rule id."""
        with self._lock:
            rows = (
                self._conn()
                .execute(
                    "SELECT rule, shown_day, shown_today, total_shown, last_shown, snooze_until,"
                    " never FROM rule_state"
                )
                .fetchall()
            )
        return {
            row[0]: RuleState(row[1], row[2], row[3], row[4], row[5], bool(row[6])) for row in rows
        }

    def save_rule(self, rule: str, state: RuleState) -> None:
        """Write one rule's state (insert or replace)."""
        with self._lock:
            self._conn().execute(
                "INSERT OR REPLACE INTO rule_state VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    rule,
                    state.shown_day,
                    state.shown_today,
                    state.total_shown,
                    state.last_shown,
                    state.snooze_until,
                    int(state.never),
                ),
            )

    def delete_rules(self, rules: Iterable[str]) -> None:
        """Forget the state of rules that left the pack."""
        ids = [(r,) for r in rules]
        if not ids:
            return
        with self._lock:
            db = self._conn()
            db.execute("BEGIN")
            db.executemany("DELETE FROM rule_state WHERE rule = ?", ids)
            db.execute("COMMIT")

    # -- habits ------------------------------------------------------------------

    def load_adoptions(self) -> dict[str, int]:
        """Adoption counts by habit."""
        with self._lock:
            rows = self._conn().execute("SELECT habit, adopted FROM habit_state").fetchall()
        return {habit: int(count) for habit, count in rows}

    def save_adoption(self, habit: str, count: int) -> None:
        with self._lock:
            self._conn().execute("INSERT OR REPLACE INTO habit_state VALUES (?, ?)", (habit, count))

    # -- pack --------------------------------------------------------------------

    def load_pack(self, pack_id: str) -> PackState:
        """The pack-wide state of ``pack_id`` (fresh when never saved)."""
        with self._lock:
            row = (
                self._conn()
                .execute(
                    "SELECT last_shown, shown_day, shown_today FROM pack_state WHERE pack = ?",
                    (pack_id,),
                )
                .fetchone()
            )
        return PackState(row[0], row[1], row[2]) if row else PackState()

    def save_pack(self, pack_id: str, state: PackState) -> None:
        with self._lock:
            self._conn().execute(
                "INSERT OR REPLACE INTO pack_state VALUES (?, ?, ?, ?)",
                (pack_id, state.last_shown, state.shown_day, state.shown_today),
            )

    def close(self) -> None:
        """Close the file; idempotent."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
