"""Key decoding and the input hook's callbacks, driven with synthetic keys (no hook installed)."""

from __future__ import annotations

import dataclasses
import enum
import queue
from dataclasses import dataclass

import pytest

from agent.events import Chord, Click, Typing, is_valid_chord
from agent.hooks.base import Emitter
from agent.hooks.input_pynput import InputSource, hook_looks_dead
from agent.hooks.keys import (
    ALT,
    ALTGR,
    CMD,
    CTRL,
    SHIFT,
    WIN,
    char_key_name,
    chord_for,
    modifier_bits,
    named_key,
)

# Stand-ins for pynput's Key and Button enums (importing pynput needs a display).
Key = enum.Enum(
    "Key",
    "alt alt_l alt_r alt_gr backspace caps_lock cmd cmd_l cmd_r ctrl ctrl_l ctrl_r delete down "
    "end enter esc f1 f12 home left media_play_pause num_lock page_down shift shift_l shift_r "
    "space tab up",
)
Button = enum.Enum("Button", "unknown left middle right button8")


@dataclass(frozen=True)
class KeyCode:
    char: str | None
    vk: int | None


def test_chord_for_needs_ctrl_alt_cmd_or_win_for_characters() -> None:
    assert chord_for(CTRL | SHIFT, "v", named=False) == "ctrl+shift+v"
    assert chord_for(CMD, "k", named=False) == "cmd+k"
    assert chord_for(WIN | ALT | CTRL, "d", named=False) == "ctrl+win+alt+d"
    assert chord_for(0, "a", named=False) is None
    assert chord_for(SHIFT, "a", named=False) is None


def test_named_keys_are_chords_alone_and_with_shift() -> None:
    assert chord_for(0, "f1", named=True) == "f1"
    assert chord_for(0, "enter", named=True) == "enter"
    assert chord_for(SHIFT, "tab", named=True) == "shift+tab"
    assert chord_for(CTRL, "enter", named=True) == "ctrl+enter"


def test_bare_space_is_typing_but_a_modified_space_is_a_chord() -> None:
    assert chord_for(0, "space", named=True) is None
    assert chord_for(CTRL, "space", named=True) == "ctrl+space"


def test_altgr_characters_are_typing_even_with_the_fake_windows_ctrl() -> None:
    assert chord_for(ALTGR, "q", named=False) is None
    assert chord_for(ALTGR | CTRL | ALT, "2", named=False) is None
    assert chord_for(ALTGR | CTRL, "f1", named=True) == "f1"


def test_every_chord_produced_is_valid() -> None:
    for mods in range(64):
        for key, named in (("v", False), ("1", False), ("/", False), ("f5", True), ("tab", True)):
            chord = chord_for(mods, key, named)
            if chord is not None:
                assert is_valid_chord(chord), chord


def test_x11_keysyms_fold_shifted_characters_back_to_their_key() -> None:
    assert char_key_name("V", 0x56, "linux") == "v"
    assert char_key_name("!", 0x21, "linux") == "1"
    assert char_key_name("?", 0x3F, "linux") == "/"
    assert char_key_name("é", 0xE9, "linux") is None


def test_windows_uses_the_virtual_key_not_the_control_character() -> None:
    assert char_key_name("\x16", 0x56, "win32") == "v"
    assert char_key_name(None, 0xBF, "win32") == "/"
    assert char_key_name(None, 0x65, "win32") == "5"  # numpad 5
    assert char_key_name("x", None, "win32") is None


def test_macos_uses_the_ansi_key_code_not_the_option_character() -> None:
    assert char_key_name("√", 0x09, "darwin") == "v"
    assert char_key_name("k", 0x28, "darwin") == "k"
    assert char_key_name("a", None, "darwin") == "a"


def test_super_key_is_cmd_on_macos_and_win_elsewhere() -> None:
    assert modifier_bits("darwin")["cmd_l"] == CMD
    assert modifier_bits("win32")["cmd"] == WIN
    assert modifier_bits("linux")["cmd_r"] == WIN
    assert named_key("esc") == "escape"
    assert named_key("media_play_pause") is None


def _source(platform: str = "linux") -> tuple[InputSource, queue.Queue[object]]:
    q: queue.Queue[object] = queue.Queue(100)
    src = InputSource(platform=platform, typing_interval=1.0)
    src.bind(Key, Button, Emitter(q))
    return src, q


def _drain(q: queue.Queue[object]) -> list[object]:
    out = []
    while not q.empty():
        out.append(q.get_nowait())
    return out


