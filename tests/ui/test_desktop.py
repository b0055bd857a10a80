"""Wiring: the bridge crosses threads, single instance, DesktopUi and run_desktop."""

from __future__ import annotations

import threading
import uuid

import pytest
from PySide6.QtCore import QThread, QTimer
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from agent.events import Action
from agent.ui.bridge import UiBridge
from agent.ui.desktop import (
    DesktopUi,
    SingleInstance,
    exit_event_loop,
    forward_to_running_instance,
    instance_name,
    run_desktop,
)
from agent.ui.theme import LIGHT
from tests.ui.fakes import FakeCore, make_toast, record


def test_bridge_delivers_engine_thread_effects_on_the_main_thread(
    qtbot: QtBot, qapp: QApplication
) -> None:
    bridge = UiBridge()
    seen: list[tuple[object, bool]] = []
    bridge.toast_requested.connect(
        lambda e: seen.append((e, QThread.currentThread() is qapp.thread()))
    )
    effect = make_toast()

    def deliver() -> None:
        bridge.deliver(record())
        bridge.deliver(effect)

    worker = threading.Thread(target=deliver)
    worker.start()
    worker.join()
    qtbot.waitUntil(lambda: bool(seen), timeout=2000)
    assert seen == [(effect, True)]


def test_desktop_ui_shows_a_toast_from_the_engine_and_posts_the_choice(
    core: FakeCore, qtbot: QtBot
) -> None:
    ui = DesktopUi(core, now=lambda: 5.0, theme=lambda: LIGHT, quit_app=lambda: None)
    threading.Thread(target=core.emit_effect, args=(make_toast(),)).start()
    qtbot.waitUntil(lambda: bool(ui.toasts.toasts), timeout=2000)
    ui.toasts.toasts[0].got_it_button.click()
    assert core.posted == [Action(5.0, "share-link", "got-it")]


def test_setting_changes_reach_the_tray_and_window(core: FakeCore, qtbot: QtBot) -> None:
    core.settings.set("consent", "declined")
    ui = DesktopUi(core, theme=lambda: LIGHT, quit_app=lambda: None)
    window = ui.open_settings("coaching")
    qtbot.addWidget(window)
    core.settings.set("coaching_enabled", False)
    qtbot.waitUntil(
        lambda: ui.tray.status_action.text() == "Coaching is switched off", timeout=2000
    )
    assert not window.fields["coaching_enabled"].editor.property("checked")


def test_quit_respects_policy(managed_core: FakeCore, core: FakeCore) -> None:
    quits: list[int] = []
    DesktopUi(managed_core, quit_app=lambda: quits.append(1)).quit()
    assert quits == []
    DesktopUi(core, quit_app=lambda: quits.append(1)).quit()
    assert quits == [1]


def test_second_start_asks_the_first_to_show_settings(core: FakeCore, qtbot: QtBot) -> None:
    name = f"waymark-test-{uuid.uuid4().hex[:8]}"
    assert not forward_to_running_instance(name=name, timeout_ms=200)
    instance = SingleInstance(name)
    assert instance.listen()
    ui = DesktopUi(core, quit_app=lambda: None)
    instance.message_received.connect(ui.handle_message)
    assert forward_to_running_instance("show-settings:privacy", name=name)
    qtbot.waitUntil(lambda: ui.settings_window is not None, timeout=3000)
    assert ui.settings_window is not None
    qtbot.addWidget(ui.settings_window)
    assert ui.settings_window.isVisible()
    instance.close()


def test_instance_name_is_per_user_and_safe() -> None:
    assert instance_name("ana maría/x") == "waymark-ana_mar_a_x"


def test_run_desktop_returns_on_quit_and_opens_consent_on_first_run(
    core: FakeCore, qapp: QApplication, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        "agent.ui.desktop.instance_name", lambda user=None: f"wm-{uuid.uuid4().hex[:8]}"
    )
    seen: list[bool] = []

    def check_and_quit() -> None:
        windows = [w for w in qapp.topLevelWidgets() if w.objectName() == "" and w.isVisible()]
        seen.append(any(type(w).__name__ == "SettingsWindow" for w in windows))
        exit_event_loop()  # what Quit in the tray does; quit() would be refused by the window

    QTimer.singleShot(200, check_and_quit)
    assert run_desktop(core) == 0
    assert seen == [True]
    for w in qapp.topLevelWidgets():
        if type(w).__name__ == "SettingsWindow":
            w.deleteLater()


def test_sigterm_ends_run_desktop_cleanly(core: FakeCore, qapp: QApplication, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import os
    import signal

    monkeypatch.setattr(
        "agent.ui.desktop.instance_name", lambda user=None: f"wm-{uuid.uuid4().hex[:8]}"
    )
    core.settings.set("consent", "declined")
    previous = signal.getsignal(signal.SIGTERM)
    QTimer.singleShot(200, lambda: os.kill(os.getpid(), signal.SIGTERM))
    assert run_desktop(core) == 0
    assert signal.getsignal(signal.SIGTERM) is previous
