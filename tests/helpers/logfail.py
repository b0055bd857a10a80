"""Fail a test on a WARNING or worse log record it did not declare (after qutebrowser's logfail).

An engine loop, an effect listener or the sync thread that swallows an
exception with ``log.exception`` would otherwise pass every test that does not
read the log.  A test that expects such a record says so:

    @pytest.mark.allow_log("pack .* is invalid", "cannot read pack")

Each pattern is searched (``re.search``) in ``"<logger>: <message>"``.
Records from any thread count, including those logged after the test body
returned but before its teardown.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator

import pytest

__all__ = ["LogFailHandler", "log_fail"]

#: Loggers that do not propagate to the root logger but whose warnings matter.
_NON_PROPAGATING = ("uvicorn.error",)


class LogFailHandler(logging.Handler):
    """Collects WARNING+ records from every logger, from every thread."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self._lock_records = threading.Lock()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        with self._lock_records:
            self.records.append(record)

    def text_of(self, record: logging.LogRecord) -> str:
        return f"{record.name}: {record.getMessage()}"


@pytest.fixture(autouse=True)
def log_fail(request: pytest.FixtureRequest) -> Iterator[LogFailHandler]:
    handler = LogFailHandler()
    loggers = [logging.getLogger(), *(logging.getLogger(n) for n in _NON_PROPAGATING)]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield handler
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
    allowed = [
        re.compile(pattern)
        for marker in request.node.iter_markers("allow_log")
        for pattern in marker.args
    ]
    unexpected = [
        handler.text_of(r)
        for r in handler.records
        if not any(p.search(handler.text_of(r)) for p in allowed)
    ]
    if unexpected:
        pytest.fail(
            "unexpected log record(s) at WARNING or above (declare them with "
            "@pytest.mark.allow_log(pattern) if the test expects them):\n  "
            + "\n  ".join(unexpected[:20]),
            pytrace=False,
        )
