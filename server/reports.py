"""The adoption report: counts per habit, rule and day, and the lift vs. the holdout.

:func:`build_report` makes the document that ``/v1/admin/reports`` serves and
``/dashboard`` draws, from any :class:`ReportSource` (the store is one); the
rest are pure functions over its rows.  Privacy invariant
4: every figure aggregates at least ``MIN_DEVICES`` devices; a smaller figure
is withheld (``null``), never rounded or shown.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final, NamedTuple, Protocol

__all__ = [
    "FIGURES",
    "MIN_DEVICES",
    "HabitFact",
    "ReportSource",
    "adoption",
    "build_report",
    "daily",
    "newcombe_diff",
    "wilson",
]

MIN_DEVICES: Final = 10
FIGURES: Final = ("shown", "acted", "snoozed", "dismissed", "never", "adopted")
_Z95: Final = 1.959963984540054

#: ``(day, habit, rule, kind, reason, events, distinct devices)``.
Row = tuple[str, str | None, str | None, str, str | None, int, int]
#: A report without ``since`` covers this many days up to ``until``.
DEFAULT_DAYS: Final = 30


class HabitFact(NamedTuple):
    """One device's events of one kind for a habit: when the first and the last happened."""

    habit: str
    kind: str
    reason: str | None
    device: str
    first: float
    last: float


class ReportSource(Protocol):
    """Where the report's rows come from, for one tenant and a range of UTC days."""

    def event_counts(
        self, tenant_id: int, since_day: str, until_day: str, pack_id: str | None
    ) -> Iterable[Row]: ...

    def habit_devices(
        self, tenant_id: int, since_day: str, until_day: str, pack_id: str | None
    ) -> Iterable[HabitFact]: ...


def build_report(
    source: ReportSource,
    tenant_id: int,
    since: date | None,
    until: date | None,
    pack_id: str | None,
    *,
    today: date | None = None,
) -> dict[str, Any]:
    """The report document: per day, habit and rule counts, and the adoption lift.

    Without ``until`` it ends ``today`` (UTC); without ``since`` it covers the
    ``DEFAULT_DAYS`` up to its end.
    """
    end = until or today or datetime.now(UTC).date()
    start = since or (end - timedelta(days=DEFAULT_DAYS - 1))
    lo, hi = start.isoformat(), end.isoformat()
    return {
        "since": lo,
        "until": hi,
        "pack_id": pack_id,
        "min_devices": MIN_DEVICES,
        "days": daily(source.event_counts(tenant_id, lo, hi, pack_id)),
        "adoption": adoption(source.habit_devices(tenant_id, lo, hi, pack_id)),
    }


def _withhold(count: int, devices: int) -> int | None:
    return count if devices >= MIN_DEVICES else None


def daily(rows: Iterable[Row]) -> list[dict[str, Any]]:
    """One entry per (day, habit, rule) with every figure, or ``None`` when withheld."""
    # (count, devices) per figure; devices of merged groups take the max, a lower
    # bound of the distinct count, so merging can only withhold more, never less.
    cells: dict[tuple[str, str | None, str | None], dict[str, list[int]]] = defaultdict(dict)
    for day, habit, rule, kind, reason, count, devices in rows:
        name = f"suppressed:{reason or 'unknown'}" if kind == "suppressed" else kind
        cell = cells[(day, habit, rule)].setdefault(name, [0, 0])
        cell[0] += count
        cell[1] = max(cell[1], devices)
    out: list[dict[str, Any]] = []
    for (day, habit, rule), figures in sorted(
        cells.items(), key=lambda kv: (kv[0][0], kv[0][1] or "", kv[0][2] or "")
    ):
        entry: dict[str, Any] = {"day": day, "habit": habit, "rule": rule}
        for name in FIGURES:
            count, devices = figures.get(name, [0, 0])
            # A zero is not about anyone, so it is shown as zero.
            entry[name] = 0 if count == 0 else _withhold(count, devices)
        entry["suppressed"] = {
            name.split(":", 1)[1]: _withhold(count, devices)
            for name, (count, devices) in sorted(figures.items())
            if name.startswith("suppressed:")
        }
        out.append(entry)
    return out


def wilson(successes: int, n: int, z: float = _Z95) -> tuple[float, float]:
    """Wilson score interval for a proportion."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe_diff(a: int, n1: int, b: int, n2: int) -> tuple[float, float, float]:
    """Difference p1 - p2 with Newcombe's hybrid score 95 % interval (method 10)."""
    p1, p2 = a / n1, b / n2
    l1, u1 = wilson(a, n1)
    l2, u2 = wilson(b, n2)
    d = p1 - p2
    lo = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    hi = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return d, lo, hi


def adoption(facts: Iterable[HabitFact]) -> list[dict[str, Any]]:
    """Adoption rate of nudged devices vs. the holdout, per habit.

    Nudged: the device was shown a toast of the habit.  Holdout: the device
    had a rule of the habit suppressed with reason ``holdout`` and was never
    shown one.  Adopted: the device recorded ``adopted`` for the habit at or
    after its first toast (nudged) or its first holdout suppression (holdout),
    so a habit a device had before the comparison began counts for neither.
    """
    shown: dict[str, dict[str, float]] = defaultdict(dict)
    held: dict[str, dict[str, float]] = defaultdict(dict)
    last_adopted: dict[str, dict[str, float]] = defaultdict(dict)
    for fact in facts:
        if fact.kind == "shown":
            _keep(shown[fact.habit], fact.device, fact.first, min)
        elif fact.kind == "suppressed" and fact.reason == "holdout":
            _keep(held[fact.habit], fact.device, fact.first, min)
        elif fact.kind == "adopted":
            _keep(last_adopted[fact.habit], fact.device, fact.last, max)

    def adopters(exposed: dict[str, float], habit: str) -> int:
        after = last_adopted[habit]
        return sum(1 for device, since in exposed.items() if after.get(device, -1.0) >= since)

    out: list[dict[str, Any]] = []
    for habit in sorted(set(shown) | set(held) | set(last_adopted)):
        nudged = shown[habit]
        holdout = {d: t for d, t in held[habit].items() if d not in nudged}
        a = adopters(nudged, habit)
        b = adopters(holdout, habit)
        entry: dict[str, Any] = {
            "habit": habit,
            "nudged_devices": _withhold(len(nudged), len(nudged)),
            "holdout_devices": _withhold(len(holdout), len(holdout)),
            "nudged_rate": None,
            "holdout_rate": None,
            "lift": None,
            "lift_ci95": None,
            "withheld": True,
        }
        if len(nudged) >= MIN_DEVICES:
            entry["nudged_rate"] = round(a / len(nudged), 4)
        if len(holdout) >= MIN_DEVICES:
            entry["holdout_rate"] = round(b / len(holdout), 4)
        if len(nudged) >= MIN_DEVICES and len(holdout) >= MIN_DEVICES:
            d, lo, hi = newcombe_diff(a, len(nudged), b, len(holdout))
            entry.update(lift=round(d, 4), lift_ci95=[round(lo, 4), round(hi, 4)], withheld=False)
        out.append(entry)
    return out


def _keep(
    into: dict[str, float], device: str, t: float, pick: Callable[[float, float], float]
) -> None:
    known = into.get(device)
    into[device] = t if known is None else pick(known, t)
