"""The real hooks on a real X server (Xvfb + openbox, one per test), driven by xdotool.

Windows are real X11 clients (tests/integration/x11_window.py) with distinct
WM_CLASS and titles.  Every wait has a deadline; nothing sleeps a fixed time.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import pytest

from agent.clock import SystemClock
from agent.events import Active, Chord, Click, Focus, Idle, InputEvent, Quiet, Typing
from agent.hooks.base import Emitter
from agent.hooks.hookset import HookSet
from agent.hooks.input_pynput import end_listener
from agent.rules.engine import Engine
from agent.rules.model import AppAlias, Matcher, Pack, Rule, Toast
from agent.rules.records import Record
from tests.xserver import XServer, wait_for, xdotool

pytestmark = pytest.mark.x11

WINDOW = Path(__file__).with_name("x11_window.py")


@dataclass
class Collected:
    """Everything the HookSet emitted so far, drained from its queue on demand."""

    q: queue.Queue[InputEvent]
    seen: list[InputEvent] = field(default_factory=list)
    pos: int = 0  # wait() consumes: it looks only after the last event it returned

    def drain(self) -> list[InputEvent]:
        while True:
            try:
                self.seen.append(self.q.get_nowait())
            except queue.Empty:
                return self.seen

    def wait(
        self, pred: Callable[[InputEvent], bool], what: str, timeout: float = 10.0
    ) -> InputEvent:
        def check() -> InputEvent | None:
            events = self.drain()
            for i in range(self.pos, len(events)):
                if pred(events[i]):
                    self.pos = i + 1
                    return events[i]
            return None

        return cast(InputEvent, wait_for(check, timeout, what))


class Window:
    """A real X11 window in a child process; ``title``/``fullscreen`` talk to it."""

    def __init__(self, server: XServer, wm_class: str, title: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(WINDOW), wm_class, title],
            env=server.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().split()
        assert line[:1] == ["ready"], f"window helper failed: {line}"
        self.id = line[1]
        self.server = server

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def rename(self, title: str) -> None:
        """Change the title and wait until the X server has it."""
        self.send(f"title {title}")
        wait_for(
            lambda: xdotool(self.server, "getwindowname", self.id) == title, 10, "the new title"
        )

    def activate(self) -> None:
        xdotool(self.server, "windowactivate", "--sync", self.id)

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait(5)
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()


@pytest.fixture
def desktop(
    xserver: XServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[XServer, HookSet, Collected, list[Window]]]:
    """A running HookSet on this test's X server, and a way to open windows."""
    monkeypatch.setenv("DISPLAY", xserver.display)  # pynput reads $DISPLAY
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    q: queue.Queue[InputEvent] = queue.Queue(10_000)
    hooks = HookSet(Emitter(q), idle_thresholds=[1.0], system_bus=False, watchdog_interval=0.2)
    states = {s.name: s for s in hooks.start()}
    assert all(states[n].ok for n in ("input", "focus", "idle", "quiet")), states
    windows: list[Window] = []
    try:
        yield xserver, hooks, Collected(q), windows
    finally:
        hooks.stop()
        for w in windows:
            w.close()


def open_window(
    desk: tuple[XServer, HookSet, Collected, list[Window]], wm_class: str, title: str
) -> Window:
    w = Window(desk[0], wm_class, title)
    desk[3].append(w)
    return w


def test_focus_switches_and_title_changes_are_reported_with_wm_class(
    desktop: tuple[XServer, HookSet, Collected, list[Window]],
) -> None:
    _, _, got, _ = desktop
    alpha = open_window(desktop, "Alpha", "Quarterly report - Alpha")
    beta = open_window(desktop, "Beta", "Inbox - Beta")
    alpha.activate()
    got.wait(lambda e: e == Focus(e.t, "alpha", "Quarterly report - Alpha"), "focus alpha")
    beta.activate()
    got.wait(lambda e: isinstance(e, Focus) and e.app == "beta", "focus beta")
    beta.send("title Drafts - Beta")
    got.wait(lambda e: isinstance(e, Focus) and e.title == "Drafts - Beta", "title change")
    # A title change of a window that is not in front is not a focus change.
    alpha.rename("Budget - Alpha")
    alpha.activate()
    last = got.wait(lambda e: isinstance(e, Focus) and e.app == "alpha", "focus alpha again")
    assert isinstance(last, Focus) and last.title == "Budget - Alpha"
    budget = [e for e in got.drain() if isinstance(e, Focus) and e.title == "Budget - Alpha"]
    assert budget == [last]  # the rename while behind was not reported on its own


def test_chords_named_keys_clicks_and_typing_are_content_free(
    desktop: tuple[XServer, HookSet, Collected, list[Window]],
) -> None:
    server, _, got, _ = desktop
    open_window(desktop, "Gamma", "Editor").activate()
    xdotool(server, "key", "ctrl+shift+v")
    xdotool(server, "key", "F1")
    xdotool(server, "key", "shift+Tab")
    xdotool(server, "key", "ctrl+alt+k")
    xdotool(server, "type", "hello world")
    xdotool(server, "click", "3")
    got.wait(lambda e: isinstance(e, Click), "a click")
    events = got.drain()
    chords = [e.chord for e in events if isinstance(e, Chord)]
    assert chords == ["ctrl+shift+v", "f1", "shift+tab", "ctrl+alt+k"]
    assert [e.button for e in events if isinstance(e, Click)] == ["right"]
    assert 1 <= sum(isinstance(e, Typing) for e in events) <= 2  # rate-limited ticks


