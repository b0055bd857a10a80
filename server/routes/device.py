"""What agents call: ``POST /v1/enroll``, ``POST /v1/events``, ``GET /v1/pack``."""

from __future__ import annotations

import time
from typing import Annotated, Any, Final

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from agent.rules.records import event_json_schema
from server.errors import DomainError, Forbidden, RateLimited, Unauthenticated
from server.ingest import MAX_COMPRESSED, MAX_EVENTS
from server.routes.auth import DeviceDep, IngestingDeviceDep
from server.routes.body import read_capped
from server.routes.dependencies import EnrollmentDep, IngestDep, LimiterDep, PartsDep, StoreDep
from server.routes.errors import UNAUTHENTICATED, ErrorBody
from server.routes.fields import BUNDLE_TYPE, GROUP_PATTERN, NAME_PATTERN
from server.routes.https import source_address
from server.store import Device
from server.withheld import WITHHELD_HEADER, withheld_version

__all__ = ["EnrollRequest", "EnrollResponse", "EventsResponse", "GroupsBody", "router"]

router = APIRouter(tags=["device"])


class EnrollRequest(BaseModel):
    token: str = Field(max_length=200, description="Tenant enrollment token (wme_…).")
    os: str = Field(default="unknown", pattern=r"^[a-z0-9_-]{1,16}$")
    agent_version: str = Field(default="0.0.0", pattern=r"^[0-9A-Za-z.+-]{1,32}$")
    groups: list[Annotated[str, Field(pattern=GROUP_PATTERN)]] = Field(
        default_factory=list, max_length=32, description="Audience groups (from policy)."
    )
    installation_id: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_-]{16,128}$",
        description="The agent's stable random id for this data folder or machine user; "
        "enrolling it again in the same tenant replaces that device (same id, new secret).",
    )


class GroupsBody(BaseModel):
    groups: list[Annotated[str, Field(pattern=GROUP_PATTERN)]] = Field(
        max_length=32, description="The device's audience groups now (from policy)."
    )


class EnrollResponse(BaseModel):
    device_id: str
    device_secret: str = Field(description="Send as `Authorization: Bearer …`; shown once.")
    status: str = Field(
        default="approved",
        description="approved | pending (telemetry is refused with 403 pending_approval "
        "until an administrator or the tenant's auto-approval quota approves the device)",
    )


class EventResult(BaseModel):
    uuid: str | None
    status: str = Field(description="ok | duplicate | rejected:<why>")


class EventsResponse(BaseModel):
    results: list[EventResult]
    ok: int
    duplicate: int
    rejected: int


#: The request body as published; the handler checks each event itself, so that one
#: bad event is answered ``rejected:<why>`` instead of refusing the batch.
_EVENTS_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "required": ["events"],
    "properties": {
        "events": {"type": "array", "maxItems": MAX_EVENTS, "items": event_json_schema()}
    },
}


def _approved(device: Device) -> None:
    if not device.approved:
        raise Forbidden(
            "this device waits for approval by an administrator; keep the events and "
            "try again later",
            code="pending_approval",
        )


@router.post(
    "/v1/enroll",
    response_model=EnrollResponse,
    responses={
        401: {
            "model": ErrorBody,
            "description": "Unknown (bad_token), revoked (token_revoked), expired "
            "(token_expired) or used-up (token_used_up) enrollment token.",
        },
        429: {
            "model": ErrorBody,
            "description": "Too many enrollments from this address (source_rate_limited) or "
            "with this token (token_rate_limited); see Retry-After.",
        },
    },
)
async def enroll(
    body: EnrollRequest, request: Request, parts: PartsDep, enrollment: EnrollmentDep
) -> EnrollResponse:
    """Trade a tenant enrollment token for a device id and secret (stored hashed).

    With an ``installation_id`` already enrolled in the tenant, the same device
    gets a new secret (the old one stops working) instead of a new device.
    """
    source = source_address(request, parts.settings)
    try:
        wait = parts.enroll_sources.acquire(source)
        if wait > 0:
            raise RateLimited(
                wait, "too many enrollments from this address", code="source_rate_limited"
            )
        done = await run_in_threadpool(
            enrollment.enroll,
            body.token,
            installation_id=body.installation_id,
            groups=sorted(set(body.groups)),
            os_name=body.os,
            agent_version=body.agent_version,
        )
    except DomainError as exc:
        parts.metrics.count_enrollment(exc.code)
        raise
    parts.metrics.count_enrollment(done.outcome)
    return EnrollResponse(
        device_id=done.device.id,
        device_secret=done.secret,
        status="approved" if done.approved else "pending",
    )


