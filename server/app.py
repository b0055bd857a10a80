"""The HTTP API (FastAPI): enrollment, ingestion, packs, admin, reports, dashboard.

Handlers translate HTTP to :class:`server.store.Store` calls; the database work
runs in the thread pool so the event loop only parses and answers.
"""

# No "from __future__ import annotations": FastAPI evaluates the handlers'
# annotations at runtime, and they name closures (device_auth, admin_auth).

import hashlib
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Final

from fastapi import Depends, FastAPI, Header, Path, Query, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, Field
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agent import __version__
from agent.rules.bundle import BundleError, verify_bundle
from server import reports
from server.group_commit import GroupWriter
from server.ingest import KINDS, MAX_COMPRESSED, BatchError, CheckedEvent, check_event, decode_body
from server.ingest import parse_batch as parse_events
from server.metrics import Metrics
from server.ratelimit import RateLimiter
from server.store import Admin, Device, NotFound, Store

__all__ = ["ApiError", "ServerSettings", "create_app"]

NAME_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
GROUP_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9 ._@-]{0,63}$"
BUNDLE_TYPE: Final = "application/vnd.waymark.bundle+json"


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """Knobs of one server process."""

    #: Per-device request budget: ``rate_burst`` at once, refilled at ``rate_per_second``.
    rate_per_second: float = 2.0
    rate_burst: int = 60


class ApiError(Exception):
    """An error answer: ``{"error": code, "message": text}`` with ``status``."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


class ErrorBody(BaseModel):
    error: str
    message: str


class EnrollRequest(BaseModel):
    token: str = Field(max_length=200, description="Tenant enrollment token (wme_…).")
    os: str = Field(default="unknown", pattern=r"^[a-z0-9_-]{1,16}$")
    agent_version: str = Field(default="0.0.0", pattern=r"^[0-9A-Za-z.+-]{1,32}$")
    groups: list[Annotated[str, Field(pattern=GROUP_PATTERN)]] = Field(
        default_factory=list, max_length=32, description="Audience groups (from policy)."
    )


class EnrollResponse(BaseModel):
    device_id: str
    device_secret: str = Field(description="Send as `Authorization: Bearer …`; shown once.")


class EventResult(BaseModel):
    uuid: str | None
    status: str = Field(description="ok | duplicate | rejected:<why>")


class EventsResponse(BaseModel):
    results: list[EventResult]
    ok: int
    duplicate: int
    rejected: int


class BundleInfo(BaseModel):
    pack_id: str
    version: int
    sha256: str
    key_id: str
    created: str
    expires: str
    uploaded: str
    rollout: int
    groups: list[str] | None
    withdrawn: bool


class RolloutRequest(BaseModel):
    percent: int = Field(ge=0, le=100)
    groups: list[Annotated[str, Field(pattern=GROUP_PATTERN)]] | None = Field(
        default=None, max_length=64, description="Limit to these groups; [] clears the limit."
    )


class RollbackRequest(BaseModel):
    to_version: int = Field(ge=0, lt=2**31)


class RollbackResponse(BaseModel):
    pack_id: str
    serving: int
    withdrawn: list[int]


_EVENT_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "required": ["events"],
    "properties": {
        "events": {
            "type": "array",
            "maxItems": 500,
            "items": {
                "type": "object",
                "required": ["uuid", "t", "kind", "pack_id", "pack_version"],
                "properties": {
                    "uuid": {"type": "string", "format": "uuid"},
                    "t": {"oneOf": [{"type": "number"}, {"type": "string"}]},
                    "kind": {
                        "type": "string",
                        "enum": sorted(KINDS),
                    },
                    "pack_id": {"type": "string"},
                    "pack_version": {"type": "integer"},
                    "rule": {"type": "string"},
                    "habit": {"type": "string"},
                    "reason": {"type": "string"},
                    "action": {"type": "string"},
                    "app": {"type": "string"},
                },
                "additionalProperties": False,
            },
        }
    },
}


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _bearer(authorization: str | None) -> str:
    if not authorization:
        raise ApiError(401, "no_token", "send Authorization: Bearer <token>")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "no_token", "send Authorization: Bearer <token>")
    return token.strip()


class _MetricsMiddleware:
    """Counts every request by its route template (not its raw path)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def _send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, _send)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            self.metrics.observe(scope["method"], path, status, time.perf_counter() - start)