def test_idle_is_reported_at_the_threshold_and_active_when_input_resumes(
    desktop: tuple[XServer, HookSet, Collected, list[Window]],
) -> None:
    server, hooks, got, _ = desktop
    idle = got.wait(lambda e: isinstance(e, Idle), "idle after 1 s", timeout=15)
    assert isinstance(idle, Idle) and idle.seconds >= 1.0
    xdotool(server, "mousemove", "200", "200")
    got.wait(lambda e: isinstance(e, Active), "active after input")
    hooks.set_idle_thresholds([2.0])
    state = {s.name: s for s in hooks.states()}["idle"]
    assert state.ok and "2s" in state.detail


def test_full_screen_switches_quiet_on_and_off_and_never_interrupt_apps_get_no_toast(
    desktop: tuple[XServer, HookSet, Collected, list[Window]],
) -> None:
    _, _, got, _ = desktop
    slides = open_window(desktop, "Slides", "Deck")
    chat = open_window(desktop, "Chat", "Call")
    slides.activate()
    got.wait(lambda e: isinstance(e, Focus) and e.app == "slides", "focus slides")
    slides.send("fullscreen on")
    got.wait(lambda e: e == Quiet(e.t, True, "fullscreen"), "quiet on")
    slides.send("fullscreen off")
    got.wait(lambda e: isinstance(e, Quiet) and not e.on, "quiet off")
    # Never-interrupt is the engine's decision: the real focus events of the
    # chat window, fed to an engine that lists it, give no toast.
    rules = (Rule("any-focus", "h", Matcher("focus"), Toast({"en": "focus"})),)
    engine = Engine(
        Pack("t", 1, "T", "en", {}, rules),
        clock=SystemClock(),
        device="d",
        never_interrupt=["Chat"],
    )
    start = len(got.drain())
    chat.activate()
    got.wait(lambda e: isinstance(e, Focus) and e.app == "chat", "focus chat")
    slides.activate()
    got.wait(lambda e: isinstance(e, Focus) and e.app == "slides", "focus slides again")
    decisions = [
        (r.kind, r.reason)
        for event in got.drain()[start:]
        if isinstance(event, Focus) and event.app in ("chat", "slides")
        for r in engine.handle(event)
        if isinstance(r, Record)
    ]
    assert decisions[0] == ("suppressed", "quiet")
    assert decisions[-1] == ("shown", None)
    quiet = [(e.on, e.why) for e in got.drain() if isinstance(e, Quiet)]
    assert quiet == [(True, "fullscreen"), (False, "")]


