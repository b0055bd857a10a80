"""Domain errors become answers in one place, with the documented shape and status."""

from __future__ import annotations

import asyncio
import json

import pytest
from starlette.requests import Request

from server import errors
from server.errors import DomainError, RateLimited
from server.routes.errors import STATUS, answer_domain_error, status_of

REQUEST = Request({"type": "http", "method": "GET", "path": "/", "headers": []})


def test_every_domain_error_has_a_status() -> None:
    kinds = [getattr(errors, name) for name in errors.__all__]
    subclasses = [k for k in kinds if k is not DomainError]
    assert set(subclasses) == set(STATUS)
    for kind in subclasses:
        error = kind(1.0) if kind is RateLimited else kind("why")
        assert status_of(error) != 500, kind


@pytest.mark.parametrize(
    ("error", "status", "body"),
    [
        (errors.NotFound("pack p has no version 3"), 404, "not_found"),
        (errors.Invalid("bad", code="bad_signature"), 400, "bad_signature"),
        (errors.Conflict("older", code="rollback"), 409, "rollback"),
        (errors.Unauthenticated("who?", code="no_token"), 401, "no_token"),
    ],
)
def test_an_error_is_answered_with_its_code_and_message(
    error: DomainError, status: int, body: str
) -> None:
    answer = asyncio.run(answer_domain_error(REQUEST, error))
    assert answer.status_code == status
    assert json.loads(bytes(answer.body)) == {"error": body, "message": error.message}
    assert "retry-after" not in answer.headers


def test_a_rate_limit_says_when_to_come_back_in_whole_seconds() -> None:
    for wait, header in ((0.2, "1"), (1.0, "1"), (1.01, "2"), (29.5, "30")):
        answer = asyncio.run(answer_domain_error(REQUEST, RateLimited(wait)))
        assert (answer.status_code, answer.headers["retry-after"]) == (429, header)
        assert json.loads(bytes(answer.body))["error"] == "rate_limited"
