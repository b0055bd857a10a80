"""The ingest service without HTTP: bytes in, a status per event out, on the real store."""

from __future__ import annotations

import asyncio
import gzip
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from server.errors import Invalid, TooLarge, UnsupportedEncoding
from server.group_commit import GroupWriter
from server.ingest_service import IngestAnswer, IngestService
from server.metrics import Metrics
from server.store import Device, Store
from tests.server.conftest import Tenant
from tests.server.test_api import event as api_event

NOW = 1_790_000_000.0


def event(**fields: Any) -> dict[str, Any]:
    return api_event(**{"t": NOW - 60, **fields})


def body(events: list[Any]) -> bytes:
    return json.dumps({"events": events}).encode()


@pytest.fixture
def service(store: Store) -> Iterator[tuple[IngestService, Metrics]]:
    writer = GroupWriter(store.insert_event_groups, threads=1)
    metrics = Metrics()
    yield IngestService(writer, metrics, clock=lambda: NOW), metrics
    writer.close()


def device(store: Store, tenant: Tenant) -> Device:
    found = store.device(store.enroll_device(tenant.id, [], "linux", "0.1.0")[1])
    assert found is not None
    return found


def ingest(
    svc: IngestService, who: Device, data: bytes, encoding: str | None = None
) -> IngestAnswer:
    return asyncio.run(svc.ingest(who, data, encoding))


def test_a_batch_is_answered_per_event_in_order_and_counted(
    service: tuple[IngestService, Metrics], store: Store, acme: Tenant
) -> None:
    svc, metrics = service
    who = device(store, acme)
    one = event()
    answer = ingest(svc, who, body([one, dict(one), event(kind="typed"), "x", event()]))
    assert [r["status"] for r in answer.results] == [
        "ok",
        "duplicate",
        "rejected:kind",
        "rejected:not_an_object",
        "ok",
    ]
    assert answer.results[0]["uuid"] == one["uuid"] and answer.results[3]["uuid"] is None
    assert (answer.ok, answer.duplicate, answer.rejected) == (2, 1, 2)
    assert answer.to_json()["results"] == answer.results
    assert dict(metrics.events) == {"ok": 2, "duplicate": 1, "rejected": 2}


def test_a_resend_is_all_duplicates_and_another_device_is_not(
    service: tuple[IngestService, Metrics], store: Store, acme: Tenant
) -> None:
    svc, _ = service
    a, b = device(store, acme), device(store, acme)
    data = gzip.compress(body([event(), event()]))
    assert ingest(svc, a, data, "gzip").ok == 2
    assert ingest(svc, a, data, "gzip").duplicate == 2
    assert ingest(svc, b, data, "gzip").ok == 2


def test_the_service_clock_decides_what_is_in_the_future(
    service: tuple[IngestService, Metrics], store: Store, acme: Tenant
) -> None:
    svc, _ = service
    # Two days after the service's clock, and long past by the wall clock.
    later = NOW + 2 * 86400
    assert later < time.time()
    answer = ingest(svc, device(store, acme), body([event(t=later), event(t=NOW + 3600)]))
    assert [r["status"] for r in answer.results] == ["rejected:future", "ok"]


def test_a_batch_refused_as_a_whole_raises_a_domain_error_with_its_code(
    service: tuple[IngestService, Metrics], store: Store, acme: Tenant
) -> None:
    svc, metrics = service
    who = device(store, acme)
    cases: list[tuple[bytes, str | None, type[Exception], str]] = [
        (b"{", None, Invalid, "bad_json"),
        (b"[]", None, Invalid, "bad_shape"),
        (b"\x1f\x8b broken", "gzip", Invalid, "bad_gzip"),
        (body([event()]), "br", UnsupportedEncoding, "unsupported_encoding"),
        (body([event() for _ in range(501)]), None, TooLarge, "too_many_events"),
    ]
    for data, encoding, kind, code in cases:
        with pytest.raises(kind) as caught:
            ingest(svc, who, data, encoding)
        assert getattr(caught.value, "code", None) == code
    assert sum(metrics.events.values()) == 0
