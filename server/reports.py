"""The adoption report: daily figures from the rollups, and the intention-to-treat lift.

:func:`build_report` makes the document that ``/v1/admin/reports`` serves,
``/v1/admin/reports.csv`` and ``waymark-server report`` export and
``/dashboard`` draws, from any :class:`ReportSource` (the store is one).  The
rest are pure functions over its rows.

Every figure passes :mod:`server.disclosure`: it aggregates at least
``MIN_DEVICES`` devices, and so does any difference of two figures.  A
withheld figure is ``None`` — never rounded or approximated; zero is 0.

The lift (docs/api.md, "Reports") compares the devices whose rule for a habit
triggered in the treatment arm with those that triggered in the holdout arm,
whatever a later guard did (intention to treat), each from its first trigger
on, over a fixed window of ``window_days``.  Cohorts are the weeks (Monday to
Sunday, tenant time) of the first trigger; a week counts once every device in
it has been observed for the whole window (plus a day for late syncs).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any, Final, NamedTuple, Protocol

from server.days import LocalDays, monday_of
from server.disclosure import MIN_DEVICES, Unit, disclosed, total
from server.errors import Invalid
from server.lift import newcombe_diff, verdict, wilson
from server.rollups import HABIT_TOTAL, HOLDOUT, TREATMENT

__all__ = [
    "DEFAULT_DAYS",
    "DEFAULT_WINDOW_DAYS",
    "FIGURES",
    "FIRST_DAY",
    "LAST_DAY",
    "MAX_RANGE_DAYS",
    "MAX_WINDOW_DAYS",
    "MIN_DEVICES",
    "DailyRow",
    "ExposureRow",
    "ReportSource",
    "VersionMark",
    "adoption",
    "build_report",
    "daily",
    "habit_days",
]

FIGURES: Final = ("shown", "acted", "snoozed", "dismissed", "never", "adopted")
#: The habit totals a trend chart draws (adopted is habit-level already).
HABIT_FIGURES: Final = ("shown", "acted", "adopted")
#: A report without ``since`` covers this many days up to ``until`` (13 weeks).
DEFAULT_DAYS: Final = 91
DEFAULT_WINDOW_DAYS: Final = 14
MAX_WINDOW_DAYS: Final = 90
#: The longest range one report covers (bounds the work of a request).
MAX_RANGE_DAYS: Final = 731
#: The days a report may name: nothing is recorded before 2000 (an event's time must be
#: later), and far-off days only overflow the calendar arithmetic.
FIRST_DAY: Final = date(2000, 1, 1)
LAST_DAY: Final = date(2999, 12, 31)
#: Days after a cohort's last window ends before it counts: devices sync late.
CLOSE_GRACE_DAYS: Final = 1


class DailyRow(NamedTuple):
    """One daily cell of one group set: events and distinct devices."""

    day: str
    habit: str
    rule: str
    kind: str
    reason: str
    group_set_id: int
    events: int
    devices: int


class ExposureRow(NamedTuple):
    """Devices of one cohort week, group set and arm, and how many adopted / saw a toast in time."""

    habit: str
    first_week: str
    group_set_id: int
    arm: str
    devices: int
    adopted: int
    shown: int


class VersionMark(NamedTuple):
    """An upload, rollout change or rollback of a pack version."""

    at: float
    pack_id: str
    version: int
    action: str
    rollout: int
    groups: tuple[str, ...] | None


class ReportSource(Protocol):
    """Where the report's rows come from, for one tenant."""

    def local_days(self, tenant_id: int) -> LocalDays: ...

    def group_sets(self, tenant_id: int) -> Mapping[int, frozenset[str]]: ...

    def daily_rows(
        self, tenant_id: int, since_day: str, until_day: str, pack_id: str | None
    ) -> Iterable[DailyRow]: ...

    def exposure_rows(
        self,
        tenant_id: int,
        first_week: str,
        last_week: str,
        pack_id: str | None,
        window_days: int,
    ) -> Iterable[ExposureRow]: ...

    def version_marks(self, tenant_id: int, pack_id: str | None) -> Iterable[VersionMark]: ...


