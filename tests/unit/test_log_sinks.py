"""Log sinks beside agent.log: the systemd journal (a real datagram socket) and the Event Log.

No journald runs here, so the journal side is read back by tests/fakes.py's
FakeJournal, which decodes the native protocol on its own; the Windows Event
Log's ctypes calls run in tests/native/windows/test_event_log.py, and here
only the pure parts and the handler over a recorder.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from agent.log_sinks import (
    EVENT_STRING_MAX,
    EVENTLOG_ERROR_TYPE,
    EVENTLOG_WARNING_TYPE,
    EventLogHandler,
    JournalHandler,
    encode_journal,
    event_id,
    event_strings,
    event_type,
    journal_available,
    log_sinks,
    syslog_priority,
)
from agent.logs import setup_logging
from tests.fakes import FakeJournal, RecordingEventLog, decode_journal

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[FakeJournal]:
    fake = FakeJournal(tmp_path / "journal.sock")
    try:
        yield fake
    finally:
        fake.close()


def _record(
    message: str, level: int = logging.ERROR, name: str = "agent.sync"
) -> logging.LogRecord:
    return logging.LogRecord(name, level, "/src/agent/sync/worker.py", 42, message, (), None,
                             func="round")  # fmt: skip


def test_encode_journal_writes_plain_fields_as_lines_and_multiline_ones_with_a_length() -> None:
    data = encode_journal([("MESSAGE", "line one\nline two"), ("PRIORITY", "3")])
    assert data == (b"MESSAGE\n" + (17).to_bytes(8, "little") + b"line one\nline two\n"
                    b"PRIORITY=3\n")  # fmt: skip
    assert decode_journal(data) == {"MESSAGE": "line one\nline two", "PRIORITY": "3"}


def test_syslog_priorities_follow_the_logging_levels() -> None:
    levels = [logging.CRITICAL, logging.ERROR, logging.WARNING, logging.INFO, logging.DEBUG]
    assert [syslog_priority(level) for level in levels] == [2, 3, 4, 6, 7]


def test_a_record_reaches_the_journal_with_its_priority_identifier_and_origin(
    journal: FakeJournal,
) -> None:
    handler = JournalHandler(str(journal.path))
    try:
        handler.handle(_record("server said 503; retrying in 10 s"))
        fields = journal.receive()
    finally:
        handler.close()
    assert fields["MESSAGE"] == "server said 503; retrying in 10 s"
    assert fields["PRIORITY"] == "3"
    assert fields["SYSLOG_IDENTIFIER"] == "waymark"
    assert fields["LOGGER"] == "agent.sync"
    assert (fields["CODE_FILE"], fields["CODE_LINE"], fields["CODE_FUNC"]) == (
        "/src/agent/sync/worker.py", "42", "round")  # fmt: skip
    assert handler.dropped == 0


def test_a_traceback_arrives_whole_in_one_journal_record(journal: FakeJournal) -> None:
    handler = JournalHandler(str(journal.path))
    logger = logging.getLogger("test.journal.traceback")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        try:
            raise KeyError("missing")
        except KeyError:
            logger.exception("engine listener failed")
        fields = journal.receive()
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
        handler.close()
    assert fields["MESSAGE"].startswith("engine listener failed\nTraceback (most recent call last)")
    assert fields["MESSAGE"].rstrip().endswith("KeyError: 'missing'")
    assert fields["EXCEPTION"] == "KeyError"


def test_a_record_too_big_for_a_datagram_is_passed_as_a_sealed_memfd(
    journal: FakeJournal,
) -> None:
    handler = JournalHandler(str(journal.path))
    big = "x" * (4 << 20)  # far over the AF_UNIX datagram limit (about 200 KiB)
    try:
        handler.handle(_record(big, logging.WARNING))
        fields = journal.receive()
    finally:
        handler.close()
    assert fields["MESSAGE"] == big and fields["PRIORITY"] == "4"
    assert journal.via_memfd == 1
    sealed = fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE | fcntl.F_SEAL_SEAL
    assert journal.seals == [sealed]
    assert handler.dropped == 0


def test_without_a_journal_records_are_counted_as_dropped_and_nothing_raises(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    handler = JournalHandler(str(tmp_path / "no-journal.sock"))
    try:
        handler.handle(_record("lost"))
        handler.handle(_record("lost too"))
    finally:
        handler.close()
    assert handler.dropped == 2
    assert capsys.readouterr().err == ""  # no "--- Logging error ---" traceback
    assert not journal_available(str(tmp_path / "no-journal.sock"))


def test_setup_logging_sends_records_to_the_extra_handler_too(
    tmp_path: Path, journal: FakeJournal
) -> None:
    root = logging.getLogger()
    before, level = list(root.handlers), root.level
    sink = JournalHandler(str(journal.path))
    try:
        setup_logging(tmp_path / "logs", extra_handlers=(sink,))
        assert sink in root.handlers
        logging.getLogger("agent.test").info("to the file and the journal")
        assert journal.receive()["MESSAGE"] == "to the file and the journal"
        lines = (tmp_path / "logs" / "agent.log").read_text().splitlines()
        assert json.loads(lines[-1])["message"] == "to the file and the journal"
    finally:
        for handler in list(root.handlers):
            if handler not in before:
                root.removeHandler(handler)
                handler.close()
        root.setLevel(level)


def test_log_sinks_wants_a_journal_to_be_there(tmp_path: Path, journal: FakeJournal) -> None:
    os.environ["WAYMARK_JOURNAL_SOCKET"] = str(journal.path)
    try:
        handlers, problems = log_sinks("linux", journal=True)
        assert [type(h) for h in handlers] == [JournalHandler] and problems == []
        handlers[0].close()
        os.environ["WAYMARK_JOURNAL_SOCKET"] = str(tmp_path / "nothing.sock")
        handlers, problems = log_sinks("linux", journal=True)
        assert handlers == []
        assert problems == [f"--log-journal: no systemd journal at {tmp_path / 'nothing.sock'}; "
                            "logging to agent.log only"]  # fmt: skip
        assert log_sinks("linux", journal=False) == ([], [])
        handlers, problems = log_sinks("darwin", journal=True)
        assert handlers == [] and "only on Linux" in problems[0]
    finally:
        del os.environ["WAYMARK_JOURNAL_SOCKET"]


def _run_agent(tmp_path: Path, socket_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "events.jsonl"
    script.write_text('{"t": 0.0, "kind": "focus", "app": "outlook.exe", "title": "Inbox"}\n')
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["WAYMARK_JOURNAL_SOCKET"] = str(socket_path)
    env["WAYMARK_POLICY_FILE"] = str(tmp_path / "no-policy.json")
    return subprocess.run(
        [sys.executable, "-m", "agent", "run", "--headless", "--no-hooks", "--script",
         str(script), "--data-dir", str(tmp_path / "data"), *extra],
        capture_output=True, text=True, timeout=120, env=env, cwd=ROOT,
    )  # fmt: skip


def test_waymark_run_log_journal_sends_its_start_to_the_journal(
    tmp_path: Path, journal: FakeJournal
) -> None:
    done = _run_agent(tmp_path, journal.path, "--log-journal")
    assert done.returncode == 0, done.stderr
    fields = journal.receive()
    assert fields["MESSAGE"].startswith("waymark 0.1.0 started (pid ")
    assert (fields["PRIORITY"], fields["SYSLOG_IDENTIFIER"]) == ("6", "waymark")
    assert fields["LOGGER"] == "agent.commands.run"


def test_waymark_run_log_journal_without_a_journal_says_so_and_runs_on(tmp_path: Path) -> None:
    done = _run_agent(tmp_path, tmp_path / "absent.sock", "--log-journal")
    assert done.returncode == 0, done.stderr
    assert f"no systemd journal at {tmp_path / 'absent.sock'}" in done.stderr
    log = (tmp_path / "data" / "logs" / "agent.log").read_text()
    assert "logging to agent.log only" in log and "started (pid" in log


def test_event_types_and_ids_follow_the_logging_levels() -> None:
    assert [event_type(level) for level in (logging.CRITICAL, logging.ERROR, logging.WARNING)] == [
        EVENTLOG_ERROR_TYPE, EVENTLOG_ERROR_TYPE, EVENTLOG_WARNING_TYPE]  # fmt: skip
    assert event_type(logging.INFO) == 0x0004
    assert [event_id(level) for level in (logging.ERROR, logging.WARNING, logging.INFO)] == [
        1000, 2000, 3000]  # fmt: skip


def test_an_event_string_names_the_logger_and_is_cut_to_what_report_event_takes() -> None:
    assert event_strings(_record("x"), "sync failed\x00") == ["agent.sync: sync failed"]
    (long,) = event_strings(_record("x"), "y" * 100_000)
    assert len(long) == EVENT_STRING_MAX
    assert long.endswith("(cut short; the whole record is in agent.log)")


def test_the_event_log_handler_reports_errors_only_and_deregisters_on_close() -> None:
    api = RecordingEventLog()
    handler = EventLogHandler(api=api)
    logger = logging.getLogger("test.eventlog")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("only in agent.log")
        logger.error("cannot write the outbox: %s", "disk full")
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
        handler.close()
    assert api.source == "Waymark"
    assert api.reports == [(7, EVENTLOG_ERROR_TYPE, 1000,
                            ["test.eventlog: cannot write the outbox: disk full"])]  # fmt: skip
    assert api.deregistered == [7]


def test_an_event_source_that_cannot_register_is_refused_and_a_failed_report_counted() -> None:
    with pytest.raises(OSError, match="RegisterEventSourceW"):
        EventLogHandler(api=RecordingEventLog(handle=0))

    class Failing(RecordingEventLog):
        def report(self, handle: int, kind: int, event: int, strings: Sequence[str]) -> bool:
            return False

    handler = EventLogHandler(api=Failing())
    handler.handle(_record("lost"))
    assert handler.dropped == 1
    assert log_sinks("linux", journal=False)[0] == []  # no Event Log off Windows
