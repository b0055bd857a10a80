"""Domain errors: what the server's own code raises when it refuses something.

They know nothing of HTTP.  Each carries a stable ``code`` (the ``error`` of
an answer, docs/api.md) and a message that says what went wrong and what to
do; :mod:`server.routes.errors` is the one place that turns them into answers.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "Conflict",
    "DomainError",
    "Forbidden",
    "Invalid",
    "NotFound",
    "RateLimited",
    "TooLarge",
    "Unauthenticated",
    "UnsupportedEncoding",
]


class DomainError(Exception):
    """A refusal with a stable ``code`` and a message for the person who meets it."""

    #: The code when the raiser names none.
    default_code: ClassVar[str] = "error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code: str = code or self.default_code


class Unauthenticated(DomainError):
    """No credential, or one this server does not know."""

    default_code = "bad_token"


class Forbidden(DomainError):
    """A known credential that may not do this (an analyst asking to publish)."""

    default_code = "forbidden"


class NotFound(DomainError):
    """A named tenant, pack or version does not exist (for this tenant)."""

    default_code = "not_found"


class Conflict(DomainError):
    """The request contradicts what is stored (a version not newer than the last)."""

    default_code = "conflict"


class Invalid(DomainError):
    """Content that fails a check: bad JSON or gzip, a bad signature, an invalid pack."""

    default_code = "invalid"


class TooLarge(DomainError):
    """A body or a batch over its limit."""

    default_code = "too_large"


class UnsupportedEncoding(DomainError):
    """A content encoding the server does not decode."""

    default_code = "unsupported_encoding"


class RateLimited(DomainError):
    """A request budget is spent (a device's, an enrollment token's or a source address's);
    the caller may try again after ``retry_after`` seconds."""

    default_code = "rate_limited"

    def __init__(
        self,
        retry_after: float,
        message: str = "too many requests from this device",
        *,
        code: str | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after
