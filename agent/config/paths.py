"""Where Waymark keeps its files on this device.

``WAYMARK_DATA_DIR`` overrides the platformdirs location (tests give each run
its own folder; admins can relocate the data).  The folders are private to the
person: created 0700 (an existing one is narrowed), and every file in them is
0600 (agent/storage.py).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import platformdirs

from agent.storage import private_dir

__all__ = ["data_dir", "log_dir", "write_atomic"]


def data_dir() -> Path:
    """The per-user data folder (created on first use)."""
    override = os.environ.get("WAYMARK_DATA_DIR")
    path = Path(override) if override else Path(platformdirs.user_data_dir("Waymark", "Waymark"))
    return private_dir(path)


def log_dir() -> Path:
    """The per-user log folder (inside the data folder when overridden)."""
    override = os.environ.get("WAYMARK_DATA_DIR")
    path = (
        Path(override) / "logs"
        if override
        else Path(platformdirs.user_log_dir("Waymark", "Waymark"))
    )
    return private_dir(path)


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that a crash leaves the old file or the new, never half.

    The new file is 0600 (``mkstemp`` creates it so).
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