def build_report(
    source: ReportSource,
    tenant_id: int,
    since: date | None,
    until: date | None,
    pack_id: str | None,
    *,
    group: str | None = None,
    window_days: int = DEFAULT_WINDOW_DAYS,
    now: float | None = None,
) -> dict[str, Any]:
    """The report document for local days ``since``..``until`` (default: 13 weeks to today)."""
    days = source.local_days(tenant_id)
    today = days.date_of(now if now is not None else datetime.now().timestamp())
    for name, day in (("since", since), ("until", until)):
        if day is not None and not FIRST_DAY <= day <= LAST_DAY:
            raise Invalid(
                f"{name} ({day}) is outside {FIRST_DAY} to {LAST_DAY}; reports cover those days",
                code="bad_range",
            )
    end = until or today
    start = since or max(FIRST_DAY, end - timedelta(days=DEFAULT_DAYS - 1))
    if start > end:
        raise Invalid(f"since ({start}) is after until ({end}); swap them", code="bad_range")
    if (end - start).days >= MAX_RANGE_DAYS:
        raise Invalid(
            f"a report covers at most {MAX_RANGE_DAYS} days; narrow since/until",
            code="bad_range",
        )
    if not 1 <= window_days <= MAX_WINDOW_DAYS:
        raise Invalid(f"window_days is 1 to {MAX_WINDOW_DAYS}", code="bad_window")
    lo, hi = start.isoformat(), end.isoformat()
    sets = source.group_sets(tenant_id)
    rows = list(source.daily_rows(tenant_id, lo, hi, pack_id))
    exposures = source.exposure_rows(
        tenant_id, monday_of(start).isoformat(), hi, pack_id, window_days
    )
    marks = [m for m in source.version_marks(tenant_id, pack_id) if lo <= days.day(m.at) <= hi]
    return {
        "since": lo,
        "until": hi,
        "pack_id": pack_id,
        "group": group,
        "time_zone": days.zone_name,
        "min_devices": MIN_DEVICES,
        "window_days": window_days,
        "groups": sorted({g for gs in sets.values() for g in gs}),
        "days": daily(rows, sets, group),
        "habits": habit_days(rows, sets, group),
        "adoption": adoption(exposures, sets, group, window_days, today),
        "versions": [
            {
                "day": days.day(m.at),
                "pack_id": m.pack_id,
                "version": m.version,
                "action": m.action,
                "rollout": m.rollout,
                "groups": None if m.groups is None else list(m.groups),
            }
            for m in sorted(marks)
        ],
    }


# ---------------------------------------------------------------- daily figures


def _figure_name(kind: str, reason: str) -> str:
    return f"suppressed:{reason or 'unknown'}" if kind == "suppressed" else kind


