"""The three stories a citizen meets at a stamp's QR page, in headless Chromium on a phone (390x844) and a
desktop (1280x800): the signed-then-sealed file reads as the issued document sealed afterwards (one green
conclusion, nothing red), an edit after signing reads "Văn bản đã bị thay đổi sau khi ký" first (nothing
green), a flipped byte says integrity failed and leaves the chain "không đánh giá được"; the version the
official signed downloads from the result and is the registered file; an unknown id has its own 404."""

from __future__ import annotations

import hashlib
import re
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from signing import registry
from tests.support.revisions import Documents, sign_and_seal

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
AGENCY = "UBND Phường Bến Thành"


@pytest.fixture(scope="module")
def documents(site) -> Documents:
    with ThreadPoolExecutor(1) as pool:  # Playwright's sync API keeps an event loop running in this thread
        return pool.submit(sign_and_seal, site.instance).result()


@pytest.fixture(params=["phone", "desktop"])
def screen(request, browser):
    if request.param == "phone":
        context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
    else:
        context = browser.new_context(viewport=DESKTOP)
    context.kind = request.param  # type: ignore[attr-defined]
    yield context
    context.close()


def _upload(page, url: str, path) -> None:
    page.goto(url)
    page.set_input_files("#document", str(path))
    page.click("button.primary")
    page.locator("#overall").wait_for()


