"""The one small interface every event source implements.

A source runs its own native loop on its own thread and hands events to
``emit`` (an :class:`Emit`), which never blocks: the running agent passes the
engine runtime's inbox (:class:`agent.rules.runtime.Inbox`), which drops and
counts an event when it is full; :class:`Emitter` does the same over a plain
bounded queue (``waymark doctor``, tests).
"""

from __future__ import annotations

import contextlib
import os
import queue
import sys
import threading
from typing import Any, Protocol

from agent.events import InputEvent

__all__ = [
    "Emit",
    "Emitter",
    "Source",
    "SourceState",
    "ThreadedSource",
    "WakePipe",
    "Win32MessageLoopSource",
    "join_quietly",
]


class Emit(Protocol):
    """Hands an input event on from any thread without blocking; False when it was dropped."""

    def __call__(self, event: InputEvent, /) -> bool: ...


class Emitter:
    """An :class:`Emit` over a bounded :class:`queue.Queue`: a full queue counts a drop."""

    __slots__ = ("_put", "dropped")

    def __init__(self, q: queue.Queue[Any]) -> None:
        self._put = q.put_nowait
        self.dropped = 0

    def __call__(self, event: InputEvent, /) -> bool:
        try:
            self._put(event)
        except queue.Full:
            self.dropped += 1  # counted, never logged from a hook thread
            return False
        return True


class SourceState:
    """What a source reports about itself (for `waymark doctor` and the UI)."""

    __slots__ = ("detail", "name", "ok", "restarts")

    def __init__(self, name: str, ok: bool, detail: str = "", restarts: int = 0) -> None:
        self.name = name
        self.ok = ok
        self.detail = detail
        self.restarts = restarts


class Source(Protocol):
    """Lifecycle: ``start(emit)`` installs the hook and returns once it is live
    (or raises with a clear message); ``stop()`` removes it and joins its thread."""

    name: str

    def start(self, emit: Emit) -> None: ...

    def stop(self) -> None: ...

    def alive(self) -> bool: ...

    def state(self) -> SourceState: ...


class WakePipe:
    """A self-pipe that wakes a thread sleeping in ``select`` (to stop, or for a poke)."""

    __slots__ = ("r", "w")

    def __init__(self) -> None:
        self.r, self.w = -1, -1

    def open(self) -> None:
        self.r, self.w = os.pipe()

    def wake(self) -> None:
        if self.w >= 0:
            with contextlib.suppress(OSError):
                os.write(self.w, b"x")

    def drain(self) -> None:
        if self.r >= 0:
            with contextlib.suppress(OSError):
                os.read(self.r, 4096)

    def close(self) -> None:
        for fd in (self.r, self.w):
            if fd >= 0:
                os.close(fd)
        self.r = self.w = -1


def join_quietly(thread: threading.Thread | None, timeout: float = 2.0) -> None:
    """Join ``thread`` if it exists and is not the current thread."""
    if thread is not None and thread is not threading.current_thread():
        thread.join(timeout)


class ThreadedSource:
    """A source whose native loop runs on its own thread.

    ``start`` launches ``_run`` and waits until it calls ``_ready.set()``; if
    ``_run`` set ``_error`` first, ``start`` raises with that message (the
    espanso init handshake: a hook that cannot install fails fast and clearly).
    """

    name = "source"
    thread_name = "waymark-source"

    def __init__(self) -> None:
        self._emit: Emit | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error = ""

    def start(self, emit: Emit) -> None:
        self._emit = emit
        self._error = ""
        self._ready.clear()
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()
        self._ready.wait(5)
        if self._error:
            join_quietly(self._thread)
            raise RuntimeError(self._error)

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:  # pragma: no cover - every subclass defines it
        raise NotImplementedError


class Win32MessageLoopSource(ThreadedSource):
    """A :class:`ThreadedSource` whose thread runs a Win32 message loop;
    ``stop`` posts WM_QUIT to that thread (``_run`` stores ``_thread_id``)."""

    WM_QUIT = 0x0012

    def __init__(self) -> None:
        super().__init__()
        self._thread_id = 0

    def stop(self) -> None:
        if sys.platform == "win32" and self._thread_id:
            import ctypes

            ctypes.windll.user32.PostThreadMessageW(self._thread_id, self.WM_QUIT, 0, 0)
        join_quietly(self._thread)
        self._thread = None
        self._thread_id = 0

    if sys.platform == "win32":

        def _pump_messages(self) -> None:
            """Mark the thread ready and dispatch its messages until ``stop`` posts WM_QUIT."""
            import ctypes
            from ctypes import wintypes

            user32 = ctypes.windll.user32
            self._thread_id = ctypes.windll.kernel32.GetCurrentThreadId()
            self._ready.set()
            msg = wintypes.MSG()
            while user32.GetMessageW(ctypes.byref(msg), None, 0, 0) > 0:
                user32.TranslateMessage(ctypes.byref(msg))
                user32.DispatchMessageW(ctypes.byref(msg))
