"""What publishers and analysts call: bundles, versions, rollout, rollback, reports.

Analysts may only read; every write first checks for a publisher token.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from server.errors import NotFound
from server.publishing import publish_bundle
from server.report_csv import report_csv
from server.reports import DEFAULT_WINDOW_DAYS, MAX_WINDOW_DAYS, build_report
from server.routes.auth import AdminDep, require_publisher
from server.routes.body import read_capped
from server.routes.dependencies import StoreDep
from server.routes.errors import UNAUTHENTICATED, ErrorBody
from server.routes.fields import (
    BUNDLE_TYPE,
    DEVICE_ID_PATTERN,
    GROUP_PATTERN,
    NAME_PATTERN,
    iso_time,
)
from server.store import BundleRow

__all__ = [
    "BundleInfo",
    "ErasureInfo",
    "ReportQuery",
    "RollbackRequest",
    "RollbackResponse",
    "RolloutRequest",
    "router",
]

#: The largest bundle an upload may carry.
MAX_BUNDLE_UPLOAD = 4 * 1024 * 1024

router = APIRouter(tags=["admin"])


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

    @classmethod
    def of(cls, row: BundleRow) -> BundleInfo:
        """The listing entry of a stored version."""
        return cls(
            pack_id=row.pack_id,
            version=row.version,
            sha256=row.sha256,
            key_id=row.key_id,
            created=iso_time(row.created),
            expires=iso_time(row.expires),
            uploaded=iso_time(row.uploaded),
            rollout=row.rollout,
            groups=None if row.groups is None else list(row.groups),
            withdrawn=row.withdrawn,
        )


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


@router.post(
    "/v1/admin/bundles",
    status_code=201,
    response_model=BundleInfo,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {BUNDLE_TYPE: {"schema": {"type": "string", "format": "binary"}}},
        }
    },
    responses={
        **UNAUTHENTICATED,
        400: {"model": ErrorBody, "description": "Bad signature, unknown key, bad pack."},
        403: {"model": ErrorBody, "description": "Not a publisher token."},
        409: {"model": ErrorBody, "description": "Not newer than the current version."},
    },
)
async def upload(
    request: Request,
    admin: AdminDep,
    store: StoreDep,
    rollout: Annotated[int, Query(ge=0, le=100)] = 100,
    groups: Annotated[
        list[Annotated[str, Query(pattern=GROUP_PATTERN)]] | None, Query(max_length=64)
    ] = None,
) -> BundleInfo:
    """Upload a signed bundle; the server checks it against the tenant's publisher keys."""
    require_publisher(admin)
    data = await read_capped(request, MAX_BUNDLE_UPLOAD)
    row = await run_in_threadpool(
        publish_bundle, store, admin.tenant_id, data, rollout, groups, datetime.now(UTC),
        admin.actor,
    )  # fmt: skip
    return BundleInfo.of(row)


@router.get("/v1/admin/packs", response_model=list[BundleInfo], responses=UNAUTHENTICATED)
def list_packs(admin: AdminDep, store: StoreDep) -> list[BundleInfo]:
    """Every uploaded version of this tenant's packs, newest first."""
    return [BundleInfo.of(row) for row in store.list_bundles(admin.tenant_id)]


@router.put(
    "/v1/admin/packs/{pack_id}/versions/{version}/rollout",
    response_model=list[BundleInfo],
    responses={**UNAUTHENTICATED, 404: {"model": ErrorBody, "description": "No such version."}},
)
def set_rollout(
    pack_id: Annotated[str, Path(pattern=NAME_PATTERN)],
    version: Annotated[int, Path(ge=0, lt=2**31)],
    body: RolloutRequest,
    admin: AdminDep,
    store: StoreDep,
) -> list[BundleInfo]:
    """Set the rollout percentage (and optionally the groups) of one version."""
    require_publisher(admin)
    store.set_rollout(admin.tenant_id, pack_id, version, body.percent, body.groups)
    detail: dict[str, Any] = {"rollout": body.percent}
    if body.groups is not None:
        detail["groups"] = len(body.groups)
    store.credentials.record(admin.tenant_id, "rollout", admin.actor, f"{pack_id} v{version}",
                             detail)  # fmt: skip
    return [BundleInfo.of(r) for r in store.list_bundles(admin.tenant_id) if r.pack_id == pack_id]


