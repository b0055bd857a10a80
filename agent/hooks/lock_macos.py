"""macOS lock/unlock: ``com.apple.screenIsLocked``/``screenIsUnlocked`` (pyobjc).

These distributed notifications are not formally documented but have been
posted by loginwindow for many releases; they are delivered on an
``NSOperationQueue``.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from agent.events import Lock, Unlock
from agent.hooks.base import Emit, SourceState

__all__ = ["LOCKED", "UNLOCKED", "MacLockSource", "decode_lock_notification"]

LOCKED = "com.apple.screenIsLocked"
UNLOCKED = "com.apple.screenIsUnlocked"


def decode_lock_notification(name: str) -> Literal["lock", "unlock"] | None:
    """A distributed notification name → ``lock``, ``unlock`` or None."""
    return {LOCKED: "lock", UNLOCKED: "unlock"}.get(name)  # type: ignore[return-value]


class MacLockSource:
    """Emits :class:`Lock` and :class:`Unlock` from loginwindow's notifications."""

    name = "lock"

    def __init__(self) -> None:
        self._emit: Emit | None = None
        self._center: Any = None
        self._observers: list[Any] = []

    def start(self, emit: Emit) -> None:
        try:
            import Foundation
        except ImportError as exc:
            raise RuntimeError(f"pyobjc Foundation is not installed: {exc}") from exc
        self._emit = emit
        self._center = Foundation.NSDistributedNotificationCenter.defaultCenter()
        queue = Foundation.NSOperationQueue.alloc().init()
        self._observers = [
            self._center.addObserverForName_object_queue_usingBlock_(
                name, None, queue, self._on_notification
            )
            for name in (LOCKED, UNLOCKED)
        ]

    def stop(self) -> None:
        for observer in self._observers:
            self._center.removeObserver_(observer)
        self._observers = []

    def alive(self) -> bool:
        return bool(self._observers)

    def state(self) -> SourceState:
        ok = self.alive()
        return SourceState(self.name, ok, "com.apple.screenIsLocked/Unlocked" if ok else "stopped")

    def _on_notification(self, notification: Any) -> None:
        what = decode_lock_notification(str(notification.name()))
        if what is not None and self._emit is not None:
            self._emit(Lock(time.time()) if what == "lock" else Unlock(time.time()))
