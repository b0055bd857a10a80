"""The replay JSONL parser and the real-time ScriptedSource."""

from __future__ import annotations

import json
import queue
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from agent.events import Action, Chord, Click, Focus, Idle, Pause, Quiet, Start, Typing
from agent.hooks.base import Emitter
from agent.hooks.scripted import ScriptedSource, parse_duration, parse_script
from tests.xserver import wait_for

HEADER = {
    "header": {
        "start": "2026-11-30T09:00:00+01:00",
        "device": "dev-1",
        "groups": ["sales"],
        "os": "windows",
        "locale": "it",
    }
}
START = datetime.fromisoformat("2026-11-30T09:00:00+01:00").timestamp()


def jsonl(*lines: Any) -> str:
    return "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n"


def test_every_kind_of_line_becomes_its_event() -> None:
    text = jsonl(
        HEADER,
        {"t": 0.0, "kind": "focus", "app": "outlook.exe", "title": "Inbox - Outlook"},
        {"t": 3.5, "kind": "chord", "chord": "Shift+Ctrl+V"},
        {"t": 9.0, "kind": "click", "button": "right", "app": "excel.exe"},
        {"t": 10, "kind": "typing"},
        {"t": 400, "kind": "idle", "seconds": 300},
        {"t": 410, "kind": "active"},
        {"t": 500, "kind": "lock"},
        {"t": 560, "kind": "unlock"},
        {"t": 600, "kind": "quiet", "on": True, "why": "fullscreen"},
        {"t": 650, "kind": "start"},
        {"t": 700, "kind": "action", "rule": "r1", "action": "snooze", "for": "1h"},
        {"t": 800, "kind": "pause", "for": "30m"},
        {"t": 900, "kind": "resume"},
        {"t": 950, "kind": "pause"},
    )
    script = parse_script(text, "day.jsonl")
    assert script.problems == []
    h = script.header
    assert (h.start, h.device, h.groups, h.os, h.locale) == (
        START, "dev-1", ("sales",), "windows", "it",
    )  # fmt: skip
    events = [e.event for e in script]
    assert events[0] == Focus(START, "outlook.exe", "Inbox - Outlook")
    assert events[1] == Chord(START + 3.5, "ctrl+shift+v")
    assert events[2] == Click(START + 9, "right", "excel.exe")
    assert isinstance(events[3], Typing) and isinstance(events[4], Idle)
    assert events[8] == Quiet(START + 600, True, "fullscreen")
    assert isinstance(events[9], Start)
    assert events[10] == Action(START + 700, "r1", "snooze", 3600.0)
    assert events[11] == Pause(START + 800, START + 800 + 1800)
    assert events[12] == Pause(START + 900, None)
    assert events[13] == Pause(START + 950, float("inf"))
    assert [e.offset for e in script][:3] == [0.0, 3.5, 9.0]


def test_malformed_lines_are_reported_with_their_line_number_and_skipped() -> None:
    text = jsonl(
        HEADER,
        {"t": 1, "kind": "focus", "app": "outlook.exe"},
        "{not json",
        {"t": 2, "kind": "teleport"},
        {"t": 3, "kind": "chord", "chord": "a"},
        {"kind": "typing"},
        {"t": 0.5, "kind": "typing"},
        {"t": 4, "kind": "idle"},
        {"t": 5, "kind": "action", "rule": "r1", "action": "snooze", "for": "soon"},
        [1, 2],
        '{"t": NaN, "kind": "typing"}',
        {"t": 6, "kind": "typing"},
    )
    script = parse_script(text, "day.jsonl")
    assert [p.split(":")[1] for p in script.problems] == [
        "3", "4", "5", "6", "7", "8", "9", "10", "11",
    ]  # fmt: skip
    assert all(p.startswith("day.jsonl:") for p in script.problems)
    assert "unknown kind 'teleport'" in script.problems[1]
    assert "goes back in time" in script.problems[4]
    assert [e.line for e in script] == [2, 12]


def test_without_a_header_the_script_starts_now_in_local_time() -> None:
    script = parse_script(jsonl({"t": 2, "kind": "typing"}), now=1000.0)
    assert script.header.start == 1000.0
    assert script.events[0].event.t == 1002.0


def test_header_tz_names_the_zone_of_local_days() -> None:
    head = {"header": {"start": "2026-11-30T09:00:00+01:00", "tz": "Europe/Rome"}}
    script = parse_script(jsonl(head))
    assert str(script.header.tz) == "Europe/Rome"
    bad = parse_script(jsonl({"header": {"tz": "Mars/Olympus"}}), "x.jsonl")
    assert bad.problems and bad.problems[0].startswith("x.jsonl:1: unknown time zone")


def test_a_header_after_events_is_an_error() -> None:
    script = parse_script(jsonl({"t": 1, "kind": "typing"}, HEADER), "x.jsonl")
    assert script.problems == ["x.jsonl:2: the header must be the first line"]


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("10m", 600), ("1h30m", 5400), ("1d", 86400), (5, 5)]
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_scripted_source_replays_in_order_on_real_time(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_text(
        jsonl(
            HEADER,
            {"t": 0, "kind": "focus", "app": "gedit"},
            {"t": 0.5, "kind": "chord", "chord": "ctrl+v"},
            {"t": 1.0, "kind": "chord", "chord": "ctrl+c"},
        ),
        encoding="utf-8",
    )
    q: queue.Queue[Any] = queue.Queue()
    source = ScriptedSource(path, speed=10.0)
    before = time.time()
    source.start(Emitter(q))
    wait_for(lambda: not source.alive(), 5, "the script to finish")
    events = [q.get_nowait() for _ in range(q.qsize())]
    assert [e.kind for e in events] == ["focus", "chord", "chord"]
    # Real time stamps, spaced like the script divided by the speed.
    assert events[0].t >= before
    assert events[2].t - events[0].t == pytest.approx(0.1, abs=1e-6)
    assert source.state().ok


def test_scripted_source_stops_at_once(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_text(jsonl({"t": 0, "kind": "typing"}, {"t": 3600, "kind": "typing"}), "utf-8")
    q: queue.Queue[Any] = queue.Queue()
    source = ScriptedSource(path)
    source.start(Emitter(q))
    wait_for(lambda: q.qsize() == 1, 5, "the first event")
    started = time.monotonic()
    source.stop()
    assert not source.alive()
    assert time.monotonic() - started < 2
    assert q.qsize() == 1
