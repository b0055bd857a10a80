"""Windows focus, title and quiet state through WinEvent hooks (ctypes).

A thread installs ``SetWinEventHook`` for ``EVENT_SYSTEM_FOREGROUND`` (a new
foreground window) and ``EVENT_OBJECT_NAMECHANGE`` (title changes, filtered
to the foreground window), out of context, and runs a message loop; stop()
posts ``WM_QUIT`` to it.  The app is the exe name from
``QueryFullProcessImageNameW``; a process we may not open (elevated, or
protected) is reported as ``<elevated>`` rather than an error.  Quiet state
comes from ``SHQueryUserNotificationState`` at each focus change and on a
5-second timer, because a presentation can start without a focus change.

Decoding is in pure functions tested on every OS; the native calls are thin.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable

from agent.events import Focus
from agent.hooks.base import SourceState, Win32MessageLoopSource
from agent.hooks.quiet import QuietTracker

__all__ = [
    "ELEVATED_APP",
    "WindowsFocusSource",
    "app_from_image_path",
    "quiet_reason_from_quns",
]

EVENT_SYSTEM_FOREGROUND = 0x0003
EVENT_OBJECT_NAMECHANGE = 0x800C
WINEVENT_OUTOFCONTEXT = 0x0000
WINEVENT_SKIPOWNPROCESS = 0x0002
OBJID_WINDOW = 0
CHILDID_SELF = 0
PROCESS_QUERY_LIMITED_INFORMATION = 0x1000
ERROR_ACCESS_DENIED = 5
WM_QUIT = 0x0012
WM_TIMER = 0x0113
QUIET_TIMER_MS = 5000

#: The app reported for a window whose process we may not open.
ELEVATED_APP = "<elevated>"

# SHQueryUserNotificationState results (QUERY_USER_NOTIFICATION_STATE).
QUNS_NOT_PRESENT = 1
QUNS_BUSY = 2
QUNS_RUNNING_D3D_FULL_SCREEN = 3
QUNS_PRESENTATION_MODE = 4
QUNS_ACCEPTS_NOTIFICATIONS = 5
QUNS_QUIET_TIME = 6
QUNS_APP = 7


def app_from_image_path(path: str) -> str:
    r"""``C:\Program Files\...\OUTLOOK.EXE`` → ``outlook.exe``."""
    return path.replace("/", "\\").rsplit("\\", 1)[-1].lower()


def quiet_reason_from_quns(state: int) -> str:
    """Why toasts must wait, from SHQueryUserNotificationState; "" if they need not."""
    if state in (QUNS_BUSY, QUNS_RUNNING_D3D_FULL_SCREEN):
        return "fullscreen"
    if state == QUNS_PRESENTATION_MODE:
        return "presentation"
    return ""


def is_foreground_title_change(event: int, id_object: int, id_child: int) -> bool:
    """True for a NAMECHANGE of a window itself (not of a control inside it)."""
    return (
        event == EVENT_OBJECT_NAMECHANGE
        and id_object == OBJID_WINDOW
        and (id_child == CHILDID_SELF)
    )


class WindowsFocusSource(Win32MessageLoopSource):
    """Emits :class:`Focus` on foreground and title changes, and quiet changes."""

    name = "focus"
    thread_name = "waymark-focus-win"

    def __init__(self) -> None:
        super().__init__()
        self.quiet = QuietTracker()
        self._last: tuple[str, str] | None = None

    def state(self) -> SourceState:
        ok = self.alive()
        return SourceState(self.name, ok, "SetWinEventHook" if ok else self._error or "stopped")

    def _report(self, app: str, title: str, busy: str) -> None:
        emit = self._emit
        if emit is None:
            return
        now = time.time()
        # Quiet first: a focus rule must already see the quiet state of the new window.
        change = self.quiet.update(now, busy)
        if change is not None:
            emit(change)
        if (app, title) != self._last:
            self._last = (app, title)
            emit(Focus(now, app, title))

    if sys.platform == "win32":

        def _run(self) -> None:
            import ctypes
            from ctypes import wintypes

            user32 = ctypes.windll.user32
            kernel32 = ctypes.windll.kernel32

            def read_and_report(hwnd: int) -> None:
                self._report(exe_name_of_window(hwnd), _window_text(hwnd), _quiet_reason())

            def callback(
                hook: int, event: int, hwnd: int, id_object: int, id_child: int,
                thread: int, ms: int,
            ) -> None:  # fmt: skip
                if not hwnd:
                    return
                title_change = is_foreground_title_change(event, id_object, id_child)
                if event == EVENT_SYSTEM_FOREGROUND or (
                    title_change and hwnd == user32.GetForegroundWindow()
                ):
                    read_and_report(hwnd)

            hooks = install_winevent_hooks(
                (EVENT_SYSTEM_FOREGROUND, EVENT_OBJECT_NAMECHANGE), callback
            )
            if hooks is None:
                self._error = f"SetWinEventHook failed (error {kernel32.GetLastError()})"
                self._ready.set()
                return
            self._thread_id = kernel32.GetCurrentThreadId()
            timer = user32.SetTimer(None, 0, QUIET_TIMER_MS, None)
            self._ready.set()
            foreground = user32.GetForegroundWindow()
            if foreground:
                read_and_report(foreground)
            msg = wintypes.MSG()
            try:
                while user32.GetMessageW(ctypes.byref(msg), None, 0, 0) > 0:
                    if msg.message == WM_TIMER:
                        foreground = user32.GetForegroundWindow()
                        if foreground:
                            read_and_report(foreground)
                        continue
                    user32.TranslateMessage(ctypes.byref(msg))
                    user32.DispatchMessageW(ctypes.byref(msg))
            finally:
                user32.KillTimer(None, timer)
                hooks.remove()

    else:

        def _run(self) -> None:
            self._error = "the Windows focus source runs only on Windows"
            self._ready.set()


class WinEventHooks:
    """Out-of-context WinEvent hooks of this thread, and the callback they keep alive."""

    def __init__(self, handles: list[int], proc: object) -> None:
        self.handles = handles
        self._proc = proc  # ctypes frees a callback nobody references

    def remove(self) -> None:
        if sys.platform == "win32":
            import ctypes

            for handle in self.handles:
                ctypes.windll.user32.UnhookWinEvent(handle)
        self.handles = []


if sys.platform == "win32":
    import ctypes
    from ctypes import wintypes

    def install_winevent_hooks(
        events: Iterable[int], callback: Callable[..., None]
    ) -> WinEventHooks | None:
        """``SetWinEventHook`` for each event, out of context, skipping our own process.

        ``callback(hook, event, hwnd, id_object, id_child, thread, ms)`` runs on
        this thread's message loop.  None when the OS refused a hook.
        """
        user32 = ctypes.windll.user32
        proc_type = ctypes.WINFUNCTYPE(
            None, wintypes.HANDLE, wintypes.DWORD, wintypes.HWND, wintypes.LONG,
            wintypes.LONG, wintypes.DWORD, wintypes.DWORD,
        )  # fmt: skip
        user32.SetWinEventHook.restype = wintypes.HANDLE
        proc = proc_type(callback)
        flags = WINEVENT_OUTOFCONTEXT | WINEVENT_SKIPOWNPROCESS
        handles = [user32.SetWinEventHook(ev, ev, 0, proc, 0, 0, flags) for ev in events]
        hooks = WinEventHooks(handles, proc)
        if not all(handles):
            hooks.remove()
            return None
        return hooks

    def exe_name_of_window(hwnd: int) -> str:
        """The exe name of the process that owns ``hwnd`` (no read of that process)."""
        user32, kernel32 = ctypes.windll.user32, ctypes.windll.kernel32
        pid = wintypes.DWORD()
        user32.GetWindowThreadProcessId(hwnd, ctypes.byref(pid))
        kernel32.OpenProcess.restype = wintypes.HANDLE
        handle = kernel32.OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, False, pid.value)
        if not handle:
            # Elevated or protected processes refuse us: that is a state, not an error.
            return ELEVATED_APP if kernel32.GetLastError() == ERROR_ACCESS_DENIED else ""
        try:
            size = wintypes.DWORD(1024)
            buf = ctypes.create_unicode_buffer(size.value)
            if not kernel32.QueryFullProcessImageNameW(handle, 0, buf, ctypes.byref(size)):
                return ELEVATED_APP
            return app_from_image_path(buf.value)
        finally:
            kernel32.CloseHandle(handle)

    def _window_text(hwnd: int) -> str:
        user32 = ctypes.windll.user32
        length = user32.GetWindowTextLengthW(hwnd)
        buf = ctypes.create_unicode_buffer(length + 1)
        user32.GetWindowTextW(hwnd, buf, length + 1)
        return buf.value

    def _quiet_reason() -> str:
        state = ctypes.c_int(0)
        if ctypes.windll.shell32.SHQueryUserNotificationState(ctypes.byref(state)) != 0:
            return ""  # S_OK is 0; on failure we do not claim quiet
        return quiet_reason_from_quns(state.value)
