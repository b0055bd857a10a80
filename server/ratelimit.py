"""Token buckets by key (a device, a source address), per process: each replica limits
on its own."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Final

__all__ = ["MAX_KEYS", "RateLimiter"]

#: Past this many keys, buckets that have refilled are dropped (a full bucket is the
#: same as none), then if need be the least recently used half, so a client that
#: varies its key (addresses) cannot grow the map without bound: at worst some keys
#: start again from a full bucket.
MAX_KEYS: Final = 10_000


class RateLimiter:
    """``burst`` requests at once, refilled at ``per_second``; answers a wait in seconds."""

    def __init__(
        self, per_second: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.per_second = per_second
        self.burst = burst
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}

    def acquire(self, key: str) -> float:
        """0 if the request may go ahead (it spends one), else how many seconds to wait."""
        return self._take(key, spend=True)

    def wait(self, key: str) -> float:
        """How many seconds until ``key`` may go ahead (0: now), spending nothing: for
        budgets that only failures spend (:meth:`acquire` after the failure)."""
        return self._take(key, spend=False)

    def __len__(self) -> int:
        return len(self._buckets)

    def _take(self, key: str, *, spend: bool) -> float:
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.per_second)
            if tokens >= 1.0:
                if spend:
                    if key not in self._buckets and len(self._buckets) >= MAX_KEYS:
                        self._drop_full(now)
                    self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.per_second if self.per_second > 0 else 60.0

    def _drop_full(self, now: float) -> None:
        """Forget the buckets that have refilled since their last use, and if that is not
        enough the least recently used half (called locked)."""
        kept = {
            key: (tokens, last)
            for key, (tokens, last) in self._buckets.items()
            if tokens + (now - last) * self.per_second < self.burst
        }
        if len(kept) >= MAX_KEYS:
            recent = sorted(kept.items(), key=lambda item: item[1][1])[-(MAX_KEYS // 2) :]
            kept = dict(recent)
        self._buckets = kept
