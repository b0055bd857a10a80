"""Native hook tests: each folder is collected only on its own OS.

They drive the real OS (a real window brought to the front, a real
``SendInput`` chord, the real idle counter) against the hook classes in
agent/hooks/. This project's machines run Linux, so they run in GitHub
Actions (.github/workflows/ci.yml and release.yml) on windows-latest and
macos-14; on Linux they are not collected at all.
"""

from __future__ import annotations

import queue
import sys
import time
from collections.abc import Callable
from typing import Any

from agent.hooks.base import Emitter

collect_ignore_glob = []
if sys.platform != "win32":
    collect_ignore_glob.append("windows/*")
if sys.platform != "darwin":
    collect_ignore_glob.append("macos/*")


class Recorder:
    """An :class:`Emitter` over a queue, with a way to wait for one kind of event."""

    def __init__(self) -> None:
        self.queue: queue.Queue[Any] = queue.Queue(10_000)
        self.emit = Emitter(self.queue)
        self.seen: list[Any] = []

    def wait_for(self, match: Callable[[Any], bool], timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        for event in self.seen:
            if match(event):
                return event
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {what} within {timeout:.0f} s; saw {self.seen[-20:]}")
            try:
                event = self.queue.get(timeout=left)
            except queue.Empty:
                continue
            self.seen.append(event)
            if match(event):
                return event
