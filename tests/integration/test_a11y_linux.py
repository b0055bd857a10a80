"""Element triggers on a real AT-SPI session: a Qt app on Xvfb, its accessibility bus, xdotool.

Each test gets its own X server, session bus and accessibility bus
(tests/a11y_session.py).  The Qt test app (tests/integration/a11y_app.py)
turns its AT-SPI bridge on because the agent's source sets
``org.a11y.Status.IsEnabled``, as it would on a desktop.  The real desktop
sources (HookSet: input for the clicks and keys, the AT-SPI source) feed a
real engine.
"""

from __future__ import annotations

import queue
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from agent.clock import SystemClock
from agent.events import Element, InputEvent
from agent.hooks.a11y_linux import AtspiSource, decode_signal, role_of
from agent.hooks.base import Emitter
from agent.hooks.hookset import HookSet
from agent.rules.engine import Engine
from agent.rules.loader import load_pack_text
from agent.rules.records import Record
from agent.rules.watchlist import Watchlist
from devtools.waiting import stop_process
from tests.a11y_session import A11ySession, QtTestApp, a11y_session
from tests.xserver import XServer, wait_for, xdotool

pytestmark = pytest.mark.x11

PACK = """\
waymark: 1
id: mail-habits
version: 1
title: Mail habits
apps:
  mail: {linux: [mailapp]}
rules:
  - id: attach-link
    when:
      event: element
      app: mail
      on: invoke
      element: {role: button, name: [Attach File, Allega file]}
    toast: {title: {en: Share a link instead}}
  - id: message-menu
    when: {event: element, app: mail, on: menu_open, element: {role: menu}}
    toast: {title: {en: Try the quick actions}}
  - id: save-to-synced
    when:
      {event: element, app: mail, on: window_open, element: {role: dialog, name_re: "(?i)^save as"}}
    toast: {title: {en: Save to the synced folder}}
"""


@dataclass
class Desk:
    session: A11ySession
    hooks: HookSet
    source: AtspiSource
    events: queue.Queue[InputEvent]
    engine: Engine
    mail: QtTestApp
    shown: list[str]

    def feed(self) -> list[str]:
        """Hand what the sources emitted to the engine; the rules shown so far."""
        while True:
            try:
                event = self.events.get_nowait()
            except queue.Empty:
                return self.shown
            for effect in self.engine.handle(event):
                if isinstance(effect, Record) and effect.kind == "shown" and effect.rule:
                    self.shown.append(effect.rule)


@pytest.fixture
def desk(xserver: XServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Desk]:
    monkeypatch.setenv("DISPLAY", xserver.display)
    pack = load_pack_text(PACK)
    with a11y_session(xserver) as session:
        q: queue.Queue[InputEvent] = queue.Queue()
        hooks = HookSet(
            Emitter(q),
            display=xserver.display,
            session_bus=session.bus,
            system_bus=False,
            watchlist=Watchlist(pack, "linux"),
        )
        states = {s.name: s for s in hooks.start()}
        try:
            assert states["accessibility"].ok, states["accessibility"].detail
            source = hooks.source("accessibility")
            mail = session.app("mailapp", "Inbox - Mail")
            engine = Engine(pack, clock=SystemClock(), device="d", os_name="linux")
            yield Desk(session, hooks, source, q, engine, mail, [])
        finally:
            hooks.stop()


def test_pressing_attach_file_with_the_keyboard_fires_the_rule(desk: Desk) -> None:
    desk.mail.activate()  # Attach File is the first control: it has focus
    wait_for(lambda: desk.source.signals > 0, 10, "accessibility signals from the app")
    xdotool(desk.session.xserver, "key", "space")
    wait_for(lambda: "attach-link" in desk.feed(), 10, "the attach rule")


def test_clicking_attach_file_with_the_mouse_fires_the_rule(desk: Desk) -> None:
    desk.mail.activate()
    desk.mail.click("subject")  # focus elsewhere first: the click must move it
    desk.mail.click("attach")
    wait_for(lambda: "attach-link" in desk.feed(), 10, "the attach rule from a click")


def test_other_buttons_and_a_focus_alone_do_not_fire(desk: Desk) -> None:
    desk.mail.activate()
    desk.mail.click("send")
    xdotool(desk.session.xserver, "key", "Return")
    server = desk.session.xserver
    xdotool(server, "key", "shift+Tab")  # focus moves back over Save As and the field
    wait_for(lambda: desk.source.signals >= 3, 10, "focus signals")
    desk.feed()
    # A marker event proves the queue was drained after everything above.
    desk.mail.click("attach")
    wait_for(lambda: "attach-link" in desk.feed(), 10, "the attach rule")
    assert desk.shown == ["attach-link"]


