"""A full data disk, for real: a 2 MiB tmpfs of its own per test, filled, then freed.

While the disk is full the agent keeps coaching from memory, the outbox keeps
its records in memory (up to its bound, then the oldest go and are counted),
engine state and settings wait in memory, logging neither throws nor floods
stderr; once the disk has room everything kept is written, with nothing lost
that the bound did not force.  The WAL stays small throughout.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path

import pytest

from agent.app import AgentCore, AgentOptions
from agent.config.policy import Policy
from agent.events import Action, Chord, Focus
from agent.rules.effects import Effect, ShowToast
from agent.rules.engine import decisions_of
from agent.rules.records import Record
from agent.storage import JOURNAL_SIZE_LIMIT, WAL_AUTOCHECKPOINT_PAGES
from agent.sync.outbox import MAX_BUFFERED, Outbox
from devtools.waiting import wait_for
from tests.helpers.disk import SmallDisk, small_disk
from tests.helpers.packs import PASTE_RULE, UNDO_RULE, editor_pack

PACK = editor_pack(3, PASTE_RULE, UNDO_RULE)
#: What the tests appends while the disk is full (the issue's figure).
WHILE_FULL = 2_000


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[SmallDisk]:
    with small_disk(tmp_path / "disk", "2m") as mounted:
        yield mounted


@pytest.fixture
def pack_file(tmp_path: Path) -> Path:
    path = tmp_path / "pack.yaml"  # on the test's own disk, not the small one
    path.write_text(PACK, encoding="utf-8")
    return path


def _agent(data: Path, pack: Path) -> AgentCore:
    notice = Policy({"telemetry_mode": "org-notice"}, "test")  # statistics on, no consent write
    return AgentCore(AgentOptions(pack_path=pack, data_dir=data, hooks=False, policy=notice))


def _record(i: int) -> Record:
    return Record(t=1000.0 + i, kind="shown", pack_id="p", pack_version=1, rule=f"r{i}")


def _rows(path: Path, sql: str = "SELECT COUNT(*) FROM outbox") -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(path)) as db:
        return db.execute(sql).fetchall()


@pytest.mark.allow_log("cannot write .*(database or disk is full|No space left)")
def test_the_agent_coaches_through_a_full_disk_and_loses_no_record(
    disk: SmallDisk, pack_file: Path, agent_logging: Callable[[Path], Path]
) -> None:
    data = disk.root / "data"
    log_file = agent_logging(data / "logs")
    core = _agent(data, pack_file)
    seen: list[Effect] = []
    core.add_effect_listener(seen.append)
    core.start()
    try:
        now = core.clock.now()
        core.post(Focus(now, "gedit", "notes.txt"))
        core.post(Chord(now, "ctrl+v"))
        assert core.wait_idle() and core.outbox.flush()

        disk.fill()
        for _ in range(WHILE_FULL):
            core.post(Chord(now, "ctrl+v"))
        core.settings.set("language", "it")  # a settings write while full
        assert core.wait_idle(30)
        toasts = [e for e in seen if isinstance(e, ShowToast)]
        assert len(toasts) == 1 + WHILE_FULL  # every one shown, from memory
        assert core.outbox.buffered == WHILE_FULL and core.outbox.dropped == 0
        assert core.state.unsaved > 0 and core.settings.get("language") == "it"

        disk.free()
        wait_for(
            lambda: core.outbox.buffered == 0 and core.state.unsaved == 0,
            60,
            "the writes kept in memory to reach the disk (they retry with back-off)",
        )
        wal = data / "outbox.db-wal"
        assert wal.stat().st_size <= JOURNAL_SIZE_LIMIT
    finally:
        core.stop()

    lost = 1 + WHILE_FULL - _rows(data / "outbox.db")[0][0]  # type: ignore[operator]
    assert lost == 0
    assert _rows(data / "state.db", "SELECT total_shown FROM rule_state") == [(1 + WHILE_FULL,)]
    assert json.loads((data / "settings.json").read_text())["language"] == "it"
    lines = [json.loads(line) for line in log_file.read_text(encoding="utf-8").splitlines()]
    assert any("log record(s) could not be written" in line["message"] for line in lines)


@pytest.mark.allow_log("cannot (open|write) .*", "a new device id")
def test_the_agent_starts_on_a_full_disk_and_keeps_its_memory(
    disk: SmallDisk, pack_file: Path
) -> None:
    data = disk.root / "data"
    core = _agent(data, pack_file)
    core.start()
    now = core.clock.now()
    core.post(Action(now, "paste-plain", "never"))  # "don't show this again"
    assert core.wait_idle()
    core.stop()

    disk.fill()  # then the computer restarts
    core = _agent(data, pack_file)
    seen: list[Effect] = []
    core.add_effect_listener(seen.append)
    core.start()
    try:
        core.post(Focus(now, "gedit", "notes.txt"))
        core.post(Chord(now, "ctrl+v"))
        core.post(Chord(now, "ctrl+z"))
        assert core.wait_idle()
        decided = {(d.rule, d.decision, d.reason) for d in decisions_of(seen)}
        assert ("paste-plain", "suppress", "never") in decided  # remembered, though unwritable
        assert ("undo-tip", "show", None) in decided  # and coaching goes on
        disk.free()
        wait_for(lambda: core.state.unsaved == 0 and core.outbox.buffered == 0, 60, "writes")
    finally:
        core.stop()
    never = _rows(data / "state.db", "SELECT never FROM rule_state WHERE rule = 'paste-plain'")
    assert never == [(1,)]
    assert _rows(data / "outbox.db")[0][0] >= 3  # type: ignore[operator]


@pytest.mark.allow_log("cannot write .*outbox.db")
def test_the_outbox_keeps_its_bound_in_memory_then_drops_the_oldest(disk: SmallDisk) -> None:
    box = Outbox(disk.root / "outbox.db", batch_size=64, max_buffered=500)
    disk.fill()
    for i in range(2_000):
        box.append(_record(i))  # never raises ("cannot rollback" was the bug)
    assert box.buffered == 500 and box.dropped == 1_500
    assert not box.flush()
    disk.free()
    assert box.flush()
    box.close()
    kept = [t for (t,) in _rows(disk.root / "outbox.db", "SELECT t FROM outbox ORDER BY t")]
    assert kept == [1000.0 + i for i in range(1_500, 2_000)]  # the newest 500


@pytest.mark.allow_log("cannot write .*outbox.db")
def test_sent_marks_and_a_withdrawal_wait_for_the_disk(disk: SmallDisk) -> None:
    path = disk.root / "outbox.db"
    box = Outbox(path)
    for i in range(10):
        box.append(_record(i))
    batch = box.take(4)
    disk.fill()
    box.accept([r.uuid for r in batch[:3]])
    box.reject([batch[3].uuid], "rejected:bad_kind")
    assert box.count_pending() == 6
    assert [r.rule for r in box.take(10)] == [f"r{i}" for i in range(4, 10)]
    disk.free()
    assert box.flush()
    assert _rows(path, "SELECT state, COUNT(*) FROM outbox GROUP BY state") == [
        (0, 6), (1, 3), (2, 1),
    ]  # fmt: skip

    disk.fill()
    assert box.discard_pending() == 6  # consent withdrawn while the disk is full
    box.append(_record(99))  # consent given again
    assert box.count_pending() == 1 and box.take() == []
    disk.free()
    box.close()
    assert _rows(path, "SELECT rule FROM outbox WHERE state = 0") == [("r99",)]


def test_the_wal_stays_small_under_sustained_writes_and_reads(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    box = Outbox(path, batch_size=512)
    stop = threading.Event()

    def sender() -> None:  # the sync thread reads while the engine writes
        while not stop.is_set():
            box.accept([r.uuid for r in box.take(500)])

    reader = threading.Thread(target=sender)
    reader.start()
    largest = 0
    try:
        for i in range(60_000):  # about 12 MiB of records through the WAL
            box.append(_record(i))
            if i % 512 == 0:
                largest = max(largest, Path(f"{path}-wal").stat().st_size)
    finally:
        stop.set()
        reader.join()
        box.close()
    # Checkpoints every WAL_AUTOCHECKPOINT_PAGES pages, and the file is cut back to
    # JOURNAL_SIZE_LIMIT after each: one batch more than that is the most it can hold.
    assert WAL_AUTOCHECKPOINT_PAGES * 4096 <= JOURNAL_SIZE_LIMIT
    assert largest <= JOURNAL_SIZE_LIMIT + 512 * 1024, largest
    assert MAX_BUFFERED >= WHILE_FULL  # the 2,000 fit the bound


@pytest.mark.allow_log("a warning nobody can write")
def test_logging_on_a_full_disk_neither_raises_nor_floods_stderr(
    disk: SmallDisk, agent_logging: Callable[[Path], Path], capfd: pytest.CaptureFixture[str]
) -> None:
    import logging

    log_file = agent_logging(disk.root / "logs")
    log = logging.getLogger("agent.test")
    log.info("before")
    disk.fill()
    for i in range(200):
        log.warning("a warning nobody can write %d %s", i, "x" * 200)
    err = capfd.readouterr().err
    assert "Traceback" not in err and "Logging error" not in err
    disk.free()
    log.info("after")
    lines = [json.loads(line) for line in log_file.read_text(encoding="utf-8").splitlines()]
    messages = [line["message"] for line in lines]
    assert messages[0] == "before" and messages[-1] == "after"
    (note,) = [m for m in messages if "could not be written" in m]
    written = sum("nobody can write" in m for m in messages)
    assert note.startswith(f"{200 - written} log record(s)")
