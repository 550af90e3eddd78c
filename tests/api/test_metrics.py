"""GET /metrics and the request id, through the app: what an operator's Prometheus and log search see after
real requests (issuance, login, a signature, a check-in, OCSP and TSA requests)."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Iterator

import pytest
from asn1crypto import algos, tsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from api.app import create_app
from core.clock import FrozenClock
from tests.conftest import Instance, make_account, make_instance
from tests.support.pdfs import sample_pdf
from tests.support.signing import holder, issue_in_custody
from tests.support.subjects import CITIZEN

LOOPBACK = ("127.0.0.1", 40000)
DOCUMENTS = "/api/v1/signing/documents"
CLOCK = FrozenClock(dt.datetime.now(dt.UTC))


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[tuple[TestClient, Instance]]:
    tmp = tmp_path_factory.mktemp("metrics")
    instance = make_instance(tmp, f"sqlite:///{tmp / 'kyso.db'}")
    CLOCK.set(dt.datetime.now(dt.UTC))  # now, not when the module was imported: TOTP codes follow it
    app = create_app(instance.settings, clock=CLOCK)
    with TestClient(app, raise_server_exceptions=False, client=LOOPBACK) as client:
        yield client, instance
    instance.db.dispose()


def login(client: TestClient, account) -> dict[str, str]:
    """Log in with the one-time code of the server's (frozen) clock, not of the wall clock: on a slow
    machine the module can run for minutes after CLOCK was set."""
    form = {"username": account.username, "password": account.password}
    if account.totp_secret:
        form["totp"] = account.code(at=CLOCK.now().timestamp())
    response = client.post("/api/v1/auth/token", data=form)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def bearer(client: TestClient, account) -> dict[str, str]:
    """Log in with the code of the frozen clock's time step (the app checks codes against that clock)."""
    form = {"username": account.username, "password": account.password}
    if account.totp_secret:
        CLOCK.advance(seconds=31)  # a fresh step: each code is accepted once
        form["totp"] = account.code(at=CLOCK.now().timestamp())
    response = client.post("/api/v1/auth/token", data=form)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def samples(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    found = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found, name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_are_for_the_monitoring_network_only(world) -> None:
    client, _ = world
    outside = TestClient(client.app, client=("203.0.113.9", 5000))
    refused = outside.get("/metrics")
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert "kyso_http_requests_total" not in refused.text
    assert TestClient(client.app, client=("testclient", 1)).get("/metrics").status_code == 403
    assert client.get("/metrics").status_code == 200


def test_http_requests_are_counted_by_route_template(world) -> None:
    client, _ = world
    before = samples(client)
    for document in ("a" * 16, "b" * 16, "c" * 16):
        assert client.get(f"{DOCUMENTS}/{document}").status_code == 404
    client.get("/no/such/path/anywhere")
    after = samples(client)
    route = {"method": "GET", "route": DOCUMENTS + "/{document_id}", "status": "404"}
    assert (
        value(after, "kyso_http_requests_total", **route) - value(before, "kyso_http_requests_total", **route)
        == 3
    )
    unmatched = {"method": "GET", "route": "<unmatched>", "status": "404"}
    assert value(after, "kyso_http_requests_total", **unmatched) >= 1
    timed = {"method": "GET", "route": DOCUMENTS + "/{document_id}"}
    assert value(after, "kyso_http_request_duration_seconds_count", **timed) >= 3
    assert not any("aaaaaaaa" in str(key) for key in after)  # path values never become labels


def test_request_id_is_honoured_or_made_and_found_in_problems_and_logs(world, caplog) -> None:
    client, _ = world
    with caplog.at_level(logging.INFO, logger="kyso.access"):
        answered = client.get(f"{DOCUMENTS}/nothing-here", headers={"X-Request-ID": "desk-7.scan:42"})
    assert answered.headers["x-request-id"] == "desk-7.scan:42"
    assert answered.json()["request_id"] == "desk-7.scan:42"
    [line] = [r for r in caplog.records if getattr(r, "request_id", None) == "desk-7.scan:42"]
    assert (line.method, line.route, line.status) == ("GET", DOCUMENTS + "/{document_id}", 404)
    assert line.client == "127.0.0.1" and line.duration_ms >= 0

    forged = client.get("/healthz", headers={"X-Request-ID": "x\r\nlevel: critical"})
    made = forged.headers["x-request-id"]
    assert made != "x\r\nlevel: critical" and len(made) == 16
    assert client.get("/healthz", headers={"X-Request-ID": "z" * 65}).headers["x-request-id"] != "z" * 65
    assert client.get("/healthz").headers["x-request-id"] != client.get("/healthz").headers["x-request-id"]


def test_issuances_logins_and_tsa_are_counted(world) -> None:
    client, instance = world
    before = samples(client)
    operator = login(client, make_account(instance, "ca-operator"))
    refused = client.post("/api/v1/auth/token", data={"username": "nobody-here", "password": "wrong"})
    assert refused.status_code == 401
    body = {"profile": "citizen", **CITIZEN.as_dict(), "keygen": "ec-p256"}
    issued = client.post("/api/v1/certificates", json=body, headers=operator)
    assert issued.status_code == 201, issued.text

    imprint = tsp.MessageImprint(
        {"hash_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}), "hashed_message": b"\x01" * 32}
    )
    query = tsp.TimeStampReq({"version": 1, "message_imprint": imprint, "cert_req": True}).dump()
    headers = {"Content-Type": "application/timestamp-query"}
    assert client.post("/tsa", content=query, headers=headers).status_code == 200
    assert client.post("/tsa", content=b"\x30\x03garbage", headers=headers).status_code == 200
    after = samples(client)

    def added(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert added("kyso_certificates_issued_total", profile="citizen") == 1
    assert added("kyso_logins_total", outcome="success") >= 1
    assert added("kyso_logins_total", outcome="refused:unknown account") == 1
    assert added("kyso_tsa_request_seconds_count", outcome="granted") == 1
    assert added("kyso_tsa_request_seconds_count", outcome="bad_request") == 1


def _ocsp_request(instance: Instance, serial: str) -> bytes:
    from store import repositories

    with instance.db.reading() as session:
        issuer = instance.ca.chain(session, "citizen")[0]
        der = repositories.certificate_by_serial(session, serial).der
    certificate = x509.load_der_x509_certificate(der)
    return (
        ocsp.OCSPRequestBuilder()
        .add_certificate(certificate, issuer, hashes.SHA1())
        .build()
        .public_bytes(serialization.Encoding.DER)
    )


def test_ocsp_answers_are_counted_by_cache_and_status(world) -> None:
    client, instance = world
    serial = issue_in_custody(instance, "citizen")
    request = _ocsp_request(instance, serial)
    before = samples(client)
    headers = {"Content-Type": "application/ocsp-request"}
    for _ in range(3):
        assert client.post("/ocsp/citizen", content=request, headers=headers).status_code == 200
    assert client.post("/ocsp/citizen", content=b"junk", headers=headers).status_code == 200
    after = samples(client)

    def added(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert added("kyso_ocsp_responses_total", cache="miss", status="good") == 1
    assert added("kyso_ocsp_responses_total", cache="hit", status="good") == 2
    assert added("kyso_ocsp_responses_total", cache="hit", status="malformed") == 1
    assert added("kyso_ocsp_responder_seconds_count") == 1


def test_signatures_and_checkins_are_counted_by_level_and_reason(world) -> None:
    client, instance = world
    before = samples(client)
    official, serial = holder(instance, "official")
    operator = login(client, make_account(instance, "ca-operator"))
    bound = client.post(
        "/api/v1/signing/credentials",
        json={"username": official.username, "certificate_serial": serial},
        headers=operator,
    )
    assert bound.status_code == 201, bound.text
    auth = login(client, official)
    pdf = sample_pdf(1)
    CLOCK.advance(seconds=31)  # the login used this step's code; each code is accepted once
    code = official.code(at=CLOCK.now().timestamp())
    granted = client.post(
        "/api/v1/signing/authorizations",
        json={"documents": [{"sha256": hashlib.sha256(pdf).hexdigest()}], "code": code},
        headers=auth,
    )
    assert granted.status_code == 201, granted.text
    signed = client.post(
        "/api/v1/signing/sign",
        files=[("documents", ("d.pdf", pdf, "application/pdf"))],
        data={"authorization_id": granted.json()["id"], "level": "b-b", "appearance": "invisible"},
        headers=auth,
    )
    assert signed.status_code == 200, signed.text
    refused = client.post(
        "/api/v1/signing/authorizations",
        json={"documents": [{"sha256": "0" * 64}], "code": "000000"},
        headers=auth,
    )
    assert refused.status_code in (401, 403, 422), refused.text

    admin = login(client, make_account(instance, "admin"))
    venue = client.post(
        "/api/v1/venues", json={"code": "METRICS", "name": "UBND", "address": "1 Lê Lợi", "desks": ["m1"]},
        headers=admin,
    )  # fmt: skip
    assert venue.status_code == 201, venue.text
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    invitation = client.post(
        "/api/v1/invitations",
        json={"guest_name": "Trần Văn Bình", "venue": "METRICS", "starts_at": now.isoformat(),
              "ends_at": (now + dt.timedelta(hours=1)).isoformat(), "meeting_title": "Họp"},
        headers=auth,
    )  # fmt: skip
    assert invitation.status_code == 201, invitation.text
    guard = login(client, make_account(instance, "desk", venue="METRICS"))
    payload = invitation.json()["payload"]
    for _ in range(2):
        client.post("/api/v1/checkins", json={"payload": payload, "desk": "m1"}, headers=guard)
    client.post("/api/v1/checkins", json={"payload": "KY1:garbage", "desk": "m1"}, headers=guard)
    after = samples(client)

    def added(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert added("kyso_signatures_total", level="b-b", outcome="signed") == 1
    assert added("kyso_signatures_total", level="-", outcome="refused") == 1
    assert added("kyso_checkins_total", decision="admit", reason="admitted", mode="online") == 1
    assert added("kyso_checkins_total", decision="deny", reason="used", mode="online") == 1
    denied = [k for k in after if k[0] == "kyso_checkins_total" and ("decision", "deny") in k[1]]
    assert sum(added(name, **dict(labels)) for name, labels in denied) == 2
