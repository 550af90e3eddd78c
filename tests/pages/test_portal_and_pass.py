"""An official in headless Chromium: logs in with password + TOTP, creates an invitation, opens the guest's
pass page (its QR decodes with zxing-cpp to a payload the desk admits), signs a PDF confirmed with a TOTP
code and downloads it (TOTAL-PASSED); cancelled and amended invitations' pass pages say so."""

from __future__ import annotations

import time

import pytest

from invitations import pass_links
from tests.pages.conftest import log_in
from tests.support.browser import DESK_PC, PHONE, decode_qr
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


def _pass_link(site, invitation_id: str) -> str:
    portal = site.api.get("/portal", headers=site.official_auth).text
    token = portal.split(f'href="/pass/{invitation_id}.', 1)[1].split('"', 1)[0]
    return f"/pass/{invitation_id}.{token}"


def test_arrival_states_on_the_pass_and_in_the_portal(site, browser) -> None:
    """Issue 21: the host invites "Ông …" with a contact from the portal form; the pass greets "Kính gửi
    Ông …", shows the contact and the venue's retention; once admitted it says when (no more "show this at
    the desk"), after check-out when they left; the portal says Đã đến / Đã về with the times."""
    for size, is_phone in ((PHONE, True), (DESK_PC, False)):
        name = f"Phan Văn Đến {size['width']}"
        host = browser.new_context(viewport=size, extra_http_headers=site.official_auth)
        guest = browser.new_context(viewport=size, is_mobile=is_phone, has_touch=is_phone)
        try:
            portal = host.new_page()
            portal.goto(site.url + "/portal")
            portal.select_option("#guest_title", "Ông")
            portal.fill("#guest_name", name)
            portal.fill("#meeting_title", "Làm việc về hồ sơ")
            portal.fill("#host_contact", "0283 829 1234 (máy lẻ 12)")
            portal.fill("#start", "00:00")
            portal.fill("#end", "23:59")
            portal.click("#invite-form button[type=submit]")
            row = portal.locator("table.invitations tr", has_text=name)
            row.wait_for()
            assert row.locator("span.status").inner_text() == "Còn hiệu lực"
            invitation_id = row.get_attribute("data-id")
            shown = site.api.get(f"/api/v1/invitations/{invitation_id}", headers=site.official_auth).json()
            assert shown["guest_title"] == "Ông" and shown["arrival"]["state"] == "expected"
            link = _pass_link(site, invitation_id)

            page = guest.new_page()
            page.goto(site.url + link)
            main = page.locator("main")
            assert f"Kính gửi Ông {name}" in main.inner_text()
            assert (
                "trân trọng mời Ông đến dự" in main.inner_text() and "Ông/Bà đến dự" not in main.inner_text()
            )
            assert page.locator("#host-contact").inner_text() == "0283 829 1234 (máy lẻ 12)"
            assert "Xuất trình mã QR này" in page.locator("#pass-intro").inner_text()
            assert "(90 ngày sau cuộc hẹn)" in page.locator("#privacy").inner_text()

            decision = site.api.post("/api/v1/checkins", json={"payload": shown["payload"], "desk": "gate-1"},
                                     headers=site.guard_auth).json()  # fmt: skip
            assert decision["decision"] == "admit"
            assert decision["host_contact"] == "0283 829 1234 (máy lẻ 12)"
            page.reload()
            assert page.locator("#pass").get_attribute("data-state") == "inside"
            assert page.locator("#arrived-at").inner_text().startswith("Đã đến lúc ")
            assert (
                "Xuất trình mã QR này" not in main.inner_text() and page.locator("#pass-intro").count() == 0
            )
            assert page.locator("#pass-qr").is_hidden()  # folded away, for a check-out scan if asked
            page.screenshot(path=site.shots / f"pass-arrived-{size['width']}.png", full_page=True)
            portal.reload()
            assert row.locator("span.status").inner_text() == "Đã đến"
            assert "Giờ đến" in row.locator(".arrival-times").inner_text()

            out = site.api.post("/api/v1/checkins/checkout", json={"desk": "gate-1", "checkin_id":
                                decision["checkin_id"]}, headers=site.guard_auth)  # fmt: skip
            assert out.status_code == 200, out.text
            page.reload()
            assert page.locator("#pass").get_attribute("data-state") == "left"
            assert page.locator("#left-at").inner_text().startswith("Đã về lúc ")
            portal.reload()
            assert row.locator("span.status").inner_text() == "Đã về"
            assert "Giờ về" in row.locator(".arrival-times").inner_text()
            portal.screenshot(path=site.shots / f"portal-arrival-states-{size['width']}.png", full_page=True)
        finally:
            host.close()
            guest.close()


