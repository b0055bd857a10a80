"""Quiet state: the pure tracker shared by every OS.

The engine suppresses toasts with reason ``quiet`` while the state is on.  The
focus source of each OS feeds this tracker with the focused app and whether
the window is full screen (or the OS says a presentation is running); the
tracker turns that into a :class:`~agent.events.Quiet` event only when the
state changes.
"""

from __future__ import annotations

from collections.abc import Collection

from agent.events import Quiet

__all__ = ["QuietTracker", "app_matches"]


def app_matches(app: str, names: Collection[str]) -> bool:
    """True if ``app`` (an OS identifier) is one of ``names``, case-insensitively.

    ``names`` are lower-case OS identifiers (``zoom``, ``powerpnt.exe``,
    ``com.apple.keynote``); a Windows exe also matches without ``.exe``.
    """
    a = app.lower()
    return a in names or (a.endswith(".exe") and a[:-4] in names)


class QuietTracker:
    """Turns (focused app, full screen) observations into Quiet on/off changes."""

    def __init__(self, never_interrupt: Collection[str] = ()) -> None:
        self._never = frozenset(n.lower() for n in never_interrupt)
        self._why = ""
        self._app = ""
        self._busy = ""

    @property
    def on(self) -> bool:
        return bool(self._why)

    def set_never_interrupt(self, apps: Collection[str], t: float) -> Quiet | None:
        """Replace the never-interrupt list; returns the change it causes, if any."""
        self._never = frozenset(n.lower() for n in apps)
        return self.update(t, self._app, self._busy)

    def update(self, t: float, app: str, busy: str = "") -> Quiet | None:
        """Record the current focus; returns a Quiet event if the state changed.

        ``busy`` is why the screen is busy (``fullscreen``, ``presentation``), or "".
        """
        self._app, self._busy = app, busy
        if busy:
            why = busy
        elif app and app_matches(app, self._never):
            why = "never_interrupt"
        else:
            why = ""
        if why == self._why:
            return None
        was_on = bool(self._why)
        self._why = why
        if why:
            return Quiet(t, True, why)
        return Quiet(t, False, "") if was_on else None
