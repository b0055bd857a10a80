"""Windows idle time: ``GetLastInputInfo`` against ``GetTickCount64`` (ctypes).

``LASTINPUTINFO.dwTime`` is a 32-bit tick count that wraps every 49.7 days,
so the difference is taken modulo 2**32 (:func:`idle_ms_from_ticks`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable

__all__ = ["idle_ms_from_ticks", "open_windows_idle", "seconds_since_input"]


def idle_ms_from_ticks(now_tick64: int, last_input_tick32: int) -> int:
    """Milliseconds since the last input, robust to the 32-bit tick wrap-around."""
    return (now_tick64 - last_input_tick32) & 0xFFFFFFFF


if sys.platform == "win32":
    import ctypes
    from ctypes import wintypes

    class _LASTINPUTINFO(ctypes.Structure):
        _fields_ = [("cbSize", wintypes.UINT), ("dwTime", wintypes.DWORD)]

    def seconds_since_input() -> float | None:
        """Seconds since the last keyboard or mouse input in this session, or None."""
        info = _LASTINPUTINFO()
        info.cbSize = ctypes.sizeof(_LASTINPUTINFO)
        if not ctypes.windll.user32.GetLastInputInfo(ctypes.byref(info)):
            return None
        kernel32 = ctypes.windll.kernel32
        kernel32.GetTickCount64.restype = ctypes.c_ulonglong
        return idle_ms_from_ticks(int(kernel32.GetTickCount64()), int(info.dwTime)) / 1000.0

else:

    def seconds_since_input() -> float | None:
        """Not Windows: no answer."""
        return None


def open_windows_idle() -> tuple[Callable[[], float], Callable[[], None]]:
    """``(seconds_since_input, close)`` for :class:`~agent.hooks.idle.IdleSource`."""
    if seconds_since_input() is None:
        raise RuntimeError("GetLastInputInfo failed")

    def query() -> float:
        return seconds_since_input() or 0.0

    return query, lambda: None
