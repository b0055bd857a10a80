"""Control messages: what the wiring, the UI and the sync thread tell the engine runtime.

They travel on the runtime's inbox beside input events (so they keep their
order relative to the events queued before them) but are never dropped: only
input events are bounded.  See :class:`agent.rules.runtime.EngineRuntime` for
the protocol.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "Barrier",
    "ControlMessage",
    "Outcome",
    "ResetNever",
    "SetGroups",
    "SetNeverInterrupt",
    "SetPause",
    "Stop",
    "UsePackFile",
]


class Outcome:
    """A one-shot answer from the engine thread to whoever posted a message."""

    __slots__ = ("_done", "value")

    def __init__(self) -> None:
        self._done = threading.Event()
        self.value = False

    def set(self, value: bool) -> None:
        self.value = value
        self._done.set()

    def wait(self, timeout: float) -> bool | None:
        """The answer, or None when the engine thread did not answer within ``timeout``."""
        return self.value if self._done.wait(timeout) else None


@dataclass(frozen=True, slots=True)
class UsePackFile:
    """Load the pack at ``path`` and run it; a broken file keeps the running pack.

    ``origin`` is ``file`` (the pack file changed, or ``--pack``) or ``server``
    (the sync worker verified a bundle and wrote its pack there).
    """

    path: Path
    origin: str = "file"
    outcome: Outcome | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class SetNeverInterrupt:
    """Apps (OS identifiers or logical names) during which no toast is shown."""

    apps: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SetGroups:
    """This device's audience groups (policy changed them)."""

    groups: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SetPause:
    """Pause matching until POSIX time ``until`` (``inf``: until resumed); None resumes.

    The settings' pause (tray, settings window, policy); a replay script's
    ``pause`` line is the input event :class:`agent.events.Pause` instead.
    """

    until: float | None


@dataclass(frozen=True, slots=True)
class ResetNever:
    """Forget every "don't show this again" choice."""


@dataclass(frozen=True, slots=True)
class Barrier:
    """Answered once everything queued before it has been handled."""

    outcome: Outcome


@dataclass(frozen=True, slots=True)
class Stop:
    """Ends the engine loop; the last message the runtime handles."""


ControlMessage = (
    UsePackFile | SetNeverInterrupt | SetGroups | SetPause | ResetNever | Barrier | Stop
)
