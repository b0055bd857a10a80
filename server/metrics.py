"""Prometheus text exposition of in-process counters (no client library needed)."""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict
from typing import Final

__all__ = ["BUCKETS", "METHODS", "Metrics"]

BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0)
#: The methods counted by name; any other (a client may send any token) is "OTHER", so
#: that nobody can add series at will.
METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class Metrics:
    """Requests, latencies and ingestion counters of this process.

    Every label has a bounded set of values (method, route template, status): no
    series names a tenant, a device or anything a client chose.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, str, int], int] = defaultdict(int)
        self._hist: dict[str, list[int]] = {}
        self._sum: dict[str, float] = defaultdict(float)
        self._count: dict[str, int] = defaultdict(int)
        self.events: dict[str, int] = defaultdict(int)
        self.enrollments: dict[str, int] = defaultdict(int)
        self.admin_refusals: dict[str, int] = defaultdict(int)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one request; ``route`` is a route template (or "unmatched"), never a path."""
        method = method if method in METHODS else "OTHER"
        with self._lock:
            self._requests[(method, route, status)] += 1
            hist = self._hist.setdefault(route, [0] * (len(BUCKETS) + 1))
            hist[bisect.bisect_left(BUCKETS, seconds)] += 1
            self._sum[route] += seconds
            self._count[route] += 1

    def count_events(self, ok: int, duplicate: int, rejected: int) -> None:
        with self._lock:
            self.events["ok"] += ok
            self.events["duplicate"] += duplicate
            self.events["rejected"] += rejected

    def count_enrollment(self, outcome: str) -> None:
        """One ``POST /v1/enroll``: new | pending | replaced, or the refusal's code."""
        with self._lock:
            self.enrollments[outcome] += 1

    def count_admin_refusal(self, reason: str) -> None:
        """One admin token refused: unknown_token, or source_rate_limited (too many wrong
        ones from one address)."""
        with self._lock:
            self.admin_refusals[reason] += 1

    def render(self, gauges: dict[str, int], counters: dict[str, tuple[int, str]]) -> str:
        """The exposition text; ``counters`` maps a name to (value, help) kept elsewhere."""
        lines = [
            "# HELP waymark_http_requests_total HTTP requests by method, route and status.",
            "# TYPE waymark_http_requests_total counter",
        ]
        with self._lock:
            for (method, route, status), n in sorted(self._requests.items()):
                lines.append(
                    f'waymark_http_requests_total{{method="{method}",route="{route}",'
                    f'status="{status}"}} {n}'
                )
            lines += [
                "# HELP waymark_http_request_duration_seconds Request latency by route.",
                "# TYPE waymark_http_request_duration_seconds histogram",
            ]
            for route, hist in sorted(self._hist.items()):
                cumulative = 0
                for bound, n in zip((*BUCKETS, float("inf")), hist, strict=True):
                    cumulative += n
                    le = "+Inf" if bound == float("inf") else repr(bound)
                    lines.append(
                        f'waymark_http_request_duration_seconds_bucket{{route="{route}",'
                        f'le="{le}"}} {cumulative}'
                    )
                lines.append(
                    f'waymark_http_request_duration_seconds_sum{{route="{route}"}} '
                    f"{self._sum[route]:.6f}"
                )
                lines.append(
                    f'waymark_http_request_duration_seconds_count{{route="{route}"}} '
                    f"{self._count[route]}"
                )
            for name, help_text in (
                ("ok", "Events stored."),
                ("duplicate", "Events already stored (resends)."),
                ("rejected", "Events refused by validation."),
            ):
                metric = f"waymark_events_{'ingested' if name == 'ok' else name}_total"
                lines += [
                    f"# HELP {metric} {help_text}",
                    f"# TYPE {metric} counter",
                    f"{metric} {self.events[name]}",
                ]
            lines += _by_label(
                "enrollments", "outcome", self.enrollments,
                "Enrollment requests by outcome (new, pending, replaced, or the refusal's code).",
            )  # fmt: skip
            lines += _by_label(
                "admin_auth_refused", "reason", self.admin_refusals,
                "Admin tokens refused, by reason (unknown_token, or source_rate_limited after "
                "too many from one address).",
            )  # fmt: skip
        for name, (value, help_text) in sorted(counters.items()):
            metric = f"waymark_{name}_total"
            lines += [f"# HELP {metric} {help_text}", f"# TYPE {metric} counter"]
            lines.append(f"{metric} {value}")
        for name, value in sorted(gauges.items()):
            lines += [f"# TYPE waymark_{name} gauge", f"waymark_{name} {value}"]
        return "\n".join(lines) + "\n"


def _by_label(name: str, label: str, counts: dict[str, int], help_text: str) -> list[str]:
    """The lines of the counter ``waymark_<name>_total``, one series per value of ``label``."""
    metric = f"waymark_{name}_total"
    return [
        f"# HELP {metric} {help_text}",
        f"# TYPE {metric} counter",
        *(f'{metric}{{{label}="{value}"}} {n}' for value, n in sorted(counts.items())),
    ]
