"""Calendar days and weeks in a tenant's time zone (reports follow the tenant's days).

Pure functions over POSIX seconds; no database.  A tenant names an IANA zone
(``Europe/Rome``); an event is filed under the local day it happened on there.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["DEFAULT_ZONE", "LocalDays", "check_zone", "monday_of", "utc_day"]

DEFAULT_ZONE: Final = "UTC"
# Every offset in use since 2000 is a multiple of 15 minutes, so all the
# seconds of one slot fall on the same local day: memoise per slot.
_SLOT: Final = 900


def check_zone(name: str) -> str:
    """``name`` if it is an IANA time zone this machine knows, else ValueError."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(
            f"unknown time zone {name!r}; use an IANA name such as Europe/Rome or UTC"
        ) from exc
    return name


def monday_of(day: date) -> date:
    """The Monday of ``day``'s week (weeks run Monday to Sunday)."""
    return day - timedelta(days=day.weekday())


class LocalDays:
    """Local days and weeks of one time zone, memoised (a batch spans a day or two)."""

    __slots__ = ("_days", "zone", "zone_name")

    def __init__(self, zone: str = DEFAULT_ZONE) -> None:
        self.zone_name = check_zone(zone)
        self.zone = ZoneInfo(zone)
        self._days: dict[int, date] = {}

    def date_of(self, t: float) -> date:
        """The local calendar day of POSIX time ``t``."""
        slot = int(t // _SLOT)
        found = self._days.get(slot)
        if found is None:
            found = datetime.fromtimestamp(slot * _SLOT, self.zone).date()
            if len(self._days) > 8192:
                self._days.clear()
            self._days[slot] = found
        return found

    def day(self, t: float) -> str:
        """``YYYY-MM-DD`` of ``t`` in this zone."""
        return self.date_of(t).isoformat()

    def week(self, t: float) -> str:
        """``YYYY-MM-DD`` of the Monday of ``t``'s local week."""
        return monday_of(self.date_of(t)).isoformat()


_UTC: Final = LocalDays(DEFAULT_ZONE)


def utc_day(t: float) -> str:
    """``YYYY-MM-DD`` of ``t`` in UTC."""
    return _UTC.day(t)
