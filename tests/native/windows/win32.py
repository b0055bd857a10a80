"""Small ctypes helpers for the Windows native tests: a real top-level window, SendInput.

``python -m tests.native.windows.win32 TITLE [BUTTON]`` opens a window with that title
in a process of its own (with a push button labelled BUTTON, which gets the keyboard
focus), brings it to the front, prints ``ready`` and keeps it open until its stdin
closes; a line ``dialog CAPTION`` on stdin opens a message box (a ``#32770`` dialog)
with that caption.  The sources ignore their own process's windows
(WINEVENT_SKIPOWNPROCESS), as they should.
"""

from __future__ import annotations

import ctypes
import subprocess
import sys
import threading
from ctypes import wintypes

assert sys.platform == "win32"

user32 = ctypes.WinDLL("user32", use_last_error=True)
kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)

WNDPROC = ctypes.WINFUNCTYPE(
    ctypes.c_ssize_t, wintypes.HWND, wintypes.UINT, wintypes.WPARAM, wintypes.LPARAM
)
user32.DefWindowProcW.restype = ctypes.c_ssize_t
user32.DefWindowProcW.argtypes = [wintypes.HWND, wintypes.UINT, wintypes.WPARAM, wintypes.LPARAM]
user32.CreateWindowExW.restype = wintypes.HWND
WS_OVERLAPPEDWINDOW = 0x00CF0000
WS_VISIBLE = 0x10000000
WS_CHILD = 0x40000000
WS_TABSTOP = 0x00010000
BS_PUSHBUTTON = 0x00000000
WM_CLOSE, WM_DESTROY, WM_QUIT = 0x0010, 0x0002, 0x0012
SW_SHOW = 5
INPUT_KEYBOARD = 1
KEYEVENTF_KEYUP = 0x0002
VK_CONTROL, VK_SHIFT, VK_MENU = 0x11, 0x10, 0x12


class WNDCLASSW(ctypes.Structure):
    _fields_ = [
        ("style", wintypes.UINT), ("lpfnWndProc", WNDPROC), ("cbClsExtra", ctypes.c_int),
        ("cbWndExtra", ctypes.c_int), ("hInstance", wintypes.HINSTANCE),
        ("hIcon", wintypes.HICON), ("hCursor", wintypes.HANDLE), ("hbrBackground", wintypes.HBRUSH),
        ("lpszMenuName", wintypes.LPCWSTR), ("lpszClassName", wintypes.LPCWSTR),
    ]  # fmt: skip


class KEYBDINPUT(ctypes.Structure):
    _fields_ = [
        ("wVk", wintypes.WORD), ("wScan", wintypes.WORD), ("dwFlags", wintypes.DWORD),
        ("time", wintypes.DWORD), ("dwExtraInfo", ctypes.c_size_t),
    ]  # fmt: skip


class _INPUTUNION(ctypes.Union):
    # MOUSEINPUT is the largest member; padding keeps sizeof(INPUT) right on 64-bit.
    _fields_ = [("ki", KEYBDINPUT), ("pad", ctypes.c_byte * 32)]


class INPUT(ctypes.Structure):
    _fields_ = [("type", wintypes.DWORD), ("u", _INPUTUNION)]


