"""Who reads a venue's guest report and its offline conflicts (issue 16 item 11), through the API as
several officials: the admin, clerks and integrators see every venue; accounts assigned to the venue (its
desks, officials an admin placed there) see all of it; a host sees the rows of the invitations they host
there; anyone else gets 403 problem+json (404 for a conflict they may not see)."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from fastapi.testclient import TestClient

from api.app import create_app
from invitations import offline
from store import repositories
from tests.api.test_invitations_api import PROBLEM_JSON, now
from tests.conftest import Instance, bearer, make_account

_numbers = itertools.count(1)


@dataclass
class Venues:
    client: TestClient
    instance: Instance
    here: str  # the venue under test
    elsewhere: str
    desks: list[str]
    headers: dict[str, dict[str, str]]


@pytest.fixture(scope="module")
def app(shared_instance: Instance):
    application = create_app(shared_instance.settings)
    yield application
    application.state.kyso.runtime.db.dispose()


@pytest.fixture
def world(app, shared_instance: Instance) -> Iterator[Venues]:
    n = next(_numbers)
    here, elsewhere = f"ACL-A{n}", f"ACL-B{n}"
    desks = [f"acl{n}-a1", f"acl{n}-a2"]
    with TestClient(app, raise_server_exceptions=False) as client:
        admin = bearer(client, make_account(shared_instance, "admin"))
        for code, its_desks in ((here, desks), (elsewhere, [f"acl{n}-b1"])):
            created = client.post(
                "/api/v1/venues",
                json={"code": code, "name": f"Venue {code}", "desks": its_desks},
                headers=admin,
            )
            assert created.status_code == 201, created.text
        headers = {
            "admin": admin,
            "host": bearer(client, make_account(shared_instance, "official")),
            "cohost": bearer(client, make_account(shared_instance, "official")),
            "stranger": bearer(client, make_account(shared_instance, "official")),
            "assigned": bearer(client, make_account(shared_instance, "official", venue=here)),
            "clerk": bearer(client, make_account(shared_instance, "clerk")),
            "desk": bearer(client, make_account(shared_instance, "desk", venue=here)),
            "other_desk": bearer(client, make_account(shared_instance, "desk", venue=elsewhere)),
        }
        yield Venues(client, shared_instance, here, elsewhere, desks, headers)


def invite(world: Venues, who: str, guest: str, venue: str | None = None) -> dict[str, object]:
    body = {
        "guest_name": guest,
        "venue": venue or world.here,
        "starts_at": (now() + dt.timedelta(minutes=10)).isoformat(),
        "ends_at": (now() + dt.timedelta(hours=1)).isoformat(),
        "meeting_title": "Họp",
    }
    response = world.client.post("/api/v1/invitations", json=body, headers=world.headers[who])
    assert response.status_code == 201, response.text
    return response.json()


def guests(world: Venues, who: str, day: str) -> tuple[int, set[str]]:
    response = world.client.get(f"/api/v1/venues/{world.here}/report?day={day}", headers=world.headers[who])
    if response.status_code != 200:
        assert response.headers["content-type"].startswith(PROBLEM_JSON), response.text
        return response.status_code, set()
    return 200, {row["guest"] for row in response.json()["guests"]}


def test_a_venues_report_is_for_its_hosts_desks_and_the_admin(world: Venues) -> None:
    mine = invite(world, "host", "Khách Của Chủ")
    invite(world, "cohost", "Khách Của Người Khác")
    invite(world, "stranger", "Khách Nơi Khác", venue=world.elsewhere)  # a host, but of the other venue
    day = mine["occurrences"][0]["day"]  # type: ignore[index]
    everyone = {"Khách Của Chủ", "Khách Của Người Khác"}
    assert guests(world, "admin", day) == (200, everyone)
    assert guests(world, "clerk", day) == (200, everyone)  # clerks manage every invitation already
    assert guests(world, "assigned", day) == (200, everyone)
    assert guests(world, "desk", day) == (200, everyone)
    assert guests(world, "host", day) == (200, {"Khách Của Chủ"})  # a host: their own guests
    assert guests(world, "cohost", day) == (200, {"Khách Của Người Khác"})
    assert guests(world, "stranger", day)[0] == 403
    assert guests(world, "other_desk", day)[0] == 403
    for who in ("stranger", "other_desk"):
        csv = world.client.get(
            f"/api/v1/venues/{world.here}/report.csv?day={day}", headers=world.headers[who]
        )
        assert csv.status_code == 403 and csv.headers["content-type"].startswith(PROBLEM_JSON)
        assert "Khách" not in csv.text
    missing = world.client.get("/api/v1/venues/NO-SUCH/report", headers=world.headers["admin"])
    assert missing.status_code == 404 and missing.headers["content-type"].startswith(PROBLEM_JSON)
    # the desk page's guest list is the same use case
    page = world.client.get(f"/desk/guests?venue={world.here}", headers=world.headers["other_desk"])
    assert page.status_code == 403


def test_offline_conflicts_are_for_the_venues_hosts_desks_and_the_admin(
    world: Venues, tmp_path: Path
) -> None:
    created = invite(world, "host", "Khách Hai Cổng")
    client, desk = world.client, world.headers["desk"]
    bundle_data = client.get(f"/api/v1/checkins/bundle?venue={world.here}", headers=desk)
    assert bundle_data.status_code == 200, bundle_data.text
    with world.instance.db.reading() as session:
        root = x509.load_der_x509_certificate(repositories.authority(session, "root").certificate_der)  # type: ignore[union-attr]
    clock = world.instance.ca.clock
    bundle = offline.open_bundle(bundle_data.content, [root], clock.now())
    for code in world.desks:
        gate = offline.OfflineDesk(bundle, code, tmp_path / f"{code}.jsonl", clock)
        assert gate.check(created["payload"]).admitted  # type: ignore[arg-type]
        body = {"desk": code, "records": offline.read_journal(tmp_path / f"{code}.jsonl")}
        assert client.post("/api/v1/checkins/sync", content=json.dumps(body), headers=desk).status_code == 200

    def conflict_ids(who: str) -> set[str]:
        response = client.get("/api/v1/checkins/conflicts", headers=world.headers[who])
        assert response.status_code == 200, (who, response.text)
        return {c["invitation_id"] for c in response.json()}

    for who in ("admin", "clerk", "assigned", "desk", "host"):
        assert created["id"] in conflict_ids(who), who
    for who in ("cohost", "stranger", "other_desk"):
        assert created["id"] not in conflict_ids(who), who
    (conflict,) = [
        c
        for c in client.get("/api/v1/checkins/conflicts", headers=world.headers["admin"]).json()
        if c["invitation_id"] == created["id"]
    ]
    refused = client.post(
        f"/api/v1/checkins/conflicts/{conflict['id']}/review", headers=world.headers["stranger"]
    )
    assert refused.status_code == 404 and refused.headers["content-type"].startswith(PROBLEM_JSON)
    reviewed = client.post(
        f"/api/v1/checkins/conflicts/{conflict['id']}/review", headers=world.headers["host"]
    )
    assert reviewed.status_code == 200 and reviewed.json()["reviewed_at"]
