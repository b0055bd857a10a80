"""The wired agent (AgentCore) with a scripted source: decisions, telemetry gating,
hot swap of the pack file, and the `waymark run` command end to end."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from agent.app import AgentCore, AgentOptions
from agent.config.policy import Policy
from agent.events import Chord, Focus
from agent.rules.effects import Effect
from agent.rules.records import Record
from tests.helpers.packs import paste_in_editor
from tests.xserver import wait_for

PACK = """\
waymark: 1
id: test-pack
version: 3
title: Test pack
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
      title: {en: Paste without formatting, it: Incolla senza formattazione}
      body: {en: "Use **Ctrl+Shift+V**."}
"""

SCRIPT = [
    {"header": {"start": "2026-11-30T09:00:00+01:00", "device": "dev-1", "os": "linux"}},
    {"t": 0.0, "kind": "focus", "app": "gedit", "title": "notes.txt"},
    {"t": 0.1, "kind": "chord", "chord": "ctrl+v"},
    {"t": 0.2, "kind": "chord", "chord": "ctrl+v"},
    {"t": 0.3, "kind": "chord", "chord": "ctrl+shift+v"},
]


@pytest.fixture
def pack_file(tmp_path: Path) -> Path:
    path = tmp_path / "pack.yaml"
    path.write_text(PACK, encoding="utf-8")
    return path


def _core(data_dir: Path, pack: Path, policy: Policy | None = None) -> AgentCore:
    return AgentCore(AgentOptions(pack_path=pack, data_dir=data_dir, hooks=False, policy=policy))


def _collect(core: AgentCore) -> list[Effect]:
    seen: list[Effect] = []
    core.add_effect_listener(seen.append)
    return seen


def _paste_in_editor(core: AgentCore, title: str = "notes.txt", pastes: int = 1) -> None:
    """Run ``core``, focus the editor, press Ctrl+V ``pastes`` times, stop when handled."""
    core.start()
    try:
        now = core.clock.now()
        core.post(Focus(now, "gedit", title))
        for _ in range(pastes):
            core.post(Chord(now, "ctrl+v"))
        assert core.wait_idle()
    finally:
        core.stop()


def _outbox_rows(data_dir: Path) -> list[tuple[str, str | None, str | None]]:
    with closing(sqlite3.connect(data_dir / "outbox.db")) as db:
        return db.execute("SELECT kind, rule, app FROM outbox ORDER BY rowid").fetchall()


def test_chords_in_the_focused_app_show_then_cool_down(data_dir: Path, pack_file: Path) -> None:
    core = _core(data_dir, pack_file, Policy())
    seen = _collect(core)
    _paste_in_editor(core, pastes=2)
    decisions = [(r.kind, r.rule, r.reason) for r in seen if isinstance(r, Record)]
    assert ("shown", "paste-plain", None) in decisions
    assert ("suppressed", "paste-plain", "cooldown") in decisions


def test_no_telemetry_is_stored_before_consent(data_dir: Path, pack_file: Path) -> None:
    core = _core(data_dir, pack_file, Policy())
    _paste_in_editor(core)
    assert _outbox_rows(data_dir) == []


def test_telemetry_after_consent_has_no_app_unless_policy_allows(
    data_dir: Path, pack_file: Path
) -> None:
    core = _core(data_dir, pack_file, Policy())
    core.settings.set("consent", "granted")
    _paste_in_editor(core, "secret-title.txt")
    rows = _outbox_rows(data_dir)
    assert ("shown", "paste-plain", None) in rows
    raw = b"".join(p.read_bytes() for p in data_dir.rglob("*") if p.is_file())
    assert b"secret-title" not in raw

    allowed = data_dir.parent / "allowed"
    allowed.mkdir()
    core = _core(allowed, pack_file, Policy(values={"send_app_names": True}))
    core.settings.set("consent", "granted")
    _paste_in_editor(core)
    assert ("shown", "paste-plain", "editor") in _outbox_rows(allowed)


def test_withdrawing_consent_deletes_the_records_still_waiting(
    data_dir: Path, pack_file: Path
) -> None:
    core = _core(data_dir, pack_file, Policy())
    core.settings.set("consent", "granted")
    core.start()
    try:
        paste_in_editor(core)
        assert core.outbox.count_pending() >= 1
        core.settings.set("consent", "declined")
        assert core.outbox.count_pending() == 0
    finally:
        core.stop()
    assert _outbox_rows(data_dir) == []


@pytest.mark.allow_log("pack .* is invalid; keeping test-pack v3")
def test_a_broken_pack_keeps_the_last_good_one_running(data_dir: Path, pack_file: Path) -> None:
    core = _core(data_dir, pack_file, Policy())
    seen = _collect(core)
    core.start()
    try:
        pack_file.write_text(PACK.replace("version: 3", "version: three"), encoding="utf-8")
        assert not core.reload_pack()
        assert core.pack_errors and core.pack_errors[0].startswith(f"{pack_file}:3:")
        assert core.pack_info() == ("test-pack", 3)
        paste_in_editor(core)
        assert any(isinstance(r, Record) and r.kind == "shown" for r in seen)
        # A good new version is picked up by the engine thread from the file.
        pack_file.write_text(PACK.replace("version: 3", "version: 4"), encoding="utf-8")
        wait_for(lambda: core.pack_info() == ("test-pack", 4), 10, "the new pack version")
    finally:
        core.stop()


def test_waymark_run_with_a_script_prints_the_same_decisions_as_replay(
    tmp_path: Path, pack_file: Path
) -> None:
    script = tmp_path / "day.jsonl"
    script.write_text("\n".join(json.dumps(line) for line in SCRIPT) + "\n", encoding="utf-8")
    env = dict(os.environ)
    env.pop("DISPLAY", None)
    waymark = [sys.executable, "-m", "agent"]
    replay = subprocess.run(
        [*waymark, "replay", str(pack_file), str(script), "--json"],
        capture_output=True, text=True, timeout=60, env=env, check=True,
    )  # fmt: skip
    run = subprocess.run(
        [*waymark, "run", "--headless", "--json", "--pack", str(pack_file), "--script",
         str(script), "--data-dir", str(tmp_path / "data")],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr

    def strip_t(text: str) -> list[tuple[object, ...]]:
        out: list[tuple[object, ...]] = []
        for line in text.splitlines():
            d = json.loads(line)
            out.append((d.get("rule"), d.get("habit"), d["decision"], d.get("reason")))
        return out

    assert strip_t(run.stdout) == strip_t(replay.stdout)
    assert ("paste-plain", None, "show", None) in strip_t(run.stdout)
    assert (None, "plain-paste", "adopted", None) in strip_t(run.stdout)
    log = (tmp_path / "data" / "logs" / "agent.log").read_text(encoding="utf-8")
    assert all(json.loads(line)["message"] for line in log.splitlines())
