"""The pack-file watcher: a source that notices when the running pack's file changes.

A change author saves ``pack.yaml`` while ``waymark run --pack pack.yaml``
runs; within ``interval`` seconds the watcher asks the engine runtime to load
it again (the runtime keeps the running pack if the new file is broken).  It
polls the file's modification time: a pack file changes rarely, and a stat
every two seconds costs nothing measurable.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from agent.hooks.base import Emit, SourceState, ThreadedSource, join_quietly

__all__ = ["PackFileWatcher"]


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


class PackFileWatcher(ThreadedSource):
    """Calls ``changed(path)`` when the file ``current()`` names gets a new modification time.

    ``current`` is read at every check, so when the runtime switches to
    another file (a server pack) the watcher follows it without reporting the
    switch itself as a change.
    """

    name = "pack_file"
    thread_name = "waymark-pack-file"

    def __init__(
        self, current: Callable[[], Path], changed: Callable[[Path], None], interval: float = 2.0
    ) -> None:
        super().__init__()
        self._current = current
        self._changed = changed
        self._interval = interval
        self._stop = threading.Event()

    def start(self, emit: Emit) -> None:
        self._stop.clear()
        super().start(emit)

    def stop(self) -> None:
        self._stop.set()
        join_quietly(self._thread)
        self._thread = None

    def state(self) -> SourceState:
        return SourceState(self.name, self.alive(), f"{self._current()} every {self._interval:g} s")

    def _run(self) -> None:
        path = self._current()
        seen = _mtime(path)
        self._ready.set()
        while not self._stop.wait(self._interval):
            now_path = self._current()
            mtime = _mtime(now_path)
            if now_path != path:
                path, seen = now_path, mtime
            elif mtime and mtime != seen:
                seen = mtime
                self._changed(path)
