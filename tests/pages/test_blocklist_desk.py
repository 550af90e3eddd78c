"""The block list at the desk, in headless Chromium and over HTTP (issue 21): the admin lists a name; an
invitation under the same name in other case and diacritics is held — two desks scanning it at once both
hear "GIỮ TẠI BÀN"; two approvers deciding at once make one decision (the other 409), audited once; the
guard's next scan admits."""

from __future__ import annotations

import itertools
import threading

import httpx
import pytest
from sqlalchemy import select

from store.models import AuditEntry
from tests.pages.conftest import log_in
from tests.support.browser import DESK_PC, PHONE

pytestmark = pytest.mark.browser
_runs = itertools.count(1)


def _together(calls):
    """Run the calls at the same moment, each on its own connection; their responses in order."""
    barrier = threading.Barrier(len(calls))
    answers: list = [None] * len(calls)

    def run(index: int, call) -> None:
        barrier.wait()
        answers[index] = call()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def _decisions(site, invitation_id: str) -> list[tuple[str, str]]:
    with site.instance.db.reading() as session:
        rows = session.scalars(
            select(AuditEntry).where(
                AuditEntry.action == "blocklist.decide", AuditEntry.target == invitation_id
            )
        )
        return [(row.actor, row.outcome) for row in rows]


@pytest.mark.parametrize("size", [PHONE, DESK_PC], ids=["phone", "desktop"])
def test_a_listed_guest_is_held_until_one_approver_decides(site, browser, size) -> None:
    run = next(_runs)
    listed = site.api.post("/api/v1/checkins/blocklist", headers=site.admin,
                           json={"name": f"Ngô Văn Bị Chặn {run}", "reason": "Quyết định 12/QĐ"})  # fmt: skip
    assert listed.status_code == 201, listed.text
    invitation = site.invite(f"NGO VAN BI  CHAN {run}")  # the same name to the list
    holds = site.api.get("/api/v1/checkins/holds", headers=site.guard_auth).json()
    assert any(h["invitation_id"] == invitation["id"] and h["status"] == "pending" for h in holds)

    def scan_at(desk: str):
        with httpx.Client(base_url=site.url, timeout=60) as client:
            return client.post("/api/v1/checkins", json={"payload": invitation["payload"], "desk": desk},
                               headers=site.guard_auth).json()  # fmt: skip

    both = _together([lambda: scan_at("gate-1"), lambda: scan_at("gate-2")])
    assert [a["reason_code"] for a in both] == ["held", "held"]

    context = browser.new_context(viewport=size)
    try:
        page = context.new_page()
        assert page.goto(site.url + "/desk").status == 401
        log_in(page, site.guard)
        page.locator("#scan").wait_for()
        page.fill("#scan", invitation["payload"])
        page.press("#scan", "Enter")
        page.locator("#result.held").wait_for()
        assert page.locator("#result-word").inner_text() == "GIỮ TẠI BÀN"
        assert page.locator("#result-reason").inner_text() == "Giữ khách tại bàn — chờ người phê duyệt"
        assert "báo người phê duyệt" in page.locator("#result-next").inner_text()
        page.screenshot(path=site.shots / f"desk-held-{size['width']}.png")
        page.click("#result")

        def decide(auth):
            with httpx.Client(base_url=site.url, timeout=60) as client:
                return client.post(f"/api/v1/checkins/holds/{invitation['id']}", headers=auth,
                                   json={"decision": "admitted", "note": "Đã xác minh"})  # fmt: skip

        answers = _together([lambda: decide(site.official_auth), lambda: decide(site.admin)])
        assert sorted(a.status_code for a in answers) == [200, 409], [a.text for a in answers]
        lost = next(a for a in answers if a.status_code == 409)
        assert lost.headers["content-type"].startswith("application/problem+json")
        assert "already decided: admitted by" in lost.json()["detail"]
        won = next(a for a in answers if a.status_code == 200).json()
        assert _decisions(site, invitation["id"]) == [(won["decided_by"], "admitted")]

        page.fill("#scan", invitation["payload"])
        page.press("#scan", "Enter")
        page.locator("#result.admit").wait_for()
        page.click("#result")
        again = scan_at("gate-2")
        assert again["reason_code"] == "used"
    finally:
        context.close()


