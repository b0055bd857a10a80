"""The agent's own files on this device: private modes, corrupt files set aside, faults absorbed.

Every local store (``state.db``, ``outbox.db``, ``settings.json``,
``device.json``, the files in ``sync/``) opens its file through this module,
so each fault is handled once, the same way everywhere:

* **Private.** The data folder is created ``0700`` and every file ``0600``
  (on POSIX; on Windows the per-user profile's ACL protects them).  A file
  created by an older version with a wider mode is narrowed when opened.
* **Corrupt files are set aside, never fatal.**  A file that is not what its
  store expects (SQLite that fails ``PRAGMA quick_check`` or is not a
  database, a table of other columns; JSON that is not UTF-8, not JSON,
  nested too deep or of the wrong shape) is renamed
  ``NAME.corrupt-<UTC time>`` (with its ``-wal``/``-shm``), the store starts
  fresh, and one WARNING names the file and what was wrong.  Only the newest
  :data:`KEEP_SET_ASIDE` copies of a file are kept.  ``waymark doctor`` lists
  them (:func:`set_aside_files`).
* **A full or failing disk is not corruption.**  :func:`open_sqlite` raises
  :class:`StoreUnavailable` for it (nothing is renamed); the stores then keep
  their writes in memory and try again with :class:`Backoff`, reading what
  the file held through :func:`open_sqlite_snapshot`.
* **The WAL stays small.**  SQLite files run in WAL mode with
  ``journal_size_limit`` = :data:`JOURNAL_SIZE_LIMIT` and an automatic
  checkpoint every :data:`WAL_AUTOCHECKPOINT_PAGES` pages.

This module imports nothing of the agent: the pure engine state
(:mod:`agent.rules.state`), the settings and the sync stores all use it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import sqlite3
import stat
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

__all__ = [
    "CORRUPT_MARK",
    "JOURNAL_SIZE_LIMIT",
    "KEEP_SET_ASIDE",
    "SQLITE_COMPANIONS",
    "WAL_AUTOCHECKPOINT_PAGES",
    "Backoff",
    "SetAsideFile",
    "SqliteFile",
    "StoreUnavailable",
    "WrongShape",
    "is_corruption",
    "load_json_object",
    "open_sqlite",
    "open_sqlite_snapshot",
    "private_dir",
    "private_file",
    "set_aside",
    "set_aside_files",
    "transaction",
]

log = logging.getLogger(__name__)

#: ``NAME`` + this + a UTC time is the name of a file set aside.
CORRUPT_MARK: Final = ".corrupt-"
#: Copies set aside per file; older ones are deleted, so a file that keeps breaking
#: cannot fill the disk.
KEEP_SET_ASIDE: Final = 3
#: The files SQLite keeps beside a database in WAL mode.
SQLITE_COMPANIONS: Final = ("-wal", "-shm")
#: Bytes a WAL file is cut back to after a checkpoint.
JOURNAL_SIZE_LIMIT: Final = 1 << 20
#: Pages (4 KiB) after which a commit checkpoints the WAL into the database.
WAL_AUTOCHECKPOINT_PAGES: Final = 256

_POSIX: Final = os.name == "posix"
_STAMP_FORMAT: Final = "%Y%m%dT%H%M%S.%fZ"
_STAMP_RE: Final = re.compile(r"\.corrupt-(\d{8}T\d{6}\.\d{6}Z)(-wal|-shm)?$")
#: SQLite result codes (primary, low byte) that mean the file itself is damaged.
_CORRUPT_CODES: Final = frozenset({11, 26})  # SQLITE_CORRUPT, SQLITE_NOTADB


class StoreUnavailable(Exception):
    """The file cannot be used right now (disk full, I/O error, no permission); not corruption."""


class WrongShape(Exception):
    """The file parsed but is not what its store keeps; the message says what is wrong."""


# -- modes ---------------------------------------------------------------------


def private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) with mode 0700; narrow an existing one. Returns it."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    _narrow(path, 0o700)
    return path


def private_file(path: Path) -> None:
    """Give an existing file mode 0600 (a file written by an older version may be 0644)."""
    _narrow(path, 0o600)


def _narrow(path: Path, mode: int) -> None:
    if not _POSIX:
        return
    try:
        if stat.S_IMODE(path.stat().st_mode) != mode:
            os.chmod(path, mode)
    except FileNotFoundError:
        return
    except OSError as exc:  # not ours to change (a shared folder set up by an admin)
        log.info("cannot narrow the mode of %s: %s", path, exc)


def _create_private(path: Path) -> None:
    """Make sure ``path`` exists with mode 0600 before SQLite opens it (its -wal/-shm copy it)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        private_file(path)
        return
    os.close(fd)


