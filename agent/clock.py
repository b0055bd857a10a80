"""Injectable clocks: the engine never reads the system time directly."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, tzinfo
from typing import Protocol

__all__ = ["Clock", "SystemClock", "VirtualClock"]


class Clock(Protocol):
    """Now as a POSIX timestamp, and the time zone that defines local days."""

    def now(self) -> float: ...

    @property
    def tz(self) -> tzinfo: ...


def _local_tz() -> tzinfo:
    tz = datetime.now().astimezone().tzinfo
    assert tz is not None
    return tz


class SystemClock:
    """The real wall clock in the device's local time zone."""

    def __init__(self, tz: tzinfo | None = None) -> None:
        self._tz = tz or _local_tz()

    def now(self) -> float:
        return time.time()

    @property
    def tz(self) -> tzinfo:
        return self._tz


class VirtualClock:
    """A clock that only moves when told to (replays and tests)."""

    def __init__(self, start: float, tz: tzinfo | None = None) -> None:
        self._now = start
        self._tz = tz or _local_tz()

    def now(self) -> float:
        return self._now

    def set(self, t: float) -> None:
        self._now = t

    def advance(self, seconds: float | timedelta) -> None:
        self._now += seconds.total_seconds() if isinstance(seconds, timedelta) else seconds

    @property
    def tz(self) -> tzinfo:
        return self._tz
