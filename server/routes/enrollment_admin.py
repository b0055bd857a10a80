"""What publishers call about enrollment: tokens, the tenant's approval mode, pending devices.

Every route here needs a publisher token; token creation and revocation and
every approval go to the audit log (server/enrollment.py).
"""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from server.enrollment import (
    DEFAULT_EXPIRES_DAYS,
    DEFAULT_PER_HOUR,
    MAX_COUNT,
    TenantApproval,
    TokenInfo,
)
from server.routes.auth import AdminDep, require_publisher
from server.routes.dependencies import EnrollmentDep
from server.routes.errors import UNAUTHENTICATED, ErrorBody
from server.routes.fields import DEVICE_ID_PATTERN, iso_time

__all__ = [
    "ApprovalBody",
    "ApproveRequest",
    "NewToken",
    "PendingInfo",
    "TokenListing",
    "TokenRequest",
    "router",
]

router = APIRouter(tags=["enrollment"])

_PUBLISHER = {
    **UNAUTHENTICATED,
    403: {"model": ErrorBody, "description": "Not a publisher token."},
}


class TokenRequest(BaseModel):
    expires_days: int | None = Field(
        default=DEFAULT_EXPIRES_DAYS, ge=1, le=3650, description="null: never expires."
    )
    max_uses: int | None = Field(
        default=None, ge=1, le=MAX_COUNT, description="Devices it may add; null: any."
    )
    per_hour: int | None = Field(
        default=None,
        ge=1,
        le=MAX_COUNT,
        description=f"Enrollments per rolling hour; null: {DEFAULT_PER_HOUR}.",
    )


class TokenListing(BaseModel):
    id: int
    prefix: str
    created: str
    expires: str | None
    max_uses: int | None
    uses: int
    per_hour: int
    revoked: str | None
    state: str = Field(description="active | expired | used_up | revoked")

    @classmethod
    def of(cls, t: TokenInfo) -> TokenListing:
        """The listing entry of a token (never its secret)."""
        return cls(
            id=t.id,
            prefix=t.prefix,
            created=iso_time(t.created) or "",
            expires=iso_time(t.expires),
            max_uses=t.max_uses,
            uses=t.uses,
            per_hour=t.per_hour or DEFAULT_PER_HOUR,
            revoked=iso_time(t.revoked),
            state=t.state(time.time()),
        )


class NewToken(TokenListing):
    token: str = Field(description="The enrollment token (wme_…); shown once.")


class ApprovalBody(BaseModel):
    mode: str = Field(pattern="^(auto|manual)$")
    per_hour: int | None = Field(
        default=None,
        ge=0,
        le=MAX_COUNT,
        description="auto only: new devices approved per token and hour.",
    )

    @classmethod
    def of(cls, a: TenantApproval) -> ApprovalBody:
        """The body of a tenant's approval setting."""
        return cls(mode=a.mode, per_hour=a.per_hour)


class PendingInfo(BaseModel):
    device_id: str
    os: str
    agent_version: str
    enrolled: str
    token_id: int | None


class ApproveRequest(BaseModel):
    device_ids: list[Annotated[str, Field(pattern=DEVICE_ID_PATTERN)]] = Field(
        min_length=1, max_length=1000
    )


class ApproveResponse(BaseModel):
    approved: int


@router.post(
    "/v1/admin/enroll-tokens", status_code=201, response_model=NewToken, responses=_PUBLISHER
)
def create_token(body: TokenRequest, admin: AdminDep, enrollment: EnrollmentDep) -> NewToken:
    """Issue an enrollment token with an expiry, a use limit and an hourly rate."""
    require_publisher(admin)
    info, secret = enrollment.create_token(
        admin.tenant_id,
        expires_in=None if body.expires_days is None else body.expires_days * 86400.0,
        max_uses=body.max_uses,
        per_hour=body.per_hour,
        actor="api",
    )
    return NewToken(**TokenListing.of(info).model_dump(), token=secret)


@router.get("/v1/admin/enroll-tokens", response_model=list[TokenListing], responses=_PUBLISHER)
def list_tokens(admin: AdminDep, enrollment: EnrollmentDep) -> list[TokenListing]:
    """The tenant's enrollment tokens: id, prefix, limits, uses, state (never the secret)."""
    require_publisher(admin)
    return [TokenListing.of(t) for t in enrollment.tokens(admin.tenant_id)]


@router.delete(
    "/v1/admin/enroll-tokens/{token_id}",
    response_model=TokenListing,
    responses={**_PUBLISHER, 404: {"model": ErrorBody, "description": "No such token."}},
)
def revoke_token(
    token_id: Annotated[int, Path(ge=1, lt=2**31)], admin: AdminDep, enrollment: EnrollmentDep
) -> TokenListing:
    """Revoke a token: it enrolls nothing more; the devices it enrolled keep working."""
    require_publisher(admin)
    return TokenListing.of(enrollment.revoke_token(admin.tenant_id, token_id, actor="api"))


@router.get("/v1/admin/approval", response_model=ApprovalBody, responses=_PUBLISHER)
def get_approval(admin: AdminDep, enrollment: EnrollmentDep) -> ApprovalBody:
    """Whether new devices of this tenant wait for approval."""
    require_publisher(admin)
    return ApprovalBody.of(enrollment.approval(admin.tenant_id))


@router.put(
    "/v1/admin/approval",
    response_model=ApprovalBody,
    responses={**_PUBLISHER, 400: {"model": ErrorBody, "description": "Bad mode."}},
)
def set_approval(body: ApprovalBody, admin: AdminDep, enrollment: EnrollmentDep) -> ApprovalBody:
    """``auto`` (optionally ``per_hour`` new devices per token and hour) or ``manual``."""
    require_publisher(admin)
    done = enrollment.set_approval(admin.tenant_id, body.mode, body.per_hour, actor="api")
    return ApprovalBody.of(done)


@router.get("/v1/admin/devices/pending", response_model=list[PendingInfo], responses=_PUBLISHER)
def pending(admin: AdminDep, enrollment: EnrollmentDep) -> list[PendingInfo]:
    """Devices waiting for approval, oldest first."""
    require_publisher(admin)
    return [
        PendingInfo(
            device_id=d.id,
            os=d.os,
            agent_version=d.agent_version,
            enrolled=iso_time(d.created) or "",
            token_id=d.token_id,
        )
        for d in enrollment.pending(admin.tenant_id)
    ]


@router.post(
    "/v1/admin/devices/approve",
    response_model=ApproveResponse,
    responses={**_PUBLISHER, 404: {"model": ErrorBody, "description": "Unknown device."}},
)
async def approve(
    body: ApproveRequest, admin: AdminDep, enrollment: EnrollmentDep
) -> ApproveResponse:
    """Approve waiting devices; they may send telemetry at once (other server processes:
    within 5 minutes)."""
    require_publisher(admin)
    n = await run_in_threadpool(enrollment.approve, admin.tenant_id, body.device_ids, "api")
    return ApproveResponse(approved=n)
