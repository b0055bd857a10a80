"""The file source: files created or saved in the well-known folders the rules name.

It watches only the folders that loaded ``event: file`` rules name, through
``watchdog`` (inotify on Linux, FSEvents on macOS, ReadDirectoryChangesW on
Windows): the Desktop and Downloads folders themselves, Documents and the
synced folder with their subfolders.  A path that sees no new change for
``debounce`` seconds is reported once, so a save that writes a temporary file
and renames it, or writes in several chunks, counts once; temporary and lock
files are ignored (:func:`agent.rules.elements.is_temporary_file`).

File names and paths stay in this source's threads: what it emits is a
:class:`~agent.events.FileSaved` with the folder alias, the file type and the
largest size threshold of the rules that the file reached.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

from watchdog.events import FileSystemEvent, FileSystemEventHandler

from agent.events import FileSaved
from agent.hooks.base import Emit, SourceState, join_quietly
from agent.rules.elements import file_type, is_temporary_file
from agent.rules.watchlist import Watchlist

__all__ = ["DEBOUNCE", "FileSource"]

log = logging.getLogger(__name__)
# watchdog logs every path it sees (at DEBUG): no file name may reach a log, even a
# verbose one.  Its failures show as a dead source (state, watchdog restart) instead.
logging.getLogger("watchdog").setLevel(logging.CRITICAL + 1)

#: Seconds without a new change before a path counts as saved.
DEBOUNCE: Final = 0.5
#: Folders watched with their subfolders.
_RECURSIVE: Final = frozenset({"documents", "synced"})
_CHANGES: Final = frozenset({"created", "modified", "moved", "closed"})


class FileSource:
    """Emits :class:`FileSaved` for saves in the folders the :class:`Watchlist` names."""

    name = "files"

    def __init__(
        self,
        folders: Mapping[str, Path],
        watchlist: Watchlist,
        *,
        debounce: float = DEBOUNCE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._folders = dict(folders)
        self._watchlist = watchlist
        self._debounce = debounce
        self._clock = clock
        self._emit: Emit | None = None
        self._observer: Any = None
        self._thread: threading.Thread | None = None
        self._cond = threading.Condition()
        self._pending: dict[str, tuple[str, float]] = {}  # path → (alias, due)
        self._stopping = False
        self._watched: tuple[str, ...] = ()
        self._detail = "not started"

    # -- lifecycle -----------------------------------------------------------------

    def start(self, emit: Emit) -> None:
        self._emit = emit
        self._stopping = False
        self._thread = threading.Thread(target=self._flush_loop, name="waymark-files", daemon=True)
        self._thread.start()
        self._schedule()

    def stop(self) -> None:
        self._unschedule()
        with self._cond:
            self._stopping = True
            self._pending.clear()
            self._cond.notify_all()
        join_quietly(self._thread)
        self._thread = None

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def state(self) -> SourceState:
        return SourceState(self.name, self.alive(), self._detail)

    def set_watchlist(self, watchlist: Watchlist) -> None:
        """Follow a new pack's file rules (re-schedules when the folders change)."""
        changed = watchlist.folders != self._watchlist.folders
        self._watchlist = watchlist
        if changed and self.alive():
            self._unschedule()
            self._schedule()

    # -- watching ------------------------------------------------------------------

    def _schedule(self) -> None:
        from watchdog.observers import Observer  # picks the OS's backend

        wanted = [a for a in sorted(self._watchlist.folders) if a in self._folders]
        observer = Observer()
        watched: list[str] = []
        for alias in wanted:
            folder = self._folders[alias]
            if not folder.is_dir():
                continue
            observer.schedule(_Handler(self, alias), str(folder), recursive=alias in _RECURSIVE)
            watched.append(alias)
        missing = [a for a in self._watchlist.folders if a not in watched]
        observer.start()
        self._observer = observer
        self._watched = tuple(watched)
        how = type(observer).__name__.replace("Observer", "") or "polling"
        self._detail = f"{how} on {', '.join(watched) or 'no folder'}" + (
            f"; not found here: {', '.join(sorted(missing))}" if missing else ""
        )

    def _unschedule(self) -> None:
        observer, self._observer = self._observer, None
        if observer is not None:
            observer.stop()
            observer.join(2.0)

    def changed(self, alias: str, path: str) -> None:
        """A create/modify/move-in/close of ``path`` (watchdog's thread)."""
        if is_temporary_file(path):
            return
        with self._cond:
            self._pending[path] = (alias, time.monotonic() + self._debounce)
            self._cond.notify()

    def removed(self, path: str) -> None:
        with self._cond:
            self._pending.pop(path, None)

    def _flush_loop(self) -> None:
        while True:
            with self._cond:
                if self._stopping:
                    return
                now = time.monotonic()
                due = [p for p, (_, at) in self._pending.items() if at <= now]
                ready = [(p, self._pending.pop(p)[0]) for p in due]
                if not ready:
                    wait = min((at for _, at in self._pending.values()), default=now + 3600) - now
                    self._cond.wait(max(wait, 0.001))
                    continue
            for path, alias in ready:
                self._report(alias, path)

    def _report(self, alias: str, path: str) -> None:
        try:
            size = Path(path).stat().st_size
        except OSError:
            return  # gone again (a temporary file we did not recognise)
        emit = self._emit
        if emit is not None:
            reached = self._watchlist.size_reached(size)
            emit(FileSaved(self._clock(), alias, file_type(path), reached))


class _Handler(FileSystemEventHandler):
    """Hands watchdog's events for one folder to the source."""

    def __init__(self, source: FileSource, alias: str) -> None:
        super().__init__()
        self._source = source
        self._alias = alias

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory:
            return
        kind = event.event_type
        if kind == "deleted":
            self._source.removed(str(event.src_path))
        elif kind == "moved":
            self._source.removed(str(event.src_path))
            self._source.changed(self._alias, str(event.dest_path))
        elif kind in _CHANGES:
            self._source.changed(self._alias, str(event.src_path))
