"""`waymark tip --test` on a real X server: a sample tip appears, the person closes it
with a real click, and nothing is recorded; with Waymark running, the running agent
shows it (the tray's "Show a sample tip" takes the same path)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from agent.ui.theme import LIGHT
from tests.ui.x11 import ROOT, click_at, find_colour, visible_windows, window_rect
from tests.xserver import XServer, wait_for

pytestmark = pytest.mark.x11


def _click_got_it(server: XServer) -> None:
    """Click the sample tip's one primary (accent-coloured) button: Got it."""
    window = wait_for(lambda: visible_windows(server, "Waymark tip"), 20, "the sample tip")[0]
    rect = window_rect(server, window)
    spot = wait_for(
        lambda: find_colour(server, rect, LIGHT.accent, skip_left=12), 10, "the Got it button"
    )
    click_at(server, *spot)
    wait_for(lambda: not visible_windows(server, "Waymark tip"), 10, "the sample tip closed")


def test_tip_test_shows_a_sample_tip_until_the_person_closes_it(
    xserver: XServer, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    env = dict(xserver.env, QT_QPA_PLATFORM="xcb", USER=f"wm-test-{tmp_path.name}",
               WAYMARK_DATA_DIR=str(data))  # fmt: skip
    tip = subprocess.Popen(
        [sys.executable, "-m", "agent", "tip", "--test"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        _click_got_it(xserver)
        _out, err = tip.communicate(timeout=20)
    finally:
        if tip.poll() is None:
            tip.kill()
            tip.communicate()
    assert tip.returncode == 0, err
    assert "the sample tip is on screen" in err and "closed (got-it)" in err


def test_tip_test_asks_the_running_agent_and_nothing_is_recorded(
    xserver: XServer, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"telemetry_mode": "org-notice"}))
    pack = tmp_path / "pack.yaml"
    pack.write_text(
        "waymark: 1\nid: quiet\nversion: 1\ntitle: Q\nrules:\n  - id: r\n    habit: h\n"
        "    when: {event: lock}\n    toast: {title: {en: T}}\n",
        encoding="utf-8",
    )
    env = dict(xserver.env, QT_QPA_PLATFORM="xcb", USER=f"wm-test-{tmp_path.name}",
               WAYMARK_DATA_DIR=str(data), WAYMARK_POLICY_FILE=str(policy))  # fmt: skip
    agent = subprocess.Popen(
        [sys.executable, "-m", "agent", "run", "--no-hooks", "--pack", str(pack)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_for(lambda: visible_windows(xserver, "Waymark settings"), 20, "the notice page")
        asked = subprocess.run(
            [sys.executable, "-m", "agent", "tip", "--test"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert asked.returncode == 0, asked.stderr
        assert "asked the running Waymark" in asked.stderr
        _click_got_it(xserver)
    finally:
        agent.send_signal(signal.SIGTERM)
        _out, err = agent.communicate(timeout=15)
    assert agent.returncode == 0, err
    from agent.sync.outbox import Outbox

    box = Outbox(data / "outbox.db")
    try:
        assert box.pending(50) == []  # the sample tip is not coaching
    finally:
        box.close()
