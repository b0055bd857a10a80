"""Durations and time ranges: one parser for packs, settings and scripts."""

from __future__ import annotations

import pytest

from agent.config.options import OPTIONS_BY_KEY, coerce
from agent.rules.never_interrupt import NeverInterrupt, app_key
from agent.timespans import TimeRange, parse_duration


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [("09:00-18:00", 540, 1080), ("22:00-06:00", 1320, 360), ("18:00-24:00", 1080, 1440)],
)
def test_time_ranges_parse_to_minutes(text: str, start: int, end: int) -> None:
    assert TimeRange.parse(text) == TimeRange(start, end)
    assert str(TimeRange.parse(text)) == text


@pytest.mark.parametrize(
    "text", ["9:00-18:00", "24:00-06:00", "10:00-10:00", "lunch", "12:60-13:00"]
)
def test_bad_time_ranges_are_refused_with_the_text(text: str) -> None:
    with pytest.raises(ValueError, match=text.split("-")[0]):
        TimeRange.parse(text)


def test_a_range_contains_its_start_not_its_end_and_wraps_past_midnight() -> None:
    day = TimeRange.parse("09:00-18:00")
    assert day.contains(540) and day.contains(1079) and not day.contains(1080)
    night = TimeRange.parse("22:00-06:00")
    assert night.contains(1320) and night.contains(0) and night.contains(359)
    assert not night.contains(360) and not night.contains(720)
    assert TimeRange.parse("18:00-24:00").contains(1439)


def test_settings_and_packs_accept_the_same_ranges() -> None:
    # 24:00 used to be a valid pack end but refused by the quiet_hours setting.
    assert coerce(OPTIONS_BY_KEY["quiet_hours"], "18:00-24:00") == "18:00-24:00"
    with pytest.raises(ValueError, match="quiet_hours"):
        coerce(OPTIONS_BY_KEY["quiet_hours"], "10:00-10:00")


def test_durations_are_the_pack_formats() -> None:
    assert parse_duration("1h30m") == 5400.0
    assert parse_duration(90) == 90.0
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("soon")


def test_app_keys_fold_case_and_exe() -> None:
    assert app_key("POWERPNT.EXE") == app_key("powerpnt") == "powerpnt"
    assert app_key("com.apple.Keynote") == "com.apple.keynote"
    never = NeverInterrupt(["zoom.exe", " ", "Slides"])
    assert never.covers("Zoom", ())
    assert never.covers("chrome", ("slides",))
    assert not never.covers(None, ()) and not NeverInterrupt([]).covers("zoom")