def create_app(store: Store, settings: ServerSettings | None = None) -> FastAPI:
    """The ASGI app over ``store``."""
    settings = settings or ServerSettings()
    metrics = Metrics()
    limiter = RateLimiter(settings.rate_per_second, settings.rate_burst)
    # SQLite has one writer at a time; PostgreSQL commits one group while the next is built.
    writer = GroupWriter(
        store.insert_event_groups, threads=1 if store.engine.dialect.name == "sqlite" else 2
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await run_in_threadpool(writer.close)  # write what is queued before exiting

    app = FastAPI(
        lifespan=lifespan,
        title="Waymark reference server",
        version=__version__,
        description="Enrollment, telemetry ingestion, signed pack distribution and adoption "
        "reports for Waymark agents. The readable contract is docs/api.md.",
    )
    app.state.store = store
    app.state.metrics = metrics
    app.state.event_writer = writer
    app.add_middleware(_MetricsMiddleware, metrics=metrics)

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(
            {"error": exc.code, "message": exc.message}, exc.status, headers=exc.headers
        )

    async def device_auth(authorization: Annotated[str | None, Header()] = None) -> Device:
        token = _bearer(authorization)
        # Known devices are answered from memory, without a thread hop.
        device = store.cached_device(token) or await run_in_threadpool(store.device, token)
        if device is None:
            raise ApiError(401, "bad_token", "unknown device secret; enroll again")
        return device

    async def admin_auth(authorization: Annotated[str | None, Header()] = None) -> Admin:
        token = _bearer(authorization)
        admin = await run_in_threadpool(store.admin, token)
        if admin is None:
            raise ApiError(401, "bad_token", "unknown admin token")
        return admin

    def publisher(admin: Admin) -> None:
        if admin.role != "publisher":
            raise ApiError(403, "forbidden", "this needs a publisher token")

    errors: dict[int | str, dict[str, Any]] = {
        401: {"model": ErrorBody, "description": "Missing or unknown token."}
    }

    # ------------------------------------------------------------ service

    @app.get("/healthz", tags=["service"])
    def healthz() -> dict[str, str]:
        """Liveness and database reachability."""
        with store.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return {"status": "ok"}

    @app.get("/metrics", tags=["service"], response_class=PlainTextResponse)
    def prometheus() -> PlainTextResponse:
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

    # ------------------------------------------------------------ devices

    @app.post(
        "/v1/enroll",
        tags=["device"],
        response_model=EnrollResponse,
        responses={401: {"model": ErrorBody, "description": "Unknown enrollment token."}},
    )
    def enroll(body: EnrollRequest) -> EnrollResponse:
        """Trade a tenant enrollment token for a device id and secret (stored hashed)."""
        tenant = store.enroll_tenant(body.token)
        if tenant is None:
            raise ApiError(401, "bad_token", "unknown enrollment token")
        device, secret = store.enroll_device(
            tenant, sorted(set(body.groups)), body.os, body.agent_version
        )
        return EnrollResponse(device_id=device.id, device_secret=secret)

    @app.post(
        "/v1/events",
        tags=["device"],
        response_model=EventsResponse,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _EVENT_SCHEMA}},
                "description": "Plain or `Content-Encoding: gzip`; ≤ 1 MiB sent, ≤ 5 MiB "
                "decompressed, ≤ 500 events.",
            }
        },
        responses={
            **errors,
            400: {"model": ErrorBody, "description": "Malformed JSON or gzip."},
            413: {"model": ErrorBody, "description": "Too large or too many events."},
            429: {"model": ErrorBody, "description": "Rate limited; see Retry-After."},
        },
    )
    async def ingest(
        request: Request, device: Annotated[Device, Depends(device_auth)]
    ) -> JSONResponse:
        """Store a batch of telemetry; answers a status per UUID (resends are harmless)."""
        wait = limiter.acquire(device.id)
        if wait > 0:
            raise ApiError(
                429,
                "rate_limited",
                "too many requests from this device",
                {"Retry-After": str(max(1, int(wait + 0.999)))},
            )
        raw = await _read_capped(request, MAX_COMPRESSED)
        try:
            items = parse_events(decode_body(raw, request.headers.get("content-encoding")))
        except BatchError as exc:
            raise ApiError(exc.status, exc.code, str(exc)) from exc
        now = time.time()
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
                statuses.append((uid, "pending"))
        inserted = await writer.write(device, fresh)
        results: list[dict[str, str | None]] = []
        counts = {"ok": 0, "duplicate": 0, "rejected": 0}
        for uid, status in statuses:
            if status == "pending":
                status = "ok" if uid in inserted else "duplicate"
            counts["rejected" if status.startswith("rejected") else status] += 1
            results.append({"uuid": uid, "status": status})
        metrics.count_events(counts["ok"], counts["duplicate"], counts["rejected"])
        # Built by hand: validating 500 result models per batch costs more than the insert.
        return JSONResponse({"results": results, **counts})

    @app.get(
        "/v1/pack",
        tags=["device"],
        responses={
            **errors,
            200: {"content": {BUNDLE_TYPE: {}}, "description": "The signed bundle."},
            204: {"description": "No pack for this device."},
            304: {"description": "Unchanged since If-None-Match."},
        },
        response_class=Response,
    )
    def pack(
        device: Annotated[Device, Depends(device_auth)],
        pack_id: Annotated[str | None, Query(pattern=NAME_PATTERN)] = None,
        if_none_match: Annotated[str | None, Header()] = None,
    ) -> Response:
        """The signed bundle for this device: by tenant, groups and rollout ring."""
        found = store.bundle_for(device, pack_id, time.time())
        if found is None:
            return Response(status_code=204)
        data, digest = found
        etag = f'"{digest}"'
        if if_none_match and etag in [t.strip() for t in if_none_match.split(",")]:
            return Response(status_code=304, headers={"ETag": etag})
        return Response(data, media_type=BUNDLE_TYPE, headers={"ETag": etag})

    # ------------------------------------------------------------ admin

    @app.post(
        "/v1/admin/bundles",
        tags=["admin"],
        status_code=201,
        response_model=BundleInfo,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {BUNDLE_TYPE: {"schema": {"type": "string", "format": "binary"}}},
            }
        },
        responses={
            **errors,
            400: {"model": ErrorBody, "description": "Bad signature, unknown key, bad pack."},
            403: {"model": ErrorBody, "description": "Not a publisher token."},
            409: {"model": ErrorBody, "description": "Not newer than the current version."},
        },
    )
    async def upload(
        request: Request,
        admin: Annotated[Admin, Depends(admin_auth)],
        rollout: Annotated[int, Query(ge=0, le=100)] = 100,
        groups: Annotated[
            list[Annotated[str, Query(pattern=GROUP_PATTERN)]] | None, Query(max_length=64)
        ] = None,
    ) -> BundleInfo:
        """Upload a signed bundle; the server checks it against the tenant's publisher keys."""
        publisher(admin)
        data = await _read_capped(request, 4 * 1024 * 1024)
        return await run_in_threadpool(_store_bundle, store, admin, data, rollout, groups)

    @app.get("/v1/admin/packs", tags=["admin"], response_model=list[BundleInfo], responses=errors)
    def list_packs(admin: Annotated[Admin, Depends(admin_auth)]) -> list[BundleInfo]:
        """Every uploaded version of this tenant's packs, newest first."""
        return [_info(row) for row in store.list_bundles(admin.tenant_id)]

    @app.put(
        "/v1/admin/packs/{pack_id}/versions/{version}/rollout",
        tags=["admin"],
        response_model=list[BundleInfo],
        responses={**errors, 404: {"model": ErrorBody, "description": "No such version."}},
    )
    def set_rollout(
        pack_id: Annotated[str, Path(pattern=NAME_PATTERN)],
        version: Annotated[int, Path(ge=0, lt=2**31)],
        body: RolloutRequest,
        admin: Annotated[Admin, Depends(admin_auth)],
    ) -> list[BundleInfo]:
        """Set the rollout percentage (and optionally the groups) of one version."""
        publisher(admin)
        try:
            store.set_rollout(admin.tenant_id, pack_id, version, body.percent, body.groups)
        except NotFound as exc:
            raise ApiError(404, "not_found", str(exc)) from exc
        return [_info(r) for r in store.list_bundles(admin.tenant_id) if r.pack_id == pack_id]

    @app.post(
        "/v1/admin/packs/{pack_id}/rollback",
        tags=["admin"],
        response_model=RollbackResponse,
        responses={**errors, 404: {"model": ErrorBody, "description": "No such version."}},
    )
    def rollback(
        pack_id: Annotated[str, Path(pattern=NAME_PATTERN)],
        body: RollbackRequest,
        admin: Annotated[Admin, Depends(admin_auth)],
    ) -> RollbackResponse:
        """Withdraw every version above ``to_version``; new agents get that version again."""
        publisher(admin)
        try:
            withdrawn = store.rollback(admin.tenant_id, pack_id, body.to_version)
        except NotFound as exc:
            raise ApiError(404, "not_found", str(exc)) from exc
        return RollbackResponse(pack_id=pack_id, serving=body.to_version, withdrawn=withdrawn)

    @app.get("/v1/admin/reports", tags=["admin"], responses=errors)
    def report(
        admin: Annotated[Admin, Depends(admin_auth)],
        since: Annotated[date | None, Query()] = None,
        until: Annotated[date | None, Query()] = None,
        pack_id: Annotated[str | None, Query(pattern=NAME_PATTERN)] = None,
    ) -> dict[str, Any]:
        """Per habit, rule and day counts and the lift vs. holdout (≥ 10 devices each)."""
        return build_report(store, admin.tenant_id, since, until, pack_id)

    from server.dashboard import mount_dashboard

    mount_dashboard(app, store)
    return app


