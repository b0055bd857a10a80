"""The engine runtime: the engine thread, its inbox, pack swaps and control messages.

Message protocol (one inbox, first in, first out):

* **Input events** (:mod:`agent.events`) come from sources on their own threads
  through :meth:`EngineRuntime.emit`, which never blocks.  When the inbox
  already holds ``input_limit`` input events, a new one is dropped and counted
  (:attr:`EngineRuntime.dropped`); nothing is logged from the caller's thread.
* **Control messages** (:mod:`agent.rules.messages`) come from the wiring, the
  UI and the sync thread through :meth:`EngineRuntime.control`.  They are never
  dropped and keep their place in line, so a :class:`~agent.rules.messages.Barrier`
  is answered only after everything queued before it.
* On the engine thread each input event goes to :meth:`Engine.handle`; every
  effect goes to each listener in the order they were added.  A
  :class:`~agent.rules.messages.UsePackFile` loads that file and swaps it in;
  a broken file keeps the running pack and sets :attr:`pack_errors`.
* Every ``tick`` seconds (also when idle) the engine takes back the toasts the
  UI did not confirm in time (:meth:`Engine.expire_unconfirmed`), then the
  ``add_tick`` callbacks run there (the outbox flushes its buffer this way).
* :meth:`stop` posts :class:`~agent.rules.messages.Stop` and joins the thread.

The engine, listeners and tick callbacks are only ever called on the engine
thread; :attr:`pack`, :attr:`pack_path` and :attr:`pack_errors` are replaced
there as whole values, so another thread reads a consistent one.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final

from agent.events import InputEvent
from agent.rules.effects import Effect
from agent.rules.engine import Engine
from agent.rules.loader import PackError, load_pack
from agent.rules.messages import (
    Barrier,
    ControlMessage,
    Outcome,
    ResetNever,
    SetGroups,
    SetNeverInterrupt,
    SetPause,
    Stop,
    UsePackFile,
)
from agent.rules.model import Pack

__all__ = ["EngineRuntime", "Inbox"]

log = logging.getLogger(__name__)

_CONTROL: Final = (UsePackFile, SetNeverInterrupt, SetGroups, SetPause, ResetNever, Barrier, Stop)


class Inbox:
    """One FIFO for input events (bounded, drops counted) and control messages (never dropped)."""

    __slots__ = ("_inputs", "_lock", "_queue", "dropped", "limit")

    def __init__(self, input_limit: int) -> None:
        self._queue: queue.SimpleQueue[InputEvent | ControlMessage] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._inputs = 0
        self.limit = input_limit
        self.dropped = 0

    def __call__(self, event: InputEvent) -> bool:
        """Queue an input event from any thread; False (and counted) when the inbox is full."""
        with self._lock:
            if self._inputs >= self.limit:
                self.dropped += 1
                return False
            self._inputs += 1
        self._queue.put(event)
        return True

    def put_control(self, message: ControlMessage) -> None:
        self._queue.put(message)

    def get(self, timeout: float) -> InputEvent | ControlMessage | None:
        """The next item, or None after ``timeout`` seconds without one."""
        try:
            item = self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
        if not isinstance(item, _CONTROL):
            with self._lock:
                self._inputs -= 1
        return item


class EngineRuntime:
    """Runs ``engine`` on its own thread; see the module docstring for the protocol.

    ``pack_path`` is the file the running pack came from; ``loader`` reads a
    pack file (the pack format's loader by default); ``tick`` is the period of
    the ``on_tick`` callbacks in seconds; ``input_limit`` bounds the input
    events waiting in the inbox.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        pack_path: Path,
        loader: Callable[[Path], Pack] = load_pack,
        tick: float = 0.25,
        input_limit: int = 10_000,
    ) -> None:
        self.engine = engine
        self._loader = loader
        self._tick = tick
        self._inbox = Inbox(input_limit)
        self._listeners: list[Callable[[Effect], None]] = []
        self._swap_listeners: list[Callable[[Pack], None]] = []
        self._tick_callbacks: list[Callable[[], None]] = []
        self._thread: threading.Thread | None = None
        self.pack: Pack = engine.pack
        self.pack_path = pack_path
        self.pack_errors: tuple[str, ...] = ()

    # -- wiring (before start) ---------------------------------------------------

    @property
    def emit(self) -> Inbox:
        """The door for input events: call it with an event from any thread; never blocks."""
        return self._inbox

    @property
    def dropped(self) -> int:
        """Input events dropped because the inbox was full."""
        return self._inbox.dropped

    def add_effect_listener(self, callback: Callable[[Effect], None]) -> None:
        """``callback`` runs on the engine thread for every effect, in the order added."""
        self._listeners.append(callback)

    def add_swap_listener(self, callback: Callable[[Pack], None]) -> None:
        """``callback`` runs on the engine thread after a new pack is swapped in."""
        self._swap_listeners.append(callback)

    def add_tick(self, callback: Callable[[], None]) -> None:
        """``callback`` runs on the engine thread every ``tick`` seconds."""
        self._tick_callbacks.append(callback)

    # -- messages from any thread ------------------------------------------------

    def control(self, message: ControlMessage) -> None:
        """Queue a control message; never dropped, never blocks."""
        self._inbox.put_control(message)

    def use_pack_file(self, path: Path, origin: str = "file") -> None:
        """Ask the engine thread to run the pack at ``path`` (returns at once)."""
        self.control(UsePackFile(path, origin))

    def run_pack_file(self, path: Path, timeout: float) -> bool | None:
        """Like :meth:`use_pack_file`, then wait: whether the pack now runs (None: no answer)."""
        outcome = Outcome()
        self.control(UsePackFile(path, "file", outcome))
        return outcome.wait(timeout)

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Block until everything queued so far has been handled (tests, scripts)."""
        outcome = Outcome()
        self.control(Barrier(outcome))
        return outcome.wait(timeout) is not None

    # -- lifecycle ---------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="waymark-engine", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Handle what is queued, then end the thread. Idempotent."""
        if self._thread is None:
            return
        self.control(Stop())
        self._thread.join(timeout)
        self._thread = None

    # -- engine thread -------------------------------------------------------------

    def _loop(self) -> None:
        get = self._inbox.get
        tick = self._tick
        next_tick = time.monotonic() + tick
        while True:
            item = get(max(0.0, next_tick - time.monotonic()))
            if isinstance(item, Stop):
                self._run_ticks()
                return
            if item is not None:
                try:
                    self._handle(item)
                except Exception:  # the engine thread must outlive any single bad event
                    log.exception("engine failed on %s", type(item).__name__)
            if time.monotonic() >= next_tick:
                next_tick = time.monotonic() + tick
                self._run_ticks()

    def _run_ticks(self) -> None:
        engine = self.engine
        if engine.confirm_shows:
            try:
                self._dispatch(engine.expire_unconfirmed(engine.clock.now()))
            except Exception:
                log.exception("engine failed taking back unconfirmed toasts")
        for callback in self._tick_callbacks:
            try:
                callback()
            except Exception:
                log.exception("engine tick %s failed", getattr(callback, "__qualname__", callback))

    def _handle(self, item: InputEvent | ControlMessage) -> None:
        if isinstance(item, UsePackFile):
            ok = self._use_pack_file(item.path, item.origin)
            if item.outcome is not None:
                item.outcome.set(ok)
        elif isinstance(item, SetNeverInterrupt):
            self.engine.set_never_interrupt(item.apps)
        elif isinstance(item, SetGroups):
            self.engine.set_groups(item.groups)
        elif isinstance(item, SetPause):
            self.engine.pause(item.until)
        elif isinstance(item, ResetNever):
            self.engine.reset_never()
        elif isinstance(item, Barrier):
            item.outcome.set(True)
        elif isinstance(item, Stop):  # pragma: no cover - the loop ends first
            return
        else:
            self._dispatch(self.engine.handle(item))

    def _dispatch(self, effects: list[Effect]) -> None:
        for effect in effects:
            for listener in self._listeners:
                try:
                    listener(effect)
                except Exception:
                    log.exception("effect listener failed on %s", type(effect).__name__)

    def _use_pack_file(self, path: Path, origin: str) -> bool:
        running = self.engine.pack
        try:
            pack = self._loader(path)
        except PackError as exc:
            self.pack_errors = tuple(str(i) for i in exc.issues)
            log.error("pack %s is invalid; keeping %s v%s:\n%s", path, running.id,
                      running.version, exc)  # fmt: skip
            return False
        except OSError as exc:
            self.pack_errors = (f"{path}: {exc.strerror or exc}",)
            log.error("cannot read pack %s (%s); keeping %s v%s", path, exc, running.id,
                      running.version)  # fmt: skip
            return False
        self.engine.swap(pack)
        self.pack, self.pack_path, self.pack_errors = pack, path, ()
        log.info("pack %s v%s active (%d rules, from %s)", pack.id, pack.version,
                 len(pack.rules), origin)  # fmt: skip
        for callback in self._swap_listeners:
            try:
                callback(pack)
            except Exception:
                log.exception("pack swap listener failed")
        return True
