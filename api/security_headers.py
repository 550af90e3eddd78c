"""Security headers on every response; the strict Content-Security-Policy on HTML.

The pages carry no inline script or style (data goes in ``data-`` attributes, behaviour in /static/*.js),
so the policy can forbid both. ``camera=(self)`` lets the desk page use the camera, nothing else.

Answers of the API (``/api/…``) and answers to a request carrying credentials (an ``Authorization``
header or a cookie) are ``Cache-Control: no-store`` unless the route chose its own caching: they hold
bearer tokens (RFC 6749 §5.1), one-time passwords, API keys, guests' passes and names, which a browser's
disk cache or a shared cache must not keep. Public answers (CA certificates, CRLs, OCSP, static files)
set their own ``Cache-Control`` and keep it.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self' blob:; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self'"
)
ALWAYS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"permissions-policy", b"camera=(self), microphone=(), geolocation=()"),
]
_NAMES = {name for name, _ in ALWAYS} | {b"content-security-policy"}
NO_STORE = (b"cache-control", b"no-store")
_CREDENTIALS = (b"authorization", b"cookie")


def _private(scope: Scope) -> bool:
    """An API request, or one with credentials: its answer is no HTTP cache's to keep."""
    if scope.get("path", "").startswith("/api/"):
        return True
    return any(name.lower() in _CREDENTIALS for name, _ in scope.get("headers", []))


class SecurityHeaders:
    """Pure ASGI middleware (no per-request task or body buffering, so streaming responses stay streamed)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        private = _private(scope)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in _NAMES]
                headers += ALWAYS
                if private and not any(k.lower() == b"cache-control" for k, _ in headers):
                    headers.append(NO_STORE)
                content_type = next((v for k, v in headers if k.lower() == b"content-type"), b"")
                if content_type.startswith(b"text/html"):
                    headers.append((b"content-security-policy", CONTENT_SECURITY_POLICY.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
