"""The application factory. Settings are read here, at start-up, never at import time."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import Depends, FastAPI

from api import inputs, metrics, problems, ratelimit
from api.body_limits import BodyLimits
from api.fastpath import ocsp as ocsp_fastpath
from api.forwarded import ForwardedHeaders
from api.observability import Observability
from api.pages import console as console_page
from api.pages import install as install_pages
from api.routers import (
    approvals,
    audit,
    auth,
    certificates,
    csc,
    documents,
    health,
    invitations,
    pki,
    signing,
    status,
    tsa,
    users,
    verify,
)
from core.clock import Clock
from core.settings import Settings, load_settings
from services.root import Kyso
from services.worker import Worker

DESCRIPTION = """Kyso — chữ ký số và xác thực điện tử (digital signatures and e-authentication).

The test certificate authority for citizens, officials and agency seals; errors are RFC 9457
`application/problem+json`."""


@contextlib.asynccontextmanager
async def _background_jobs(app: FastAPI) -> AsyncIterator[None]:
    """KYSO_WORKER=in-process: this process runs the background jobs too (``kyso worker`` otherwise)."""
    task = asyncio.create_task(Worker(app.state.kyso).serve_forever())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> FastAPI:
    settings = settings or load_settings()
    kyso = Kyso.build(settings, clock=clock)
    if settings.production:
        kyso.check_ready()
    app = FastAPI(
        title="Kyso",
        version="0.1.0",
        description=DESCRIPTION,
        docs_url=None,  # /docs is api/pages/api_docs.py: Swagger UI served from /static, no CDN
        redoc_url=None,
        dependencies=[Depends(inputs.refuse_nul)],  # no NUL in any parameter, on every route (422)
        lifespan=_background_jobs if settings.worker == "in-process" else None,
        # Starlette's slash redirect builds its Location from the request's Host header, so
        # `/api/v1/verify/` with `Host: evil.example` sent the client there; a stray slash is a 404.
        redirect_slashes=False,
    )
    app.state.kyso = kyso  # the one object of the service's parts (api.deps.KysoDep)
    kyso.signing  # built now: the first signature does not pay for the fonts  # noqa: B018
    problems.install(app)
    ratelimit.install(app)  # 429 with Retry-After
    ocsp_fastpath.install(app)  # /ocsp/… answered ahead of routing, from memory
    app.include_router(health.router)
    app.include_router(pki.router)
    app.include_router(status.router)
    app.include_router(certificates.router)
    app.include_router(tsa.router)
    app.include_router(auth.router)
    app.include_router(users.router)
    app.include_router(audit.router)
    app.include_router(approvals.router)  # N-of-M approvals (services/approvals.py)
    app.include_router(signing.router)
    app.include_router(csc.router)  # the CSC API over the same signing use cases
    app.include_router(documents.router)
    app.include_router(verify.router)
    app.include_router(invitations.router)
    install_pages(app)  # /verify, /desk, /portal, /pass pages, /static, security headers
    app.include_router(console_page.router)  # /console: the CA operator's console
    # observability (issue 9): /metrics, and the outermost middleware (request id, access log, HTTP metrics)
    app.include_router(metrics.router)
    app.add_middleware(BodyLimits, settings=settings)  # size and time limits on every request body
    app.add_middleware(Observability)
    # outermost: the client and scheme a trusted proxy names (KYSO_TRUSTED_PROXIES), for all of the above
    app.add_middleware(ForwardedHeaders, trusted_proxies=settings.trusted_proxies)
    return app
