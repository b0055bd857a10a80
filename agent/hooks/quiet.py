"""Quiet state: the pure tracker shared by every OS.

The engine suppresses toasts with reason ``quiet`` while the state is on.  The
focus source of each OS feeds this tracker with whether the focused window is
full screen (or the OS says a presentation is running); the tracker turns that
into a :class:`~agent.events.Quiet` event only when the state changes.  Which
apps are never to be interrupted is the engine's decision
(:mod:`agent.rules.never_interrupt`), not a source's.
"""

from __future__ import annotations

from agent.events import Quiet

__all__ = ["QuietTracker"]


class QuietTracker:
    """Turns "the screen is busy" observations into Quiet on/off changes."""

    def __init__(self) -> None:
        self._why = ""

    @property
    def on(self) -> bool:
        return bool(self._why)

    def update(self, t: float, busy: str = "") -> Quiet | None:
        """Record why the screen is busy (``fullscreen``, ``presentation``, or "").

        Returns a Quiet event if the state changed.
        """
        if busy == self._why:
            return None
        was_on = bool(self._why)
        self._why = busy
        if busy:
            return Quiet(t, True, busy)
        return Quiet(t, False, "") if was_on else None
