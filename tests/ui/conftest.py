"""UI tests run Qt offscreen (a ``-platform`` argument for pytest-qt's
QApplication, so no environment variable leaks into other tests' processes);
tests that need a real X server start the UI in a subprocess on that display."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication

from tests.ui.fakes import FakeCore


@pytest.fixture(scope="session")
def qapp_args() -> list[str]:
    return ["waymark-ui-tests", "-platform", "offscreen"]


# The offscreen platform plugin has no window stacking or activation; these
# exact notices are its limits, not ours (the X11 tests cover the real thing).
OFFSCREEN_LIMITS = (
    r"^This plugin does not support raise\(\)$",
    r"^This plugin does not support propagateSizeHints\(\)$",
    r"^This plugin does not support setParent!?$",
    r"^QWidget::activateWindow: .*",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/ui/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.qt_log_ignore(*OFFSCREEN_LIMITS))


@pytest.fixture
def core(data_dir: Path, qapp: QApplication) -> Iterator[FakeCore]:
    qapp.setQuitOnLastWindowClosed(False)
    fake = FakeCore(data_dir)
    yield fake
    fake.close()


@pytest.fixture
def managed_core(data_dir: Path, qapp: QApplication) -> Iterator[FakeCore]:
    """Policy sets the position, quiet hours and forbids Quit; org is Example Corp."""
    qapp.setQuitOnLastWindowClosed(False)
    fake = FakeCore(
        data_dir,
        {
            "organisation": "Example Corp",
            "toast_position": "top-left",
            "quiet_hours": "12:00-13:00",
            "allow_quit": False,
        },
    )
    yield fake
    fake.close()
