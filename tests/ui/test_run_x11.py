"""End to end on a real X server: `waymark run` shows the consent window and a
toast from a scripted event; a second `waymark settings` brings the window
forward through the running agent; SIGTERM ends it cleanly."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

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
