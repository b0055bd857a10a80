"""The engine's semantics (DESIGN.md "Rule packs"): matching, count/after, every
guard reason, outranking, adoption, actions, pause, quiet, hot swap and days."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pytest

from agent.events import (
    Action,
    Active,
    Chord,
    Click,
    Idle,
    InputEvent,
    Lock,
    Pause,
    Quiet,
    Start,
    ToastNotShown,
    ToastShown,
    Typing,
    Unlock,
)
from agent.events import Focus as FocusEvent
from agent.rules.effects import ShowToast
from agent.rules.engine import Engine, bucket, decisions_of
from agent.rules.model import Pack
from agent.rules.records import Record
from agent.rules.state import RuleState, StateStore
from tests.unit.packs import MONDAY_9, clock, pack, rule, when

T0 = MONDAY_9
H = 3600.0


def engine(p: Pack, **kw: object) -> Engine:
    kw.setdefault("device", "dev-1")
    kw.setdefault("os_name", "windows")
    return Engine(p, clock=clock(), **kw)  # type: ignore[arg-type]


def feed(
    e: Engine, events: Iterable[InputEvent | Pause]
) -> list[tuple[float, str, str, str | None]]:
    """(offset, decision, rule or habit, reason) for every decision."""
    out: list[tuple[float, str, str, str | None]] = []
    for ev in events:
        for d in decisions_of(e.handle(ev)):
            name = d.habit if d.decision == "adopted" else d.rule
            assert name is not None
            out.append((round(d.t - T0, 3), d.decision, name, d.reason))
    return out


def focus(dt: float, app: str = "outlook.exe", title: str = "Inbox - Outlook") -> FocusEvent:
    return FocusEvent(T0 + dt, app, title)


def chord(dt: float, c: str = "ctrl+v", app: str | None = None) -> Chord:
    return Chord(T0 + dt, c, app)


def pastes(*offsets: float) -> list[InputEvent]:
    return [focus(0), *(chord(dt) for dt in offsets)]


def reasons(decisions: Sequence[tuple[float, str, str, str | None]]) -> list[str | None]:
    return [d[3] if d[1] == "suppress" else d[1] for d in decisions]


# -- matching ---------------------------------------------------------------


def test_a_chord_in_the_focused_app_shows_the_rule() -> None:
    e = engine(pack(rule("r1")))
    assert feed(e, pastes(1)) == [(1, "show", "r1", None)]


def test_app_identifiers_match_case_insensitively_for_the_device_os() -> None:
    e = engine(pack(rule("r1")))
    assert feed(e, [focus(0, "OUTLOOK.EXE"), chord(1)]) == [(1, "show", "r1", None)]
    mac = engine(pack(rule("r1")), os_name="macos")
    assert feed(mac, [focus(0, "outlook.exe"), chord(1)]) == []
    assert feed(mac, [focus(2, "com.microsoft.outlook"), chord(3)]) == [(3, "show", "r1", None)]


def test_unknown_os_accepts_identifiers_of_every_os() -> None:
    e = engine(pack(rule("r1", cooldown=None)), os_name=None)
    got = feed(e, [focus(0, "thunderbird"), chord(1), focus(2, "outlook.exe"), chord(3)])
    assert [d[0] for d in got] == [1, 3]


def test_a_chord_elsewhere_or_a_different_chord_does_not_match() -> None:
    e = engine(pack(rule("r1")))
    assert feed(e, [focus(0, "excel.exe"), chord(1), focus(2), chord(3, "ctrl+c")]) == []


def test_a_chord_with_its_own_app_ignores_the_focused_app() -> None:
    e = engine(pack(rule("r1")))
    assert feed(e, [focus(0, "excel.exe"), chord(1, app="outlook.exe")]) == [
        (1, "show", "r1", None)
    ]


def test_any_app_matches_unknown_apps_too() -> None:
    e = engine(pack(rule("r1", when("chord", None, chord="ctrl+s"))))
    assert feed(e, [focus(0, "mystery.exe"), chord(1, "ctrl+s")]) == [(1, "show", "r1", None)]


def test_title_pattern_is_searched_in_the_focused_title() -> None:
    e = engine(pack(rule("r1", when(title="(?i)message"), cooldown=None)))
    events: list[InputEvent] = [
        focus(0, title="Inbox - Outlook"),
        chord(1),
        focus(2, title="Re: plans - Message (HTML)"),
        chord(3),
    ]
    assert feed(e, events) == [(3, "show", "r1", None)]


def test_click_button_and_idle_threshold_match() -> None:
    p = pack(
        rule("click", when("click", "outlook", button="right")),
        rule("idle", when("idle", None, idle=300)),
    )
    e = engine(p)
    got = feed(
        e,
        [focus(0), Click(T0 + 1, "left"), Click(T0 + 2, "right"),
         Idle(T0 + 3, 120), Idle(T0 + 4, 300)],
    )  # fmt: skip
    assert got == [(2, "show", "click", None), (4, "show", "idle", None)]


@pytest.mark.parametrize(
    ("kind", "event"),
    [
        ("typing", Typing(T0 + 1)),
        ("active", Active(T0 + 1)),
        ("start", Start(T0 + 1)),
        ("unlock", Unlock(T0 + 1)),
    ],
)
def test_plain_event_kinds_match(kind: str, event: InputEvent) -> None:
    e = engine(pack(rule("r1", when(kind, None))))  # type: ignore[arg-type]
    assert feed(e, [event]) == [(1, "show", "r1", None)]


def test_focus_rule_matches_the_new_window() -> None:
    e = engine(pack(rule("r1", when("focus", "excel"))))
    assert feed(e, [focus(0), focus(1, "excel.exe", "Book1")]) == [(1, "show", "r1", None)]


# -- count and after ----------------------------------------------------------


def test_count_triggers_at_the_occurrence_that_reaches_at_least_within_the_window() -> None:
    e = engine(pack(rule("r1", count=(3, 600))))
    # 0.5, 100, 700 and 100, 700, 800 span too long; 700, 800, 900 are three within 10 minutes.
    got = feed(e, pastes(0.5, 100, 700, 800, 900))
    assert got == [(900, "show", "r1", None)]


def test_count_window_is_inclusive_of_its_edge() -> None:
    e = engine(pack(rule("r1", count=(2, 600))))
    assert feed(e, pastes(100, 700)) == [(700, "show", "r1", None)]


def test_count_restarts_after_a_show_but_not_after_a_suppression() -> None:
    e = engine(pack(rule("r1", count=(2, 600), cooldown=60)))
    got = feed(e, pastes(1, 2, 3, 30, 62, 70, 71))
    assert got == [
        (2, "show", "r1", None),
        # window restarted: 3 alone is not enough; 30 is the second → triggers, cooldown
        (30, "suppress", "r1", "cooldown"),
        # not restarted by the suppression: 62 triggers again and passes
        (62, "show", "r1", None),
        (71, "suppress", "r1", "cooldown"),
    ]


def test_after_requires_a_matching_event_within_the_window_before() -> None:
    p = pack(rule("r1", after=(when("focus", "excel"), 120)))
    e = engine(p)
    got = feed(
        e,
        [focus(0), chord(1), focus(10, "excel.exe", "Book1"), focus(20), chord(30),
         focus(200, "excel.exe"), focus(201), chord(400)],
    )  # fmt: skip
    assert got == [(30, "show", "r1", None)]


def test_the_occurrence_is_not_its_own_after() -> None:
    p = pack(rule("r1", when("chord", None, chord="ctrl+v"), after=(when("chord", None), 60)))
    e = engine(p)
    assert feed(e, [focus(0), chord(1)]) == []
    assert feed(e, [chord(2)]) == [(2, "show", "r1", None)]


# -- guards, one per reason -----------------------------------------------------


def test_schedule_outside_hours_is_suppressed() -> None:
    e = engine(pack(rule("r1", hours=(10 * 60, 18 * 60))))
    assert feed(e, pastes(1, H + 1)) == [
        (1, "suppress", "r1", "schedule"),
        (H + 1, "show", "r1", None),
    ]


def test_schedule_hours_wrap_past_midnight_and_days_apply() -> None:
    e = engine(pack(rule("r1", hours=(22 * 60, 6 * 60))))
    got = feed(e, pastes(1, 14 * H, 20 * H))  # 09:00, 23:00, 05:00 next day
    assert reasons(got) == ["schedule", "show", "show"]
    weekend = engine(pack(rule("r1", days=frozenset({5, 6}))))
    assert reasons(feed(weekend, pastes(1, 5 * 24 * H))) == ["schedule", "show"]


def _device_with_bucket(habit: str, lo: int, hi: int) -> str:
    for i in range(10_000):
        if lo <= bucket(f"d{i}", habit) < hi:
            return f"d{i}"
    raise AssertionError("no device found")


def test_audience_groups_and_rollout() -> None:
    e = engine(pack(rule("r1", groups=("sales",))), groups=["it"])
    assert reasons(feed(e, pastes(1))) == ["audience"]
    e = engine(pack(rule("r1", groups=("sales",))), groups=["it", "sales"])
    assert reasons(feed(e, pastes(1))) == ["show"]
    outside = _device_with_bucket("r1-habit", 10, 100)
    e = engine(pack(rule("r1", rollout=10)), device=outside)
    assert reasons(feed(e, pastes(1))) == ["audience"]


def test_holdout_is_the_bottom_buckets_of_the_habit() -> None:
    held = _device_with_bucket("r1-habit", 0, 10)
    inside = _device_with_bucket("r1-habit", 10, 50)
    beyond = _device_with_bucket("r1-habit", 50, 100)
    for rollout in (50, 100):  # raising the rollout keeps the holdout where it was
        p = pack(rule("r1", rollout=rollout, holdout=10))
        got = [reasons(feed(engine(p, device=d), pastes(1))) for d in (held, inside, beyond)]
        assert got == [["holdout"], ["show"], ["audience" if rollout == 50 else "show"]]


def test_every_rule_of_a_habit_puts_a_device_in_the_same_arm() -> None:
    # Two rules of one habit, and a device held out of it: both rules hold it out,
    # even the one whose own audience names no holdout (the habit's is the largest).
    held = _device_with_bucket("links", 0, 10)
    rules = (
        rule("r1", habit="links", holdout=10),
        rule("r2", when("chord", chord="ctrl+c"), habit="links"),
    )
    e = engine(pack(*rules), device=held)
    assert reasons(feed(e, [focus(0), chord(1), chord(2, "ctrl+c")])) == ["holdout", "holdout"]
    treated = _device_with_bucket("links", 10, 100)
    e = engine(pack(*rules), device=treated)
    assert reasons(feed(e, [focus(0), chord(1), chord(H, "ctrl+c")])) == ["show", "show"]


def test_bucket_is_sha256_of_device_and_habit_mod_100() -> None:
    import hashlib

    digest = hashlib.sha256(b"dev-1:share-links").digest()
    assert bucket("dev-1", "share-links") == int.from_bytes(digest, "big") % 100
    assert bucket("dev-1", "share-links") == bucket("dev-1", "share-links")


def test_paused_suppresses_and_resumes() -> None:
    e = engine(pack(rule("r1")))
    e.pause(T0 + 100)
    assert reasons(feed(e, pastes(1, 101))) == ["paused", "show"]
    e.pause(float("inf"))
    assert reasons(feed(e, [chord(5000)])) == ["paused"]
    e.handle(Pause(T0 + 5001, None))
    assert e.paused_until is None


def test_pause_stops_title_matching_and_adoption() -> None:
    p = pack(rule("r1", when(title="Outlook"), adopted=when(chord="ctrl+k")))
    e = engine(p)
    e.pause(float("inf"))
    assert feed(e, [focus(0), chord(1), chord(2, "ctrl+k")]) == []
    assert e.adoptions("r1-habit") == 0


def test_never_after_the_person_chose_dont_show_again() -> None:
    e = engine(pack(rule("r1")))
    feed(e, pastes(1))
    out = e.handle(Action(T0 + 2, "r1", "never"))
    assert [(r.kind, r.rule, r.action) for r in out if isinstance(r, Record)] == [
        ("never", "r1", "never")
    ]
    assert reasons(feed(e, [chord(3), chord(30 * 24 * H)])) == ["never", "never"]
    e.reset_never()
    assert reasons(feed(e, [chord(31 * 24 * H)])) == ["show"]


def test_snoozed_until_the_snooze_ends() -> None:
    e = engine(pack(rule("r1")))
    feed(e, pastes(1))
    out = e.handle(Action(T0 + 2, "r1", "snooze", H))
    assert [r.kind for r in out if isinstance(r, Record)] == ["snoozed"]
    assert reasons(feed(e, [chord(H + 1), chord(H + 2)])) == ["snoozed", "show"]


def test_snooze_without_length_uses_the_toasts_first_choice() -> None:
    e = engine(pack(rule("r1", snooze=(600.0, 86400.0))))
    e.handle(Action(T0, "r1", "snooze"))
    assert reasons(feed(e, pastes(599, 600))) == ["snoozed", "show"]


def test_cooldown_since_last_shown() -> None:
    e = engine(pack(rule("r1", cooldown=H)))
    assert reasons(feed(e, pastes(1, 2, H, H + 1))) == ["show", "cooldown", "cooldown", "show"]


def test_rule_daily_cap_resets_at_local_midnight() -> None:
    e = engine(pack(rule("r1", max_per_day=2)))
    # 09:00 + 14h59m = 23:59 Rome; 15h = 00:00 next day.
    got = feed(e, pastes(1, 2, 3, 15 * H - 60, 15 * H))
    assert reasons(got) == ["show", "show", "rule_daily_cap", "rule_daily_cap", "show"]


def test_rule_total_cap() -> None:
    e = engine(pack(rule("r1", max_total=2)))
    assert reasons(feed(e, pastes(1, 2, 3 * 24 * H))) == ["show", "show", "rule_total_cap"]


def test_adopted_records_and_stops_after_enough() -> None:
    p = pack(rule("r1", adopted=when(chord="ctrl+k"), stop_after_adopted=2))
    e = engine(p)
    got = feed(e, [focus(0), chord(1), chord(2, "ctrl+k"), chord(3), chord(4, "ctrl+k"),
                   chord(5)])  # fmt: skip
    assert got == [
        (1, "show", "r1", None),
        (2, "adopted", "r1-habit", None),
        (3, "show", "r1", None),
        (4, "adopted", "r1-habit", None),
        (5, "suppress", "r1", "adopted_enough"),
    ]


def test_adoption_is_recorded_once_per_habit_and_before_triggers() -> None:
    k = when(chord="ctrl+k")
    p = pack(
        rule("a", habit="links", adopted=k),
        rule("b", habit="links", adopted=k),
        rule("c", when(chord="ctrl+k"), stop_after_adopted=1, adopted=k),
    )
    e = engine(p)
    got = feed(e, [focus(0), chord(1, "ctrl+k")])
    assert got == [
        (1, "adopted", "links", None),
        (1, "adopted", "c-habit", None),
        (1, "suppress", "c", "adopted_enough"),
    ]


def test_pack_gap_since_any_toast_of_the_pack() -> None:
    p = pack(rule("r1"), rule("r2", when(chord="ctrl+c")), min_gap=600)
    e = engine(p)
    got = feed(e, [focus(0), chord(1), chord(2, "ctrl+c"), chord(601, "ctrl+c")])
    assert reasons(got) == ["show", "pack_gap", "show"]


def test_pack_daily_cap() -> None:
    p = pack(rule("r1"), rule("r2", when(chord="ctrl+c")), max_per_day=1)
    e = engine(p)
    got = feed(e, [focus(0), chord(1), chord(2, "ctrl+c"), chord(24 * H, "ctrl+c")])
    assert reasons(got) == ["show", "pack_daily_cap", "show"]


def test_quiet_states_suppress() -> None:
    e = engine(pack(rule("r1")))
    e.handle(Quiet(T0, True, "fullscreen"))
    assert reasons(feed(e, pastes(1))) == ["quiet"]
    e.handle(Quiet(T0 + 2, False, "fullscreen"))
    assert reasons(feed(e, [chord(3)])) == ["show"]


def test_locked_between_lock_and_unlock_is_quiet() -> None:
    e = engine(pack(rule("r1"), rule("welcome", when("unlock", None))))
    got = feed(e, [focus(0), Lock(T0 + 1), chord(2), Unlock(T0 + 3), chord(4)])
    assert got == [
        (2, "suppress", "r1", "quiet"),
        (3, "show", "welcome", None),
        (4, "show", "r1", None),
    ]


def test_never_interrupt_apps_by_identifier_or_logical_name() -> None:
    p = pack(rule("r1", when("chord", None)))
    e = engine(p, never_interrupt=["POWERPNT.EXE"])
    assert reasons(feed(e, [focus(0, "powerpnt.exe"), chord(1), focus(2), chord(3)])) == [
        "quiet",
        "show",
    ]
    e.set_never_interrupt(["outlook"])
    assert reasons(feed(e, [chord(4)])) == ["quiet"]


def test_never_interrupt_ignores_case_and_exe_on_either_side() -> None:
    # The same list, in a live Windows session (zoom.exe) and a Linux replay (zoom).
    p = pack(rule("r1", when("chord", None)))
    e = engine(p, never_interrupt=["Zoom", "powerpnt"])
    events: list[InputEvent] = [focus(0, "zoom.exe"), chord(1), focus(2, "POWERPNT.EXE"), chord(3)]
    assert reasons(feed(e, [*events, focus(4, "zoom"), chord(5), focus(6), chord(7)])) == [
        "quiet",
        "quiet",
        "quiet",
        "show",
    ]


def test_changing_the_never_interrupt_list_applies_to_the_focused_app() -> None:
    e = engine(pack(rule("r1", when("chord", None))))
    feed(e, [focus(0, "teams.exe")])
    e.set_never_interrupt(["teams"])
    assert reasons(feed(e, [chord(1)])) == ["quiet"]
    e.set_never_interrupt([])
    assert reasons(feed(e, [chord(2)])) == ["show"]


def test_guard_order_names_the_first_failing_guard() -> None:
    # Outside hours AND in cooldown AND quiet: schedule wins.
    e = engine(pack(rule("r1", hours=(9 * 60, 9 * 60 + 1), cooldown=H)))
    feed(e, pastes(1))
    e.handle(Quiet(T0 + 2, True, "presentation"))
    assert reasons(feed(e, [chord(120)])) == ["schedule"]
    assert reasons(feed(e, [chord(24 * H)])) == ["quiet"]


# -- several rules, actions ---------------------------------------------------------


def test_highest_priority_shows_and_others_are_outranked() -> None:
    p = pack(rule("low", priority=1), rule("high", priority=5), rule("mid", priority=3))
    e = engine(p)
    e.handle(focus(0))
    effects = e.handle(chord(1))
    assert isinstance(effects[0], ShowToast) and effects[0].rule == "high"
    got = [(d.rule, d.decision, d.reason) for d in decisions_of(effects)]
    assert got == [("low", "suppress", "outranked"), ("high", "show", None),
                   ("mid", "suppress", "outranked")]  # fmt: skip


def test_equal_priority_earlier_rule_wins_and_failing_rules_keep_their_reason() -> None:
    p = pack(rule("a", max_total=0), rule("b"), rule("c"))
    e = engine(p)
    assert feed(e, pastes(1)) == [
        (1, "suppress", "a", "rule_total_cap"),
        (1, "show", "b", None),
        (1, "suppress", "c", "outranked"),
    ]


def test_actions_are_recorded_with_their_id() -> None:
    e = engine(pack(rule("r1")))
    got = []
    for action in ("got-it", "how", "dismiss"):
        for r in e.handle(Action(T0, "r1", action)):
            assert isinstance(r, Record)
            got.append((r.kind, r.action, r.habit))
    assert got == [("acted", "got-it", "r1-habit"), ("acted", "how", "r1-habit"),
                   ("dismissed", "dismiss", "r1-habit")]  # fmt: skip


def test_records_carry_the_logical_app_and_never_a_title() -> None:
    e = engine(pack(rule("r1", when(title="secret"))))
    e.handle(focus(0, title="secret plans"))
    records = [r for r in e.handle(chord(1)) if isinstance(r, Record)]
    assert records and records[0].app == "outlook"
    assert "secret" not in repr(records)


# -- hot swap, persistence, days ---------------------------------------------------------


def test_hot_swap_keeps_state_of_rules_that_keep_their_id() -> None:
    store = StateStore(None)
    e = engine(pack(rule("keep", cooldown=H), rule("gone", when(chord="ctrl+c"))), state=store)
    feed(e, [focus(0), chord(1), chord(2, "ctrl+c")])
    e.swap(pack(rule("keep", cooldown=H), rule("new", when(chord="ctrl+c")), version=2))
    assert e.pack_version == 2
    assert reasons(feed(e, [chord(3), chord(4, "ctrl+c")])) == ["cooldown", "show"]
    assert "gone" not in store.load_rules()
    assert store.load_rules()["keep"].total_shown == 1


def test_swap_keeps_focus_and_uses_new_matchers() -> None:
    e = engine(pack(rule("r1")))
    e.handle(focus(0))
    e.swap(pack(rule("r2", when(chord="ctrl+s")), version=2))
    assert feed(e, [chord(1), chord(2, "ctrl+s")]) == [(2, "show", "r2", None)]


def test_state_survives_a_restart(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "state.db"
    p = pack(rule("r1", cooldown=H, max_total=2, adopted=when(chord="ctrl+k")), min_gap=60)
    store = StateStore(path)
    e = engine(p, state=store)
    feed(e, [focus(0), chord(1), chord(2, "ctrl+k")])
    e.handle(Action(T0 + 3, "r1", "snooze", 2 * H))
    store.close()

    store = StateStore(path)
    again = engine(p, state=store)
    assert again.adoptions("r1-habit") == 1
    assert reasons(feed(again, [focus(10), chord(11), chord(2 * H + 10)])) == [
        "snoozed", "show",
    ]  # fmt: skip
    assert reasons(feed(again, [chord(3 * 24 * H)])) == ["rule_total_cap"]
    store.close()


def test_day_rollover_uses_the_clock_time_zone() -> None:
    # 23:30 Rome is 22:30 UTC: a cap of 1 per day allows one more at 00:00 Rome.
    e = engine(pack(rule("r1", max_per_day=1)))
    assert reasons(feed(e, pastes(14.5 * H, 14.9 * H, 15 * H))) == [
        "show", "rule_daily_cap", "show",
    ]  # fmt: skip


def test_events_without_candidates_produce_nothing() -> None:
    e = engine(pack(rule("r1")))
    assert e.handle(focus(0, "excel.exe")) == []
    assert e.handle(chord(1)) == []
    assert e.handle(Typing(T0 + 2)) == []


def test_swap_keeps_a_count_window_in_progress_and_picks_up_saved_state() -> None:
    store = StateStore(None)
    e = engine(pack(rule("r1", count=(3, 600))), state=store)
    feed(e, pastes(1, 2))
    store.save_rule("later", RuleState(total_shown=1, never=True))
    e.swap(pack(rule("r1", count=(3, 600)), rule("later"), version=2))
    assert feed(e, [chord(3)]) == [
        (3, "show", "r1", None),
        (3, "suppress", "later", "never"),
    ]


def test_decisions_serialise_to_the_design_json_shape() -> None:
    e = engine(pack(rule("r1", cooldown=H, adopted=when(chord="ctrl+k"))))
    events: list[InputEvent] = [
        focus(0),
        chord(3.5),
        chord(4),
        chord(5, "ctrl+k"),
        Action(T0 + 6, "r1", "got-it"),
    ]
    effects = [effect for ev in events for effect in e.handle(ev)]
    got = [d.as_json(round(d.t - T0, 3)) for d in decisions_of(effects)]
    assert got == [
        {"t": 3.5, "rule": "r1", "decision": "show"},
        {"t": 4.0, "rule": "r1", "decision": "suppress", "reason": "cooldown"},
        {"t": 5.0, "habit": "r1-habit", "decision": "adopted"},
    ]


def test_a_chord_naming_the_focused_app_uses_the_same_candidates() -> None:
    e = engine(pack(rule("r1", cooldown=None)))
    got = feed(e, [focus(0), chord(1, app="outlook.exe"), chord(2), chord(3, app="excel.exe")])
    assert got == [(1, "show", "r1", None), (2, "show", "r1", None)]


# -- shown means on screen (confirm_shows) -----------------------------------------


def _shown(effects: Sequence[object]) -> list[ShowToast]:
    return [e for e in effects if isinstance(e, ShowToast)]


def test_with_confirmation_a_toast_is_recorded_shown_only_when_the_ui_says_so() -> None:
    e = engine(pack(rule("r1", cooldown=H)), confirm_shows=True)
    e.handle(focus(0))
    effects = e.handle(chord(1))
    (toast,) = _shown(effects)
    assert decisions_of(effects) == []  # nothing recorded yet
    assert reasons(feed(e, [chord(2)])) == ["cooldown"]  # but the cooldown runs already
    confirmed = decisions_of(e.handle(ToastShown(T0 + 1.05, toast.toast_id)))
    assert [(d.t - T0, d.decision, d.rule) for d in confirmed] == [(1, "show", "r1")]
    assert decisions_of(e.handle(ToastShown(T0 + 1.1, toast.toast_id))) == []  # once


def test_a_toast_that_could_not_be_shown_is_taken_back_and_says_why() -> None:
    # The welcome rule's single showing must not be spent on a toast nobody saw.
    e = engine(pack(rule("welcome", when("start", None), max_total=1)), confirm_shows=True)
    (toast,) = _shown(e.handle(Start(T0)))
    got = decisions_of(e.handle(ToastNotShown(T0 + 0.1, toast.toast_id, "no screen")))
    assert [(d.decision, d.reason) for d in got] == [("suppress", "no_display")]
    state = e.rule_state("welcome")
    assert state is not None and state.total_shown == 0 and state.last_shown is None
    (again,) = _shown(e.handle(Start(T0 + 60)))
    assert again.toast_id != toast.toast_id


def test_an_unconfirmed_toast_expires_as_not_displayed() -> None:
    e = engine(pack(rule("r1", cooldown=H)), confirm_shows=True, confirm_timeout=5.0)
    e.handle(focus(0))
    _shown(e.handle(chord(1)))
    assert e.expire_unconfirmed(T0 + 5.5) == []
    late = decisions_of(e.expire_unconfirmed(T0 + 6.5))
    assert [(d.decision, d.reason) for d in late] == [("suppress", "no_display")]
    assert _shown(e.handle(chord(7)))  # the cooldown was taken back: shown again


def test_without_confirmation_the_decision_is_the_showing() -> None:
    e = engine(pack(rule("r1")))
    e.handle(focus(0))
    effects = e.handle(chord(1))
    assert _shown(effects) and [d.decision for d in decisions_of(effects)] == ["show"]
