"""A tiny UI process for the real-X11 tests: shows toasts with the xcb platform.

Reads commands on stdin, one a line, and answers on stdout:
``toast`` → shows a toast, answers ``shown <window id>`` once it is painted;
``window`` → shows an ordinary window (a control: that one does take focus);
``focus`` → gives the newest toast the keyboard (the tray's "Go to the newest tip");
``quit``.
"""

from __future__ import annotations

import os
import sys

os.environ["QT_QPA_PLATFORM"] = "xcb"

from PySide6.QtCore import QObject, QSocketNotifier, Signal
from PySide6.QtWidgets import QApplication, QLabel

import agent.ui  # noqa: F401  (applies the PySide refcount guard)
from agent.events import Action
from agent.ui.theme import LIGHT
from agent.ui.toast import ToastStack, ToastWindow
from tests.ui.fakes import make_toast


class Commands(QObject):
    line = Signal(str)

    def __init__(self) -> None:
        super().__init__()
        self._notifier = QSocketNotifier(sys.stdin.fileno(), QSocketNotifier.Type.Read, self)
        self._notifier.activated.connect(self._read)

    def _read(self) -> None:
        text = sys.stdin.readline()
        self.line.emit(text.strip() if text else "quit")


def main() -> int:
    app = QApplication(sys.argv[:1])
    app.setQuitOnLastWindowClosed(False)
    posted: list[Action] = []
    stack = ToastStack(posted.append, corner=lambda: "bottom-right", ui_lang=lambda: "en",
                       theme=lambda: LIGHT)  # fmt: skip
    keep: list[QLabel] = []

    def answer(text: str) -> None:
        print(text, flush=True)

    def painted(window: ToastWindow) -> None:
        answer(f"shown {int(window.winId())}")

    def on_command(cmd: str) -> None:
        if cmd == "toast":
            window = stack.show_toast(make_toast(timeout=0))
            window.painted.connect(lambda: painted(window))
        elif cmd == "window":
            label = QLabel("an ordinary window")
            label.setWindowTitle("ordinary window")
            label.resize(300, 100)
            label.show()
            keep.append(label)
            answer("window")
        elif cmd == "focus":
            stack.focus_newest()
            answer("focused")
        elif cmd == "quit":
            app.quit()

    commands = Commands()
    commands.line.connect(on_command)
    answer("ready")
    return int(app.exec())


if __name__ == "__main__":
    sys.exit(main())
