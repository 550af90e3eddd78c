"""Reading a request body within a bound (`read_body`): protocol endpoints read at most a few KiB,
whatever the client sends. (The per-route size and time limits of every body are `api.body_limits`;
requests per client, `api.ratelimit`.)"""

from __future__ import annotations

from fastapi import Request

from core.errors import Kind, ServiceError


class BodyTooLarge(ServiceError):
    def __init__(self, limit: int) -> None:
        super().__init__(Kind.MALFORMED, f"the request body is larger than {limit} bytes")
        self.limit = limit


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refusing (without buffering it) anything over ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        chunks.append(chunk)
    return b"".join(chunks)
