"""X11 idle time from the MIT-SCREEN-SAVER extension (python-xlib)."""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["open_x11_idle"]


def open_x11_idle(display: str | None = None) -> tuple[Callable[[], float], Callable[[], None]]:
    """Open a connection and return ``(seconds_since_input, close)``.

    Raises RuntimeError when the display or the extension is missing.
    """
    from Xlib import display as xdisplay
    from Xlib import error

    try:
        d = xdisplay.Display(display)
    except (error.DisplayError, error.ConnectionClosedError, OSError) as exc:
        raise RuntimeError(f"cannot open X display {display or ''}: {exc}") from exc
    if not d.has_extension("MIT-SCREEN-SAVER"):
        d.close()
        raise RuntimeError("the X server has no MIT-SCREEN-SAVER extension")
    root = d.screen().root

    def query() -> float:
        return float(root.screensaver_query_info().idle) / 1000.0

    return query, d.close
