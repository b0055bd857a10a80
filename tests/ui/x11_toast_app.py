"""A tiny UI process for the real-X11 tests: shows toasts with the xcb platform.

Reads commands on stdin, one a line, and answers one line on stdout:
``toast`` → shows a toast, answers ``shown <window id>`` once it is painted;
``toast-actions`` → the same with three pack buttons;
``window`` → shows an ordinary window (a control: that one does take focus);
``focus`` → gives the newest toast the keyboard (the tray's "Go to the newest tip");
``where NAME`` → ``{"x": …, "y": …, "w": …, "h": …}``, the screen rectangle of a
control of the newest toast (``toast`` itself, ``got-it``, ``snooze``, ``snooze-0``, ``never``,
``action-<id>``), or ``{}`` when it is not on screen;
``visible NAME`` → ``yes`` when the screen shows that control where it is (nothing
covers it), else ``no``;
``state`` → ``{"hovered": …, "snooze_open": …, "toasts": …, "focus": …}``;
``posted`` → the choices posted so far, ``[[action, snooze_for], …]``;
``grab FILE`` → saves the screen around the newest toast to FILE and answers
``{"x": …, "y": …, "w": …, "h": …, "border": …}``, the toast's rectangle in it;
``settings DIR`` → opens the settings window over a FakeCore in DIR (apps
``zoom`` and ``thunderbird`` recently in front, the test pack running) and answers
``settings``; ``swhere NAME`` → the screen rectangle of ``add-app``,
``remove-app``, ``app-row-N``, ``privacy-link``, ``tab-N`` or ``menu:TEXT`` (an
item of the open menu), or ``{}``; ``svalue KEY`` → the setting as JSON;
``spage`` → the page shown; ``screenshot FILE`` → the whole screen to FILE;
``quit``.
"""

from __future__ import annotations

import json
import os
import sys

os.environ["QT_QPA_PLATFORM"] = "xcb"

from pathlib import Path

from PySide6.QtCore import QObject, QPoint, QRect, QSocketNotifier, Signal
from PySide6.QtGui import QGuiApplication, QImage
from PySide6.QtWidgets import QApplication, QLabel, QMenu, QWidget

import agent.ui  # noqa: F401  (applies the PySide refcount guard)
from agent.events import Action
from agent.rules.model import ToastAction
from agent.ui.settings_window import AppListEditor, SettingsWindow
from agent.ui.theme import LIGHT
from agent.ui.toast import ToastStack, ToastWindow
from tests.ui.fakes import FakeCore, make_pack, make_toast

MARGIN = 6


class Commands(QObject):
    line = Signal(str)

    def __init__(self) -> None:
        super().__init__()
        self._notifier = QSocketNotifier(sys.stdin.fileno(), QSocketNotifier.Type.Read, self)
        self._notifier.activated.connect(self._read)

    def _read(self) -> None:
        text = sys.stdin.readline()
        self.line.emit(text.strip() if text else "quit")


def control(window: ToastWindow, name: str) -> QWidget | None:
    if name == "toast":
        return window
    if name == "got-it":
        return window.got_it_button
    if name == "never":
        return window.never_button
    if name == "snooze":
        return window.snooze_button
    if name.startswith("snooze-"):
        index = int(name.removeprefix("snooze-"))
        choices = getattr(window, "snooze_choices", [])
        return choices[index] if index < len(choices) else None
    if name.startswith("action-"):
        return window.action_buttons.get(name.removeprefix("action-"))
    return None


def settings_rect(window: SettingsWindow, name: str) -> QRect | None:
    """The screen rectangle of a named part of the settings window (None: not shown)."""
    editor = window.fields["never_interrupt"].editor
    assert isinstance(editor, AppListEditor)
    if name == "add-app":
        return screen_rect(editor.add_button)
    if name == "remove-app":
        return screen_rect(editor.remove_button)
    if name.startswith("app-row-"):
        item = editor.list.item(int(name.removeprefix("app-row-")))
        if item is None:
            return None
        r = editor.list.visualItemRect(item)
        return QRect(screen_rect(editor.list.viewport()).topLeft() + r.topLeft(), r.size())
    if name == "privacy-link":
        label = window.privacy_link
        if not label.isVisible():
            return None
        r = screen_rect(label)
        width = label.fontMetrics().horizontalAdvance(label.text().split(">")[1].split("<")[0])
        return QRect(r.x(), r.y(), min(width, r.width()), r.height())
    if name.startswith("tab-"):
        bar = window.tabs.tabBar()
        r = bar.tabRect(int(name.removeprefix("tab-")))
        return QRect(screen_rect(bar).topLeft() + r.topLeft(), r.size())
    if name.startswith("menu:"):
        menu = QApplication.activePopupWidget()
        if not isinstance(menu, QMenu):
            return None
        for action in menu.actions():
            if action.text() == name.removeprefix("menu:"):
                r = menu.actionGeometry(action)
                return QRect(screen_rect(menu).topLeft() + r.topLeft(), r.size())
    return None


def true_origin(window: QWidget) -> QPoint:
    """Where the X server has ``window`` (Qt's own idea lags behind openbox's moves)."""
    from Xlib import display as xdisplay

    conn = xdisplay.Display()
    try:
        xwin = conn.create_resource_object("window", int(window.winId()))
        place = xwin.translate_coords(conn.screen().root, 0, 0)
        return QPoint(-place.x, -place.y)
    finally:
        conn.close()


