"""A citizen verifies documents in headless Chromium: a signed file (green, issued by us), the same file
tampered with (red, the reason in plain words), on a 360-px phone; the sealed PDF report downloads; the
pages' safety: CSP on every page, no inline script, a form post without its token refused."""

from __future__ import annotations

import asyncio
import io
import re
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from signing import registry
from signing.pades import Level
from signing.service import Appearance, DocumentIn, SignRequest
from tests.support.browser import inline_scripts
from tests.support.pdfs import sample_pdf
from tests.support.signing import issue_in_custody, signing_service

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def signed(site):
    """A B-LT PDF signed by the service (in its register), and a copy with one byte of content changed."""
    instance = site.instance
    service = signing_service(instance)
    key = service.keys.signing_key(issue_in_custody(instance, "official"))
    request = SignRequest(level=Level.B_LT, appearance=Appearance.INVISIBLE)
    documents = [DocumentIn("qd.pdf", io.BytesIO(sample_pdf(1)))]
    with ThreadPoolExecutor(1) as pool:  # Playwright's sync API keeps an event loop running in this thread
        [out] = pool.submit(asyncio.run, service.sign(key, documents, request)).result()
    with instance.db.transaction() as session:
        registry.record(session, out.record, None)
    data = out.output.read()
    tampered = data.replace(b"trang 1/1", b"trang 2/1", 1)
    assert tampered != data
    return data, tampered, out.record.id


def test_a_signed_file_is_green_and_a_tampered_one_red(site, phone, signed, tmp_path) -> None:
    data, tampered, _ = signed
    good, bad = tmp_path / "quyet-dinh.pdf", tmp_path / "quyet-dinh-sua.pdf"
    good.write_bytes(data)
    bad.write_bytes(tampered)
    page = phone.new_page()
    page.goto(site.url + "/verify")
    assert page.locator("h1").inner_text() == "Kiểm tra chữ ký số"
    page.set_input_files("#document", str(good))
    page.click("button.primary")
    card = page.locator("article.signature")
    card.first.wait_for()
    assert card.count() == 1
    assert "passed" in card.get_attribute("class")
    assert "HỢP LỆ" in card.locator(".verdict").inner_text()
    text = page.locator("main").inner_text()
    assert "Trần Thị Bình" in text  # the signer, from the test subjects
    assert re.search(r"Toàn vẹn\s+Có", text)  # integrity: yes
    assert page.locator("#overall").get_attribute("class").endswith("passed")
    page.screenshot(path=site.shots / "verify-valid-phone.png", full_page=True)
    # the page fits the phone: nothing wider than the viewport
    assert page.evaluate("document.documentElement.scrollWidth") <= 360

    page.set_input_files("#document", str(bad))
    page.click("button.primary")
    page.locator("article.signature").first.wait_for()
    failed = page.locator("article.signature")
    assert "failed" in failed.get_attribute("class")
    assert "KHÔNG HỢP LỆ" in failed.locator(".verdict").inner_text()
    assert "bị sửa sau khi ký" in failed.locator(".reason").inner_text()
    page.screenshot(path=site.shots / "verify-tampered-phone.png", full_page=True)

    page.goto(site.url + "/verify?lang=en")
    page.set_input_files("#document", str(bad))
    page.click("button.primary")
    page.locator("article.signature").first.wait_for()
    assert "was changed after signing" in page.locator(".reason").inner_text()
    page.goto(site.url + "/verify?lang=vi")


def test_the_sealed_report_downloads_from_the_page(site, desk_pc, signed, tmp_path) -> None:
    data, *_ = signed
    (tmp_path / "d.pdf").write_bytes(data)
    page = desk_pc.new_page()
    page.goto(site.url + "/verify")
    page.set_input_files("#document", str(tmp_path / "d.pdf"))
    with page.expect_download() as download:
        page.click("button[formaction='/verify/report.pdf']")
    report = download.value.path().read_bytes()
    assert report.startswith(b"%PDF") and b"/ByteRange" in report


def test_every_page_sends_the_csp_and_has_no_inline_script(site) -> None:
    invitation = site.invite()
    with httpx.Client(base_url=site.url) as client:
        pages = ["/verify", "/desk", "/portal", "/pass/nope.nope", "/verify/unknown"]
        portal = site.api.get("/portal", headers=site.official_auth)
        token = re.search(r'href="/pass/([^"]+)"', portal.text).group(1)
        pages.append(f"/pass/{token}")
        for path in pages:
            response = client.get(path)
            csp = response.headers["content-security-policy"]
            assert (
                "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
            )
            assert response.headers["x-content-type-options"] == "nosniff"
            assert response.headers["x-frame-options"] == "DENY"
            assert response.headers["referrer-policy"] == "no-referrer"
            assert inline_scripts(response.text) == [], path
            assert "<style" not in response.text and " style=" not in response.text, path
        for signed_in in (site.official_auth,):
            html = site.api.get("/portal", headers=signed_in).text
            assert inline_scripts(html) == [] and " style=" not in html
        assert invitation["id"] in portal.text


def test_a_form_post_without_its_csrf_token_is_refused(site, signed) -> None:
    data, *_ = signed
    with httpx.Client(base_url=site.url) as client:
        page = client.get("/verify")
        assert page.status_code == 200
        refused = client.post("/verify", files={"document": ("d.pdf", data, "application/pdf")})
        assert refused.status_code == 403 and "hết hạn" in refused.text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        accepted = client.post("/verify", data={"csrf_token": token},
                               files={"document": ("d.pdf", data, "application/pdf")})  # fmt: skip
        assert accepted.status_code == 200 and "HỢP LỆ" in accepted.text
    # the session's double-submit token: a logged-in browser's POST without the header changes nothing
    with httpx.Client(base_url=site.url) as browser_like:
        form = re.search(r'name="csrf_token" value="([^"]+)"', browser_like.get("/desk").text).group(1)
        login = browser_like.post(
            "/api/v1/auth/session",
            data={"username": site.guard.username, "password": site.guard.password, "csrf_token": form},
        )
        assert login.status_code == 200
        payload = site.invite()["payload"]
        refused = browser_like.post("/api/v1/checkins", json={"payload": payload, "desk": "gate-1"})
        assert refused.status_code == 403
        ok = browser_like.post("/api/v1/checkins", json={"payload": payload, "desk": "gate-1"},
                               headers={"X-CSRF-Token": browser_like.cookies["kyso_csrf"]})  # fmt: skip
        assert ok.json()["decision"] == "admit"
