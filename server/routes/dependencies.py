"""What route handlers get injected: the parts one server process is made of.

:func:`server.app.create_app` builds one :class:`ServerParts` and keeps it on
``app.state``; handlers name the part they need (``store: StoreDep``) and
FastAPI hands it over, so no handler holds a closure variable and a route
module needs no app to be defined.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from server.enrollment import Enrollment
from server.group_commit import GroupWriter
from server.ingest_service import IngestService
from server.metrics import Metrics
from server.ratelimit import RateLimiter
from server.retention import RetentionJob
from server.settings import ServerSettings
from server.store import Store

__all__ = [
    "EnrollmentDep",
    "IngestDep",
    "LimiterDep",
    "MetricsDep",
    "PartsDep",
    "ServerParts",
    "StoreDep",
    "WriterDep",
    "parts_of",
]


@dataclass(frozen=True, slots=True)
class ServerParts:
    """The long-lived objects of one app: data, knobs, counters and the event path."""

    store: Store
    settings: ServerSettings
    metrics: Metrics
    limiter: RateLimiter
    writer: GroupWriter
    ingest: IngestService
    retention: RetentionJob
    enrollment: Enrollment
    #: Enrollments per source address (server/enrollment.py has the per-token rate).
    enroll_sources: RateLimiter
    #: Wrong admin tokens per source address (server/routes/auth.py).
    admin_failures: RateLimiter


# The providers are coroutines: FastAPI would run plain functions in the thread
# pool, a thread hop per request for a dictionary lookup.


def parts_of(request: Request) -> ServerParts:
    """The parts of the app serving ``request`` (for code that is not a handler)."""
    parts = request.app.state.parts
    assert isinstance(parts, ServerParts), "create_app keeps the ServerParts on app.state"
    return parts


async def server_parts(request: Request) -> ServerParts:
    """The parts of the app serving ``request``."""
    return parts_of(request)


PartsDep = Annotated[ServerParts, Depends(server_parts)]


async def _store(parts: PartsDep) -> Store:
    return parts.store


async def _metrics(parts: PartsDep) -> Metrics:
    return parts.metrics


async def _limiter(parts: PartsDep) -> RateLimiter:
    return parts.limiter


async def _writer(parts: PartsDep) -> GroupWriter:
    return parts.writer


async def _ingest(parts: PartsDep) -> IngestService:
    return parts.ingest


async def _enrollment(parts: PartsDep) -> Enrollment:
    return parts.enrollment


StoreDep = Annotated[Store, Depends(_store)]
EnrollmentDep = Annotated[Enrollment, Depends(_enrollment)]
MetricsDep = Annotated[Metrics, Depends(_metrics)]
LimiterDep = Annotated[RateLimiter, Depends(_limiter)]
WriterDep = Annotated[GroupWriter, Depends(_writer)]
IngestDep = Annotated[IngestService, Depends(_ingest)]
