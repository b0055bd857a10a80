"""macOS focus: ``NSWorkspaceDidActivateApplicationNotification`` (pyobjc).

The app is the bundle identifier of the activated application; the title of
its focused window is read through the Accessibility API when the process is
trusted (otherwise titles are empty and doctor says so).  Notifications are
delivered on an ``NSOperationQueue`` so no run loop of ours is needed.  Title
changes without an app switch and full screen are not observed on macOS
(best effort; docs/hooks.md).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from agent.events import Focus
from agent.hooks.base import Emit, SourceState

__all__ = ["MacFocusSource", "app_from_running_application"]

ACTIVATE = "NSWorkspaceDidActivateApplicationNotification"
APPLICATION_KEY = "NSWorkspaceApplicationKey"


def app_from_running_application(bundle_id: str | None, name: str | None) -> str:
    """The app identifier: the bundle id (lower-case), else the localized name."""
    return (bundle_id or name or "").lower()


def user_info_app(user_info: Mapping[str, Any] | None) -> Any:
    """The NSRunningApplication in a notification's userInfo, or None."""
    if not user_info:
        return None
    return user_info.get(APPLICATION_KEY)


class MacFocusSource:
    """Emits :class:`Focus` when another application becomes active."""

    name = "focus"

    def __init__(self, *, titles: bool = False) -> None:
        self._titles = titles
        self._emit: Emit | None = None
        self._observer: Any = None
        self._center: Any = None
        self._queue: Any = None
        self._detail = "not started"

    def start(self, emit: Emit) -> None:
        try:
            import AppKit
            import Foundation
        except ImportError as exc:
            raise RuntimeError(f"pyobjc AppKit is not installed: {exc}") from exc
        self._emit = emit
        workspace = AppKit.NSWorkspace.sharedWorkspace()
        self._center = workspace.notificationCenter()
        self._queue = Foundation.NSOperationQueue.alloc().init()
        self._observer = self._center.addObserverForName_object_queue_usingBlock_(
            ACTIVATE, None, self._queue, self._on_activate
        )
        self._detail = "NSWorkspace activation notifications" + (
            ", titles through Accessibility" if self._titles else ", no titles (no Accessibility)"
        )
        front = workspace.frontmostApplication()
        if front is not None:
            self._report(front)

    def stop(self) -> None:
        if self._center is not None and self._observer is not None:
            self._center.removeObserver_(self._observer)
        self._observer = None

    def alive(self) -> bool:
        return self._observer is not None

    def state(self) -> SourceState:
        return SourceState(self.name, self.alive(), self._detail)

    def _on_activate(self, notification: Any) -> None:
        running = user_info_app(notification.userInfo())
        if running is not None:
            self._report(running)

    def _report(self, running: Any) -> None:
        app = app_from_running_application(running.bundleIdentifier(), running.localizedName())
        title = _ax_title(int(running.processIdentifier())) if self._titles else ""
        emit = self._emit
        if emit is None:
            return
        emit(Focus(time.time(), app, title))


def _ax_title(pid: int) -> str:
    """The focused window's title of process ``pid`` via Accessibility, or ""."""
    try:
        import ApplicationServices as AS
    except ImportError:
        return ""
    app = AS.AXUIElementCreateApplication(pid)
    err, window = AS.AXUIElementCopyAttributeValue(app, AS.kAXFocusedWindowAttribute, None)
    if err or window is None:
        return ""
    err, title = AS.AXUIElementCopyAttributeValue(window, AS.kAXTitleAttribute, None)
    return str(title) if not err and title is not None else ""
