"""The knobs of one server process (from ``waymark-server serve`` flags or the environment)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

__all__ = [
    "DEFAULT_BODY_TIMEOUT",
    "DEFAULT_HEADER_TIMEOUT",
    "DEFAULT_RETAIN_DAYS",
    "ServerSettings",
    "proxies_from_text",
    "settings_from_env",
]

#: How long raw events are kept unless the operator says otherwise (docs/privacy.md).
DEFAULT_RETAIN_DAYS: Final = 35
#: Seconds a client has to send a request body, however slowly it trickles in.
DEFAULT_BODY_TIMEOUT: Final = 30.0
#: Seconds a client has to send a request line and its headers.
DEFAULT_HEADER_TIMEOUT: Final = 10.0


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
    #: Wrong admin tokens (dashboard sign-in, admin API) per source address:
    #: ``admin_failure_burst`` at once, then ``admin_failures_per_source_hour`` an hour;
    #: past that even the right token gets 429 from that address until the budget refills
    #: (per process; only failures spend it).
    admin_failures_per_source_hour: float = 60.0
    admin_failure_burst: int = 10
    #: Peer addresses whose ``X-Forwarded-Proto`` is believed (a TLS-terminating proxy);
    #: ``"*"`` trusts every peer. Empty: the connection itself says whether it is https.
    trusted_proxies: frozenset[str] = frozenset()
    #: The bearer token ``GET /metrics`` needs; without one, /metrics is off (404).
    metrics_token: str | None = None
    #: Seconds a client has to send its whole request body (then 408).
    body_timeout: float = DEFAULT_BODY_TIMEOUT


def proxies_from_text(text: str | None) -> frozenset[str]:
    """``"127.0.0.1, 10.0.0.5"`` → the set of addresses (empty text: none)."""
    return frozenset(part.strip() for part in (text or "").split(",") if part.strip())


def settings_from_env(environ: Mapping[str, str] | None = None) -> ServerSettings:
    """The settings ``waymark-server serve`` hands to its worker processes (and a Lambda
    reads): ``WAYMARK_RATE_PER_SECOND``, ``WAYMARK_RATE_BURST``, ``WAYMARK_RETAIN_DAYS``,
    ``WAYMARK_TRUST_PROXY``, ``WAYMARK_METRICS_TOKEN``, ``WAYMARK_BODY_TIMEOUT``,
    ``WAYMARK_ENROLL_PER_SOURCE_HOUR``, ``WAYMARK_ENROLL_SOURCE_BURST``."""
    env = os.environ if environ is None else environ
    default = ServerSettings()  # what an unset variable means: the dataclass's own default

    def number(name: str, kind: type[float] | type[int], fallback: float) -> Any:
        return kind(env.get(name, str(fallback)))

    return ServerSettings(
        rate_per_second=number("WAYMARK_RATE_PER_SECOND", float, default.rate_per_second),
        rate_burst=number("WAYMARK_RATE_BURST", int, default.rate_burst),
        retain_days=number("WAYMARK_RETAIN_DAYS", int, default.retain_days),
        trusted_proxies=proxies_from_text(env.get("WAYMARK_TRUST_PROXY")),
        metrics_token=env.get("WAYMARK_METRICS_TOKEN") or None,
        body_timeout=number("WAYMARK_BODY_TIMEOUT", float, default.body_timeout),
        enroll_per_source_hour=number(
            "WAYMARK_ENROLL_PER_SOURCE_HOUR", float, default.enroll_per_source_hour
        ),
        enroll_source_burst=number("WAYMARK_ENROLL_SOURCE_BURST", int, default.enroll_source_burst),
    )