def test_callback_reports_a_chord_with_modifier_state_kept_in_the_listener() -> None:
    src, q = _source()
    src.on_press(Key.ctrl_l)
    src.on_press(Key.shift_r)
    src.on_press(KeyCode("V", 0x56))
    src.on_release(KeyCode("V", 0x56))
    src.on_release(Key.shift_r)
    src.on_press(KeyCode("k", 0x6B))
    src.on_release(Key.ctrl_l)
    events = _drain(q)
    assert [e.chord for e in events if isinstance(e, Chord)] == ["ctrl+shift+v", "ctrl+k"]


def test_plain_typing_is_one_anonymous_rate_limited_tick() -> None:
    src, q = _source()
    for ch in "ZEBRA-canary-4711":
        src.on_press(KeyCode(ch, ord(ch)))
        src.on_release(KeyCode(ch, ord(ch)))
    events = _drain(q)
    assert len(events) == 1 and isinstance(events[0], Typing)
    assert "ZEBRA" not in repr(events)


def test_named_keys_media_keys_and_none_keys() -> None:
    src, q = _source()
    src.on_press(Key.f1)
    src.on_press(Key.esc)
    src.on_press(Key.media_play_pause)
    src.on_press(None)
    src.on_press(Key.shift_l)
    src.on_press(Key.tab)
    assert [e.chord for e in _drain(q) if isinstance(e, Chord)] == ["f1", "escape", "shift+tab"]


def test_clicks_carry_only_the_button() -> None:
    src, q = _source()
    src.on_click(98123, 45456, Button.left, True)
    src.on_click(98123, 45456, Button.left, False)
    src.on_click(1, 2, Button.button8, True)
    src.on_move(5, 6)
    events = _drain(q)
    assert events == [Click(events[0].t, "left"), Click(events[1].t, "other")]  # type: ignore[attr-defined]
    # The time is the only number an event carries (it could contain any digits).
    untimed = repr([dataclasses.replace(e, t=0.0) for e in events])  # type: ignore[type-var]
    assert "98123" not in untimed and "45456" not in untimed


def test_full_queue_counts_drops_instead_of_blocking() -> None:
    q: queue.Queue[object] = queue.Queue(1)
    emit = Emitter(q)
    src = InputSource(platform="linux")
    src.bind(Key, Button, emit)
    src.on_press(Key.f1)
    src.on_press(Key.f12)
    assert emit.dropped == 1


@pytest.mark.parametrize(
    ("system_idle", "since_seen", "dead"),
    [(0.2, 30.0, True), (0.2, 0.5, False), (40.0, 45.0, False), (0.5, 9.0, False)],
)
def test_hook_looks_dead_when_the_os_saw_input_the_hook_did_not(
    system_idle: float, since_seen: float, dead: bool
) -> None:
    assert hook_looks_dead(system_idle, since_seen, dead_after=10.0) is dead


def test_x11_shift_tab_arrives_as_iso_left_tab_and_is_still_a_chord() -> None:
    src, q = _source("linux")
    src.on_press(Key.shift_l)
    src.on_press(KeyCode(None, 0xFE20))
    src.on_release(Key.shift_l)
    src.on_press(KeyCode(None, 0xFF8D))  # keypad Enter
    assert [e.chord for e in _drain(q) if isinstance(e, Chord)] == ["shift+tab", "enter"]


def test_windows_callbacks_decode_control_characters_and_ignore_altgr_ctrl() -> None:
    src, q = _source("win32")
    src.on_press(Key.ctrl_l)
    src.on_press(KeyCode("\x16", 0x56))  # what Windows reports for ctrl+v
    src.on_release(Key.ctrl_l)
    src.on_press(Key.ctrl_l)  # AltGr = a fake left Ctrl, then AltGr
    src.on_press(Key.alt_gr)
    src.on_press(KeyCode("@", 0x51))  # AltGr+Q on a German layout
    src.on_release(Key.alt_gr)
    src.on_release(Key.ctrl_l)
    src.on_press(Key.cmd)
    src.on_press(KeyCode("e", 0x45))
    events = _drain(q)
    assert [e.chord for e in events if isinstance(e, Chord)] == ["ctrl+v", "win+e"]
    assert sum(isinstance(e, Typing) for e in events) == 1


def test_macos_callbacks_use_key_codes_for_option_characters() -> None:
    src, q = _source("darwin")
    src.on_press(Key.cmd)
    src.on_press(KeyCode("k", 0x28))
    src.on_release(Key.cmd)
    src.on_press(Key.alt)
    src.on_press(KeyCode("√", 0x09))
    assert [e.chord for e in _drain(q) if isinstance(e, Chord)] == ["cmd+k", "alt+v"]
