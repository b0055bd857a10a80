"""macOS idle time: ``CGEventSourceSecondsSinceLastEventType`` (pyobjc Quartz)."""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["open_macos_idle", "seconds_since_input"]

K_CG_EVENT_SOURCE_STATE_HID_SYSTEM_STATE = 1
K_CG_ANY_INPUT_EVENT_TYPE = 0xFFFFFFFF  # kCGAnyInputEventType is ~0


def seconds_since_input() -> float | None:
    """Seconds since the last keyboard or mouse input, or None without Quartz."""
    try:
        import Quartz
    except ImportError:
        return None
    return float(
        Quartz.CGEventSourceSecondsSinceLastEventType(
            K_CG_EVENT_SOURCE_STATE_HID_SYSTEM_STATE, K_CG_ANY_INPUT_EVENT_TYPE
        )
    )


def open_macos_idle() -> tuple[Callable[[], float], Callable[[], None]]:
    """``(seconds_since_input, close)`` for :class:`~agent.hooks.idle.IdleSource`."""
    if seconds_since_input() is None:
        raise RuntimeError("pyobjc Quartz is not installed")

    def query() -> float:
        return seconds_since_input() or 0.0

    return query, lambda: None
