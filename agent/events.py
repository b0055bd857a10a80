"""Input events: the neutral types every source emits and the engine consumes.

Content-free by construction: no type here has a field that can carry typed
text, clipboard contents or pointer coordinates.  A chord is a normalised
string such as ``ctrl+shift+v`` and is checked on construction; plain typing is
only an anonymous :class:`Typing` tick.  Window titles exist only on
:class:`Focus`, are used locally for matching, and are never copied into a
record (:class:`agent.rules.records.Record`, what leaves the engine for telemetry).

What the engine produces (toasts, records) is in :mod:`agent.rules.effects`;
the runtime's control messages are in :mod:`agent.rules.messages`.  This
module imports nothing of the agent.

Times are POSIX timestamps in seconds (``float``); the engine turns them into
local calendar days with its clock's time zone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final, Literal

__all__ = [
    "MODIFIERS",
    "NAMED_KEYS",
    "Action",
    "Active",
    "Chord",
    "Click",
    "Element",
    "FileSaved",
    "Focus",
    "Idle",
    "InputEvent",
    "Lock",
    "Pause",
    "Quiet",
    "Start",
    "ToastNotShown",
    "ToastShown",
    "Typing",
    "Unlock",
    "is_valid_chord",
    "normalize_chord",
]

#: Modifier names in their canonical order inside a chord string
#: (``ctrl+shift+v``, ``cmd+shift+4``, ``win+shift+s``, ``ctrl+alt+delete``).
MODIFIERS: Final = ("ctrl", "cmd", "win", "alt", "shift")

#: Keys that are reported by name even without a modifier.
NAMED_KEYS: Final = frozenset(
    {
        "enter", "escape", "tab", "backspace", "delete", "insert", "home", "end",
        "page_up", "page_down", "up", "down", "left", "right", "space",
        "print_screen", "menu", "pause", "caps_lock",
        *(f"f{i}" for i in range(1, 25)),
    }
)  # fmt: skip

# A chord is zero or more modifiers in canonical order, then one key: a named
# key, or a single ASCII letter/digit/punctuation key (only with a modifier).
_CHORD_RE: Final = re.compile(
    r"^(?:ctrl\+)?(?:cmd\+)?(?:win\+)?(?:alt\+)?(?:shift\+)?"
    r"(?P<key>[a-z0-9_]+|[`\-=\[\]\\;',./])$"
)


def is_valid_chord(chord: str) -> bool:
    """True if ``chord`` is a normalised chord that cannot carry typed text.

    A bare character key (``a``) or ``shift+a`` is typing, not a chord; a named
    key (``f1``, ``shift+tab``) or anything with ctrl/alt/cmd/win is a chord.
    """
    m = _CHORD_RE.match(chord)
    if m is None:
        return False
    key = m.group("key")
    if key in NAMED_KEYS:
        return True
    if len(key) != 1:
        return False
    mods = chord[: -len(key)]
    return any(f"{name}+" in mods for name in ("ctrl", "alt", "cmd", "win"))


_MODIFIER_ALIASES: Final = {
    "ctrl": "ctrl", "control": "ctrl", "cmd": "cmd", "command": "cmd", "meta": "cmd",
    "super": "win", "win": "win", "windows": "win", "alt": "alt", "option": "alt",
    "opt": "alt", "shift": "shift",
}  # fmt: skip


def normalize_chord(text: str) -> str | None:
    """Canonical form of a chord written by a person (``Shift+Ctrl+V`` → ``ctrl+shift+v``).

    Returns None when ``text`` is not a chord (see :func:`is_valid_chord`).
    """
    parts = [p.strip().lower() for p in text.split("+")]
    if len(parts) > 1 and parts[-1] == "" and parts[-2] == "":
        parts = [*parts[:-2], "+"]  # "ctrl++" is ctrl and the plus key
    if not parts or not parts[-1]:
        return None
    *mods, key = parts
    canon: set[str] = set()
    for mod in mods:
        name = _MODIFIER_ALIASES.get(mod)
        if name is None or name in canon:
            return None
        canon.add(name)
    chord = "+".join([*(m for m in MODIFIERS if m in canon), key])
    return chord if is_valid_chord(chord) else None


# --------------------------------------------------------------------------
# Input events (what hooks and scripted sources emit)


@dataclass(frozen=True, slots=True)
class Focus:
    """A window came to the front. ``title`` is for local matching only."""

    t: float
    app: str
    title: str = ""
    kind: Literal["focus"] = field(default="focus", init=False)


@dataclass(frozen=True, slots=True)
class Chord:
    """A key chord or named key, normalised (``ctrl+shift+v``, ``f1``)."""

    t: float
    chord: str
    app: str | None = None
    kind: Literal["chord"] = field(default="chord", init=False)

    def __post_init__(self) -> None:
        if not is_valid_chord(self.chord):
            raise ValueError(f"not a normalised chord: {len(self.chord)} characters rejected")


@dataclass(frozen=True, slots=True)
class Click:
    """A mouse click; only the button, never a position."""

    t: float
    button: Literal["left", "right", "middle", "other"]
    app: str | None = None
    kind: Literal["click"] = field(default="click", init=False)


@dataclass(frozen=True, slots=True)
class Element:
    """Something happened to an element of ``app`` that a loaded rule watches.

    ``on`` is ``focus``, ``invoke``, ``window_open`` or ``menu_open``;
    ``selectors`` are the ids of the pack's selectors it matched (the source
    matched them on its own thread).  No name, value or text of the element
    is here: only its normalised ``role``.
    """

    t: float
    app: str
    on: Literal["focus", "invoke", "window_open", "menu_open"]
    role: str
    selectors: frozenset[str]
    kind: Literal["element"] = field(default="element", init=False)


@dataclass(frozen=True, slots=True)
class FileSaved:
    """A file was created or saved in a well-known folder; never its name or path.

    ``folder`` is an alias (``desktop``, ``downloads``, ``documents``,
    ``synced``), ``type`` a file type from the extension, and ``size_at_least``
    the largest size threshold of the loaded rules the file reached (0: none).
    """

    t: float
    folder: str
    type: str
    size_at_least: int = 0
    kind: Literal["file"] = field(default="file", init=False)


@dataclass(frozen=True, slots=True)
class Typing:
    """An anonymous tick meaning "the person is typing"; no key is recorded."""

    t: float
    kind: Literal["typing"] = field(default="typing", init=False)


@dataclass(frozen=True, slots=True)
class Idle:
    """No input for ``seconds`` (reported when a threshold is crossed)."""

    t: float
    seconds: float
    kind: Literal["idle"] = field(default="idle", init=False)


@dataclass(frozen=True, slots=True)
class Active:
    """Input resumed after an idle period."""

    t: float
    kind: Literal["active"] = field(default="active", init=False)


@dataclass(frozen=True, slots=True)
class Lock:
    t: float
    kind: Literal["lock"] = field(default="lock", init=False)


@dataclass(frozen=True, slots=True)
class Unlock:
    t: float
    kind: Literal["unlock"] = field(default="unlock", init=False)


@dataclass(frozen=True, slots=True)
class Quiet:
    """Quiet state changed: full screen, presentation, or a never-interrupt app."""

    t: float
    on: bool
    why: str = ""
    kind: Literal["quiet"] = field(default="quiet", init=False)


@dataclass(frozen=True, slots=True)
class Start:
    """The agent started (rules may react with ``event: start``)."""

    t: float
    kind: Literal["start"] = field(default="start", init=False)


@dataclass(frozen=True, slots=True)
class Action:
    """What the person did with a toast.

    ``action`` is ``got-it``, ``snooze``, ``never``, ``dismiss`` (closed or
    timed out) or the id of one of the toast's buttons; ``snooze_for`` is in
    seconds and only set for ``snooze``.
    """

    t: float
    rule: str
    action: str
    snooze_for: float | None = None
    kind: Literal["action"] = field(default="action", init=False)


@dataclass(frozen=True, slots=True)
class ToastShown:
    """The UI put the toast ``toast_id`` (:class:`agent.rules.effects.ShowToast`) on screen."""

    t: float
    toast_id: int
    kind: Literal["toast_shown"] = field(default="toast_shown", init=False)


@dataclass(frozen=True, slots=True)
class ToastNotShown:
    """The UI could not show the toast ``toast_id``; ``why`` is for the log only."""

    t: float
    toast_id: int
    why: str = ""
    kind: Literal["toast_not_shown"] = field(default="toast_not_shown", init=False)


@dataclass(frozen=True, slots=True)
class Pause:
    """Pause matching until ``until`` (POSIX time); ``until=None`` resumes."""

    t: float
    until: float | None
    kind: Literal["pause"] = field(default="pause", init=False)


InputEvent = (
    Focus
    | Chord
    | Click
    | Element
    | FileSaved
    | Typing
    | Idle
    | Active
    | Lock
    | Unlock
    | Quiet
    | Start
    | Action
    | ToastShown
    | ToastNotShown
    | Pause
)
