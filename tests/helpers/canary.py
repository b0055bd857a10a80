"""Find a privacy canary anywhere the agent or server keeps data.

A canary is a string planted where a person's content would be (typed into a
field, a file name, a window title).  :func:`places_with` looks for it, in any
letter case, in the raw bytes of every file under a folder, SQLite ``-wal``
and ``-journal`` files included, and also through SQL in every SQLite
database, so rows still waiting in a write-ahead log are found even before a
checkpoint copies them into the main file.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from collections.abc import Iterable
from contextlib import closing
from pathlib import Path

__all__ = ["places_with", "sqlite_rows_text"]


def sqlite_rows_text(path: Path) -> str:
    """Every value of every table of the SQLite database at ``path``, as one text.

    The database is copied (with its -wal and -shm) first, so reading it
    changes nothing the test looks at next.
    """
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / path.name
        for suffix in ("", "-wal", "-shm", "-journal"):
            source = path.with_name(path.name + suffix)
            if source.exists():
                shutil.copyfile(source, copy.with_name(copy.name + suffix))
        try:
            with closing(sqlite3.connect(copy)) as db:
                tables = [
                    r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")
                ]
                parts = [
                    repr(row)
                    for table in tables
                    for row in db.execute(f'SELECT * FROM "{table}"')  # names from sqlite_master
                ]
        except sqlite3.DatabaseError:
            return ""  # not a database after all; its bytes are searched anyway
    return "\n".join(parts)


def _is_sqlite(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return f.read(16) == b"SQLite format 3\x00"
    except OSError:
        return False


def places_with(root: Path, needles: Iterable[str]) -> list[str]:
    """Where under ``root`` a needle is: ``"<file>"`` (bytes) or ``"<file> (rows)"`` (SQL)."""
    lowered = [n.lower() for n in needles]
    found: list[str] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes().lower()
        if any(n.encode("utf-8") in data for n in lowered):
            found.append(str(path))
        if _is_sqlite(path):
            rows = sqlite_rows_text(path).lower()
            if any(n in rows for n in lowered):
                found.append(f"{path} (rows)")
    return found
