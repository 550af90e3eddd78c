"""The application factory. Settings are read here, at start-up, never at import time."""

from __future__ import annotations

from fastapi import Depends, FastAPI

from api import inputs, metrics, ocsp_fastpath, problems, ratelimit
from api.body_limits import BodyLimits
from api.forwarded import ForwardedHeaders
from api.observability import Observability
from api.pages import install as install_pages
from api.routers import (
    audit,
    auth,
    certificates,
    health,
    invitations,
    pki,
    signing,
    status,
    tsa,
    users,
    verify,
)
from ca.runtime import CaRuntime
from ca.signing_keys import CaKeySource
from ca.tsa import TimestampAuthority
from ca.tsa_pyhanko import InProcessTimeStamper
from core.clock import Clock
from core.settings import Settings, load_settings
from keystore.secretbox import SecretBox
from signing import fonts
from signing.service import SigningService

DESCRIPTION = """Kyso — chữ ký số và xác thực điện tử (digital signatures and e-authentication).

The test certificate authority for citizens, officials and agency seals; errors are RFC 9457
`application/problem+json`."""


def signing_service(runtime: CaRuntime) -> SigningService:
    """One per process: it caches a CMS template per signing certificate (and the stamp fonts, loaded now
    so the first signature does not pay for them)."""
    fonts.preload()
    return SigningService(
        CaKeySource(runtime.db, runtime.ca),
        timestamper=InProcessTimeStamper(TimestampAuthority(runtime.ca), runtime.db),
        verify_url_base=runtime.settings.base_url,
        max_document_bytes=runtime.settings.max_document_mb << 20,
        now=runtime.ca.clock.now,
    )


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> FastAPI:
    settings = settings or load_settings()
    runtime = CaRuntime.from_settings(settings, clock=clock)
    if settings.production:
        runtime.check_ready()
    app = FastAPI(
        title="Kyso",
        version="0.1.0",
        description=DESCRIPTION,
        docs_url=None,  # /docs is api/pages/api_docs.py: Swagger UI served from /static, no CDN
        redoc_url=None,
        dependencies=[Depends(inputs.refuse_nul)],  # no NUL in any parameter, on every route (422)
    )
    app.state.runtime = runtime
    app.state.secret_box = SecretBox(settings.master_key_bytes())
    app.state.signing = signing_service(runtime)
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
    app.include_router(signing.router)
    app.include_router(verify.router)
    app.include_router(invitations.router)
    install_pages(app)  # /verify, /desk, /portal, /pass pages, /static, security headers
    # observability (issue 9): /metrics, and the outermost middleware (request id, access log, HTTP metrics)
    app.include_router(metrics.router)
    app.add_middleware(BodyLimits, settings=settings)  # size and time limits on every request body
    app.add_middleware(Observability)
    # outermost: the client and scheme a trusted proxy names (KYSO_TRUSTED_PROXIES), for all of the above
    app.add_middleware(ForwardedHeaders, trusted_proxies=settings.trusted_proxies)
    return app
