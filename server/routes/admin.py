"""What publishers and analysts call: bundles, versions, rollout, rollback, reports.

Analysts may only read; every write first checks for a publisher token.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from server.publishing import publish_bundle
from server.reports import build_report
from server.routes.auth import AdminDep, require_publisher
from server.routes.body import read_capped
from server.routes.dependencies import StoreDep
from server.routes.errors import UNAUTHENTICATED, ErrorBody
from server.routes.fields import BUNDLE_TYPE, GROUP_PATTERN, NAME_PATTERN
from server.store import BundleRow

__all__ = ["BundleInfo", "RollbackRequest", "RollbackResponse", "RolloutRequest", "router"]

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
            created=_iso(row.created),
            expires=_iso(row.expires),
            uploaded=_iso(row.uploaded),
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


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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
        publish_bundle, store, admin.tenant_id, data, rollout, groups, datetime.now(UTC)
    )
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
    return RollbackResponse(pack_id=pack_id, serving=body.to_version, withdrawn=withdrawn)


@router.get("/v1/admin/reports", responses=UNAUTHENTICATED)
def report(
    admin: AdminDep,
    store: StoreDep,
    since: Annotated[date | None, Query()] = None,
    until: Annotated[date | None, Query()] = None,
    pack_id: Annotated[str | None, Query(pattern=NAME_PATTERN)] = None,
) -> dict[str, Any]:
    """Per habit, rule and day counts and the lift vs. holdout (≥ 10 devices each)."""
    return build_report(store, admin.tenant_id, since, until, pack_id)
