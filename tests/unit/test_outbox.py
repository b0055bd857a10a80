"""The telemetry outbox: batching, the send transaction, and surviving kill -9."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import textwrap
from contextlib import closing
from pathlib import Path

from agent.rules.records import Record
from agent.sync.outbox import Outbox


def _record(i: int, kind: str = "shown") -> Record:
    return Record(t=1000.0 + i, kind=kind, pack_id="p", pack_version=1, rule=f"r{i}", habit="h")  # type: ignore[arg-type]


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _rows_on_disk(path: Path) -> int:
    with closing(sqlite3.connect(path)) as db:
        return int(db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])


def test_appends_commit_when_the_batch_is_full(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", batch_size=3, max_delay=60)
    for i in range(2):
        box.append(_record(i))
    assert _rows_on_disk(tmp_path / "o.db") == 0
    box.append(_record(2))
    assert _rows_on_disk(tmp_path / "o.db") == 3


def test_appends_commit_after_max_delay(tmp_path: Path) -> None:
    clock = FakeMonotonic()
    box = Outbox(tmp_path / "o.db", batch_size=1000, max_delay=0.5, monotonic=clock)
    box.append(_record(0))
    box.flush_if_due()
    assert _rows_on_disk(tmp_path / "o.db") == 0
    clock.now = 0.6
    box.flush_if_due()
    assert _rows_on_disk(tmp_path / "o.db") == 1


def test_take_accept_reject_transaction(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    ids = [box.append(_record(i)) for i in range(5)]
    batch = box.take(3)
    assert [r.uuid for r in batch] == ids[:3]
    box.accept([batch[0].uuid, batch[1].uuid], now=2000.0)
    box.reject([batch[2].uuid], "rejected:bad_kind", now=2000.0)
    assert [r.uuid for r in box.take(10)] == ids[3:]
    assert {r.uuid for r in box.recent_sent()} == set(ids[:2])
    assert box.count_pending() == 2
    assert box.purge_sent(older_than=2001.0) == 3
    assert box.recent_sent() == []


def test_pending_is_newest_first_and_carries_only_record_fields(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    for i in range(3):
        box.append(_record(i))
    rows = box.pending()
    assert [r.rule for r in rows] == ["r2", "r1", "r0"]
    wire = rows[0].to_wire()
    assert set(wire) == {"uuid", "t", "kind", "pack_id", "pack_version", "rule", "habit"}


#: The outbox table of the first release: files written by it must keep working.
FIRST_RELEASE_SCHEMA = """
CREATE TABLE outbox (
    uuid TEXT PRIMARY KEY,
    t REAL NOT NULL,
    kind TEXT NOT NULL,
    pack_id TEXT NOT NULL,
    pack_version INTEGER NOT NULL,
    rule TEXT, habit TEXT, reason TEXT, action TEXT, app TEXT,
    state INTEGER NOT NULL DEFAULT 0,
    sent_at REAL,
    note TEXT
);
CREATE INDEX outbox_state_t ON outbox(state, t);
"""


def _columns(path: Path) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(path)) as db:
        return [tuple(row[1:]) for row in db.execute("PRAGMA table_info(outbox)")]


def test_the_outbox_table_is_the_first_releases_and_reads_its_files(tmp_path: Path) -> None:
    old = tmp_path / "old.db"
    with closing(sqlite3.connect(old)) as db:
        db.executescript(FIRST_RELEASE_SCHEMA)
        db.execute(
            "INSERT INTO outbox (uuid, t, kind, pack_id, pack_version, rule) "
            "VALUES ('0b6c3f0e-8f5e-4a57-9d07-6c1f1c8f4f11', 5.0, 'shown', 'p', 1, 'r')"
        )
        db.commit()
    Outbox(tmp_path / "new.db").close()
    assert _columns(tmp_path / "new.db") == _columns(old)
    box = Outbox(old)
    (row,) = box.take()
    assert row.to_wire() == {
        "uuid": "0b6c3f0e-8f5e-4a57-9d07-6c1f1c8f4f11",
        "t": 5.0,
        "kind": "shown",
        "pack_id": "p",
        "pack_version": 1,
        "rule": "r",
    }
    box.close()


def test_committed_records_survive_kill_9(tmp_path: Path) -> None:
    db = tmp_path / "o.db"
    script = textwrap.dedent(
        f"""
        import sys, time
        from agent.rules.records import Record
        from agent.sync.outbox import Outbox
        box = Outbox({str(db)!r}, batch_size=100000, max_delay=3600)
        for i in range(1000):
            box.append(Record(t=float(i), kind="shown", pack_id="p", pack_version=1, rule="r"))
        box.flush()
        for i in range(10):
            box.append(Record(t=float(i), kind="shown", pack_id="p", pack_version=1, rule="late"))
        print("ready", flush=True)
        sys.stdin.read()
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    for pipe in (proc.stdin, proc.stdout):
        if pipe is not None:
            pipe.close()
    # Everything committed is there and the file is intact; only the unflushed
    # tail (less than max_delay old) may be lost.
    assert _rows_on_disk(db) == 1000
    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    box = Outbox(db)
    assert len(box.take(2000)) == 1000
    box.close()
