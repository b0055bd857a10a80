"""Idle and activity: a pure threshold tracker and one polled source for every OS.

Each OS only supplies "seconds since the last input" (XScreenSaver on X11,
GetLastInputInfo on Windows, CGEventSourceSecondsSinceLastEventType on macOS).
The source does not poll at a fixed rate: while the person is active it sleeps
until the next threshold could be crossed; only while idle does it check twice
a second, so that ``active`` follows input quickly.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from agent.events import Active, Idle
from agent.hooks.base import Emit, SourceState, ThreadedSource, join_quietly

__all__ = ["DEFAULT_THRESHOLDS", "IdleSource", "IdleTracker"]

log = logging.getLogger(__name__)

#: Used when no loaded rule asks for an idle length, so ``active`` still works.
DEFAULT_THRESHOLDS: tuple[float, ...] = (300.0,)
ACTIVE_POLL = 0.5
MAX_SLEEP = 60.0


class IdleTracker:
    """Turns idle-seconds samples into Idle (threshold crossed) and Active events."""

    def __init__(self, thresholds: Sequence[float] = ()) -> None:
        self.thresholds: tuple[float, ...] = ()
        self._crossed = 0.0  # highest threshold reported in this idle period
        self.set_thresholds(thresholds)

    def set_thresholds(self, thresholds: Sequence[float]) -> None:
        self.thresholds = tuple(sorted({float(s) for s in thresholds if s > 0})) or (
            DEFAULT_THRESHOLDS
        )

    @property
    def idle(self) -> bool:
        return self._crossed > 0

    def update(self, t: float, idle_seconds: float) -> tuple[list[Idle | Active], float]:
        """Events caused by this sample, and how long to wait before the next one."""
        events: list[Idle | Active] = []
        if self._crossed and idle_seconds < self._crossed:
            events.append(Active(t))
            self._crossed = 0.0
        newly = [s for s in self.thresholds if self._crossed < s <= idle_seconds]
        if newly:
            self._crossed = newly[-1]
            events.append(Idle(t, round(idle_seconds, 1)))
        if self._crossed:
            return events, ACTIVE_POLL
        pending = [s - idle_seconds for s in self.thresholds if s > idle_seconds]
        wait = min(pending) if pending else MAX_SLEEP
        return events, min(max(wait, 0.05), MAX_SLEEP)


class IdleSource(ThreadedSource):
    """Runs an :class:`IdleTracker` on its own thread over an OS ``query``.

    ``open_query`` is called on the source's thread and returns
    ``(query, close)``; ``query()`` gives seconds since the last input.
    """

    name = "idle"
    thread_name = "waymark-idle"

    def __init__(
        self,
        open_query: Callable[[], tuple[Callable[[], float], Callable[[], None]]],
        thresholds: Sequence[float] = (),
        *,
        how: str = "",
    ) -> None:
        super().__init__()
        self._open_query = open_query
        self._tracker = IdleTracker(thresholds)
        self._how = how
        self._wake = threading.Event()
        self._stopping = False

    def set_thresholds(self, seconds: Sequence[float]) -> None:
        self._tracker.set_thresholds(seconds)
        self._wake.set()

    def start(self, emit: Emit) -> None:
        self._stopping = False
        super().start(emit)

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        join_quietly(self._thread)
        self._thread = None

    def state(self) -> SourceState:
        ok = self.alive()
        if ok:
            marks = ", ".join(f"{s:g}s" for s in self._tracker.thresholds)
            detail = f"{self._how}; thresholds {marks}"
        else:
            detail = self._error or "not running"
        return SourceState(self.name, ok, detail)

    def _run(self) -> None:
        try:
            query, close = self._open_query()
        except Exception as exc:
            self._error = f"idle time unavailable: {exc}"
            self._ready.set()
            return
        self._ready.set()
        try:
            while not self._stopping:
                events, wait = self._tracker.update(time.time(), query())
                for event in events:
                    if self._emit is not None:
                        self._emit(event)
                self._wake.wait(wait)
                self._wake.clear()
        except Exception as exc:  # the watchdog restarts us; say why once
            self._error = f"idle query failed: {exc}"
            log.warning("idle source stopped: %s", exc)
        finally:
            close()
