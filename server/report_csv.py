"""The report document as CSV, one figure a row (what spreadsheets pivot best).

Columns: ``section, period, habit, rule, figure, value``.  ``section`` is
``daily`` (per rule and day), ``habit_daily`` (a habit's totals per day),
``lift`` (per habit over its closed cohorts; ``period`` is the first cohort
week), ``lift_week`` (per cohort week) or ``lift_group:<group>`` (per group).
A withheld figure has an empty ``value`` and ``withheld`` in ``note``.  The CSV
carries exactly the figures of the JSON document, so the floor is the same.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any, Final

from server.reports import FIGURES
from server.rollups import ARMS

__all__ = ["COLUMNS", "report_csv"]

COLUMNS: Final = ("section", "period", "habit", "rule", "figure", "value", "note")
_ARM_FIGURES: Final = ("devices", "adopted", "rate", "shown", "exposure")


def report_csv(doc: dict[str, Any]) -> str:
    """The CSV text of a report document (a header line, then one figure a line)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in _rows(doc):
        writer.writerow(row)
    return out.getvalue()


def _cell(
    section: str, period: str | None, habit: str | None, rule: str | None, name: str, value: Any
) -> tuple[str, ...]:
    if value is None:
        return (section, period or "", habit or "", rule or "", name, "", "withheld")
    return (section, period or "", habit or "", rule or "", name, _text(value), "")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _rows(doc: dict[str, Any]) -> Iterator[tuple[str, ...]]:
    for d in doc["days"]:
        for name in FIGURES:
            yield _cell("daily", d["day"], d["habit"], d["rule"], name, d[name])
        for reason, value in d["suppressed"].items():
            yield _cell("daily", d["day"], d["habit"], d["rule"], f"suppressed:{reason}", value)
    for h in doc["habits"]:
        for name in ("shown", "acted", "adopted"):
            yield _cell("habit_daily", h["day"], h["habit"], None, name, h[name])
    for a in doc["adoption"]:
        yield from _lift("lift", a["cohorts"]["since"], a["habit"], a)
        for week in a["weeks"]:
            yield from _lift("lift_week", week["week"], a["habit"], week)
        for g in a.get("by_group", ()):
            yield from _lift(f"lift_group:{g['group']}", a["cohorts"]["since"], a["habit"], g)


def _lift(
    section: str, period: str | None, habit: str, entry: dict[str, Any]
) -> Iterator[tuple[str, ...]]:
    for arm in ARMS:
        figures = entry[arm]
        for name in _ARM_FIGURES:
            yield _cell(section, period, habit, None, f"{arm}_{name}", figures and figures[name])
        interval = figures and figures["rate_ci95"]
        yield _cell(section, period, habit, None, f"{arm}_rate_lo", interval and interval[0])
        yield _cell(section, period, habit, None, f"{arm}_rate_hi", interval and interval[1])
    interval = entry["lift_ci95"]
    yield _cell(section, period, habit, None, "lift", entry["lift"])
    yield _cell(section, period, habit, None, "lift_lo", interval and interval[0])
    yield _cell(section, period, habit, None, "lift_hi", interval and interval[1])
    yield _cell(section, period, habit, None, "verdict", entry["verdict"])
