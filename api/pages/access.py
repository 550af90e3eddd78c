"""Who may open a page, and the token on public forms.

Signed-in pages resolve the caller exactly as the API does (``api.auth``: session cookie, bearer token or
API key; the session cookie's CSRF check on unsafe methods), but a refusal is a page: 401 shows the login
form, 403 says the account may not use the page. Their scripts call the JSON API with the session cookie
and the ``X-CSRF-Token`` header (the double-submit token of the browser session).

Public forms (/verify, and the login form) carry a per-form token: a random value in an HttpOnly
SameSite=Strict cookie and the same value in a hidden field; a post without the pair is refused with 403.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials

from api.auth import FORM_COOKIE, FORM_FIELD, _bearer, _principal, form_token_ok  # noqa: F401 - FORM_FIELD
from core.errors import Kind, ServiceError
from identity.permissions import Permission
from identity.sessions import Principal

PASSWORD_PAGE = "/account/password"  # noqa: S105 - a page, not a secret


class PageRefused(Exception):
    """Rendered as an HTML page (api/pages/__init__.py installs the handler)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def page_caller(permission: Permission, *, during_password_change: bool = False) -> Callable[..., Principal]:
    """The dependency of a signed-in page; declares its permission like ``api.auth.require``. An account
    still on its one-time password is sent (303) to the page that changes it."""

    def dependency(
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
    ) -> Principal:
        try:
            principal = _principal(request, credentials, during_password_change=during_password_change)
        except ServiceError as exc:
            if exc.details.get("password_change_required"):
                raise PageRefused(303, PASSWORD_PAGE) from None
            raise PageRefused(401 if exc.kind is Kind.UNAUTHORIZED else 403, exc.message) from None
        if not principal.can(permission):
            raise PageRefused(403, f"your account may not use this page (needs {permission.value})")
        request.state.principal = principal
        return principal

    dependency.permission = permission  # type: ignore[attr-defined]  # read by the route-permission test
    return dependency


def form_token(request: Request) -> tuple[str, dict[str, str]]:
    """The token for a public form, and the cookie to set when the browser has none yet."""
    kept = request.cookies.get(FORM_COOKIE, "")
    if len(kept) == 43:
        return kept, {}
    fresh = secrets.token_urlsafe(32)
    return fresh, {FORM_COOKIE: fresh}


def check_form_token(request: Request, sent: str | None) -> None:
    if not form_token_ok(request, sent):
        raise PageRefused(403, "form_expired")
