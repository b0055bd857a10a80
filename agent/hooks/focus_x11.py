"""X11 focus, title and full-screen state, event-driven through python-xlib.

The window manager announces the focused window in ``_NET_ACTIVE_WINDOW`` on
the root window; we listen for ``PropertyNotify`` there and on the active
window (its ``_NET_WM_NAME``/``WM_NAME`` for title changes and
``_NET_WM_STATE`` for full screen).  The thread sleeps in ``select`` on the X
socket and a wake-up pipe: no polling.

A window can vanish between the notification and our read (``BadWindow``):
that read is skipped.  When the connection to the X server is lost the thread
reconnects with backoff (0.5 s doubling to 30 s) and logs once per outage.
"""

from __future__ import annotations

import contextlib
import logging
import select
import threading
import time
from typing import Any

from agent.events import Focus
from agent.hooks.base import Emit, SourceState, WakePipe, join_quietly
from agent.hooks.quiet import QuietTracker

__all__ = ["X11FocusSource", "app_from_wm_class", "decode_title"]

log = logging.getLogger(__name__)


def app_from_wm_class(wm_class: tuple[str, ...] | None) -> str:
    """``WM_CLASS`` (instance, class) → the app identifier: the class, lower-case."""
    if not wm_class:
        return ""
    for part in reversed(wm_class):
        if part:
            return part.lower()
    return ""


