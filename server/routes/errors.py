"""The one place where a domain error becomes an HTTP answer.

Every refusal has the shape ``{"error": code, "message": text}`` (docs/api.md);
the status depends only on the kind of error.  Request-shape errors that
FastAPI finds itself keep its own ``422 {"detail": [...]}``, rendered so that
any input can be echoed (NaN, ``1e400``, bytes that are not UTF-8, a huge
string), never failing into a 500.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final

from fastapi import Request
from fastapi.exceptions import RequestValidationError
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

__all__ = [
    "STATUS",
    "UNAUTHENTICATED",
    "ErrorBody",
    "answer_domain_error",
    "answer_validation_error",
    "refusal",
    "status_of",
]

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


def refusal(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """The answer ``{"error": code, "message": message}`` with ``status``."""
    return JSONResponse({"error": code, "message": message}, status, headers=headers)


async def answer_domain_error(_request: Request, exc: Exception) -> JSONResponse:
    """The exception handler for :class:`~server.errors.DomainError`."""
    assert isinstance(exc, DomainError)
    headers = None
    if isinstance(exc, RateLimited):
        headers = {"Retry-After": str(max(1, int(exc.retry_after + 0.999)))}
    return refusal(status_of(exc), exc.code, exc.message, headers)


#: The longest echo of a refused value (a 16 KiB string is not repeated whole).
_ECHO_CHARS: Final = 200


async def answer_validation_error(_request: Request, exc: Exception) -> JSONResponse:
    """The exception handler for FastAPI's ``RequestValidationError``: ``422 {"detail"}``
    as FastAPI words it, with every echoed value made renderable."""
    assert isinstance(exc, RequestValidationError)
    return JSONResponse({"detail": [_renderable(error) for error in exc.errors()]}, 422)


def _renderable(value: object) -> Any:
    """``value`` as plain JSON: strings cut short, non-finite floats and everything else
    (bytes, exceptions, huge integers) as text."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        # (str() of a huge one raises: Python refuses to print more than 4,300 digits)
        return value if abs(value) < 2**63 else f"an integer of {value.bit_length()} bits"
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return _short(value)
    if isinstance(value, bytes | bytearray):
        return _short(bytes(value[: _ECHO_CHARS * 4]).decode("utf-8", "replace"))
    if isinstance(value, Mapping):
        return {_short(str(k)): _renderable(v) for k, v in list(value.items())[:50]}
    if isinstance(value, list | tuple | set | frozenset):
        return [_renderable(v) for v in list(value)[:50]]
    return _short(str(value))


def _short(text: str) -> str:
    text = text if len(text) <= _ECHO_CHARS else text[:_ECHO_CHARS] + "…"
    # A lone surrogate (a "\\ud800" escape in the JSON) cannot be encoded as UTF-8.
    return text.encode("utf-8", "replace").decode("utf-8")