def build_report(
    store: Store, tenant_id: int, since: date | None, until: date | None, pack_id: str | None
) -> dict[str, Any]:
    """The report document served by /v1/admin/reports and drawn by /dashboard."""
    end = until or datetime.now(UTC).date()
    start = since or (end - timedelta(days=29))
    lo, hi = start.isoformat(), end.isoformat()
    return {
        "since": lo,
        "until": hi,
        "pack_id": pack_id,
        "min_devices": reports.MIN_DEVICES,
        "days": reports.daily(store.event_counts(tenant_id, lo, hi, pack_id)),
        "adoption": reports.adoption(store.habit_devices(tenant_id, lo, hi, pack_id)),
    }


async def _read_capped(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, "too_large", f"body is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "too_large", f"body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _info(row: Any) -> BundleInfo:
    return BundleInfo(
        pack_id=row.pack_id,
        version=row.version,
        sha256=row.sha256,
        key_id=row.key_id,
        created=_iso(row.created),
        expires=_iso(row.expires),
        uploaded=_iso(row.uploaded),
        rollout=row.rollout,
        groups=None if row.groups is None else list(row.groups),
        withdrawn=row.withdrawn,
    )


def _store_bundle(
    store: Store, admin: Admin, data: bytes, rollout: int, groups: list[str] | None
) -> BundleInfo:
    keys = store.publisher_keys(admin.tenant_id)
    # Verify first (signature, expiry, pack); only then look at the version.
    try:
        verified = verify_bundle(data, keys, None, datetime.now(UTC))
    except BundleError as exc:
        raise ApiError(400, exc.reason, str(exc)) from exc
    current = store.latest_version(admin.tenant_id, verified.manifest.pack_id)
    if current is not None and verified.manifest.version <= current:
        raise ApiError(
            409,
            "rollback",
            f"pack {verified.manifest.pack_id} version {verified.manifest.version} is not "
            f"newer than version {current} already uploaded; sign a higher version",
        )
    m = verified.manifest
    try:
        store.add_bundle(
            admin.tenant_id,
            pack_id=m.pack_id,
            version=m.version,
            data=data,
            sha256=hashlib.sha256(data).hexdigest(),
            key=m.key_id,
            created=m.created.timestamp(),
            expires=m.expires.timestamp(),
            rollout=rollout,
            groups=groups,
        )
    except IntegrityError as exc:  # a concurrent upload of the same version won the race
        raise ApiError(409, "rollback", "this version was just uploaded") from exc
    row = next(
        r
        for r in store.list_bundles(admin.tenant_id)
        if r.pack_id == m.pack_id and r.version == m.version
    )
    return _info(row)
