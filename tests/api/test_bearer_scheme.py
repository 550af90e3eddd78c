"""The Authorization scheme is case-insensitive (RFC 7235 §2.1) on every route, logout included."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from tests.conftest import Instance, bearer, make_account


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "bEaReR"])
def test_logout_with_any_case_of_the_scheme_ends_the_token(shared_instance: Instance, scheme: str) -> None:
    app = create_app(shared_instance.settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        token = bearer(client, make_account(shared_instance, "desk", venue="GATE-S"))["Authorization"]
        lower = {"Authorization": f"{scheme} {token.split(' ', 1)[1]}"}
        assert client.get("/api/v1/auth/me", headers=lower).status_code == 200
        assert client.post("/api/v1/auth/logout", headers=lower).status_code == 204
        after = client.get("/api/v1/auth/me", headers={"Authorization": token})
        assert after.status_code == 401, "the token must be ended, whatever the case of its scheme"
    app.state.kyso.runtime.db.dispose()