def test_a_save_as_dialog_fires_the_window_open_rule(desk: Desk) -> None:
    desk.mail.activate()
    desk.mail.click("save_as")
    wait_for(lambda: "save-to-synced" in desk.feed(), 10, "the save-as rule")


def test_opening_a_menu_fires_the_menu_open_rule(desk: Desk) -> None:
    desk.mail.activate()
    desk.mail.click("more")
    wait_for(lambda: "message-menu" in desk.feed(), 10, "the menu rule")


def test_an_app_no_rule_names_is_never_read(desk: Desk) -> None:
    other = desk.session.app("otherapp", "Other - Notes")
    other.activate()
    reads_before = desk.source.app_reads
    dropped_before = desk.source.dropped
    server = desk.session.xserver
    for _ in range(3):
        xdotool(server, "key", "Tab")
    xdotool(server, "key", "space")
    other.click("attach")
    other.click("save_as")
    wait_for(lambda: desk.source.dropped >= dropped_before + 4, 10, "the other app's signals")
    assert desk.source.app_reads == reads_before
    assert desk.feed() == []


def test_names_of_text_fields_are_not_read_and_never_leave_the_source(desk: Desk) -> None:
    canary = "Quokka-canary-9931"
    desk.mail.activate()
    desk.mail.click("subject")
    xdotool(desk.session.xserver, "type", "--delay", "5", canary)
    desk.mail.click("attach")
    wait_for(lambda: "attach-link" in desk.feed(), 10, "the attach rule")
    assert desk.source.names_read["edit"] == 0  # no rule asks for edit fields
    assert desk.source.names_read["button"] >= 1


def test_signal_and_role_decoding() -> None:
    assert (
        decode_signal("org.a11y.atspi.Event.Object", "StateChanged", ("focused", 1, 0)) == "focus"
    )
    assert decode_signal("org.a11y.atspi.Event.Object", "StateChanged", ("focused", 0, 0)) is None
    assert decode_signal("org.a11y.atspi.Event.Window", "Activate", ("", 0, 0)) == "activate"
    assert decode_signal("org.a11y.atspi.Event.Object", "TextChanged", ("insert", 0, 1)) is None
    assert (role_of(43), role_of(40), role_of(16), role_of(61), role_of(999)) == (
        "button",
        "password",
        "dialog",
        "edit",
        "other",
    )


def test_elements_carry_selector_ids_not_names(desk: Desk) -> None:
    desk.mail.activate()
    xdotool(desk.session.xserver, "key", "space")
    event = wait_for(lambda: _first_element(desk), 10, "an element event")
    assert event.app == "mailapp" and event.on == "invoke" and event.role == "button"
    assert all(s.startswith("el-") for s in event.selectors)
    assert "attach" not in repr(event).lower()


def _first_element(desk: Desk | _Queue) -> Element | None:
    while True:
        try:
            event = desk.events.get_nowait()
        except queue.Empty:
            return None
        if isinstance(event, Element):
            return event


@pytest.mark.allow_log(r"accessibility: mailapp answered in \d+ ms \(limit 250 ms\)")
def test_a_hung_app_is_backed_off_and_does_not_stall_the_source(
    xserver: XServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DISPLAY", xserver.display)
    pack = load_pack_text(
        PACK.replace("mail: {linux: [mailapp]}", "mail: {linux: [mailapp, qtmail]}")
    )
    with a11y_session(xserver) as session:
        q: queue.Queue[InputEvent] = queue.Queue()
        source = AtspiSource(Watchlist(pack, "linux"), session_bus=session.bus)
        source.start(Emitter(q))
        hung = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("hung_a11y_app.py")), "mailapp"],
            env=session.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert hung.stdin is not None and hung.stdout is not None
        try:
            assert hung.stdout.readline().strip() == "ready"
            started = time.monotonic()
            hung.stdin.write("focus\n")
            hung.stdin.flush()
            wait_for(
                lambda: source._backoff.blocked("mailapp"), 10, "the hung app to be backed off"
            )
            assert time.monotonic() - started < 5  # one call's limit, not a stall
            reads = source.app_reads
            for _ in range(3):
                hung.stdin.write("focus\n")
                hung.stdin.flush()
                hung.stdout.readline()
            wait_for(lambda: source.dropped >= 3, 10, "the backed-off app's signals dropped")
            assert source.app_reads == reads  # left alone: nothing more is asked of it
            mail = session.app("qtmail", "Inbox - Mail")  # the source still serves other apps
            mail.activate()  # Attach File has the focus
            wait_for(lambda: source._focused is not None, 10, "the other app's focus")
            source.poke("key")  # what the input source does on Enter/Space
            wait_for(
                lambda: _first_element(_Queue(q)) is not None, 10, "an element of the other app"
            )
        finally:
            hung.stdin.close()
            stop_process(hung, 5)
            hung.stdout.close()
            source.stop()


@dataclass
class _Queue:
    events: queue.Queue[InputEvent]
