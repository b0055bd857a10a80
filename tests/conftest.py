"""Shared fixtures: each test gets its own data folder and, when asked, its own X server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.logfail import log_fail
from tests.xserver import XServer, running_xserver

__all__ = ["data_dir", "log_fail", "secret_service", "xserver"]


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh Waymark data folder (WAYMARK_DATA_DIR) for this test only."""
    folder = tmp_path / "waymark-data"
    folder.mkdir()
    monkeypatch.setenv("WAYMARK_DATA_DIR", str(folder))
    return folder


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
