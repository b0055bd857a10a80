"""Shapes the device and admin APIs share: name and group patterns, the bundle type, times."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final, overload

__all__ = ["BUNDLE_TYPE", "DEVICE_ID_PATTERN", "GROUP_PATTERN", "NAME_PATTERN", "iso_time"]

#: A pack id.
NAME_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
#: An audience group, as policy names it.
GROUP_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9 ._@-]{0,63}$"
#: The media type of a signed bundle (agent.rules.bundle) on the wire.
BUNDLE_TYPE: Final = "application/vnd.waymark.bundle+json"
#: A device id (a UUID, as enrollment gave it).
DEVICE_ID_PATTERN: Final = (
    r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$"
)


@overload
def iso_time(seconds: float) -> str: ...
@overload
def iso_time(seconds: None) -> None: ...
@overload
def iso_time(seconds: float | None) -> str | None: ...


def iso_time(seconds: float | None) -> str | None:
    """POSIX seconds as the API writes times (``2026-11-28T09:00:00Z``); None stays None."""
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
