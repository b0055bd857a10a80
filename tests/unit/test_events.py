"""Event types are frozen, slotted and content-free by construction."""

from __future__ import annotations

import dataclasses
import typing

import pytest

import agent.events as ev
from agent.events import Chord, Click, Focus, Typing, is_valid_chord, normalize_chord
from agent.rules.records import Record


@pytest.mark.parametrize(
    "chord",
    ["ctrl+v", "ctrl+shift+v", "cmd+k", "alt+f4", "win+l", "f1", "enter", "shift+tab",
     "ctrl+alt+delete", "cmd+shift+4", "ctrl+/", "escape", "win+shift+s"],
)  # fmt: skip
def test_normalised_chords_are_accepted(chord: str) -> None:
    assert is_valid_chord(chord)
    assert Chord(0.0, chord).chord == chord


@pytest.mark.parametrize(
    "text",
    ["a", "shift+a", "hello", "ctrl+hello world", "Ctrl+V", "v+ctrl", "shift+ctrl+v", "",
     "ctrl+", "ctrl+ab", "password123", "ctrl+é"],
)  # fmt: skip
def test_typed_text_cannot_become_a_chord(text: str) -> None:
    assert not is_valid_chord(text)
    with pytest.raises(ValueError) as info:
        Chord(0.0, text)
    # The error must not echo what was typed either.
    assert len(text) < 3 or text not in str(info.value)


@pytest.mark.parametrize(
    ("written", "canonical"),
    [("Shift+Ctrl+V", "ctrl+shift+v"), ("command+shift+4", "cmd+shift+4"),
     ("Super+Shift+S", "win+shift+s"), ("alt+ctrl+Delete", "ctrl+alt+delete"), ("F1", "f1"),
     ("ctrl+k", "ctrl+k"), ("option+cmd+esc", None), ("a", None), ("ctrl+ctrl+v", None)],
)  # fmt: skip
def test_chords_written_by_people_are_normalised(written: str, canonical: str | None) -> None:
    assert normalize_chord(written) == canonical


def test_events_are_frozen_and_slotted() -> None:
    focus = Focus(1.0, "outlook.exe", "Inbox")
    with pytest.raises(dataclasses.FrozenInstanceError):
        focus.app = "x"  # type: ignore[misc]
    assert not hasattr(focus, "__dict__")


def test_typing_tick_carries_no_key_and_click_no_position() -> None:
    assert [f.name for f in dataclasses.fields(Typing)] == ["t", "kind"]
    assert [f.name for f in dataclasses.fields(Click)] == ["t", "button", "app", "kind"]


def test_records_cannot_hold_titles_or_text() -> None:
    names = {f.name for f in dataclasses.fields(Record)}
    assert names == {
        "t", "kind", "pack_id", "pack_version", "rule", "habit", "reason", "action", "app",
    }  # fmt: skip
    assert "title" not in names


def test_only_focus_has_a_title_field() -> None:
    for name in ev.__all__:
        obj = getattr(ev, name)
        if dataclasses.is_dataclass(obj) and isinstance(obj, type):
            fields = {f.name for f in dataclasses.fields(obj)}
            if obj is not Focus:
                assert "title" not in fields, name
            assert not ({"text", "char", "x", "y", "position", "clipboard"} & fields), name
    hints = typing.get_type_hints(Focus)
    assert hints["title"] is str
