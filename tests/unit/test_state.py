"""StateStore: SQLite persistence of what must survive a restart."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from agent.rules.state import PackState, RuleState, StateStore


def test_rule_habit_and_pack_state_round_trip_through_the_file(tmp_path: Path) -> None:
    path = tmp_path / "data" / "state.db"
    store = StateStore(path)
    store.save_rule("r1", RuleState(739000, 2, 5, 1000.5, 2000.0, True))
    store.save_rule("r2", RuleState())
    store.save_adoption("links", 3)
    store.save_pack("m365", PackState(1000.5, 739000, 4))
    store.close()

    again = StateStore(path)
    assert again.load_rules() == {
        "r1": RuleState(739000, 2, 5, 1000.5, 2000.0, True),
        "r2": RuleState(),
    }
    assert again.load_adoptions() == {"links": 3}
    assert again.load_pack("m365") == PackState(1000.5, 739000, 4)
    assert again.load_pack("other") == PackState()
    again.close()


def test_the_file_uses_wal_and_deleted_rules_are_gone(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = StateStore(path)
    store.save_rule("r1", RuleState(total_shown=1))
    store.save_rule("r2", RuleState(total_shown=2))
    store.delete_rules(["r1"])
    assert set(store.load_rules()) == {"r2"}
    store.close()
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_without_a_path_the_store_is_in_memory(tmp_path: Path) -> None:
    store = StateStore(None)
    store.save_adoption("h", 1)
    assert store.load_adoptions() == {"h": 1}
    assert store.path is None
    assert list(tmp_path.iterdir()) == []


def test_a_closed_store_refuses_use_and_closes_twice(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "s.db")
    store.close()
    store.close()
    with pytest.raises(RuntimeError, match="closed"):
        store.load_rules()
