"""What one stored batch adds to the report's rollups: pure functions, no SQL.

The report never reads raw events (server.schema, "analytics"); it reads:

* **daily cells**: per local day, pack, habit, rule, kind and reason — and the
  device's group set — how many events and how many distinct devices;
  for shown and acted also the habit's total over its rules (rule ``*``),
  so a habit's daily figure has an exact device count of its own;
* **exposures**: per device and habit, the arm of its first trigger, when that
  was, and when it was first shown a toast and first adopted after it — the
  state that later events are merged into;
* **cohort counts**: the exposures counted by cohort week, group set, arm and
  whole days to the first toast and adoption, without device ids: what the
  lift reads, so its cost does not grow with the fleet.

:mod:`server.rollup_store` writes them in the transaction that stores a
batch, from the rows that were new only, so a resend never counts twice.

Triggers (docs/api.md, "Reports"): a rule of a habit *triggered* for a
device when the engine recorded ``shown``, or ``suppressed`` for any reason
decided after the arm (``holdout`` puts it in the holdout arm, ``paused``,
``quiet``, the caps … in the treatment arm); ``schedule`` and ``audience``
come before the arm, so they are not triggers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Final, NamedTuple

from agent.rules.records import WireRecord

__all__ = [
    "ARMS",
    "BEFORE_ARM",
    "COHORT_DAYS",
    "HABIT_TOTAL",
    "HABIT_TOTAL_KINDS",
    "HOLDOUT",
    "TREATMENT",
    "CellKey",
    "CohortKey",
    "Exposure",
    "HabitActivity",
    "RawKey",
    "activities",
    "arm_of",
    "cell_key",
    "cell_of",
    "cells_of",
    "cohort_key",
    "counted_in",
    "merge_exposure",
    "raw_key",
]

TREATMENT: Final = "treatment"
HOLDOUT: Final = "holdout"
ARMS: Final = (TREATMENT, HOLDOUT)
#: Suppressions decided before the arm is: the device was not in the comparison.
BEFORE_ARM: Final = frozenset({"schedule", "audience"})
#: The rule of a cell that totals every rule of its habit.
HABIT_TOTAL: Final = "*"
#: The kinds a habit's total is kept for (what its trend chart draws).
HABIT_TOTAL_KINDS: Final = frozenset({"shown", "acted"})
_DAY: Final = 86400.0


class CellKey(NamedTuple):
    """A daily cell's key within a tenant; text parts are ``''`` when absent."""

    pack_id: str
    habit: str
    rule: str
    kind: str
    reason: str


#: An event's cell fields as they are on the event (None where absent): cheap to build.
RawKey = tuple[str, str | None, str | None, str, str | None]


def raw_key(event: WireRecord) -> RawKey:
    """The fields of an event that name its cell."""
    return (event.pack_id, event.habit, event.rule, event.kind, event.reason)


def cell_key(raw: RawKey) -> CellKey:
    """The cell of an event's own fields."""
    pack_id, habit, rule, kind, reason = raw
    return CellKey(pack_id, habit or "", rule or "", kind, reason or "")


def cell_of(event: WireRecord) -> CellKey:
    """The cell of an event's own fields."""
    return cell_key(raw_key(event))


def counted_in(own: CellKey) -> tuple[CellKey, ...]:
    """The cells an event of cell ``own`` counts in: its own, and its habit's total."""
    if own.kind in HABIT_TOTAL_KINDS and own.habit and own.rule:
        return own, own._replace(rule=HABIT_TOTAL)
    return (own,)


def cells_of(event: WireRecord) -> tuple[CellKey, ...]:
    """The cells an event counts in: its own, and its habit's total for shown/acted."""
    return counted_in(cell_of(event))


def arm_of(event: WireRecord) -> str | None:
    """The arm an event puts its device in for its habit, or None if it is no trigger."""
    if event.habit is None:
        return None
    if event.kind == "shown":
        return TREATMENT
    if event.kind != "suppressed" or event.reason is None or event.reason in BEFORE_ARM:
        return None
    return HOLDOUT if event.reason == "holdout" else TREATMENT


