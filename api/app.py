"""The application factory. Settings are read here, at start-up, never at import time."""

from __future__ import annotations

import logging

from fastapi import FastAPI

from api import problems
from api.routers import certificates, health, pki, status, tsa
from ca.runtime import CaRuntime
from core.clock import Clock
from core.settings import Settings, load_settings

DESCRIPTION = """Kyso — chữ ký số và xác thực điện tử (digital signatures and e-authentication).

The test certificate authority for citizens, officials and agency seals; errors are RFC 9457
`application/problem+json`."""


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> FastAPI:
    settings = settings or load_settings()
    runtime = CaRuntime.from_settings(settings, clock=clock)
    if settings.production:
        runtime.check_ready()
    app = FastAPI(title="Kyso", version="0.1.0", description=DESCRIPTION, docs_url="/docs")
    app.state.runtime = runtime
    app.state.operator_token = settings.operator_token_value()
    if not app.state.operator_token:
        logging.getLogger("kyso.api").warning(
            "no operator token: run `kyso init` or set KYSO_OPERATOR_TOKEN; operator routes refuse every call"
        )
    problems.install(app)
    app.include_router(health.router)
    app.include_router(pki.router)
    app.include_router(status.router)
    app.include_router(certificates.router)
    app.include_router(tsa.router)
    return app
