"""Durations and daily time ranges, written once for packs, settings and scripts.

A duration is a number of seconds or text such as ``15s``, ``10m``, ``1h30m``,
``1d`` or ``2w``.  A time range is ``HH:MM-HH:MM`` on the 24-hour clock, local
time, start included and end excluded; the end may be ``24:00`` (midnight at
the end of the day), and a range whose start is after its end wraps past
midnight (``22:00-07:00``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Final

__all__ = ["DURATION_PATTERN", "TIME_RANGE_PATTERN", "TimeRange", "parse_duration"]


_UNITS: Final = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_DURATION: Final = re.compile(r"^(?:[0-9]+(?:\.[0-9]+)?[smhdw])+$")
_DURATION_PART: Final = re.compile(r"([0-9]+(?:\.[0-9]+)?)([smhdw])")
DURATION_PATTERN: Final = r"^(?:[0-9]+(?:\.[0-9]+)?(?:[smhdw])?|(?:[0-9]+(?:\.[0-9]+)?[smhdw])+)$"


def parse_duration(value: object) -> float:
    """Seconds from ``"15s"``, ``"10m"``, ``"1h"``, ``"1d"``, ``"2w"``, ``"1h30m"``, ``"90"`` or 90.

    Raises ValueError with a message a person can act on.
    """
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or text like 10m, 1h, 1d")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().lower()
        if re.fullmatch(r"[0-9]+(?:\.[0-9]+)?", text):
            seconds = float(text)
        elif _DURATION.match(text):
            seconds = sum(float(n) * _UNITS[u] for n, u in _DURATION_PART.findall(text))
        else:
            raise ValueError(
                f"{value!r} is not a duration; write a number of seconds or text like "
                "15s, 10m, 1h, 1d or 1h30m"
            )
    else:
        raise ValueError("a duration is a number of seconds or text like 10m, 1h, 1d")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"{value!r} is not a usable duration (it must be 0 or more seconds)")
    return seconds


TIME_RANGE_PATTERN: Final = (
    r"^(?:[01][0-9]|2[0-3]):[0-5][0-9]-(?:(?:[01][0-9]|2[0-3]):[0-5][0-9]|24:00)$"
)
_TIME_RANGE: Final = re.compile(TIME_RANGE_PATTERN)


@dataclass(frozen=True, slots=True)
class TimeRange:
    """Local minutes since midnight, ``[start, end)``, wrapping when ``start > end``."""

    start: int
    end: int

    @classmethod
    def parse(cls, text: str) -> TimeRange:
        """``"09:00-18:00"`` → ``TimeRange(540, 1080)``; ValueError says what is wrong."""
        if not isinstance(text, str) or not _TIME_RANGE.match(text):
            raise ValueError(
                f"{text!r} is not a time range like 09:00-18:00 (24-hour clock, HH:MM-HH:MM)"
            )
        start, end = (int(part[:2]) * 60 + int(part[3:]) for part in text.split("-"))
        if start == end:
            raise ValueError(f"{text!r} is an empty time range (start and end are equal)")
        return cls(start, end)

    def contains(self, minute: int) -> bool:
        """True if ``minute`` (0-1439 since local midnight) lies in the range."""
        if self.start <= self.end:
            return self.start <= minute < self.end
        return minute >= self.start or minute < self.end

    def __str__(self) -> str:
        return "-".join(f"{m // 60:02d}:{m % 60:02d}" for m in (self.start, self.end))
