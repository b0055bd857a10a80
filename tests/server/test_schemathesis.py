"""Property-based requests from /openapi.json (schemathesis): no input gives a 5xx.

Valid and invalid requests (positive and negative generation) for every
operation, with real tokens so that the handlers behind the auth run too.
"""

from __future__ import annotations

from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from devtools.live_server import RunningServer
from tests.server.conftest import Tenant, auth, enroll

EXAMPLES_PER_OPERATION = 25


def test_no_request_from_the_schema_causes_a_server_error(
    live: RunningServer, client: httpx.Client, acme: Tenant
) -> None:
    schema = schemathesis.openapi.from_url(f"{live.url}/openapi.json")
    device = auth(enroll(client, acme))
    publisher = auth(acme.publisher_token)
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) >= 9
    failures: list[str] = []

    for operation in operations:
        path: str = operation.path
        headers = (
            publisher
            if path.startswith("/v1/admin")
            else device
            if path in ("/v1/events", "/v1/pack")
            else {}
        )

        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _explore(operation, mode, live.url, headers, failures)
    assert failures == []


def _explore(
    operation: Any,
    mode: GenerationMode,
    base_url: str,
    headers: dict[str, str],
    failures: list[str],
) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        response = case.call(base_url=base_url, headers=headers)
        if response.status_code >= 500:
            failures.append(f"{case.method} {case.formatted_path}: {response.status_code}")

    try:
        run()
    except Unsatisfiable:
        # Nothing can be invalid about an operation without inputs (/healthz).
        assert mode is GenerationMode.NEGATIVE
