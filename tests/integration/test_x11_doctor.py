"""`waymark doctor` on a real X server: the X11 sources are up, rules needing lock are listed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.xserver import XServer

pytestmark = pytest.mark.x11

PACK = """\
waymark: 1
id: t
version: 1
title: T
default_locale: en
rules:
  - id: paste
    habit: h
    when: {event: chord, chord: ctrl+v}
    toast: {title: {en: x}}
  - id: back-from-lunch
    habit: h
    when: {event: unlock}
    toast: {title: {en: y}}
"""


def test_doctor_sees_the_x11_sources_and_names_rules_that_cannot_fire(
    xserver: XServer, tmp_path: Path
) -> None:
    pack = tmp_path / "pack.yaml"
    pack.write_text(PACK, encoding="utf-8")
    env = dict(xserver.env)
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)
    env["DBUS_SYSTEM_BUS_ADDRESS"] = f"unix:path={tmp_path / 'no-bus'}"  # no lock source here
    out = subprocess.run(
        [sys.executable, "-m", "agent", "doctor", "--pack", str(pack), "--json"],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    report = json.loads(out.stdout)
    ok = {s["name"]: s["ok"] for s in report["sources"]}
    assert report["session"] == "x11"
    assert ok == {
        "input": True, "focus": True, "idle": True, "lock": False, "quiet": True,
        "accessibility": False, "files": False,  # no element or file rule in this pack
    }  # fmt: skip
    assert report["blocked_rules"] == [{"rule": "back-from-lunch", "line": 11, "missing": ["lock"]}]
    text = subprocess.run(
        [sys.executable, "-m", "agent", "doctor", "--pack", str(pack)],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    assert "Session: x11" in text and "back-from-lunch (pack.yaml:11) needs lock" in text
