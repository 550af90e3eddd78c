"""The security desk in headless Chromium: a guard logs in, a handheld scanner types the pass and Enter →
green ADMIT with the guest, host and meeting; the same pass again → red DENY "Đã sử dụng"; a camera
check-in from Chromium's fake video capture showing a rendered QR; scans queued while offline are sent on
reconnect; a guest name with HTML in it is shown as text."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from invitations import qr
from tests.pages.conftest import log_in
from tests.support.browser import DESK_PC, PHONE, fake_camera_args, launch, write_y4m

pytestmark = pytest.mark.browser


def _open_desk(context, site):
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    response = page.goto(site.url + "/desk")
    assert response.status == 401  # the login form, for a stranger
    log_in(page, site.guard)
    page.locator("#scan").wait_for()
    return page, dialogs


def test_a_scanner_admits_then_the_same_pass_is_denied(site, desk_pc) -> None:
    invitation = site.invite("Lê Văn Tám")
    page, _ = _open_desk(desk_pc, site)
    assert page.evaluate("document.activeElement.id") == "scan"  # the scanner types straight in
    page.keyboard.type(invitation["payload"])
    page.keyboard.press("Enter")
    result = page.locator("#result.admit")
    result.wait_for()
    assert page.locator("#result-word").inner_text() == "MỜI VÀO"
    assert page.locator("#result-guest").inner_text() == "Lê Văn Tám"
    facts = page.locator("#result-facts").inner_text()
    assert "Họp giao ban chuyển đổi số" in facts and site.official.username in facts
    page.screenshot(path=site.shots / "desk-admit.png")

    page.keyboard.type(invitation["payload"])  # the input kept focus under the result
    page.keyboard.press("Enter")
    page.locator("#result.deny").wait_for()
    assert page.locator("#result-word").inner_text() == "TỪ CHỐI"
    assert "Đã sử dụng" in page.locator("#result-reason").inner_text()
    page.screenshot(path=site.shots / "desk-deny.png")

    page.click("#result")  # dismiss; the day's list shows the guest inside
    page.locator("#guest-rows tr.status-inside", has_text="Lê Văn Tám").wait_for()
    page.screenshot(path=site.shots / "desk-list.png", full_page=True)


def test_a_guest_name_with_html_is_shown_as_text(site, browser) -> None:
    name = "<script>alert(1)</script><img src=x onerror=alert(2)>"
    invitation = site.invite(name)
    context = browser.new_context(viewport=PHONE)
    try:
        page, dialogs = _open_desk(context, site)
        page.fill("#scan", invitation["payload"])
        page.press("#scan", "Enter")
        page.locator("#result.admit").wait_for()
        assert page.locator("#result-guest").inner_text() == name
        page.click("#result")
        page.locator("#guest-rows td", has_text="<script>alert(1)</script>").first.wait_for()
        assert dialogs == [] and page.locator("img[src=x]").count() == 0
    finally:
        context.close()


def test_offline_scans_are_queued_and_sent_on_reconnect(site, desk_pc) -> None:
    invitation = site.invite("Phạm Thị Offline")
    page, _ = _open_desk(desk_pc, site)
    desk_pc.set_offline(True)
    page.locator("#net.offline").wait_for()
    page.fill("#scan", invitation["payload"])
    page.press("#scan", "Enter")
    page.locator("#result.queued").wait_for()
    assert "Chờ gửi: 1" in page.locator("#net").inner_text()
    page.screenshot(path=site.shots / "desk-offline.png")
    desk_pc.set_offline(False)
    page.locator("#net", has_text="Đã gửi lại 1").wait_for()
    page.click("#result")
    page.locator("#guest-rows tr.status-inside", has_text="Phạm Thị Offline").wait_for()


def test_a_camera_check_in_with_chromium_fake_capture(site, playwright, tmp_path) -> None:
    invitation = site.invite("Võ Thị Camera")
    picture = Image.open(io.BytesIO(qr.render(invitation["payload"]).png(6)))
    video = write_y4m(picture, tmp_path / "pass.y4m")
    chromium = launch(playwright, *fake_camera_args(video))  # the video file is fixed at launch
    try:
        context = chromium.new_context(viewport=DESK_PC, permissions=["camera"])
        page, _ = _open_desk(context, site)
        page.click("#camera-toggle")
        page.locator("#result.admit").wait_for(timeout=30_000)
        assert page.locator("#result-guest").inner_text() == "Võ Thị Camera"
        page.screenshot(path=site.shots / "desk-camera-admit.png")
    finally:
        chromium.close()


def test_answers_say_when_and_where_what_next_and_whom_to_call(site, browser) -> None:
    """Issue 21: an admit with entries left says so in small type (none left: not shown at all); the "used"
    deny says when and at which desk, the next step from invitations.reasons, and the host's contact."""
    for size in (PHONE, DESK_PC):
        context = browser.new_context(viewport=size)
        try:
            invitation = site.invite("Hồ Văn Hai Lượt", entries=2, host_contact="0283 829 1234 (máy lẻ 12)")
            page, _ = _open_desk(context, site)
            page.select_option("#desk-code", "gate-2")
            for left in ("Còn 1 lượt vào hôm nay", None):
                page.fill("#scan", invitation["payload"])
                page.press("#scan", "Enter")
                page.locator("#result.admit").wait_for()
                shown = page.locator("#result").inner_text()
                assert (
                    "Lượt vào còn lại" not in shown
                    and "0" not in page.locator("#result-entries").inner_text()
                )
                assert "0283 829 1234 (máy lẻ 12)" in page.locator("#result-facts").inner_text()
                if left:
                    assert page.locator("#result-entries").inner_text() == left
                else:
                    assert page.locator("#result-entries").is_hidden()
                if size is PHONE and left:
                    page.screenshot(path=site.shots / "desk-admit-entries-left-phone.png")
                page.click("#result")
            page.fill("#scan", invitation["payload"])
            page.press("#scan", "Enter")
            page.locator("#result.deny").wait_for()
            assert "Đã sử dụng" in page.locator("#result-reason").inner_text()
            used = page.locator("#result-used").inner_text()
            assert used.startswith("Đã dùng lúc ") and used.endswith(" tại bàn gate-2"), used
            assert page.locator("#result-next").inner_text() == (
                "Việc cần làm: Có thể người khác giữ bản sao: gọi người mời"
            )
            assert "0283 829 1234" in page.locator("#result-facts").inner_text()
            page.screenshot(path=site.shots / f"desk-used-{size['width']}.png")
        finally:
            context.close()


