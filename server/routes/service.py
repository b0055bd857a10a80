"""What operators call: ``GET /healthz`` and ``GET /metrics``."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from server.routes.dependencies import MetricsDep, StoreDep, WriterDep

__all__ = ["router"]

router = APIRouter(tags=["service"])


@router.get("/healthz")
def healthz(store: StoreDep) -> dict[str, str]:
    """Liveness and database reachability."""
    store.ping()
    return {"status": "ok"}


@router.get("/metrics", response_class=PlainTextResponse)
def prometheus(store: StoreDep, metrics: MetricsDep, writer: WriterDep) -> PlainTextResponse:
    """Prometheus text format: requests, latencies, events ingested/duplicate/rejected."""
    return PlainTextResponse(
        metrics.render(
            dict(store.counts()),
            {
                "event_write_transactions": (
                    writer.transactions,
                    "Transactions that stored events (group commit).",
                ),
                "event_write_batches": (
                    writer.batches,
                    "Event batches stored; divided by transactions, the group size.",
                ),
            },
        ),
        media_type="text/plain; version=0.0.4",
    )
