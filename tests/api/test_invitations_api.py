"""The invitation and desk API as hosts, guards and integrators use it, on SQLite and PostgreSQL:
invite, scan (text and photo), deny reasons in Vietnamese, amend/cancel, reports and CSV, offline bundle
and sync, and bad input answered with problem+json, never a 500. Every decision is in the audit log."""

from __future__ import annotations

import datetime as dt
import io
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import zxingcpp
from cryptography import x509
from fastapi.testclient import TestClient
from PIL import Image

from api.app import create_app
from core.clock import VIETNAM
from identity import audit
from invitations import offline
from store import repositories
from tests.conftest import Instance, bearer, make_account

PROBLEM_JSON = "application/problem+json"
_numbers = itertools.count(1)


@dataclass
class Site:
    client: TestClient
    instance: Instance
    venue: str
    desks: list[str]
    official: dict[str, str]
    other_official: dict[str, str]
    clerk: dict[str, str]
    guard: dict[str, str]
    admin: dict[str, str]
    official_name: str


@pytest.fixture(scope="module")
def app(shared_instance: Instance):
    application = create_app(shared_instance.settings)
    yield application
    application.state.kyso.runtime.db.dispose()


@pytest.fixture
def site(app, shared_instance: Instance) -> Iterator[Site]:
    n = next(_numbers)
    venue, desks = f"UBND-API{n}", [f"api{n}-g1", f"api{n}-g2"]
    with TestClient(app, raise_server_exceptions=False) as client:
        admin = bearer(client, make_account(shared_instance, "admin"))
        response = client.post(
            "/api/v1/venues",
            json={"code": venue, "name": "UBND Phường Bến Nghé", "address": "29 Lê Duẩn", "desks": desks},
            headers=admin,
        )
        assert response.status_code == 201, response.text
        official = make_account(shared_instance, "official")
        yield Site(
            client=client,
            instance=shared_instance,
            venue=venue,
            desks=desks,
            official=bearer(client, official),
            other_official=bearer(client, make_account(shared_instance, "official")),
            clerk=bearer(client, make_account(shared_instance, "clerk")),
            guard=bearer(client, make_account(shared_instance, "desk", venue=venue)),
            admin=admin,
            official_name=official.username,
        )


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def invite(site: Site, headers: dict[str, str] | None = None, **fields: object) -> dict[str, object]:
    body = {
        "guest_name": "Nguyễn Thị Minh Khai",
        "venue": site.venue,
        "starts_at": (now() + dt.timedelta(minutes=10)).isoformat(),
        "ends_at": (now() + dt.timedelta(hours=1)).isoformat(),
        "meeting_title": "Họp giao ban",
        "cccd": "079203001234",
        **fields,
    }
    response = site.client.post("/api/v1/invitations", json=body, headers=headers or site.official)
    assert response.status_code == 201, response.text
    return response.json()


def scan(site: Site, payload: str, desk: str | None = None, headers: dict[str, str] | None = None):
    return site.client.post(
        "/api/v1/checkins",
        json={"payload": payload, "desk": desk or site.desks[0]},
        headers=headers or site.guard,
    )


def assert_problem(response, status: int, fragment: str = "") -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    assert fragment.lower() in response.json()["detail"].lower()


def audit_entries(instance: Instance, action: str) -> list[audit.AuditRecord]:
    with instance.db.reading() as session:
        return [e for e in audit.entries(session) if e.action == action]


