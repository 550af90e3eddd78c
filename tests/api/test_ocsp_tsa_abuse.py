"""Nonces and request rates on the OCSP responder and the TSA (issue 16 item 10).

An OCSP nonce is 1 to 32 octets (RFC 8954 §2.1; longer: malformedRequest, never echoed); a TSA nonce is a
positive integer of at most 32 octets (refused: a rejection TimeStampResp with badRequest). Requests that
make the OCSP responder work (a nonce, a cache miss) and every TSA request count against a per-client
limit kept in the database: over it, 429 with Retry-After. Checked in process (responder, ASGI app) and on
a live ``kyso serve``, whose connection handler answers OCSP itself.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from asn1crypto import algos, keys, tsp
from asn1crypto import ocsp as asn1_ocsp
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import ocsp
from fastapi.testclient import TestClient

from api import ratelimit
from api.app import create_app
from ca.issuance import IssueRequest
from ca.ocsp import OcspResponder
from ca.subjects import SubjectFields
from ca.tsa import TimestampAuthority, TimeStampResponse
from core.clock import FrozenClock
from core.errors import Kind, ServiceError
from tests.conftest import Instance, make_instance, run_tool, start_server, stop_server
from tests.support import raw_http

OCSP_REQUEST = {"content-type": "application/ocsp-request"}
TSA_QUERY = {"content-type": "application/timestamp-query"}
PROBLEM_JSON = "application/problem+json"


def issue_citizen(instance: Instance, cccd: str) -> x509.Certificate:
    subject = SubjectFields(surname="Phạm", given_name="Hoa", cccd=cccd)
    with instance.db.transaction() as session:
        info = instance.ca.issue(session, IssueRequest("citizen", subject)).certificate
    return x509.load_pem_x509_certificate(info.certificate_pem.encode())


def issuing(instance: Instance, authority: str = "citizen") -> x509.Certificate:
    with instance.db.reading() as session:
        return instance.ca.authority(session, authority).certificate


def ocsp_request(leaf: x509.Certificate, issuer: x509.Certificate, nonce: bytes | None) -> bytes:
    """An OCSP request built with asn1crypto (not the library the responder parses with)."""
    name_hash = hashlib.sha1(issuer.subject.public_bytes()).digest()
    spki = issuer.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    key_hash = hashlib.sha1(keys.PublicKeyInfo.load(spki)["public_key"].contents[1:]).digest()
    tbs: dict[str, object] = {
        "request_list": [
            {
                "req_cert": {
                    "hash_algorithm": {"algorithm": "sha1"},
                    "issuer_name_hash": name_hash,
                    "issuer_key_hash": key_hash,
                    "serial_number": leaf.serial_number,
                }
            }
        ]
    }
    if nonce is not None:
        tbs["request_extensions"] = [{"extn_id": "nonce", "critical": False, "extn_value": nonce}]
    return asn1_ocsp.OCSPRequest({"tbs_request": tbs}).dump()


def tsa_request(nonce: int | None) -> bytes:
    imprint = {
        "hash_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
        "hashed_message": b"\x11" * 32,
    }
    fields: dict[str, object] = {"version": "v1", "message_imprint": imprint, "cert_req": False}
    if nonce is not None:
        fields["nonce"] = nonce
    return tsp.TimeStampReq(fields).dump()


def tsa_status(der: bytes) -> tuple[str, set[str]]:
    status = TimeStampResponse.load(der)["status"]
    return status["status"].native, set(status["fail_info"].native or ())


def granted_nonce(der: bytes) -> int:
    response = TimeStampResponse.load(der)
    assert response["status"]["status"].native == "granted"
    return response["time_stamp_token"]["content"]["encap_content_info"]["content"].parsed["nonce"].native


# -- nonces ----------------------------------------------------------------------------------------------


@pytest.fixture
def client(shared_instance: Instance) -> Iterator[TestClient]:
    with TestClient(create_app(shared_instance.settings)) as test_client:
        yield test_client


def test_ocsp_nonces_longer_than_32_octets_or_empty_are_malformed_and_never_echoed(
    shared_instance: Instance, client: TestClient
) -> None:
    leaf, issuer = issue_citizen(shared_instance, "079203100911"), issuing(shared_instance)
    responder = OcspResponder(shared_instance.ca)
    for nonce in (b"\x42" * 33, b"\x42" * 8000, b""):
        der = ocsp_request(leaf, issuer, nonce)
        for body in (
            responder.respond(shared_instance.db, "citizen", der),
            client.post("/ocsp/citizen", content=der, headers=OCSP_REQUEST).content,
        ):
            assert len(body) < 100  # nothing echoed
            answer = ocsp.load_der_ocsp_response(body)
            assert answer.response_status is ocsp.OCSPResponseStatus.MALFORMED_REQUEST, len(nonce)
    for nonce in (b"\x42", b"\x42" * 32):  # 1 to 32 octets: signed afresh and echoed
        der = ocsp_request(leaf, issuer, nonce)
        answer = ocsp.load_der_ocsp_response(
            client.post("/ocsp/citizen", content=der, headers=OCSP_REQUEST).content
        )
        assert answer.certificate_status is ocsp.OCSPCertStatus.GOOD
        assert answer.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == nonce


def test_tsa_nonces_must_be_positive_and_at_most_32_octets(
    shared_instance: Instance, client: TestClient
) -> None:
    authority = TimestampAuthority(shared_instance.ca)
    for nonce in (-1, -(2**64), 0, 2**256, 2 ** (60_000 * 8) - 1):
        der = tsa_request(nonce)
        for body in (
            authority.serve(shared_instance.db, der),
            client.post("/tsa", content=der, headers=TSA_QUERY).content,
        ):
            assert tsa_status(body) == ("rejection", {"bad_request"}), nonce
            assert len(body) < 200
    for nonce in (1, 2**64 - 1, 2**256 - 1, None):
        body = client.post("/tsa", content=tsa_request(nonce), headers=TSA_QUERY).content
        if nonce is None:
            assert tsa_status(body)[0] == "granted"
        else:
            assert granted_nonce(body) == nonce


# -- rate limits -----------------------------------------------------------------------------------------


@pytest.fixture
def clocked(database_url: str, tmp_path: Path) -> Iterator[tuple[Instance, FrozenClock]]:
    clock = FrozenClock(dt.datetime.now(dt.UTC))  # the real time: certificates issued now must be valid
    inst = make_instance(tmp_path, database_url, clock=clock)
    yield inst, clock
    inst.db.dispose()


def test_ocsp_requests_that_need_a_signature_and_tsa_requests_are_limited_per_client(clocked) -> None:
    instance, clock = clocked
    leaf, issuer = issue_citizen(instance, "079203100912"), issuing(instance)
    settings = instance.settings.model_copy(update={"ocsp_rate_per_minute": 3, "tsa_rate_per_minute": 2})
    app = create_app(settings, clock=clock)
    one = TestClient(app, client=("192.0.2.30", 1000))
    other = TestClient(app, client=("192.0.2.31", 1000))

    def ocsp_post(http: TestClient, nonce: bytes | None):
        return http.post("/ocsp/citizen", content=ocsp_request(leaf, issuer, nonce), headers=OCSP_REQUEST)

    plain = ocsp_post(one, None)  # a miss (counted): pre-produced, then kept in memory
    assert ocsp.load_der_ocsp_response(plain.content).certificate_status is ocsp.OCSPCertStatus.GOOD
    statuses = [ocsp_post(one, os.urandom(16)).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    refused = ocsp_post(one, os.urandom(16))
    assert refused.status_code == 429 and refused.headers["retry-after"] == "20"
    assert refused.headers["content-type"] == "application/ocsp-response"
    assert ocsp.load_der_ocsp_response(refused.content).response_status is ocsp.OCSPResponseStatus.TRY_LATER
    # what is answered from memory costs nothing and is not refused; other clients are not affected
    again = ocsp_post(one, None)
    assert again.status_code == 200 and again.content == plain.content
    assert ocsp_post(other, os.urandom(16)).status_code == 200
    clock.advance(seconds=20)
    assert ocsp_post(one, os.urandom(16)).status_code == 200

    statuses = [one.post("/tsa", content=tsa_request(7), headers=TSA_QUERY).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    refused = one.post("/tsa", content=tsa_request(7), headers=TSA_QUERY)
    assert refused.headers["content-type"].startswith(PROBLEM_JSON)
    assert refused.headers["retry-after"] == "30" and refused.json()["retry_after_seconds"] == 30
    assert other.post("/tsa", content=tsa_request(7), headers=TSA_QUERY).status_code == 200


def test_an_ocsp_limit_that_cannot_reach_the_database_lets_the_responder_answer(
    shared_instance: Instance, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database outage seen by the OCSP limit was a 500 problem+json, which no OCSP client reads."""
    leaf, issuer = issue_citizen(shared_instance, "079203100914"), issuing(shared_instance)

    def unreachable(*_: object) -> None:
        raise ServiceError(Kind.UNAVAILABLE, "the database is not reachable right now")

    monkeypatch.setattr(ratelimit, "take", unreachable)
    answer = client.post(
        "/ocsp/citizen", content=ocsp_request(leaf, issuer, os.urandom(16)), headers=OCSP_REQUEST
    )
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/ocsp-response"
    assert ocsp.load_der_ocsp_response(answer.content).certificate_status is ocsp.OCSPCertStatus.GOOD


