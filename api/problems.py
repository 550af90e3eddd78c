"""RFC 9457 problem+json for every error; the one place where error kinds become HTTP status codes."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.request_body import BodyTooLarge
from core.errors import Kind, ServiceError
from core.logs import request_id
from identity.lockout import Locked

log = logging.getLogger("kyso.api")
PROBLEM_JSON = "application/problem+json"
STATUS_BY_KIND = {
    Kind.MALFORMED: 422,
    Kind.UNAUTHORIZED: 401,
    Kind.FORBIDDEN: 403,
    Kind.NOT_FOUND: 404,
    Kind.CONFLICT: 409,
    Kind.EXPIRED: 410,
    Kind.TOO_LARGE: 413,
    Kind.UNAVAILABLE: 503,
    Kind.INTERNAL: 500,
}
TITLES = {
    400: "Bad request",
    401: "Not authenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    410: "Gone",
    413: "Request too large",
    415: "Unsupported media type",
    422: "Invalid request",
    429: "Too many requests",
    503: "Service unavailable",
    500: "Internal error",
}


def problem(status: int, detail: str, *, kind: str | None = None, **extra: Any) -> JSONResponse:
    body = {
        "type": f"urn:kyso:problem:{kind}" if kind else "about:blank",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        **extra,
    }
    if (current := request_id.get()) is not None:
        body["request_id"] = current  # quoted in a report, it finds the request's log lines
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def install(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, exc: ServiceError) -> JSONResponse:
        status = 413 if isinstance(exc, BodyTooLarge) else STATUS_BY_KIND[exc.kind]
        if exc.kind is Kind.INTERNAL:
            log.error("internal error on %s %s: %s", request.method, request.url.path, exc.message)
            return problem(500, "an internal error occurred; it has been logged", kind=exc.kind.value)
        return problem(status, exc.message, kind=exc.kind.value, **exc.details)

    @app.exception_handler(Locked)
    async def _locked(request: Request, exc: Locked) -> JSONResponse:
        """Too many wrong codes: 429 with Retry-After while the delay runs, 403 once an admin must act."""
        if exc.retry_after is None:
            return problem(403, exc.message, kind="code-entry-disabled")
        response = problem(429, exc.message, kind="locked", retry_after_seconds=exc.retry_after)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"location": ".".join(str(p) for p in e.get("loc", ())), "message": e.get("msg", "")}
            for e in exc.errors()
        ]
        summary = "; ".join(f"{e['location']}: {e['message']}" for e in errors[:5])
        return problem(422, summary or "the request is not valid", kind="malformed", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(500, "an internal error occurred; it has been logged", kind="internal")