def _cells(
    rows: Iterable[DailyRow], sets: Mapping[int, frozenset[str]], group: str | None
) -> dict[tuple[str, str, str], dict[str, list[Unit]]]:
    """Per (day, habit, rule) and figure: its units (one per group set) for ``group``."""
    out: dict[tuple[str, str, str], dict[str, list[Unit]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        groups = sets.get(r.group_set_id, frozenset())
        if group is not None and group not in groups:
            continue
        unit = Unit(groups, (r.devices,), (r.events,))
        out[(r.day, r.habit, r.rule)][_figure_name(r.kind, r.reason)].append(unit)
    return out


def _value(units: Sequence[Unit], group: str | None) -> int | None:
    """A figure's count: the sum of what may be disclosed; 0 when nothing happened."""
    if not units:
        return 0  # a zero is not about anyone, so it is shown as zero
    shown, _left_out = disclosed(units, group)
    merged = total(shown)
    return None if merged is None else merged.values[0]


def daily(
    rows: Iterable[DailyRow], sets: Mapping[int, frozenset[str]], group: str | None = None
) -> list[dict[str, Any]]:
    """One entry per (day, habit, rule) with every figure, or ``None`` when withheld."""
    out: list[dict[str, Any]] = []
    for (day, habit, rule), figures in sorted(_cells(rows, sets, group).items()):
        if rule == HABIT_TOTAL:
            continue
        entry: dict[str, Any] = {"day": day, "habit": habit or None, "rule": rule or None}
        for name in FIGURES:
            entry[name] = _value(figures.get(name, []), group)
        entry["suppressed"] = {
            name.split(":", 1)[1]: _value(units, group)
            for name, units in sorted(figures.items())
            if name.startswith("suppressed:")
        }
        out.append(entry)
    return out


def habit_days(
    rows: Iterable[DailyRow], sets: Mapping[int, frozenset[str]], group: str | None = None
) -> list[dict[str, Any]]:
    """Per (day, habit): shown and acted over all its rules, and adopted (the trend charts)."""
    per: dict[tuple[str, str], dict[str, int | None]] = {}
    for (day, habit, rule), figures in _cells(rows, sets, group).items():
        if not habit:
            continue
        wanted: tuple[str, ...]
        if rule == HABIT_TOTAL:
            wanted = ("shown", "acted")
        elif rule == "":
            wanted = ("adopted",)
        else:
            continue
        entry = per.setdefault((day, habit), dict.fromkeys(HABIT_FIGURES, 0))
        for name in wanted:
            entry[name] = _value(figures.get(name, []), group)
    return [{"day": d, "habit": h, **v} for (d, h), v in sorted(per.items())]


# ---------------------------------------------------------------- the lift


def adoption(
    rows: Iterable[ExposureRow],
    sets: Mapping[int, frozenset[str]],
    group: str | None,
    window_days: int,
    today: date,
) -> list[dict[str, Any]]:
    """The lift of each habit over the cohort weeks whose window has ended."""
    # (habit, week, group set) -> [n_T, adopted_T, shown_T, n_H, adopted_H, shown_H]
    counts: dict[tuple[str, str, int], list[int]] = defaultdict(lambda: [0] * 6)
    for r in rows:
        if group is not None and group not in sets.get(r.group_set_id, frozenset()):
            continue
        base = 0 if r.arm == TREATMENT else 3 if r.arm == HOLDOUT else None
        if base is None:
            continue
        cell = counts[(r.habit, r.first_week, r.group_set_id)]
        cell[base] += r.devices
        cell[base + 1] += r.adopted
        cell[base + 2] += r.shown
    weeks: dict[str, dict[str, list[Unit]]] = defaultdict(lambda: defaultdict(list))
    for (habit, week, gs), c in counts.items():
        unit = Unit(sets.get(gs, frozenset()), (c[0], c[3]), tuple(c))
        weeks[habit][week].append(unit)
    closed_before = today - timedelta(days=7 + window_days + CLOSE_GRACE_DAYS - 1)
    # Without a group filter, each habit's lift is also given per group (each one a
    # sum of passing units too, so the breakdown cannot be differenced either).
    breakdown = sorted({g for gs in sets.values() for g in gs}) if group is None else []
    out = []
    for habit, by_week in sorted(weeks.items()):
        entry = _habit_lift(habit, by_week, group, window_days, closed_before)
        entry["by_group"] = [
            {"group": g, **_comparison(_pooled(by_week, g, closed_before))} for g in breakdown
        ]
        out.append(entry)
    return out


def _pooled(
    by_week: Mapping[str, Sequence[Unit]], group: str | None, closed_before: date
) -> Unit | None:
    """The disclosed units of the closed cohort weeks, added together."""
    return total(
        u
        for week, units in by_week.items()
        if date.fromisoformat(week) < closed_before
        for u in disclosed(units, group)[0]
    )


def _habit_lift(
    habit: str,
    by_week: Mapping[str, Sequence[Unit]],
    group: str | None,
    window_days: int,
    closed_before: date,
) -> dict[str, Any]:
    pooled: list[Unit] = []
    open_units: list[Unit] = []
    any_open = False
    weekly: list[dict[str, Any]] = []
    left_out = 0
    closed_weeks: list[str] = []
    for week, units in sorted(by_week.items()):
        shown, skipped = disclosed(units, group)
        if date.fromisoformat(week) < closed_before:
            closed_weeks.append(week)
            pooled += shown
            left_out += skipped
            weekly.append({"week": week, **_comparison(total(shown))})
        else:
            any_open = True
            open_units += shown
    merged = total(pooled)
    waiting = total(open_units)
    entry: dict[str, Any] = {
        "habit": habit,
        "window_days": window_days,
        "cohorts": {
            "since": closed_weeks[0] if closed_weeks else None,
            "until": (
                (date.fromisoformat(closed_weeks[-1]) + timedelta(days=6)).isoformat()
                if closed_weeks
                else None
            ),
            "weeks": len(closed_weeks),
            "left_out": left_out,
        },
        **_comparison(merged),
        # Devices whose window has not ended yet; 0 when no cohort is still open.
        "in_window": {
            TREATMENT: (0 if not any_open else None) if waiting is None else waiting.values[0],
            HOLDOUT: (0 if not any_open else None) if waiting is None else waiting.values[3],
        },
        "weeks": weekly,
    }
    return entry


def _arm(n: int, adopted: int, shown: int) -> dict[str, Any]:
    lo, hi = wilson(adopted, n)
    return {
        "devices": n,
        "adopted": adopted,
        "rate": round(adopted / n, 4),
        "rate_ci95": [round(lo, 4), round(hi, 4)],
        "shown": shown,
        "exposure": round(shown / n, 4),
    }


def _comparison(merged: Unit | None) -> dict[str, Any]:
    """Both arms, the lift and the verdict of disclosed units (withheld without any)."""
    if merged is None:
        return {
            TREATMENT: None,
            HOLDOUT: None,
            "lift": None,
            "lift_ci95": None,
            "significant": None,
            "verdict": (
                f"Not enough devices yet: a lift needs {MIN_DEVICES} devices in each arm "
                "whose observation window has ended."
            ),
            "withheld": True,
        }
    n_t, a_t, s_t, n_h, a_h, s_h = merged.values
    d, lo, hi = newcombe_diff(a_t, n_t, a_h, n_h)
    return {
        TREATMENT: _arm(n_t, a_t, s_t),
        HOLDOUT: _arm(n_h, a_h, s_h),
        "lift": round(d, 4),
        "lift_ci95": [round(lo, 4), round(hi, 4)],
        "significant": lo > 0 or hi < 0,
        "verdict": verdict(lo, hi),
        "withheld": False,
    }