def test_typed_canary_never_reaches_events_files_or_logs(
    desktop: tuple[XServer, HookSet, Collected, list[Window]],
    data_dir: Path,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    server, hooks, got, _ = desktop
    canary = "ZEBRA-canary-4711"
    caplog.set_level(logging.DEBUG)
    open_window(desktop, "Notes", "Notes").activate()
    xdotool(server, "type", "--delay", "5", canary)
    xdotool(server, "key", "ctrl+s")
    got.wait(lambda e: isinstance(e, Chord) and e.chord == "ctrl+s", "the chord after typing")
    hooks.stop()
    events = got.drain()
    assert any(isinstance(e, Typing) for e in events)
    text = "\n".join(repr(e) for e in events)
    pieces = {canary, canary.lower(), "zebra", "4711"}
    assert not any(p in text.lower() for p in pieces)
    for path in data_dir.rglob("*"):
        if path.is_file():
            assert b"ZEBRA" not in path.read_bytes().upper(), path
    out, err = capfd.readouterr()
    logged = caplog.text + out + err
    assert "zebra" not in logged.lower() and "4711" not in logged


@pytest.mark.allow_log("source input stopped; re-installing")
def test_watchdog_reinstalls_a_killed_input_listener(
    desktop: tuple[XServer, HookSet, Collected, list[Window]],
) -> None:
    server, hooks, got, _ = desktop
    source = hooks.source("input")
    end_listener(source._keyboard)  # the hook thread dies under the agent's feet
    source._keyboard.join(5)
    assert not source.alive()
    wait_for(lambda: hooks.source("input").alive(), 10, "the watchdog to re-install input")
    state = {s.name: s for s in hooks.states()}["input"]
    assert state.ok and state.restarts == 1
    xdotool(server, "key", "ctrl+k")
    got.wait(lambda e: isinstance(e, Chord) and e.chord == "ctrl+k", "a chord after restart")


@pytest.mark.allow_log("X display lost")
def test_focus_source_reconnects_after_losing_the_display_connection(
    desktop: tuple[XServer, HookSet, Collected, list[Window]],
) -> None:
    _, hooks, got, _ = desktop
    one = open_window(desktop, "One", "first")
    two = open_window(desktop, "Two", "second")
    one.activate()
    got.wait(lambda e: isinstance(e, Focus) and e.app == "one", "focus one")
    focus = hooks.source("focus")
    # Cut the X connection the way a crashed server or network would.
    focus._d.display.socket.shutdown(socket.SHUT_RDWR)
    wait_for(lambda: focus.reconnects >= 1, 10, "the focus source to reconnect")
    two.activate()
    got.wait(lambda e: isinstance(e, Focus) and e.app == "two", "focus after reconnect")


def _pack() -> Pack:
    def toast(title: str) -> Toast:
        return Toast(title={"en": title})

    rules = (
        Rule("report-focus", "h1", Matcher("focus", apps=("editor",), title="(?i)report"),
             toast("focus")),
        Rule("paste", "h2", Matcher("chord", apps=("editor",), chord="ctrl+shift+v"),
             toast("paste")),
        Rule("right-click", "h3", Matcher("click", button="right"), toast("click")),
        Rule("away", "h4", Matcher("idle", idle=1.0), toast("idle")),
        Rule("back", "h5", Matcher("active"), toast("active")),
    )  # fmt: skip
    apps = {"editor": AppAlias("editor", linux=("alpha",)), "mail": AppAlias("mail")}
    return Pack("test", 1, "Test", "en", apps, rules)


def test_real_hooks_drive_the_engine_to_the_expected_decisions(
    desktop: tuple[XServer, HookSet, Collected, list[Window]],
) -> None:
    server, _, got, _ = desktop
    engine = Engine(_pack(), clock=SystemClock(), device="d", os_name="linux")
    shown: list[str] = []

    def feed() -> list[str]:
        for event in got.drain()[len(fed) :]:
            fed.append(event)
            for effect in engine.handle(event):
                if isinstance(effect, Record) and effect.kind == "shown" and effect.rule:
                    shown.append(effect.rule)
        return shown

    fed: list[InputEvent] = []
    beta = open_window(desktop, "Beta", "Weekly report")
    alpha = open_window(desktop, "Alpha", "Notes")
    beta.activate()  # a report title, but not the editor app: no toast
    alpha.activate()  # the editor, but not a report: no toast
    got.wait(lambda e: isinstance(e, Focus) and e.app == "alpha", "focus alpha")
    alpha.rename("Weekly report")  # a title change in front is a focus occurrence
    wait_for(lambda: "report-focus" in feed(), 10, "the focus rule")
    xdotool(server, "key", "ctrl+shift+v")
    wait_for(lambda: "paste" in feed(), 10, "the chord rule")
    xdotool(server, "click", "3")
    wait_for(lambda: "right-click" in feed(), 10, "the click rule")
    wait_for(lambda: "away" in feed(), 15, "the idle rule")
    xdotool(server, "mousemove", "300", "300")
    wait_for(lambda: "back" in feed(), 10, "the active rule")
    assert shown == ["report-focus", "paste", "right-click", "away", "back"]


def test_lock_and_unlock_arrive_from_the_session_bus_screensaver(
    xserver: XServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DISPLAY", xserver.display)  # restored after the test
    daemon = subprocess.Popen(
        ["dbus-daemon", "--session", "--nofork", "--print-address"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert daemon.stdout is not None
        address = daemon.stdout.readline().strip()
        q: queue.Queue[InputEvent] = queue.Queue()
        hooks = HookSet(Emitter(q), display=xserver.display, session_bus=address, system_bus=False)
        hooks.start()
        state = {s.name: s for s in hooks.states()}["lock"]
        assert state.ok, state.detail
        got = Collected(q)
        env = dict(os.environ, DBUS_SESSION_BUS_ADDRESS=address)
        for value in ("true", "false"):
            subprocess.run(
                ["dbus-send", "--session", "--type=signal", "/org/freedesktop/ScreenSaver",
                 "org.freedesktop.ScreenSaver.ActiveChanged", f"boolean:{value}"],
                env=env, check=True, timeout=10,
            )  # fmt: skip
        got.wait(lambda e: e.kind == "unlock", "unlock")
        kinds = [e.kind for e in got.drain() if e.kind in ("lock", "unlock")]
        assert kinds == ["lock", "unlock"]
        hooks.stop()
    finally:
        daemon.terminate()
        daemon.wait(5)
        if daemon.stdout is not None:
            daemon.stdout.close()


def test_a_window_closing_while_in_front_does_not_break_the_focus_source(
    desktop: tuple[XServer, HookSet, Collected, list[Window]],
) -> None:
    _, hooks, got, _ = desktop
    keep = open_window(desktop, "Keep", "stays")
    gone = open_window(desktop, "Gone", "closes")
    gone.activate()
    got.wait(lambda e: isinstance(e, Focus) and e.app == "gone", "focus gone")
    gone.close()  # its window vanishes: reads of it fail with BadWindow
    keep.activate()
    got.wait(lambda e: isinstance(e, Focus) and e.app == "keep", "focus keep")
    focus = hooks.source("focus")
    assert focus.alive() and focus.reconnects == 0
