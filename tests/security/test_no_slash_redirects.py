"""A trailing slash is not redirected: Starlette built the redirect's Location from the request's Host
header, so a crafted link (`/api/v1/verify/` with `Host: evil.example`) sent the client to another site."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from tests.conftest import Instance


@pytest.fixture(scope="module")
def client(shared_instance: Instance) -> Iterator[TestClient]:
    with TestClient(create_app(shared_instance.settings), follow_redirects=False) as test_client:
        yield test_client


@pytest.mark.parametrize(("method", "path"), [
    ("POST", "/api/v1/verify/"), ("GET", "/desk/"), ("GET", "/api/v1/invitations/"), ("GET", "/verify/"),
    ("GET", "/api/v1/authorities/"),
])  # fmt: skip
def test_a_trailing_slash_is_not_sent_to_the_host_the_client_named(
    client: TestClient, method: str, path: str
) -> None:
    answer = client.request(method, path, headers={"Host": "evil.example"})
    assert answer.status_code not in (301, 302, 307, 308), answer.headers.get("location")
    assert "evil.example" not in answer.headers.get("location", "")
    assert answer.status_code in (401, 403, 404, 405, 422)
