"""Quiet hours: a source that turns the ``quiet_hours`` setting into Quiet events.

While the local time is inside the range (``12:30-13:30``; see
:mod:`agent.timespans`) the engine shows nothing, with reason ``quiet``.  The
source checks every ``interval`` seconds, and at once when :meth:`recheck` is
called (the setting changed).  A Quiet event that the engine's inbox dropped
is sent again at the next check.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from agent.clock import Clock
from agent.events import Quiet
from agent.hooks.base import Emit, SourceState, ThreadedSource, join_quietly
from agent.timespans import TimeRange

__all__ = ["QUIET_HOURS", "QuietHoursSource", "in_quiet_hours"]

log = logging.getLogger(__name__)

#: The ``why`` of the Quiet events this source emits.
QUIET_HOURS = "quiet-hours"


def in_quiet_hours(spec: str, when: datetime) -> bool:
    """True if local time ``when`` lies inside ``spec`` (empty or invalid: never)."""
    if not spec:
        return False
    try:
        hours = TimeRange.parse(spec)
    except ValueError:
        return False
    return hours.contains(when.hour * 60 + when.minute)


class QuietHoursSource(ThreadedSource):
    """Emits ``Quiet(on, "quiet-hours")`` when the local time enters or leaves ``spec()``."""

    name = "quiet_hours"
    thread_name = "waymark-quiet-hours"

    def __init__(self, spec: Callable[[], str], clock: Clock, interval: float = 2.0) -> None:
        super().__init__()
        self._spec = spec
        self._clock = clock
        self._interval = interval
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._on = False

    def start(self, emit: Emit) -> None:
        self._stop.clear()
        super().start(emit)

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        join_quietly(self._thread)
        self._thread = None

    def recheck(self) -> None:
        """Check now (the setting changed)."""
        self._wake.set()

    def state(self) -> SourceState:
        spec = self._spec()
        return SourceState(self.name, self.alive(), spec or "none set")

    def _run(self) -> None:
        self._ready.set()
        while not self._stop.is_set():
            self._check()
            self._wake.wait(self._interval)
            self._wake.clear()

    def _check(self) -> None:
        now = self._clock.now()
        on = in_quiet_hours(self._spec(), datetime.fromtimestamp(now, self._clock.tz))
        emit = self._emit
        if on != self._on and emit is not None and emit(Quiet(now, on, QUIET_HOURS)):
            self._on = on
