"""macOS element events: an AXObserver on the frontmost app, when an element rule names it.

The source follows ``NSWorkspaceDidActivateApplicationNotification``: the
bundle id of the app that comes to the front is checked against the
:class:`Watchlist` first (no read of that app), and only a watched app gets
an ``AXObserver`` for ``AXFocusedUIElementChanged``, ``AXWindowCreated`` and
``AXMenuOpened``, with ``AXUIElementSetMessagingTimeout`` of 0.25 s so a hung
app cannot stall the thread.  An element's role, subrole and identifier come
in one ``AXUIElementCopyMultipleAttributeValues`` call; its title only when a
selector of that role needs it.  ``AXValue``, selected text and any other
attribute are never read; a secure text field (``AXSecureTextField``) is
skipped.  macOS has no "pressed" notification for other apps' buttons, so
``invoke`` is a left click or Enter/Space (:meth:`MacElementSource.poke`) on
the element that has focus.

Without Accessibility permission the source does not start and says so
(``waymark doctor``, the UI).  Decoding is pure and tested on every OS; the
native calls are thin and run only on macOS (tests/native/macos/).
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from typing import Any, Final

from agent.hooks.a11y import SLOW_CALL, AppBackoff, ElementSeen, Inspector, element_event
from agent.hooks.base import Emit, SourceState, join_quietly
from agent.rules.elements import ElementEvent
from agent.rules.watchlist import Watchlist

__all__ = ["AX_NOTIFICATIONS", "MacElementSource", "role_of_ax"]

log = logging.getLogger(__name__)

#: AX notification → Waymark's element event.
AX_NOTIFICATIONS: Final[dict[str, ElementEvent]] = {
    "AXFocusedUIElementChanged": "focus",
    "AXWindowCreated": "window_open",
    "AXMenuOpened": "menu_open",
}

_AX_ROLES: Final = {
    "AXButton": "button", "AXMenuButton": "button", "AXMenuItem": "menu_item",
    "AXMenu": "menu", "AXMenuBar": "menu_bar", "AXMenuBarItem": "menu_bar",
    "AXWindow": "window", "AXSheet": "dialog", "AXLink": "link", "AXCheckBox": "checkbox",
    "AXRadioButton": "radio", "AXComboBox": "combo_box", "AXPopUpButton": "combo_box",
    "AXToolbar": "toolbar", "AXList": "list", "AXOutline": "list", "AXTable": "list",
    "AXRow": "list_item", "AXCell": "cell", "AXTextField": "edit", "AXTextArea": "edit",
    "AXSearchField": "edit", "AXComboBoxField": "edit", "AXStaticText": "text",
    "AXImage": "image", "AXWebArea": "document", "AXDocument": "document",
    "AXTabGroup": "tab",
}  # fmt: skip
_DIALOG_SUBROLES: Final = frozenset({"AXDialog", "AXSystemDialog", "AXFloatingWindow"})


def role_of_ax(role: str | None, subrole: str | None = None) -> str:
    """Waymark's role for an AXRole/AXSubrole pair (a secure text field is ``password``)."""
    if subrole == "AXSecureTextField" or role == "AXSecureTextField":
        return "password"
    if role == "AXWindow" and subrole in _DIALOG_SUBROLES:
        return "dialog"
    if role == "AXRadioButton" and subrole == "AXTabButton":
        return "tab"
    if role == "AXCheckBox" and subrole == "AXSwitch":
        return "checkbox"
    return _AX_ROLES.get(role or "", "other")


