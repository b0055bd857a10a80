"""The Waymark icon at every size, from assets/icons (SVG source, generated PNGs)."""

from __future__ import annotations

import sys
from functools import cache
from pathlib import Path

from PySide6.QtGui import QIcon

__all__ = ["ICON_SIZES", "app_icon", "icons_dir"]

ICON_SIZES = (16, 24, 32, 48, 64, 128, 256)


def icons_dir() -> Path:
    """assets/icons from a checkout or a PyInstaller bundle."""
    bundle = getattr(sys, "_MEIPASS", None)
    root = Path(bundle) if bundle else Path(__file__).resolve().parents[2]
    return root / "assets" / "icons"


@cache
def app_icon(paused: bool = False) -> QIcon:
    """The tray/window icon; every pre-rendered size is added so each DPI stays crisp."""
    name = "waymark-paused" if paused else "waymark"
    icon = QIcon()
    folder = icons_dir()
    for size in ICON_SIZES:
        png = folder / f"{name}-{size}.png"
        if png.is_file():
            icon.addFile(str(png))
    if icon.isNull():
        icon.addFile(str(folder / f"{name}.svg"))
    return icon
