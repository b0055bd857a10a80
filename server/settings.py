"""The knobs of one server process (from ``waymark-server serve`` flags or the environment)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = ["DEFAULT_RETAIN_DAYS", "ServerSettings"]

#: How long raw events are kept unless the operator says otherwise (docs/privacy.md).
DEFAULT_RETAIN_DAYS: Final = 35


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """Knobs of one server process."""

    #: Per-device request budget: ``rate_burst`` at once, refilled at ``rate_per_second``.
    rate_per_second: float = 2.0
    rate_burst: int = 60
    #: Raw events are kept this many days, then deleted (docs/privacy.md).
    retain_days: int = DEFAULT_RETAIN_DAYS
    #: Seconds between two retention runs (the first runs at start).
    purge_every: float = 3600.0
    #: ``POST /v1/enroll`` per source address: ``enroll_source_burst`` at once, then
    #: ``enroll_per_source_hour`` an hour (per process; the address is the peer's
    #: until the trusted-proxy setting gives the client's).
    enroll_per_source_hour: float = 60.0
    enroll_source_burst: int = 20
