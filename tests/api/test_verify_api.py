"""POST /api/v1/verify and the citizens' pages, through the app with a real database."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from signing import registry
from signing.pades import Level
from tests.conftest import make_instance
from tests.support.pdfs import sample_pdf
from tests.support.signing import issue_in_custody, root_asn1, signing_service
from tests.support.validators import pyhanko_verdicts


def _settings(world):
    return world[-1].settings


def _root(world):
    return root_asn1(world[-1])


@pytest.fixture(scope="module")
def app_world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("verify-api")
    instance = make_instance(tmp, f"sqlite:///{tmp / 'kyso.db'}")
    service = signing_service(instance)
    serial = issue_in_custody(instance, "official")
    key = service.keys.signing_key(serial)
    import asyncio
    import io

    from signing.service import Appearance, DocumentIn, SignRequest

    [out] = asyncio.run(service.sign(key, [DocumentIn("d.pdf", io.BytesIO(sample_pdf(1)))],
                                     SignRequest(level=Level.B_LT, appearance=Appearance.INVISIBLE)))  # fmt: skip
    with instance.db.transaction() as session:
        registry.record(session, out.record, None)
    data = out.output.read()
    client = TestClient(create_app(instance.settings.model_copy(update={"verify_rate_per_minute": 5})))
    yield client, data, out.record.id, serial, service, instance
    instance.db.dispose()


def test_the_api_reports_and_names_the_issuer(app_world):
    client, data, record_id, *_ = app_world
    response = client.post("/api/v1/verify", files={"document": ("d.pdf", data, "application/pdf")})
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["signatures"][0]["indication"] == "TOTAL-PASSED"
    assert report["issued_by_us"][0]["id"] == record_id


def test_pages_compare_a_copy_and_escape(app_world):
    client, data, record_id, *_ = app_world
    page = client.get("/verify").text
    assert "Kiểm tra" in page and 'formaction="/verify/report.pdf"' in page
    token = {"csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)}
    record_page = client.get(f"/verify/{record_id}")
    assert record_page.status_code == 200 and "Trần Thị Bình" in record_page.text
    same = client.post(
        f"/verify/{record_id}", data=token, files={"document": ("d.pdf", data, "application/pdf")}
    )
    assert "Đúng bản đã ký" in same.text
    other = client.post(
        f"/verify/{record_id}", data=token, files={"document": ("<b>x</b>.pdf", b"nope", "application/pdf")}
    )
    assert "not a PDF" in other.text and "<b>x</b>" not in other.text
    assert client.get("/verify/unknown-id").status_code == 404


def test_bad_input_is_4xx_and_the_rate_is_limited(app_world):
    client, *_ = app_world
    statuses = [
        client.post(
            "/api/v1/verify", files={"document": ("x.pdf", b"not a pdf", "application/pdf")}
        ).status_code
        for _ in range(8)
    ]
    assert statuses[0] == 422 and 429 in statuses and 500 not in statuses


def test_the_report_as_a_sealed_pdf(app_world):
    _, data, *_ = app_world
    settings = _settings(app_world).model_copy(update={"verify_rate_per_minute": 100})
    # its own address: the limits live in the database, and the rate-limit test spends "testclient"'s
    client = TestClient(create_app(settings), client=("198.51.100.7", 40000))
    response = client.post(
        "/api/v1/verify?format=pdf", files={"document": ("d.pdf", data, "application/pdf")}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    [verdict] = pyhanko_verdicts(response.content, _root(app_world))
    assert verdict.intact and verdict.valid and verdict.trusted and verdict.revocation_checked
    assert client.post("/api/v1/verify?format=yaml", files={"document": ("d.pdf", data)}).status_code == 422
