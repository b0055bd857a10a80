"""`waymark replay`: virtual-time runs, the JSON and table outputs, bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agent.cli import main
from agent.commands.replay import replay
from agent.hooks.scripted import parse_script
from tests.unit.packs import pack, rule, when

ROOT = Path(__file__).resolve().parents[2]

HEADER = {"header": {"start": "2026-11-30T09:00:00+01:00", "device": "dev-1", "os": "linux",
                     "tz": "Europe/Rome"}}  # fmt: skip

PACK_YAML = """\
waymark: 1
id: replay-test
version: 2
title: Replay test
default_locale: en
apps:
  editor: {windows: [notepad.exe], macos: [com.apple.TextEdit], linux: [gedit]}
rules:
  - id: paste-plain
    habit: plain-paste
    when: {event: chord, app: editor, chord: ctrl+v}
    adopted: {event: chord, app: editor, chord: ctrl+shift+v}
    limits: {cooldown: 1h}
    toast:
      title: {en: Paste without formatting}
  - id: welcome
    habit: start-right
    when: {event: start}
    audience: {groups: [sales]}
    toast:
      title: {en: Welcome}
"""


def jsonl(*lines: Any) -> str:
    return "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n"


DAY = jsonl(
    HEADER,
    {"t": 0, "kind": "focus", "app": "gedit", "title": "notes.txt"},
    {"t": 3.5, "kind": "chord", "chord": "ctrl+v"},
    {"t": 9, "kind": "chord", "chord": "ctrl+v"},
    {"t": 12, "kind": "chord", "chord": "ctrl+shift+v"},
)


def test_replay_injects_start_and_reports_offsets_as_written() -> None:
    p = pack(
        rule("paste", when("chord", "editor"), cooldown=3600, adopted=when("chord", "editor",
             chord="ctrl+shift+v")),
        rule("hello", when("start", None)),
    )  # fmt: skip
    result = replay(p, parse_script(DAY))
    got = [(t, d.decision, d.rule, d.reason) for t, d in result.decisions]
    assert got == [
        (0.0, "show", "hello", None),
        (3.5, "show", "paste", None),
        (9.0, "suppress", "paste", "cooldown"),
        (12.0, "adopted", "paste", None),
    ]
    assert result.events == 5


def test_a_script_that_begins_with_start_gets_no_second_one() -> None:
    p = pack(rule("hello", when("start", None)))
    script = parse_script(jsonl(HEADER, {"t": 5, "kind": "start"}))
    assert [(t, d.decision) for t, d in replay(p, script).decisions] == [(5.0, "show")]


def test_device_and_groups_options_override_the_header() -> None:
    p = pack(rule("hello", when("start", None), groups=("sales",)))
    script = parse_script(jsonl(HEADER))
    assert [d.reason for _, d in replay(p, script).decisions] == ["audience"]
    assert [d.decision for _, d in replay(p, script, groups=["sales"]).decisions] == ["show"]


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    pack_file = tmp_path / "pack.yaml"
    pack_file.write_text(PACK_YAML, encoding="utf-8")
    events = tmp_path / "day.jsonl"
    events.write_text(DAY, encoding="utf-8")
    return pack_file, events


def test_json_output_is_one_design_object_per_decision(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    pack_file, events = files
    assert main(["replay", str(pack_file), str(events), "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines == [
        {"t": 0.0, "rule": "welcome", "decision": "suppress", "reason": "audience"},
        {"t": 3.5, "rule": "paste-plain", "decision": "show"},
        {"t": 9.0, "rule": "paste-plain", "decision": "suppress", "reason": "cooldown"},
        {"t": 12.0, "habit": "plain-paste", "decision": "adopted"},
    ]
    assert main(["replay", str(pack_file), str(events), "--json", "--groups", "it,sales"]) == 0
    first = json.loads(capsys.readouterr().out.splitlines()[0])
    assert first == {"t": 0.0, "rule": "welcome", "decision": "show"}


def test_table_output_is_aligned_with_local_times_and_a_summary(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    pack_file, events = files
    assert main(["replay", str(pack_file), str(events)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["time", "offset", "rule", "/", "habit", "decision", "reason"]
    assert out[2].split() == ["2026-11-30", "09:00:03", "+3.5s", "paste-plain", "show"]
    assert out[3].split()[-2:] == ["suppress", "cooldown"]
    assert out[1].index("welcome") == out[0].index("rule")
    assert out[-1] == (
        "4 decisions: 1 shown, 2 suppressed (audience 1, cooldown 1), 1 adopted; 5 events"
    )


def test_a_bad_pack_prints_file_line_col_and_exits_2(
    tmp_path: Path, files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _, events = files
    bad = tmp_path / "bad.yaml"
    bad.write_text(PACK_YAML.replace("version: 2", "version: two"), encoding="utf-8")
    assert main(["replay", str(bad), str(events), "--json"]) == 2
    err = capsys.readouterr()
    assert err.out == ""
    assert err.err.startswith(f"{bad}:3:")


def test_bad_event_lines_are_warned_with_line_numbers_and_skipped(
    tmp_path: Path, files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    pack_file, _ = files
    events = tmp_path / "broken.jsonl"
    events.write_text(
        DAY + jsonl("{oops", {"t": 20, "kind": "chord", "chord": "ctrl+v"}), encoding="utf-8"
    )
    assert main(["replay", str(pack_file), str(events), "--json"]) == 0
    captured = capsys.readouterr()
    assert captured.err.startswith(f"{events}:6: not JSON")
    assert json.loads(captured.out.splitlines()[-1]) == {
        "t": 20.0, "rule": "paste-plain", "decision": "suppress", "reason": "cooldown",
    }  # fmt: skip


def test_a_missing_events_file_exits_2(
    files: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pack_file, _ = files
    assert main(["replay", str(pack_file), str(tmp_path / "nope.jsonl")]) == 2
    assert "cannot read the events" in capsys.readouterr().err


def test_replay_help_points_to_the_format_in_the_repository(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["replay", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "docs/replay-format.md" in text and "DESIGN.md" not in text
    assert (ROOT / "docs" / "replay-format.md").is_file()
    assert "docs/replay-format.md" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_example_line_of_the_replay_format_page_parses() -> None:
    from agent.hooks import scripted

    page = (ROOT / "docs" / "replay-format.md").read_text(encoding="utf-8")
    blocks = page.split("```jsonl\n")[1:]
    events = blocks[0].split("```")[0]
    script = parse_script(events, "replay-format.md")
    assert script.problems == []
    kinds = {type(e.event).__name__ for e in script.events}
    assert {"Focus", "Chord", "Click", "Idle", "Active", "Lock", "Unlock", "Quiet",
            "Action", "Element", "FileSaved"} <= kinds  # fmt: skip
    # Every kind the parser accepts is documented in the table.
    rows = [line.split("|")[1] for line in page.splitlines() if line.startswith("| `")]
    for kind in ("focus", "chord", "click", "typing", "idle", "active", "lock", "unlock",
                 "quiet", "start", "action", "pause", "resume", "element", "file"):  # fmt: skip
        assert any(f"`{kind}`" in row for row in rows), kind
        line: dict[str, object] = {"t": 0, "kind": kind, "app": "a", "chord": "ctrl+v",
                                   "seconds": 1, "on": True, "rule": "r", "action": "got-it",
                                   "folder": "desktop", "type": "pdf"}  # fmt: skip
        if kind == "element":
            line.update(on="invoke", role="button")
        assert parse_script(jsonl(line)).problems == [], kind
    for field in ("start", "tz", "device", "groups", "os", "locale"):
        assert f"| `{field}` |" in page, field
    assert "docs/replay-format.md" in (scripted.__doc__ or "")
