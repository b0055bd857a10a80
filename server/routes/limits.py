"""Bounding every request's input before a route sees it: headers, body size, body time, JSON.

One ASGI middleware, in front of every route, authenticated or not:

- more than :data:`MAX_HEADERS` header fields → ``431``;
- a body over its route's limit (:func:`body_limit`) → ``413``: at once when
  ``Content-Length`` says so (nothing is read), else as soon as the bytes
  read (chunked bodies included) pass it;
- a body that takes longer than ``body_timeout`` seconds to arrive, however
  slowly it trickles → ``408``;
- a JSON body (no ``Content-Type``, ``application/json`` or ``…+json``) nested
  deeper than :data:`~server.json_guard.MAX_JSON_DEPTH` or holding NaN/Infinity
  → ``400``, before FastAPI parses it.  The two large bodies, event batches and
  bundles, are parsed by their own handlers after authentication
  (:func:`server.json_guard.loads_strict`, :mod:`agent.rules.bundle`).

The body is read here, up to its limit, and handed on whole.  The header
*size* and slow headers are bounded by the HTTP protocol layer before any of
this runs (:mod:`server.routes.protocol`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Final

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.errors import DomainError
from server.ingest import MAX_COMPRESSED
from server.json_guard import check_json_bytes
from server.routes.admin import MAX_BUNDLE_UPLOAD
from server.routes.errors import refusal, status_of

__all__ = [
    "MAX_HEADERS",
    "MAX_HEADER_BYTES",
    "SMALL_BODY",
    "BodyLimit",
    "InputLimitsMiddleware",
    "body_limit",
]

#: The most header fields one request may carry.
MAX_HEADERS: Final = 100
#: The most bytes a request line and its headers may take (the protocol layer's bound).
MAX_HEADER_BYTES: Final = 32 * 1024
#: The body limit of every route not named in :data:`LARGE_BODIES` (enrollment, sign-in,
#: rollout, rollback, groups; and any body sent where none is expected).
SMALL_BODY: Final = 16 * 1024


@dataclass(frozen=True, slots=True)
class BodyLimit:
    """How large a route's body may be, and who checks its JSON."""

    max_bytes: int
    #: The handler parses the body itself (after authentication), with its own guards.
    handler_parses: bool = False


#: The routes that take more than :data:`SMALL_BODY`: (method, path) → limit.
LARGE_BODIES: Final[dict[tuple[str, str], BodyLimit]] = {
    ("POST", "/v1/events"): BodyLimit(MAX_COMPRESSED, handler_parses=True),
    ("POST", "/v1/admin/bundles"): BodyLimit(MAX_BUNDLE_UPLOAD, handler_parses=True),
}
_SMALL: Final = BodyLimit(SMALL_BODY)


def body_limit(method: str, path: str) -> BodyLimit:
    """The body limit of a request to ``method path``."""
    return LARGE_BODIES.get((method, path.rstrip("/") or "/"), _SMALL)


class _Refused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class _Disconnected(Exception):
    pass


class InputLimitsMiddleware:
    """ASGI middleware: refuses what is too many, too large, too slow or too deep."""

    def __init__(self, app: ASGIApp, body_timeout: float) -> None:
        self.app, self.body_timeout = app, body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            body = await self._checked_body(scope, receive)
        except _Refused as exc:
            # The rest of the body is not read: the connection cannot be reused.
            answer = refusal(exc.status, exc.code, exc.message, {"Connection": "close"})
            await answer(scope, receive, send)
            return
        except _Disconnected:
            return
        await self.app(scope, _replay(body, receive), send)

    async def _checked_body(self, scope: Scope, receive: Receive) -> bytes:
        if len(scope["headers"]) > MAX_HEADERS:
            raise _Refused(
                431, "too_many_headers", f"a request carries at most {MAX_HEADERS} header fields"
            )
        limit = body_limit(scope["method"], scope["path"])
        headers = Headers(scope=scope)
        declared = headers.get("content-length")
        if declared and declared.strip().isdigit() and int(declared) > limit.max_bytes:
            raise _too_large(limit)
        try:
            async with asyncio.timeout(self.body_timeout):
                body = await _read(receive, limit)
        except TimeoutError:
            raise _Refused(
                408,
                "body_timeout",
                f"the request body did not arrive within {self.body_timeout:g} seconds",
            ) from None
        if body and not limit.handler_parses and _is_plain_json(headers):
            try:
                check_json_bytes(body)
            except DomainError as exc:
                raise _Refused(status_of(exc), exc.code, exc.message) from None
        return body


def _too_large(limit: BodyLimit) -> _Refused:
    return _Refused(413, "too_large", f"body is larger than {limit.max_bytes} bytes")


async def _read(receive: Receive, limit: BodyLimit) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit.max_bytes:
            raise _too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _is_plain_json(headers: Headers) -> bool:
    """Whether FastAPI would parse this body as JSON (it does when there is no type)."""
    if headers.get("content-encoding", "identity").strip().lower() not in ("", "identity"):
        return False  # FastAPI does not decompress: it cannot parse it either
    media = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return media in ("", "application/json") or (
        media.startswith("application/") and media.endswith("+json")
    )


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands over ``body`` whole, then waits for the disconnect."""
    given = False

    async def replayed() -> Message:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed
