"""Toast behaviour, offscreen: flags, content, every choice, timer, stacking, locale."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import shiboken6
from PySide6.QtCore import QEvent, QPoint, QPointF, QRect, Qt
from PySide6.QtGui import QEnterEvent, QGuiApplication, QImage, QScreen
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QPushButton, QToolButton
from pytestqt.qtbot import QtBot

from agent.events import Action
from agent.rules.effects import ShowToast
from agent.rules.model import ToastAction
from agent.ui.theme import DARK, HIGH_CONTRAST, LIGHT, Theme
from agent.ui.toast import (
    GAP,
    MARGIN,
    ToastStack,
    ToastWindow,
    content_for,
    duration_label,
    flow_rows,
)
from tests.ui.fakes import make_toast

NOW = 1_800_000_000.0


def closed(toast: ToastWindow) -> bool:
    """Closed (and possibly already deleted, since toasts delete themselves on close)."""
    return not shiboken6.isValid(toast) or not toast.isVisible()


class Harness:
    def __init__(self, corner: str = "bottom-right", lang: str = "en", theme: Theme = LIGHT):
        self.posted: list[Action] = []
        self.opened: list[str] = []
        self.corner = corner
        self.lang = lang
        self.theme = theme
        self.stack = ToastStack(
            self.posted.append,
            corner=lambda: self.corner,
            ui_lang=lambda: self.lang,
            theme=lambda: self.theme,
            now=lambda: NOW,
            open_url=self.opened.append,
        )

    def show(self, effect: ShowToast | None = None) -> ToastWindow:
        return self.stack.show_toast(effect or make_toast())


@pytest.fixture
def harness(qapp: QApplication) -> Iterator[Harness]:
    qapp.setQuitOnLastWindowClosed(False)
    h = Harness()
    yield h
    for toast in list(h.stack.toasts):
        toast.choose("dismiss")


def test_toast_window_never_takes_focus_flags(harness: Harness) -> None:
    toast = harness.show()
    flags = toast.windowFlags()
    for flag in (
        Qt.WindowType.Tool,
        Qt.WindowType.FramelessWindowHint,
        Qt.WindowType.WindowStaysOnTopHint,
        Qt.WindowType.WindowDoesNotAcceptFocus,
    ):
        assert flags & flag, flag
    assert toast.testAttribute(Qt.WidgetAttribute.WA_ShowWithoutActivating)
    assert toast.isVisible()
    assert not toast.isActiveWindow()


def test_toast_shows_title_body_actions_got_it_snooze_and_never(harness: Harness) -> None:
    toast = harness.show()
    assert toast.title_label.text() == "Share a link instead"
    assert toast.body_label is not None
    assert "<b>one</b>" in toast.body_label.text()
    assert toast.action_buttons["how"].text() == "Show me how"
    assert toast.got_it_button.text() == "Got it"
    assert toast.never_button.text() == "Don't show this again"
    assert [b.text() for b in toast.snooze_choices] == ["In 1 hour", "In 1 day"]
    assert toast.snooze_row is not None and toast.snooze_row.isHidden()


def test_every_control_has_an_accessible_name(harness: Harness) -> None:
    toast = harness.show()
    assert toast.accessibleName() == "Waymark tip: Share a link instead"
    assert "one version" in toast.accessibleDescription()
    controls = toast.findChildren(QPushButton) + toast.findChildren(QToolButton)
    assert len(controls) >= 5
    for control in controls:
        assert control.accessibleName(), control.text()


@pytest.mark.parametrize(
    ("press", "expected"),
    [
        ("got_it", Action(NOW, "share-link", "got-it")),
        ("never", Action(NOW, "share-link", "never")),
        ("close", Action(NOW, "share-link", "dismiss")),
    ],
)
def test_each_choice_posts_one_action_and_closes(
    harness: Harness, qtbot: QtBot, press: str, expected: Action
) -> None:
    toast = harness.show()
    button = {"got_it": toast.got_it_button, "never": toast.never_button,
              "close": toast.close_button}[press]  # fmt: skip
    QTest.mouseClick(button, Qt.MouseButton.LeftButton)
    assert harness.posted == [expected]
    assert harness.stack.toasts == []
    assert closed(toast)


@pytest.mark.parametrize(("index", "seconds"), [(0, 3600.0), (1, 86400.0)])
def test_snooze_choices_post_snooze_with_seconds(
    harness: Harness, index: int, seconds: float
) -> None:
    toast = harness.show()
    assert toast.snooze_button is not None
    height = toast.height()
    QTest.mouseClick(toast.snooze_button, Qt.MouseButton.LeftButton)
    assert toast.snooze_row is not None and toast.snooze_row.isVisible()
    assert toast.height() > height  # the choices unfold inside the toast
    assert harness.posted == []
    QTest.mouseClick(toast.snooze_choices[index], Qt.MouseButton.LeftButton)
    assert harness.posted == [Action(NOW, "share-link", "snooze", seconds)]
    assert closed(toast)


def test_unfolding_the_snooze_choices_keeps_the_toast_in_its_corner(harness: Harness) -> None:
    toast = harness.show()
    assert toast.snooze_button is not None
    toast.snooze_button.click()
    assert toast.geometry().bottom() == _area().bottom() - MARGIN
    QTest.keyClick(toast, Qt.Key.Key_Escape)  # Esc folds the choices first
    assert toast.snooze_row is not None and toast.snooze_row.isHidden()
    assert harness.posted == [] and toast.isVisible()
    assert toast.geometry().bottom() == _area().bottom() - MARGIN


def test_pack_action_opens_its_https_link_and_posts_its_id(harness: Harness, qtbot: QtBot) -> None:
    toast = harness.show()
    QTest.mouseClick(toast.action_buttons["how"], Qt.MouseButton.LeftButton)
    assert harness.opened == ["https://intranet.example/links"]
    assert harness.posted == [Action(NOW, "share-link", "how")]


def test_pack_action_with_unsafe_link_posts_but_opens_nothing(harness: Harness) -> None:
    effect = make_toast(actions=(ToastAction("run", {"en": "Run"}, "file:///etc/passwd"),))
    toast = harness.show(effect)
    toast.action_buttons["run"].click()
    assert harness.opened == []
    assert harness.posted == [Action(NOW, "share-link", "run")]


def test_body_links_open_only_https_and_mailto(harness: Harness) -> None:
    toast = harness.show(make_toast(body={"en": "[a](https://ok.example) [b](javascript:x())"}))
    assert toast.body_label is not None
    assert "javascript" not in toast.body_label.text()
    toast.body_label.linkActivated.emit("javascript:alert(1)")
    toast.body_label.linkActivated.emit("https://ok.example")
    assert harness.opened == ["https://ok.example"]


def test_timeout_dismisses(harness: Harness, qtbot: QtBot) -> None:
    toast = harness.show(make_toast(timeout=0.05))
    qtbot.waitUntil(lambda: bool(harness.posted), timeout=2000)
    assert harness.posted == [Action(NOW, "share-link", "dismiss")]
    assert closed(toast)


def test_hover_pauses_the_auto_dismiss_and_leaving_resumes_it(
    harness: Harness, qtbot: QtBot
) -> None:
    toast = harness.show(make_toast(timeout=0.3))
    assert toast.timer_running
    QApplication.sendEvent(toast, QEnterEvent(QPointF(5, 5), QPointF(5, 5), QPointF(5, 5)))
    assert toast.hovered and not toast.timer_running
    qtbot.wait(450)
    assert harness.posted == [] and toast.isVisible()
    QApplication.sendEvent(toast, QEvent(QEvent.Type.Leave))
    assert toast.timer_running
    qtbot.waitUntil(lambda: bool(harness.posted), timeout=2000)
    assert harness.posted[0].action == "dismiss"


def test_zero_timeout_never_auto_dismisses(harness: Harness) -> None:
    toast = harness.show(make_toast(timeout=0))
    assert not toast.timer_running


def test_focus_newest_gives_it_the_keyboard_and_escape_dismisses(
    harness: Harness, qtbot: QtBot
) -> None:
    harness.show(make_toast(rule="first"))
    newest = harness.show(make_toast(rule="second"))
    assert harness.stack.focus_newest()
    assert not newest.windowFlags() & Qt.WindowType.WindowDoesNotAcceptFocus
    assert newest.isVisible()
    assert newest.focusWidget() is newest.action_buttons["how"]
    assert not newest.timer_running
    QTest.keyClick(newest, Qt.Key.Key_Escape)
    assert harness.posted == [Action(NOW, "second", "dismiss")]


def test_focus_newest_without_toasts_is_false(harness: Harness) -> None:
    assert harness.stack.focus_newest() is False


def _area() -> QRect:
    screen = QGuiApplication.primaryScreen()
    assert isinstance(screen, QScreen)
    return screen.availableGeometry()


@pytest.mark.parametrize("corner", ["bottom-right", "bottom-left", "top-right", "top-left"])
def test_toasts_stack_from_the_chosen_corner(harness: Harness, corner: str) -> None:
    harness.corner = corner
    older = harness.show(make_toast(rule="a"))
    newer = harness.show(make_toast(rule="b"))
    area, g_old, g_new = _area(), older.geometry(), newer.geometry()
    if corner.endswith("right"):
        assert g_new.right() == area.right() - MARGIN
    else:
        assert g_new.left() == area.left() + MARGIN
    assert g_old.left() == g_new.left()
    if corner.startswith("bottom"):
        assert g_new.bottom() == area.bottom() - MARGIN
        assert g_old.bottom() == g_new.top() - GAP - 1
    else:
        assert g_new.top() == area.top() + MARGIN
        assert g_old.top() == g_new.bottom() + GAP + 1


def test_closing_a_toast_restacks_the_rest(harness: Harness) -> None:
    older = harness.show(make_toast(rule="a"))
    newer = harness.show(make_toast(rule="b"))
    newer.got_it_button.click()
    assert older.geometry().bottom() == _area().bottom() - MARGIN


def test_italian_setting_picks_the_pack_italian_texts_and_ui_strings(harness: Harness) -> None:
    harness.lang = "it"
    toast = harness.show()
    assert toast.title_label.text() == "Condividi un link"
    assert toast.action_buttons["how"].text() == "Mostrami come"
    assert toast.got_it_button.text() == "Ho capito"
    assert toast.never_button.text() == "Non mostrarlo più"


def test_missing_locale_falls_back_to_the_pack_default(harness: Harness) -> None:
    harness.lang = "it"
    effect = make_toast(title={"de": "Teilen Sie einen Link", "en": "Share a link"},
                        body={"de": "Text"}, default_locale="de")  # fmt: skip
    content = content_for(effect, "it")
    assert content.title == "Teilen Sie einen Link"
    assert content.body == "Text"


def test_pack_texts_come_in_any_language_the_pack_has_with_region_fallback() -> None:
    effect = make_toast(
        title={"en": "Share a link", "de": "Teilen Sie einen Link", "fr-CA": "Partagez un lien"},
        body={"en": "Links keep one version.", "de": "Links behalten eine Version."},
        actions=(ToastAction("how", {"en": "Show me how", "de": "Zeig mir wie"}),),
    )
    swiss = content_for(effect, "en", ["de-CH"])
    assert (swiss.title, swiss.body, swiss.actions[0].label) == (
        "Teilen Sie einen Link", "Links behalten eine Version.", "Zeig mir wie"
    )  # fmt: skip
    assert swiss.lang == "de"
    assert swiss.snooze[0][1] == "1 hour"  # Waymark's own words stay in the UI language
    assert content_for(effect, "en", ["fr-CA"]).title == "Partagez un lien"
    quebec = content_for(effect, "en", ["fr-CA"])
    assert quebec.body == "Links keep one version."  # no fr body: the default locale
    assert content_for(effect, "en", ["es-MX", "de"]).title == "Teilen Sie einen Link"
    assert content_for(effect, "en", ["fr"]).title == "Share a link"  # fr-CA is not fr


def test_a_german_toast_under_an_english_ui(harness: Harness) -> None:
    harness.stack._text_langs = lambda: ("de-AT",)
    toast = harness.show(make_toast(title={"en": "Share", "de": "Teilen"}))
    assert toast.title_label.text() == "Teilen"
    assert toast.got_it_button.text() == "Got it"


def test_buttons_are_laid_out_primary_got_it_secondary_then_later_and_never(
    harness: Harness,
) -> None:
    actions = (
        ToastAction("portal", {"en": "Open the self-service portal"}, "https://it.example"),
        ToastAction("mail", {"en": "Write to the IT help desk"}, "mailto:it@example.com"),
        ToastAction("phone", {"en": "Call"}, None),
    )
    toast = harness.show(make_toast(actions=actions))
    toast.snooze_button.click()  # type: ignore[union-attr]
    buttons = toast.buttons()
    assert [b.text() for b in buttons] == [
        "Open the self-service portal", "Got it", "Write to the IT help desk", "Call",
        "Remind me later ▴", "Don't show this again", "In 1 hour", "In 1 day",
    ]  # fmt: skip
    boxes = [QRect(b.mapTo(toast, QPoint(0, 0)), b.size()) for b in buttons]
    # Reading order is the deliberate order: row by row, left to right.
    rows = [round(r.center().y() / 4) for r in boxes]  # the same row within a few pixels
    assert list(zip(rows, [r.left() for r in boxes], strict=True)) == sorted(
        zip(rows, [r.left() for r in boxes], strict=True)
    )
    assert rows[0] == rows[1]  # primary and Got it share the first row
    assert rows[2] > rows[1]  # secondary actions start their own row
    assert rows[4] > rows[3] and rows[4] == rows[5]
    for button, box in zip(buttons, boxes, strict=True):
        assert box.width() >= button.sizeHint().width(), button.text()  # nothing squeezed
        assert box.left() >= 0 and box.right() < toast.width(), button.text()
    assert toast.action_buttons["portal"].objectName() == "primary"
    assert toast.action_buttons["mail"].objectName() == "secondary"
    assert toast.got_it_button.objectName() == "secondary"


def test_flow_rows_fill_rows_in_order() -> None:
    assert flow_rows([100, 100, 100], 320, 8) == [3]
    assert flow_rows([100, 150, 100], 300, 8) == [2, 1]
    assert flow_rows([400, 50], 300, 8) == [1, 1]
    assert flow_rows([], 300, 8) == []


def test_image_from_the_pack_is_shown_scaled(harness: Harness, tmp_path: Path) -> None:
    image = QImage(800, 400, QImage.Format.Format_RGB32)
    image.fill(Qt.GlobalColor.darkCyan)
    path = tmp_path / "how.png"
    assert image.save(str(path))
    toast = harness.show(make_toast(image=str(path)))
    assert toast.image_label is not None
    pixmap = toast.image_label.pixmap()
    assert 0 < pixmap.width() <= 340 and pixmap.height() <= 170


def test_missing_image_is_left_out(harness: Harness) -> None:
    toast = harness.show(make_toast(image="/nonexistent/x.png"))
    assert toast.image_label is None


@pytest.mark.parametrize("theme", [LIGHT, DARK, HIGH_CONTRAST])
def test_theme_colours_reach_the_toast(harness: Harness, theme: Theme) -> None:
    harness.theme = theme
    toast = harness.show()
    assert theme.background in toast.styleSheet()
    assert toast.title_label.palette().color(toast.title_label.foregroundRole()).name() == (
        theme.text
    )


def test_toast_is_announced_with_its_title(harness: Harness, qtbot: QtBot) -> None:
    with qtbot.waitSignal(harness.stack.shown, timeout=2000) as blocker:
        harness.show()
    window = blocker.args[0]
    assert isinstance(window, ToastWindow)
    assert window.accessibleName() == "Waymark tip: Share a link instead"


@pytest.mark.parametrize(
    ("seconds", "en", "it"),
    [(900, "15 min", "15 min"), (3600, "1 hour", "1 ora"), (7200, "2 hours", "2 ore"),
     (86400, "1 day", "1 giorno"), (172800, "2 days", "2 giorni")],
)  # fmt: skip
def test_duration_labels(seconds: float, en: str, it: str) -> None:
    assert duration_label(seconds, "en") == en
    assert duration_label(seconds, "it") == it


def test_theme_follows_scheme_then_contrast_then_palette(qapp: QApplication) -> None:
    from agent.ui.theme import system_theme, theme_for

    assert theme_for(Qt.ColorScheme.Dark, False, 255) is DARK
    assert theme_for(Qt.ColorScheme.Light, False, 0) is LIGHT
    assert theme_for(Qt.ColorScheme.Dark, True, 0) is HIGH_CONTRAST
    assert theme_for(Qt.ColorScheme.Unknown, False, 30) is DARK
    assert theme_for(Qt.ColorScheme.Unknown, False, 240) is LIGHT
    assert system_theme() in (LIGHT, DARK, HIGH_CONTRAST)


def test_keyboard_moves_between_the_toast_buttons(harness: Harness, qtbot: QtBot) -> None:
    toast = harness.show()
    toast.take_keyboard()
    order = [toast.focusWidget()]
    for _ in range(4):
        toast.focusNextChild()
        order.append(toast.focusWidget())
    expected = [toast.action_buttons["how"], toast.got_it_button, toast.snooze_button,
                toast.never_button, toast.close_button]  # fmt: skip
    assert set(expected) <= set(order)
    toast.got_it_button.setFocus()
    QTest.keyClick(toast.got_it_button, Qt.Key.Key_Space)
    assert harness.posted == [Action(NOW, "share-link", "got-it")]


def test_enter_presses_the_focused_button_and_unfolds_the_snooze_choices(
    harness: Harness,
) -> None:
    toast = harness.show()
    toast.take_keyboard()
    assert toast.snooze_button is not None
    toast.snooze_button.setFocus()
    QTest.keyClick(toast, Qt.Key.Key_Return)
    assert toast.snooze_row is not None and toast.snooze_row.isVisible()
    assert toast.focusWidget() is toast.snooze_choices[0]
    QTest.keyClick(toast, Qt.Key.Key_Tab)
    QTest.keyClick(toast, Qt.Key.Key_Return)
    assert harness.posted == [Action(NOW, "share-link", "snooze", 86400.0)]


@pytest.mark.parametrize("rounded", [True, False])
def test_corners_are_rounded_only_where_they_can_be_transparent(
    qapp: QApplication, rounded: bool
) -> None:
    stack = ToastStack(lambda a: None, corner=lambda: "bottom-right", ui_lang=lambda: "en",
                       theme=lambda: LIGHT, rounded=lambda: rounded)  # fmt: skip
    toast = stack.show_toast(make_toast())
    assert toast.rounded is rounded
    assert toast.testAttribute(Qt.WidgetAttribute.WA_TranslucentBackground) is rounded
    assert ("border-radius: 10px" in toast.styleSheet()) is rounded
    assert f"border: 1px solid {LIGHT.border}" in toast.styleSheet()
    toast.choose("dismiss")


def test_offscreen_cannot_round_corners(qapp: QApplication) -> None:
    from agent.ui.windowing import can_round_corners

    assert can_round_corners() is False  # the tests' offscreen platform
    assert can_round_corners("windows") and can_round_corners("cocoa")
    assert can_round_corners("wayland-egl")
