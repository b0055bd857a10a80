"""Which devices the reports count: approved, and active on at least two local days.

A device that sent telemetry on one day only may be one of many invented by
whoever holds an enrollment token (docs/threat-model.md, "Enrollment"): nine
fresh fakes and one real person would otherwise reach the ≥ 10-device floor
and make that person's counts recoverable.  So a device's events are stored
as they come, but kept out of the rollups — with ``group_set_id`` NULL, which
erasure and the rollup rebuild already read as "not counted" — until the
device is approved and has events on :data:`COUNT_AFTER_DAYS` distinct local
days; then all of its stored events are added at once
(:meth:`server.store.Store.insert_event_groups`) and ``counted_since`` is set.
Every figure and every floor of the report is computed from the rollups, so
neither counts a device before that.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any, Final

from sqlalchemy import func, select, update

from server import schema as s

__all__ = ["COUNT_AFTER_DAYS", "DeviceCounting"]

#: Distinct local days with telemetry before a device counts in the reports.
COUNT_AFTER_DAYS: Final = 2


class DeviceCounting:
    """The ingest side of the rule: which devices of a batch wait, which are ready."""

    def __init__(self, days: int = COUNT_AFTER_DAYS) -> None:
        self.days = days
        # Counted stays counted (until erased, when the id is gone for good), so
        # a process asks the database about each device once.
        self._counted: set[str] = set()
        self._lock = threading.Lock()

    def waiting(self, conn: Any, device_ids: Iterable[str]) -> set[str]:
        """Of these devices, those not counted yet; their rows stay locked (PostgreSQL)
        until the transaction ends, so a concurrent batch sees the promotion whole."""
        with self._lock:
            unknown = sorted(set(device_ids) - self._counted)
        if not unknown:
            return set()
        c = s.devices.c
        rows = conn.execute(
            select(c.id, c.counted_since).where(c.id.in_(unknown)).order_by(c.id).with_for_update()
        ).all()
        with self._lock:
            self._counted.update(str(r[0]) for r in rows if r[1] is not None)
        return {str(r[0]) for r in rows if r[1] is None}

    def hold(self, conn: Any, device_ids: Iterable[str]) -> None:
        """Keep the new events of waiting devices out of the rollups."""
        e = s.events.c
        conn.execute(
            update(s.events)
            .where(e.device_id.in_(sorted(device_ids)), e.group_set_id.is_not(None))
            .values(group_set_id=None)
        )

    def ready(self, conn: Any, device_ids: Iterable[str]) -> list[str]:
        """Waiting devices that are approved and have events on enough distinct days."""
        e, d = s.events.c, s.devices.c
        rows = conn.execute(
            select(e.device_id)
            .select_from(s.events.join(s.devices, d.id == e.device_id))
            .where(e.device_id.in_(sorted(device_ids)), d.approval == "approved")
            .group_by(e.device_id)
            .having(func.count(func.distinct(e.day)) >= self.days)
            .order_by(e.device_id)
        ).scalars()
        return [str(v) for v in rows]

    def remember(self, device_id: str) -> None:
        """Note (after its commit) that ``device_id`` counts from now on."""
        with self._lock:
            if len(self._counted) > 500_000:
                self._counted.clear()
            self._counted.add(device_id)
