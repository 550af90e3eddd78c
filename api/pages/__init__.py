"""The pages people use: the landing page, citizen verification, the security desk, the officials' portal,
the guest pass, and the API documentation (Swagger UI served locally).

Server-rendered (Jinja2, autoescaped), Vietnamese first with an English switch, no inline script or style
(api/security_headers.py sends a strict CSP). ``install(app)`` wires them into the application.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from api.pages import account, api_docs, desk, guest_pass, landing, portal, static, verify
from api.pages.access import PageRefused, form_token
from api.pages.render import page
from api.security_headers import SecurityHeaders


async def _refused(request: Request, exc: Exception) -> HTMLResponse | RedirectResponse:
    assert isinstance(exc, PageRefused)
    if exc.status == 303:  # a one-time password: choose a new one first
        return RedirectResponse(exc.message, status_code=303)
    if exc.status == 401:  # the login form carries a pre-session form token (login CSRF)
        token, cookies = form_token(request)
        return page(request, "login.html", title="login_title", status=401, scripts=("common.js",),
                    script_strings=["login_failed", "network_error"], cookies=cookies,
                    csrf_token=token)  # fmt: skip
    title, message = {
        403: ("forbidden_title", "forbidden_text"),
        404: ("not_found_title", "pass_unknown"),
    }.get(exc.status, ("forbidden_title", "forbidden_text"))
    if exc.message == "form_expired":
        message = "form_expired"
    return page(request, "message.html", title=title, status=exc.status, message=message)


def install(app: FastAPI) -> None:
    app.add_middleware(SecurityHeaders)
    app.add_exception_handler(PageRefused, _refused)
    for module in (static, landing, verify, desk, portal, guest_pass, api_docs, account):
        app.include_router(module.router)
