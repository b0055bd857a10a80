"""The apps recently in front, for the settings window's "never interrupt" picker.

Kept in memory only, as the OS identifiers the focus source already reports
(an exe name, a bundle id, a WM_CLASS); never a title, never written anywhere.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from agent.events import InputEvent
from agent.hooks.base import Emit

__all__ = ["RecentApps"]


class RecentApps:
    """The last ``keep`` distinct apps seen in focus events, newest first. Thread-safe."""

    def __init__(self, keep: int = 20) -> None:
        self._keep = keep
        self._apps: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def note(self, app: str) -> None:
        if not app:
            return
        with self._lock:
            self._apps[app] = None
            self._apps.move_to_end(app)
            while len(self._apps) > self._keep:
                self._apps.popitem(last=False)

    def apps(self) -> list[str]:
        with self._lock:
            return list(reversed(self._apps))

    def watching(self, emit: Emit) -> Emit:
        """``emit`` that first notes the app of each focus event (one comparison otherwise)."""
        note = self.note

        def emit_noting(event: InputEvent) -> bool:
            if event.kind == "focus":
                note(event.app)
            return emit(event)

        return emit_noting
