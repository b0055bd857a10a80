"""`waymark doctor`: which rules cannot fire, and its output without a display."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.cli import main
from agent.commands.doctor import blocked_rules, sources_needed
from agent.hooks.base import SourceState
from agent.rules.model import After, Matcher, Rule, Toast

T = Toast(title={"en": "t"})


def _rule(rid: str, when: Matcher, after: Matcher | None = None) -> Rule:
    return Rule(rid, "h", when, T, after=After(after, 60) if after else None, line=7)


def test_rule_needs_follow_event_kind_app_title_and_after() -> None:
    assert sources_needed(_rule("a", Matcher("chord", chord="ctrl+v"))) == {"input"}
    assert sources_needed(_rule("b", Matcher("chord", apps=("mail",), chord="ctrl+v"))) == {
        "input",
        "focus",
    }
    assert sources_needed(_rule("c", Matcher("idle", idle=60), Matcher("lock"))) == {"idle", "lock"}
    assert sources_needed(_rule("d", Matcher("start"))) == set()


def test_blocked_rules_lists_only_rules_with_a_missing_source() -> None:
    states = {
        "input": SourceState("input", False, "no permission"),
        "focus": SourceState("focus", True),
        "idle": SourceState("idle", True),
    }
    rules = [
        _rule("paste", Matcher("chord", chord="ctrl+v")),
        _rule("focus", Matcher("focus", title="report")),
        _rule("locked", Matcher("lock")),
    ]
    blocked = blocked_rules(rules, states)
    assert [(b.rule, b.missing) for b in blocked] == [("paste", ("input",)), ("locked", ("lock",))]
    no_titles = blocked_rules(rules[1:2], states, titles=False)
    assert no_titles[0].missing == ("window titles",)


def test_doctor_without_a_display_reports_and_exits_1_as_nothing_can_be_watched(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    pack = tmp_path / "p.yaml"
    pack.write_text(
        "waymark: 1\nid: t\nversion: 1\ntitle: T\ndefault_locale: en\n"
        "rules:\n  - id: paste\n    habit: h\n    when: {event: chord, chord: ctrl+v}\n"
        "    toast: {title: {en: x}}\n  - id: hello\n    habit: h\n    when: {event: start}\n"
        "    toast: {title: {en: y}}\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", f"unix:path={tmp_path / 'no-bus'}")
    monkeypatch.setenv("WAYMARK_POLICY_FILE", str(tmp_path / "no-policy.json"))
    assert main(["doctor", "--pack", str(pack), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["session"] == "none"
    assert not any(s["ok"] for s in report["sources"])
    assert report["problems"] == ["no event source works here, so no rule can fire (see Sources)"]
    assert report["blocked_rules"] == [{"rule": "paste", "line": 7, "missing": ["input"]}]
    assert main(["doctor", "--pack", str(pack)]) == 1
    text = capsys.readouterr().out
    assert "no display (DISPLAY is not set)" in text and "paste (p.yaml:7) needs input" in text
    assert "To fix (1):\n  - no event source works here" in text


def test_doctor_says_whether_this_agent_can_sync(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import keyring
    from keyring.backends import fail

    from agent.app import open_settings
    from agent.commands.doctor import sync_readiness as readiness
    from tests.fakes import MemoryKeyring

    policy = tmp_path / "policy.json"
    monkeypatch.setenv("WAYMARK_POLICY_FILE", str(policy))
    folder = tmp_path / "data"
    folder.mkdir()

    def sync_readiness() -> dict[str, object]:
        return readiness(open_settings(folder, "linux"), folder)

    policy.write_text("{}")
    assert str(sync_readiness()["summary"]).startswith("off")
    policy.write_text(json.dumps({"server_url": "http://waymark.example.com"}))
    assert "plain http" in str(sync_readiness()["problem"])
    policy.write_text(json.dumps({"server_url": "https://waymark.example.com"}))
    previous = keyring.get_keyring()
    try:
        keyring.set_keyring(fail.Keyring())  # type: ignore[no-untyped-call]
        assert "no OS keyring" in str(sync_readiness()["problem"])
        keyring.set_keyring(MemoryKeyring())
        assert "no enroll_token" in str(sync_readiness()["problem"])
        policy.write_text(
            json.dumps({"server_url": "https://waymark.example.com", "enroll_token": "wme_x"})
        )
        report = sync_readiness()
        assert report["problem"] is None and "not enrolled yet" in str(report["summary"])
    finally:
        keyring.set_keyring(previous)
