"""The console's accounts and audit parts in headless Chromium: an admin creates an account, changes its
role, disables and enables it, resets its password, creates a service account's API key (which then works
on the API) and revokes it (which then does not); a CA operator on a phone filters the audit log and
verifies its hash chain. Each change is the /api/v1/users or /api/v1/api-keys call the API documents."""

from __future__ import annotations

import itertools

import pyotp
import pytest

from tests.pages.test_console import DESKTOP, PHONE, bearer, issue, open_console
from tests.support.browser import decode_qr

pytestmark = pytest.mark.browser
_names = itertools.count(1)


@pytest.fixture(scope="module")
def issuer(site) -> dict[str, str]:
    from tests.conftest import make_account

    return bearer(site.api, make_account(site.instance, "ca-operator"))


@pytest.fixture
def desktop(browser):
    context = browser.new_context(viewport=DESKTOP)
    yield context
    context.close()


@pytest.fixture
def phone(browser):
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
    yield context
    context.close()


def account(site, username: str) -> dict:
    [found] = [
        a for a in site.api.get("/api/v1/users", headers=site.admin).json() if a["username"] == username
    ]
    return found


def create(page, username: str, role: str) -> str:
    page.fill("#a-username", username)
    page.select_option("#a-role", role)
    page.fill("#a-display", "Võ Thị Quản Trị")
    page.click("#account-form button[type=submit]")
    secret = page.locator("#secret-text", has_text=username)
    secret.wait_for()
    return secret.inner_text().rsplit(": ", 1)[1]


def test_an_admin_manages_accounts_and_api_keys(site, desktop) -> None:
    page, admin = open_console(desktop, site, role="admin", path="/console/accounts")
    page.locator("#account-form").wait_for()
    name = f"canbo{next(_names)}"
    one_time = create(page, name, "official")
    assert len(one_time) >= 12 and account(site, name)["role"] == "official"
    # an official cannot log in before a second factor is enrolled: the admin starts one, the QR is for the phone
    refused = site.api.post("/api/v1/auth/token", data={"username": name, "password": one_time})
    assert refused.status_code == 401
    page.reload()
    page.locator(f"tr[data-username='{name}'] button[data-act=totp]").click()
    page.locator("#secret-text", has_text=f"mã xác thực của {name}").wait_for()
    page.wait_for_function("document.getElementById('secret-qr').naturalWidth > 0")
    [uri] = decode_qr(page.locator("#secret-qr").screenshot())
    code = pyotp.parse_uri(uri).now()
    login = site.api.post("/api/v1/auth/token", data={"username": name, "password": one_time, "totp": code})
    assert login.status_code == 200, login.text  # the one-time password and the new factor work

    page.reload()
    row = page.locator(f"tr[data-username='{name}']")
    row.locator(".role-choice").select_option("clerk")
    row.locator("button[data-act=role]").click()
    page.locator("#flash", has_text=f"Đã lưu thay đổi của {name}").wait_for()
    assert account(site, name)["role"] == "clerk"

    page.locator(f"tr[data-username='{name}'] button[data-act=disable]").click()
    page.locator(f"tr[data-username='{name}'] .status.revoked").wait_for()
    assert account(site, name)["disabled"] is True
    page.locator(f"tr[data-username='{name}'] button[data-act=enable]").click()
    page.locator(f"tr[data-username='{name}'] button[data-act=disable]").wait_for()
    assert account(site, name)["disabled"] is False
    page.locator(f"tr[data-username='{name}'] button[data-act=reset-password]").click()
    fresh = page.locator("#secret-text", has_text="Mật khẩu dùng một lần mới").inner_text().rsplit(": ", 1)[1]
    assert fresh != one_time
    assert (
        site.api.post("/api/v1/auth/token", data={"username": name, "password": one_time}).status_code == 401
    )
    # the admin's own row offers no disable and no reset (the API wants the password for one's own)
    assert page.locator(f"tr[data-username='{admin.username}'] button[data-act=disable]").count() == 0
    page.screenshot(path=site.shots / "console-accounts.png", full_page=True)

    robot = f"dichvu{next(_names)}"
    page.fill("#a-username", robot)
    page.select_option("#a-role", "service")
    page.click("#account-form button[type=submit]")
    page.locator("#secret-text", has_text=robot).wait_for()
    page.reload()
    page.select_option("#k-account", robot)
    page.fill("#k-name", "cổng dịch vụ công")
    page.check("input[name=scope][value='certificates:read']")
    page.click("#key-form button[type=submit]")
    key = page.locator("#secret-text", has_text="Khoá API mới").inner_text().rsplit(": ", 1)[1]
    with_key = {"Authorization": f"Bearer {key}"}
    assert site.api.get("/api/v1/certificates?limit=1", headers=with_key).status_code == 200
    assert site.api.get("/api/v1/audit/entries", headers=with_key).status_code == 403  # only its scope

    page.reload()
    page.locator("tr", has_text="cổng dịch vụ công").locator("button.key-remove").click()
    page.locator("#flash", has_text="Đã thu hồi khoá API").wait_for()
    assert page.locator("tr", has_text="cổng dịch vụ công").locator(".status.revoked").count() == 1
    assert site.api.get("/api/v1/certificates?limit=1", headers=with_key).status_code == 401

    # refusals come back as the API's words, and nothing changes
    page.fill("#a-username", name)
    page.click("#account-form button[type=submit]")
    assert "Không thực hiện được" in page.locator("#flash.failed").inner_text()


