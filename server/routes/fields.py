"""Request shapes the device and admin APIs share: name and group patterns, the bundle type."""

from __future__ import annotations

from typing import Final

__all__ = ["BUNDLE_TYPE", "GROUP_PATTERN", "NAME_PATTERN"]

#: A pack id.
NAME_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
#: An audience group, as policy names it.
GROUP_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9 ._@-]{0,63}$"
#: The media type of a signed bundle (agent.rules.bundle) on the wire.
BUNDLE_TYPE: Final = "application/vnd.waymark.bundle+json"
