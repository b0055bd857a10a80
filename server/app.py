"""The ASGI app: one server's parts, with the routers, the error handler and metrics.

The routes live in :mod:`server.routes` (one router per area); the work they
call lives in the domain modules, which raise :mod:`server.errors` errors that
one handler turns into answers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.concurrency import run_in_threadpool

from agent import __version__
from server.enrollment import Enrollment
from server.errors import DomainError
from server.group_commit import GroupWriter
from server.ingest_service import IngestService
from server.metrics import Metrics
from server.ratelimit import RateLimiter
from server.retention import RetentionJob
from server.routes import (
    admin,
    credentials,
    dashboard,
    dashboard_assets,
    device,
    enrollment_admin,
    service,
)
from server.routes.dependencies import ServerParts
from server.routes.errors import answer_domain_error, answer_validation_error
from server.routes.headers import SecurityHeadersMiddleware
from server.routes.limits import InputLimitsMiddleware
from server.routes.request_metrics import RequestMetricsMiddleware
from server.settings import ServerSettings
from server.store import Store

__all__ = ["build_parts", "create_app"]


def build_parts(store: Store, settings: ServerSettings | None = None) -> ServerParts:
    """The long-lived objects of one app over ``store``."""
    settings = settings or ServerSettings()
    metrics = Metrics()
    # SQLite has one writer at a time; PostgreSQL commits one group while the next is built.
    writer = GroupWriter(
        store.insert_event_groups, threads=1 if store.engine.dialect.name == "sqlite" else 2
    )
    return ServerParts(
        store=store,
        settings=settings,
        metrics=metrics,
        limiter=RateLimiter(settings.rate_per_second, settings.rate_burst),
        writer=writer,
        ingest=IngestService(writer, metrics, store.local_days, retain_days=settings.retain_days),
        retention=RetentionJob(store, settings.retain_days, settings.purge_every),
        enrollment=Enrollment(store),
        enroll_sources=RateLimiter(
            settings.enroll_per_source_hour / 3600.0, settings.enroll_source_burst
        ),
        admin_failures=RateLimiter(
            settings.admin_failures_per_source_hour / 3600.0, settings.admin_failure_burst
        ),
    )


def create_app(store: Store, settings: ServerSettings | None = None) -> FastAPI:
    """The ASGI app over ``store``."""
    parts = build_parts(store, settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        parts.retention.start()
        yield
        parts.retention.stop()
        await run_in_threadpool(parts.writer.close)  # write what is queued before exiting

    app = FastAPI(
        lifespan=lifespan,
        title="Waymark reference server",
        version=__version__,
        description="Enrollment, telemetry ingestion, signed pack distribution and adoption "
        "reports for Waymark agents. The readable contract is docs/api.md.",
    )
    app.state.parts = parts
    # The last added runs first: security headers on every answer (refusals included),
    # then the count of it, then the input limits in front of every route.
    app.add_middleware(InputLimitsMiddleware, body_timeout=parts.settings.body_timeout)
    app.add_middleware(RequestMetricsMiddleware, metrics=parts.metrics)
    app.add_middleware(SecurityHeadersMiddleware, settings=parts.settings)
    app.add_exception_handler(DomainError, answer_domain_error)
    app.add_exception_handler(RequestValidationError, answer_validation_error)
    routers = (
        service.router,
        device.router,
        admin.router,
        credentials.router,
        enrollment_admin.router,
        dashboard.router,
    )
    for router in (*routers, dashboard_assets.router):
        app.include_router(router)
    return app
