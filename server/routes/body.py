"""Reading a request body with a hard cap, so an oversized upload costs at most the cap."""

from __future__ import annotations

from fastapi import Request

from server.errors import TooLarge

__all__ = ["read_capped"]


async def read_capped(request: Request, limit: int) -> bytes:
    """The body of ``request``; :class:`~server.errors.TooLarge` past ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"body is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
