"""The knobs of one server process (from ``waymark-server serve`` flags or the environment)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ServerSettings"]


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """Knobs of one server process."""

    #: Per-device request budget: ``rate_burst`` at once, refilled at ``rate_per_second``.
    rate_per_second: float = 2.0
    rate_burst: int = 60
