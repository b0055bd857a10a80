"""Where Waymark keeps its files on this device.

``WAYMARK_DATA_DIR`` overrides the platformdirs location (tests give each run
its own folder; admins can relocate the data).
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

__all__ = ["data_dir", "log_dir"]


def data_dir() -> Path:
    """The per-user data folder (created on first use)."""
    override = os.environ.get("WAYMARK_DATA_DIR")
    path = Path(override) if override else Path(platformdirs.user_data_dir("Waymark", "Waymark"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def log_dir() -> Path:
    """The per-user log folder (inside the data folder when overridden)."""
    override = os.environ.get("WAYMARK_DATA_DIR")
    path = (
        Path(override) / "logs"
        if override
        else Path(platformdirs.user_log_dir("Waymark", "Waymark"))
    )
    path.mkdir(parents=True, exist_ok=True)
    return path