@router.post(
    "/v1/admin/packs/{pack_id}/rollback",
    response_model=RollbackResponse,
    responses={**UNAUTHENTICATED, 404: {"model": ErrorBody, "description": "No such version."}},
)
def rollback(
    pack_id: Annotated[str, Path(pattern=NAME_PATTERN)],
    body: RollbackRequest,
    admin: AdminDep,
    store: StoreDep,
) -> RollbackResponse:
    """Withdraw every version above ``to_version``; new agents get that version again."""
    require_publisher(admin)
    withdrawn = store.rollback(admin.tenant_id, pack_id, body.to_version)
    store.credentials.record(admin.tenant_id, "rollback", admin.actor,
                             f"{pack_id} v{body.to_version}", {"withdrawn": withdrawn})  # fmt: skip
    return RollbackResponse(pack_id=pack_id, serving=body.to_version, withdrawn=withdrawn)


class ReportQuery(BaseModel):
    """What a report covers: local days, a pack, a group, the lift's observation window."""

    since: date | None = Field(default=None, description="First local day (default: 90 days back).")
    until: date | None = Field(default=None, description="Last local day (default: today).")
    pack_id: str | None = Field(default=None, pattern=NAME_PATTERN)
    group: str | None = Field(
        default=None, pattern=GROUP_PATTERN, description="Only devices in this group."
    )
    window_days: int = Field(
        default=DEFAULT_WINDOW_DAYS,
        ge=1,
        le=MAX_WINDOW_DAYS,
        description="Adoption counts within this many days of a device's first trigger.",
    )


ReportQueryDep = Annotated[ReportQuery, Depends()]
_BAD_RANGE: Final[dict[int | str, dict[str, Any]]] = {
    400: {"model": ErrorBody, "description": "since is after until, or the range is too long."}
}


def _report(store: StoreDep, admin: AdminDep, q: ReportQuery) -> dict[str, Any]:
    return build_report(
        store, admin.tenant_id, q.since, q.until, q.pack_id, group=q.group,
        window_days=q.window_days,
    )  # fmt: skip


@router.get("/v1/admin/reports", responses={**UNAUTHENTICATED, **_BAD_RANGE})
def report(admin: AdminDep, store: StoreDep, q: ReportQueryDep) -> dict[str, Any]:
    """Daily figures per habit and rule, and the lift vs. holdout (≥ 10 devices each)."""
    return _report(store, admin, q)


@router.get(
    "/v1/admin/reports.csv",
    response_class=Response,
    responses={
        **UNAUTHENTICATED,
        **_BAD_RANGE,
        200: {"content": {"text/csv": {}}, "description": "One figure a row."},
    },
)
def report_as_csv(admin: AdminDep, store: StoreDep, q: ReportQueryDep) -> Response:
    """The same report as CSV (``section, period, habit, rule, figure, value, note``)."""
    text = report_csv(_report(store, admin, q))
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="waymark-report.csv"'},
    )


class ErasureInfo(BaseModel):
    device_id: str
    erased: bool
    events: int
    exposures: int


@router.delete(
    "/v1/admin/devices/{device_id}",
    response_model=ErasureInfo,
    responses={
        **UNAUTHENTICATED,
        403: {"model": ErrorBody, "description": "Not a publisher token."},
        404: {"model": ErrorBody, "description": "No such device in this tenant."},
    },
)
def erase_device(
    device_id: Annotated[str, Path(pattern=DEVICE_ID_PATTERN)],
    admin: AdminDep,
    store: StoreDep,
) -> ErasureInfo:
    """Delete everything about one device: raw events, exposures, its row (audited)."""
    require_publisher(admin)
    done = store.erase_device(device_id.lower(), admin.tenant_id, actor=admin.actor)
    if not done.device_found:
        raise NotFound(f"this tenant has no device {device_id}")
    return ErasureInfo(
        device_id=device_id, erased=True, events=done.events, exposures=done.exposures
    )
