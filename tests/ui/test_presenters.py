"""The presenter adapter: ordered fallback, lazy set-up, re-pick after an error; the
UI tells the engine whether each tip reached the screen."""

from __future__ import annotations

from dataclasses import replace

import pytest
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from agent.events import ToastNotShown, ToastShown
from agent.rules.effects import ShowToast
from agent.ui.desktop import DesktopUi
from agent.ui.presenters import (
    NotificationAdapter,
    OnScreen,
    PostAction,
    PresenterUnavailable,
    TrayMessagePresenter,
)
from tests.ui.fakes import FakeCore, make_toast


def nothing() -> None:
    """An on_screen callback for tests that do not look at it."""


class Recorder:
    def __init__(self, name: str) -> None:
        self.name = name
        self.shown: list[ShowToast] = []
        self.closed = 0

    def present(
        self, effect: ShowToast, on_screen: OnScreen, post: PostAction | None = None
    ) -> None:
        self.shown.append(effect)

    def focus_newest(self) -> bool:
        return bool(self.shown)

    def close_all(self) -> None:
        self.closed += 1


def unavailable() -> Recorder:
    raise PresenterUnavailable("not here")


def test_first_working_presenter_is_used_and_set_up_lazily(qapp: QApplication) -> None:
    made: list[str] = []
    second = Recorder("second")

    def make_second() -> Recorder:
        made.append("second")
        return second

    adapter = NotificationAdapter([unavailable, make_second, lambda: Recorder("third")])
    assert made == []
    assert adapter.present(make_toast(), nothing)
    assert made == ["second"] and len(second.shown) == 1
    assert adapter.problems == ["not here"]
    assert adapter.focus_newest()


def test_an_error_drops_the_presenter_and_the_next_takes_over(qapp: QApplication) -> None:
    first, second = Recorder("first"), Recorder("second")
    adapter = NotificationAdapter([lambda: first, lambda: second])
    adapter.present(make_toast(), nothing)
    adapter.error.emit("window system went away")
    assert first.closed == 1
    adapter.present(make_toast(), nothing)
    assert len(first.shown) == 1 and len(second.shown) == 1


def test_no_presenter_means_the_toast_is_dropped_not_a_crash(qapp: QApplication) -> None:
    adapter = NotificationAdapter([unavailable])
    assert adapter.present(make_toast(), nothing) is False
    assert adapter.focus_newest() is False


def test_tray_messages_need_a_tray_icon(qapp: QApplication) -> None:
    try:
        TrayMessagePresenter(None, lambda a: None, lambda: "en")
    except PresenterUnavailable:
        pass
    else:
        raise AssertionError("a tray presenter without an icon must be unavailable")


def test_desktop_ui_uses_the_qt_toast_offscreen(core: FakeCore, qtbot: QtBot) -> None:
    ui = DesktopUi(core, quit_app=lambda: None)
    core.emit_effect(make_toast())
    qtbot.waitUntil(lambda: bool(ui.toasts.toasts), timeout=2000)
    assert ui.presenters.presenter is not None and ui.presenters.presenter.name == "qt-toast"
    ui.presenters.close_all()


def test_the_engine_hears_toast_shown_once_the_toast_is_painted(
    core: FakeCore, qtbot: QtBot
) -> None:
    ui = DesktopUi(core, now=lambda: 7.0, quit_app=lambda: None)
    core.emit_effect(replace(make_toast(), toast_id=41))
    qtbot.waitUntil(lambda: ToastShown(7.0, 41) in core.posted, timeout=3000)
    window = ui.toasts.toasts[0]
    assert window._painted_once  # posted by the first paint, not by show()
    assert core.posted.count(ToastShown(7.0, 41)) == 1
    ui.presenters.close_all()


@pytest.mark.allow_log("presenter broken failed")
def test_a_broken_presenter_is_dropped_and_the_next_one_shows_the_toast(
    qapp: QApplication,
) -> None:
    class Broken(Recorder):
        def present(
            self, effect: ShowToast, on_screen: OnScreen, post: PostAction | None = None
        ) -> None:
            raise RuntimeError("window system went away")

    second = Recorder("second")
    adapter = NotificationAdapter([lambda: Broken("broken"), lambda: second])
    assert adapter.present(make_toast(), nothing)
    assert len(second.shown) == 1
    assert "window system went away" in adapter.problems[0]


@pytest.mark.allow_log("no way to show a tip here: not here")
def test_when_no_presenter_can_show_a_tip_the_engine_hears_toast_not_shown(
    core: FakeCore, qtbot: QtBot
) -> None:
    ui = DesktopUi(core, now=lambda: 7.0, quit_app=lambda: None)
    ui.presenters = NotificationAdapter([unavailable])
    core.emit_effect(replace(make_toast(), toast_id=5))
    qtbot.waitUntil(lambda: bool(core.posted), timeout=3000)
    assert core.posted == [ToastNotShown(7.0, 5, "not here")]
