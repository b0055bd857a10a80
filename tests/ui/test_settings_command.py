"""`waymark settings`: forwards to a running agent, or opens the window on its own."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from agent.cli import main
from agent.ui.desktop import SingleInstance
from agent.ui.settings_window import SettingsWindow
from agent.ui.standalone import StandaloneCore


@pytest.fixture
def unique_instance(monkeypatch: pytest.MonkeyPatch) -> str:
    name = f"waymark-test-{uuid.uuid4().hex[:8]}"
    monkeypatch.setattr("agent.ui.desktop.instance_name", lambda user=None: name)
    monkeypatch.setenv("DISPLAY", ":999")  # has_display(); Qt itself runs offscreen
    return name


def test_with_a_running_agent_it_asks_that_one(
    unique_instance: str, data_dir: Path, qtbot: QtBot, qapp: QApplication
) -> None:
    instance = SingleInstance(unique_instance)
    assert instance.listen()
    got: list[str] = []
    instance.message_received.connect(got.append)
    assert main(["settings", "--page", "privacy"]) == 0
    qtbot.waitUntil(lambda: bool(got), timeout=3000)
    assert got == ["show-settings:privacy"]
    instance.close()


def test_without_an_agent_it_opens_the_window_and_returns_when_closed(
    unique_instance: str, data_dir: Path, qapp: QApplication
) -> None:
    seen: list[str] = []

    def close_it() -> None:
        for widget in qapp.topLevelWidgets():
            if isinstance(widget, SettingsWindow) and widget.isVisible():
                seen.append(widget.current_page())
                widget.close()

    QTimer.singleShot(300, close_it)
    assert main(["settings", "--page", "about"]) == 0
    assert seen == ["consent"]  # first run: consent comes first
    for widget in qapp.topLevelWidgets():
        if isinstance(widget, SettingsWindow):
            widget.deleteLater()


def test_without_a_display_it_says_so(monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr("sys.platform", "linux")
    assert main(["settings"]) == 1
    assert "no display" in capsys.readouterr().err


def test_standalone_core_writes_pauses_for_the_agent(data_dir: Path) -> None:
    from agent.events import Pause

    core = StandaloneCore(data_dir, platform="linux")
    core.post(Pause(1.0, 4_000_000_000.0))
    assert core.settings.get("paused_until") == 4_000_000_000.0
    core.reset_never()  # no state yet: nothing to do, no error
    assert core.pack_info() is None and core.source_states() == []
    core.close()