class MacElementSource:
    """Emits :class:`~agent.events.Element` for the frontmost app, if a rule names it."""

    name = "accessibility"

    def __init__(
        self,
        watchlist: Watchlist,
        *,
        inspector: Inspector | None = None,
        call_timeout: float = SLOW_CALL,
    ) -> None:
        self._watchlist = watchlist
        self._inspector = inspector
        self._call_timeout = call_timeout
        self._backoff = AppBackoff()
        self._emit: Emit | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error = ""
        self._loop: Any = None
        self._observer: Any = None
        self._focused: ElementSeen | None = None
        self._window: tuple[str | None, str | None] = (None, None)
        self.dropped = 0
        self.app_reads = 0

    def start(self, emit: Emit) -> None:
        self._emit = emit
        self._ready.clear()
        self._error = ""
        self._thread = threading.Thread(target=self._run, name="waymark-ax", daemon=True)
        self._thread.start()
        self._ready.wait(5)
        if self._error:
            join_quietly(self._thread)
            raise RuntimeError(self._error)

    def stop(self) -> None:
        if sys.platform == "darwin" and self._loop is not None:
            import CoreFoundation

            CoreFoundation.CFRunLoopStop(self._loop)
        join_quietly(self._thread)
        self._thread = None

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def state(self) -> SourceState:
        how = "AXObserver on the frontmost watched app (focus, windows, menus)"
        return SourceState(self.name, self.alive(), how if self.alive() else self._error)

    def set_watchlist(self, watchlist: Watchlist) -> None:
        self._watchlist = watchlist

    def poke(self, why: str) -> None:
        """A left click or Enter/Space: the focused element was pressed."""
        focused = self._focused
        if focused is None or self._emit is None:
            return
        pressed = ElementSeen(focused.app, "invoke", focused.role, focused.name,
                              focused.automation_id, focused.window_role,
                              focused.window_title)  # fmt: skip
        if self._inspector is not None:
            self._inspector(pressed)
        found = element_event(time.time(), pressed, self._watchlist)
        if found is not None:
            self._emit(found)

    def _report(self, seen: ElementSeen) -> None:
        if self._inspector is not None:
            self._inspector(seen)
        if seen.on == "focus":
            self._focused = seen
        elif seen.on == "window_open":
            self._window = (seen.role, seen.name)
        found = element_event(time.time(), seen, self._watchlist)
        if found is not None and self._emit is not None:
            self._emit(found)

    if sys.platform == "darwin":

        def _run(self) -> None:
            try:
                import AppKit
                import ApplicationServices as AS
                import CoreFoundation
            except ImportError as exc:
                self._error = f"pyobjc ApplicationServices is not installed: {exc}"
                self._ready.set()
                return
            if not AS.AXIsProcessTrusted():
                self._error = "missing permission: Accessibility (element rules cannot fire)"
                self._ready.set()
                return
            self._loop = CoreFoundation.CFRunLoopGetCurrent()
            workspace = AppKit.NSWorkspace.sharedWorkspace()
            center = workspace.notificationCenter()

            def read(element: Any, app: str, on: ElementEvent) -> ElementSeen | None:
                started = time.monotonic()
                err, values = AS.AXUIElementCopyMultipleAttributeValues(
                    element, ["AXRole", "AXSubrole", "AXIdentifier"], 0, None
                )
                self.app_reads += 1
                if err != 0 or values is None:
                    return None
                role_ax, subrole, ident = (v if isinstance(v, str) else None for v in values)
                role = role_of_ax(role_ax, subrole)
                if role == "password" or role not in self._watchlist.roles(app, on):
                    return None
                name = None
                if self._watchlist.needs_name(app, on, role) or on == "window_open":
                    err, title = AS.AXUIElementCopyAttributeValue(element, "AXTitle", None)
                    self.app_reads += 1
                    name = title if err == 0 and isinstance(title, str) and title else None
                if time.monotonic() - started > self._call_timeout:
                    self._backoff.slow(app, time.monotonic() - started)
                if on == "window_open":
                    return ElementSeen(app, on, role, name, ident, role, name)
                return ElementSeen(app, on, role, name, ident, *self._window)

            def follow(running: Any) -> None:
                if self._observer is not None:
                    CoreFoundation.CFRunLoopRemoveSource(
                        self._loop, AS.AXObserverGetRunLoopSource(self._observer),
                        CoreFoundation.kCFRunLoopDefaultMode,
                    )  # fmt: skip
                    self._observer = None
                self._focused = None
                app = str(running.bundleIdentifier() or "")
                if not app or not self._watchlist.watches(app) or self._backoff.blocked(app):
                    self.dropped += 1  # before any read of that app
                    return
                pid = int(running.processIdentifier())
                root = AS.AXUIElementCreateApplication(pid)
                AS.AXUIElementSetMessagingTimeout(root, self._call_timeout)

                def on_notification(observer: Any, element: Any, name: str, refcon: Any) -> None:
                    on = AX_NOTIFICATIONS.get(str(name))
                    if on is None or self._backoff.blocked(app):
                        return
                    seen = read(element, app, on)
                    if seen is not None:
                        self._report(seen)

                err, observer = AS.AXObserverCreate(pid, on_notification, None)
                if err != 0:
                    return
                for notification in AX_NOTIFICATIONS:
                    AS.AXObserverAddNotification(observer, root, notification, None)
                CoreFoundation.CFRunLoopAddSource(
                    self._loop, AS.AXObserverGetRunLoopSource(observer),
                    CoreFoundation.kCFRunLoopDefaultMode,
                )  # fmt: skip
                self._observer = observer

            def on_activate(notification: Any) -> None:
                running = notification.userInfo().get("NSWorkspaceApplicationKey")
                if running is not None:
                    follow(running)

            token = center.addObserverForName_object_queue_usingBlock_(
                "NSWorkspaceDidActivateApplicationNotification", None, None, on_activate
            )
            front = workspace.frontmostApplication()
            if front is not None:
                follow(front)
            self._ready.set()
            try:
                CoreFoundation.CFRunLoopRun()
            finally:
                center.removeObserver_(token)

    else:

        def _run(self) -> None:
            self._error = "the macOS accessibility source runs only on macOS"
            self._ready.set()