def test_a_venue_states_its_own_retention_on_the_pass(site, phone) -> None:
    venue = {"code": "UBND-Q1", "name": "UBND Quận 1", "desks": ["q1-gate"], "retention_days": 30}
    created = site.api.post("/api/v1/venues", json=venue, headers=site.admin)
    assert created.status_code == 201, created.text
    assert created.json()["retention_days"] == 30
    refused = site.api.post("/api/v1/venues", json={**venue, "code": "X", "desks": [], "retention_days": 0},
                            headers=site.admin)  # fmt: skip
    assert refused.status_code == 422
    invitation = site.invite("Bùi Thị Ba Mươi", venue="UBND-Q1")
    changed = site.api.patch("/api/v1/venues/UBND-Q1", json={"retention_days": 45}, headers=site.admin)
    assert changed.status_code == 200 and changed.json()["retention_days"] == 45
    assert site.api.patch("/api/v1/venues/UBND-Q1", json={"retention_days": 4000},
                          headers=site.admin).status_code == 422  # fmt: skip
    assert (
        site.api.patch("/api/v1/venues/NOWHERE", json={"retention_days": 5}, headers=site.admin).status_code
        == 404
    )
    assert site.api.patch("/api/v1/venues/UBND-Q1", json={"retention_days": 30},
                          headers=site.official_auth).status_code == 403  # fmt: skip
    assert (
        site.api.patch("/api/v1/venues/UBND-Q1", json={"retention_days": 30}, headers=site.admin).status_code
        == 200
    )
    desk = site.api.post("/api/v1/venues/UBND-Q1/desks", json={"code": "q1-gate-2", "name": "Cổng phụ"},
                         headers=site.admin)  # fmt: skip
    assert desk.status_code == 201 and desk.json() == {"code": "q1-gate-2", "name": "Cổng phụ"}
    again = site.api.post("/api/v1/venues/UBND-Q1/desks", json={"code": "q1-gate-2"}, headers=site.admin)
    assert again.status_code == 409
    nowhere = site.api.post("/api/v1/venues/NOWHERE/desks", json={"code": "x-1"}, headers=site.admin)
    assert nowhere.status_code == 404
    page = phone.new_page()
    page.goto(site.url + _pass_link(site, invitation["id"]))
    privacy = page.locator("#privacy").inner_text()
    assert "UBND Quận 1" in privacy and "(30 ngày sau cuộc hẹn)" in privacy
    page.screenshot(path=site.shots / "pass-privacy-phone.png", full_page=True)


def test_the_host_hears_of_arrivals_live_and_decides_a_held_guest(site, browser) -> None:
    """The portal announces a guest arriving and leaving without a reload; a guest the block list holds is
    listed for the host, who admits them with one click (the decision is theirs, by name)."""
    for size in (PHONE, DESK_PC):
        tag = size["width"]
        host = browser.new_context(viewport=size, extra_http_headers=site.official_auth)
        try:
            invitation = site.invite(f"Quách Văn Trực Tiếp {tag}")
            listed = site.api.post("/api/v1/checkins/blocklist", headers=site.admin,
                                   json={"name": f"Mạc Thị Bị Giữ {tag}", "reason": "Đề nghị của công an phường"})  # fmt: skip
            assert listed.status_code == 201, listed.text
            held = site.invite(f"mac thi bi giu {tag}")
            portal = host.new_page()
            portal.goto(site.url + "/portal")
            hold = portal.locator("#holds li", has_text=f"mac thi bi giu {tag}")
            assert "Đề nghị của công an phường" in hold.inner_text()

            admitted = site.api.post("/api/v1/checkins", json={"payload": invitation["payload"], "desk": "gate-1"},
                                     headers=site.guard_auth).json()  # fmt: skip
            assert admitted["decision"] == "admit"
            notice = portal.locator(
                "#arrivals li.arrival-notice.inside", has_text=f"Quách Văn Trực Tiếp {tag}"
            )
            notice.wait_for(timeout=25_000)  # the page asks every 10 s
            assert " đã đến lúc " in notice.inner_text()
            row = portal.locator("table.invitations tr", has_text=f"Quách Văn Trực Tiếp {tag}")
            assert row.locator("span.status").inner_text() == "Đã đến"
            portal.screenshot(path=site.shots / f"portal-live-{tag}.png", full_page=True)

            hold.locator("button", has_text="Cho vào").click()
            portal.locator("#flash", has_text="Đã cho vào").wait_for()
            assert portal.locator("#holds li", has_text=f"mac thi bi giu {tag}").count() == 0
            decided = site.api.get(
                "/api/v1/checkins/holds", params={"status": "all"}, headers=site.admin
            ).json()
            mine = next(h for h in decided if h["invitation_id"] == held["id"])
            assert (mine["status"], mine["decided_by"]) == ("admitted", site.official.username)
            scanned = site.api.post("/api/v1/checkins", json={"payload": held["payload"], "desk": "gate-2"},
                                    headers=site.guard_auth).json()  # fmt: skip
            assert scanned["decision"] == "admit"
        finally:
            host.close()
