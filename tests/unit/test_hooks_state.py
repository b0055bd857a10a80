"""Pure parts of the hooks: idle, quiet state, OS decoders, watchdog, HookSet planning."""

from __future__ import annotations

import logging
import queue
import threading

import pytest

from agent.events import Active, Idle, Quiet
from agent.hooks.base import Emit, Emitter, SourceState
from agent.hooks.focus_macos import app_from_running_application, user_info_app
from agent.hooks.focus_windows import (
    ELEVATED_APP,
    EVENT_OBJECT_NAMECHANGE,
    app_from_image_path,
    is_foreground_title_change,
    quiet_reason_from_quns,
)
from agent.hooks.focus_x11 import app_from_wm_class, decode_title
from agent.hooks.hookset import HookSet, display_problem, session_type
from agent.hooks.idle import ACTIVE_POLL, DEFAULT_THRESHOLDS, IdleTracker
from agent.hooks.idle_windows import idle_ms_from_ticks
from agent.hooks.lock_linux import decode_lock_signal
from agent.hooks.lock_macos import decode_lock_notification
from agent.hooks.lock_windows import WM_WTSSESSION_CHANGE, decode_session_change
from agent.hooks.permissions_macos import ACCESSIBILITY_URL, INPUT_MONITORING_URL, MacPermissions
from agent.hooks.quiet import QuietTracker
from agent.hooks.watchdog import Watchdog

# -- idle ----------------------------------------------------------------------------


def test_idle_reports_each_threshold_once_then_active_when_input_resumes() -> None:
    tr = IdleTracker([60, 300])
    events, wait = tr.update(0, 10)
    assert events == [] and wait == 50
    events, _ = tr.update(1, 61)
    assert events == [Idle(1, 61.0)]
    events, wait = tr.update(2, 62)
    assert events == [] and wait == ACTIVE_POLL
    events, _ = tr.update(3, 301)
    assert events == [Idle(3, 301.0)]
    events, _ = tr.update(4, 0.3)
    assert events == [Active(4)]
    assert not tr.idle


def test_idle_jumping_past_several_thresholds_is_one_event() -> None:
    tr = IdleTracker([60, 300])
    events, _ = tr.update(0, 900)
    assert events == [Idle(0, 900.0)]


def test_idle_without_rules_still_uses_a_default_so_active_works() -> None:
    assert IdleTracker([]).thresholds == DEFAULT_THRESHOLDS
    assert IdleTracker([0, -1]).thresholds == DEFAULT_THRESHOLDS


# -- quiet ---------------------------------------------------------------------------


def test_quiet_turns_on_for_fullscreen_and_off_once() -> None:
    qt = QuietTracker()
    assert qt.update(0, "") is None
    assert qt.update(1, "fullscreen") == Quiet(1, True, "fullscreen")
    assert qt.update(2, "fullscreen") is None
    assert qt.update(3, "presentation") == Quiet(3, True, "presentation")
    assert qt.update(4, "") == Quiet(4, False, "")
    assert qt.update(5, "") is None


# -- OS decoders ---------------------------------------------------------------------


def test_x11_wm_class_and_title_decoding() -> None:
    assert app_from_wm_class(("navigator", "Firefox")) == "firefox"
    assert app_from_wm_class(("xterm", "")) == "xterm"
    assert app_from_wm_class(None) == ""
    assert decode_title(b"Caf\xc3\xa9 \xff") == "Café \ufffd"
    assert decode_title(None) == ""


def test_windows_decoders() -> None:
    assert app_from_image_path(r"C:\Program Files\Microsoft Office\OUTLOOK.EXE") == "outlook.exe"
    assert quiet_reason_from_quns(2) == "fullscreen"
    assert quiet_reason_from_quns(3) == "fullscreen"
    assert quiet_reason_from_quns(4) == "presentation"
    assert quiet_reason_from_quns(5) == ""
    assert is_foreground_title_change(EVENT_OBJECT_NAMECHANGE, 0, 0)
    assert not is_foreground_title_change(EVENT_OBJECT_NAMECHANGE, -4, 0)
    assert decode_session_change(WM_WTSSESSION_CHANGE, 7) == "lock"
    assert decode_session_change(WM_WTSSESSION_CHANGE, 8) == "unlock"
    assert decode_session_change(WM_WTSSESSION_CHANGE, 5) is None
    assert decode_session_change(0x10, 7) is None
    assert ELEVATED_APP == "<elevated>"


def test_windows_idle_ticks_survive_the_32_bit_wrap() -> None:
    assert idle_ms_from_ticks(10_000, 4_000) == 6_000
    assert idle_ms_from_ticks(2**32 + 500, 2**32 - 500) == 1_000


