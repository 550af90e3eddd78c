"""Login CSRF: the browser login (``POST /api/v1/auth/session``) needs the pre-session form token that the
login page sets (an HttpOnly SameSite=Strict cookie and the same value in a hidden field), so another site
cannot log a visitor's browser into an account of its choosing."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from api.app import create_app
from tests.conftest import Instance, make_account

SESSION = "/api/v1/auth/session"


def _form(account) -> dict[str, str]:
    return {"username": account.username, "password": account.password, "totp": account.code()}


def test_the_browser_login_needs_the_login_pages_form_token(shared_instance: Instance) -> None:
    app = create_app(shared_instance.settings)
    with TestClient(app, raise_server_exceptions=False, base_url="https://testserver") as client:
        official = make_account(shared_instance, "official")
        forged = client.post(SESSION, data=_form(official), headers={"Origin": "https://evil.example"})
        assert forged.status_code == 403, forged.text
        assert forged.headers["content-type"].startswith("application/problem+json")
        assert "kyso_session" not in forged.headers.get("set-cookie", "")

        page = client.get("/portal")  # a stranger gets the login form
        assert page.status_code == 401
        [token] = re.findall(r'name="csrf_token" value="([^"]+)"', page.text)
        assert "kyso_form=" in page.headers["set-cookie"] and "httponly" in page.headers["set-cookie"].lower()
        assert client.cookies.get("kyso_form") == token

        wrong = client.post(SESSION, data={**_form(official), "csrf_token": "x" * 43})
        assert wrong.status_code == 403, "the field must match the cookie"
        client.cookies.clear()
        no_cookie = client.post(SESSION, data={**_form(official), "csrf_token": token})
        assert no_cookie.status_code == 403, "the field alone is not enough"
        [token] = re.findall(r'name="csrf_token" value="([^"]+)"', client.get("/portal").text)
        signed_in = client.post(SESSION, data={**_form(official), "csrf_token": token})
        assert signed_in.status_code == 200, signed_in.text
        assert client.get("/api/v1/auth/me").status_code == 200
    app.state.kyso.runtime.db.dispose()
