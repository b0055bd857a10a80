"""The Windows Event Log for real (run by the release pipeline and ci.yml on windows-latest).

An error logged through :class:`agent.log_sinks.EventLogHandler` (its ctypes
RegisterEventSourceW/ReportEventW calls) is read back from the Application log
with ``wevtutil``, under the source ``Waymark``, as an Error with event id 1000;
a warning is not written there.
"""

from __future__ import annotations

import logging
import subprocess
import uuid

from agent.log_sinks import EVENT_LOG_SOURCE, EventLogHandler
from devtools.waiting import wait_for

QUERY = f"/q:*[System[Provider[@Name='{EVENT_LOG_SOURCE}']]]"


def _recent_entries() -> str:
    done = subprocess.run(
        ["wevtutil", "qe", "Application", QUERY, "/c:50", "/rd:true", "/f:xml"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    return done.stdout


def test_an_error_reaches_the_application_log_and_a_warning_does_not() -> None:
    marker = uuid.uuid4().hex
    handler = EventLogHandler()
    logger = logging.getLogger("tests.native.event_log")
    logger.addHandler(handler)
    logger.propagate = False  # the record is the test's own, not a failure (logfail)
    try:
        logger.warning("warning %s", marker + "-w")
        logger.error("error %s", marker + "-e")
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
        handler.close()
    assert handler.dropped == 0

    def entry() -> str | None:
        for event in _recent_entries().split("</Event>"):
            if marker + "-e" in event:
                return event
        return None

    event = wait_for(entry, 30, "the error in the Application log")
    assert "<Level>2</Level>" in event  # 2 = Error
    assert ">1000</EventID>" in event
    assert "tests.native.event_log: error " in event
    assert marker + "-w" not in _recent_entries()
