"""An official in headless Chromium: logs in with password + TOTP, creates an invitation, opens the guest's
pass page (its QR decodes with zxing-cpp to a payload the desk admits), signs a PDF confirmed with a TOTP
code and downloads it (TOTAL-PASSED); cancelled and amended invitations' pass pages say so."""

from __future__ import annotations

import time

import pytest

from invitations import pass_links
from tests.pages.conftest import log_in
from tests.support.browser import decode_qr
from tests.support.pdfs import sample_pdf

pytestmark = pytest.mark.browser


def _portal(context, site):
    page = context.new_page()
    page.on("dialog", lambda d: d.accept())
    assert page.goto(site.url + "/portal").status == 401
    log_in(page, site.official, site.official.code())
    page.locator("#invite-form").wait_for()
    return page


def test_an_official_invites_a_guest_and_signs_a_pdf(site, desk_pc, phone, tmp_path) -> None:
    page = _portal(desk_pc, site)
    page.fill("#guest_name", "Trần Văn Khách")
    page.fill("#meeting_title", "Làm việc về hồ sơ đất đai")
    page.fill("#start", "00:00")
    page.fill("#end", "23:59")
    page.click("#invite-form button[type=submit]")
    row = page.locator("table.invitations tr", has_text="Trần Văn Khách")
    row.wait_for()
    assert "Đã tạo thư mời cho Trần Văn Khách" in page.locator("#flash").inner_text()
    page.screenshot(path=site.shots / "portal-invitations.png", full_page=True)
    pass_href = row.locator("a.pass-link").get_attribute("href")

    # the guest opens the pass on a phone; its QR is what the desk admits
    guest = phone.new_page()
    guest.goto(site.url + pass_href)
    qr = guest.locator("#pass-qr")
    qr.wait_for()
    guest.wait_for_function("document.getElementById('pass-qr').naturalWidth > 0")
    assert "Trần Văn Khách" in guest.locator("main").inner_text()
    assert "openstreetmap.org/search?query=92+L" in guest.locator("a", has_text="bản đồ").get_attribute(
        "href"
    )
    guest.screenshot(path=site.shots / "pass-phone.png", full_page=True)
    [payload] = decode_qr(qr.screenshot())
    decision = site.api.post(
        "/api/v1/checkins", json={"payload": payload, "desk": "gate-1"}, headers=site.guard_auth
    )
    assert decision.json()["decision"] == "admit" and decision.json()["guest"] == "Trần Văn Khách"
    ics = site.api.get(pass_href + "/invitation.ics")
    assert ics.status_code == 200 and "SUMMARY:Làm việc về hồ sơ đất đai" in ics.text

    # signing: review (name, size, SHA-256 from the browser), confirm with the next TOTP code, download
    pdf = tmp_path / "to-trinh.pdf"
    pdf.write_bytes(sample_pdf(2))
    page.set_input_files("#sign-file", str(pdf))
    page.locator("#review-hash", has_text="e").wait_for()
    import hashlib

    assert page.locator("#review-hash").inner_text() == hashlib.sha256(pdf.read_bytes()).hexdigest()
    assert page.locator("#review-name").inner_text() == "to-trinh.pdf"
    page.fill("#sign-code", site.official.code(time.time() + 30))  # the login used this step's code
    page.click("#sign-button")
    download_link = page.locator("#sign-download")
    download_link.wait_for(timeout=60_000)
    page.screenshot(path=site.shots / "portal-signed.png", full_page=True)
    with page.expect_download() as download:
        download_link.click()
    signed = download.value.path().read_bytes()
    report = site.api.post("/api/v1/verify", files={"document": ("s.pdf", signed, "application/pdf")}).json()
    assert [s["indication"] for s in report["signatures"]] == ["TOTAL-PASSED"]
    assert report["issued_by_us"], "the signed file is in the register"

    # cancelling from the portal: the pass page then says so and shows no QR
    page.once("dialog", lambda d: d.accept())
    page.locator("table.invitations tr", has_text="Trần Văn Khách").locator("button.cancel").click()
    page.locator("#flash", has_text="Đã huỷ").wait_for()
    guest.goto(site.url + pass_href)
    assert "đã bị huỷ" in guest.locator("main").inner_text() and guest.locator("#pass-qr").count() == 0


def test_pass_links_are_unguessable_and_amendments_retire_them(site, phone) -> None:
    invitation = site.invite("Đỗ Thị Sửa", rotating=True)
    portal = site.api.get("/portal", headers=site.official_auth).text
    token = portal.split(f'href="/pass/{invitation["id"]}.', 1)[1].split('"', 1)[0]
    link = f"/pass/{invitation['id']}.{token}"
    assert site.api.get(f"/pass/{invitation['id']}").status_code == 404  # the bare id opens nothing
    assert site.api.get(f"/pass/{invitation['id']}.{'A' * 22}").status_code == 404
    page = phone.new_page()
    page.goto(site.url + link)
    assert page.locator("#pass-qr").get_attribute("data-refresh") == "20"  # rotating: re-fetched by pass.js
    [payload] = decode_qr(page.locator("#pass-qr").screenshot())
    assert payload.startswith("KR1:")
    amended = site.api.patch(f"/api/v1/invitations/{invitation['id']}", json={"meeting_title": "Họp lại"},
                             headers=site.official_auth)  # fmt: skip
    assert amended.status_code == 200, amended.text
    page.goto(site.url + link)
    assert "đã được thay đổi" in page.locator("main").inner_text()
    assert site.api.get(link + "/qr.png").status_code == 410
    key = pass_links.derive_key(site.instance.settings)
    fresh = pass_links.token_for(key, invitation["id"], amended.json()["token_version"])
    assert site.api.get(f"/pass/{fresh}").status_code == 200