def decode_title(value: bytes | str | None) -> str:
    """A title property value → text (UTF-8, undecodable bytes replaced)."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


class X11FocusSource:
    """Emits :class:`Focus` on focus and title changes, and quiet-state changes."""

    name = "focus"

    def __init__(self, display: str | None = None) -> None:
        self._display_name = display
        self.quiet = QuietTracker()
        self._emit: Emit | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._wake = WakePipe()
        self._d: Any = None
        self._atoms: dict[str, int] = {}
        self._active = 0
        self._last: tuple[str, str] | None = None
        self._detail = "not started"
        self._outage_logged = False
        self.reconnects = 0

    # -- lifecycle -----------------------------------------------------------------

    def start(self, emit: Emit) -> None:
        """Connect (raises with a clear message if the display is unreachable) and run."""
        self._emit = emit
        self._stop.clear()
        self._last = None
        self._d = self._connect()  # in the caller: a failure is reported, not retried
        self._wake.open()
        self._thread = threading.Thread(target=self._run, name="waymark-focus-x11", daemon=True)
        self._thread.start()
        self._detail = f"X11 {self._d.get_display_name()}: _NET_ACTIVE_WINDOW events"

    def stop(self) -> None:
        self._stop.set()
        self._wake.wake()
        join_quietly(self._thread)
        self._thread = None
        self._wake.close()

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def state(self) -> SourceState:
        return SourceState(self.name, self.alive(), self._detail)

    # -- X connection --------------------------------------------------------------

    def _connect(self) -> Any:
        from Xlib import X, Xatom, display, error

        try:
            d = display.Display(self._display_name)
        except (error.DisplayError, error.ConnectionClosedError, OSError) as exc:
            raise RuntimeError(f"cannot open X display {self._display_name or ''}: {exc}") from exc
        # Requests without replies report errors asynchronously: a window that
        # vanished is normal here, not worth a traceback on stderr.
        d.set_error_handler(lambda err, request: None)
        self._atoms = {
            name: d.intern_atom(name)
            for name in ("_NET_ACTIVE_WINDOW", "_NET_WM_NAME", "UTF8_STRING", "_NET_WM_STATE",
                         "_NET_WM_STATE_FULLSCREEN")
        }  # fmt: skip
        self._atoms["WM_NAME"] = Xatom.WM_NAME
        self._atoms["ATOM"] = Xatom.ATOM
        d.screen().root.change_attributes(event_mask=X.PropertyChangeMask)
        d.sync()
        self._active = 0
        return d

    def _run(self) -> None:
        from Xlib import error

        backoff = 0.5
        while not self._stop.is_set():
            try:
                if self._d is None:
                    self._d = self._connect()
                    self.reconnects += 1
                    self._detail = f"X11 {self._d.get_display_name()}: reconnected"
                    log.info("focus: X display reconnected")
                    self._outage_logged = False
                backoff = 0.5
                self._loop()
            except (error.ConnectionClosedError, error.DisplayError, OSError, RuntimeError,
                    ValueError) as exc:  # fmt: skip
                if self._stop.is_set():
                    break
                self._detail = f"X display lost ({exc}); reconnecting"
                if not self._outage_logged:  # once per outage, not once per retry
                    log.warning("focus: X display lost (%s); reconnecting with backoff", exc)
                    self._outage_logged = True
            finally:
                self._close_display()
            if self._wait_wake(backoff):
                break
            backoff = min(backoff * 2, 30.0)

    def _close_display(self) -> None:
        d, self._d = self._d, None
        if d is not None:
            with contextlib.suppress(Exception):  # already broken: nothing to release
                d.close()

    def _wait_wake(self, timeout: float) -> bool:
        """Sleep up to ``timeout`` unless stop() wakes us; True if stopping."""
        if self._stop.is_set():
            return True
        select.select([self._wake.r], [], [], timeout)
        return self._stop.is_set()

    def _loop(self) -> None:
        from Xlib import X

        d = self._d
        fd = d.fileno()
        root = d.screen().root
        active_atom = self._atoms["_NET_ACTIVE_WINDOW"]
        title_atoms = (self._atoms["_NET_WM_NAME"], self._atoms["WM_NAME"])
        state_atom = self._atoms["_NET_WM_STATE"]
        self._on_active_changed()
        while not self._stop.is_set():
            while d.pending_events():
                ev = d.next_event()
                if ev.type != X.PropertyNotify:
                    continue
                if ev.window.id == root.id:
                    if ev.atom == active_atom:
                        self._on_active_changed()
                elif ev.window.id == self._active and (
                    ev.atom in title_atoms or ev.atom == state_atom
                ):
                    self._report(self._active)
            readable, _, _ = select.select([fd, self._wake.r], [], [])
            if self._wake.r in readable:
                return

    # -- reading the active window ---------------------------------------------------

    def _on_active_changed(self) -> None:
        from Xlib import X, error

        d = self._d
        root = d.screen().root
        try:
            prop = root.get_full_property(self._atoms["_NET_ACTIVE_WINDOW"], X.AnyPropertyType)
        except error.XError:
            return
        new = int(prop.value[0]) if prop is not None and len(prop.value) else 0
        if new == self._active:
            return
        old, self._active = self._active, new
        if old:
            # Stop following the previous window; it may be gone already (async error ignored).
            d.create_resource_object("window", old).change_attributes(event_mask=X.NoEventMask)
        if new:
            d.create_resource_object("window", new).change_attributes(
                event_mask=X.PropertyChangeMask
            )
            self._report(new)

    def _report(self, wid: int) -> None:
        from Xlib import error

        d = self._d
        win = d.create_resource_object("window", wid)
        try:
            app = app_from_wm_class(win.get_wm_class())
            prop = win.get_full_property(self._atoms["_NET_WM_NAME"], self._atoms["UTF8_STRING"])
            title = decode_title(prop.value if prop is not None else win.get_wm_name())
            state = win.get_full_property(self._atoms["_NET_WM_STATE"], self._atoms["ATOM"])
        except (error.BadWindow, error.BadDrawable, error.BadValue):
            return  # the window closed between the notification and this read
        fullscreen = state is not None and self._atoms["_NET_WM_STATE_FULLSCREEN"] in state.value
        now = time.time()
        emit = self._emit
        if emit is None:
            return
        # Quiet first: a focus rule must already see the quiet state of the new window.
        change = self.quiet.update(now, "fullscreen" if fullscreen else "")
        if change is not None:
            emit(change)
        if (app, title) != self._last:
            self._last = (app, title)
            emit(Focus(now, app, title))