def screen_rect(widget: QWidget) -> QRect:
    top = widget.window()
    return QRect(true_origin(top) + widget.mapTo(top, QPoint(0, 0)), widget.size())


def shows_itself(widget: QWidget) -> bool:
    """Whether the screen, where ``widget`` is, shows ``widget`` (and not something above it)."""
    screen = QGuiApplication.primaryScreen()
    rect = screen_rect(widget)
    on_screen = screen.grabWindow(0, rect.x(), rect.y(), rect.width(), rect.height()).toImage()
    top = widget.window()
    inside = QRect(widget.mapTo(top, QPoint(0, 0)), widget.size())
    own = top.grab(inside).toImage().convertToFormat(on_screen.format())
    if own.size() != on_screen.size():
        return False
    same = sum(
        on_screen.pixel(x, y) == own.pixel(x, y)
        for x in range(0, rect.width(), 2)
        for y in range(0, rect.height(), 2)
    )
    total = len(range(0, rect.width(), 2)) * len(range(0, rect.height(), 2))
    return same / total > 0.9


def main() -> int:
    app = QApplication(sys.argv[:1])
    app.setQuitOnLastWindowClosed(False)
    posted: list[Action] = []
    opened: list[str] = []
    stack = ToastStack(posted.append, corner=lambda: "bottom-right", ui_lang=lambda: "en",
                       theme=lambda: LIGHT, open_url=opened.append)  # fmt: skip
    keep: list[QLabel] = []
    windows: list[SettingsWindow] = []
    cores: list[FakeCore] = []

    def answer(text: str) -> None:
        print(text, flush=True)

    def show(actions: tuple[ToastAction, ...] | None = None) -> None:
        windows: list[ToastWindow] = []

        def painted() -> None:
            answer(f"shown {int(windows[0].winId())}")

        windows.append(stack.show_toast(make_toast(timeout=0, actions=actions), on_screen=painted))

    def on_command(cmd: str) -> None:
        name, _, arg = cmd.partition(" ")
        newest = stack.newest()
        if name == "toast":
            show()
        elif name == "toast-actions":
            show((ToastAction("portal", {"en": "Open the self-service portal"}, None),
                  ToastAction("mail", {"en": "Write to the IT help desk"}, None),
                  ToastAction("call", {"en": "Call"}, None)))  # fmt: skip
        elif name == "window":
            label = QLabel("an ordinary window")
            label.setWindowTitle("ordinary window")
            label.resize(300, 100)
            label.show()
            keep.append(label)
            answer("window")
        elif name == "focus":
            stack.focus_newest()
            answer("focused")
        elif name in ("where", "visible"):
            widget = control(newest, arg) if newest is not None else None
            if widget is None or not widget.isVisible():
                answer("{}" if name == "where" else "no")
            elif name == "where":
                r = screen_rect(widget)
                answer(json.dumps({"x": r.x(), "y": r.y(), "w": r.width(), "h": r.height()}))
            else:
                answer("yes" if shows_itself(widget) else "no")
        elif name == "state":
            row = getattr(newest, "snooze_row", None) if newest is not None else None
            focus = QApplication.focusWidget()
            answer(json.dumps({
                "hovered": bool(newest is not None and newest.hovered),
                "snooze_open": bool(row is not None and row.isVisible()),
                "toasts": len(stack.toasts),
                "focus": getattr(focus, "text", lambda: None)(),
            }))  # fmt: skip
        elif name == "posted":
            answer(json.dumps([[a.action, a.snooze_for] for a in posted]))
        elif name == "grab" and newest is not None:
            frame = screen_rect(newest)
            area = frame.adjusted(-MARGIN, -MARGIN, MARGIN, MARGIN)
            screen = QGuiApplication.primaryScreen()
            image: QImage = screen.grabWindow(
                0, area.x(), area.y(), area.width(), area.height()
            ).toImage()
            image.save(arg)  # PNG, from the name
            answer(json.dumps({"x": MARGIN, "y": MARGIN, "w": frame.width(),
                               "h": frame.height(), "border": newest.theme.border}))  # fmt: skip
        elif name == "settings":
            core = FakeCore(Path(arg))
            core.settings.set("consent", "declined")
            core.recent = ["zoom", "thunderbird"]
            core.rules_pack = make_pack()
            window = SettingsWindow(core, lang=lambda: "en")
            core.settings.subscribe(window.setting_changed)
            window.resize(760, 620)
            window.show_page("coaching")
            cores.append(core)
            windows.append(window)
            answer("settings")
        elif name == "swhere":
            rect = settings_rect(windows[-1], arg)
            answer(json.dumps({"x": rect.x(), "y": rect.y(), "w": rect.width(),
                               "h": rect.height()} if rect is not None else {}))  # fmt: skip
        elif name == "svalue":
            answer(json.dumps(cores[-1].settings.get(arg)))
        elif name == "spage":
            answer(windows[-1].current_page())
        elif name == "screenshot":
            QGuiApplication.primaryScreen().grabWindow(0).save(arg)
            answer("saved")
        elif name == "quit":
            for core in cores:
                core.close()
            app.quit()
        else:
            answer("?")

    def guarded(cmd: str) -> None:
        try:
            on_command(cmd)
        except Exception as exc:  # answer, so the test fails with the reason
            answer(f"error {type(exc).__name__}: {exc}")

    commands = Commands()
    commands.line.connect(guarded)
    answer("ready")
    return int(app.exec())


if __name__ == "__main__":
    sys.exit(main())
