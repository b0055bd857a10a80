"""Notices a dead source and re-installs it with backoff.

A source is dead when :meth:`~agent.hooks.base.Source.alive` says so: its
thread ended, or (input hook) the OS saw input that the hook did not (a
Windows hook removed after LowLevelHooksTimeout, a macOS tap disabled).  Each
restart is counted in the source's state; the first restart of a source is
logged as a warning, later ones only at debug level, so a flapping hook cannot
flood the log.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from agent.hooks.base import Emit, Source, join_quietly

__all__ = ["Watchdog"]

log = logging.getLogger(__name__)


class Watchdog:
    """Checks ``sources`` every ``interval`` seconds on its own thread."""

    def __init__(
        self,
        sources: Callable[[], Sequence[Source]],
        emit: Emit,
        *,
        interval: float = 1.0,
        min_backoff: float = 0.5,
        max_backoff: float = 60.0,
    ) -> None:
        self._sources = sources
        self._emit = emit
        self._interval = interval
        self._min_backoff = min_backoff
        self._max_backoff = max_backoff
        self.restarts: dict[str, int] = {}
        self._backoff: dict[str, float] = {}
        self._next_try: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="waymark-watchdog", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        join_quietly(self._thread)
        self._thread = None

    def check(self, now: float | None = None) -> None:
        """One round: restart every dead source whose backoff has passed."""
        now = time.monotonic() if now is None else now
        for source in self._sources():
            if self._stop.is_set():
                return
            name = source.name
            if source.alive():
                # Healthy for a while: forget the backoff so a new failure restarts fast.
                if now >= self._next_try.get(name, 0.0) + 30.0:
                    self._backoff.pop(name, None)
                continue
            if now < self._next_try.get(name, 0.0):
                continue
            backoff = self._backoff.get(name, self._min_backoff)
            self._backoff[name] = min(backoff * 2, self._max_backoff)
            self._next_try[name] = now + backoff
            count = self.restarts.get(name, 0) + 1
            self.restarts[name] = count
            level = logging.WARNING if count == 1 else logging.DEBUG
            log.log(level, "source %s stopped; re-installing it (restart %d)", name, count)
            try:
                source.stop()
                source.start(self._emit)
            except Exception as exc:
                log.log(level, "source %s could not be re-installed: %s", name, exc)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.check()
            except Exception:  # the watchdog must outlive a misbehaving source
                log.exception("watchdog round failed")
