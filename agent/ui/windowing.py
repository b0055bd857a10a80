"""What the window system can do for a toast: transparent (rounded) corners or not.

A frameless window gets rounded corners only if the pixels outside them can be
see-through, which takes a compositor.  Windows (DWM), macOS and Wayland always
composite; on X11 a compositing manager owns the ``_NET_WM_CM_S<screen>``
selection (EWMH), and a plain window manager such as openbox alone does not.
"""

from __future__ import annotations

import time
from typing import Final

from PySide6.QtGui import QGuiApplication

__all__ = ["can_round_corners", "x11_compositing"]

#: Platforms whose window system always composites.
_COMPOSITED: Final = ("windows", "cocoa", "wayland")
_RECHECK_AFTER: Final = 60.0
_cache: dict[str, tuple[float, bool]] = {}


def can_round_corners(platform_name: str | None = None) -> bool:
    """True when a toast may draw rounded corners on a transparent background here."""
    name = platform_name if platform_name is not None else QGuiApplication.platformName()
    if name.startswith(_COMPOSITED):
        return True
    if name != "xcb":
        return False  # offscreen, vnc, minimal …: nothing makes pixels see-through
    now = time.monotonic()
    cached = _cache.get(name)
    if cached is not None and now - cached[0] < _RECHECK_AFTER:
        return cached[1]
    result = x11_compositing()
    _cache[name] = (now, result)
    return result


def x11_compositing(display: str | None = None) -> bool:
    """Whether a compositing manager runs on the X display (``$DISPLAY`` by default)."""
    try:
        from Xlib import X
        from Xlib import display as xdisplay
        from Xlib.error import DisplayError
    except ImportError:
        return False
    try:
        conn = xdisplay.Display(display)
    except (DisplayError, OSError, ValueError):
        return False
    try:
        atom = conn.intern_atom(f"_NET_WM_CM_S{conn.get_default_screen()}")
        owner = conn.get_selection_owner(atom)
        return bool(owner != X.NONE and getattr(owner, "id", owner) != X.NONE)
    except Exception:  # a broken connection: assume no compositor (square corners)
        return False
    finally:
        conn.close()