@router.post(
    "/v1/events",
    response_model=EventsResponse,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _EVENTS_SCHEMA}},
            "description": "Plain or `Content-Encoding: gzip`; ≤ 1 MiB sent, ≤ 5 MiB "
            "decompressed, ≤ 500 events.",
        }
    },
    responses={
        **UNAUTHENTICATED,
        400: {"model": ErrorBody, "description": "Malformed JSON or gzip."},
        403: {"model": ErrorBody, "description": "The device waits for approval."},
        413: {"model": ErrorBody, "description": "Too large or too many events."},
        429: {"model": ErrorBody, "description": "Rate limited; see Retry-After."},
    },
)
async def ingest(
    request: Request,
    sender: IngestingDeviceDep,
    limiter: LimiterDep,
    service: IngestDep,
    store: StoreDep,
) -> JSONResponse:
    """Store a batch of telemetry; answers a status per UUID (resends are harmless)."""
    _approved(sender.device)  # a waiting device is never answered from the cache
    try:
        wait = limiter.acquire(sender.device.id)
        if wait > 0:
            raise RateLimited(wait)
        raw = await read_capped(request, MAX_COMPRESSED)
        encoding = request.headers.get("content-encoding")
        answer = await service.ingest(sender.device, raw, encoding)
    except (Unauthenticated, RateLimited):
        # The write found the device revoked or erased; or a flood is refused without
        # a database read per request (its next request that gets through hears 401).
        raise
    except DomainError:
        await sender.confirm(store)  # a revoked device hears 401, not why its batch failed
        raise
    if answer.ok + answer.duplicate == 0:
        await sender.confirm(store)  # nothing was written, so nothing checked the device
    # Built by hand: validating 500 result models per batch costs more than the insert.
    return JSONResponse(answer.to_json())


_WITHHELD_DOC: Final[dict[str, Any]] = {
    WITHHELD_HEADER: {
        "description": "A newer version this device is not in: `<pack id> <version> "
        "<rollout|groups>` (absent when there is none).",
        "schema": {"type": "string"},
    }
}


@router.get(
    "/v1/pack",
    responses={
        **UNAUTHENTICATED,
        200: {
            "content": {BUNDLE_TYPE: {}},
            "description": "The signed bundle.",
            "headers": _WITHHELD_DOC,
        },
        204: {"description": "No pack for this device.", "headers": _WITHHELD_DOC},
        304: {"description": "Unchanged since If-None-Match.", "headers": _WITHHELD_DOC},
    },
    response_class=Response,
)
def pack(
    device: DeviceDep,
    store: StoreDep,
    pack_id: Annotated[str | None, Query(pattern=NAME_PATTERN)] = None,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """The signed bundle for this device: by tenant, groups and rollout ring.

    ``Waymark-Pack-Withheld: <pack id> <version> <rollout|groups>`` names a newer
    version the device is not in (on 200, 204 and 304 alike).
    """
    now = time.time()
    found = store.bundle_for(device, pack_id, now)
    withheld = withheld_version(store, device, pack_id, found[1] if found else None, now)
    headers = {WITHHELD_HEADER: withheld.header()} if withheld is not None else {}
    if found is None:
        return Response(status_code=204, headers=headers)
    data, digest = found
    etag = f'"{digest}"'
    if if_none_match and etag in [t.strip() for t in if_none_match.split(",")]:
        return Response(status_code=304, headers={"ETag": etag, **headers})
    return Response(data, media_type=BUNDLE_TYPE, headers={"ETag": etag, **headers})


@router.put(
    "/v1/device/groups",
    response_model=GroupsBody,
    responses={
        **UNAUTHENTICATED,
        403: {"model": ErrorBody, "description": "The device waits for approval."},
        429: {"model": ErrorBody, "description": "Rate limited."},
    },
)
def set_groups(
    body: GroupsBody, device: DeviceDep, limiter: LimiterDep, store: StoreDep
) -> GroupsBody:
    """Re-announce the device's audience groups (they changed in policy since enrollment).

    Reports count the device's events in its new groups from now on; packs
    limited to groups are chosen by the new ones.
    """
    _approved(device)
    wait = limiter.acquire(device.id)
    if wait > 0:
        raise RateLimited(wait)
    changed = store.set_groups(device, sorted(set(body.groups)))
    return GroupsBody(groups=list(changed.groups))
