"""Windows element events: WinEvents for the process filter, UI Automation for the reads.

Why this split (and not a UI Automation focus handler alone): a UIA
focus-changed handler with a cache request makes UIA fetch the cached
properties of *every* focused element, in every app, before our code can look
at the process.  A WinEvent hook (``SetWinEventHook`` with
``WINEVENT_OUTOFCONTEXT | WINEVENT_SKIPOWNPROCESS``) instead hands us only a
window handle: the process id comes from ``GetWindowThreadProcessId`` and the
exe name from the process image, neither of which reads the app.  Events of
apps no loaded element rule names stop there.

For a watched app, this thread (COM multithreaded, as NVDA's UIA handler) asks
UI Automation for the element with one cache request (control type,
AutomationId, IsPassword, IsDialog, class name; ``TransactionTimeout`` 250 ms),
and for its name in a second call only when a selector of that role needs it.
Values and text are never read.

Events: ``EVENT_OBJECT_FOCUS`` → focus, ``EVENT_OBJECT_INVOKED`` → invoke (UIA
raises it for the Invoke pattern, so a click and a keyboard press both
count), ``EVENT_SYSTEM_DIALOGSTART`` → window_open, and
``EVENT_SYSTEM_MENUPOPUPSTART`` → menu_open.  Decoding is pure and tested on
every OS; the native calls are thin and run only on Windows
(tests/native/windows/).
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any, Final

from agent.hooks.a11y import SLOW_CALL, AppBackoff, ElementSeen, Inspector, element_event
from agent.hooks.base import SourceState, Win32MessageLoopSource
from agent.rules.elements import ElementEvent
from agent.rules.watchlist import Watchlist

__all__ = [
    "CONTROL_TYPE_ROLES",
    "WINEVENT_ELEMENT_EVENTS",
    "WindowsElementSource",
    "element_event_of_winevent",
    "role_of_control_type",
]

log = logging.getLogger(__name__)

EVENT_SYSTEM_MENUPOPUPSTART: Final = 0x0006
EVENT_SYSTEM_DIALOGSTART: Final = 0x0010
EVENT_OBJECT_FOCUS: Final = 0x8005
EVENT_OBJECT_INVOKED: Final = 0x8013
OBJID_CLIENT: Final = -4

#: WinEvent → Waymark's element event.
WINEVENT_ELEMENT_EVENTS: Final[dict[int, ElementEvent]] = {
    EVENT_OBJECT_FOCUS: "focus",
    EVENT_OBJECT_INVOKED: "invoke",
    EVENT_SYSTEM_DIALOGSTART: "window_open",
    EVENT_SYSTEM_MENUPOPUPSTART: "menu_open",
}

# UIA_*ControlTypeId (UIAutomationClient.h) → Waymark's roles.
CONTROL_TYPE_ROLES: Final = {
    50000: "button", 50031: "button", 50002: "checkbox", 50003: "combo_box", 50004: "edit",
    50005: "link", 50006: "image", 50007: "list_item", 50008: "list", 50009: "menu",
    50010: "menu_bar", 50011: "menu_item", 50013: "radio", 50016: "edit", 50019: "tab",
    50020: "text", 50021: "toolbar", 50024: "tree_item", 50029: "cell", 50030: "document",
    50032: "window",
}  # fmt: skip

# UIA property ids.
UIA_NAME: Final = 30005
UIA_CONTROL_TYPE: Final = 30003
UIA_AUTOMATION_ID: Final = 30011
UIA_CLASS_NAME: Final = 30012
UIA_IS_PASSWORD: Final = 30019
UIA_IS_DIALOG: Final = 30174
#: Win32 dialog windows have this window class.
DIALOG_CLASS: Final = "#32770"


def element_event_of_winevent(event: int) -> ElementEvent | None:
    """The element event a WinEvent stands for (None: not one we listen to)."""
    return WINEVENT_ELEMENT_EVENTS.get(event)


def role_of_control_type(
    control_type: int, *, is_password: bool = False, is_dialog: bool = False, class_name: str = ""
) -> str:
    """Waymark's role for a UIA control type (a password edit is ``password``)."""
    if is_password:
        return "password"
    role = CONTROL_TYPE_ROLES.get(control_type, "other")
    if role == "window" and (is_dialog or class_name == DIALOG_CLASS):
        return "dialog"
    return role


