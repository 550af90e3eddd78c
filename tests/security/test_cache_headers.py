"""Answers holding secrets or personal data are not for HTTP caches (``api.security_headers``).

Kyso's API answered without any ``Cache-Control``: the login's bearer token (RFC 6749 §5.1 asks for
``no-store``), a new account's one-time password, a new API key, a guest's pass (its QR text and QR
image), the audit log. A 200 without explicit freshness may be stored by a browser's disk cache (and
heuristically reused) or by a shared cache in between. Every API answer and every answer to a request
with credentials now says ``no-store``, unless the route chose its own caching (CA certificates, CRLs,
OCSP keep theirs).
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from core.clock import VIETNAM
from invitations import venues
from tests.conftest import Instance, bearer, make_account

_venues = itertools.count()


@pytest.fixture
def client(shared_instance: Instance) -> Iterator[TestClient]:
    app = create_app(shared_instance.settings)
    with TestClient(app, raise_server_exceptions=False, base_url="https://testserver") as test_client:
        yield test_client
    app.state.kyso.runtime.db.dispose()


def test_tokens_passwords_keys_and_passes_are_no_store(shared_instance: Instance, client: TestClient) -> None:
    admin = make_account(shared_instance, "admin")
    official = make_account(shared_instance, "official")
    form = {"username": official.username, "password": official.password, "totp": official.code()}
    login = client.post("/api/v1/auth/token", data=form)
    assert login.status_code == 200, login.text
    assert login.headers.get("cache-control") == "no-store", "a bearer token in a cacheable answer"

    as_admin = bearer(client, admin)
    created = client.post(
        "/api/v1/users",
        json={"username": f"cache{next(_venues)}", "role": "clerk", "display_name": "Ms Cache"},
        headers=as_admin,
    )
    assert created.status_code == 201, created.text
    assert created.headers.get("cache-control") == "no-store", "a one-time password in a cacheable answer"

    venue = f"CACHE-{next(_venues)}"
    with shared_instance.db.transaction() as session:
        venues.add(session, shared_instance.ca.clock, venue, "UBND", desks=["gate-1"])
    as_official = {"Authorization": f"Bearer {login.json()['access_token']}"}
    now = dt.datetime.now(VIETNAM)
    invited = client.post(
        "/api/v1/invitations",
        json={"guest_name": "Khách", "venue": venue, "starts_at": now.isoformat(),
              "ends_at": (now + dt.timedelta(hours=1)).isoformat()},
        headers=as_official,
    )  # fmt: skip
    assert invited.status_code == 201, invited.text
    invitation = invited.json()["id"]
    for path in (
        f"/api/v1/invitations/{invitation}",
        f"/api/v1/invitations/{invitation}/qr.png",
        "/api/v1/invitations",
        "/api/v1/auth/me",
    ):
        answer = client.get(path, headers=as_official)
        assert answer.status_code == 200, (path, answer.text)
        assert answer.headers.get("cache-control") == "no-store", path
    audit = client.get("/api/v1/audit/entries", headers=as_admin)
    assert audit.status_code == 200 and audit.headers.get("cache-control") == "no-store"
    refused = client.get("/api/v1/users", headers={"Authorization": "Bearer nonsense"})
    assert refused.status_code == 401 and refused.headers.get("cache-control") == "no-store"


def test_public_answers_keep_their_own_caching(client: TestClient) -> None:
    certificate = client.get("/pki/ca/root.cer")
    assert certificate.status_code == 200, certificate.text
    assert certificate.headers["cache-control"] == "public, max-age=86400"
    static = client.get("/static/kyso.css", cookies={"kyso_lang": "en"})
    assert static.status_code == 200 and static.headers["cache-control"] == "public, max-age=3600"
