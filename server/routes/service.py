"""What operators call: ``GET /healthz`` and ``GET /metrics``.

``/metrics`` needs the bearer token the operator set (``--metrics-token``,
``WAYMARK_METRICS_TOKEN``); without one configured it is off (``404``), so a
server on the internet never shows its counters to the world.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, Header
from fastapi.responses import PlainTextResponse

from server.errors import NotFound, Unauthenticated
from server.routes.dependencies import MetricsDep, PartsDep, StoreDep, WriterDep
from server.routes.errors import UNAUTHENTICATED, ErrorBody

__all__ = ["router"]

router = APIRouter(tags=["service"])


@router.get("/healthz")
def healthz(store: StoreDep) -> dict[str, str]:
    """Liveness and database reachability."""
    store.ping()
    return {"status": "ok"}


async def _metrics_caller(
    parts: PartsDep, authorization: Annotated[str | None, Header()] = None
) -> None:
    """Refuse a scrape without the configured metrics token."""
    expected = parts.settings.metrics_token
    if not expected:
        raise NotFound(
            "/metrics is off: start the server with --metrics-token (WAYMARK_METRICS_TOKEN)",
            code="metrics_off",
        )
    scheme, _, token = (authorization or "").partition(" ")
    given = token.strip().encode() if scheme.lower() == "bearer" else b""
    if not hmac.compare_digest(given, expected.encode()):
        raise Unauthenticated("send Authorization: Bearer <the metrics token>")


MetricsCallerDep = Annotated[None, Depends(_metrics_caller)]


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses={
        **UNAUTHENTICATED,
        404: {"model": ErrorBody, "description": "No metrics token is configured."},
    },
)
def prometheus(
    _caller: MetricsCallerDep, store: StoreDep, metrics: MetricsDep, writer: WriterDep
) -> PlainTextResponse:
    """Prometheus text format: requests, latencies, events ingested/duplicate/rejected
    (with the metrics token)."""
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
