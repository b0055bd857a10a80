"""The ingest checks (server/ingest.py) as pure functions: days, UUID forms, rejections."""

from __future__ import annotations

import math
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from server.ingest import CheckedEvent, check_event, utc_day

NOW = 1_790_000_000.0  # 2026-09-21


def good(**fields: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "uuid": str(uuid.uuid4()),
        "t": NOW - 60,
        "kind": "shown",
        "pack_id": "m365-habits",
        "pack_version": 3,
    }
    item.update(fields)
    return item


@given(st.floats(min_value=946684800.0, max_value=4102444800.0))
@example(2051222399.9999995)  # found by hypothesis: datetime rounds it to the next day
def test_utc_day_is_the_calendar_day_in_utc(t: float) -> None:
    # The day that contains t; datetime would round 23:59:59.9999995 up to the next day.
    assert utc_day(t) == datetime.fromtimestamp(math.floor(t), UTC).strftime("%Y-%m-%d")


def test_utc_day_at_the_midnight_edges() -> None:
    midnight = datetime(2026, 11, 28, tzinfo=UTC).timestamp()
    assert utc_day(midnight - 0.001) == "2026-11-27"
    assert utc_day(midnight) == "2026-11-28"
    assert utc_day(midnight - 5e-7) == "2026-11-27"


def test_a_canonical_uuid_is_kept_and_other_spellings_are_made_canonical() -> None:
    uid = uuid.uuid4()
    for spelling in (str(uid), str(uid).upper(), "{" + str(uid) + "}", uid.hex, uid.urn):
        got_uuid, event = check_event(good(uuid=spelling), NOW)
        assert got_uuid == str(uid), spelling
        assert isinstance(event, CheckedEvent) and event.uuid == str(uid)


def test_a_good_event_carries_its_utc_day_and_fields() -> None:
    _, event = check_event(good(t="2026-09-21T23:59:59Z", rule="r", app="outlook"), NOW + 86400)
    assert isinstance(event, CheckedEvent)
    assert (event.day, event.rule, event.app, event.reason) == ("2026-09-21", "r", "outlook", None)


def test_each_bad_field_is_named_in_the_rejection() -> None:
    cases = {
        "rejected:uuid": good(uuid="not-a-uuid"),
        "rejected:t": good(t=True),
        "rejected:future": good(t=NOW + 2 * 86400),
        "rejected:kind": good(kind="typed"),
        "rejected:pack_version": good(pack_version=-1),
        "rejected:rule": good(rule="a\x00b"),
        "rejected:unknown_field:title": good(title="Quarterly report.docx"),
    }
    for expected, item in cases.items():
        assert check_event(item, NOW)[1] == expected, item
    assert check_event(["not", "an", "object"], NOW) == (None, "rejected:not_an_object")


def test_each_text_field_has_the_limit_of_its_column() -> None:
    # reason is 64 wide in the database: a longer one used to fail the whole batch there.
    assert check_event(good(reason="r" * 64), NOW)[1] != "rejected:reason"
    assert check_event(good(reason="r" * 65), NOW)[1] == "rejected:reason"
    assert isinstance(check_event(good(rule="r" * 128), NOW)[1], CheckedEvent)
    assert check_event(good(rule="r" * 129), NOW)[1] == "rejected:rule"


def test_a_value_of_the_wrong_shape_is_a_rejection_not_an_error() -> None:
    shapes: tuple[object, ...] = ([], {}, [1], True)
    for name in ("kind", "t", "pack_id", "pack_version", "rule"):
        for value in shapes:
            assert check_event(good(**{name: value}), NOW)[1] == f"rejected:{name}", (name, value)


def test_the_server_clock_is_what_future_is_measured_against() -> None:
    now = time.time()
    assert isinstance(check_event(good(t=now + 3600), now)[1], CheckedEvent)
