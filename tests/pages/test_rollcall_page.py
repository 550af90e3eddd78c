"""The evacuation roll call in headless Chromium (issue 21): a guard's phone opened the desk page while
online; the network goes; /desk/rollcall still opens (service worker) with who is inside from the desk's
last sync, marks people safe / missing, exports a CSV made on the phone; back online the marks are sent
(audited). On a desktop, online: the server's CSV, its export audited."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import select

from store.models import AuditEntry
from tests.pages.conftest import VENUE, log_in
from tests.support.browser import DESK_PC, PHONE

pytestmark = pytest.mark.browser

WAIT_CACHED = """async (url) => {
  for (let i = 0; i < 200; i++) {
    const worker = await navigator.serviceWorker.getRegistration(url);
    if (worker && worker.active && await caches.match(url)) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return false;
}"""


def _admit(site, name: str) -> dict:
    invitation = site.invite(name, companions=["Con trai"] if "Đoàn" in name else [])
    decision = site.api.post("/api/v1/checkins", json={"payload": invitation["payload"], "desk": "gate-1"},
                             headers=site.guard_auth).json()  # fmt: skip
    assert decision["decision"] == "admit", decision
    return decision


def _actions(site, action: str) -> list[tuple[str | None, str]]:
    """(target, outcome) of the audit entries of ``action``, read inside the session (a detached row read
    later would open a transaction of its own and hold the live server's SQLite lock)."""
    with site.instance.db.reading() as session:
        rows = session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq))
        return [(row.target, row.outcome) for row in rows]


def test_the_roll_call_works_offline_from_the_desks_last_sync(site, browser, tmp_path) -> None:
    safe, missing, gone = (_admit(site, n) for n in ("Đoàn Văn An Toàn", "Hà Thị Chưa Thấy", "Lý Văn Đã Về"))
    out = site.api.post("/api/v1/checkins/checkout", json={"desk": "gate-1", "checkin_id": gone["checkin_id"]},
                        headers=site.guard_auth)  # fmt: skip
    assert out.status_code == 200
    marks_before = len(_actions(site, "rollcall.mark"))
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True,
                                  accept_downloads=True)  # fmt: skip
    try:
        page = context.new_page()
        assert page.goto(site.url + "/desk").status == 401
        log_in(page, site.guard)
        page.locator("#guest-rows tr", has_text="Hà Thị Chưa Thấy").wait_for()  # the desk's sync
        rollcall_url = f"/desk/rollcall?venue={VENUE}"
        assert page.evaluate(WAIT_CACHED, rollcall_url), "the desk page keeps the roll call for offline use"

        context.set_offline(True)
        page.goto(site.url + rollcall_url)
        page.locator("#net.offline").wait_for()
        people = page.locator("#people")
        people.locator("li", has_text="Hà Thị Chưa Thấy").wait_for()
        assert "Lý Văn Đã Về" not in people.inner_text()  # checked out: not inside
        assert page.locator("#synced").inner_text().startswith("Dữ liệu lúc ")
        assert "Con trai" in people.locator("li", has_text="Đoàn Văn An Toàn").inner_text()
        people.locator("li", has_text="Đoàn Văn An Toàn").locator("button.safe").click()
        people.locator("li", has_text="Hà Thị Chưa Thấy").locator("button.missing").click()
        assert people.locator("li.mark-safe", has_text="Đoàn Văn An Toàn").count() == 1
        assert people.locator("li.mark-missing", has_text="Hà Thị Chưa Thấy").count() == 1
        assert "Chờ gửi 2 lượt đánh dấu" in page.locator("#net").inner_text()
        page.screenshot(path=site.shots / "rollcall-offline-phone.png", full_page=True)
        with page.expect_download() as download:
            page.click("#export")
        rows = {
            r["guest"]: r for r in csv.DictReader(io.StringIO(download.value.path().read_text("utf-8-sig")))
        }
        assert rows["Đoàn Văn An Toàn"]["mark"] == "safe" and rows["Hà Thị Chưa Thấy"]["mark"] == "missing"
        assert _actions(site, "rollcall.mark")[marks_before:] == []  # nothing reached the server yet

        context.set_offline(False)
        page.locator("#net.online").wait_for()
        page.wait_for_function("() => !document.getElementById('net').textContent.includes('Chờ gửi')")
        call = site.api.get(
            "/api/v1/checkins/rollcall", params={"venue": VENUE}, headers=site.guard_auth
        ).json()
        marks = {p["checkin_id"]: (p["mark"], p["marked_by"]) for p in call["people"]}
        assert marks[safe["checkin_id"]] == ("safe", site.guard.username)
        assert marks[missing["checkin_id"]] == ("missing", site.guard.username)
        assert gone["checkin_id"] not in marks
        sent = _actions(site, "rollcall.mark")[marks_before:]
        assert sent == [
            (str(safe["checkin_id"]), "safe"),
            (str(missing["checkin_id"]), "missing"),
        ]
    finally:
        context.close()


def test_the_roll_call_online_on_a_desktop_exports_the_servers_csv(site, browser) -> None:
    person = _admit(site, "=Trịnh Văn Công Thức")
    exports_before = len(_actions(site, "rollcall.export"))
    context = browser.new_context(viewport=DESK_PC, accept_downloads=True)
    try:
        page = context.new_page()
        assert page.goto(site.url + f"/desk/rollcall?venue={VENUE}").status == 401
        log_in(page, site.guard)
        row = page.locator("#people li", has_text="=Trịnh Văn Công Thức")
        row.wait_for()
        row.locator("button.missing").click()
        row.locator("button.safe").click()  # found after all: the newest mark counts
        page.wait_for_function("() => !document.getElementById('net').textContent.includes('Chờ gửi')")
        page.locator("#people li.mark-safe", has_text="=Trịnh Văn Công Thức").wait_for()
        page.screenshot(path=site.shots / "rollcall-desktop.png", full_page=True)
        with page.expect_download() as download:
            page.click("#export")
        text = download.value.path().read_text("utf-8-sig")
        rows = {r["checkin_id"]: r for r in csv.DictReader(io.StringIO(text))}
        assert rows[str(person["checkin_id"])]["mark"] == "safe"
        assert rows[str(person["checkin_id"])]["guest"] == "'=Trịnh Văn Công Thức"  # never a formula
        assert len(_actions(site, "rollcall.export")) == exports_before + 1
    finally:
        context.close()


def test_roll_call_input_is_checked(site) -> None:
    bad = site.api.post("/api/v1/checkins/rollcall", json={"venue": VENUE, "checkin_id": 1, "status": "ok"},
                        headers=site.guard_auth)  # fmt: skip
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")
    unknown = site.api.post("/api/v1/checkins/rollcall", json={"venue": VENUE, "checkin_id": 999999,
                            "status": "safe"}, headers=site.guard_auth)  # fmt: skip
    assert unknown.status_code == 404
    elsewhere = site.api.get(
        "/api/v1/checkins/rollcall", params={"venue": "NOWHERE"}, headers=site.guard_auth
    )
    assert elsewhere.status_code == 404
