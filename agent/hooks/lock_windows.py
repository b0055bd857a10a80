"""Windows lock/unlock from WTS session notifications (ctypes).

``WTSRegisterSessionNotification`` needs a window: a thread creates a
message-only window (parent ``HWND_MESSAGE``) and runs its message loop;
``WM_WTSSESSION_CHANGE`` with ``WTS_SESSION_LOCK``/``UNLOCK`` becomes
:class:`Lock`/:class:`Unlock`.  stop() posts ``WM_QUIT`` to the thread.
"""

from __future__ import annotations

import sys
import time
from typing import Literal

from agent.events import Lock, Unlock
from agent.hooks.base import SourceState, Win32MessageLoopSource

__all__ = ["WindowsLockSource", "decode_session_change"]

WM_WTSSESSION_CHANGE = 0x02B1
WTS_SESSION_LOCK = 0x7
WTS_SESSION_UNLOCK = 0x8
NOTIFY_FOR_THIS_SESSION = 0
WM_QUIT = 0x0012
HWND_MESSAGE = -3


def decode_session_change(msg: int, wparam: int) -> Literal["lock", "unlock"] | None:
    """A window message → ``lock``, ``unlock`` or None."""
    if msg != WM_WTSSESSION_CHANGE:
        return None
    if wparam == WTS_SESSION_LOCK:
        return "lock"
    if wparam == WTS_SESSION_UNLOCK:
        return "unlock"
    return None


class WindowsLockSource(Win32MessageLoopSource):
    """Emits :class:`Lock` and :class:`Unlock` for this session."""

    name = "lock"
    thread_name = "waymark-lock-win"

    def state(self) -> SourceState:
        ok = self.alive()
        return SourceState(self.name, ok, "WTS session notifications" if ok else self._error)

    def _on_message(self, msg: int, wparam: int) -> None:
        what = decode_session_change(msg, wparam)
        if what is not None and self._emit is not None:
            self._emit(Lock(time.time()) if what == "lock" else Unlock(time.time()))

    if sys.platform == "win32":

        def _run(self) -> None:
            import ctypes
            from ctypes import wintypes

            user32, kernel32 = ctypes.windll.user32, ctypes.windll.kernel32
            wtsapi32 = ctypes.windll.wtsapi32
            lresult = ctypes.c_ssize_t
            wndproc_type = ctypes.WINFUNCTYPE(
                lresult, wintypes.HWND, wintypes.UINT, wintypes.WPARAM, wintypes.LPARAM
            )
            user32.DefWindowProcW.restype = lresult
            user32.DefWindowProcW.argtypes = [
                wintypes.HWND, wintypes.UINT, wintypes.WPARAM, wintypes.LPARAM,
            ]  # fmt: skip

            def wndproc(hwnd: int, msg: int, wparam: int, lparam: int) -> int:
                self._on_message(msg, wparam)
                return int(user32.DefWindowProcW(hwnd, msg, wparam, lparam))

            class WNDCLASSW(ctypes.Structure):  # not in ctypes.wintypes
                _fields_ = [
                    ("style", wintypes.UINT), ("lpfnWndProc", wndproc_type),
                    ("cbClsExtra", ctypes.c_int), ("cbWndExtra", ctypes.c_int),
                    ("hInstance", wintypes.HINSTANCE), ("hIcon", wintypes.HICON),
                    ("hCursor", wintypes.HANDLE), ("hbrBackground", wintypes.HBRUSH),
                    ("lpszMenuName", wintypes.LPCWSTR), ("lpszClassName", wintypes.LPCWSTR),
                ]  # fmt: skip

            proc = wndproc_type(wndproc)  # kept referenced while the window lives
            cls = WNDCLASSW()
            cls.lpfnWndProc = proc
            cls.lpszClassName = "WaymarkLockWatcher"
            cls.hInstance = kernel32.GetModuleHandleW(None)
            user32.RegisterClassW(ctypes.byref(cls))
            user32.CreateWindowExW.restype = wintypes.HWND
            hwnd = user32.CreateWindowExW(
                0, cls.lpszClassName, None, 0, 0, 0, 0, 0,
                wintypes.HWND(HWND_MESSAGE), None, cls.hInstance, None,
            )  # fmt: skip
            if not hwnd or not wtsapi32.WTSRegisterSessionNotification(
                hwnd, NOTIFY_FOR_THIS_SESSION
            ):
                self._error = f"WTSRegisterSessionNotification failed ({kernel32.GetLastError()})"
                self._ready.set()
                return
            try:
                self._pump_messages()
            finally:
                wtsapi32.WTSUnRegisterSessionNotification(hwnd)
                user32.DestroyWindow(hwnd)

    else:

        def _run(self) -> None:
            self._error = "the Windows lock source runs only on Windows"
            self._ready.set()
