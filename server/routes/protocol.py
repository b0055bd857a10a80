"""The HTTP/1.1 protocol ``waymark-server serve`` runs: uvicorn's h11 one, with a deadline
for the request line and headers.

h11 bounds the size of a request's head (``h11_max_incomplete_event_size``,
set by ``serve`` to :data:`server.routes.limits.MAX_HEADER_BYTES`: more is
``400`` and the connection closed).  uvicorn has no deadline for the head
itself, so a client that sends one byte a second (slowloris) holds its
connection forever; here a connection gets ``header_timeout`` seconds from
its first byte (or from its opening) to finish a request's head, then it is
answered ``408`` and closed.  Idle keep-alive connections stay uvicorn's
business (``timeout_keep_alive``); the body's deadline is the middleware's
(:mod:`server.routes.limits`).
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Final

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from server.settings import DEFAULT_HEADER_TIMEOUT

__all__ = ["HEADER_TIMEOUT_ENV", "BoundedH11Protocol"]

#: Where ``serve`` puts ``--header-timeout`` for every worker process.
HEADER_TIMEOUT_ENV: Final = "WAYMARK_HEADER_TIMEOUT"

_BODY: Final = json.dumps(
    {"error": "header_timeout", "message": "the request headers did not arrive in time"}
).encode()
_TIMED_OUT: Final = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
    b"connection: close\r\ncontent-length: " + str(len(_BODY)).encode() + b"\r\n\r\n" + _BODY
)


class BoundedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol; a request's head must arrive within the header timeout."""

    _deadline: asyncio.TimerHandle | None = None
    _received = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._header_timeout = float(os.environ.get(HEADER_TIMEOUT_ENV) or DEFAULT_HEADER_TIMEOUT)
        self._arm()

    def data_received(self, data: bytes) -> None:
        self._received = True
        if self.conn.their_state is h11.IDLE and self._deadline is None:
            self._arm()  # the first byte of the next request on a kept-alive connection
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_response_complete(self) -> None:
        # Idle between requests is the keep-alive timeout's to bound.
        self._disarm()
        super().on_response_complete()

    def _arm(self) -> None:
        self._deadline = self.loop.call_later(self._header_timeout, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        if self._received:
            self.transport.write(_TIMED_OUT)
        self.transport.close()
