"""Toasts on a real X server (Xvfb + openbox, no compositor), driven with xdotool:
the snooze choices work with the real mouse and from the keyboard, and the toast
looks finished where its corners cannot be made transparent."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import QApplication

from tests.ui.x11 import UiProcess, click_at, visible_windows
from tests.xserver import XServer, wait_for, xdotool

pytestmark = pytest.mark.x11


def center(rect: dict[str, int]) -> tuple[int, int]:
    return rect["x"] + rect["w"] // 2, rect["y"] + rect["h"] // 2


@pytest.fixture
def ui(xserver: XServer) -> Iterator[UiProcess]:
    process = UiProcess(xserver)
    try:
        yield process
    finally:
        process.stop()


def show_toast(ui: UiProcess, server: XServer, command: str = "toast") -> str:
    answer = ui.send(command)
    assert answer.startswith("shown "), answer
    window = answer.split()[1]
    wait_for(lambda: window in visible_windows(server, "Waymark tip"), 10, "the toast mapped")
    return window


def where(ui: UiProcess, name: str) -> dict[str, int]:
    found: dict[str, int] = wait_for(lambda: ui.ask(f"where {name}") or None, 10, name)
    return found


def state(ui: UiProcess) -> dict[str, Any]:
    answer: dict[str, Any] = ui.ask("state")
    return answer


def test_remind_me_later_unfolds_its_choices_on_a_real_click_and_one_snoozes(
    xserver: XServer, ui: UiProcess
) -> None:
    window = show_toast(ui, xserver)
    x, y = center(where(ui, "snooze"))
    click_at(xserver, x, y, lambda: state(ui)["hovered"])
    wait_for(lambda: state(ui)["snooze_open"], 10, "the snooze choices to unfold")
    # On screen and on top: openbox raises the toast on that click, which hid a popup menu.
    wait_for(lambda: ui.send("visible snooze-0") == "yes", 10, "'In 1 hour' on screen")
    assert ui.ask("posted") == []
    x, y = center(where(ui, "snooze-0"))
    click_at(xserver, x, y)
    wait_for(lambda: ui.ask("posted") == [["snooze", 3600.0]], 10, "the snooze choice")
    wait_for(lambda: window not in visible_windows(xserver, "Waymark tip"), 10, "the toast gone")


def test_the_snooze_choices_work_from_the_keyboard(xserver: XServer, ui: UiProcess) -> None:
    show_toast(ui, xserver)
    assert ui.send("focus") == "focused"  # the tray's "Go to the newest tip"
    wait_for(lambda: state(ui)["focus"] == "Show me how", 10, "the keyboard on the toast")
    xdotool(xserver, "key", "Tab", "Tab")
    wait_for(lambda: str(state(ui)["focus"]).startswith("Remind me later"), 10, "Tab to it")
    xdotool(xserver, "key", "Return")
    wait_for(lambda: state(ui)["focus"] == "In 1 hour", 10, "the first choice focused")
    assert state(ui)["snooze_open"]
    xdotool(xserver, "key", "Tab", "Return")
    wait_for(lambda: ui.ask("posted") == [["snooze", 86400.0]], 10, "'In 1 day' chosen")


def test_without_a_compositor_the_toast_has_square_corners_and_a_1px_border(
    xserver: XServer, ui: UiProcess, tmp_path: Path, qapp: QApplication
) -> None:
    show_toast(ui, xserver)
    path = tmp_path / "toast.png"
    box = ui.ask(f"grab {path}")
    image = QImage(str(path))
    assert not image.isNull()
    border = QColor(box["border"])
    x0, y0, w, h = box["x"], box["y"], box["w"], box["h"]
    edge = [(x, y0) for x in range(x0, x0 + w)] + [(x, y0 + h - 1) for x in range(x0, x0 + w)]
    edge += [(x0, y) for y in range(y0, y0 + h)] + [(x0 + w - 1, y) for y in range(y0, y0 + h)]

    def off(x: int, y: int) -> int:
        c = QColor(image.pixel(x, y))
        return (
            abs(c.red() - border.red())
            + abs(c.green() - border.green())
            + abs(c.blue() - border.blue())
        )

    wrong = [(x, y) for x, y in edge if off(x, y) > 12]
    assert not wrong, f"{len(wrong)} edge pixels are not the border colour, e.g. {wrong[:5]}"
    # Just outside: the desktop, not a sliver of the toast's background.
    inside = QColor(image.pixel(x0 + w // 2, y0 + 2))
    assert QColor(image.pixel(x0 + w // 2, y0 - 2)) != inside


def test_many_buttons_fit_the_toast_in_their_order(xserver: XServer, ui: UiProcess) -> None:
    show_toast(ui, xserver, "toast-actions")
    toast = where(ui, "toast")
    names = ["action-portal", "got-it", "action-mail", "action-call", "snooze", "never"]
    boxes = [where(ui, n) for n in names]
    for name in names:
        assert ui.send(f"visible {name}") == "yes", name
    rows = [round((b["y"] + b["h"] / 2) / 4) for b in boxes]
    assert rows[0] == rows[1] < rows[2] == rows[3] < rows[4] == rows[5]
    assert boxes[0]["x"] < boxes[1]["x"] and boxes[2]["x"] < boxes[3]["x"]
    for name, b in zip(names, boxes, strict=True):
        assert toast["x"] < b["x"] and b["x"] + b["w"] < toast["x"] + toast["w"], name
        assert toast["y"] < b["y"] and b["y"] + b["h"] < toast["y"] + toast["h"], name
