"""The one small interface every event source implements.

A source runs its own native loop on its own thread and hands events to
``emit``, which must never block: it is a bounded queue's ``put_nowait`` wrapped
so that a full queue counts a drop instead of raising (see :class:`Emitter`).
"""

from __future__ import annotations

import queue
import threading
from typing import Any, Protocol

from agent.events import Event

__all__ = ["Emitter", "Source", "SourceState"]


class Emitter:
    """Non-blocking hand-off from a hook thread to the engine queue."""

    __slots__ = ("_put", "dropped")

    def __init__(self, q: queue.Queue[Any]) -> None:
        self._put = q.put_nowait
        self.dropped = 0

    def __call__(self, event: Event) -> None:
        try:
            self._put(event)
        except queue.Full:
            self.dropped += 1  # counted, never logged from a hook thread


class SourceState:
    """What a source reports about itself (for `waymark doctor` and the UI)."""

    __slots__ = ("detail", "name", "ok", "restarts")

    def __init__(self, name: str, ok: bool, detail: str = "", restarts: int = 0) -> None:
        self.name = name
        self.ok = ok
        self.detail = detail
        self.restarts = restarts


class Source(Protocol):
    """Lifecycle: ``start(emit)`` installs the hook and returns once it is live
    (or raises with a clear message); ``stop()`` removes it and joins its thread."""

    name: str

    def start(self, emit: Emitter) -> None: ...

    def stop(self) -> None: ...

    def alive(self) -> bool: ...

    def state(self) -> SourceState: ...


def join_quietly(thread: threading.Thread | None, timeout: float = 2.0) -> None:
    """Join ``thread`` if it exists and is not the current thread."""
    if thread is not None and thread is not threading.current_thread():
        thread.join(timeout)