# -- corrupt files -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SetAsideFile:
    """A file found set aside in the data folder (``waymark doctor`` lists them)."""

    path: Path
    #: The name of the file it was (``state.db``, ``sync/pack.yaml`` …), relative to the folder.
    original: str
    when: datetime
    size: int


def set_aside(path: Path, why: str, *, companions: Sequence[str] = ()) -> Path | None:
    """Rename a corrupt ``path`` (and ``path + suffix`` for each companion) to
    ``NAME.corrupt-<UTC time>``, log one WARNING naming it and ``why``, and keep only
    the newest :data:`KEEP_SET_ASIDE` copies.  Returns the new path (None if it vanished)."""
    stamp = datetime.now(UTC).strftime(_STAMP_FORMAT)
    target = path.with_name(f"{path.name}{CORRUPT_MARK}{stamp}")
    try:
        os.replace(path, target)
    except FileNotFoundError:
        return None
    except OSError as exc:
        # Cannot rename (a locked file on Windows, a read-only folder): delete it instead,
        # so the store can still start fresh.
        log.warning("%s is corrupt (%s) and cannot be set aside (%s); deleting it", path, why, exc)
        _remove(path)
        for suffix in companions:
            _remove(Path(f"{path}{suffix}"))
        return None
    for suffix in companions:
        companion = Path(f"{path}{suffix}")
        try:
            os.replace(companion, Path(f"{target}{suffix}"))
        except FileNotFoundError:
            pass
        except OSError:
            _remove(companion)
    log.warning(
        "%s is corrupt (%s); it was set aside as %s and a fresh one is used",
        path,
        why,
        target.name,
    )
    _prune(path, companions)
    return target


