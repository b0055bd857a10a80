"""Taking in one device's batch of telemetry: check, de-duplicate, store, count.

Knows nothing of HTTP: it gets the body bytes and their content encoding and
answers a status per event (docs/api.md, "Telemetry").  A batch refused as a
whole raises a :mod:`server.errors` error.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from server.group_commit import GroupWriter
from server.ingest import CheckedEvent, check_event, decode_body, parse_batch
from server.metrics import Metrics
from server.store import Device

__all__ = ["IngestAnswer", "IngestService"]

#: Stands for an event that passed its checks until the store says ok or duplicate.
_PENDING = "pending"


@dataclass(frozen=True, slots=True)
class IngestAnswer:
    """The answer to one batch: a status per event, in order, and the totals."""

    results: list[dict[str, str | None]]
    ok: int
    duplicate: int
    rejected: int

    def to_json(self) -> dict[str, Any]:
        """The body of the ``POST /v1/events`` answer."""
        return {
            "results": self.results,
            "ok": self.ok,
            "duplicate": self.duplicate,
            "rejected": self.rejected,
        }


class IngestService:
    """Checks batches, drops repeats inside a batch, and stores the rest through ``writer``."""

    def __init__(
        self, writer: GroupWriter, metrics: Metrics, clock: Callable[[], float] = time.time
    ) -> None:
        self._writer = writer
        self._metrics = metrics
        self._clock = clock

    async def ingest(
        self, device: Device, body: bytes, content_encoding: str | None
    ) -> IngestAnswer:
        """Store the new events of ``body``; ``ok``, ``duplicate`` or ``rejected:<why>`` each."""
        items = parse_batch(decode_body(body, content_encoding))
        now = self._clock()
        statuses: list[tuple[str | None, str]] = []
        fresh: list[CheckedEvent] = []
        seen: set[str] = set()
        for item in items:
            uid, checked = check_event(item, now)
            if isinstance(checked, str):
                statuses.append((uid, checked))
            elif checked.uuid in seen:
                statuses.append((uid, "duplicate"))
            else:
                seen.add(checked.uuid)
                fresh.append(checked)
                statuses.append((uid, _PENDING))
        inserted = await self._writer.write(device, fresh)
        results: list[dict[str, str | None]] = []
        counts = {"ok": 0, "duplicate": 0, "rejected": 0}
        for uid, status in statuses:
            if status == _PENDING:
                status = "ok" if uid in inserted else "duplicate"
            counts["rejected" if status.startswith("rejected") else status] += 1
            results.append({"uuid": uid, "status": status})
        self._metrics.count_events(counts["ok"], counts["duplicate"], counts["rejected"])
        return IngestAnswer(results, counts["ok"], counts["duplicate"], counts["rejected"])
