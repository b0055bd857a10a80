"""Privacy invariant 4 for every figure: at least ``MIN_DEVICES`` devices, even by differencing.

A figure is a sum over *units*: the devices of one group set (the exact list
of groups a device reported) in one fixed reporting period — a day for daily
counts, a cohort week for the lift.  Group sets are disjoint, so units never
overlap.  A unit may be added into a figure only when each of its sizes (its
devices; for the lift, the devices of each arm) reaches the floor:

* a group's figure adds the units whose group set holds that group;
* the figure over every device adds those units, plus all the other units of
  the same period merged into one *rest*, when the rest reaches the floor too.

So every figure the server gives out is a sum of units that each reach the
floor, and no difference of two figures — two groups, a group and the total,
two date ranges, which are whole periods — can isolate fewer devices
(complementary suppression over a fixed partition, docs/privacy.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

__all__ = ["MIN_DEVICES", "Unit", "disclosed", "passes", "total"]

MIN_DEVICES: Final = 10


@dataclass(frozen=True, slots=True)
class Unit:
    """One group set in one period: the sizes that must reach the floor, and its values."""

    groups: frozenset[str]
    sizes: tuple[int, ...]
    values: tuple[int, ...]


def passes(unit: Unit) -> bool:
    """Whether every size of ``unit`` reaches the floor."""
    return all(size >= MIN_DEVICES for size in unit.sizes)


def total(units: Iterable[Unit]) -> Unit | None:
    """The units added together (None for none)."""
    merged: Unit | None = None
    for u in units:
        if merged is None:
            merged = Unit(frozenset(), u.sizes, u.values)
        else:
            merged = Unit(
                frozenset(),
                tuple(a + b for a, b in zip(merged.sizes, u.sizes, strict=True)),
                tuple(a + b for a, b in zip(merged.values, u.values, strict=True)),
            )
    return merged


def disclosed(units: Sequence[Unit], group: str | None) -> tuple[list[Unit], int]:
    """The units of *one period* a figure may add, and how many it leaves out.

    ``group`` None: every device (passing units, plus the rest when it passes);
    otherwise the passing units whose group set holds ``group``.
    """
    passing = [u for u in units if passes(u)]
    failing = [u for u in units if not passes(u)]
    if group is not None:
        mine = [u for u in passing if group in u.groups]
        return mine, sum(1 for u in units if group in u.groups) - len(mine)
    rest = total(failing)
    if rest is not None and passes(rest):
        return [*passing, rest], 0
    return passing, len(failing)
