"""The validated, immutable model of a rule pack (format version 1).

The loader (:mod:`agent.rules.loader`) turns YAML/JSON into these objects and
reports every problem with file:line:col; the engine only ever sees a valid
:class:`Pack`.  Durations are seconds (``float``); localised texts are
``{locale: text}`` mappings that always contain the pack's default locale.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

from agent.timespans import TimeRange

__all__ = [
    "EVENT_KINDS",
    "OS_NAMES",
    "After",
    "AppAlias",
    "Audience",
    "Count",
    "ElementSelector",
    "EventKind",
    "FileFilter",
    "Matcher",
    "Pack",
    "PackLimits",
    "Rule",
    "RuleLimits",
    "Schedule",
    "Toast",
    "ToastAction",
]

EventKind = Literal[
    "focus", "chord", "click", "typing", "idle", "active", "lock", "unlock", "start",
    "element", "file",
]  # fmt: skip
EVENT_KINDS: Final[tuple[EventKind, ...]] = (
    "focus", "chord", "click", "typing", "idle", "active", "lock", "unlock", "start",
    "element", "file",
)  # fmt: skip
OS_NAMES: Final = ("windows", "macos", "linux")

#: Texts per locale, e.g. ``{"en": "Share a link", "it": "Condividi un link"}``.
Localized = Mapping[str, str]


@dataclass(frozen=True, slots=True)
class AppAlias:
    """A logical app name and its OS identifiers (matched case-insensitively)."""

    name: str
    windows: tuple[str, ...] = ()
    macos: tuple[str, ...] = ()
    linux: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ElementSelector:
    """Which element an ``event: element`` means, in the app the rule names.

    ``role`` is one of :data:`agent.rules.elements.ROLES`; ``names`` are exact
    names (any of them, case-insensitive; e.g. one per language) and
    ``name_re`` an RE2 pattern searched in the name; ``automation_id`` is the
    UIA AutomationId / AXIdentifier / AT-SPI accessible id; ``window_role`` and
    ``window_title`` (RE2) describe the window the element is in.
    """

    role: str
    names: tuple[str, ...] | None = None
    name_re: str | None = None
    automation_id: str | None = None
    window_role: str | None = None
    window_title: str | None = None


@dataclass(frozen=True, slots=True)
class FileFilter:
    """Which saved files an ``event: file`` means: folder aliases, types, a minimum size."""

    folders: tuple[str, ...]
    types: tuple[str, ...] | None = None
    size_at_least: int | None = None


@dataclass(frozen=True, slots=True)
class Matcher:
    """What an event must look like (``when``, ``after``, ``adopted``).

    ``apps`` holds logical app names; ``None`` means any app.  ``title`` is an
    RE2 pattern searched in the focused window's title.  ``idle`` (seconds) is
    the minimum idle length for ``event: idle``.  ``on`` and ``element`` are
    for ``event: element``, ``file`` for ``event: file``.
    """

    event: EventKind
    apps: tuple[str, ...] | None = None
    chord: str | None = None
    button: str | None = None
    title: str | None = None
    idle: float | None = None
    on: str | None = None
    element: ElementSelector | None = None
    file: FileFilter | None = None


@dataclass(frozen=True, slots=True)
class Count:
    at_least: int
    within: float


@dataclass(frozen=True, slots=True)
class After:
    matcher: Matcher
    within: float


@dataclass(frozen=True, slots=True)
class Schedule:
    """``only``: local hours and weekdays (0=Mon)."""

    hours: TimeRange | None = None
    days: frozenset[int] | None = None


@dataclass(frozen=True, slots=True)
class Audience:
    groups: tuple[str, ...] | None = None
    rollout: int = 100
    holdout: int = 0


@dataclass(frozen=True, slots=True)
class RuleLimits:
    cooldown: float | None = None
    max_per_day: int | None = None
    max_total: int | None = None
    stop_after_adopted: int | None = None


@dataclass(frozen=True, slots=True)
class ToastAction:
    id: str
    label: Localized
    open: str | None = None


@dataclass(frozen=True, slots=True)
class Toast:
    title: Localized
    body: Localized = field(default_factory=dict)
    actions: tuple[ToastAction, ...] = ()
    snooze: tuple[float, ...] = ()
    timeout: float = 15.0
    image: str | None = None


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    habit: str
    when: Matcher
    toast: Toast
    priority: int = 0
    count: Count | None = None
    after: After | None = None
    only: Schedule | None = None
    audience: Audience | None = None
    limits: RuleLimits = field(default_factory=RuleLimits)
    adopted: Matcher | None = None
    #: 1-based line of the rule in its source file (0 when built in code).
    line: int = 0


@dataclass(frozen=True, slots=True)
class PackLimits:
    min_gap: float | None = None
    max_per_day: int | None = None


@dataclass(frozen=True, slots=True)
class Pack:
    id: str
    version: int
    title: str
    default_locale: str
    apps: Mapping[str, AppAlias]
    rules: tuple[Rule, ...]
    limits: PackLimits = field(default_factory=PackLimits)
    waymark: int = 1
    #: Where the pack was loaded from (for messages); empty when built in code.
    source: str = ""
