"""Differencing cannot reveal fewer than 10 devices: groups, the total and date ranges.

Units are the devices of one group set in one period.  Every published figure
is a sum of *blocks* — units that reach the floor, or all the failing units of
a period merged into one rest that reaches it — so any difference of figures
is a sum of blocks too.
"""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from server.days import LocalDays
from server.disclosure import MIN_DEVICES, Unit, disclosed, passes
from server.ingest import CheckedEvent
from server.reports import build_report
from server.store import Store
from tests.server.conftest import Tenant

GROUPS = ("sales", "it", "emea", "legal")


def unit(groups: set[str], devices: int, events: int | None = None) -> Unit:
    return Unit(frozenset(groups), (devices,), (devices if events is None else events,))


def figure(units: list[Unit], group: str | None) -> int | None:
    shown, _ = disclosed(units, group)
    return sum(u.values[0] for u in shown) if shown else None


def test_a_small_group_is_not_the_total_minus_the_others() -> None:
    units = [unit({"sales"}, 50), unit({"it"}, 40), unit({"legal"}, 4)]
    total, sales, it, legal = (figure(units, g) for g in (None, "sales", "it", "legal"))
    assert legal is None
    # The four devices of "legal" are in no figure, so no difference finds them.
    assert (total, sales, it) == (90, 50, 40)


def test_the_failing_units_count_in_the_total_only_together_and_only_from_ten() -> None:
    small = [unit({"a"}, 4), unit({"b"}, 3), unit({"c"}, 5)]  # 12 together
    assert figure([unit({"sales"}, 50), *small], None) == 62
    assert [figure(small, g) for g in "abc"] == [None, None, None]
    assert figure([unit({"sales"}, 50), unit({"a"}, 4), unit({"b"}, 3)], None) == 50


def test_an_overlap_of_two_groups_stays_hidden() -> None:
    units = [unit({"sales"}, 30), unit({"sales", "emea"}, 3), unit({"emea"}, 30)]
    total, sales, emea = (figure(units, g) for g in (None, "sales", "emea"))
    # Devices in both groups (3) are in no figure: sales + emea - total = 0.
    assert (total, sales, emea) == (60, 30, 30)


group_sets = st.frozensets(st.sampled_from(GROUPS), max_size=3)
units_strategy = st.lists(
    st.builds(
        lambda g, n, v: Unit(g, (n,), (v,)), group_sets, st.integers(1, 40), st.integers(0, 500)
    ),
    max_size=12,
    unique_by=lambda u: u.groups,
)


@settings(max_examples=300, deadline=None)
@given(units_strategy)
def test_every_published_figure_is_a_sum_of_blocks_of_ten_devices_or_more(
    units: list[Unit],
) -> None:
    failing = [u for u in units if not passes(u)]
    rest = sum(u.sizes[0] for u in failing)
    for group in (None, *GROUPS):
        shown, left_out = disclosed(units, group)
        for block in shown:
            assert block.sizes[0] >= MIN_DEVICES
        passing = [u for u in units if passes(u) and (group is None or group in u.groups)]
        assert all(any(b == p for b in shown) for p in passing)
        extra = [b for b in shown if b not in passing]
        if group is not None or rest < MIN_DEVICES:
            assert extra == []  # a failing unit never appears on its own
        else:
            # The rest appears once, whole: every failing unit, merged.
            assert [b.sizes[0] for b in extra] == [rest]
        assert left_out >= 0


def test_overlapping_date_ranges_give_the_same_figure_for_each_shared_day(
    store: Store, acme: Tenant
) -> None:
    now = time.time()
    days = LocalDays()
    devices = [store.enroll_device(acme.id, [], "linux", "0.1.0")[0] for _ in range(12)]
    for back in range(6):
        t = now - back * 86400
        for i, d in enumerate(devices):
            if back == 2 and i >= 4:
                continue  # a day of 4 devices: withheld in every range
            store.insert_events(
                d,
                [
                    CheckedEvent(
                        uuid=str(uuid.uuid4()), t=t, kind="shown", pack_id="p", pack_version=1,
                        rule="r", habit="h", reason=None, action=None, app=None, day=days.day(t),
                    )
                ],
            )  # fmt: skip
    today = days.date_of(now)
    wide = build_report(store, acme.id, today - timedelta(days=5), today, None)
    narrow = build_report(store, acme.id, today - timedelta(days=3), today, None)
    by_day = {d["day"]: d["shown"] for d in wide["days"]}
    assert {d["day"]: d["shown"] for d in narrow["days"]}.items() <= by_day.items()
    assert by_day[(today - timedelta(days=2)).isoformat()] is None
