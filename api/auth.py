"""Who is calling: every route declares the permission it needs with ``require``; public routes are the
reviewed list ``PUBLIC_ROUTES`` (a test proves every other route refuses callers without permission)."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from core.errors import Kind, ServiceError
from identity.permissions import Permission
from identity.sessions import API_KEY_PREFIX, FIRST_LOGIN_NOTICE, Principal, authenticate, digest

SESSION_COOKIE = "kyso_session"
CSRF_COOKIE = "kyso_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# The per-form token of forms posted before any session (the citizens' /verify forms, the login form): a
# random value in an HttpOnly SameSite=Strict cookie and the same value in a hidden field.
FORM_COOKIE = "kyso_form"
FORM_FIELD = "csrf_token"

# Reviewed: these answer anyone. Relying parties fetch CA certificates, CRLs, OCSP and timestamps without
# an account; the hierarchy is public; logging in cannot need a login; /healthz and /readyz are for load
# balancers.
PUBLIC_ROUTES: frozenset[tuple[str, str]] = frozenset(
    {
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("GET", "/pki/ca/{authority_id}.cer"),
        ("GET", "/pki/ca/{authority_id}/chain.pem"),
        ("GET", "/pki/crl/{authority_id}.crl"),
        ("POST", "/ocsp/{authority_id}"),
        ("GET", "/ocsp/{authority_id}/{encoded}"),
        ("POST", "/tsa"),
        ("GET", "/api/v1/authorities"),
        ("GET", "/api/v1/signing/documents/{document_id}"),  # what the QR on a stamp opens
        ("POST", "/api/v1/verify"),  # citizens check documents they received; rate-limited per address
        ("GET", "/verify"),  # the citizens' pages; their forms carry a per-form CSRF token
        ("POST", "/verify"),
        ("POST", "/verify/report.pdf"),
        ("GET", "/verify/{document_id}"),
        ("POST", "/verify/{document_id}"),
        # a verify result's kept upload (api/pages/held.py): the random token in the links is the credential
        ("GET", "/verify/held/{token}/revision/{number}.pdf"),
        ("GET", "/verify/held/{token}/changes/{number}"),
        ("GET", "/verify/held/{token}/image/r{number}/{name}.png"),
        ("GET", "/pass/{token}"),  # the guest's pass: the HMAC in the token is the credential
        ("GET", "/pass/{token}/qr.png"),
        ("GET", "/pass/{token}/invitation.ics"),
        ("GET", "/static/{name}"),  # the pages' CSS, scripts and sounds
        ("POST", "/api/v1/auth/token"),
        ("POST", "/csc/v1/info"),  # CSC: what the service offers, before any login
        ("POST", "/csc/v1/auth/login"),  # CSC: HTTP Basic login, the same checks as /api/v1/auth/token
        ("POST", "/api/v1/auth/session"),
        ("GET", "/"),  # the landing page: four links
        ("GET", "/docs"),  # Swagger UI, served locally (api/pages/api_docs.py)
        ("GET", "/openapi.json"),
        # Prometheus scrapes without credentials; api.metrics answers only addresses in KYSO_METRICS_ALLOW
        ("GET", "/metrics"),
    }
)

_bearer = HTTPBearer(auto_error=False, description="a token from /api/v1/auth/token, or an API key")


def _principal(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None,
    *,
    during_password_change: bool = False,
) -> Principal:
    """The caller, or a refusal. A session of an account that still has its one-time password opens only
    the routes declared ``during_password_change`` (choosing a new password, logging out)."""
    principal = _caller(request, credentials)
    if principal.must_change_password and not during_password_change:
        raise ServiceError(Kind.FORBIDDEN, FIRST_LOGIN_NOTICE, details={"password_change_required": True})
    return principal


def _caller(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Principal:
    kyso = request.app.state.kyso
    if credentials is not None and credentials.scheme.lower() == "bearer" and credentials.credentials:
        # only an API key writes (its last-used time); a token is checked in a read-only session
        is_key = credentials.credentials.startswith(API_KEY_PREFIX)
        with kyso.db.transaction() if is_key else kyso.db.reading() as session:
            principal = authenticate(session, kyso.clock, credentials.credentials, via="bearer")
        request.state.credential = credentials.credentials
        return principal
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        with kyso.db.reading() as session:
            principal = authenticate(session, kyso.clock, cookie, via="cookie")
        request.state.credential = cookie
        if request.method not in SAFE_METHODS:
            sent = request.headers.get(CSRF_HEADER, "")
            if not (principal.csrf_hash and hmac.compare_digest(digest(sent), principal.csrf_hash)):
                raise ServiceError(
                    Kind.FORBIDDEN, f"a form sent with a session cookie needs the {CSRF_HEADER}"
                )
        return principal
    raise ServiceError(Kind.UNAUTHORIZED, "log in first: send a bearer token or an API key")


def form_token_ok(request: Request, sent: str | None) -> bool:
    """True when a pre-session form carries the token of this browser's form cookie."""
    kept = request.cookies.get(FORM_COOKIE, "")
    return bool(kept and sent and hmac.compare_digest(kept.encode(), sent.encode()))


def presented_credential(request: Request) -> str:
    """The token or cookie this request was authenticated with (set by ``require``): logout ends exactly
    that one, whatever the case of the ``Bearer`` scheme (RFC 7235: schemes are case-insensitive)."""
    return getattr(request.state, "credential", "")


def require(permission: Permission, *, during_password_change: bool = False) -> Callable[..., Principal]:
    """The dependency a route declares; it resolves the caller and checks one permission."""

    def dependency(
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
    ) -> Principal:
        principal = _principal(request, credentials, during_password_change=during_password_change)
        if not principal.can(permission):
            raise ServiceError(Kind.FORBIDDEN, f"your account may not do this (needs {permission.value})")
        request.state.principal = principal
        return principal

    dependency.permission = permission  # type: ignore[attr-defined]  # read by the route-permission test
    return dependency


def require_any(*permissions: Permission) -> Callable[..., Principal]:
    """Like ``require``, for a route one of several permissions opens (signing: ``documents:sign`` or
    ``documents:seal``); the route then checks the one its action needs."""
    wanted = frozenset(permissions)
    names = " or ".join(sorted(p.value for p in wanted))

    def dependency(
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
    ) -> Principal:
        principal = _principal(request, credentials)
        if not any(principal.can(p) for p in wanted):
            raise ServiceError(Kind.FORBIDDEN, f"your account may not do this (needs {names})")
        request.state.principal = principal
        return principal

    dependency.permission = wanted  # type: ignore[attr-defined]  # read by the route-permission test
    return dependency


def client_address(request: Request) -> str | None:
    """The client's address: the socket peer, or the client a trusted proxy named (api.forwarded; never
    what an untrusted client claims, never anything but an IP address from a header)."""
    return request.client.host if request.client else None
