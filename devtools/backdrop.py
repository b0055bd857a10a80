"""A pretend desktop for the demo, screenshots and benchmark (never used by the agent).

A full-screen window with a wallpaper and a mail window being written, so that
screenshots show a toast where an employee meets it: over the app they work in.
"""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QGuiApplication,
    QLinearGradient,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPen,
)
from PySide6.QtWidgets import QWidget

__all__ = ["DesktopBackdrop"]


class DesktopBackdrop(QWidget):
    """Wallpaper plus a mock "New message" window with a 20 MB attachment."""

    def __init__(self) -> None:
        super().__init__(None, Qt.WindowType.FramelessWindowHint)
        self.setWindowTitle("New message - Mail")

    def show_fullscreen(self) -> None:
        # One pixel short of the screen: a window manager (openbox) treats an
        # undecorated screen-sized window as full screen and stacks it above
        # "always on top" windows, as it should for a real presentation.
        area = QGuiApplication.primaryScreen().geometry()
        area.setHeight(area.height() - 1)
        self.setGeometry(area)
        self.show()

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        w, h = self.width(), self.height()
        wall = QLinearGradient(0, 0, w, h)
        wall.setColorAt(0, QColor("#4b79a1"))
        wall.setColorAt(1, QColor("#283e51"))
        p.fillRect(self.rect(), QBrush(wall))
        # mail window
        win = QRectF(60, 50, w * 0.6, h - 110)
        path = QPainterPath()
        path.addRoundedRect(win, 8, 8)
        p.fillPath(path, QColor("#ffffff"))
        p.fillRect(QRectF(win.left(), win.top(), win.width(), 40), QColor("#0f6cbd"))
        p.setPen(QColor("#ffffff"))
        p.setFont(QFont(self.font().family(), 11, QFont.Weight.DemiBold))
        p.drawText(QRectF(win.left() + 16, win.top(), 400, 40),
                   Qt.AlignmentFlag.AlignVCenter, "New message")  # fmt: skip
        p.setFont(QFont(self.font().family(), 10))
        p.setPen(QColor("#5b6470"))
        y = win.top() + 60
        for label, value in (("To", "finance-team@example.com"),
                             ("Subject", "Q3 budget — final numbers")):  # fmt: skip
            p.setPen(QColor("#5b6470"))
            p.drawText(QRectF(win.left() + 20, y, 80, 24), Qt.AlignmentFlag.AlignVCenter, label)
            p.setPen(QColor("#1a1d21"))
            p.drawText(QRectF(win.left() + 100, y, 500, 24), Qt.AlignmentFlag.AlignVCenter, value)
            p.setPen(QPen(QColor("#e3e7ec")))
            p.drawLine(int(win.left() + 16), int(y + 30), int(win.right() - 16), int(y + 30))
            y += 40
        chip = QRectF(win.left() + 20, y + 4, 230, 40)
        chip_path = QPainterPath()
        chip_path.addRoundedRect(chip, 6, 6)
        p.fillPath(chip_path, QColor("#eef3f9"))
        p.setPen(QColor("#1e7145"))
        p.setFont(QFont(self.font().family(), 10, QFont.Weight.Bold))
        p.drawText(QRectF(chip.left() + 12, chip.top(), 30, 40), Qt.AlignmentFlag.AlignVCenter, "X")
        p.setFont(QFont(self.font().family(), 10))
        p.setPen(QColor("#1a1d21"))
        p.drawText(QRectF(chip.left() + 40, chip.top(), 190, 40), Qt.AlignmentFlag.AlignVCenter,
                   "Q3-budget.xlsx · 20 MB")  # fmt: skip
        p.setPen(QColor("#3b4148"))
        body = ("Hi all,\n\nattached are the final Q3 numbers. Please check your\n"
                "department's lines before Friday.\n\nThanks,\nAna")  # fmt: skip
        p.drawText(QRectF(win.left() + 20, y + 64, win.width() - 40, 200),
                   Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop, body)  # fmt: skip
        p.end()
