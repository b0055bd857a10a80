"""Who is asking: the device or admin behind ``Authorization: Bearer <token>``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection

from server.errors import Forbidden, RateLimited, Unauthenticated
from server.routes.dependencies import PartsDep, ServerParts, StoreDep
from server.routes.https import source_address
from server.store import Admin, Device, Store

__all__ = [
    "AdminDep",
    "DeviceDep",
    "IngestingDevice",
    "IngestingDeviceDep",
    "admin_auth",
    "checked_admin",
    "device_auth",
    "ingesting_device_auth",
    "require_publisher",
]


_UNKNOWN_DEVICE = "unknown or revoked device secret; enroll again"


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
    """The enrolled device whose secret the request carries (read from the database)."""
    token = _bearer(authorization)
    # Never from a process cache: a device revoked through one server process is
    # refused by all of them from the next request on.
    device = await run_in_threadpool(store.device, token)
    if device is None:
        raise Unauthenticated(_UNKNOWN_DEVICE)
    return device


@dataclass(frozen=True, slots=True)
class IngestingDevice:
    """The device of an event upload, perhaps from this process's cache.

    The cache is safe for uploads because the write transaction checks that the
    device is still enrolled and not revoked (:meth:`Store.insert_event_groups`);
    a request that ends up writing nothing calls :meth:`confirm` instead.
    """

    device: Device
    secret: str
    #: Read from the database for this request (not from the cache).
    confirmed: bool

    async def confirm(self, store: Store) -> None:
        """Raise Unauthenticated if the device was revoked or erased since it was cached."""
        if not self.confirmed and await run_in_threadpool(store.device, self.secret) is None:
            raise Unauthenticated(_UNKNOWN_DEVICE)


async def ingesting_device_auth(
    store: StoreDep, authorization: Annotated[str | None, Header()] = None
) -> IngestingDevice:
    """The device of an event upload: from memory when known (no thread hop)."""
    token = _bearer(authorization)
    cached = store.cached_device(token)
    # A device waiting for approval is read afresh, so its approval counts at once.
    if cached is not None and cached.approved:
        return IngestingDevice(cached, token, confirmed=False)
    device = await run_in_threadpool(store.device, token)
    if device is None:
        raise Unauthenticated(_UNKNOWN_DEVICE)
    return IngestingDevice(device, token, confirmed=True)


async def checked_admin(parts: ServerParts, request: HTTPConnection, token: str) -> Admin:
    """The admin whose token ``token`` is; Unauthenticated when it is none (which spends
    the source address's failure budget, ``ServerSettings.admin_failure_burst``),
    RateLimited while that budget is spent, whatever the token."""
    source = source_address(request, parts.settings)
    wait = parts.admin_failures.wait(source)
    if wait > 0:
        parts.metrics.count_admin_refusal("source_rate_limited")
        raise RateLimited(
            wait, "too many wrong admin tokens from this address", code="source_rate_limited"
        )
    admin = await run_in_threadpool(parts.store.admin, token)
    if admin is None:
        parts.admin_failures.acquire(source)
        parts.metrics.count_admin_refusal("unknown_token")
        raise Unauthenticated("unknown, revoked or expired admin token")
    return admin


async def admin_auth(
    parts: PartsDep, request: Request, authorization: Annotated[str | None, Header()] = None
) -> Admin:
    """The publisher or analyst whose admin token the request carries."""
    return await checked_admin(parts, request, _bearer(authorization))


def require_publisher(admin: Admin) -> None:
    """Refuse an analyst: only publishers may change what is served."""
    if admin.role != "publisher":
        raise Forbidden("this needs a publisher token")


DeviceDep = Annotated[Device, Depends(device_auth)]
IngestingDeviceDep = Annotated[IngestingDevice, Depends(ingesting_device_auth)]
AdminDep = Annotated[Admin, Depends(admin_auth)]
