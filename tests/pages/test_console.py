"""The CA operator's console in headless Chromium (desktop 1280x800 and phone 390x844): find certificates
by serial prefix, CCCD, tax code, name, status and profile; open one, download it as PEM and DER; suspend,
reinstate, renew and revoke it with an RFC 5280 reason — each through the JSON API the page calls, so the
API then reports the same state and the audit log names the operator. Admins look but cannot change
certificates; other roles are refused; a bad filter is a 400 page, an unknown serial a 404."""

from __future__ import annotations

import itertools
import time

import httpx
import pytest
from cryptography import x509

from tests.conftest import TestAccount, make_account
from tests.pages.conftest import log_in

pytestmark = pytest.mark.browser
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
_numbers = itertools.count(1)


def bearer(api: httpx.Client, account: TestAccount) -> dict[str, str]:
    form = {"username": account.username, "password": account.password}
    if account.totp_secret:
        form["totp"] = account.code(time.time() - 30)  # the browser logs in with this step's code
    response = api.post("/api/v1/auth/token", data=form)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture(scope="module")
def issuer(site) -> dict[str, str]:
    return bearer(site.api, make_account(site.instance, "ca-operator"))


def issue(site, issuer, **fields: object) -> dict:
    n = next(_numbers)
    body = {"profile": "citizen", "surname": "Phạm", "given_name": f"Thị Bảng {n}", "cccd": f"079188{n:06d}"}
    response = site.api.post("/api/v1/certificates", json={**body, **fields}, headers=issuer)
    assert response.status_code == 201, response.text
    return {**body, **fields, **response.json()}


def state(site, serial: str) -> dict:
    response = site.api.get(f"/api/v1/certificates/{serial}", headers=site.admin)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def desktop(browser):
    context = browser.new_context(viewport=DESKTOP, accept_downloads=True)
    yield context
    context.close()


@pytest.fixture
def phone(browser):
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
    yield context
    context.close()


def open_console(context, site, role: str = "ca-operator", path: str = "/console"):
    account = make_account(site.instance, role)
    page = context.new_page()
    page.on("dialog", lambda d: d.accept())
    assert page.goto(site.url + path).status == 401
    log_in(page, account, account.code())
    return page, account


def rows(page) -> list[str]:
    return page.locator("table.console-certificates tbody tr").evaluate_all(
        "rs => rs.map(r => r.dataset.serial)"
    )


def test_an_operator_finds_a_certificate_and_changes_it_in_the_browser(site, issuer, desktop) -> None:
    target = issue(site, issuer, given_name="Thị Bảng Hành")
    other = issue(site, issuer)
    page, operator = open_console(desktop, site)
    page.locator("#search-form").wait_for()
    assert "Bảng điều hành CA" in page.locator("h1").inner_text()

    page.fill("#f-cccd", target["cccd"])
    page.click("#search-form button[type=submit]")
    page.locator("#found").wait_for()
    assert rows(page) == [target["serial"]]
    page.goto(site.url + "/console?serial=" + target["serial"][:10])
    assert target["serial"] in rows(page) and other["serial"] not in rows(page)
    page.goto(site.url + "/console?name=bảng+hành&status=valid&profile=citizen")
    assert rows(page) == [target["serial"]]
    page.goto(site.url + "/console?name=bảng+hành&status=revoked")
    assert rows(page) == [] and "Không có chứng thư nào khớp" in page.locator("#found").inner_text()
    page.goto(site.url + "/console?profile=citizen")
    assert {target["serial"], other["serial"]} <= set(rows(page))
    page.screenshot(path=site.shots / "console-search.png", full_page=True)

    page.goto(site.url + "/console?cccd=" + target["cccd"])
    with page.expect_navigation():
        page.click(f"a[href='/console/certificates/{target['serial']}']")
    assert page.locator("#serial").inner_text() == target["serial"]
    with page.expect_download() as pem:
        page.click("#download-pem")
    with page.expect_download() as der:
        page.click("#download-der")
    from_pem = x509.load_pem_x509_certificate(pem.value.path().read_bytes())
    from_der = x509.load_der_x509_certificate(der.value.path().read_bytes())
    assert from_pem == from_der and f"{from_pem.serial_number:x}" in target["serial"].lower().lstrip("0")
    assert der.value.suggested_filename == f"{target['serial']}.cer"

    page.click("#suspend")
    page.locator("#flash", has_text="Đã tạm dừng").wait_for()
    assert state(site, target["serial"])["status"] == "suspended"
    assert page.locator("#cert-status").inner_text() == "Tạm dừng"
    page.click("#reinstate")
    page.locator("#flash", has_text="Đã khôi phục").wait_for()
    assert state(site, target["serial"])["status"] == "valid"

    with page.expect_navigation():
        page.click("#renew")
    page.locator("#flash", has_text="Đã cấp chứng thư mới").wait_for()
    renewed = page.locator("#serial").inner_text()
    assert renewed != target["serial"]
    old = state(site, target["serial"])
    assert (old["status"], old["revocation_reason"]) == ("revoked", "superseded")
    assert state(site, renewed)["renewed_from"] == target["serial"]

    page.select_option("#revoke-reason", "affiliation-changed")
    page.click("#revoke")
    page.locator("#flash", has_text="Đã thu hồi").wait_for()
    page.screenshot(path=site.shots / "console-revoked.png", full_page=True)
    now = state(site, renewed)
    assert (now["status"], now["revocation_reason"]) == ("revoked", "affiliation-changed")
    assert page.locator("#revocation-reason").inner_text() == "Thay đổi đơn vị, chức vụ"
    assert page.locator("#revoke-form").count() == 0 and page.locator("#renew-form").count() == 0

    # the same service calls as the API: one audit entry per change, naming the operator
    entries = site.api.get("/api/v1/audit/entries?limit=1000", headers=site.admin).json()
    mine = [(e["action"], e["target"]) for e in entries if e["actor"] == operator.username and e["target"]]
    assert mine == [
        ("certificate.suspend", target["serial"]),
        ("certificate.reinstate", target["serial"]),
        ("certificate.renew", renewed),
        ("certificate.revoke", renewed),
    ]