def test_invite_scan_admit_then_already_used_and_both_are_audited(site: Site) -> None:
    created = invite(site)
    assert created["cccd_masked"] == "079******234" and created["payload"].startswith("KY1:")
    first = scan(site, created["payload"])
    assert first.status_code == 200, first.text
    admitted = first.json()
    assert admitted["decision"] == "admit" and admitted["reason"] == "Mời vào"
    assert admitted["guest"] == "Nguyễn Thị Minh Khai" and admitted["meeting"] == "Họp giao ban"
    second = scan(site, created["payload"], desk=site.desks[1]).json()
    assert (second["decision"], second["reason_code"], second["reason"]) == ("deny", "used", "Đã sử dụng")
    decisions = [e for e in audit_entries(site.instance, "checkin.decide") if e.target == created["id"]]
    assert [e.outcome for e in decisions] == ["admit", "deny"]
    assert decisions[1].details["reason"] == "used"


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ("https://zalo.me/some-group", "not_ours"),
        ("KY1:", "malformed"),
        ("KY1:not base45 at all!", "malformed"),
    ],
)
def test_junk_is_a_clear_deny_and_audited(site: Site, payload: str, code: str) -> None:
    before = len(audit_entries(site.instance, "checkin.decide"))
    response = scan(site, payload)
    assert response.status_code == 200
    assert response.json()["decision"] == "deny" and response.json()["reason_code"] == code
    assert len(audit_entries(site.instance, "checkin.decide")) == before + 1


