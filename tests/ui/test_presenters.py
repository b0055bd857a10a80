"""The presenter adapter: ordered fallback, lazy set-up, re-pick after an error."""

from __future__ import annotations

from PySide6.QtWidgets import QApplication

from agent.rules.effects import ShowToast
from agent.ui.presenters import NotificationAdapter, PresenterUnavailable, TrayMessagePresenter
from tests.ui.fakes import make_toast


class Recorder:
    def __init__(self, name: str) -> None:
        self.name = name
        self.shown: list[ShowToast] = []
        self.closed = 0

    def present(self, effect: ShowToast) -> None:
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
    assert adapter.present(make_toast())
    assert made == ["second"] and len(second.shown) == 1
    assert adapter.problems == ["not here"]
    assert adapter.focus_newest()


def test_an_error_drops_the_presenter_and_the_next_takes_over(qapp: QApplication) -> None:
    first, second = Recorder("first"), Recorder("second")
    adapter = NotificationAdapter([lambda: first, lambda: second])
    adapter.present(make_toast())
    adapter.error.emit("window system went away")
    assert first.closed == 1
    adapter.present(make_toast())
    assert len(first.shown) == 1 and len(second.shown) == 1


def test_no_presenter_means_the_toast_is_dropped_not_a_crash(qapp: QApplication) -> None:
    adapter = NotificationAdapter([unavailable])
    assert adapter.present(make_toast()) is False
    assert adapter.focus_newest() is False


def test_tray_messages_need_a_tray_icon(qapp: QApplication) -> None:
    try:
        TrayMessagePresenter(None, lambda a: None, lambda: "en")
    except PresenterUnavailable:
        pass
    else:
        raise AssertionError("a tray presenter without an icon must be unavailable")


def test_desktop_ui_uses_the_qt_toast_offscreen(core, qtbot) -> None:  # type: ignore[no-untyped-def]
    from agent.ui.desktop import DesktopUi

    ui = DesktopUi(core, quit_app=lambda: None)
    core.emit_effect(make_toast())
    qtbot.waitUntil(lambda: bool(ui.toasts.toasts), timeout=2000)
    assert ui.presenters.presenter is not None and ui.presenters.presenter.name == "qt-toast"
    ui.presenters.close_all()