def test_block_list_input_is_checked(site) -> None:
    empty = site.api.post("/api/v1/checkins/blocklist", headers=site.admin, json={"reason": "x"})
    assert empty.status_code == 422 and "names a person" in empty.json()["detail"]
    bad = site.api.post("/api/v1/checkins/blocklist", headers=site.admin, json={"cccd": "123", "reason": "x"})
    assert bad.status_code == 422
    guard = site.api.post("/api/v1/checkins/blocklist", headers=site.guard_auth,
                          json={"name": "A", "reason": "x"})  # fmt: skip
    assert guard.status_code == 403
    not_held = site.api.post("/api/v1/checkins/holds/nosuchinvite", headers=site.admin,
                             json={"decision": "admitted"})  # fmt: skip
    assert not_held.status_code == 404


@pytest.mark.parametrize("size", [PHONE, DESK_PC], ids=["phone", "desktop"])
def test_a_walk_up_guest_waits_for_the_host_and_the_block_list_applies(site, browser, size) -> None:
    run = next(_runs)
    context = browser.new_context(viewport=size)
    try:
        page = context.new_page()
        assert page.goto(site.url + "/desk").status == 401
        log_in(page, site.guard)
        page.click("#walkup summary")
        page.fill("#walkup-name", f"Khách Vãng Lai {run}")
        page.fill("#walkup-host", site.official.username)
        page.fill("#walkup-meeting", "Nộp hồ sơ")
        page.click("#walkup-form button[type=submit]")
        page.locator("#result.held").wait_for()
        assert page.locator("#result-guest").inner_text() == f"Khách Vãng Lai {run}"
        page.screenshot(path=site.shots / f"desk-walkup-held-{size['width']}.png")
        page.click("#result")
        waiting = page.locator("#walkup-list li", has_text=f"Khách Vãng Lai {run}")
        assert "Đang chờ người mời đồng ý" in waiting.inner_text()

        holds = site.api.get("/api/v1/checkins/holds", headers=site.official_auth).json()
        mine = next(h for h in holds if h["guest"] == f"Khách Vãng Lai {run}")
        assert mine["matched_on"] == "walk_up" and mine["reason"] == "Khách vãng lai: chờ người mời đồng ý"
        # the host's approval: the desk cannot approve its own walk-up
        assert site.api.post(f"/api/v1/checkins/holds/{mine['invitation_id']}", headers=site.guard_auth,
                             json={"decision": "admitted"}).status_code == 403  # fmt: skip
        decided = site.api.post(f"/api/v1/checkins/holds/{mine['invitation_id']}", headers=site.official_auth,
                                json={"decision": "admitted"})  # fmt: skip
        assert decided.status_code == 200, decided.text
        waiting.locator("button.walkup-check").click()
        page.locator("#result.admit").wait_for()
        assert page.locator("#result-reason").inner_text() == "Người phê duyệt đã đồng ý cho vào"
        assert page.locator("#result-guest").inner_text() == f"Khách Vãng Lai {run}"
        page.click("#result")

        # a walk-up the block list names is held on the list's entry (the same approval)
        listed = site.api.post("/api/v1/checkins/blocklist", headers=site.admin,
                               json={"cccd": "079203008888", "reason": "Đề nghị xác minh"})  # fmt: skip
        assert listed.status_code == 201
        page.fill("#walkup-name", f"Người Khác {run}")
        page.fill("#walkup-cccd", "079203008888")
        page.fill("#walkup-host", site.official.username)
        page.click("#walkup-form button[type=submit]")
        page.locator("#result.held").wait_for()
        holds = site.api.get("/api/v1/checkins/holds", headers=site.admin).json()
        listed_hold = next(h for h in holds if h["guest"] == f"Người Khác {run}")
        assert (listed_hold["matched_on"], listed_hold["reason"]) == ("cccd", "Đề nghị xác minh")
        unknown_host = site.api.post("/api/v1/checkins/walk-ups", headers=site.guard_auth,
                                     json={"desk": "gate-1", "guest_name": "A", "host": "nobody"})  # fmt: skip
        assert unknown_host.status_code == 404
    finally:
        context.close()
