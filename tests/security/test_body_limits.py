"""Every route that takes a body has a size limit and a time limit: oversized bodies get 413 (declared or
streamed, before any parsing or authentication), bodies that trickle in get 408, never a 500."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Iterator

import httpx
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from api.app import create_app
from api.body_limits import DEFAULT_LIMIT, KIB, MIB, MULTIPART_SLACK, limit_for
from tests.conftest import make_instance

PROBLEM_JSON = "application/problem+json"
# route → the limit its body has (with KYSO_VERIFY_MAX_MB=1 and KYSO_SIGNING_UPLOAD_MB=2 below)
TABLE = [
    ("POST", "/api/v1/verify", 1 * MIB + MULTIPART_SLACK),
    ("POST", "/verify", 1 * MIB + MULTIPART_SLACK),
    ("POST", "/verify/report.pdf", 1 * MIB + MULTIPART_SLACK),
    ("POST", "/verify/0123456789abcdef", 1 * MIB + MULTIPART_SLACK),
    ("POST", "/api/v1/signing/sign", 2 * MIB + MULTIPART_SLACK),
    ("POST", "/api/v1/checkins/scan", 10 * MIB + MULTIPART_SLACK),
    ("POST", "/api/v1/checkins/sync", 8 * MIB),
    ("POST", "/tsa", 64 * KIB),
    ("POST", "/api/v1/auth/token", DEFAULT_LIMIT),
    ("POST", "/api/v1/certificates", DEFAULT_LIMIT),
    ("POST", "/api/v1/invitations", DEFAULT_LIMIT),
    ("POST", "/api/v1/checkins", DEFAULT_LIMIT),
    ("POST", "/api/v1/users", DEFAULT_LIMIT),
    ("POST", "/api/v1/signing/authorizations", DEFAULT_LIMIT),
]


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("limits")
    instance = make_instance(tmp, f"sqlite:///{tmp / 'kyso.db'}")
    settings = instance.settings.model_copy(
        update={"verify_max_mb": 1, "signing_upload_mb": 2, "upload_idle_seconds": 0.3}
    )
    application = create_app(settings)
    yield application
    instance.db.dispose()


@pytest.fixture(scope="module")
def client(app) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def _assert_problem(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text[:300]
    assert response.headers["content-type"].startswith(PROBLEM_JSON)


@pytest.mark.parametrize(("method", "path", "limit"), TABLE, ids=[p for _, p, _ in TABLE])
def test_a_declared_oversized_body_is_refused_unread(client, app, method, path, limit) -> None:
    assert limit_for(path, app.state.kyso.runtime.settings) == limit
    kind = "application/timestamp-query" if path == "/tsa" else "text/plain"  # the TSA checks its type first
    response = client.request(method, path, content=b"x" * (limit + 1), headers={"Content-Type": kind})
    _assert_problem(response, 413)
    assert str(limit) in response.json()["detail"]


STREAMED = [  # routes that read the body before anything else refuses the request
    ("/api/v1/verify", "multipart/form-data; boundary=xyz"),
    ("/verify", "multipart/form-data; boundary=xyz"),
    ("/tsa", "application/timestamp-query"),
    ("/api/v1/auth/token", "application/x-www-form-urlencoded"),
]


@pytest.mark.parametrize(("path", "content_type"), STREAMED, ids=[p for p, _ in STREAMED])
def test_a_streamed_oversized_body_is_cut_off(client, app, path, content_type) -> None:
    limit = limit_for(path, app.state.kyso.runtime.settings)

    def chunks():
        sent = 0
        while sent <= limit:
            yield b"y" * (64 * KIB)
            sent += 64 * KIB

    response = client.post(path, content=chunks(), headers={"Content-Type": content_type})
    _assert_problem(response, 413)


def test_every_route_with_a_body_is_in_the_table_or_has_the_default(app) -> None:
    settings = app.state.kyso.runtime.settings
    listed = {path for _, path, _ in TABLE}
    for route in app.routes:
        if isinstance(route, APIRoute) and route.methods & {"POST", "PUT", "PATCH", "DELETE"}:
            limit = limit_for(route.path, settings)
            assert 0 < limit <= 16 * MIB, route.path
            if route.path not in listed and route.dependant.body_params:
                uploads = [
                    p for p in route.dependant.body_params if "UploadFile" in str(p.field_info.annotation)
                ]
                assert not uploads, f"{route.path} takes a file: give it a row in ROUTE_LIMITS and TABLE"


def test_a_body_that_trickles_in_is_refused_with_408(app) -> None:
    async def run() -> httpx.Response:
        async def slow():
            yield b"username=a&"
            await asyncio.sleep(1.0)  # longer than upload_idle_seconds
            yield b"password=b"

        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://kyso") as http:
            return await http.post(
                "/api/v1/auth/token", content=slow(),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )  # fmt: skip

    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # its own event loop, whatever this thread runs
        response = pool.submit(asyncio.run, run()).result()
    _assert_problem(response, 408)


def test_ordinary_bodies_pass(client) -> None:
    response = client.post("/api/v1/auth/token", data={"username": "nobody", "password": "x"})
    assert response.status_code == 401
    upload = client.post(
        "/api/v1/verify", files={"document": ("x.pdf", b"%PDF-1.7 " * 1000, "application/pdf")}
    )
    assert upload.status_code == 422, upload.text
