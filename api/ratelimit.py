"""Per-client rate limits on the public doors that cost the most or invite guessing: logging in, verifying,
timestamping and OCSP requests that need a fresh signature.

``per_client(scope, setting)`` is a route dependency: it counts the request against the client's address
in the database (``store.rate_limits``, GCRA, one UPSERT in a short transaction of its own, committed
whether or not the request then succeeds), so every worker and machine shares one limit. Over the limit,
the request is refused before its handler runs (FastAPI has read the body by then; ``api.body_limits``
bounds that): 429 problem+json with ``Retry-After``.

The client is the socket peer, or the client a proxy in KYSO_TRUSTED_PROXIES named (api.forwarded).
IPv6 clients are limited per /64, the block one subscriber usually holds.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api.auth import client_address
from api.problems import problem
from core import metrics
from core.errors import Kind, ServiceError
from core.settings import Settings
from services.root import Kyso
from store import rate_limits

PERIOD_SECONDS = 60.0


class RateLimited(ServiceError):
    def __init__(self, retry_after: int) -> None:
        super().__init__(
            Kind.UNAVAILABLE,
            f"too many requests from your address; try again in {retry_after} s",
            details={"retry_after_seconds": retry_after},
        )
        self.retry_after = retry_after


def client_key(address: str | None) -> str:
    """The address a limit counts against: IPv4 as is, IPv6 by its /64 network."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return (address or "unknown")[:64]
    if ip.version == 6 and ip.ipv4_mapped is None:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip.ipv4_mapped or ip) if ip.version == 6 else str(ip)


def take(kyso: Kyso, scope: str, rate: int, address: str | None) -> rate_limits.Verdict:
    """Count one request of the client at ``address`` in ``scope`` (blocking: call it in a thread)."""
    with kyso.db.transaction() as session:
        return rate_limits.take(
            session,
            scope,
            client_key(address),
            rate=rate,
            period=PERIOD_SECONDS,
            now=kyso.clock.now().timestamp(),
        )


def per_client(scope: str, rate_of: Callable[[Settings], int]) -> Callable[[Request], object]:
    """A dependency limiting ``scope`` to ``rate_of(settings)`` requests a minute per client."""

    def counted(request: Request) -> rate_limits.Verdict:
        kyso = request.app.state.kyso
        return take(kyso, scope, rate_of(kyso.settings), client_address(request))

    async def dependency(request: Request) -> None:
        verdict = await run_in_threadpool(counted, request)
        if not verdict.allowed:
            metrics.count("ratelimit.refused", scope=scope)
            raise RateLimited(verdict.retry_after)

    dependency.rate_limit_scope = scope  # type: ignore[attr-defined]  # read by the tests' route table
    return dependency


def install(app: FastAPI) -> None:
    @app.exception_handler(RateLimited)
    async def _too_many(request: Request, exc: RateLimited) -> JSONResponse:
        response = problem(429, exc.message, kind="rate-limited", retry_after_seconds=exc.retry_after)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response


login_limit = per_client("login", lambda settings: settings.login_rate_per_minute)
verify_limit = per_client("verify", lambda settings: settings.verify_rate_per_minute)
tsa_limit = per_client("tsa", lambda settings: settings.tsa_rate_per_minute)
# OCSP is answered ahead of routing (api.fastpath.ocsp and .connection), which call ``take`` with this
# scope for the requests the in-memory cache cannot answer.
OCSP_SCOPE = "ocsp"
