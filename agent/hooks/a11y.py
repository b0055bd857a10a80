"""What every accessibility source shares: the element it read, slow-app back-off, inspect lines.

An accessibility source (AT-SPI on Linux, UI Automation on Windows, AX on
macOS) reads an element of a watched app into an :class:`ElementSeen` on its
own thread, matches it against the :class:`~agent.rules.watchlist.Watchlist`
there, and emits only an :class:`~agent.events.Element` (selector ids, role,
app).  :class:`ElementSeen` never leaves the source's thread, except to the
local ``waymark inspect`` printer, which writes it to the terminal and
nothing else.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from agent.events import Element
from agent.rules.elements import PRIVATE_ROLES, ElementEvent
from agent.rules.watchlist import Watchlist

__all__ = [
    "SLOW_CALL",
    "AppBackoff",
    "ElementSeen",
    "Inspector",
    "element_event",
    "inspect_line",
]

log = logging.getLogger(__name__)

#: An app whose accessibility call takes longer than this is backed off.
SLOW_CALL: Final = 0.25
#: How long a slow app is left alone, in seconds (doubling up to BACKOFF_MAX).
BACKOFF_FIRST: Final = 30.0
BACKOFF_MAX: Final = 600.0


@dataclass(frozen=True, slots=True)
class ElementSeen:
    """One element as a source read it (hook thread and ``waymark inspect`` only)."""

    app: str
    on: ElementEvent
    role: str
    name: str | None = None
    automation_id: str | None = None
    window_role: str | None = None
    window_title: str | None = None


#: Receives what ``waymark inspect`` prints (on the source's thread).
Inspector = Callable[[ElementSeen], None]


def element_event(t: float, seen: ElementSeen, watchlist: Watchlist) -> Element | None:
    """The event for the engine, or None when no selector matched (names stay here)."""
    selectors = watchlist.match(
        seen.app,
        seen.on,
        seen.role,
        seen.name,
        seen.automation_id,
        seen.window_role,
        seen.window_title,
    )
    if not selectors:
        return None
    return Element(t, seen.app, seen.on, seen.role, selectors)


def inspect_line(seen: ElementSeen) -> str | None:
    """The selector ``waymark inspect`` prints, or None for what it must not show."""
    if seen.role == "password" or seen.role in PRIVATE_ROLES:
        return None
    parts = [f"role: {seen.role}"]
    if seen.name:
        parts.append(f"name: {_yaml(seen.name)}")
    if seen.automation_id:
        parts.append(f"automation_id: {_yaml(seen.automation_id)}")
    line = f"{seen.app}  {seen.on:<11} {{{', '.join(parts)}}}"
    if seen.window_role or seen.window_title:
        window = [f"role: {seen.window_role}"] if seen.window_role else []
        if seen.window_title:
            window.append(f"title: {_yaml(seen.window_title)}")
        line += f"   window: {{{', '.join(window)}}}"
    return line


def _yaml(text: str) -> str:
    plain = text.replace('"', "").strip() == text and not any(c in text for c in ":{}[],#&*!|>'%@`")
    return text if plain and text else '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class AppBackoff:
    """Leaves an app alone for a while after an accessibility call to it was slow or hung.

    ``clock`` is a monotonic clock (injected for tests).  The first slow call
    of an app is logged once; later ones only lengthen the pause.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._until: dict[str, float] = {}
        self._length: dict[str, float] = {}
        self.logged: set[str] = set()

    def blocked(self, app: str) -> bool:
        until = self._until.get(app)
        return until is not None and self._clock() < until

    def slow(self, app: str, seconds: float) -> None:
        length = min(self._length.get(app, BACKOFF_FIRST / 2) * 2, BACKOFF_MAX)
        self._length[app] = length
        self._until[app] = self._clock() + length
        if app not in self.logged:
            self.logged.add(app)
            log.warning(
                "accessibility: %s answered in %.0f ms (limit %.0f ms); leaving it alone "
                "for %.0f s",
                app,
                seconds * 1000,
                SLOW_CALL * 1000,
                length,
            )

    def fine(self, app: str) -> None:
        self._length.pop(app, None)
