"""Shared fixtures: each test gets its own data folder and, when asked, its own X server."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers.logfail import log_fail
from tests.xserver import XServer, running_xserver

__all__ = ["agent_logging", "data_dir", "log_fail", "secret_service", "xserver"]


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh Waymark data folder (WAYMARK_DATA_DIR) for this test only."""
    folder = tmp_path / "waymark-data"
    folder.mkdir()
    monkeypatch.setenv("WAYMARK_DATA_DIR", str(folder))
    return folder


@pytest.fixture
def agent_logging() -> Iterator[Callable[[Path], Path]]:
    """The agent's own logging (agent.logs.setup_logging) into a folder; returns agent.log.

    Its handlers are removed and closed after the test."""
    from agent.logs import setup_logging

    root = logging.getLogger()
    level = root.level
    yield setup_logging
    for handler in list(root.handlers):
        if getattr(handler, "_waymark", False):
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)


@pytest.fixture
def xserver() -> Iterator[XServer]:
    """A real Xvfb + openbox display for this test only."""
    with running_xserver() as server:
        yield server


@pytest.fixture
def secret_service(tmp_path: Path) -> Iterator[dict[str, str]]:
    """Environment variables whose session bus has an unlocked GNOME Keyring."""
    from tests.secret_service import secret_service as running

    with running(tmp_path / "keyring") as env:
        yield env
