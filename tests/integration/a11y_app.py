"""A small Qt app for the accessibility tests: ``python a11y_app.py PROCESS_NAME TITLE``.

It renames its process (``/proc/self/comm``, what the AT-SPI source reads as
the app) and shows a mail-like window: an "Attach File" button, a "Subject"
text field, a "Save As…" button that opens a "Save As" dialog, a "Send"
button and a "More" button that opens a menu.  It prints ``ready`` once the
window is shown; a line ``where NAME`` on stdin (``attach``, ``subject``,
``save_as``, ``send``, ``more``) prints the screen position of that widget's
centre as ``X Y``.  It sets nothing about accessibility itself: Qt turns its
AT-SPI bridge on because the agent set ``org.a11y.Status.IsEnabled``.
"""

from __future__ import annotations

import ctypes
import sys

PR_SET_NAME = 15


def main() -> int:
    name, title = sys.argv[1], sys.argv[2]
    ctypes.CDLL(None).prctl(PR_SET_NAME, name.encode()[:15], 0, 0, 0)
    from PySide6.QtCore import QSocketNotifier
    from PySide6.QtWidgets import (
        QApplication,
        QDialog,
        QLabel,
        QLineEdit,
        QMenu,
        QPushButton,
        QVBoxLayout,
        QWidget,
    )

    app = QApplication(sys.argv[:1])
    window = QWidget()
    window.setWindowTitle(title)
    layout = QVBoxLayout(window)
    attach = QPushButton("Attach File")
    attach.setObjectName("attachButton")
    subject = QLineEdit()
    subject.setAccessibleName("Subject")
    save_as = QPushButton("Save As…")
    send = QPushButton("Send")
    more = QPushButton("More")
    menu = QMenu("Message options", more)
    menu.addAction("Print")
    menu.addAction("Delete")
    more.setMenu(menu)
    for widget in (attach, subject, save_as, send, more):
        layout.addWidget(widget)

    def open_dialog() -> None:
        dialog = QDialog(window)
        dialog.setWindowTitle("Save As")
        QVBoxLayout(dialog).addWidget(QLabel("Where to save"))
        dialog.show()

    save_as.clicked.connect(open_dialog)
    widgets = {"attach": attach, "subject": subject, "save_as": save_as, "send": send, "more": more}

    def answer() -> None:
        line = sys.stdin.readline().split()
        if len(line) == 2 and line[0] == "where" and line[1] in widgets:
            widget = widgets[line[1]]
            centre = widget.mapToGlobal(widget.rect().center())
            print(f"{centre.x()} {centre.y()}", flush=True)

    notifier = QSocketNotifier(sys.stdin.fileno(), QSocketNotifier.Type.Read)
    notifier.activated.connect(answer)
    window.resize(400, 300)
    window.show()
    print("ready", flush=True)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
