"""The Windows hook classes against the real desktop (run by the release pipeline and ci.yml).

A real top-level window made with ctypes, in a child process, comes to the front and the
WinEvent focus source reports that process's exe (python.exe) and the window's title; a
SendInput chord reaches pynput's low-level keyboard hook as ``ctrl+shift+k``;
GetLastInputInfo's idle time crosses a threshold and the idle source says so.
"""

from __future__ import annotations

import os
import sys
import uuid

from agent.events import Active, Chord, Focus, Idle
from agent.hooks.focus_windows import WindowsFocusSource, app_from_image_path
from agent.hooks.idle import IdleSource
from agent.hooks.idle_windows import open_windows_idle, seconds_since_input
from agent.hooks.input_pynput import InputSource
from devtools.waiting import wait_for
from tests.native.conftest import Recorder
from tests.native.windows.win32 import VK_CONTROL, VK_SHIFT, chord, tap, window_process

VK_K = 0x4B
VK_F13 = 0x7C  # a key no application acts on


def test_the_focus_source_reports_the_exe_and_title_of_the_window_brought_to_front() -> None:
    recorder = Recorder()
    source = WindowsFocusSource()
    source.start(recorder.emit)
    try:
        assert source.alive() and source.state().ok
        title = f"Waymark native test {uuid.uuid4().hex[:8]}"
        child = window_process(title)
        try:
            focus = recorder.wait_for(
                lambda e: isinstance(e, Focus) and e.title == title, 15, f"Focus on {title!r}"
            )
        finally:
            assert child.stdin is not None
            child.stdin.close()
            child.wait(30)
        assert (
            focus.app
            == app_from_image_path(sys.executable)
            == os.path.basename(sys.executable).lower()
        )
    finally:
        source.stop()
    assert not source.alive()


def test_the_low_level_keyboard_hook_sees_a_sendinput_chord() -> None:
    recorder = Recorder()
    source = InputSource(platform="win32")
    source.start(recorder.emit)
    try:
        assert source.alive()
        chord(VK_CONTROL, VK_SHIFT, VK_K)
        event = recorder.wait_for(lambda e: isinstance(e, Chord), 10, "a Chord")
        assert event.chord == "ctrl+shift+k"
    finally:
        source.stop()


def test_get_last_input_info_idle_crosses_a_threshold_and_input_ends_it() -> None:
    tap(VK_F13)
    assert wait_for(lambda: (seconds_since_input() or 99) < 1.0, 5, "idle reset by SendInput")
    recorder = Recorder()
    source = IdleSource(open_windows_idle, thresholds=[1.5], how="GetLastInputInfo")
    source.start(recorder.emit)
    try:
        idle = recorder.wait_for(lambda e: isinstance(e, Idle), 15, "an Idle event")
        assert idle.seconds >= 1.5
        tap(VK_F13)
        recorder.wait_for(lambda e: isinstance(e, Active), 10, "an Active event after input")
    finally:
        source.stop()
