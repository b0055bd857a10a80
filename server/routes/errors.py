"""The one place where a domain error becomes an HTTP answer.

Every refusal has the shape ``{"error": code, "message": text}`` (docs/api.md);
the status depends only on the kind of error.  Request-shape errors that
FastAPI finds itself keep its own ``422 {"detail": [...]}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from server.errors import (
    Conflict,
    DomainError,
    Forbidden,
    Invalid,
    NotFound,
    RateLimited,
    TooLarge,
    Unauthenticated,
    UnsupportedEncoding,
)

__all__ = ["STATUS", "UNAUTHENTICATED", "ErrorBody", "answer_domain_error", "status_of"]

STATUS: Final[Mapping[type[DomainError], int]] = {
    Invalid: 400,
    Unauthenticated: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    TooLarge: 413,
    UnsupportedEncoding: 415,
    RateLimited: 429,
}


# The body of every refusal (no docstring: it would change the published schema).
class ErrorBody(BaseModel):
    error: str
    message: str


#: The OpenAPI entry every authenticated operation shares.
UNAUTHENTICATED: Final[dict[int | str, dict[str, Any]]] = {
    401: {"model": ErrorBody, "description": "Missing or unknown token."}
}


def status_of(exc: DomainError) -> int:
    """The HTTP status for ``exc``; 500 for one nobody mapped (a bug here, not the client's)."""
    return next((status for kind, status in STATUS.items() if isinstance(exc, kind)), 500)


async def answer_domain_error(_request: Request, exc: Exception) -> JSONResponse:
    """The exception handler for :class:`~server.errors.DomainError`."""
    assert isinstance(exc, DomainError)
    headers = None
    if isinstance(exc, RateLimited):
        headers = {"Retry-After": str(max(1, int(exc.retry_after + 0.999)))}
    return JSONResponse(
        {"error": exc.code, "message": exc.message}, status_of(exc), headers=headers
    )