def test_macos_decoders_and_permission_links() -> None:
    assert app_from_running_application("com.microsoft.Outlook", "Outlook") == (
        "com.microsoft.outlook"
    )
    assert app_from_running_application(None, "Finder") == "finder"
    assert user_info_app({"NSWorkspaceApplicationKey": "app"}) == "app"
    assert user_info_app(None) is None
    assert decode_lock_notification("com.apple.screenIsLocked") == "lock"
    assert decode_lock_notification("com.apple.screenIsUnlocked") == "unlock"
    assert decode_lock_notification("other") is None
    missing = MacPermissions(input_monitoring=False, accessibility=False).missing()
    assert INPUT_MONITORING_URL in missing[0] and ACCESSIBILITY_URL in missing[1]
    assert MacPermissions(True, True).missing() == []


def test_linux_lock_signals() -> None:
    assert decode_lock_signal("org.freedesktop.ScreenSaver", "ActiveChanged", (True,)) == "lock"
    assert decode_lock_signal("org.gnome.ScreenSaver", "ActiveChanged", (False,)) == "unlock"
    assert decode_lock_signal("org.freedesktop.login1.Session", "Lock", ()) == "lock"
    session = "org.freedesktop.login1.Session"
    changed: tuple[object, ...] = (session, {"LockedHint": ("b", False)}, [])
    assert decode_lock_signal("org.freedesktop.DBus.Properties", "PropertiesChanged", changed) == (
        "unlock"
    )
    other: tuple[object, ...] = ("org.freedesktop.login1.Session", {"Active": ("b", True)}, [])
    assert decode_lock_signal("org.freedesktop.DBus.Properties", "PropertiesChanged", other) is None


# -- session and HookSet planning ------------------------------------------------------


def test_session_type_and_display_problem() -> None:
    assert session_type("linux", {"DISPLAY": ":1"}) == "x11"
    assert session_type("linux", {"DISPLAY": ":1", "WAYLAND_DISPLAY": "wayland-0"}) == "xwayland"
    assert session_type("linux", {"WAYLAND_DISPLAY": "wayland-0"}) == "wayland"
    assert session_type("linux", {}) == "none"
    assert session_type("win32", {}) == "windows"
    assert "Wayland session without Xwayland" in display_problem("linux", {"WAYLAND_DISPLAY": "w"})
    assert display_problem("linux", {"DISPLAY": ":3"}) == ""


def test_hookset_without_a_display_reports_instead_of_raising(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    hooks = HookSet(Emitter(queue.Queue()), platform="linux", system_bus=False)
    states = {s.name: s for s in hooks.start()}
    hooks.stop()
    assert list(states) == ["input", "focus", "idle", "lock", "quiet", "accessibility", "files"]
    assert not any(s.ok for s in states.values())
    assert "no loaded rule watches" in states["accessibility"].detail
    assert "Wayland session without Xwayland" in states["input"].detail
    assert "no session bus" in states["lock"].detail


# -- watchdog --------------------------------------------------------------------------


class FakeSource:
    name = "fake"

    def __init__(self, fail_starts: int = 0) -> None:
        self.running = True
        self.starts = 0
        self.fail_starts = fail_starts

    def start(self, emit: Emit) -> None:
        self.starts += 1
        if self.fail_starts:
            self.fail_starts -= 1
            raise RuntimeError("still broken")
        self.running = True

    def stop(self) -> None:
        self.running = False

    def alive(self) -> bool:
        return self.running

    def state(self) -> SourceState:
        return SourceState(self.name, self.running)


@pytest.mark.allow_log("could not be re-installed", "stopped; re-installing")
def test_watchdog_restarts_a_dead_source_with_backoff_and_counts() -> None:
    src = FakeSource(fail_starts=1)
    src.running = False
    dog = Watchdog(lambda: [src], Emitter(queue.Queue()), min_backoff=1.0)
    dog.check(now=100.0)
    assert src.starts == 1 and dog.restarts["fake"] == 1  # failed re-install
    dog.check(now=100.5)
    assert src.starts == 1  # still inside the backoff
    dog.check(now=101.1)
    assert src.starts == 2 and src.running and dog.restarts["fake"] == 2
    dog.check(now=101.2)
    assert src.starts == 2  # healthy: left alone


@pytest.mark.allow_log("stopped; re-installing")
def test_watchdog_logs_the_first_restart_once(caplog: pytest.LogCaptureFixture) -> None:
    src = FakeSource()
    dog = Watchdog(lambda: [src], Emitter(queue.Queue()), min_backoff=0.0)
    with caplog.at_level(logging.INFO, logger="agent.hooks.watchdog"):
        for i in range(5):
            src.running = False
            dog.check(now=float(i))
    assert dog.restarts["fake"] == 5
    assert len([r for r in caplog.records if r.levelno >= logging.INFO]) == 1


def test_watchdog_thread_stops_promptly() -> None:
    dog = Watchdog(lambda: [], Emitter(queue.Queue()), interval=0.05)
    dog.start()
    dog.stop()
    assert not any(t.name == "waymark-watchdog" for t in threading.enumerate())
