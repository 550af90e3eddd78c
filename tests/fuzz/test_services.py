"""Property-based fuzzing of the services behind the parsers, on a real instance: the OCSP responder and
the TSA answer every mutated request with a protocol answer; POST /api/v1/verify with mutated signed
PDFs and POST /api/v1/checkins with arbitrary scanned text answer 200 or 4xx, never 500."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from fastapi.testclient import TestClient
from hypothesis import example, given, settings
from hypothesis import strategies as st

from api.app import create_app
from api.fastpath.ocsp import RenderedOcsp
from ca import tsa
from ca.ocsp_cache import CachingOcspResponder
from signing.pades import Level
from store import repositories
from tests.conftest import Instance, bearer, make_account, make_instance
from tests.fuzz.strategies import EXAMPLES, FUZZ, TSA_REQUEST, mutated
from tests.support.pdfs import sample_pdf
from tests.support.signing import issue_in_custody, sign_bytes, signing_service

PDF_EXAMPLES = max(10, EXAMPLES // 6)  # each PDF is checked in a forked child: the slow one


@dataclass
class World:
    instance: Instance
    client: TestClient
    responder: CachingOcspResponder[RenderedOcsp]
    ocsp_request: bytes
    signed_pdf: bytes
    guard: dict[str, str]
    invitation_payload: str


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("fuzz")
    instance = make_instance(tmp, f"sqlite:///{tmp / 'kyso.db'}")
    app = create_app(instance.settings)
    serial = issue_in_custody(instance, "official")
    with instance.db.reading() as session:
        issuer = instance.ca.chain(session, "government")[0]
        leaf = x509.load_der_x509_certificate(repositories.certificate_by_serial(session, serial).der)
    request = (ocsp.OCSPRequestBuilder().add_certificate(leaf, issuer, hashes.SHA1()).build()).public_bytes(
        serialization.Encoding.DER
    )
    signed, _ = sign_bytes(signing_service(instance), serial, sample_pdf(1), level=Level.B_T)
    with TestClient(app, raise_server_exceptions=False) as client:
        admin = bearer(client, make_account(instance, "admin"))
        venue = {"code": "FUZZ", "name": "UBND", "address": "1 Lê Lợi", "desks": ["f1"]}
        assert client.post("/api/v1/venues", json=venue, headers=admin).status_code == 201
        official = bearer(client, make_account(instance, "official"))
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        invitation = client.post(
            "/api/v1/invitations",
            json={"guest_name": "Lê Thị Hồng Gấm", "venue": "FUZZ", "starts_at": now.isoformat(),
                  "ends_at": (now + dt.timedelta(hours=2)).isoformat(), "meeting_title": "Họp"},
            headers=official,
        )  # fmt: skip
        assert invitation.status_code == 201, invitation.text
        guard = bearer(client, make_account(instance, "desk", venue="FUZZ"))
        yield World(instance, client, app.state.ocsp, request, signed, guard, invitation.json()["payload"])
    instance.db.dispose()


@FUZZ
@given(data=st.data())
def test_the_ocsp_responder_answers_every_request_with_an_ocsp_response(world: World, data) -> None:
    der = data.draw(st.one_of(mutated(world.ocsp_request), st.binary(max_size=400)))
    authority = data.draw(st.sampled_from(["government", "citizen", "root", "nope"]))
    rendered = world.responder.lookup(authority, der) or world.responder.answer(authority, der)
    response = ocsp.load_der_ocsp_response(rendered.body)
    if response.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL:
        assert response.certificate_status in (ocsp.OCSPCertStatus.GOOD, ocsp.OCSPCertStatus.UNKNOWN)


@FUZZ
@given(st.one_of(mutated(TSA_REQUEST), st.binary(max_size=300)))
@example(TSA_REQUEST)
def test_the_tsa_answers_every_request_with_a_timestamp_response(world: World, der: bytes) -> None:
    answer = tsa.TimeStampResponse.load(
        tsa.TimestampAuthority(world.instance.ca).serve(world.instance.db, der)
    )
    status = answer["status"]["status"].native
    assert status in ("granted", "rejection")
    if status == "granted":
        assert answer["time_stamp_token"].native is not None


@settings(parent=FUZZ, max_examples=PDF_EXAMPLES)
@given(data=st.data())
def test_verify_answers_mutated_pdfs_with_a_report_or_a_4xx(world: World, data) -> None:
    pdf = data.draw(mutated(world.signed_pdf, max_mutations=3))
    response = world.client.post("/api/v1/verify", files={"document": ("d.pdf", pdf, "application/pdf")})
    assert response.status_code in (200, 413, 422), response.text[:300]
    if response.status_code == 200:
        assert response.json()["signatures"] is not None


@pytest.mark.parametrize(
    "tail",
    [
        b"",
        b"%%EOF",
        b"trailer<</Root 1 0 R/Size 99999999999>>",
        b"xref\n0 99999999\n",
        b"1 0 obj<</Length -5>>stream",
    ],
)
def test_verify_answers_truncated_and_appended_pdfs(world: World, tail: bytes) -> None:
    for cut in (len(world.signed_pdf) // 2, len(world.signed_pdf) - 40):
        pdf = world.signed_pdf[:cut] + tail
        response = world.client.post("/api/v1/verify", files={"document": ("d.pdf", pdf, "application/pdf")})
        assert response.status_code in (200, 422), response.text[:300]


@FUZZ
@given(
    st.one_of(
        st.text(max_size=300), st.builds(lambda p, s: p + s, st.sampled_from(["KY1:", "KR1:"]), st.text())
    )
)
def test_checkin_answers_any_scanned_text_with_a_decision_or_a_4xx(world: World, text: str) -> None:
    response = world.client.post(
        "/api/v1/checkins", json={"payload": text, "desk": "f1"}, headers=world.guard
    )
    assert response.status_code in (200, 422), response.text[:300]
    if response.status_code == 200:
        assert response.json()["decision"] == "deny"


@settings(parent=FUZZ, max_examples=max(20, EXAMPLES // 3))
@given(data=st.data())
def test_checkin_denies_mutated_genuine_passes(world: World, data) -> None:
    payload = data.draw(mutated(world.invitation_payload.encode(), max_mutations=2)).decode("latin-1")
    response = world.client.post(
        "/api/v1/checkins", json={"payload": payload, "desk": "f1"}, headers=world.guard
    )
    assert response.status_code in (200, 422), response.text[:300]
    if response.status_code == 200 and payload != world.invitation_payload:
        assert response.json()["decision"] == "deny" or response.json()["invitation_id"]
