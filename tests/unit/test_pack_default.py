"""The default coaching pack: loads, is complete in English and Italian, covers every OS."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.rules.loader import load_pack
from agent.rules.model import Matcher, Pack

DEFAULT_PACK = Path(__file__).resolve().parents[2] / "assets" / "packs" / "default" / "pack.yaml"


@pytest.fixture(scope="module")
def pack() -> Pack:
    return load_pack(DEFAULT_PACK)


def test_default_pack_has_at_least_12_rules_with_distinct_habits(pack: Pack) -> None:
    assert len(pack.rules) >= 12
    assert len({r.habit for r in pack.rules}) >= 12
    assert pack.default_locale == "en"


def test_every_text_is_in_english_and_italian(pack: Pack) -> None:
    for rule in pack.rules:
        texts = [rule.toast.title, rule.toast.body, *(a.label for a in rule.toast.actions)]
        for text in texts:
            assert set(text) == {"en", "it"}, rule.id
            assert all(value.strip() for value in text.values()), rule.id
        # A translation that is a copy of the English text is a missing translation.
        assert rule.toast.title["it"] != rule.toast.title["en"], rule.id


def test_every_rule_has_a_body_and_can_be_told_apart(pack: Pack) -> None:
    assert all(rule.toast.body for rule in pack.rules)
    assert len({r.id for r in pack.rules}) == len(pack.rules)


def test_apps_cover_windows_macos_and_linux(pack: Pack) -> None:
    assert any(a.windows for a in pack.apps.values())
    assert any(a.macos for a in pack.apps.values())
    assert any(a.linux for a in pack.apps.values())
    for name in ("outlook", "teams", "word", "excel", "files", "browser"):
        alias = pack.apps[name]
        assert alias.windows and alias.macos and alias.linux, name
    assert all(x.endswith(".exe") for a in pack.apps.values() for x in a.windows)


def test_every_action_link_is_https_or_mailto(pack: Pack) -> None:
    links = [a.open for r in pack.rules for a in r.toast.actions if a.open]
    assert links
    assert all(link.startswith(("https://", "mailto:")) for link in links)


def test_rules_are_capped_and_measure_adoption(pack: Pack) -> None:
    assert pack.limits.min_gap is not None and pack.limits.max_per_day is not None
    for rule in pack.rules:
        limits = rule.limits
        assert limits.max_total is not None or limits.cooldown is not None, rule.id
    adopted = [r for r in pack.rules if r.adopted is not None]
    assert len(adopted) >= 12
    assert any(r.count is not None for r in pack.rules)
    assert any(r.after is not None for r in pack.rules)
    assert any(r.only is not None for r in pack.rules)
    assert any(r.audience is not None and r.audience.holdout > 0 for r in pack.rules)


def test_lock_screen_rule_reacts_to_coming_back_after_idle(pack: Pack) -> None:
    rule = next(r for r in pack.rules if r.habit == "lock-screen")
    assert rule.when == Matcher("active")
    assert rule.after is not None and rule.after.matcher == Matcher("idle", idle=300.0)
    assert rule.adopted == Matcher("lock")


def test_shortcut_rules_adopt_on_the_shortcut_they_teach(pack: Pack) -> None:
    chords = {r.adopted.chord for r in pack.rules if r.adopted is not None and r.adopted.chord}
    assert {"win+shift+s", "cmd+shift+4", "ctrl+shift+v", "ctrl+k", "ctrl+shift+m"} <= chords