def test_an_operator_filters_the_audit_log_and_verifies_the_chain_on_a_phone(site, issuer, phone) -> None:
    first, second = issue(site, issuer), issue(site, issuer)
    revoked = site.api.post(f"/api/v1/certificates/{second['serial']}/revoke", json={"reason": "superseded"},
                            headers=issuer)  # fmt: skip
    assert revoked.status_code == 200
    page, _ = open_console(phone, site, path="/console/audit")
    page.fill("#f-action", "certificate.")
    page.fill("#f-target", second["serial"][:12])
    page.click("#audit-filters button[type=submit]")
    page.locator("table.console-audit").wait_for()
    actions = page.locator("table.console-audit tbody tr td:nth-child(4) code").all_inner_texts()
    assert actions == ["certificate.revoke", "certificate.issue"]  # newest first, only that certificate
    assert "reason=superseded" in page.locator("table.console-audit tbody tr").first.inner_text()
    page.goto(site.url + "/console/audit?action=certificate.issue&target=" + first["serial"])
    assert page.locator("table.console-audit tbody tr").count() == 1
    page.goto(site.url + "/console/audit?action=no.such.action")
    assert "Không có mục nào khớp" in page.locator("main").inner_text()

    page.goto(site.url + "/console/audit")
    seqs = [
        int(s)
        for s in page.locator("table.console-audit tbody tr").evaluate_all("rs => rs.map(r => r.dataset.seq)")
    ]
    assert seqs == sorted(seqs, reverse=True) and len(seqs) <= 25
    page.click("#verify-chain")
    result = page.locator("#chain-result.passed")
    result.wait_for(timeout=60_000)
    entries = site.api.get("/api/v1/audit/verify", headers=site.admin).json()["entries"]
    assert "Chuỗi nguyên vẹn" in result.inner_text() and str(entries) in result.inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=site.shots / "console-audit-phone.png", full_page=True)


def test_granting_the_ca_operator_role_in_the_console_waits_for_a_second_admin(
    site, desktop, browser
) -> None:
    from services import administration, approvals
    from services.audit import Actor
    from services.root import Kyso

    kyso = Kyso(site.instance.settings, site.instance.ca.clock, site.instance.runtime)
    name = f"vanhanh{next(_names)}"
    administration.create_account(kyso, Actor("test"), username=name, role="official")
    approvals.set_policy(kyso, Actor("test"), "account.grant-role", 1)
    try:
        page, _ = open_console(desktop, site, role="admin", path="/console/accounts")
        row = page.locator(f"tr[data-username='{name}']")
        row.locator(".role-choice").select_option("ca-operator")
        with page.expect_navigation():
            row.locator("button[data-act=role]").click()
        assert page.url.endswith("/console/approvals") and "#" in page.locator("#flash").inner_text()
        waiting = page.locator(".console-approval", has_text=name)
        assert "ca-operator" in waiting.inner_text() and waiting.locator("[data-vote=approve]").count() == 0
        assert account(site, name)["role"] == "official"

        other = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
        try:
            second, _ = open_console(other, site, role="admin", path="/console/approvals")
            second.locator(".console-approval", has_text=name).locator("[data-vote=approve]").click()
            second.locator("#flash", has_text="đã phê duyệt và thực hiện").wait_for()
        finally:
            other.close()
        assert account(site, name)["role"] == "ca-operator"
    finally:
        approvals.set_policy(kyso, Actor("test"), "account.grant-role", 0)
