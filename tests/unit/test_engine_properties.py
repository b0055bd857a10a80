"""Property-based invariants of the engine over random packs and event streams:
caps are never exceeded, cooldowns and the pack gap are never violated, holdout
devices never see a toast, "never" is final, and replays are deterministic."""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from agent.events import Action, Chord, Focus, InputEvent
from agent.rules.effects import ShowToast
from agent.rules.engine import Engine, bucket, habit_holdouts
from agent.rules.model import Pack, Rule
from agent.rules.records import Record
from tests.unit.packs import MONDAY_9, ROME, clock, pack, rule, when

APP_IDS = ("outlook.exe", "excel.exe", "notepad.exe", "powerpnt.exe", "other.exe")
CHORDS = ("ctrl+v", "ctrl+c", "ctrl+k")
RULE_IDS = ("a", "b", "c", "d")

optional_seconds = st.none() | st.sampled_from([30.0, 300.0, 3600.0, 86400.0])
optional_cap = st.none() | st.integers(min_value=0, max_value=4)


@st.composite
def rules(draw: st.DrawFn, rule_id: str) -> Rule:
    app = draw(st.sampled_from([None, "outlook", "excel", ("outlook", "editor")]))
    return rule(
        rule_id,
        when("chord", app, chord=draw(st.sampled_from(CHORDS))),
        # Rules sometimes share a habit, so the per-habit arm is exercised.
        habit=draw(st.sampled_from([None, "shared-habit"])),
        priority=draw(st.integers(0, 3)),
        count=draw(st.none() | st.tuples(st.integers(1, 3), st.sampled_from([60.0, 600.0]))),
        cooldown=draw(optional_seconds),
        max_per_day=draw(optional_cap),
        max_total=draw(optional_cap),
        rollout=draw(st.sampled_from([100, 50])),
        holdout=draw(st.sampled_from([0, 10, 50])),
        stop_after_adopted=draw(st.none() | st.integers(1, 3)),
        adopted=when("chord", None, chord="ctrl+k") if draw(st.booleans()) else None,
    )


@st.composite
def packs(draw: st.DrawFn) -> Pack:
    count = draw(st.integers(1, len(RULE_IDS)))
    return pack(
        *(draw(rules(rid)) for rid in RULE_IDS[:count]),
        min_gap=draw(optional_seconds),
        max_per_day=draw(optional_cap),
    )


@st.composite
def streams(draw: st.DrawFn) -> list[InputEvent]:
    gaps = draw(st.lists(st.sampled_from([0.0, 1.0, 20.0, 90.0, 1800.0, 7200.0, 40000.0]),
                         min_size=1, max_size=80))  # fmt: skip
    t = MONDAY_9
    events: list[InputEvent] = []
    for gap in gaps:
        t += gap
        what = draw(st.integers(0, 9))
        if what == 0:
            events.append(Focus(t, draw(st.sampled_from(APP_IDS)), "title"))
        elif what == 1:
            action = draw(st.sampled_from(["never", "snooze", "got-it", "dismiss"]))
            length = 600.0 if action == "snooze" else None
            events.append(Action(t, draw(st.sampled_from(RULE_IDS)), action, length))
        else:
            events.append(Chord(t, draw(st.sampled_from(CHORDS))))
    return events


def run(p: Pack, events: list[InputEvent], device: str = "dev-1") -> list[tuple[float, str]]:
    """(t, rule) of every toast shown; also checks records agree with toasts."""
    engine = Engine(p, clock=clock(), device=device, os_name="windows")
    shown: list[tuple[float, str]] = []
    for event in events:
        effects = engine.handle(event)
        toasts = [e for e in effects if isinstance(e, ShowToast)]
        records = [e for e in effects if isinstance(e, Record) and e.kind == "shown"]
        assert len(toasts) <= 1
        assert [(t.t, t.rule) for t in toasts] == [(r.t, r.rule) for r in records]
        shown.extend((t.t, t.rule) for t in toasts)
    return shown


def day(t: float) -> object:
    return datetime.fromtimestamp(t, ROME).date()


@settings(max_examples=150, deadline=None)
@given(packs(), streams())
def test_caps_cooldowns_and_the_pack_gap_are_never_violated(
    p: Pack, events: list[InputEvent]
) -> None:
    shown = run(p, events)
    by_rule: dict[str, list[float]] = defaultdict(list)
    for t, rid in shown:
        by_rule[rid].append(t)
    for r in p.rules:
        times = by_rule[r.id]
        lim = r.limits
        if lim.max_total is not None:
            assert len(times) <= lim.max_total
        if lim.max_per_day is not None:
            per_day: dict[object, int] = defaultdict(int)
            for t in times:
                per_day[day(t)] += 1
            assert max(per_day.values(), default=0) <= lim.max_per_day
        if lim.cooldown is not None:
            assert all(b - a >= lim.cooldown for a, b in itertools.pairwise(times))
    all_times = [t for t, _ in shown]
    if p.limits.min_gap is not None:
        assert all(b - a >= p.limits.min_gap for a, b in itertools.pairwise(all_times))
    if p.limits.max_per_day is not None:
        per_day_pack: dict[object, int] = defaultdict(int)
        for t in all_times:
            per_day_pack[day(t)] += 1
        assert max(per_day_pack.values(), default=0) <= p.limits.max_per_day


@settings(max_examples=100, deadline=None)
@given(packs(), streams(), st.sampled_from(["dev-1", "dev-2", "laptop-7", "x"]))
def test_a_device_never_sees_a_rule_outside_its_rollout_or_in_its_holdout(
    p: Pack, events: list[InputEvent], device: str
) -> None:
    shown_rules = {rid for _, rid in run(p, events, device)}
    holdouts = habit_holdouts(p)
    for r in p.rules:
        b = bucket(device, r.habit)
        outside = r.audience is not None and b >= r.audience.rollout
        if outside or b < holdouts[r.habit]:
            assert r.id not in shown_rules


@settings(max_examples=100, deadline=None)
@given(packs(), streams())
def test_never_is_final_and_replays_are_deterministic(p: Pack, events: list[InputEvent]) -> None:
    assert run(p, events) == run(p, events)
    engine = Engine(p, clock=clock(), device="dev-1", os_name="windows")
    never: set[str] = set()
    for event in events:
        for effect in engine.handle(event):
            if isinstance(effect, ShowToast):
                assert effect.rule not in never
        if isinstance(event, Action) and event.action == "never":
            never.add(event.rule)
