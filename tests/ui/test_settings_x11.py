"""The settings window on a real X server, driven with the mouse through xdotool:
the never-interrupt picker adds an app recently in front and removes it, and
About's privacy link opens the Privacy page."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ui.x11 import UiProcess, click_at, visible_windows
from tests.xserver import XServer, wait_for

pytestmark = pytest.mark.x11


@pytest.fixture
def ui(xserver: XServer, tmp_path: Path) -> Iterator[UiProcess]:
    process = UiProcess(xserver)
    try:
        assert process.send(f"settings {tmp_path}") == "settings"
        wait_for(lambda: visible_windows(xserver, "Waymark settings"), 20, "the settings window")
        yield process
    finally:
        process.stop()


def click(server: XServer, ui: UiProcess, name: str) -> None:
    rect = wait_for(lambda: ui.ask(f"swhere {name}") or None, 10, name)
    click_at(server, rect["x"] + min(rect["w"] // 2, 40), rect["y"] + rect["h"] // 2)


def test_the_never_interrupt_picker_adds_an_app_recently_in_front_and_removes_it(
    xserver: XServer, ui: UiProcess
) -> None:
    assert ui.ask("svalue never_interrupt") == []
    click(xserver, ui, "add-app")
    click(xserver, ui, "menu:zoom")  # offered because it was recently in front
    wait_for(lambda: ui.ask("svalue never_interrupt") == ["zoom"], 10, "zoom added")
    click(xserver, ui, "add-app")
    click(xserver, ui, "menu:teams (teams-for-linux)")  # an app the coaching pack knows
    wait_for(lambda: ui.ask("svalue never_interrupt") == ["zoom", "teams"], 10, "teams added")
    click(xserver, ui, "app-row-0")
    click(xserver, ui, "remove-app")
    wait_for(lambda: ui.ask("svalue never_interrupt") == ["teams"], 10, "zoom removed")


def test_abouts_privacy_link_opens_the_privacy_page(xserver: XServer, ui: UiProcess) -> None:
    click(xserver, ui, "tab-2")
    wait_for(lambda: ui.send("spage") == "about", 10, "the About page")
    click(xserver, ui, "privacy-link")
    wait_for(lambda: ui.send("spage") == "privacy", 10, "the Privacy page")