class WindowsElementSource(Win32MessageLoopSource):
    """Emits :class:`~agent.events.Element` for the apps the :class:`Watchlist` names."""

    name = "accessibility"
    thread_name = "waymark-uia"

    def __init__(
        self,
        watchlist: Watchlist,
        *,
        inspector: Inspector | None = None,
        call_timeout: float = SLOW_CALL,
    ) -> None:
        super().__init__()
        self._watchlist = watchlist
        self._inspector = inspector
        self._call_timeout = call_timeout
        self._backoff = AppBackoff()
        self._focused: ElementSeen | None = None
        self._windows: dict[int, tuple[str | None, str | None]] = {}
        self.dropped = 0
        self.app_reads = 0

    def state(self) -> SourceState:
        ok = self.alive()
        how = "WinEvents + UI Automation: focus, invoke, dialog and menu events"
        return SourceState(self.name, ok, how if ok else self._error or "stopped")

    def set_watchlist(self, watchlist: Watchlist) -> None:
        self._watchlist = watchlist

    def poke(self, why: str) -> None:
        """Windows reports invoke itself (EVENT_OBJECT_INVOKED): nothing to do."""

    def _seen(self, uia: Any, cache: Any, event: int, hwnd: int, app: str) -> ElementSeen | None:
        on = element_event_of_winevent(event)
        if on is None:
            return None
        wanted = self._watchlist.roles(app, on)
        if not wanted and not (on == "window_open" and self._watchlist.uses_windows(app)):
            return None
        started = time.monotonic()
        if on == "focus":
            element = uia.GetFocusedElementBuildCache(cache)
        else:
            element = uia.ElementFromHandleBuildCache(hwnd, cache)
        self.app_reads += 1
        role = role_of_control_type(
            int(element.GetCachedPropertyValue(UIA_CONTROL_TYPE) or 0),
            is_password=bool(element.GetCachedPropertyValue(UIA_IS_PASSWORD)),
            is_dialog=bool(element.GetCachedPropertyValue(UIA_IS_DIALOG)),
            class_name=str(element.GetCachedPropertyValue(UIA_CLASS_NAME) or ""),
        )
        if role == "password":
            return None
        name: str | None = None
        window_kind = on == "window_open"
        if (role in wanted and self._watchlist.needs_name(app, on, role)) or window_kind:
            name = str(element.GetCurrentPropertyValue(UIA_NAME) or "") or None
            self.app_reads += 1
        if time.monotonic() - started > self._call_timeout:
            self._backoff.slow(app, time.monotonic() - started)
        automation_id = str(element.GetCachedPropertyValue(UIA_AUTOMATION_ID) or "") or None
        if window_kind:
            self._windows[hwnd] = (role, name)
            return ElementSeen(app, on, role, name, automation_id, role, name)
        window_role, window_title = self._windows.get(hwnd, (None, None))
        return ElementSeen(app, on, role, name, automation_id, window_role, window_title)

    if sys.platform == "win32":

        def _run(self) -> None:
            import ctypes
            from ctypes import wintypes

            import comtypes
            import comtypes.client

            from agent.hooks.focus_windows import exe_name_of_window, install_winevent_hooks

            comtypes.CoInitializeEx(comtypes.COINIT_MULTITHREADED)
            try:
                comtypes.client.GetModule("UIAutomationCore.dll")
                from comtypes.gen import UIAutomationClient as UIA

                uia = comtypes.client.CreateObject(UIA.CUIAutomation8, interface=UIA.IUIAutomation2)
                uia.TransactionTimeout = int(self._call_timeout * 1000)
                uia.ConnectionTimeout = int(self._call_timeout * 1000)
                cache = uia.CreateCacheRequest()
                for prop in (UIA_CONTROL_TYPE, UIA_AUTOMATION_ID, UIA_IS_PASSWORD, UIA_CLASS_NAME,
                             UIA_IS_DIALOG):  # fmt: skip
                    cache.AddProperty(prop)
            except Exception as exc:
                self._error = f"UI Automation is not available: {exc}"
                self._ready.set()
                return
            user32 = ctypes.windll.user32
            kernel32 = ctypes.windll.kernel32
            apps: dict[int, str] = {}

            def callback(
                hook: int, event: int, hwnd: int, id_object: int, id_child: int,
                thread: int, ms: int,
            ) -> None:  # fmt: skip
                if not hwnd:
                    return
                pid = wintypes.DWORD()
                user32.GetWindowThreadProcessId(hwnd, ctypes.byref(pid))
                app = apps.get(pid.value)
                if app is None:
                    app = apps[pid.value] = exe_name_of_window(hwnd)
                    if len(apps) > 1024:
                        apps.clear()
                if not app or not self._watchlist.watches(app) or self._backoff.blocked(app):
                    self.dropped += 1  # before any read of that process
                    return
                try:
                    seen = self._seen(uia, cache, event, hwnd, app)
                except Exception as exc:  # a COM error or timeout of that app
                    self._backoff.slow(app, self._call_timeout)
                    log.debug("accessibility read of %s failed: %s", app, exc)
                    return
                if seen is None:
                    return
                if self._inspector is not None:
                    self._inspector(seen)
                found = element_event(time.time(), seen, self._watchlist)
                if found is not None and self._emit is not None:
                    self._emit(found)

            hooks = install_winevent_hooks(WINEVENT_ELEMENT_EVENTS, callback)
            if hooks is None:
                self._error = f"SetWinEventHook failed (error {kernel32.GetLastError()})"
                self._ready.set()
                return
            try:
                self._pump_messages()
            finally:
                hooks.remove()
                comtypes.CoUninitialize()

    else:

        def _run(self) -> None:
            self._error = "the Windows accessibility source runs only on Windows"
            self._ready.set()
