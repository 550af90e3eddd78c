"""/api/v1/approvals over HTTP: a held revocation answers 409 problem+json naming the request; the list
says what waits for whom; the requester's approval is 403, a second operator's revokes; an unknown request
is 404, a bad id 422; an admin may read but not approve a revocation."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from ca.issuance import IssueRequest
from ca.subjects import SubjectFields
from services import approvals
from services.audit import Actor
from services.root import Kyso
from tests.conftest import Instance, bearer, make_account


@pytest.fixture(scope="module")
def client(shared_instance: Instance) -> Iterator[TestClient]:
    app = create_app(shared_instance.settings)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client
    app.state.kyso.runtime.db.dispose()


@pytest.fixture
def policy(shared_instance: Instance) -> Iterator[None]:
    kyso = Kyso(shared_instance.settings, shared_instance.ca.clock, shared_instance.runtime)
    approvals.set_policy(kyso, Actor("test"), "certificate.revoke", 1)
    yield
    approvals.set_policy(kyso, Actor("test"), "certificate.revoke", 0)


def test_a_held_revocation_over_http(client: TestClient, shared_instance: Instance, policy: None) -> None:
    subject = SubjectFields(
        surname="Đỗ", given_name="Văn Hải", cccd="001188000555", organization="UBND Phường 1"
    )
    with shared_instance.db.transaction() as session:
        serial = shared_instance.ca.issue(session, IssueRequest("official", subject)).certificate.serial
    first, second = make_account(shared_instance, "ca-operator"), make_account(shared_instance, "ca-operator")
    a, b = bearer(client, first), bearer(client, second)
    admin = bearer(client, make_account(shared_instance, "admin"))

    held = client.post(
        f"/api/v1/certificates/{serial}/revoke", json={"reason": "cessation-of-operation"}, headers=a
    )
    assert held.status_code == 409 and held.headers["content-type"].startswith("application/problem+json")
    problem = held.json()
    request_id = problem["approval_request"]
    assert problem["approvals_required"] == 1 and f"request {request_id} waits" in problem["detail"]
    assert client.get(f"/api/v1/certificates/{serial}", headers=a).json()["status"] == "valid"

    waiting = client.get("/api/v1/approvals", headers=admin).json()
    assert [(w["id"], w["requested_by"], w["waiting_for"]) for w in waiting] == [
        (request_id, first.username, 1)
    ]
    assert client.post(f"/api/v1/approvals/{request_id}/approve", json={}, headers=a).status_code == 403
    assert client.post(f"/api/v1/approvals/{request_id}/approve", json={}, headers=admin).status_code == 403
    done = client.post(f"/api/v1/approvals/{request_id}/approve", json={"comment": "đồng ý"}, headers=b)
    assert done.status_code == 200 and done.json()["status"] == "approved"
    assert client.get(f"/api/v1/certificates/{serial}", headers=a).json()["status"] == "revoked"
    assert client.get("/api/v1/approvals", headers=admin).json() == []
    assert [r["id"] for r in client.get("/api/v1/approvals?status=all", headers=admin).json()] == [request_id]

    assert client.get("/api/v1/approvals/999999", headers=admin).status_code == 404
    assert client.post("/api/v1/approvals/abc/approve", json={}, headers=b).status_code == 422
    assert client.get("/api/v1/approvals?status=maybe", headers=admin).status_code == 422
    too_long = client.post(f"/api/v1/approvals/{request_id}/reject", json={"comment": "x" * 501}, headers=b)
    assert too_long.status_code == 422
    assert client.post(f"/api/v1/approvals/{request_id}/reject", json={}, headers=b).status_code == 409
