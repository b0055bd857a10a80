"""Who is asking: the device or admin behind ``Authorization: Bearer <token>``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header
from starlette.concurrency import run_in_threadpool

from server.errors import Forbidden, Unauthenticated
from server.routes.dependencies import StoreDep
from server.store import Admin, Device

__all__ = ["AdminDep", "DeviceDep", "admin_auth", "device_auth", "require_publisher"]


def _bearer(authorization: str | None) -> str:
    if not authorization:
        raise Unauthenticated("send Authorization: Bearer <token>", code="no_token")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("send Authorization: Bearer <token>", code="no_token")
    return token.strip()


async def device_auth(
    store: StoreDep, authorization: Annotated[str | None, Header()] = None
) -> Device:
    """The enrolled device whose secret the request carries."""
    token = _bearer(authorization)
    # Read on every request, never from a process cache: a device revoked through one
    # server process is refused by all of them from the next request on.
    device = await run_in_threadpool(store.device, token)
    if device is None:
        raise Unauthenticated("unknown or revoked device secret; enroll again")
    return device


async def admin_auth(
    store: StoreDep, authorization: Annotated[str | None, Header()] = None
) -> Admin:
    """The publisher or analyst whose admin token the request carries."""
    token = _bearer(authorization)
    admin = await run_in_threadpool(store.admin, token)
    if admin is None:
        raise Unauthenticated("unknown, revoked or expired admin token")
    return admin


def require_publisher(admin: Admin) -> None:
    """Refuse an analyst: only publishers may change what is served."""
    if admin.role != "publisher":
        raise Forbidden("this needs a publisher token")


DeviceDep = Annotated[Device, Depends(device_auth)]
AdminDep = Annotated[Admin, Depends(admin_auth)]
