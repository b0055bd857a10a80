"""Option types: each validates, coerces, names its registry/plist type and editor."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest

from agent.config.option_types import (
    REG_DWORD,
    REG_MULTI_SZ,
    REG_SZ,
    AppList,
    Bool,
    Choice,
    Float,
    Int,
    LanguageTag,
    OptionType,
    Text,
    TextList,
    TimeOfDayRange,
)
from agent.config.options import OPTIONS


@pytest.mark.parametrize(
    ("kind", "raw", "value"),
    [
        (Bool(), "TRUE", True),
        (Bool(), 0, False),
        (Int(), "30", 30),
        (Float(), 2, 2.0),
        (Float(), None, None),
        (Text(), "x", "x"),
        (TimeOfDayRange(), "12:30-13:30", "12:30-13:30"),
        (TimeOfDayRange(), "", ""),
        (TextList(), "zoom.us; ms-teams.exe, ", ["zoom.us", "ms-teams.exe"]),
        (Choice(("a", "b")), "b", "b"),
        (LanguageTag(), "system", "system"),
        (LanguageTag(), "de-CH", "de-CH"),
        (LanguageTag(), "pt_br", "pt-BR"),
        (LanguageTag(), "zh-hant-tw", "zh-Hant-TW"),
        (LanguageTag(), "fr", "fr"),
        (AppList(), "zoom.us, outlook", ["zoom.us", "outlook"]),
    ],
)
def test_each_type_coerces_what_policy_and_people_write(
    kind: OptionType, raw: Any, value: Any
) -> None:
    assert kind.coerce("k", raw) == value


@pytest.mark.parametrize(
    ("kind", "raw", "expected"),
    [
        (Bool(), "yes", "expected true or false"),
        (Int(), True, "whole number"),
        (Int(0, 10), 11, "from 0 to 10"),
        (Float(), "2", "expected a number"),
        (Text(), 3, "expected text"),
        (TimeOfDayRange(), "noon", "HH:MM-HH:MM"),
        (TextList(), [1], "list of text"),
        (Choice(("a", "b")), "c", "one of a, b"),
        (LanguageTag(), "Deutsch", "language tag such as en"),
        (LanguageTag(), 7, "language tag"),
    ],
)
def test_each_type_refuses_with_the_key_and_what_it_takes(
    kind: OptionType, raw: Any, expected: str
) -> None:
    with pytest.raises(ValueError, match=f"^k: .*{expected}"):
        kind.coerce("k", raw)


def test_registry_values_decode_by_type() -> None:
    assert Bool().from_registry(1, REG_DWORD) is True
    assert Int().from_registry(7, REG_DWORD) == 7
    assert TextList().from_registry(["a", "", "b"], REG_MULTI_SZ) == ["a", "b"]
    assert Text().from_registry("x", REG_SZ) == "x"
    # A wrong registry type is passed on for coerce to refuse clearly.
    with pytest.raises(ValueError, match="expected true or false"):
        Bool().coerce("k", Bool().from_registry("on", REG_SZ))


def test_text_editors_round_trip() -> None:
    kind = TextList()
    assert kind.from_text(kind.to_text(["a", "b"])) == ["a", "b"]
    assert Int().from_text("") == "0" and Int().to_text(5) == "5"
    assert Text().to_text(None) == ""


def test_every_declared_option_has_a_consistent_type() -> None:
    for option in OPTIONS:
        kind = option.type
        assert kind.registry_type in ("REG_SZ", "REG_DWORD", "REG_MULTI_SZ"), option.key
        assert kind.plist_type in ("string", "boolean", "integer", "real", "array"), option.key
        assert kind.editor in ("checkbox", "choice", "text", "language", "app_list"), option.key
        assert (kind.editor == "choice") == bool(kind.choices), option.key
        assert kind.coerce(option.key, option.default) == option.default, option.key
        elements = kind.admx_elements(option.key)
        if elements:  # well-formed XML that names the option's registry value
            assert ET.fromstring(elements).find(".//*[@valueName]") is not None
            assert kind.adml_presentation(option.key, "Label")
        assert kind.describe().startswith(kind.name)


def test_a_choice_labels_each_value_per_language() -> None:
    kind = Choice(("a", "b"), {"a": {"en": "Alpha", "it": "Alfa"}})
    assert kind.label("a", "it") == "Alfa"
    assert kind.label("a", "de") == "Alpha"
    assert kind.label("b", "it") == "b"
    assert kind.adml_strings("k", "it") == [("k_a", "Alfa"), ("k_b", "b")]
