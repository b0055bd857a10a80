"""Keyboard and mouse input through pynput: chords, named keys, typing ticks, clicks.

pynput opens an X connection when it is imported on Linux, so it is imported
in :meth:`InputSource.start`, never at module import.  The callbacks run on
pynput's hook threads (the OS's low-level hook on Windows, an event tap on
macOS, an X RECORD context on X11) and do only this: a few dict lookups on the
modifier state kept in this object, build one frozen event, ``put_nowait`` it.
No logging, no locks, no I/O there: a slow Windows hook is silently removed by
the OS and a slow macOS tap is disabled.

Typed characters never leave the callback: a character key without
Ctrl/Alt/Cmd/Win becomes at most one anonymous :class:`~agent.events.Typing`
tick per ``typing_interval`` seconds, and a click is reported by button only.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, Final, Literal

from agent.events import Chord, Click, Typing
from agent.hooks.base import Emit, SourceState
from agent.hooks.keys import (
    ALTGR,
    CHORD_MODS,
    char_key_name,
    chord_for,
    modifier_bits,
    named_key,
    named_vk,
)

__all__ = ["InputSource", "end_listener", "hook_looks_dead"]

_BUTTONS = {"left": "left", "right": "right", "middle": "middle"}


class InputSource:
    """Global keyboard and mouse listener (pynput) feeding an :class:`Emit`.

    ``system_idle`` (optional) returns the OS's seconds since the last input;
    :meth:`alive` compares it with the last event this hook saw, to notice a
    hook the OS removed without telling anyone (Windows LowLevelHooksTimeout,
    a macOS tap disabled by timeout).
    """

    name = "input"

    def __init__(
        self,
        *,
        platform: str = sys.platform,
        typing_interval: float = 1.0,
        system_idle: Callable[[], float | None] | None = None,
        dead_after: float = 10.0,
        display: str | None = None,
    ) -> None:
        self._platform = platform
        self._display = display
        self._typing_interval = typing_interval
        self._system_idle = system_idle
        self._dead_after = dead_after
        self._emit: Emit | None = None
        self._keyboard: Any = None
        self._mouse: Any = None
        self._detail = "not started"
        self._live = False
        self._mods = 0
        self._last_typing = 0.0
        self._last_seen = time.monotonic()
        self._key_type: type | None = None
        self._mod_of: dict[Any, int] = {}
        self._named_of: dict[Any, str] = {}
        self._button_of: dict[Any, str] = {}
        self._named_vk: dict[int, str] = {}
        self._chords: dict[tuple[int, str, bool], str | None] = {}
        self._activating: frozenset[Any] = frozenset()
        #: Told of a left click or of Enter/Space (the accessibility source's ``poke``,
        #: which returns at once); never given a key's character or a position.
        self.on_activate: Callable[[Literal["click", "key"]], None] | None = None

    # -- lifecycle ---------------------------------------------------------------

    def start(self, emit: Emit) -> None:
        """Install the keyboard and mouse hooks; returns once both are live."""
        if self._display and self._platform not in ("win32", "darwin"):
            os.environ["DISPLAY"] = self._display  # pynput's X backend reads only $DISPLAY
        try:
            from pynput import keyboard, mouse
        except ImportError as exc:  # pynput raises ImportError when it cannot reach the display
            self._detail = f"input hook unavailable: {str(exc).splitlines()[0]}"
            raise RuntimeError(self._detail) from exc
        self.bind(keyboard.Key, mouse.Button, emit)
        self._keyboard = keyboard.Listener(on_press=self.on_press, on_release=self.on_release)
        self._mouse = mouse.Listener(on_click=self.on_click, on_move=self.on_move)
        self._keyboard.daemon = True
        self._mouse.daemon = True
        recording = [_recording_started(self._keyboard), _recording_started(self._mouse)]
        self._keyboard.start()
        self._mouse.start()
        if not (_wait_ready(self._keyboard) and _wait_ready(self._mouse)):
            self.stop()
            self._detail = "input hook did not start (the OS refused the listener)"
            raise RuntimeError(self._detail)
        for started in recording:
            if started is not None:
                started.wait(5.0)
        self._last_seen = time.monotonic()
        self._detail = "keyboard and mouse hooks installed"
        self._live = True  # only now: a watchdog or test seeing alive() can rely on it

    def bind(self, key_cls: Any, button_cls: Any, emit: Emit) -> None:
        """Build the lookup tables from pynput's ``Key`` and ``Button`` enums.

        Separate from :meth:`start` so that tests and the bench can drive the
        callbacks with synthetic keys and no installed hook.
        """
        self._key_type = key_cls
        bits = modifier_bits(self._platform)
        self._mod_of = {key_cls[n]: b for n, b in bits.items() if n in key_cls.__members__}
        self._named_of = {}
        for member in key_cls:
            name = named_key(member.name)
            if name is not None:
                self._named_of[member] = name
        self._button_of = {
            b: _BUTTONS.get(b.name, "other") for b in button_cls if b.name != "unknown"
        }
        self._named_vk = named_vk(self._platform)
        self._activating = frozenset(k for k, n in self._named_of.items() if n in _ACTIVATING_KEYS)
        self._chords = {}
        self._emit = emit
        self._mods = 0

    def stop(self) -> None:
        """Remove both hooks and join their threads."""
        self._live = False
        for listener in (self._keyboard, self._mouse):
            if listener is not None:
                end_listener(listener)
        for listener in (self._keyboard, self._mouse):
            if listener is not None and listener is not threading.current_thread():
                listener.join(2.0)
        self._keyboard = self._mouse = None

    def alive(self) -> bool:
        """False if a listener thread ended or the OS silently dropped the hook."""
        kb, ms = self._keyboard, self._mouse
        if not self._live or kb is None or ms is None or not kb.is_alive() or not ms.is_alive():
            return False
        if self._system_idle is not None:
            idle = self._system_idle()
            if idle is not None and hook_looks_dead(
                idle, time.monotonic() - self._last_seen, self._dead_after
            ):
                return False
        return True

    def state(self) -> SourceState:
        return SourceState(self.name, self._keyboard is not None and self.alive(), self._detail)

    # -- hook callbacks: hand off only (public so tests and the bench can drive them) --

    def on_press(self, key: Any, injected: bool = False) -> None:
        self._last_seen = time.monotonic()
        if key is None:
            return
        if key in self._activating and self.on_activate is not None:
            self.on_activate("key")  # Enter/Space press a focused button, even as typing
        if key.__class__ is self._key_type:
            bit = self._mod_of.get(key)
            if bit is not None:
                self._mods |= bit
                return
            name = self._named_of.get(key)
            if name is None:
                return  # media keys, num lock …: neither typing nor a chord
            named = True
        elif key.vk in self._named_vk:
            name = self._named_vk[key.vk]
            named = True
        else:
            mods = self._mods
            if not mods & CHORD_MODS or mods & ALTGR:
                self._typing()
                return
            name = char_key_name(key.char, key.vk, self._platform)
            if name is None:
                self._typing()
                return
            named = False
        cache_key = (self._mods, name, named)
        try:
            chord = self._chords[cache_key]
        except KeyError:
            chord = self._chords[cache_key] = chord_for(self._mods, name, named)
        if chord is None:
            self._typing()
        elif self._emit is not None:
            self._emit(Chord(time.time(), chord))

    def on_release(self, key: Any, injected: bool = False) -> None:
        if key is not None and key.__class__ is self._key_type:
            bit = self._mod_of.get(key)
            if bit is not None:
                self._mods &= ~bit

    def on_click(self, x: int, y: int, button: Any, pressed: bool, injected: bool = False) -> None:
        self._last_seen = time.monotonic()
        if pressed and self._emit is not None:
            which = self._button_of.get(button, "other")
            self._emit(Click(time.time(), which))  # type: ignore[arg-type]
            if which == "left" and self.on_activate is not None:
                self.on_activate("click")

    def on_move(self, x: int, y: int, injected: bool = False) -> None:
        # Only proof of life for the watchdog; the position is dropped here.
        self._last_seen = time.monotonic()

    def _typing(self) -> None:
        now = time.time()
        if now - self._last_typing >= self._typing_interval and self._emit is not None:
            self._last_typing = now
            self._emit(Typing(now))


#: Keys that press the focused button or menu item.
_ACTIVATING_KEYS: Final = frozenset({"enter", "space"})


def _wait_ready(listener: Any, timeout: float = 5.0) -> bool:
    """Wait until ``listener`` is live; False if its thread died or it took too long.

    pynput's own ``wait()`` blocks forever when the thread fails before it is
    ready (for example when the X display cannot be opened).
    """
    ready = getattr(listener, "_ready_event", None)
    if ready is None:
        listener.wait()
        return bool(listener.is_alive())
    deadline = time.monotonic() + timeout
    while not ready.wait(0.05):
        if not listener.is_alive() or time.monotonic() > deadline:
            return False
    return bool(listener.is_alive())


def _recording_started(listener: Any) -> threading.Event | None:
    """On X11, an event set once the listener's RECORD context really records.

    pynput marks an X11 listener ready just *before* it enables its RECORD
    context, so keys pressed in that gap are lost (seen: a key sent right after
    a watchdog restart went missing).  The X server answers the enable with a
    StartOfData reply, which reaches the listener's handler first: wrapping the
    handler tells when recording has begun.  None on other platforms.
    """
    if not type(listener).__module__.endswith("xorg") or not hasattr(listener, "_handler"):
        return None
    started = threading.Event()
    handler = listener._handler

    def handle(events: Any) -> Any:
        started.set()
        return handler(events)

    listener._handler = handle
    return started


def end_listener(listener: Any) -> None:
    """Stop a pynput listener so that its thread really ends.

    On X11 pynput's stop() only takes effect at the next recorded event (its
    RecordDisableContext goes out on the blocked data connection, unflushed),
    so an idle desktop would keep the thread alive.  Disabling the context on
    pynput's control connection and flushing ends it at once.
    """
    listener.stop()
    control = getattr(listener, "_display_stop", None)
    context = getattr(listener, "_context", None)
    if control is not None and context is not None:
        try:
            control.record_disable_context(context)
            control.flush()
        except Exception:  # the connection may already be gone: then the thread ends anyway
            pass


def hook_looks_dead(system_idle: float, since_seen: float, dead_after: float) -> bool:
    """True when the OS saw input recently but the hook has not for ``dead_after`` s.

    ``system_idle`` is the OS's seconds since the last input (GetLastInputInfo,
    CGEventSourceSecondsSinceLastEventType); ``since_seen`` is the seconds since
    the hook's last callback.
    """
    return system_idle < 1.0 and since_seen - system_idle > dead_after
