"""Per request: an id, one access-log line and the HTTP metrics — a plain ASGI middleware, outermost.

The request id is the client's ``X-Request-ID`` when it is sane (1–64 of ``A-Za-z0-9._:-``: it goes into
log lines, so nothing that could forge one), else a new random one; it is set in ``core.logs.request_id``
for every line logged while serving the request, returned in the ``X-Request-ID`` response header and
put into problem+json bodies (``request_id``) by ``api.problems``.

The access line (logger ``kyso.access``) has the method, the route *template* (``/api/v1/invitations/
{invitation_id}``, never the query string or values from the path), the status, the duration and the
client address. The metrics use the same route template, so their label sets stay bounded whatever
paths clients invent (unrouted paths are ``<unmatched>``).
"""

from __future__ import annotations

import logging
import re
import secrets
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.metrics import Metrics, process_metrics
from core.logs import request_id

access_log = logging.getLogger("kyso.access")
HEADER = b"x-request-id"
_SANE_ID = re.compile(rb"[A-Za-z0-9._:-]{1,64}")
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "<unmatched>"


def incoming_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == HEADER:
            sane = sane_id(value)
            return sane.decode("ascii") if sane is not None else None
    return None


def sane_id(value: bytes | None) -> bytes | None:
    """A caller's request id when it is short and plain (it goes into log lines), else None."""
    return value if value is not None and _SANE_ID.fullmatch(value) else None


def new_id() -> str:
    return secrets.token_hex(8)


def route_of(scope: Scope) -> str:
    """The template of the route that answered (set by Starlette's router as it matches)."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    if scope.get("path", "").startswith("/ocsp/"):  # answered by api.fastpath.ocsp ahead of routing
        return "/ocsp/{authority_id}"
    return UNMATCHED


class Observability:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.metrics: Metrics = process_metrics()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = incoming_id(scope) or new_id()
        request_id.set(rid)  # this request's task (and threads it starts) only
        header = (HEADER, rid.encode("ascii"))
        status = 500  # if the application fails before answering, the server answers 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), header]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self._record(scope, status, time.perf_counter() - started, rid)

    def _record(self, scope: Scope, status: int, seconds: float, rid: str) -> None:
        method = scope["method"] if scope["method"] in _METHODS else "OTHER"
        route = route_of(scope)
        self.metrics.http_requests.labels(method, route, str(status)).inc()
        self.metrics.http_seconds.labels(method, route).observe(seconds)
        client = scope.get("client")
        access_log.info(
            "%s %s %d %.1f ms",
            method,
            route,
            status,
            seconds * 1000,
            extra={
                "method": method,
                "route": route,
                "status": status,
                "duration_ms": round(seconds * 1000, 2),
                "client": client[0] if client else None,
                "request_id": rid,
            },
        )
