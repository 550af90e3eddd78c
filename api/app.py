"""The application factory. Settings are read here, at start-up, never at import time."""

from __future__ import annotations

from fastapi import FastAPI

from api import problems
from api.routers import audit, auth, certificates, health, pki, status, tsa, users
from ca.runtime import CaRuntime
from core.clock import Clock
from core.settings import Settings, load_settings
from keystore.secretbox import SecretBox

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
    app.state.secret_box = SecretBox(settings.master_key_bytes())
    problems.install(app)
    app.include_router(health.router)
    app.include_router(pki.router)
    app.include_router(status.router)
    app.include_router(certificates.router)
    app.include_router(tsa.router)
    app.include_router(auth.router)
    app.include_router(users.router)
    app.include_router(audit.router)
    return app
