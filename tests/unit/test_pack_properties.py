"""Property tests: the loader and the JSON Schema agree on generated packs."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.rules.loader import PackError, load_pack_text
from agent.rules.schema import DAYS

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[2] / "docs" / "pack.schema.json").read_text("utf-8")
)
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
APPS = {"outlook": {"windows": ["outlook.exe"]}, "excel": {"macos": ["com.microsoft.Excel"]}}

durations = st.one_of(
    st.integers(1, 10**6),
    st.builds(lambda n, u: f"{n}{u}", st.integers(1, 999), st.sampled_from("smhdw")),
    st.just("1h30m"),
)
apps = st.one_of(
    st.just("any"), st.sampled_from(sorted(APPS)), st.just(sorted(APPS))
)  # a name, any, or a list


@st.composite
def matchers(draw: st.DrawFn, with_within: bool = False) -> dict[str, Any]:
    event = draw(st.sampled_from(["focus", "chord", "click", "typing", "idle", "lock", "start"]))
    m: dict[str, Any] = {"event": event}
    if draw(st.booleans()):
        m["app"] = draw(apps)
    if event == "chord" and draw(st.booleans()):
        m["chord"] = draw(st.sampled_from(["ctrl+v", "ctrl+shift+v", "cmd+k", "f1", "page_down"]))
    if event == "click" and draw(st.booleans()):
        m["button"] = draw(st.sampled_from(["left", "right", "middle", "other"]))
    if event == "idle" and draw(st.booleans()):
        m["idle"] = draw(durations)
    if draw(st.booleans()):
        m["title"] = draw(st.sampled_from(["(?i)message", "^Inbox", "x|y", "[a-z]+\\d"]))
    if with_within:
        m["within"] = draw(durations)
    return m


@st.composite
def rules(draw: st.DrawFn, index: int) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "id": f"r{index}",
        "when": draw(matchers()),
        "toast": {"title": {"en": "Title", "it": "Titolo"}},
    }
    if draw(st.booleans()):
        rule["priority"] = draw(st.integers(-100, 100))
    if draw(st.booleans()):
        rule["count"] = {"at_least": draw(st.integers(1, 50)), "within": draw(durations)}
    if draw(st.booleans()):
        rule["after"] = draw(matchers(with_within=True))
    if draw(st.booleans()):
        rule["adopted"] = draw(matchers())
    if draw(st.booleans()):
        start, end = draw(st.lists(st.integers(0, 23), min_size=2, max_size=2, unique=True))
        rule["only"] = {
            "hours": f"{start:02d}:00-{end:02d}:30",
            "days": draw(st.lists(st.sampled_from(DAYS), min_size=1, unique=True)),
        }
    if draw(st.booleans()):
        rollout = draw(st.integers(0, 100))
        rule["audience"] = {"rollout": rollout, "holdout": draw(st.integers(0, rollout))}
    if draw(st.booleans()):
        rule["limits"] = {"cooldown": draw(durations), "max_per_day": draw(st.integers(1, 9))}
    if draw(st.booleans()):
        rule["toast"]["actions"] = [
            {"id": "how", "label": {"en": "How"}, "open": "https://intranet.example/x"}
        ]
        rule["toast"]["snooze"] = ["1h", "1d"]
    return rule


@st.composite
def packs(draw: st.DrawFn) -> dict[str, Any]:
    count = draw(st.integers(0, 4))
    return {
        "waymark": 1,
        "id": "gen",
        "version": draw(st.integers(1, 10**9)),
        "title": "Generated",
        "apps": APPS,
        "rules": [draw(rules(i)) for i in range(count)],
    }


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(packs())
def test_generated_valid_packs_pass_both_schema_and_loader(data: dict[str, Any]) -> None:
    assert [e.message for e in VALIDATOR.iter_errors(data)] == []
    from_yaml = load_pack_text(yaml.safe_dump(data, allow_unicode=True), "gen.yaml")
    from_json = load_pack_text(json.dumps(data, indent=2), "gen.json")
    # Same rules whichever syntax; only the line numbers differ.
    assert [replace(r, line=0) for r in from_yaml.rules] == [
        replace(r, line=0) for r in from_json.rules
    ]
    assert len(from_yaml.rules) == len(data["rules"])


@settings(max_examples=100, deadline=None)
@given(packs(), st.sampled_from(["whenn", "toasts", "cooldown", "groups"]))
def test_an_unknown_rule_key_fails_both(data: dict[str, Any], key: str) -> None:
    if not data["rules"]:
        data["rules"].append(
            {"id": "x", "when": {"event": "start"}, "toast": {"title": {"en": "T"}}}
        )
    data["rules"][-1][key] = 1
    assert list(VALIDATOR.iter_errors(data))
    text = json.dumps(data, indent=1)
    try:
        load_pack_text(text, "gen.json")
    except PackError as exc:
        assert any(f"unknown key {key!r}" in i.message for i in exc.issues)
    else:
        raise AssertionError("the loader accepted an unknown key")
