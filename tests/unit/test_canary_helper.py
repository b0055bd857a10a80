"""The canary search can fail: it finds a canary planted on purpose, also in a WAL."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.helpers.canary import places_with


def test_a_planted_canary_is_found_in_a_wal_that_was_never_checkpointed(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "outbox.db")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA wal_autocheckpoint=0")  # the row stays in the -wal file
    db.execute("CREATE TABLE t (v TEXT)")
    db.execute("INSERT INTO t VALUES ('Planted-CANARY-31337')")
    db.commit()
    try:
        main_file = (tmp_path / "outbox.db").read_bytes()
        assert b"planted-canary" not in main_file.lower()  # not checkpointed yet
        found = places_with(tmp_path, ["planted-canary-31337"])
        assert str(tmp_path / "outbox.db-wal") in found
        assert f"{tmp_path / 'outbox.db'} (rows)" in found
    finally:
        db.close()


def test_a_clean_folder_has_no_canary(tmp_path: Path) -> None:
    (tmp_path / "agent.log").write_text('{"message": "pack active"}\n', encoding="utf-8")
    assert places_with(tmp_path, ["planted-canary-31337"]) == []
