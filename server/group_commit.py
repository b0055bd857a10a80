"""Group commit: the batches of concurrent requests share one database transaction.

Every ``POST /v1/events`` used to be its own transaction: a thread hop, a
statement, a commit (an fsync on PostgreSQL) per 100 events.  Under load that
per-transaction cost, not the events, filled the machine.  Here requests hand
their checked events to :class:`GroupWriter`, whose writer threads take
everything that queued up while the previous transaction ran and store it in
one.  An idle server still writes a lone batch at once (no timer, no added
latency); a busy one writes fewer, larger transactions.

A failure never spreads: when a group's transaction fails, each request in it
is retried on its own, so only the batch that causes the error sees it.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final

from server.ingest import CheckedEvent
from server.store import Device, EventGroup

__all__ = ["GroupWriter", "InsertGroups"]

#: Stores several groups in one transaction; returns the new UUIDs per group.
InsertGroups = Callable[[Sequence[EventGroup]], list[set[str]]]

#: A transaction takes at most this many events (bounds its time and memory).
MAX_GROUP_EVENTS: Final = 5000


@dataclass(slots=True)
class _Pending:
    device: Device
    events: Sequence[CheckedEvent]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[set[str]] = field(repr=False)


class GroupWriter:
    """Writes event batches through ``insert`` from ``threads`` writer threads.

    More than one thread lets one transaction commit while the next is built;
    SQLite serialises writers anyway, so one is enough there.
    """

    def __init__(
        self, insert: InsertGroups, *, threads: int = 2, max_events: int = MAX_GROUP_EVENTS
    ) -> None:
        self._insert = insert
        self._threads_wanted = max(1, threads)
        self._max_events = max_events
        self._queue: deque[_Pending] = deque()
        self._ready = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._closing = False
        #: Transactions and batches written (for the metrics and the benchmark).
        self.transactions = 0
        self.batches = 0

    @property
    def queued(self) -> int:
        """Batches waiting for a writer thread."""
        with self._ready:
            return len(self._queue)

    async def write(self, device: Device, events: Sequence[CheckedEvent]) -> set[str]:
        """Store ``events`` of ``device``; the UUIDs that were new."""
        if not events:
            return set()
        loop = asyncio.get_running_loop()
        pending = _Pending(device, events, loop, loop.create_future())
        with self._ready:
            if self._closing:
                raise RuntimeError("the event writer is closed")
            if len(self._threads) < self._threads_wanted:
                self._start_thread()
            self._queue.append(pending)
            self._ready.notify()
        return await pending.future

    def close(self, timeout: float = 30.0) -> None:
        """Write what is queued, then stop the threads."""
        with self._ready:
            self._closing = True
            self._ready.notify_all()
        for thread in self._threads:
            thread.join(timeout)

    def _start_thread(self) -> None:
        thread = threading.Thread(
            target=self._run, name=f"waymark-events-{len(self._threads)}", daemon=True
        )
        self._threads.append(thread)
        thread.start()

    def _take(self) -> list[_Pending] | None:
        with self._ready:
            while not self._queue:
                if self._closing:
                    return None
                self._ready.wait()
            group = [self._queue.popleft()]
            size = len(group[0].events)
            while self._queue and size + len(self._queue[0].events) <= self._max_events:
                item = self._queue.popleft()
                size += len(item.events)
                group.append(item)
            return group

    def _run(self) -> None:
        while (group := self._take()) is not None:
            if not self._write(group) and len(group) > 1:
                for pending in group:  # find the batch at fault: each on its own
                    self._write([pending])

    def _write(self, group: list[_Pending]) -> bool:
        """One transaction for ``group``; False if it failed (a lone batch gets the error)."""
        try:
            results = self._insert([(p.device, p.events) for p in group])
        except Exception as exc:
            if len(group) == 1:
                _deliver(group[0], None, exc)
            return False
        self.transactions += 1
        self.batches += len(group)
        for pending, new in zip(group, results, strict=True):
            _deliver(pending, new, None)
        return True


def _deliver(pending: _Pending, result: set[str] | None, error: BaseException | None) -> None:
    def settle() -> None:
        if pending.future.done():  # the client went away and the request was cancelled
            return
        if error is not None:
            pending.future.set_exception(error)
        else:
            pending.future.set_result(result or set())

    # A closed event loop raises RuntimeError: nobody is waiting any more.
    with contextlib.suppress(RuntimeError):
        pending.loop.call_soon_threadsafe(settle)