@dataclass(slots=True)
class HabitActivity:
    """One device's events of one habit in a batch: its first trigger, toast and adoptions."""

    pack_id: str = ""
    arm: str = ""
    first_t: float | None = None
    shown_t: float | None = None
    adoptions: list[float] = field(default_factory=list)

    def add(self, event: WireRecord) -> None:
        arm = arm_of(event)
        if arm is not None and (self.first_t is None or (event.t, arm) < (self.first_t, self.arm)):
            self.first_t, self.arm, self.pack_id = event.t, arm, event.pack_id
        if event.kind == "shown":
            self.shown_t = _earliest(self.shown_t, event.t)
        elif event.kind == "adopted":
            self.adoptions.append(event.t)


_EXPOSURE_KINDS: Final = frozenset({"shown", "suppressed", "adopted"})


def activities(events: Iterable[tuple[str, WireRecord]]) -> dict[tuple[str, str], HabitActivity]:
    """Per (device id, habit): what ``events`` (device id, event) did to its exposure."""
    out: dict[tuple[str, str], HabitActivity] = {}
    for device, event in events:
        if event.habit is None or event.kind not in _EXPOSURE_KINDS:
            continue
        key = (device, event.habit)
        act = out.get(key)
        if act is None:
            act = out[key] = HabitActivity()
        act.add(event)
    return out


@dataclass(frozen=True, slots=True)
class Exposure:
    """A device's exposure to a habit: the arm of its first trigger and what followed."""

    pack_id: str
    arm: str
    first_t: float
    first_week: str
    group_set_id: int
    shown_t: float | None
    adopted_t: float | None


def merge_exposure(
    old: Exposure | None,
    act: HabitActivity,
    week_of: Callable[[float], str],
    group_set_id: int,
) -> tuple[Exposure | None, bool]:
    """The exposure after ``act``, and whether its first trigger moved.

    When it moved (the first trigger ever, or a late event from before it), an
    adoption stored earlier may now count: the caller reads the first adoption
    at or after the new first trigger from the raw events.  An adoption with no
    trigger yet changes nothing here; the raw events keep it for that moment.
    """
    # Ties (two arms at one instant, from an old agent) go to the holdout, whatever
    # the order the events arrive in: "holdout" < "treatment".
    if act.first_t is not None and (old is None or (act.first_t, act.arm) < (old.first_t, old.arm)):
        shown = _earliest(old.shown_t if old else None, act.shown_t)
        moved = Exposure(
            act.pack_id, act.arm, act.first_t, week_of(act.first_t), group_set_id, shown, None
        )
        return moved, True
    if old is None:
        return None, False
    after = [t for t in act.adoptions if t >= old.first_t]
    adopted = _earliest(old.adopted_t, min(after) if after else None)
    shown = _earliest(old.shown_t, act.shown_t)
    if (adopted, shown) == (old.adopted_t, old.shown_t):
        return old, False
    return replace(old, adopted_t=adopted, shown_t=shown), False


#: Whole days after the first trigger past which nothing is told apart (the longest window).
COHORT_DAYS: Final = 90


class CohortKey(NamedTuple):
    """An exposure without its device: what the lift counts devices by."""

    pack_id: str
    first_week: str
    group_set_id: int
    arm: str
    #: Whole days from the first trigger to the first toast / the first adoption, at most
    #: COHORT_DAYS; -1: not (yet).
    shown_days: int
    adopted_days: int


def cohort_key(exposure: Exposure) -> CohortKey:
    """The device-free key an exposure is counted under (server.schema.cohort_counts)."""

    def days(t: float | None) -> int:
        return -1 if t is None else min(COHORT_DAYS, int((t - exposure.first_t) // _DAY))

    return CohortKey(
        exposure.pack_id,
        exposure.first_week,
        exposure.group_set_id,
        exposure.arm,
        days(exposure.shown_t),
        days(exposure.adopted_t),
    )


def _earliest(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    return a if b is None else min(a, b)
