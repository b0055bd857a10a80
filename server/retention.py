"""The retention job the server runs itself: raw events older than the period go.

Every ``every`` seconds (and once at start) :meth:`Store.purge` deletes each
tenant's raw events and daily device lists older than ``retain_days`` local
days, and the exposures of devices idle that long (the cohort counts keep
them, without device ids).  Rollups stay.  Each run that deletes something is written to the
audit log.
"""

from __future__ import annotations

import logging
import threading

from server.store import Purge, Store

__all__ = ["RetentionJob"]

log = logging.getLogger(__name__)


class RetentionJob:
    """Runs :meth:`Store.purge` on its own thread until stopped."""

    def __init__(self, store: Store, retain_days: int, every: float) -> None:
        if retain_days < 1:
            raise ValueError("retain_days must be at least 1")
        self._store = store
        self.retain_days = retain_days
        self._every = every
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: Completed runs (for tests and /metrics).
        self.runs = 0

    def run_once(self) -> Purge:
        """One retention run, now."""
        done = self._store.purge(self.retain_days)
        self.runs += 1
        if done.events or done.exposures:
            log.info(
                "retention: deleted %d raw event(s) and %d exposure(s) of idle devices",
                done.events,
                done.exposures,
            )
        return done

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="waymark-retention", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # the job must outlive one failed run (a locked database …)
                log.exception("retention run failed; trying again in %.0f s", self._every)
            self._stop.wait(self._every)
