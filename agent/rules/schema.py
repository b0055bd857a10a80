"""The declaration of the pack format (version 1), and the JSON Schema generated from it.

The loader validates packs against :data:`PACK` and ``docs/pack.schema.json`` is
this same table written as JSON Schema, so the two cannot drift::

    python -m agent.rules.schema > docs/pack.schema.json

Checks that span several fields (app aliases that must be declared, unique rule
ids, the default locale's texts, ``holdout <= rollout``) live in the loader.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any, Final
from urllib.parse import urlsplit

from agent.events import MODIFIERS, is_valid_chord, normalize_chord
from agent.rules._spec import (
    LOCALE_PATTERN,
    Choice,
    Duration,
    Field,
    Integer,
    ListOf,
    Localized,
    MapOf,
    OneOrList,
    Record,
    Size,
    Text,
    locale_problem,
)
from agent.rules.elements import ELEMENT_EVENTS, FILE_TYPES, FOLDERS, ROLES
from agent.rules.model import EVENT_KINDS
from agent.timespans import TIME_RANGE_PATTERN, TimeRange

__all__ = [
    "BUTTONS",
    "DAYS",
    "MAX_PACK_BYTES",
    "MAX_RULES",
    "PACK",
    "RESERVED_ACTIONS",
    "build_schema",
    "main",
]

#: A pack file larger than this is refused before it is parsed.
MAX_PACK_BYTES: Final = 5 * 1024 * 1024
#: A pack with more rules than this is refused.
MAX_RULES: Final = 20_000

DAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
BUTTONS: Final = ("left", "right", "middle", "other")
#: Toast choices the agent always offers; a button may not take these ids.
RESERVED_ACTIONS: Final = ("got-it", "snooze", "never", "dismiss")

NAME_PATTERN: Final = r"^[a-z0-9][a-z0-9._-]{0,63}$"
NAME_HINT: Final = "use lower-case letters, digits, '.', '_' or '-' (at most 64), like share-links"
URL_PATTERN: Final = r"^(?:https://[^\s/?#@]+(?:[/?#]\S*)?|mailto:[^\s@/]+@[^\s@/]+)$"
# Modifiers in canonical order, then one key (is_valid_chord adds: a bare letter is not a chord).
CHORD_PATTERN: Final = (
    "^" + "".join(f"(?:{m}\\+)?" for m in MODIFIERS) + r"(?:[a-z0-9_]+|[`\-=\[\]\\;',./])$"
)


def _chord_problem(value: str) -> str | None:
    if is_valid_chord(value):
        return None
    fixed = normalize_chord(value)
    if fixed is not None:
        return f"{value!r} is not in normalised form; write {fixed!r}"
    return (
        f"{value!r} is not a chord: write modifiers in the order "
        f"{'+'.join(MODIFIERS)} then one key, like ctrl+shift+v, cmd+k or f1 "
        "(a letter alone is typing, not a chord)"
    )


def _title_problem(value: str) -> str | None:
    import re2

    options = re2.Options()
    options.log_errors = False  # the error goes into the pack report, not to stderr
    try:
        re2.compile(value, options)
    except re2.error as exc:
        why = exc.args[0] if exc.args else exc
        if isinstance(why, bytes):
            why = why.decode("utf-8", "replace")
        return f"RE2 rejects the pattern {value!r}: {why}"
    return None


def _url_problem(value: str) -> str | None:
    if value.startswith("mailto:"):
        if re.match(URL_PATTERN, value):
            return None
        return f"{value!r} is not a mailto link like mailto:help@example.com"
    if not value.lower().startswith("https://"):
        scheme = value.split(":", 1)[0] if ":" in value else ""
        what = f"a {scheme}: link" if scheme else "not a link"
        return f"{value!r} is {what}; toast links must be https:// or mailto:"
    try:
        parts = urlsplit(value)
        _ = parts.port  # raises on a malformed port
    except ValueError as exc:
        return f"{value!r} is not a valid URL ({exc})"
    if not parts.hostname or not re.match(URL_PATTERN, value):
        return f"{value!r} is not a valid https URL (it needs a host and no spaces)"
    return None


def _hours_problem(value: str) -> str | None:
    try:
        TimeRange.parse(value)
    except ValueError as exc:
        return str(exc)
    return None


def _locale_check(value: str) -> str | None:
    return locale_problem(value)


def _name(noun: str) -> Text:
    return Text(pattern=NAME_PATTERN, hint=NAME_HINT, max_len=64, noun=noun)


_APP_REF: Final = OneOrList(_name("an app name declared under apps (or any)"))


def _matcher_fields(role: str) -> dict[str, Field]:
    return {
        "event": Field(
            Choice(EVENT_KINDS),
            f"The kind of event {role}: focus, chord, click, typing, idle, active, lock, "
            "unlock, start (the agent started), element (a button, menu item or dialog of an "
            "app) or file (a file saved in a well-known folder).",
            required=True,
        ),
        "app": Field(
            _APP_REF,
            "A logical app name from `apps`, a list of them, or `any` (the default). "
            "Matched against the app in front when the event happens.",
            default="any",
        ),
        "chord": Field(
            Text(pattern=CHORD_PATTERN, check=_chord_problem, max_len=40, noun="a chord"),
            "Only with event chord: the normalised chord, like ctrl+shift+v; "
            "without it any chord matches.",
            only_with=("event", "chord"),
        ),
        "button": Field(
            Choice(BUTTONS),
            "Only with event click: left, right, middle or other; without it any button.",
            only_with=("event", "click"),
        ),
        "title": Field(
            Text(check=_title_problem, max_len=1000, noun="an RE2 pattern"),
            "An RE2 regular expression searched in the focused window's title "
            "(use (?i) for case-insensitive).",
        ),
        "idle": Field(
            Duration(),
            "Only with event idle: the shortest idle period that counts, like 5m.",
            only_with=("event", "idle"),
        ),
        "on": Field(
            Choice(ELEMENT_EVENTS),
            "Only with event element: focus (the element got focus), invoke (a button or "
            "menu item was pressed), window_open (a window such as a dialog opened) or "
            "menu_open.",
            only_with=("event", "element"),
        ),
        "element": Field(
            ELEMENT,
            "Only with event element: which element (see `element`).",
            only_with=("event", "element"),
        ),
        "folder": Field(
            OneOrList(Choice(FOLDERS)),
            "Only with event file: desktop, downloads, documents or synced (the folder "
            "policy names in synced_folder), or a list of them.",
            only_with=("event", "file"),
        ),
        "type": Field(
            OneOrList(Choice(FILE_TYPES)),
            "Only with event file: document, spreadsheet, presentation, pdf, image, archive or "
            "other (from the extension), or a list of them; without it any type.",
            only_with=("event", "file"),
        ),
        "size_at_least": Field(
            Size(),
            "Only with event file: the smallest file that counts, like 20MB (10^6 bytes) "
            "or 500KiB (2^10 bytes).",
            only_with=("event", "file"),
        ),
    }


WINDOW: Final = Record(
    "window",
    {
        "role": Field(
            Choice(ROLES), "The role of the window the element is in (window, dialog …)."
        ),
        "title": Field(
            Text(check=_title_problem, max_len=1000, noun="an RE2 pattern"),
            "An RE2 pattern searched in that window's title.",
        ),
    },
    "The window the element is in.",
)
ELEMENT: Final = Record(
    "element",
    {
        "role": Field(
            Choice(ROLES),
            "The element's role, the same on every OS: " + ", ".join(ROLES) + ".",
            required=True,
        ),
        "name": Field(
            OneOrList(Text(max_len=200, noun="an element name")),
            "The element's name (its label, as a screen reader says it), or a list of names "
            "(one per language, say); matched whole and ignoring case.",
        ),
        "name_re": Field(
            Text(check=_title_problem, max_len=1000, noun="an RE2 pattern"),
            "An RE2 pattern searched in the element's name.",
        ),
        "automation_id": Field(
            Text(max_len=200, noun="an automation id"),
            "The element's UI Automation AutomationId, AXIdentifier or AT-SPI accessible id.",
        ),
        "window": Field(WINDOW, WINDOW.doc),
    },
    "Which element: its role, and its name, automation id or window.",
)
WHEN: Final = Record("when", _matcher_fields("that triggers the rule"), "What triggers the rule.")
ADOPTED: Final = Record(
    "adopted",
    _matcher_fields("that shows the habit was adopted"),
    "An event that shows the person used the habit; records `adopted` for the rule's habit.",
)
AFTER: Final = Record(
    "after",
    {
        **_matcher_fields("that must have happened before"),
        "within": Field(
            Duration(),
            "How long before the occurrence the `after` event may have happened.",
            required=True,
        ),
    },
    "The rule triggers only if an event matching this happened within `within` before.",
)
COUNT: Final = Record(
    "count",
    {
        "at_least": Field(
            Integer(minimum=1),
            "How many occurrences (this one included) must fall inside the window.",
            required=True,
        ),
        "within": Field(Duration(), "The trailing window, like 10m.", required=True),
    },
    "Trigger only at the occurrence that brings the count within the window to at_least.",
)
ONLY: Final = Record(
    "only",
    {
        "hours": Field(
            Text(pattern=TIME_RANGE_PATTERN, check=_hours_problem, max_len=11, noun="a time range"),
            "Local time range HH:MM-HH:MM (start included, end excluded; may wrap midnight).",
        ),
        "days": Field(
            ListOf(Choice(DAYS), unique=True),
            "Local weekdays: mon, tue, wed, thu, fri, sat, sun.",
        ),
    },
    "When the rule may be shown (device local time); otherwise suppressed as `schedule`.",
)
AUDIENCE: Final = Record(
    "audience",
    {
        "groups": Field(
            ListOf(Text(max_len=100, noun="a group name"), unique=True),
            "Only devices in one of these groups (from enrollment or policy).",
        ),
        "rollout": Field(
            Integer(0, 100), "Percent of devices (by stable bucket) that get the rule.", default=100
        ),
        "holdout": Field(
            Integer(0, 100),
            "Percent of devices kept as a control group: the rule is recorded, never shown. "
            "At most rollout.",
            default=0,
        ),
    },
    "Who gets the rule.",
)
RULE_LIMITS: Final = Record(
    "limits",
    {
        "cooldown": Field(
            Duration(allow_zero=True), "Minimum time between two showings of this rule."
        ),
        "max_per_day": Field(Integer(minimum=1), "At most this many showings per local day."),
        "max_total": Field(Integer(minimum=1), "At most this many showings ever."),
        "stop_after_adopted": Field(
            Integer(minimum=1), "Stop showing once the habit was adopted this many times."
        ),
    },
    "Caps for this rule.",
)
ACTION: Final = Record(
    "action",
    {
        "id": Field(
            _name("an action id"),
            "The button's id, recorded when it is clicked (not got-it, snooze, never, dismiss).",
            required=True,
        ),
        "label": Field(Localized(max_len=40), "The button text per locale.", required=True),
        "open": Field(
            Text(
                pattern=URL_PATTERN,
                check=_url_problem,
                max_len=2000,
                noun="an https or mailto link",
            ),
            "A link opened when the button is clicked: https:// or mailto: only.",
        ),
    },
    "A toast button.",
)
TOAST: Final = Record(
    "toast",
    {
        "title": Field(Localized(max_len=120), "The toast's title per locale.", required=True),
        "body": Field(
            Localized(max_len=2000), "The toast's text per locale (simple Markdown: **bold**)."
        ),
        "actions": Field(ListOf(ACTION), "Buttons, in order (at most 3 shown)."),
        "snooze": Field(ListOf(Duration(), unique=True), "Snooze choices offered, like [1h, 1d]."),
        "timeout": Field(Duration(), "How long the toast stays up untouched.", default="15s"),
        "image": Field(
            Text(max_len=500, noun="an image path"),
            "Optional image shown in the toast: a path relative to the pack file.",
        ),
    },
    "What the person sees.",
)
RULE: Final = Record(
    "rule",
    {
        "id": Field(_name("a rule id"), "Unique id of the rule in the pack.", required=True),
        "habit": Field(
            _name("a habit name"),
            "The habit the rule coaches; adoption is reported per habit (default: the rule id).",
        ),
        "priority": Field(
            Integer(-1_000_000, 1_000_000),
            "Higher wins when several rules trigger at one event.",
            default=0,
        ),
        "when": Field(WHEN, WHEN.doc, required=True),
        "count": Field(COUNT, COUNT.doc),
        "after": Field(AFTER, AFTER.doc),
        "only": Field(ONLY, ONLY.doc),
        "audience": Field(AUDIENCE, AUDIENCE.doc),
        "limits": Field(RULE_LIMITS, RULE_LIMITS.doc),
        "adopted": Field(ADOPTED, ADOPTED.doc),
        "toast": Field(TOAST, TOAST.doc, required=True),
    },
    "One coaching rule.",
)
APP: Final = Record(
    "app",
    {
        os_name: Field(
            ListOf(Text(max_len=200, noun="an app identifier"), unique=True),
            f"{label} identifiers, matched case-insensitively.",
        )
        for os_name, label in (
            ("windows", "Windows executable names (outlook.exe)"),
            ("macos", "macOS bundle ids (com.microsoft.Outlook)"),
            ("linux", "Linux X11 WM_CLASS values (thunderbird)"),
        )
    },
    "The identifiers of one logical app on each OS.",
)
PACK_LIMITS: Final = Record(
    "limits",
    {
        "min_gap": Field(
            Duration(allow_zero=True), "Minimum time between any two toasts of this pack."
        ),
        "max_per_day": Field(Integer(minimum=1), "At most this many toasts per local day."),
    },
    "Limits across the whole pack.",
)
PACK: Final = Record(
    "pack",
    {
        "waymark": Field(Integer(1, 1), "The pack format version; always 1.", required=True),
        "id": Field(_name("a pack id"), "The pack's id, stable across versions.", required=True),
        "version": Field(
            Integer(minimum=1, maximum=2**53),
            "A positive whole number that only ever grows.",
            required=True,
        ),
        "title": Field(Text(max_len=200), "A human title for the pack.", required=True),
        "default_locale": Field(
            Text(pattern=LOCALE_PATTERN, check=_locale_check, max_len=20, noun="a locale tag"),
            "The locale every text must have (en, it, pt-BR...).",
            default="en",
        ),
        "apps": Field(
            MapOf(APP, key_pattern=NAME_PATTERN, key_hint=NAME_HINT, key_noun="app name"),
            "Logical app names and their identifiers per OS.",
        ),
        "limits": Field(PACK_LIMITS, PACK_LIMITS.doc),
        "rules": Field(ListOf(RULE, min_items=0), "The coaching rules.", required=True),
    },
    "A Waymark rule pack (format version 1).",
)


def build_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a pack, generated from :data:`PACK`."""
    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://waymark.example/schemas/pack-v1.json",
        "title": "Waymark rule pack",
    }
    schema.update(PACK.schema())
    rules = schema["properties"]["rules"]
    rules["maxItems"] = MAX_RULES
    return schema


def main() -> int:
    """Print the schema (what ``docs/pack.schema.json`` holds)."""
    sys.stdout.write(json.dumps(build_schema(), indent=2, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