def _fits(page, screen) -> None:
    width = PHONE["width"] if screen.kind == "phone" else DESKTOP["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= width


def _facts(card) -> dict[str, str]:
    labels = card.locator("dl.facts dt").all_inner_texts()
    values = card.locator("dl.facts dd").all_inner_texts()
    return dict(zip(labels, values, strict=True))


def test_the_sealed_file_at_its_qr_is_the_issued_document_sealed_afterwards(
    site, screen, documents, tmp_path
) -> None:
    sealed = tmp_path / "quyet-dinh-da-dong-dau.pdf"
    sealed.write_bytes(documents.sealed)
    page = screen.new_page()
    _upload(page, f"{site.url}/verify/{documents.first_id}", sealed)
    overall = page.locator("#overall")
    assert "passed" in overall.get_attribute("class")
    assert overall.locator(".verdict").inner_text() == "HỢP LỆ"
    assert overall.locator(".conclusion").first.inner_text() == (
        f"Đây là văn bản đã ký dưới mã này, được đóng dấu sau đó bởi {AGENCY}."
    )
    # one conclusion: nothing red, and none of the old contradiction
    assert page.locator(".failed").count() == 0
    text = page.locator("main").inner_text()
    assert "KHÔNG phải" not in text and "Điền biểu mẫu" not in text
    official, seal = page.locator("article.signature").all()
    assert "Dấu của cơ quan 2" in seal.locator("h2").inner_text()
    assert _facts(official)["Thay đổi sau khi ký"].endswith(f"Thêm chữ ký hoặc dấu ({AGENCY})")
    seal_facts = _facts(seal)
    assert seal_facts["Cơ quan"] == AGENCY and "Người ký" not in seal_facts  # the agency, named once
    assert "Common Name" not in text and "Kyso Government CA (Kyso Test PKI, VN)" in text
    notice = page.locator(".test-pki").first
    assert notice.is_visible() and "không có giá trị pháp lý" in notice.inner_text()
    _fits(page, screen)
    page.screenshot(path=site.shots / f"verify-sealed-{screen.kind}.png", full_page=True)

    # "Xem bản đã ký": the version the official signed is the registered file, byte for byte
    with page.expect_download() as download:
        official.locator("a", has_text="Xem bản đã ký").click()
    version = download.value.path().read_bytes()
    with site.instance.db.reading() as session:
        registered = registry.find(session, documents.first_id)
    assert registered is not None and hashlib.sha256(version).hexdigest() == registered.sha256
    assert version == documents.signed

    # and what changed since, page by page: the seal's stamp, in red on the diff image
    official.locator("a", has_text="Xem thay đổi từ khi ký").click()
    page.locator("section.page-change").first.wait_for()
    assert page.locator("h1").inner_text() == "Thay đổi từ khi ký"
    assert "Trang 1: có thay đổi" in page.locator("section.page-change h2").first.inner_text()
    page.wait_for_load_state("load")
    assert page.locator("img").count() == 3
    assert page.evaluate("Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
    _fits(page, screen)
    page.screenshot(path=site.shots / f"verify-changes-{screen.kind}.png", full_page=True)


def test_the_sealed_file_on_the_verify_page_names_the_document_it_extends(site, desk_pc, documents, tmp_path):
    sealed = tmp_path / "sealed.pdf"
    sealed.write_bytes(documents.sealed)
    page = desk_pc.new_page()
    _upload(page, f"{site.url}/verify?lang=en", sealed)
    conclusion = page.locator("#overall .conclusion").first.inner_text()
    assert conclusion.startswith("This is a document this service signed (Trần Thị Bình, ")
    assert conclusion.endswith(f"sealed afterwards by {AGENCY}.")
    assert "Agency seal 2" in page.locator("article.signature h2").nth(1).inner_text()
    page.goto(f"{site.url}/verify?lang=vi")


def test_an_edit_after_signing_reads_as_such_first(site, screen, documents, tmp_path) -> None:
    edited = tmp_path / "quyet-dinh-sua.pdf"
    edited.write_bytes(documents.edited)
    page = screen.new_page()
    for url in (f"{site.url}/verify/{documents.first_id}", f"{site.url}/verify"):
        _upload(page, url, edited)
        overall = page.locator("#overall")
        assert "failed" in overall.get_attribute("class")
        assert overall.locator(".verdict").inner_text() == "KHÔNG HỢP LỆ"
        assert overall.locator(".conclusion").first.inner_text() == "Văn bản đã bị thay đổi sau khi ký."
        card = page.locator("article.signature")
        assert card.locator(".reason").inner_text() == "Lý do: Văn bản đã bị thay đổi sau khi ký."
        assert page.locator(".passed").count() == 0  # nothing green
        text = page.locator("main").inner_text()
        assert "yêu cầu kỹ thuật" not in text
        assert _facts(card)["Thay đổi sau khi ký"].endswith("Thay đổi nội dung văn bản")
        _fits(page, screen)
    page.screenshot(path=site.shots / f"verify-edited-{screen.kind}.png", full_page=True)


def test_a_flipped_byte_fails_integrity_and_leaves_trust_unjudged(site, screen, documents, tmp_path) -> None:
    flipped = tmp_path / "quyet-dinh-hong.pdf"
    flipped.write_bytes(documents.flipped)
    page = screen.new_page()
    _upload(page, f"{site.url}/verify/{documents.first_id}", flipped)
    overall = page.locator("#overall")
    assert "failed" in overall.get_attribute("class")
    sentences = overall.locator(".conclusion").all_inner_texts()
    assert "không toàn vẹn" in sentences[0] and sentences[1].startswith(
        "KHÔNG phải văn bản đã ký dưới mã này"
    )
    facts = _facts(page.locator("article.signature"))
    assert facts["Toàn vẹn"] == "KHÔNG"
    assert facts["Chuỗi chứng thư tin cậy"] == "không đánh giá được"
    assert facts["Tình trạng thu hồi"] == "không đánh giá được"
    assert page.locator(".passed").count() == 0
    _fits(page, screen)
    page.screenshot(path=site.shots / f"verify-flipped-{screen.kind}.png", full_page=True)


def test_an_unknown_id_has_the_verify_pages_own_404(site, screen) -> None:
    page = screen.new_page()
    response = page.goto(f"{site.url}/verify/khong-co-ma-nay")
    assert response is not None and response.status == 404
    assert page.locator("h1").inner_text() == "Không có văn bản với mã này"
    text = page.locator("main").inner_text()
    assert "thẻ khách" not in text and "mã QR" in text
    page.locator("a.button.primary").click()
    assert page.locator("h1").inner_text() == "Kiểm tra chữ ký số"


def test_kept_uploads_are_refused_by_a_wrong_token(site) -> None:
    with httpx.Client(base_url=site.url) as client:
        for path in ("/verify/held/AAAAAAAAAAAAAAAAAAAAAAAA/revision/2.pdf",
                     "/verify/held/not-a-token/changes/2",
                     "/verify/held/AAAAAAAAAAAAAAAAAAAAAAAA/image/r2/diff-1.png"):  # fmt: skip
            response = client.get(path)
            assert response.status_code == 404, path
            assert "application/pdf" not in response.headers.get("content-type", "")
        assert re.search("không còn được lưu", client.get("/verify/held/x/revision/2.pdf").text)