def test_the_cccd_card_is_checked_as_a_second_scan(site, desk_pc) -> None:
    """With "Kiểm tra CCCD" ticked, a pass waits for the card's QR: someone else's card is refused, the
    invitee's admits with "CCCD khớp"; the card step can be skipped."""
    other = site.invite("Trương Thị Thẻ", cccd="079203001234")
    page, _ = _open_desk(desk_pc, site)
    page.check("#card-step")
    page.fill("#scan", other["payload"])
    page.press("#scan", "Enter")
    page.locator("#card-prompt").wait_for()
    assert page.locator("#result").is_hidden()
    page.screenshot(path=site.shots / "desk-card-step.png")
    page.fill("#scan", "079203001235|025123456|Trương Thị Khác|01012003|Nữ|12 Lê Lợi|15082021")
    page.press("#scan", "Enter")
    page.locator("#result.deny").wait_for()
    assert "CCCD không khớp với thư mời" in page.locator("#result-reason").inner_text()
    assert page.locator("#result-next").inner_text() == "Việc cần làm: Từ chối; gọi người mời"
    assert page.locator("#card-prompt").is_hidden()
    page.click("#result")

    page.fill("#scan", other["payload"])
    page.press("#scan", "Enter")
    page.locator("#card-prompt").wait_for()
    page.fill("#scan", "079203001234|025123456|Trương Thị Thẻ|01012003|Nữ|12 Lê Lợi|15082021")
    page.press("#scan", "Enter")
    page.locator("#result.admit").wait_for()
    assert page.locator("#result-reason").inner_text() == "CCCD khớp với thư mời"
    page.click("#result")

    skipped = site.invite("Lâm Văn Bỏ Qua")
    page.fill("#scan", skipped["payload"])
    page.press("#scan", "Enter")
    page.click("#card-skip")
    page.locator("#result.admit").wait_for()
    assert page.locator("#result-guest").inner_text() == "Lâm Văn Bỏ Qua"
