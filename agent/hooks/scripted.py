"""Replays a JSONL file of events, on virtual time (``waymark replay``) or real
time (``waymark run --script FILE``).

Format (docs/replay-format.md, for people): one JSON object a line; the first line may be a
header ``{"header": {"start": ISO time with offset, "device": …, "groups": […],
"os": "windows"|"macos"|"linux", "locale": …, "tz": IANA name}}``.  Without a
start the replay starts now; without ``tz`` local days follow the start's UTC
offset.  Every other line has ``t`` (seconds since start, never going back)
and ``kind``:

``focus`` (``app``, ``title``), ``chord`` (``chord``, optional ``app``),
``click`` (``button``: left/right/middle/other, optional ``app``), ``typing``,
``idle`` (``seconds``), ``active``, ``lock``, ``unlock``, ``quiet`` (``on``,
``why``), ``start``, ``action`` (``rule``, ``action``, ``for`` a duration such
as ``"1h"`` for a snooze), ``element`` (``app``, ``on``, ``role``, optional
``name``, ``automation_id``, ``window``: ``{"role", "title"}``) and ``file``
(``folder``, ``name`` or ``type``, optional ``size`` in bytes).  Two
extensions: ``{"kind": "pause", "for": "1h"}`` (without ``for``: until a
resume) and ``{"kind": "resume"}``.

Element and file lines describe what a source would see; like a source, the
parser matches them against the pack's selectors (:class:`Watchlist`) and
keeps only the result, so a name or file name in a replay file goes no further
than a live one would.  A temporary or lock file line is skipped, as the file
source ignores those files.  docs/replay-format.md describes every field.

A malformed line is reported as ``FILE:LINE: message`` and skipped.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from agent.events import (
    Action,
    Active,
    Chord,
    Click,
    Element,
    FileSaved,
    Focus,
    Idle,
    InputEvent,
    Lock,
    Pause,
    Quiet,
    Start,
    Typing,
    Unlock,
    normalize_chord,
)
from agent.hooks.base import Emit, SourceState, join_quietly
from agent.rules.elements import ELEMENT_EVENTS, FOLDERS, ROLES, file_type, is_temporary_file
from agent.rules.model import Pack
from agent.rules.watchlist import EMPTY_WATCHLIST, Watchlist
from agent.timespans import parse_duration

__all__ = [
    "Script",
    "ScriptEvent",
    "ScriptHeader",
    "ScriptedSource",
    "load_script",
    "parse_duration",
    "parse_script",
]

log = logging.getLogger(__name__)

ScriptItem = InputEvent | Pause

_BUTTONS: Final = ("left", "right", "middle", "other")


@dataclass(frozen=True, slots=True)
class ScriptHeader:
    """The optional first line; ``start`` is a POSIX time."""

    start: float
    tz: tzinfo
    device: str | None = None
    groups: tuple[str, ...] | None = None
    os: str | None = None
    locale: str | None = None


@dataclass(frozen=True, slots=True)
class ScriptEvent:
    """One event line: its offset as written, its event (``t = start + offset``), its line."""

    offset: float
    event: ScriptItem
    line: int


@dataclass(slots=True)
class Script:
    """A parsed replay file: header, events in order, and the problems of skipped lines."""

    header: ScriptHeader
    events: list[ScriptEvent] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def __iter__(self) -> Iterator[ScriptEvent]:
        """The events on virtual time (no waiting)."""
        return iter(self.events)


class _Bad(ValueError):
    pass


def _local_tz() -> tzinfo:
    tz = datetime.now().astimezone().tzinfo
    assert tz is not None
    return tz


def _header(data: Any, now: float | None) -> ScriptHeader:
    if not isinstance(data, dict):
        raise _Bad("the header must be an object")
    unknown = set(data) - {"start", "device", "groups", "os", "locale", "tz"}
    if unknown:
        raise _Bad(f"unknown header field(s): {', '.join(sorted(unknown))}")
    tz: tzinfo | None = None
    if "tz" in data:
        try:
            tz = ZoneInfo(str(data["tz"]))
        except (ZoneInfoNotFoundError, ValueError):
            raise _Bad(f"unknown time zone {data['tz']!r} (use an IANA name)") from None
    if "start" in data:
        try:
            when = datetime.fromisoformat(str(data["start"]))
        except ValueError:
            raise _Bad("start must be an ISO time such as 2026-11-30T09:00:00+01:00") from None
        if when.tzinfo is None:
            raise _Bad("start needs a UTC offset, e.g. 2026-11-30T09:00:00+01:00")
        start = when.timestamp()
        tz = tz or when.tzinfo
    else:
        start = time.time() if now is None else now
    groups = data.get("groups")
    if groups is not None and (
        not isinstance(groups, list) or not all(isinstance(g, str) for g in groups)
    ):
        raise _Bad("groups must be a list of names")
    os_name = data.get("os")
    if os_name is not None and os_name not in ("windows", "macos", "linux"):
        raise _Bad("os must be windows, macos or linux")
    for key in ("device", "locale"):
        if key in data and not isinstance(data[key], str):
            raise _Bad(f"{key} must be text")
    return ScriptHeader(
        start=start,
        tz=tz or _local_tz(),
        device=data.get("device"),
        groups=tuple(groups) if groups is not None else None,
        os=os_name,
        locale=data.get("locale"),
    )


def _text(data: dict[str, Any], key: str, required: bool = True) -> str | None:
    value = data.get(key)
    if value is None:
        if required:
            raise _Bad(f"{data['kind']} needs {key!r}")
        return None
    if not isinstance(value, str):
        raise _Bad(f"{key!r} must be text")
    return value


def _element(data: dict[str, Any], t: float, watchlist: Watchlist) -> Element:
    app = _text(data, "app") or ""
    on = data.get("on")
    if on not in ELEMENT_EVENTS:
        raise _Bad(f"element needs 'on': one of {', '.join(ELEMENT_EVENTS)}")
    role = _text(data, "role") or ""
    if role not in ROLES and role != "password":
        raise _Bad(f"unknown role {role!r} (one of {', '.join(ROLES)}, or password)")
    window = data.get("window", {})
    if not isinstance(window, dict):
        raise _Bad("'window' must be an object with 'role' and 'title'")
    window_role = window.get("role")
    window_title = window.get("title")
    if not all(v is None or isinstance(v, str) for v in (window_role, window_title)):
        raise _Bad("'window' role and title must be text")
    selectors = frozenset[str]()
    if watchlist.watches(app):
        name = _text(data, "name", False) if watchlist.needs_name(app, on, role) else None
        selectors = watchlist.match(
            app, on, role, name, _text(data, "automation_id", False), window_role, window_title
        )
    return Element(t, app, on, role, selectors)


def _file(data: dict[str, Any], t: float, watchlist: Watchlist) -> FileSaved | None:
    folder = data.get("folder")
    if folder not in FOLDERS:
        raise _Bad(f"file needs 'folder': one of {', '.join(FOLDERS)}")
    name = _text(data, "name", False)
    if name is not None and is_temporary_file(name):
        return None  # the file source ignores temporary and lock files
    kind = _text(data, "type", False) or (file_type(name) if name else None)
    if kind is None:
        raise _Bad("file needs 'name' or 'type'")
    size = data.get("size", 0)
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise _Bad("'size' must be a number of bytes (>= 0)")
    return FileSaved(t, folder, kind, watchlist.size_reached(size))


def _event(data: dict[str, Any], t: float, watchlist: Watchlist) -> ScriptItem | None:
    kind = data.get("kind")
    if kind == "element":
        return _element(data, t, watchlist)
    if kind == "file":
        return _file(data, t, watchlist)
    if kind == "focus":
        return Focus(t, _text(data, "app") or "", _text(data, "title", False) or "")
    if kind == "chord":
        raw = _text(data, "chord") or ""
        chord = normalize_chord(raw)
        if chord is None:
            raise _Bad(f"{raw!r} is not a chord (a key with ctrl/alt/cmd/win, or a named key)")
        return Chord(t, chord, _text(data, "app", False))
    if kind == "click":
        button = data.get("button", "left")
        if button not in _BUTTONS:
            raise _Bad(f"button must be one of {', '.join(_BUTTONS)}")
        return Click(t, button, _text(data, "app", False))
    if kind == "idle":
        seconds = data.get("seconds")
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, int | float)
            or not math.isfinite(seconds)
            or seconds < 0
        ):
            raise _Bad("idle needs 'seconds', a number >= 0")
        return Idle(t, float(seconds))
    if kind == "quiet":
        on = data.get("on")
        if not isinstance(on, bool):
            raise _Bad("quiet needs 'on': true or false")
        return Quiet(t, on, _text(data, "why", False) or "")
    if kind == "action":
        rule = _text(data, "rule") or ""
        action = _text(data, "action") or ""
        length = _duration(data) if "for" in data else None
        return Action(t, rule, action, length)
    if kind == "pause":
        return Pause(t, t + _duration(data) if "for" in data else float("inf"))
    if kind == "resume":
        return Pause(t, None)
    if kind == "typing":
        return Typing(t)
    if kind == "active":
        return Active(t)
    if kind == "lock":
        return Lock(t)
    if kind == "unlock":
        return Unlock(t)
    if kind == "start":
        return Start(t)
    raise _Bad(f"unknown kind {kind!r}" if kind is not None else "the line has no 'kind'")


def _duration(data: dict[str, Any]) -> float:
    try:
        return parse_duration(data["for"])
    except ValueError as exc:
        raise _Bad(f"'for': {exc}") from None


def parse_script(
    text: str,
    source: str = "<script>",
    *,
    now: float | None = None,
    pack: Pack | None = None,
    os_name: str | None = None,
) -> Script:
    """Parse replay JSONL; malformed lines become ``FILE:LINE: message`` problems and are skipped.

    ``now`` is the start when the header has none (default: the current time).
    ``pack`` provides the selectors that element and file lines are matched
    against, for the header's OS (else ``os_name``; None: every OS).
    """
    lines = text.splitlines()
    header: ScriptHeader | None = None
    watchlist: Watchlist | None = None
    problems: list[str] = []
    events: list[ScriptEvent] = []
    last = 0.0
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            try:
                data = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise _Bad(f"not JSON ({exc.msg} at column {exc.colno})") from None
            if not isinstance(data, dict):
                raise _Bad("each line must be a JSON object")
            if "header" in data:
                if header is not None or events:
                    raise _Bad("the header must be the first line")
                header = _header(data["header"], now)
                continue
            if header is None:
                header = _header({}, now)
            if watchlist is None:
                watchlist = Watchlist(pack, header.os or os_name) if pack else EMPTY_WATCHLIST
            offset = data.get("t")
            if (
                isinstance(offset, bool)
                or not isinstance(offset, int | float)
                or not math.isfinite(offset)
                or offset < 0
            ):
                raise _Bad("'t' must be a number of seconds since start (>= 0)")
            if offset < last:
                raise _Bad(f"'t' goes back in time ({offset} after {last})")
            event = _event(data, header.start + offset, watchlist)
        except (_Bad, ValueError) as exc:
            problems.append(f"{source}:{number}: {exc}")
            continue
        last = float(offset)
        if event is not None:
            events.append(ScriptEvent(float(offset), event, number))
    return Script(header or _header({}, now), events, problems)


def load_script(
    path: Path | str,
    *,
    now: float | None = None,
    pack: Pack | None = None,
    os_name: str | None = None,
) -> Script:
    """Read and parse a replay file (raises OSError when it cannot be read)."""
    text = Path(path).read_text(encoding="utf-8")
    return parse_script(text, str(path), now=now, pack=pack, os_name=os_name)


def _shift(event: ScriptItem, delta: float) -> ScriptItem:
    if isinstance(event, Pause):
        until = event.until
        moved = until + delta if until is not None and until != float("inf") else until
        return Pause(event.t + delta, moved)
    return replace(event, t=event.t + delta)


class ScriptedSource:
    """A :class:`~agent.hooks.base.Source` that replays a script on real time.

    Events keep the script's spacing (divided by ``speed``) but carry the real
    time they are emitted at, so the engine's cooldowns and pauses line up with
    the wall clock.  ``stop()`` interrupts the wait at once.
    """

    name = "scripted"

    def __init__(
        self,
        script: Path | str | Script,
        *,
        speed: float = 1.0,
        pack: Pack | None = None,
        os_name: str | None = None,
    ) -> None:
        if speed <= 0:
            raise ValueError("speed must be > 0")
        self._script_arg = script
        self._pack = pack
        self._os_name = os_name
        self._speed = speed
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.emitted = 0
        self._detail = ""

    def start(self, emit: Emit) -> None:
        """Parse the script (problems are logged as warnings) and start replaying it."""
        arg = self._script_arg
        script = (
            arg
            if isinstance(arg, Script)
            else load_script(arg, pack=self._pack, os_name=self._os_name)
        )
        for problem in script.problems:
            log.warning("skipped a malformed event line: %s", problem)
        self._detail = f"{len(script.events)} events, {len(script.problems)} skipped"
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._replay, args=(script, emit), name="waymark-scripted", daemon=True
        )
        self._thread.start()

    def _replay(self, script: Script, emit: Emit) -> None:
        base = time.monotonic()
        wall = time.time()
        for item in script.events:
            delay = base + item.offset / self._speed - time.monotonic()
            if delay > 0 and self._stop.wait(delay):
                return
            if self._stop.is_set():
                return
            emit(_shift(item.event, wall + item.offset / self._speed - item.event.t))
            self.emitted += 1

    def stop(self) -> None:
        """Stop replaying and join the thread."""
        self._stop.set()
        join_quietly(self._thread)

    def alive(self) -> bool:
        """True while lines remain to be replayed."""
        return self._thread is not None and self._thread.is_alive()

    def state(self) -> SourceState:
        return SourceState(self.name, True, self._detail)
