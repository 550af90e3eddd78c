"""Every request body is bounded in size and in time, before any handler or form parser sees it.

FastAPI parses a multipart upload completely (spooling files to disk) before a handler can look at its
size, so the limits are enforced here, in a plain ASGI middleware, per route:

- a declared ``Content-Length`` over the route's limit is answered 413 at once, nothing read;
- a body that turns out larger while it streams in (chunked, or a lying length) stops with 413 as soon
  as the limit is passed;
- a client that pauses longer than ``KYSO_UPLOAD_IDLE_SECONDS`` between two chunks, or takes longer
  than ``KYSO_UPLOAD_TIMEOUT_SECONDS`` for the whole body, gets 408 (a slow upload holds a worker's
  memory and a connection; a phone on a bad network still sends a chunk every few seconds).

``limit_for`` is the route table (``docs/security.md`` lists it); routes that read their body themselves
(``api.request_body.read_body``: check-in images, offline sync, the TSA) keep their own, smaller limits too.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import problem
from core.settings import Settings

KIB, MIB = 1 << 10, 1 << 20
DEFAULT_LIMIT = 1 * MIB  # JSON bodies and forms: a certificate request, an invitation, a login
MULTIPART_SLACK = 1 * MIB  # boundaries and the small form fields beside an uploaded file
_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

# (path pattern, the limit in bytes for these settings); the first match wins.
ROUTE_LIMITS: tuple[tuple[re.Pattern[str], Callable[[Settings], int]], ...] = (
    (re.compile(r"/api/v1/signing/sign"), lambda s: (s.signing_upload_mb << 20) + MULTIPART_SLACK),
    (re.compile(r"/csc/v1/signatures/signDoc"), lambda s: (s.signing_upload_mb << 20) * 4 // 3 + MIB),
    (re.compile(r"/api/v1/documents/extend"), lambda s: (s.signing_upload_mb << 20) + MULTIPART_SLACK),
    (re.compile(r"/api/v1/verify|/verify(/[^/]+)?"), lambda s: (s.verify_max_mb << 20) + MULTIPART_SLACK),
    (re.compile(r"/api/v1/checkins/scan"), lambda s: 10 * MIB + MULTIPART_SLACK),
    (re.compile(r"/api/v1/checkins/sync"), lambda s: 8 * MIB),
    (re.compile(r"/tsa|/ocsp/[^/]+"), lambda s: 64 * KIB),
)  # fmt: skip


def limit_for(path: str, settings: Settings) -> int:
    for pattern, limit in ROUTE_LIMITS:
        if pattern.fullmatch(path):
            return limit(settings)
    return DEFAULT_LIMIT


class BodyLimits:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.idle = settings.upload_idle_seconds
        self.total = settings.upload_timeout_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in _WRITE_METHODS
            or scope["path"].startswith("/ocsp/")
        ):
            # OCSP bounds its own reads (api.fastpath.ocsp stops at its limit) and answers malformedRequest
            await self.app(scope, receive, send)
            return
        limit = limit_for(scope["path"], self.settings)
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await _refuse(scope, send, 413, f"the request body is larger than {limit} bytes")
                return
        await self.app(scope, self._bounded(receive, limit), send)

    def _bounded(self, receive: Receive, limit: int) -> Receive:
        received = 0
        done = False
        deadline = time.monotonic() + self.total

        async def bounded_receive() -> Message:
            nonlocal received, done
            if done:  # the body is in; later messages (a disconnect) may take as long as they take
                return await receive()
            wait = min(self.idle, deadline - time.monotonic())
            try:
                message = await asyncio.wait_for(receive(), timeout=max(wait, 0.001))
            except TimeoutError:
                raise HTTPException(408, "the request body arrived too slowly") from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413, f"the request body is larger than {limit} bytes")
                done = not message.get("more_body", False)
            return message

        return bounded_receive


async def _refuse(scope: Scope, send: Send, status: int, detail: str) -> None:
    response = problem(status, detail, kind="too-large")
    response.headers["Connection"] = "close"  # the unread body must not be taken for the next request
    await response(scope, _no_receive, send)


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}