def test_truncated_and_bit_flipped_passes_are_denied(site: Site) -> None:
    created = invite(site)
    payload = created["payload"]
    assert scan(site, payload[: len(payload) // 2]).json()["reason_code"] == "malformed"
    flipped = payload[:-4] + ("0" if payload[-4] != "0" else "1") + payload[-3:]
    assert scan(site, flipped).json()["reason_code"] in ("forged", "malformed")
    assert scan(site, payload).json()["decision"] == "admit"  # the damaged copies used nothing


def test_a_pass_for_another_venue_and_a_desk_of_another_venue(site: Site, shared_instance: Instance) -> None:
    other = f"SO-{next(_numbers)}"
    response = site.client.post(
        "/api/v1/venues",
        json={"code": other, "name": "Sở Tư pháp", "desks": [f"{other}-g"]},
        headers=site.admin,
    )
    assert response.status_code == 201
    created = invite(site, venue=other)
    deny = scan(site, created["payload"], headers=site.clerk)  # a clerk has no desk permission
    assert deny.status_code == 403
    integrator = make_account(shared_instance, "service")
    from identity.sessions import create_api_key

    with shared_instance.db.transaction() as session:
        key = create_api_key(session, shared_instance.ca.clock, integrator.username, "gates", ["checkins:create"],
                             actor="test")  # fmt: skip
    gate_system = {"Authorization": f"Bearer {key.key}"}
    assert scan(site, created["payload"], headers=gate_system).json()["reason_code"] == "wrong_venue"
    assert_problem(scan(site, created["payload"], desk=f"{other}-g"), 403, f"venue {site.venue}")
    assert_problem(scan(site, created["payload"], desk="no-such-desk"), 404, "no desk")


def test_a_photo_of_the_pass_and_a_photo_without_one(site: Site) -> None:
    created = invite(site)
    png = site.client.get(f"/api/v1/invitations/{created['id']}/qr.png?scale=4", headers=site.official)
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert zxingcpp.read_barcodes(Image.open(io.BytesIO(png.content)))[0].text.startswith("KY1:")
    photo = io.BytesIO()
    Image.open(io.BytesIO(png.content)).convert("RGB").rotate(5, expand=True, fillcolor="white").save(
        photo, format="JPEG", quality=60
    )
    url = f"/api/v1/checkins/scan?desk={site.desks[0]}"
    admitted = site.client.post(
        url, content=photo.getvalue(), headers={**site.guard, "Content-Type": "image/jpeg"}
    )
    assert admitted.status_code == 200 and admitted.json()["decision"] == "admit", admitted.text
    blank = io.BytesIO()
    Image.new("RGB", (640, 480), "white").save(blank, format="PNG")
    nothing = site.client.post(
        url, content=blank.getvalue(), headers={**site.guard, "Content-Type": "image/png"}
    )
    assert nothing.json()["reason_code"] == "no_qr"
    assert nothing.json()["reason"] == "Không tìm thấy mã QR trong ảnh"
    assert_problem(
        site.client.post(url, content=b"%PDF-1.7", headers=site.guard), 422, "not a readable image"
    )
    svg = site.client.get(f"/api/v1/invitations/{created['id']}/qr.svg", headers=site.official)
    assert svg.headers["content-type"] == "image/svg+xml" and svg.content.startswith(b"<svg")


def test_a_100_mb_upload_is_refused_without_reading_it(site: Site) -> None:
    url = f"/api/v1/checkins/scan?desk={site.desks[0]}"
    declared = {**site.guard, "Content-Type": "image/jpeg", "Content-Length": str(100 * 1024 * 1024)}
    assert_problem(site.client.post(url, content=b"\xff\xd8", headers=declared), 413, "larger than")

    def chunks() -> Iterator[bytes]:
        for _ in range(12):
            yield b"\x00" * (1024 * 1024)

    streamed = site.client.post(url, content=chunks(), headers={**site.guard, "Content-Type": "image/jpeg"})
    assert_problem(streamed, 413, "larger than")
    assert_problem(
        site.client.post("/api/v1/checkins", content=b"{" + b" " * (70 * 1024) + b"}", headers=site.guard),
        413,
    )


def test_bad_requests_are_problems_not_500s(site: Site) -> None:
    assert_problem(site.client.post("/api/v1/checkins", content=b"not json", headers=site.guard), 422)
    assert_problem(
        site.client.post("/api/v1/checkins", json={"desk": site.desks[0]}, headers=site.guard), 422, "payload"
    )
    naive = (now() + dt.timedelta(hours=1)).replace(tzinfo=None)  # an hour ahead, but without an offset
    bad = site.client.post("/api/v1/invitations", json={"guest_name": "x", "venue": site.venue,
                           "starts_at": naive.isoformat(), "ends_at": (naive + dt.timedelta(hours=1)).isoformat()},
                           headers=site.official)  # fmt: skip
    assert_problem(bad, 422, "timezone")
    assert_problem(site.client.get("/api/v1/invitations/nope", headers=site.official), 404)
    card = {"payload": invite(site)["payload"], "desk": site.desks[0], "card_qr": "not a card"}
    assert_problem(site.client.post("/api/v1/checkins", json=card, headers=site.guard), 422, "CCCD card")


def test_amend_cancel_and_ownership(site: Site) -> None:
    created = invite(site)
    assert_problem(site.client.get(f"/api/v1/invitations/{created['id']}", headers=site.other_official), 404)
    amended = site.client.patch(
        f"/api/v1/invitations/{created['id']}", json={"meeting_title": "Họp dời lại", "entries": 2},
        headers=site.official,
    )  # fmt: skip
    assert amended.status_code == 200, amended.text
    assert amended.json()["token_version"] == 2
    assert scan(site, created["payload"]).json()["reason_code"] == "superseded"
    assert scan(site, amended.json()["payload"]).json()["decision"] == "admit"
    cancelled = site.client.delete(f"/api/v1/invitations/{created['id']}", headers=site.official)
    assert cancelled.json()["status"] == "cancelled"
    denied = scan(site, amended.json()["payload"]).json()
    assert (denied["reason_code"], denied["reason"]) == ("cancelled", "Đã bị huỷ")
    assert_problem(
        site.client.patch(f"/api/v1/invitations/{created['id']}", json={}, headers=site.official), 422
    )


def test_clerks_invite_for_a_host_officials_only_for_themselves(site: Site) -> None:
    on_behalf = invite(site, headers=site.clerk, host=site.official_name)
    assert on_behalf["host"] == site.official_name
    response = site.client.post(
        "/api/v1/invitations",
        json={"guest_name": "X", "venue": site.venue, "host": site.official_name,
              "starts_at": (now() + dt.timedelta(hours=1)).isoformat(),
              "ends_at": (now() + dt.timedelta(hours=2)).isoformat()},
        headers=site.other_official,
    )  # fmt: skip
    assert_problem(response, 403, "on behalf")
    mine = site.client.get(f"/api/v1/invitations?venue={site.venue}", headers=site.official).json()
    assert on_behalf["id"] in [i["id"] for i in mine["items"]]
    theirs = site.client.get(f"/api/v1/invitations?venue={site.venue}", headers=site.other_official).json()
    assert theirs["total"] == 0


def test_html_in_a_guest_name_stays_text(site: Site) -> None:
    created = invite(site, guest_name='<img src=x onerror="alert(1)">')
    decision = scan(site, created["payload"])
    assert decision.headers["content-type"] == "application/json"
    assert decision.json()["guest"] == '<img src=x onerror="alert(1)">'  # JSON carries text, never markup
    listing = site.client.get(f"/api/v1/venues/{site.venue}/report", headers=site.official)
    assert listing.headers["content-type"] == "application/json"


def test_reports_and_csv_and_checkout(site: Site) -> None:
    came = invite(site, guest_name="Lê Văn Tám")
    invite(site, guest_name="Chưa Đến", starts_at=came["starts_at"], ends_at=came["ends_at"])
    day = came["occurrences"][0]["day"]  # the meeting's day in Vietnam: tomorrow, if it is nearly midnight
    admitted = scan(site, came["payload"]).json()
    out = site.client.post("/api/v1/checkins/checkout", json={"desk": site.desks[0], "checkin_id": admitted["checkin_id"]},
                           headers=site.guard)  # fmt: skip
    assert out.status_code == 200 and out.json()["guest"] == "Lê Văn Tám"
    report = site.client.get(f"/api/v1/venues/{site.venue}/report?day={day}", headers=site.official).json()
    assert report["day"] == day
    assert report["counts"]["arrived"] == 1 and report["counts"]["expected"] == 1
    before = now().astimezone(VIETNAM).date().isoformat()
    default = site.client.get(f"/api/v1/venues/{site.venue}/report", headers=site.official).json()
    assert default["day"] in {before, now().astimezone(VIETNAM).date().isoformat()}  # today in Vietnam
    csv = site.client.get(f"/api/v1/venues/{site.venue}/report.csv?day={day}", headers=site.official)
    assert csv.headers["content-type"] == "text/csv; charset=utf-8"
    text = csv.content.decode("utf-8")
    assert text.startswith("\ufeffinvitation_id,") and "Lê Văn Tám" in text and "arrived" in text
    venues = site.client.get("/api/v1/venues", headers=site.official).json()
    mine = next(v for v in venues if v["code"] == site.venue)
    assert [d["code"] for d in mine["desks"]] == site.desks


def test_offline_bundle_and_sync_over_http(site: Site, tmp_path) -> None:
    created = invite(site)
    response = site.client.get(f"/api/v1/checkins/bundle?venue={site.venue}", headers=site.guard)
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/cose")
    with site.instance.db.reading() as session:
        root = x509.load_der_x509_certificate(repositories.authority(session, "root").certificate_der)  # type: ignore[union-attr]
    clock = site.instance.ca.clock
    bundle = offline.open_bundle(response.content, [root], clock.now())
    gate_a = offline.OfflineDesk(bundle, site.desks[0], tmp_path / "a.jsonl", clock)
    gate_b = offline.OfflineDesk(bundle, site.desks[1], tmp_path / "b.jsonl", clock)
    assert gate_a.check(created["payload"]).admitted and gate_b.check(created["payload"]).admitted
    results = []
    for desk, journal in ((site.desks[0], "a.jsonl"), (site.desks[1], "b.jsonl")):
        body = {"desk": desk, "records": offline.read_journal(tmp_path / journal)}
        synced = site.client.post("/api/v1/checkins/sync", content=json.dumps(body), headers=site.guard)
        assert synced.status_code == 200, synced.text
        results.append(synced.json()["counts"])
    assert results[0]["recorded"] == 1 and results[1]["conflict"] == 1
    conflicts = site.client.get("/api/v1/checkins/conflicts", headers=site.official).json()
    mine = [c for c in conflicts if c["invitation_id"] == created["id"]]
    assert len(mine) == 1 and site.desks[0] in mine[0]["detail"]
    reviewed = site.client.post(f"/api/v1/checkins/conflicts/{mine[0]['id']}/review", headers=site.official)
    assert reviewed.json()["reviewed_by"]
    assert_problem(site.client.get("/api/v1/checkins/bundle?venue=ELSEWHERE", headers=site.guard), 404)
