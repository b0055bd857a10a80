"""Group commit: concurrent batches share a transaction, and a failure stays with its batch.

Against the real store on SQLite and PostgreSQL; the only instrumentation is a
gate around the store's own insert, so the test can hold a transaction open
while more batches queue behind it.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Sequence

import httpx
import pytest
from sqlalchemy import func, select

from devtools.live_server import RunningServer
from server import schema
from server.days import utc_day
from server.group_commit import GroupWriter
from server.ingest import CheckedEvent
from server.store import Device, EventGroup, Store
from tests.server.conftest import Tenant, auth, enroll


def checked(uid: str | None = None) -> CheckedEvent:
    t = time.time() - 60
    return CheckedEvent(
        uuid=uid or str(uuid.uuid4()),
        t=t,
        day=utc_day(t),
        kind="shown",
        pack_id="m365-habits",
        pack_version=1,
        rule="share-link",
        habit="share-links",
        reason=None,
        action=None,
        app=None,
    )


def device(store: Store, tenant: Tenant) -> Device:
    found = store.device(store.enroll_device(tenant.id, [], "linux", "0.1.0")[1])
    assert found is not None
    return found


def stored_count(store: Store) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(schema.events)).scalar_one())


def test_groups_are_stored_in_one_call_and_a_racing_resend_is_a_duplicate(
    store: Store, acme: Tenant
) -> None:
    a, b = device(store, acme), device(store, acme)
    shared = checked()
    first = [shared, checked()]
    resend = [shared, checked()]
    other_device = [checked(shared.uuid)]  # the same UUID from another device is its own event
    new = store.insert_event_groups([(a, first), (a, resend), (b, other_device)])
    assert new == [
        {e.uuid for e in first},
        {resend[1].uuid},
        {shared.uuid},
    ]
    assert stored_count(store) == 4
    assert store.insert_event_groups([(a, first), (b, [])]) == [set(), set()]


class Gate:
    """Wraps the store's insert: the first call waits until released; records group sizes."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.entered = threading.Event()
        self.release = threading.Event()
        self.groups: list[int] = []

    def __call__(self, groups: Sequence[EventGroup]) -> list[set[str]]:
        self.groups.append(len(groups))
        if not self.entered.is_set():
            self.entered.set()
            assert self.release.wait(30), "the test never released the first transaction"
        return self.store.insert_event_groups(groups)


Write = tuple[Device, list[CheckedEvent]]


Outcome = list[set[str] | BaseException]


def write_gated(store: Store, writes: list[Write]) -> tuple[Outcome, Gate, GroupWriter]:
    """The first write holds its transaction open until the rest have queued behind it."""
    gate = Gate(store)
    writer = GroupWriter(gate, threads=1)

    async def main() -> Outcome:
        first = asyncio.create_task(writer.write(*writes[0]))
        await asyncio.to_thread(gate.entered.wait, 30)
        rest = [asyncio.create_task(writer.write(*w)) for w in writes[1:]]
        while writer.queued < len(rest):
            await asyncio.sleep(0.001)
        gate.release.set()
        return await asyncio.gather(first, *rest, return_exceptions=True)

    results = asyncio.run(main())
    writer.close()
    return results, gate, writer


def test_batches_that_queue_behind_a_transaction_commit_together(
    store: Store, acme: Tenant
) -> None:
    writes = [(device(store, acme), [checked() for _ in range(3)]) for _ in range(6)]
    results, gate, writer = write_gated(store, writes)
    assert results == [{e.uuid for e in b} for _, b in writes]
    assert gate.groups == [1, 5]
    assert (writer.transactions, writer.batches) == (2, 6)
    assert stored_count(store) == 18


def test_a_failing_batch_fails_alone_and_the_others_in_its_group_are_stored(
    store: Store, acme: Tenant
) -> None:
    good = [device(store, acme) for _ in range(3)]
    # A device the database does not know: its rows break the foreign key.
    ghost = Device(id=str(uuid.uuid4()), tenant_id=acme.id, ring=0, groups=())
    writes = [(good[0], [checked()]), (good[1], [checked()]), (ghost, [checked()])]
    results, gate, _ = write_gated(store, [*writes, (good[2], [checked()])])
    assert [isinstance(r, set) and len(r) == 1 for r in results] == [True, True, False, True]
    assert isinstance(results[2], Exception)
    # The group of three failed, then each was tried on its own.
    assert gate.groups == [1, 3, 1, 1, 1]
    assert stored_count(store) == 3


def test_a_closed_writer_writes_what_was_queued_and_refuses_more(
    store: Store, acme: Tenant
) -> None:
    writer = GroupWriter(store.insert_event_groups, threads=2)
    one = device(store, acme)

    async def main() -> set[str]:
        return await writer.write(one, [checked()])

    assert len(asyncio.run(main())) == 1
    writer.close()
    with pytest.raises(RuntimeError, match="closed"):
        asyncio.run(main())


def test_concurrent_posts_from_many_devices_each_get_their_own_answer(
    live: RunningServer, acme: Tenant, store: Store
) -> None:
    with httpx.Client(base_url=live.url, timeout=30) as sync_client:
        secrets = [enroll(sync_client, acme) for _ in range(20)]

    def body(n: int) -> list[dict[str, object]]:
        return [
            {
                "uuid": str(uuid.uuid4()),
                "t": time.time() - 60,
                "kind": "shown",
                "pack_id": "m365-habits",
                "pack_version": 1,
            }
            for _ in range(n)
        ]

    batches = [body(10 + i) for i in range(len(secrets))]

    async def main() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=live.url, timeout=30) as client:
            sends = [
                client.post("/v1/events", json={"events": b}, headers=auth(s))
                for s, b in zip(secrets, batches, strict=True)
            ]
            # The first device also resends its batch at the same moment.
            sends.append(
                client.post("/v1/events", json={"events": batches[0]}, headers=auth(secrets[0]))
            )
            return await asyncio.gather(*sends)

    answers = asyncio.run(main())
    assert all(r.status_code == 200 for r in answers), [r.text for r in answers]
    for r, b in zip(answers[1:-1], batches[1:], strict=True):
        assert r.json()["ok"] == len(b)
        assert [x["uuid"] for x in r.json()["results"]] == [e["uuid"] for e in b]
    original, resend = answers[0].json(), answers[-1].json()
    # Each UUID of the raced batch is stored once: one answer says ok, the other duplicate.
    assert original["ok"] + resend["ok"] == len(batches[0])
    assert original["duplicate"] + resend["duplicate"] == len(batches[0])
    assert stored_count(store) == sum(map(len, batches))