def test_a_refused_change_says_why_and_changes_nothing(site, issuer, desktop) -> None:
    target = issue(site, issuer)
    page, _ = open_console(desktop, site, path=f"/console/certificates/{target['serial']}")
    page.locator("#revoke-form").wait_for()
    # someone revokes it meanwhile (the CLI, another operator): the page's buttons are now stale
    revoked = site.api.post(f"/api/v1/certificates/{target['serial']}/revoke", json={"reason": "key-compromise"},
                            headers=issuer)  # fmt: skip
    assert revoked.status_code == 200, revoked.text
    page.click("#suspend")
    flash = page.locator("#flash.failed")
    flash.wait_for()
    assert "Không thực hiện được" in flash.inner_text() and "revoked" in flash.inner_text()
    assert state(site, target["serial"])["revocation_reason"] == "key-compromise"


def test_admins_look_others_are_refused_bad_input_is_a_page(site, issuer, phone) -> None:
    target = issue(site, issuer)
    page, _ = open_console(phone, site, role="admin", path=f"/console/certificates/{target['serial']}")
    assert page.locator("#serial").inner_text() == target["serial"]
    assert "chỉ được xem" in page.locator("#actions").inner_text()
    assert page.locator("#revoke-form, #renew-form, #suspend").count() == 0
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=site.shots / "console-certificate-phone.png", full_page=True)
    english = page.goto(site.url + "/console?lang=en")
    assert english.status == 200 and page.locator("h1").inner_text() == "CA operator console"
    page.goto(site.url + "/console?lang=vi")

    bad = page.goto(site.url + "/console?status=lost")
    assert bad.status == 400 and "unknown status 'lost'" in page.locator("#search-problem").inner_text()
    assert page.goto(site.url + "/console/certificates/00ff00ff").status == 404
    assert "Không có chứng thư số này" in page.locator("main").inner_text()
    assert (
        site.api.get("/console/certificates/00ff00ff/certificate.pem", headers=site.admin).status_code == 404
    )

    official = bearer(site.api, make_account(site.instance, "official"))
    for path in ("/console", f"/console/certificates/{target['serial']}", "/console/accounts"):
        assert site.api.get(path, headers=official).status_code == 403
    assert site.api.get("/console", headers={}).status_code == 401
    assert site.api.get(f"/console/certificates/{target['serial']}/certificate.cer").status_code == 401


def test_an_officials_revocation_waits_for_a_second_operator(site, issuer, desktop, phone) -> None:
    from services import approvals
    from services.audit import Actor
    from services.root import Kyso

    kyso = Kyso(site.instance.settings, site.instance.ca.clock, site.instance.runtime)
    approvals.set_policy(kyso, Actor("test"), "certificate.revoke", 1)
    try:
        held = issue(
            site, issuer, profile="official", organization="UBND Phường Bến Thành", cccd="079190000777"
        )
        citizen = issue(site, issuer)
        first, requester = open_console(desktop, site, path=f"/console/certificates/{held['serial']}")
        first.select_option("#revoke-reason", "affiliation-changed")
        with first.expect_navigation():
            first.click("#revoke")
        assert first.url.endswith("/console/approvals")
        assert "Đã gửi yêu cầu phê duyệt" in first.locator("#flash").inner_text()
        mine = first.locator(".console-approval", has_text=held["serial"])
        assert (
            "người khác phải phê duyệt" in mine.inner_text()
            and mine.locator("[data-vote=approve]").count() == 0
        )
        assert state(site, held["serial"])["status"] == "valid", "one operator's word revokes nothing"
        # the requester's own session asking the API directly is refused too
        own = first.evaluate(
            "async (id) => { const r = await window.Kyso.api('POST', '/api/v1/approvals/' + id + '/approve',"
            " {json: {}}); return [r.status, (await r.json()).detail]; }",
            mine.get_attribute("data-id"),
        )
        assert own[0] == 403 and "requester" in own[1]
        first.screenshot(path=site.shots / "console-approval-waiting.png", full_page=True)

        # a citizen's certificate is not held
        first.goto(site.url + f"/console/certificates/{citizen['serial']}")
        first.click("#revoke")
        first.locator("#flash", has_text="Đã thu hồi").wait_for()

        second, approver = open_console(phone, site, path="/console/approvals")
        waiting = second.locator(".console-approval", has_text=held["serial"])
        assert requester.username in waiting.inner_text()
        waiting.locator("[data-vote=approve]").click()
        second.locator("#flash", has_text="đã phê duyệt và thực hiện").wait_for()
        assert second.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        second.screenshot(path=site.shots / "console-approval-done-phone.png", full_page=True)
        now = state(site, held["serial"])
        assert (now["status"], now["revocation_reason"]) == ("revoked", "affiliation-changed")
        entries = site.api.get("/api/v1/audit/entries?limit=1000", headers=site.admin).json()
        [revocation] = [
            e for e in entries if e["action"] == "certificate.revoke" and e["target"] == held["serial"]
        ]
        assert revocation["actor"] == requester.username
        assert revocation["details"]["approved_by"] == [approver.username]
    finally:
        approvals.set_policy(kyso, Actor("test"), "certificate.revoke", 0)
