"""The console's venues part in headless Chromium: an admin adds a venue with its desks and sets how long
its guests' data is kept, through /api/v1/venues (services.invitations), so the API then lists the same;
a duplicate is refused with the API's words; CA operators are not shown the page."""

from __future__ import annotations

import pytest

from tests.conftest import make_account
from tests.pages.test_console import PHONE, bearer, open_console

pytestmark = pytest.mark.browser


@pytest.fixture
def phone(browser):
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
    yield context
    context.close()


def listed(site, code: str) -> dict:
    [venue] = [
        v for v in site.api.get("/api/v1/venues", headers=site.official_auth).json() if v["code"] == code
    ]
    return venue


def test_an_admin_adds_a_venue_and_its_desks_on_a_phone(site, phone) -> None:
    page, _ = open_console(phone, site, role="admin", path="/console/venues")
    page.fill("#v-code", "UBND-SG")
    page.fill("#v-name", "UBND Phường Sài Gòn")
    page.fill("#v-address", "2 Lê Duẩn, Phường Sài Gòn, TP.HCM")
    page.fill("#v-desks", "sg-cong-chinh, sg-cong-phu")
    page.click("#venue-form button[type=submit]")
    page.locator("#flash", has_text="Đã thêm điểm tiếp đón UBND-SG").wait_for()
    venue = listed(site, "UBND-SG")
    assert [d["code"] for d in venue["desks"]] == ["sg-cong-chinh", "sg-cong-phu"]
    assert venue["retention_days"] is None

    row = page.locator("tr[data-venue='UBND-SG']")
    row.locator(".retention").fill("30")
    row.locator("button[type=submit]").click()
    page.locator("#flash", has_text="Đã lưu điểm tiếp đón UBND-SG").wait_for()
    assert listed(site, "UBND-SG")["retention_days"] == 30
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=site.shots / "console-venues-phone.png", full_page=True)

    page.fill("#v-code", "UBND-SG")
    page.fill("#v-name", "Trùng mã")
    page.click("#venue-form button[type=submit]")
    assert "Không thực hiện được" in page.locator("#flash.failed").inner_text()

    operator = bearer(site.api, make_account(site.instance, "ca-operator"))
    assert site.api.get("/console/venues", headers=operator).status_code == 403
    assert "/console/venues" not in site.api.get("/console", headers=operator).text
