"""`waymark doctor` on a real X server: the X11 sources are up, rules needing lock are listed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.xserver import XServer

pytestmark = pytest.mark.x11
ROOT = Path(__file__).resolve().parents[2]

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


def test_doctor_shows_the_policy_and_exits_1_when_an_admin_must_fix_something(
    xserver: XServer, tmp_path: Path
) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from agent.rules.bundle import key_id, public_key_text

    key = Ed25519PrivateKey.generate().public_key()
    policy = tmp_path / "policy.json"
    good = {
        "organisation": "Example Corp",
        "telemetry_mode": "org-notice",
        "quiet_hours": "12:00-13:00",
        "server_url": "https://waymark.example.com",
        "enroll_token": "wme_secret-enroll-token",
        "publisher_keys": [public_key_text(key)],
    }
    bad = {**good, "allow_quit": "maybe", "colour": "red", "consent": "granted",
           "publisher_keys": [public_key_text(key), "not-a-key"]}  # fmt: skip
    policy.write_text(json.dumps(bad), encoding="utf-8")
    env = dict(xserver.env, WAYMARK_POLICY_FILE=str(policy), WAYMARK_DATA_DIR=str(tmp_path / "d"),
               PYTHON_KEYRING_BACKEND="tests.fakes.MemoryKeyring")  # fmt: skip

    def doctor(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "agent", "doctor", *extra],
            env=env, capture_output=True, text=True, timeout=60, cwd=ROOT,
        )  # fmt: skip

    done = doctor("--json")
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert "wme_secret-enroll-token" not in done.stdout
    pol = report["policy"]
    assert (pol["source"], pol["organisation"], pol["telemetry_mode"]) == (
        str(policy), "Example Corp", "org-notice"
    )  # fmt: skip
    status = {(k["key"], k["status"]) for k in pol["keys"]}
    assert {("organisation", "applied"), ("quiet_hours", "locked"), ("consent", "locked"),
            ("allow_quit", "ignored"), ("colour", "ignored"),
            ("consent", "ignored")} <= status  # fmt: skip
    reasons = {k["key"]: k["reason"] for k in pol["keys"] if k["status"] == "ignored"}
    assert reasons["colour"] == "unknown key" and "true or false" in reasons["allow_quit"]
    assert "consent is the person's to give" in reasons["consent"]
    assert [(k["valid"], k["key_id"]) for k in report["publisher_keys"]] == [
        (True, key_id(key)), (False, None)
    ]  # fmt: skip
    assert len(report["problems"]) == 4, report["problems"]
    assert report["sync"]["local_device"] is None  # the agent never ran in this folder
    assert not (tmp_path / "d" / "device.json").exists()  # and a diagnosis does not create it
    text = doctor().stdout
    assert f"Policy: {policy}" in text and "organisation: Example Corp" in text
    assert "ignored  colour (unknown key)" in text and "To fix (4):" in text
    assert f"publisher key 1 ({public_key_text(key)[:12]}…): valid, key id {key_id(key)}" in text

    policy.write_text(json.dumps(good), encoding="utf-8")
    fixed = doctor()
    assert fixed.returncode == 0, fixed.stdout
    assert fixed.stdout.rstrip().endswith("Nothing to fix.")
