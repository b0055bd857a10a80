"""Build packs in code for engine tests (no YAML, no loader)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from zoneinfo import ZoneInfo

from agent.clock import VirtualClock
from agent.rules.model import (
    After,
    AppAlias,
    Audience,
    Count,
    EventKind,
    Matcher,
    Pack,
    PackLimits,
    Rule,
    RuleLimits,
    Schedule,
    Toast,
)
from agent.timespans import TimeRange

ROME = ZoneInfo("Europe/Rome")
#: Monday 30 November 2026, 09:00 in Rome.
MONDAY_9 = datetime(2026, 11, 30, 9, 0, tzinfo=ROME).timestamp()

APPS: Mapping[str, AppAlias] = {
    "outlook": AppAlias("outlook", ("outlook.exe",), ("com.microsoft.Outlook",), ("thunderbird",)),
    "excel": AppAlias("excel", ("excel.exe",), ("com.microsoft.Excel",), ("libreoffice-calc",)),
    "editor": AppAlias("editor", ("notepad.exe",), ("com.apple.TextEdit",), ("gedit",)),
    "slides": AppAlias("slides", ("powerpnt.exe",), ("com.microsoft.Powerpoint",), ("impress",)),
}


def when(
    event: EventKind = "chord",
    app: str | tuple[str, ...] | None = "outlook",
    *,
    chord: str | None = None,
    button: str | None = None,
    title: str | None = None,
    idle: float | None = None,
) -> Matcher:
    """A matcher; ``app`` None means any app."""
    apps = (app,) if isinstance(app, str) else app
    if event == "chord" and chord is None:
        chord = "ctrl+v"
    return Matcher(event, apps, chord, button, title, idle)


def rule(
    rule_id: str = "r1",
    matcher: Matcher | None = None,
    *,
    habit: str | None = None,
    priority: int = 0,
    count: tuple[int, float] | None = None,
    after: tuple[Matcher, float] | None = None,
    hours: tuple[int, int] | None = None,
    days: frozenset[int] | None = None,
    groups: tuple[str, ...] | None = None,
    rollout: int = 100,
    holdout: int = 0,
    cooldown: float | None = None,
    max_per_day: int | None = None,
    max_total: int | None = None,
    stop_after_adopted: int | None = None,
    adopted: Matcher | None = None,
    snooze: tuple[float, ...] = (),
) -> Rule:
    """A rule with a plain English toast; every option as a keyword."""
    audience = None
    if groups is not None or rollout != 100 or holdout:
        audience = Audience(groups, rollout, holdout)
    return Rule(
        id=rule_id,
        habit=habit or f"{rule_id}-habit",
        when=matcher or when(),
        toast=Toast(title={"en": f"Tip {rule_id}"}, snooze=snooze),
        priority=priority,
        count=Count(*count) if count else None,
        after=After(*after) if after else None,
        only=Schedule(TimeRange(*hours) if hours else None, days)
        if hours is not None or days is not None
        else None,
        audience=audience,
        limits=RuleLimits(cooldown, max_per_day, max_total, stop_after_adopted),
        adopted=adopted,
    )


def pack(
    *rules: Rule,
    min_gap: float | None = None,
    max_per_day: int | None = None,
    version: int = 1,
    pack_id: str = "test",
) -> Pack:
    """A pack of ``rules`` with the standard test apps."""
    return Pack(
        id=pack_id,
        version=version,
        title="Test pack",
        default_locale="en",
        apps=APPS,
        rules=tuple(rules),
        limits=PackLimits(min_gap, max_per_day),
    )


def clock(start: float = MONDAY_9) -> VirtualClock:
    return VirtualClock(start, ROME)
