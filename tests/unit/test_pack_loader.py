"""The pack loader: conversion into the model, and every kind of error at its exact line:col."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from agent.rules.loader import (
    MAX_PACK_BYTES,
    MAX_RULES,
    PackError,
    PackIssue,
    load_pack,
    load_pack_text,
    parse_duration,
    validate_pack_file,
)
from agent.rules.model import After, Audience, Count, Matcher, PackLimits, RuleLimits, Schedule
from agent.timespans import TimeRange

HEAD = """\
waymark: 1
id: test-pack
version: 3
title: Test pack
default_locale: en
apps:
  outlook: {windows: [outlook.exe], macos: [com.microsoft.Outlook], linux: [thunderbird]}
  excel: {windows: [excel.exe]}
rules:
"""
# The rules below start on line 10.
TOAST = "    toast: {title: {en: Hi, it: Ciao}}\n"


def pack(rules: str, head: str = HEAD) -> str:
    return head + textwrap.dedent(rules)


def issues_of(text: str | bytes) -> list[PackIssue]:
    with pytest.raises(PackError) as info:
        load_pack_text(text, "p.yaml")
    return info.value.issues


def only_issue(text: str | bytes) -> PackIssue:
    issues = issues_of(text)
    assert len(issues) == 1, "\n".join(map(str, issues))
    return issues[0]


def assert_issue(text: str, line: int, col: int, *words: str) -> None:
    issue = only_issue(text)
    assert (issue.file, issue.line, issue.col) == ("p.yaml", line, col), str(issue)
    for word in words:
        assert word in issue.message, str(issue)


FULL = pack(
    """\
    - id: share-link
      habit: share-links
      priority: 10
      when: {event: chord, app: outlook, chord: ctrl+v, title: "(?i)message"}
      count: {at_least: 3, within: 10m}
      after: {event: focus, app: excel, within: 2m}
      only: {hours: "09:00-18:00", days: [mon, tue, wed, thu, fri]}
      audience: {groups: [sales], rollout: 100, holdout: 10}
      limits: {cooldown: 1h, max_per_day: 2, max_total: 10, stop_after_adopted: 3}
      adopted: {event: chord, app: outlook, chord: ctrl+k}
      toast:
        title: {en: Share a link instead, it: Condividi un link}
        body: {en: "Links keep **one** version of the file."}
        actions: [{id: how, label: {en: Show me how}, open: "https://intranet.example/links"}]
        snooze: [1h, 1d]
        timeout: 15s
    - id: idle-any
      when: {event: idle, idle: 5m, app: any}
      toast: {title: {en: Away}}
    """
).replace("limits: {min_gap", "limits: {min_gap")


# ---------------------------------------------------------------------------
# Conversion


def test_full_design_example_converts_into_the_model() -> None:
    p = load_pack_text(FULL + "limits: {min_gap: 10m, max_per_day: 6}\n", "p.yaml")
    assert (p.id, p.version, p.title, p.default_locale, p.waymark) == (
        "test-pack",
        3,
        "Test pack",
        "en",
        1,
    )
    assert p.source == "p.yaml"
    assert p.limits == PackLimits(600.0, 6)
    assert p.apps["outlook"].macos == ("com.microsoft.Outlook",)
    assert p.apps["excel"].linux == ()
    r = p.rules[0]
    assert (r.id, r.habit, r.priority, r.line) == ("share-link", "share-links", 10, 10)
    assert r.when == Matcher("chord", ("outlook",), "ctrl+v", None, "(?i)message", None)
    assert r.count == Count(3, 600.0)
    assert r.after == After(Matcher("focus", ("excel",)), 120.0)
    assert r.only == Schedule(TimeRange(540, 1080), frozenset({0, 1, 2, 3, 4}))
    assert r.audience == Audience(("sales",), 100, 10)
    assert r.limits == RuleLimits(3600.0, 2, 10, 3)
    assert r.adopted == Matcher("chord", ("outlook",), "ctrl+k")
    assert r.toast.title == {"en": "Share a link instead", "it": "Condividi un link"}
    assert r.toast.actions[0].open == "https://intranet.example/links"
    assert r.toast.actions[0].label == {"en": "Show me how"}
    assert r.toast.snooze == (3600.0, 86400.0)
    assert r.toast.timeout == 15.0


def test_defaults_fill_what_a_rule_leaves_out() -> None:
    p = load_pack_text(FULL, "p.yaml")
    r = p.rules[1]
    assert r.line == 26
    assert r.habit == "idle-any"  # habit defaults to the rule id
    assert r.when == Matcher("idle", None, idle=300.0)  # app: any → None
    assert (r.priority, r.count, r.after, r.only, r.audience, r.adopted) == (
        0,
        None,
        None,
        None,
        None,
        None,
    )
    assert r.limits == RuleLimits()
    assert r.toast.timeout == 15.0 and r.toast.body == {} and r.toast.actions == ()
    assert p.limits == PackLimits()


def test_app_list_and_wrapping_hours_convert() -> None:
    p = load_pack_text(
        pack(
            """\
            - id: r
              when: {event: click, app: [outlook, excel], button: right}
              only: {hours: "22:00-06:00", days: [sat, sun]}
            """
        )
        + TOAST[2:],
        "p.yaml",
    )
    r = p.rules[0]
    assert r.when.apps == ("outlook", "excel") and r.when.button == "right"
    assert r.only == Schedule(TimeRange(1320, 360), frozenset({5, 6}))


def test_json_pack_loads_like_yaml_and_tabs_are_fine() -> None:
    data = {
        "waymark": 1,
        "id": "j",
        "version": 1,
        "title": "JSON pack",
        "apps": {"word": {"windows": ["winword.exe"]}},
        "rules": [
            {
                "id": "a",
                "when": {"event": "focus", "app": "word"},
                "toast": {"title": {"en": "Hello"}, "timeout": 20},
            }
        ],
    }
    p = load_pack_text(json.dumps(data, indent="\t"), "p.json")
    assert p.rules[0].when.apps == ("word",) and p.rules[0].toast.timeout == 20.0
    assert p.default_locale == "en"


def test_json_errors_point_at_line_and_column() -> None:
    text = (
        '{"waymark": 1, "id": "j", "version": 1, "title": "t",\n "rules": [\n'
        '  {"id": "a", "when": {"event": "click", "button": "lft"},'
        ' "toast": {"title": {"en": "x"}}}]}'
    )
    issue = only_issue(text)
    assert (issue.line, issue.col) == (3, 52)
    assert "did you mean 'left'" in issue.message


def test_bytes_with_a_bom_load() -> None:
    p = load_pack_text(("\ufeff" + FULL).encode("utf-8"), "p.yaml")
    assert len(p.rules) == 2


def test_load_pack_reads_a_file_and_names_it(tmp_path: Path) -> None:
    path = tmp_path / "pack.yaml"
    path.write_text(FULL, encoding="utf-8")
    assert load_pack(path).source == str(path)
    assert validate_pack_file(path) == []


# ---------------------------------------------------------------------------
# One test per kind of error, each at its exact line:col


def test_yaml_syntax_error_points_at_the_problem() -> None:
    assert_issue("waymark: 1\nid: [oops\n", 3, 1, "not valid YAML/JSON")


def test_empty_pack_is_an_error() -> None:
    assert_issue("", 1, 1, "empty")


def test_top_level_must_be_a_mapping() -> None:
    assert_issue("- a\n- b\n", 1, 1, "must be a mapping")


def test_missing_required_keys_are_each_reported() -> None:
    issues = issues_of("waymark: 1\nid: x\n")
    assert [(i.line, i.col) for i in issues] == [(1, 1)] * 3
    assert {i.message.split("'")[1] for i in issues} == {"version", "title", "rules"}


def test_unknown_key_suggests_the_close_one() -> None:
    assert_issue(
        pack("- id: r\n  prority: 3\n  when: {event: start}\n") + TOAST.replace("    ", "  "),
        11,
        3,
        "unknown key 'prority'",
        "did you mean 'priority'?",
    )


def test_unknown_top_level_key() -> None:
    issues = issues_of(HEAD.replace("title: Test pack", "title: T\ntitel: x") + "  []\n")
    assert [(i.line, i.col) for i in issues] == [(5, 1)]
    assert "did you mean 'title'" in issues[0].message


def test_duplicate_key_is_an_error() -> None:
    assert_issue(
        HEAD.replace("version: 3", "version: 3\nversion: 4") + "  []\n", 4, 1, "twice", "line 3"
    )


def test_wrong_type_names_what_was_found() -> None:
    assert_issue(
        pack("- id: r\n  priority: high\n  when: {event: start}\n" + TOAST[2:]),
        11,
        13,
        "priority must be a whole number",
        "text 'high'",
    )


def test_unquoted_yes_in_a_text_asks_for_quotes() -> None:
    assert_issue(
        pack("- id: r\n  when: {event: start}\n  toast: {title: {en: Yes}}\n"),
        12,
        23,
        "must be text",
        'put it in quotes ("Yes")',
    )


@pytest.mark.parametrize(
    ("value", "col", "words"),
    [
        ("10 minutes", 32, ("not a duration",)),
        ("-5", 32, ("0 or more",)),
        ("0", 32, ("longer than 0",)),
        ("[1]", 32, ("must be a duration",)),
    ],
)
def test_bad_durations(value: str, col: int, words: tuple[str, ...]) -> None:
    text = pack(f"- id: r\n  when: {{event: start}}\n  count: {{at_least: 2, within: {value}}}\n")
    assert_issue(text + TOAST[2:], 12, col, *words)


def test_unknown_app_alias_in_when_after_and_adopted() -> None:
    text = pack(
        """\
        - id: r
          when: {event: focus, app: outlok}
          after: {event: focus, app: [excel, wordd], within: 1m}
          adopted: {event: focus, app: teams}
        """
    )
    issues = issues_of(text + TOAST[2:])
    assert [(i.line, i.col) for i in issues] == [(11, 29), (12, 38), (13, 32)]
    assert "unknown app 'outlok'; did you mean 'outlook'?" in issues[0].message
    assert issues[0].message.startswith("rules[1].when.app")
    assert issues[1].message.startswith("rules[1].after.app")
    assert "declare it under apps" in issues[2].message


def test_any_cannot_be_mixed_with_app_names() -> None:
    assert_issue(
        pack("- id: r\n  when: {event: focus, app: [any, excel]}\n" + TOAST[2:]),
        11,
        30,
        "'any' already means every app",
    )


def test_any_cannot_be_declared_as_an_app() -> None:
    head = HEAD.replace("  excel:", "  any: {windows: [x.exe]}\n  excel:")
    assert_issue(head + "  []\n", 8, 3, "'any' is reserved")


def test_app_without_identifiers_is_an_error() -> None:
    head = HEAD.replace("  excel: {windows: [excel.exe]}", "  excel: {}")
    assert_issue(head + "  []\n", 8, 3, "lists no identifiers")


def test_duplicate_rule_ids() -> None:
    text = pack(
        "- id: r\n  when: {event: start}\n"
        + TOAST[2:]
        + "- id: r\n  when: {event: start}\n"
        + TOAST[2:]
    )
    assert_issue(text, 13, 7, "duplicate rule id 'r'", "line 10")


@pytest.mark.parametrize(("tag", "hint"), [("en_US", "did you mean 'en-US'"), ("english", "")])
def test_invalid_default_locale(tag: str, hint: str) -> None:
    assert_issue(
        HEAD.replace("default_locale: en", f"default_locale: {tag}") + "  []\n",
        5,
        17,
        "not a locale tag",
        hint,
    )


def test_a_broken_default_locale_or_apps_is_reported_once() -> None:
    head = HEAD.replace("default_locale: en", "default_locale: en_GB")
    issues = issues_of(pack("- id: r\n  when: {event: focus, app: outlook}\n" + TOAST[2:], head))
    assert [(i.line, i.col) for i in issues] == [(5, 17)]
    head = HEAD.replace("apps:\n", "apps: [outlook]\nx:\n")
    issues = issues_of(pack("- id: r\n  when: {event: focus, app: outlook}\n" + TOAST[2:], head))
    assert [i.message.split(" ")[0] for i in issues] == ["apps", "unknown"]


def test_invalid_locale_key_in_a_text() -> None:
    assert_issue(
        pack("- id: r\n  when: {event: start}\n  toast: {title: {en: Hi, pt-br: Oi}}\n"),
        12,
        27,
        "'pt-br' is not a locale tag",
        "did you mean 'pt-BR'",
    )


def test_missing_default_locale_text_in_title_body_and_labels() -> None:
    text = pack(
        """\
        - id: r
          when: {event: start}
          toast:
            title: {it: Ciao}
            body: {it: Testo}
            actions: [{id: how, label: {it: Come}}]
        """
    )
    issues = issues_of(text)
    assert [(i.line, i.col) for i in issues] == [(13, 12), (14, 11), (15, 32)]
    assert all("no text for the default locale 'en'" in i.message for i in issues)
    assert issues[2].message.startswith("rules[1].toast.actions[1].label")


def test_default_locale_other_than_en_is_required_instead() -> None:
    head = HEAD.replace("default_locale: en", "default_locale: it")
    issue = only_issue(pack("- id: r\n  when: {event: start}\n  toast: {title: {en: Hi}}\n", head))
    assert (issue.line, issue.col) == (12, 18) and "default locale 'it'" in issue.message


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://example.com/x", ("http: link", "https:// or mailto:")),
        ("javascript:alert(1)", ("javascript: link",)),
        ("file:///etc/passwd", ("file: link",)),
        ("https://", ("needs a host",)),
        ("https://exa mple.com", ("needs a host and no spaces",)),
        ("mailto:nobody", ("not a mailto link",)),
        ("intranet/page", ("not a link",)),
    ],
)
def test_invalid_action_urls(url: str, words: tuple[str, ...]) -> None:
    text = pack(
        "- id: r\n  when: {event: start}\n  toast:\n    title: {en: Hi}\n"
        f'    actions: [{{id: go, label: {{en: Go}}, open: "{url}"}}]\n'
    )
    assert_issue(text, 14, 47, *words)


def test_https_and_mailto_urls_are_accepted() -> None:
    text = pack(
        "- id: r\n  when: {event: start}\n  toast:\n    title: {en: Hi}\n"
        "    actions: [{id: a, label: {en: A}, open: https://intranet.example/x?y=1#z},\n"
        "              {id: b, label: {en: B}, open: 'mailto:help@example.com'}]\n"
    )
    actions = load_pack_text(text).rules[0].toast.actions
    assert [a.open for a in actions] == [
        "https://intranet.example/x?y=1#z",
        "mailto:help@example.com",
    ]


def test_reserved_and_duplicate_action_ids() -> None:
    text = pack(
        "- id: r\n  when: {event: start}\n  toast:\n    title: {en: Hi}\n"
        "    actions: [{id: never, label: {en: A}}, {id: b, label: {en: B}}, "
        "{id: b, label: {en: C}}]\n"
    )
    issues = issues_of(text)
    assert [(i.line, i.col) for i in issues] == [(14, 20), (14, 74)]
    assert "'never' is reserved" in issues[0].message
    assert "used twice" in issues[1].message


def test_title_pattern_rejected_by_re2() -> None:
    text = pack('- id: r\n  when: {event: focus, title: "(?<=x)y"}\n' + TOAST[2:])
    assert_issue(text, 11, 31, "RE2 rejects the pattern", "(?<=x)y")


def test_title_pattern_with_unbalanced_parenthesis() -> None:
    text = pack('- id: r\n  when: {event: focus, title: "(oops"}\n' + TOAST[2:])
    assert_issue(text, 11, 31, "RE2 rejects", "missing )")


@pytest.mark.parametrize(
    ("chord", "words"),
    [
        ("shift+ctrl+v", ("not in normalised form", "'ctrl+shift+v'")),
        ("Ctrl+V", ("'ctrl+v'",)),
        ("a", ("not a chord",)),
        ("shift+a", ("not a chord",)),
        ("ctrl+hyper+x", ("not a chord",)),
    ],
)
def test_chords_must_be_normalised(chord: str, words: tuple[str, ...]) -> None:
    text = pack(f'- id: r\n  when: {{event: chord, chord: "{chord}"}}\n' + TOAST[2:])
    assert_issue(text, 11, 31, *words)


def test_chord_only_with_event_chord() -> None:
    text = pack("- id: r\n  when: {event: focus, chord: ctrl+v}\n" + TOAST[2:])
    assert_issue(text, 11, 24, "chord only applies to event: chord", "event: focus")


def test_button_only_with_event_click_and_must_be_known() -> None:
    text = pack("- id: r\n  when: {event: chord, button: left}\n" + TOAST[2:])
    assert_issue(text, 11, 24, "button only applies to event: click")
    text = pack("- id: r\n  when: {event: click, button: lft}\n" + TOAST[2:])
    assert_issue(text, 11, 32, "did you mean 'left'")


def test_idle_duration_only_with_event_idle() -> None:
    text = pack("- id: r\n  when: {event: lock, idle: 5m}\n" + TOAST[2:])
    assert_issue(text, 11, 23, "idle only applies to event: idle", "event: lock")


def test_unknown_event_kind() -> None:
    text = pack("- id: r\n  when: {event: focuss}\n" + TOAST[2:])
    assert_issue(text, 11, 17, "must be one of focus, chord", "did you mean 'focus'")


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("0", ("between 1 and",)),
        ("-2", ("between 1 and",)),
        ("1.5", ("whole number",)),
        ("'7'", ("whole number",)),
    ],
)
def test_version_must_be_a_positive_integer(value: str, words: tuple[str, ...]) -> None:
    assert_issue(HEAD.replace("version: 3", f"version: {value}") + "  []\n", 3, 10, *words)


def test_waymark_must_be_1() -> None:
    assert_issue(HEAD.replace("waymark: 1", "waymark: 2") + "  []\n", 1, 10, "exactly 1")


@pytest.mark.parametrize(
    ("hours", "words"),
    [
        ("9-18", ("HH:MM-HH:MM",)),
        ("09:00-25:00", ("HH:MM-HH:MM",)),
        ("09:60-10:00", ("HH:MM-HH:MM",)),
        ("10:00-10:00", ("empty time range",)),
    ],
)
def test_bad_hours(hours: str, words: tuple[str, ...]) -> None:
    text = pack(f'- id: r\n  when: {{event: start}}\n  only: {{hours: "{hours}"}}\n' + TOAST[2:])
    assert_issue(text, 12, 17, *words)


def test_bad_and_repeated_days() -> None:
    text = pack("- id: r\n  when: {event: start}\n  only: {days: [mon, funday, mon]}\n" + TOAST[2:])
    issues = issues_of(text)
    assert [(i.line, i.col) for i in issues] == [(12, 22), (12, 30)]
    assert "not 'funday'" in issues[0].message
    assert "twice" in issues[1].message


def test_rollout_range_and_holdout_not_above_rollout() -> None:
    text = pack("- id: r\n  when: {event: start}\n  audience: {rollout: 101}\n" + TOAST[2:])
    assert_issue(text, 12, 23, "between 0 and 100")
    text = pack(
        "- id: r\n  when: {event: start}\n  audience: {rollout: 10, holdout: 20}\n" + TOAST[2:]
    )
    assert_issue(text, 12, 36, "holdout (20) cannot be larger than rollout (10)")


def test_rules_of_one_habit_must_hold_out_the_same_share() -> None:
    text = pack(
        "- id: a\n  habit: h\n  when: {event: start}\n  audience: {holdout: 10}\n"
        + TOAST[2:]
        + "- id: b\n  habit: h\n  when: {event: start}\n"
        + TOAST[2:]
    )
    assert_issue(text, 15, 3, "habit 'h' has a holdout of 10 % in rule 'a'", "per habit")
    same = pack(
        "- id: a\n  habit: h\n  when: {event: start}\n  audience: {holdout: 10}\n"
        + TOAST[2:]
        + "- id: b\n  habit: h\n  when: {event: start}\n  audience: {rollout: 50, holdout: 10}\n"
        + TOAST[2:]
    )
    assert {r.habit for r in load_pack_text(same, "p.yaml").rules} == {"h"}


def test_count_at_least_must_be_one_or_more() -> None:
    text = pack("- id: r\n  when: {event: start}\n  count: {at_least: 0, within: 1m}\n" + TOAST[2:])
    assert_issue(text, 12, 21, "at_least must be 1 or more")


def test_priority_must_be_an_integer() -> None:
    text = pack("- id: r\n  priority: 1.5\n  when: {event: start}\n" + TOAST[2:])
    assert_issue(text, 11, 13, "priority must be a whole number")


def test_rule_ids_must_be_simple_names() -> None:
    text = pack("- id: Share Link\n  when: {event: start}\n" + TOAST[2:])
    assert_issue(text, 10, 7, "'Share Link' is not valid", "lower-case")


def test_anchors_and_aliases_can_reuse_a_toast() -> None:
    text = pack(
        """\
        - id: r
          when: {event: start}
          toast: &tip {title: {en: Hi, it: Ciao}}
        - id: s
          when: {event: lock}
          toast: *tip
        """
    )
    p = load_pack_text(text)
    assert p.rules[0].toast == p.rules[1].toast
    assert [r.line for r in p.rules] == [10, 13]


def test_an_error_in_a_reused_value_points_at_the_anchor_for_each_use() -> None:
    text = pack(
        """\
        - id: r
          when: {event: start}
          toast: &tip {title: {en: Hi}, timeout: never}
        - id: s
          when: {event: lock}
          toast: *tip
        """
    )
    issues = issues_of(text)
    assert [(i.line, i.col) for i in issues] == [(12, 42), (12, 42)]
    assert issues[0].message.startswith("rules[1].toast.timeout: 'never' is not a duration")
    assert issues[1].message.startswith("rules[2].toast.timeout: 'never' is not a duration")


def test_alias_bombs_are_refused_quickly() -> None:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 10):
        prev, name = chr(96 + i), chr(97 + i)
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 10) + "]")
    assert_issue("\n".join(lines) + "\n", 7, 4, "expands to more than 2,000,000 values")


def test_recursive_alias_is_refused() -> None:
    assert_issue("a: &a [*a]\n", 1, 4, "alias to itself")


def test_deep_nesting_is_a_yaml_error_not_a_crash() -> None:
    issue = only_issue("[" * 100_000 + "]" * 100_000)
    assert "nesting depth" in issue.message


def test_top_level_list_says_the_pack_must_be_a_mapping() -> None:
    assert_issue("[1, 2]\n", 1, 1, "the pack must be a mapping")


def test_every_error_is_collected_and_sorted() -> None:
    text = pack(
        """\
        - id: r1
          when: {event: chord, chord: shift+ctrl+v, app: nope}
          count: {at_least: 0, within: soon}
          toast: {title: {it: Ciao}}
        - id: r1
          when: {event: focuss}
          toast: {title: {en: Hi}}
        """
    )
    issues = issues_of(text)
    assert len(issues) == 7
    assert [(i.line, i.col) for i in issues] == sorted((i.line, i.col) for i in issues)
    assert str(issues[0]).startswith("p.yaml:11:")


def test_a_plain_text_where_locales_are_expected_shows_the_form() -> None:
    text = pack("- id: r\n  when: {event: start}\n  toast: {title: Hello}\n")
    assert_issue(text, 12, 18, "must give the text per locale", "{en: 'Hello'}")


def test_missing_when_and_toast_point_at_the_rule() -> None:
    issues = issues_of(pack("- id: r\n  priority: 1\n"))
    assert [(i.line, i.col) for i in issues] == [(10, 3), (10, 3)]
    assert "missing the required key 'when'" in issues[0].message
    assert "missing the required key 'toast'" in issues[1].message


def test_rules_must_be_a_list() -> None:
    assert_issue(HEAD + "  id: r\n", 10, 3, "rules must be a list, not a mapping")


def test_unknown_key_inside_a_toast_lists_the_allowed_ones() -> None:
    text = pack("- id: r\n  when: {event: start}\n  toast: {title: {en: Hi}, buttons: []}\n")
    assert_issue(text, 12, 28, "unknown key 'buttons' in rules[1].toast", "allowed: title, body")


def test_pack_error_str_is_one_issue_per_line() -> None:
    err = PackError([PackIssue("a.yaml", 1, 2, "one"), PackIssue("a.yaml", 3, 4, "two")])
    assert str(err) == "a.yaml:1:2: one\na.yaml:3:4: two"


# ---------------------------------------------------------------------------
# Limits


def test_pack_over_5_mib_is_refused_before_parsing() -> None:
    # Not even valid YAML: the size check must come first.
    text = "[" * (MAX_PACK_BYTES + 1)
    issue = only_issue(text)
    assert (issue.line, issue.col) == (1, 1)
    assert "5 MiB limit" in issue.message


def test_file_over_5_mib_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_bytes(b"#" * (MAX_PACK_BYTES + 10))
    issues = validate_pack_file(path)
    assert len(issues) == 1 and "5 MiB" in issues[0].message and issues[0].file == str(path)


def test_more_than_20000_rules_is_refused() -> None:
    rule = "  - {id: r, when: {event: start}, toast: {title: {en: x}}}\n"
    issue = only_issue(HEAD + rule * (MAX_RULES + 1))
    assert (issue.line, issue.col) == (10, 3)
    assert "20,001 rules" in issue.message and "20,000" in issue.message


def test_exactly_20000_rules_load() -> None:
    rules = "".join(
        f"  - {{id: r{i}, when: {{event: start}}, toast: {{title: {{en: x}}}}}}\n"
        for i in range(MAX_RULES)
    )
    assert len(load_pack_text(HEAD + rules).rules) == MAX_RULES


def test_unreadable_file_is_one_issue(tmp_path: Path) -> None:
    issues = validate_pack_file(tmp_path / "missing.yaml")
    assert len(issues) == 1 and "cannot read" in issues[0].message


def test_non_utf8_is_reported_with_its_position() -> None:
    issue = only_issue(b"waymark: 1\nid: \xff\n")
    assert (issue.line, issue.col) == (2, 5) and "UTF-8" in issue.message


# ---------------------------------------------------------------------------
# Durations


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("15s", 15),
        ("10m", 600),
        ("1h", 3600),
        ("1d", 86400),
        ("2w", 1209600),
        ("90", 90),
        ("1h30m", 5400),
        ("1.5h", 5400),
        (45, 45),
        (2.5, 2.5),
        (" 10M ", 600),
    ],
)
def test_parse_duration(text: str | float, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "10 minutes", "m", "1y", "-5", "abc", True, None, "1e999"])
def test_parse_duration_rejects_with_a_clear_error(text: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)