def _remove(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        log.info("cannot delete %s: %s", path, exc)


def _prune(path: Path, companions: Sequence[str]) -> None:
    copies = sorted(path.parent.glob(f"{path.name}{CORRUPT_MARK}*"))
    mains = [p for p in copies if not p.name.endswith(SQLITE_COMPANIONS)]
    for old in mains[:-KEEP_SET_ASIDE]:
        _remove(old)
        for suffix in companions:
            _remove(Path(f"{old}{suffix}"))


def set_aside_files(folder: Path) -> list[SetAsideFile]:
    """Every file set aside under ``folder`` (its -wal/-shm not listed apart), oldest first."""
    found: list[SetAsideFile] = []
    if not folder.is_dir():
        return found
    for path in folder.rglob(f"*{CORRUPT_MARK}*"):
        match = _STAMP_RE.search(path.name)
        if match is None or match.group(2) or not path.is_file():
            continue
        when = datetime.strptime(match.group(1), _STAMP_FORMAT).replace(tzinfo=UTC)
        original = path.relative_to(folder).as_posix()[: -len(match.group(0))]
        found.append(SetAsideFile(path, original, when, path.stat().st_size))
    return sorted(found, key=lambda f: f.when)


# -- JSON files -------------------------------------------------------------------


def load_json_object(
    path: Path, check: Callable[[dict[str, Any]], str | None] | None = None
) -> dict[str, Any] | None:
    """The JSON object kept in ``path``, or None when there is none (missing, or set aside).

    A file that is not UTF-8, not JSON, nested too deep, not an object, or that
    ``check`` finds wrong (it returns what is wrong, or None) is set aside.
    Raises :class:`StoreUnavailable` when the file exists but cannot be read.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StoreUnavailable(f"cannot read {path}: {exc}") from exc
    private_file(path)
    problem: str | None
    try:
        doc = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        problem = f"not UTF-8 text at byte {exc.start}"
    except RecursionError:
        problem = "JSON nested too deeply"
    except ValueError as exc:  # json.JSONDecodeError
        problem = f"not JSON: {exc}"
    else:
        if not isinstance(doc, dict):
            problem = f"a JSON {type(doc).__name__}, not an object"
        else:
            problem = check(doc) if check is not None else None
            if problem is None:
                return doc
    set_aside(path, problem)
    return None


# -- SQLite -------------------------------------------------------------------------


def is_corruption(exc: sqlite3.Error) -> bool:
    """True when SQLite says the file is damaged or not a database (not: full, busy, I/O)."""
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(code, int) and (code & 0xFF) in _CORRUPT_CODES


def open_sqlite(
    path: Path | None, prepare: Callable[[sqlite3.Connection], None]
) -> sqlite3.Connection:
    """A connection to the SQLite file ``path`` (``None``: in memory), checked and prepared.

    ``prepare`` creates the store's tables and reads every column it will use,
    raising :class:`WrongShape` (or letting SQLite's error through) when the
    file holds something else.  A damaged file or one of the wrong shape is
    set aside with its -wal/-shm and a fresh one is made.  Raises
    :class:`StoreUnavailable` when the file cannot be opened for another reason
    (the disk is full, an I/O error, no permission).
    """
    if path is None:
        memory = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        prepare(memory)
        return memory
    for attempt in (1, 2):
        problem: str | None = None
        db: sqlite3.Connection | None = None
        try:
            _create_private(path)
            db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
            problem = _quick_check(db)
            if problem is None:
                prepare(db)  # before WAL mode: a file of the wrong shape is set aside unchanged
                _wal_mode(db)
        except WrongShape as exc:
            problem = str(exc)
        except sqlite3.Error as exc:
            code = getattr(exc, "sqlite_errorname", "")
            if not (is_corruption(exc) or code == "SQLITE_ERROR"):
                _close(db)
                raise StoreUnavailable(f"cannot open {path}: {exc}") from exc
            # SQLITE_ERROR from prepare: a table of other columns ("no such column").
            problem = str(exc)
        except OSError as exc:
            _close(db)
            raise StoreUnavailable(f"cannot open {path}: {exc}") from exc
        if problem is None and db is not None:
            for suffix in SQLITE_COMPANIONS:
                private_file(Path(f"{path}{suffix}"))
            return db
        _close(db)
        if attempt == 2:
            raise StoreUnavailable(f"{path} is still unusable after starting fresh: {problem}")
        set_aside(path, problem or "unreadable", companions=SQLITE_COMPANIONS)
    raise AssertionError("unreachable")  # pragma: no cover


def open_sqlite_snapshot(path: Path) -> sqlite3.Connection | None:
    """A read-only view of the SQLite file as it is on disk (its WAL ignored), for reading
    what a store kept when the file cannot be opened for writing; None if unreadable."""
    try:
        db = sqlite3.connect(
            f"{path.resolve().as_uri()}?immutable=1",
            uri=True,
            check_same_thread=False,
        )
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except (sqlite3.Error, OSError, ValueError):
        return None
    return db


def _quick_check(db: sqlite3.Connection) -> str | None:
    """None when the file passes ``PRAGMA quick_check``, else what SQLite found."""
    rows = db.execute("PRAGMA quick_check").fetchall()
    if [tuple(r) for r in rows] == [("ok",)]:
        return None
    return "quick_check: " + "; ".join(str(r[0]) for r in rows[:3])


def _wal_mode(db: sqlite3.Connection) -> None:
    db.execute("PRAGMA journal_mode=WAL")
    # NORMAL in WAL mode survives a process kill (only an OS crash can lose the
    # last commits); FULL would cost an fsync per commit.
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute(f"PRAGMA journal_size_limit={JOURNAL_SIZE_LIMIT}")
    db.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")


def _close(db: sqlite3.Connection | None) -> None:
    if db is not None:
        with contextlib.suppress(sqlite3.Error):
            db.close()


@contextlib.contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN`` … ``COMMIT`` on an autocommit connection; on any error the transaction is
    rolled back, if SQLite has not already done so (it has after a full disk, where a
    plain ``ROLLBACK`` fails with "no transaction is active"), and the error raised."""
    db.execute("BEGIN")
    try:
        yield db
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
        raise


class SqliteFile:
    """A store's SQLite file that may fail: opened now or later, written with back-off.

    ``meanwhile`` says in the one WARNING of an outage what the store does
    until the file works again ("records are kept in memory").  While the
    file cannot be opened, :meth:`reader` is a read-only snapshot of it.
    Not thread-safe: the store that owns it holds its own lock.
    """

    def __init__(
        self,
        path: Path | None,
        prepare: Callable[[sqlite3.Connection], None],
        *,
        meanwhile: str,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self._prepare = prepare
        self._meanwhile = meanwhile
        self._retry = Backoff(monotonic=monotonic)
        self._snapshot: sqlite3.Connection | None = None
        if path is not None:
            private_dir(path.parent)
        self.db: sqlite3.Connection | None = self._open()
        if self.db is None and path is not None:
            self._snapshot = open_sqlite_snapshot(path)

    @property
    def failing(self) -> bool:
        """The last open or write failed (an outage is going on)."""
        return self._retry.failing

    def reader(self) -> sqlite3.Connection | None:
        """The connection to read from: the file, or its snapshot while it cannot be opened."""
        return self.db or self._snapshot

    def write(self, changes: Callable[[sqlite3.Connection], None], *, force: bool = False) -> bool:
        """Run ``changes`` in one transaction; False when the file cannot be written (nothing
        raised, nothing written).  Unless ``force``, a try after a failure waits its back-off."""
        if not (force or self._retry.due()):
            return False
        if self.db is None:
            self.db = self._open()
            if self.db is None:
                return False
            self._close_snapshot()
        try:
            with transaction(self.db) as db:
                changes(db)
        except sqlite3.Error as exc:
            self._trouble(f"cannot write {self.path} ({exc})")
            return False
        self._retry.succeeded()
        return True

    def close(self) -> None:
        _close(self.db)
        self.db = None
        self._close_snapshot()

    def _open(self) -> sqlite3.Connection | None:
        try:
            return open_sqlite(self.path, self._prepare)
        except StoreUnavailable as exc:
            self._trouble(str(exc))
            return None

    def _trouble(self, what: str) -> None:
        if not self._retry.failing:
            log.warning("%s; %s", what, self._meanwhile)
        self._retry.failed()

    def _close_snapshot(self) -> None:
        _close(self._snapshot)
        self._snapshot = None


# -- retrying ------------------------------------------------------------------------


class Backoff:
    """When to try a failing write again: ``first`` seconds, doubling up to ``cap``.

    Not thread-safe; the store that owns it holds its own lock.
    """

    def __init__(
        self,
        first: float = 0.5,
        cap: float = 30.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._first = first
        self._cap = cap
        self._monotonic = monotonic
        self._delay = 0.0
        self._next = 0.0
        #: Failures since the last success.
        self.failures = 0

    @property
    def failing(self) -> bool:
        return self.failures > 0

    def due(self) -> bool:
        """True when no failure is waiting out its delay."""
        return self.failures == 0 or self._monotonic() >= self._next

    def failed(self) -> None:
        self.failures += 1
        self._delay = min(self._cap, self._delay * 2 if self._delay else self._first)
        self._next = self._monotonic() + self._delay

    def succeeded(self) -> None:
        self.failures = 0
        self._delay = 0.0
