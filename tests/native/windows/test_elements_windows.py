"""The Windows element source against real windows (run by the release pipeline and ci.yml).

A window in a child process (python.exe, so the pack names that exe) has an "Attach File"
push button with the keyboard focus: the WinEvent focus event of that process passes the
process filter and UI Automation reads the button, so the focus rule's selector matches.
A message box captioned "Save As" is a #32770 dialog: EVENT_SYSTEM_DIALOGSTART gives the
window_open rule.  An app no rule names is dropped before any read.
"""

from __future__ import annotations

import os
import sys
import uuid

from agent.events import Element
from agent.hooks.a11y_windows import WindowsElementSource
from agent.rules.loader import load_pack_text
from agent.rules.watchlist import Watchlist
from tests.native.conftest import Recorder
from tests.native.windows.win32 import window_process

EXE = os.path.basename(sys.executable).lower()

PACK = f"""\
waymark: 1
id: native
version: 1
title: Native
apps:
  testapp: {{windows: [{EXE}]}}
  other: {{windows: [notepad.exe]}}
rules:
  - id: attach
    when: {{event: element, app: testapp, on: focus, element: {{role: button, name: Attach File}}}}
    toast: {{title: {{en: a}}}}
  - id: save-as
    when:
      {{event: element, app: testapp, on: window_open, element: {{role: dialog, name: Save As}}}}
    toast: {{title: {{en: b}}}}
"""


def test_a_focused_button_and_a_dialog_of_a_watched_app_match_their_selectors() -> None:
    watchlist = Watchlist(load_pack_text(PACK), "windows")
    recorder = Recorder()
    source = WindowsElementSource(watchlist)
    source.start(recorder.emit)
    try:
        assert source.alive() and source.state().ok
        child = window_process(f"Waymark elements {uuid.uuid4().hex[:8]}", "Attach File")
        try:
            focus = recorder.wait_for(
                lambda e: isinstance(e, Element) and e.on == "focus", 20, "the button's focus"
            )
            assert focus.role == "button" and focus.app == EXE and focus.selectors
            assert child.stdin is not None
            child.stdin.write("dialog Save As\n")
            child.stdin.flush()
            dialog = recorder.wait_for(
                lambda e: isinstance(e, Element) and e.on == "window_open", 20, "the dialog"
            )
            assert dialog.role == "dialog" and dialog.selectors
        finally:
            assert child.stdin is not None
            child.stdin.close()
            child.wait(30)
        assert source.app_reads > 0
    finally:
        source.stop()


def test_an_app_no_rule_names_is_dropped_before_any_read() -> None:
    pack = PACK.replace(f"testapp: {{windows: [{EXE}]}}", "testapp: {windows: [winword.exe]}")
    source = WindowsElementSource(Watchlist(load_pack_text(pack), "windows"))
    recorder = Recorder()
    source.start(recorder.emit)
    try:
        child = window_process(f"Waymark unwatched {uuid.uuid4().hex[:8]}", "Attach File")
        try:
            from devtools.waiting import wait_for

            wait_for(lambda: source.dropped > 0, 20, "the unwatched app's events")
        finally:
            assert child.stdin is not None
            child.stdin.close()
            child.wait(30)
        assert source.app_reads == 0
        assert not [e for e in recorder.seen if isinstance(e, Element)]
    finally:
        source.stop()
