"""A desk account's first login in headless Chromium, with the one-time password an admin handed over:
the page sends it to /account/password, the new password is chosen there, and the desk page opens."""

from __future__ import annotations

import pytest

from identity import accounts
from tests.conftest import TestAccount
from tests.pages.conftest import VENUE, log_in

pytestmark = pytest.mark.browser


def test_a_one_time_password_is_replaced_on_the_change_page(site, desk_pc) -> None:
    with site.instance.db.transaction() as session:
        new = accounts.create(session, site.instance.ca.clock, username="cong.web", role="desk",
                              display_name="Cổng web", venue=VENUE)  # fmt: skip
    guard = TestAccount("cong.web", "desk", new.one_time_password or "", None)
    page = desk_pc.new_page()
    page.on("dialog", lambda d: d.accept())
    assert page.goto(site.url + "/desk").status == 401
    log_in(page, guard)
    page.wait_for_url(site.url + "/account/password")
    page.locator("#password-form").wait_for()
    page.fill("#current_password", guard.password)
    page.fill("#new_password", "cổng web chọn mật khẩu")
    page.fill("#new_password_again", "something else entirely")
    page.click("#password-form button[type=submit]")
    assert "không giống" in page.locator("#password-status").inner_text()
    page.fill("#new_password_again", "cổng web chọn mật khẩu")
    with page.expect_navigation():
        page.click("#password-form button[type=submit]")
    assert page.goto(site.url + "/desk").status == 200
    answer = site.api.post("/api/v1/auth/token", data={"username": guard.username,
                                                       "password": "cổng web chọn mật khẩu"})  # fmt: skip
    assert answer.status_code == 200 and answer.json()["password_change_required"] is False