def test_the_connection_handler_of_kyso_serve_caps_nonces_and_limits_too(
    shared_instance: Instance, tmp_path: Path
) -> None:
    instance = shared_instance
    leaf, issuer = issue_citizen(instance, "079203100913"), issuing(instance)
    server = start_server(instance, env={"KYSO_OCSP_RATE_PER_MINUTE": "3"})
    try:
        port = int(server.url.rsplit(":", 1)[1])

        def post(body: bytes) -> raw_http.Answer:
            head = b"POST /ocsp/citizen HTTP/1.1\r\nHost: x\r\nContent-Type: application/ocsp-request\r\n"
            (answer,) = raw_http.exchange(port, head + b"Content-Length: %d\r\n\r\n" % len(body) + body)
            return answer

        long_nonce = post(ocsp_request(leaf, issuer, b"\x42" * 8000))
        assert long_nonce.status == 200 and len(long_nonce.body) < 100
        assert ocsp.load_der_ocsp_response(long_nonce.body).response_status is (
            ocsp.OCSPResponseStatus.MALFORMED_REQUEST
        )
        # openssl's own request with its 16-octet nonce: answered and echoed
        (tmp_path / "leaf.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
        (tmp_path / "issuer.pem").write_bytes(issuer.public_bytes(serialization.Encoding.PEM))
        run_tool("openssl", "ocsp", "-issuer", tmp_path / "issuer.pem", "-cert", tmp_path / "leaf.pem",
                 "-nonce", "-reqout", tmp_path / "req.der")  # fmt: skip
        made_by_openssl = (tmp_path / "req.der").read_bytes()
        answers = [post(made_by_openssl) for _ in range(4)]  # the malformed one was not counted
        assert [a.status for a in answers] == [200, 200, 200, 429]
        nonce = ocsp.load_der_ocsp_request(made_by_openssl).extensions.get_extension_for_class(x509.OCSPNonce)
        echoed = ocsp.load_der_ocsp_response(answers[0].body).extensions.get_extension_for_class(
            x509.OCSPNonce
        )
        assert echoed.value.nonce == nonce.value.nonce
        assert int(answers[3].headers["retry-after"]) > 0
        assert (
            ocsp.load_der_ocsp_response(answers[3].body).response_status is ocsp.OCSPResponseStatus.TRY_LATER
        )
    finally:
        stop_server(server)
