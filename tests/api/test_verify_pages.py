"""The verify pages through the app (no browser): a file without signatures, the kept upload's links and
their expiry, the verify 404 for GET and POST, the English page's words."""

from __future__ import annotations

import hashlib
import re

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.pages import held
from tests.conftest import make_instance
from tests.support.pdfs import sample_pdf
from tests.support.revisions import sign_and_seal


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("verify-pages")
    instance = make_instance(tmp, f"sqlite:///{tmp / 'kyso.db'}")
    documents = sign_and_seal(instance)
    client = TestClient(create_app(instance.settings.model_copy(update={"verify_rate_per_minute": 600})))
    yield client, documents, instance
    instance.db.dispose()


def _token(client) -> dict[str, str]:
    page = client.get("/verify").text
    return {"csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)}


def _post(client, path: str, data: bytes):
    return client.post(path, data=_token(client), files={"document": ("d.pdf", data, "application/pdf")})


def test_a_file_without_signatures_says_so_and_keeps_nothing(world) -> None:
    client, documents, _ = world
    page = _post(client, "/verify", sample_pdf(1))
    assert page.status_code == 200
    assert "Không tìm thấy chữ ký nào trong tệp." in page.text and "/verify/held/" not in page.text
    at_qr = _post(client, f"/verify/{documents.first_id}", sample_pdf(1))
    assert 'class="banner failed"' in at_qr.text and "KHÔNG phải văn bản đã ký dưới mã này" in at_qr.text


def test_the_kept_upload_gives_the_signed_version_until_it_expires(world, monkeypatch) -> None:
    client, documents, instance = world
    page = _post(client, f"/verify/{documents.first_id}", documents.sealed)
    links = re.findall(r'href="(/verify/held/[^"]+/revision/\d+\.pdf)"', page.text)
    assert len(links) == 2  # the official's signature and the agency's seal
    official = client.get(links[0])
    assert official.status_code == 200 and official.headers["content-type"] == "application/pdf"
    assert "attachment" in official.headers["content-disposition"]
    assert official.content == documents.signed
    assert client.get(links[1]).content == documents.sealed  # the seal signed the whole file
    changes = re.search(r'href="(/verify/held/[^"]+/changes/\d+)"', page.text).group(1)
    compared = client.get(changes)
    assert compared.status_code == 200 and "Trang 1: có thay đổi" in compared.text
    images = re.findall(r'src="(/verify/held/[^"]+\.png)"', compared.text)
    assert len(images) == 3
    for image in images:
        answer = client.get(image)
        assert answer.status_code == 200 and answer.content.startswith(b"\x89PNG")
    # 30 minutes later the links are gone
    now = held.time.time()
    monkeypatch.setattr(held.time, "time", lambda: now + held.KEEP_SECONDS + 1)
    expired = client.get(links[0])
    assert expired.status_code == 404 and "không còn được lưu" in expired.text
    assert client.get(images[0]).status_code == 404
    monkeypatch.undo()
    kept = list((instance.settings.data_dir / "verify-held").glob("*.pdf"))
    assert kept and all(len(p.stem) == 24 for p in kept)


def test_the_kept_uploads_are_bounded(world, monkeypatch) -> None:
    client, documents, instance = world
    monkeypatch.setattr(held, "MAX_KEPT", 3)
    for _ in range(5):
        _post(client, "/verify", documents.sealed)
    assert len(list((instance.settings.data_dir / "verify-held").glob("*.pdf"))) <= 3


def test_an_unknown_id_is_the_verify_404_for_get_and_post(world) -> None:
    client, documents, _ = world
    for answer in (client.get("/verify/khong-co"), _post(client, "/verify/khong-co", documents.signed)):
        assert answer.status_code == 404
        assert "Không có văn bản với mã này" in answer.text and "thẻ khách" not in answer.text
    english = client.get("/verify/khong-co?lang=en")
    assert english.status_code == 404 and "No document has this id" in english.text
    client.get("/verify?lang=vi")


def test_the_english_page_says_the_same(world) -> None:
    client, documents, _ = world
    page = client.post(
        "/verify/" + documents.first_id + "?lang=en", data=_token(client),
        files={"document": ("d.pdf", documents.edited, "application/pdf")},
    )  # fmt: skip
    assert "The document was changed after it was signed." in page.text
    assert "VALID FOR THE SIGNED VERSION" in page.text
    page = client.post(
        "/verify/" + documents.first_id + "?lang=en", data=_token(client),
        files={"document": ("d.pdf", documents.sealed, "application/pdf")},
    )  # fmt: skip
    assert (
        "This is the document signed under this id, sealed afterwards by UBND Phường Bến Thành." in page.text
    )
    assert "Agency seal 2" in page.text and "no legal standing" in page.text
    client.get("/verify?lang=vi")
    assert hashlib.sha256(documents.signed).hexdigest() in client.get(f"/verify/{documents.first_id}").text