class TestWindow:
    """A top-level window with ``title``, on its own thread with its own message loop."""

    def __init__(self, title: str, button: str = "") -> None:
        self.title = title
        self.button = button
        self.button_hwnd = 0
        self.hwnd = 0
        self._thread_id = 0
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._proc = WNDPROC(self._wndproc)

    def _wndproc(self, hwnd: int, msg: int, wparam: int, lparam: int) -> int:
        if msg == WM_DESTROY:
            user32.PostQuitMessage(0)
            return 0
        return int(user32.DefWindowProcW(hwnd, msg, wparam, lparam))

    def _run(self) -> None:
        self._thread_id = kernel32.GetCurrentThreadId()
        cls = WNDCLASSW()
        cls.lpfnWndProc = self._proc
        cls.hInstance = kernel32.GetModuleHandleW(None)
        cls.lpszClassName = "WaymarkNativeTest"
        user32.RegisterClassW(ctypes.byref(cls))
        self.hwnd = user32.CreateWindowExW(
            0, cls.lpszClassName, self.title, WS_OVERLAPPEDWINDOW | WS_VISIBLE,
            100, 100, 400, 300, None, None, cls.hInstance, None,
        )  # fmt: skip
        if self.button:
            self.button_hwnd = user32.CreateWindowExW(
                0, "BUTTON", self.button, WS_CHILD | WS_VISIBLE | WS_TABSTOP | BS_PUSHBUTTON,
                20, 20, 160, 32, self.hwnd, None, cls.hInstance, None,
            )  # fmt: skip
        self._ready.set()
        msg = wintypes.MSG()
        while user32.GetMessageW(ctypes.byref(msg), None, 0, 0) > 0:
            user32.TranslateMessage(ctypes.byref(msg))
            user32.DispatchMessageW(ctypes.byref(msg))

    def __enter__(self) -> TestWindow:
        self._thread.start()
        assert self._ready.wait(10) and self.hwnd, (
            f"CreateWindowExW failed ({ctypes.get_last_error()})"
        )
        return self

    def bring_to_front(self) -> None:
        """SetForegroundWindow, after an Alt press (Windows lets the last input's owner do it)."""
        tap(VK_MENU)
        user32.ShowWindow(self.hwnd, SW_SHOW)
        user32.SetForegroundWindow(self.hwnd)
        if self.button_hwnd:
            # SetFocus works for the thread that owns the window: attach to it first.
            thread = user32.GetWindowThreadProcessId(self.hwnd, None)
            me = kernel32.GetCurrentThreadId()
            user32.AttachThreadInput(me, thread, True)
            user32.SetFocus(self.button_hwnd)
            user32.AttachThreadInput(me, thread, False)

    def __exit__(self, *exc: object) -> None:
        user32.PostMessageW(self.hwnd, WM_CLOSE, 0, 0)
        self._thread.join(10)


def window_process(title: str, button: str = "") -> subprocess.Popen[str]:
    """A child process showing a window titled ``title`` in front; close its stdin to end it."""
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.native.windows.win32", title, *([button] if button else [])],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert child.stdout is not None
    line = child.stdout.readline()
    assert line.strip() == "ready", f"the window process said {line!r}"
    return child


def send_keys(*events: tuple[int, bool]) -> None:
    """SendInput of (virtual key, down) pairs."""
    inputs = (INPUT * len(events))()
    for i, (vk, down) in enumerate(events):
        inputs[i].type = INPUT_KEYBOARD
        inputs[i].u.ki = KEYBDINPUT(vk, 0, 0 if down else KEYEVENTF_KEYUP, 0, 0)
    sent = user32.SendInput(len(events), inputs, ctypes.sizeof(INPUT))
    assert sent == len(events), (
        f"SendInput sent {sent} of {len(events)} ({ctypes.get_last_error()})"
    )


def tap(vk: int) -> None:
    send_keys((vk, True), (vk, False))


def chord(*vks: int) -> None:
    """Press ``vks`` in order and release them in reverse (ctrl+shift+k)."""
    send_keys(*[(vk, True) for vk in vks], *[(vk, False) for vk in reversed(vks)])


if __name__ == "__main__":
    with TestWindow(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "") as window:
        window.bring_to_front()
        print("ready", flush=True)
        for line in sys.stdin:  # until the test closes our stdin
            if line.startswith("dialog "):
                caption = line[len("dialog ") :].strip()
                threading.Thread(
                    target=user32.MessageBoxW, args=(window.hwnd, "Where to save", caption, 0),
                    daemon=True,
                ).start()  # fmt: skip
