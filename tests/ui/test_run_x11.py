"""End to end on a real X server: `waymark run` shows the consent window and a
toast from a scripted event; a second `waymark settings` brings the window
forward through the running agent; SIGTERM ends it cleanly.  The welcome tip
of the built-in pack reaches the screen and is recorded as shown only then."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path
from unittest.mock import ANY

import pytest

from devtools.demo import DEMO_PACK
from tests.xserver import XServer, wait_for, xdotool

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.x11


def _visible(server: XServer, name: str) -> list[str]:
    return xdotool(server, "search", "--onlyvisible", "--name", name, check=False).splitlines()


def test_waymark_run_shows_consent_and_a_toast_and_forwards_settings(
    xserver: XServer, tmp_path: Path
) -> None:
    pack = tmp_path / "pack.json"
    pack.write_text(json.dumps(DEMO_PACK), encoding="utf-8")
    script = tmp_path / "events.jsonl"
    script.write_text(
        "\n".join(json.dumps(e) for e in [
            {"t": 1.0, "kind": "focus", "app": "thunderbird", "title": "New message"},
            {"t": 1.2, "kind": "chord", "chord": "ctrl+v"},
            {"t": 1.4, "kind": "chord", "chord": "ctrl+v"},
        ]) + "\n",
        encoding="utf-8",
    )  # fmt: skip
    env = dict(xserver.env, QT_QPA_PLATFORM="xcb", USER=f"wm-test-{tmp_path.name}")
    data = tmp_path / "data"
    agent = subprocess.Popen(
        [sys.executable, "-m", "agent", "run", "--pack", str(pack), "--script", str(script),
         "--data-dir", str(data), "--no-hooks"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_for(lambda: _visible(xserver, "Waymark settings"), 20, "the consent window")
        wait_for(lambda: _visible(xserver, "Waymark tip"), 20, "the toast")
        # The person minimises the window; a second start must bring it forward.
        for window in _visible(xserver, "Waymark settings"):
            xdotool(xserver, "windowminimize", window, check=False)
        wait_for(lambda: not _visible(xserver, "Waymark settings"), 20, "the window minimised")
        second = subprocess.run(
            [sys.executable, "-m", "agent", "settings", "--page", "privacy"],
            cwd=ROOT, env=dict(env, WAYMARK_DATA_DIR=str(data)), capture_output=True,
            text=True, timeout=30,
        )  # fmt: skip
        assert second.returncode == 0, second.stderr
        assert "asked the running Waymark" in second.stderr
        wait_for(lambda: _visible(xserver, "Waymark settings"), 20, "the window again")
    finally:
        agent.send_signal(signal.SIGTERM)
        try:
            _out, err = agent.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            agent.kill()
            _out, err = agent.communicate()
    assert agent.returncode == 0, err


def _records(data: Path) -> list[tuple[str, str | None, str | None]]:
    """(kind, rule, reason) of every record in the outbox, oldest first."""
    if not (data / "outbox.db").exists():
        return []
    with closing(sqlite3.connect(data / "outbox.db")) as db:
        rows = db.execute("SELECT kind, rule, reason FROM outbox ORDER BY t").fetchall()
    return [(str(k), r, why) for k, r, why in rows]


def _start_agent(env: dict[str, str], data: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "agent", "run", "--no-hooks", "--json", "--data-dir", str(data)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _stop_agent(agent: subprocess.Popen[str]) -> tuple[str, str]:
    agent.send_signal(signal.SIGTERM)
    try:
        out, err = agent.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        agent.kill()
        out, err = agent.communicate()
    assert agent.returncode == 0, err
    return out, err


def test_the_welcome_tip_is_shown_on_screen_and_only_then_recorded_shown(
    xserver: XServer, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"telemetry_mode": "org-notice", "organisation": "Example Corp"}))
    env = dict(xserver.env, QT_QPA_PLATFORM="xcb", USER=f"wm-test-{tmp_path.name}",
               WAYMARK_POLICY_FILE=str(policy))  # fmt: skip
    data = tmp_path / "data"
    agent = _start_agent(env, data)
    try:
        # The built-in pack's welcome rule reacts to `start`: its tip must reach the screen.
        wait_for(lambda: _visible(xserver, "Waymark tip"), 20, "the welcome tip on screen")
    finally:
        out, _err = _stop_agent(agent)
    assert [json.loads(line) for line in out.splitlines()] == [
        {"t": ANY, "rule": "welcome", "decision": "show"}
    ]
    first = _records(data)
    assert first[0] == ("shown", "welcome", None)  # then "dismissed": the agent closed it
    assert [r for r in first if r[0] in ("shown", "suppressed")] == [first[0]]

    # A restart: the engine still decides (and --json still prints it), but a spent
    # welcome tip adds no "held back" record for the Privacy page and the server.
    again = _start_agent(env, data)
    try:
        assert again.stdout is not None
        line = json.loads(again.stdout.readline())
        assert line == {"t": ANY, "rule": "welcome", "decision": "suppress",
                        "reason": "rule_total_cap"}  # fmt: skip
        assert not _visible(xserver, "Waymark tip")
    finally:
        _stop_agent(again)
    assert _records(data) == first
