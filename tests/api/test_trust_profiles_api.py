"""The trust profiles over the API (readers list, CA operators switch, others are refused) and
`POST /api/v1/verify?format=xml`, the ETSI TS 119 102-2 report."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from lxml import etree

from api.app import create_app
from signing.pades import Level
from tests.conftest import bearer, make_account, make_instance
from tests.support.pdfs import sample_pdf
from tests.support.signing import issue_in_custody, sign_bytes, signing_service

VR = "http://uri.etsi.org/19102/v1.4.1#"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("trust-api")
    instance = make_instance(tmp, f"sqlite:///{tmp / 'kyso.db'}")
    data, _ = sign_bytes(signing_service(instance), issue_in_custody(instance, "official"), sample_pdf(1),
                         level=Level.B_LT)  # fmt: skip
    client = TestClient(create_app(instance.settings))
    yield client, instance, data
    instance.db.dispose()


def test_readers_list_operators_switch_others_are_refused(world) -> None:
    client, instance, _ = world
    operator = bearer(client, make_account(instance, "ca-operator"))
    official = bearer(client, make_account(instance, "official"))
    listed = client.get("/api/v1/verify/trust-profiles", headers=operator)
    assert listed.status_code == 200
    assert [(p["name"], p["enabled"]) for p in listed.json()] == [
        ("kyso-test", True), ("vn-public", False), ("vn-gov", False), ("operator", True),
    ]  # fmt: skip
    assert (
        client.put(
            "/api/v1/verify/trust-profiles/vn-gov", json={"enabled": True}, headers=official
        ).status_code
        == 403
    )
    assert client.put("/api/v1/verify/trust-profiles/vn-gov", json={"enabled": True}).status_code == 401
    switched = client.put("/api/v1/verify/trust-profiles/vn-gov", json={"enabled": True}, headers=operator)
    assert switched.status_code == 200 and switched.json()["enabled"] is True
    assert "RootCA" in switched.json()["anchors"][0]["subject"]
    back = client.put("/api/v1/verify/trust-profiles/vn-gov", json={"enabled": False}, headers=operator)
    assert back.status_code == 200 and back.json()["enabled"] is False
    unknown = client.put("/api/v1/verify/trust-profiles/nope", json={"enabled": True}, headers=operator)
    assert unknown.status_code == 404 and unknown.headers["content-type"].startswith(
        "application/problem+json"
    )
    bad = client.put("/api/v1/verify/trust-profiles/vn-gov", json={"enabled": "maybe"}, headers=operator)
    assert bad.status_code == 422


def test_verify_answers_the_etsi_xml_report(world) -> None:
    client, _, data = world
    response = client.post(
        "/api/v1/verify?format=xml", files={"document": ("d.pdf", data, "application/pdf")}
    )
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/xml")
    document = etree.fromstring(response.content)
    main = document.findtext(f".//{{{VR}}}SignatureValidationStatus/{{{VR}}}MainIndication")
    assert main == "urn:etsi:019102:mainindication:total-passed"
    json_report = client.post("/api/v1/verify", files={"document": ("d.pdf", data, "application/pdf")}).json()
    assert (
        json_report["trust_profiles"] == ["kyso-test", "operator"]
        and json_report["policy"] == "Kyso TT15/2025"
    )
    [signature] = json_report["signatures"]
    assert signature["trust_anchor"]["profile"] == "kyso-test" and len(signature["policy_results"]) == 6
    refused = client.post(
        "/api/v1/verify?format=yaml", files={"document": ("d.pdf", data, "application/pdf")}
    )
    assert refused.status_code == 422
