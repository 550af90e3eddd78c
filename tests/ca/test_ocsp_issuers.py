"""Each issuing CA's OCSP responder answers only for its own certificates (RFC 6960 §2.2, §2.3): an answer
is found by the CertID's issuer (name and key hash) and serial together, never by the serial alone, on the
responder itself, through the in-memory cache and over HTTP (the ASGI fast path)."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator

import pytest
from asn1crypto import keys as asn1_keys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from fastapi.testclient import TestClient

from api.app import create_app
from ca.issuance import IssueRequest
from ca.ocsp import OcspResponder
from ca.subjects import SubjectFields
from tests.conftest import Instance, start_server, stop_server
from tests.support import raw_http

PUBLIC_KEY_INFO = serialization.PublicFormat.SubjectPublicKeyInfo
OCSP_REQUEST = {"content-type": "application/ocsp-request"}


def issuing(instance: Instance, authority: str) -> x509.Certificate:
    with instance.db.reading() as session:
        return instance.ca.authority(session, authority).certificate


def issue_official(instance: Instance, cccd: str) -> x509.Certificate:
    subject = SubjectFields(surname="Lê", given_name="Minh", cccd=cccd, organization="Sở Tư pháp Hà Nội")
    with instance.db.transaction() as session:
        info = instance.ca.issue(session, IssueRequest("official", subject)).certificate
    return x509.load_pem_x509_certificate(info.certificate_pem.encode())


def request_for(issuer: x509.Certificate, serial: int) -> bytes:
    """A CertID naming ``issuer`` (its name and key hashes) and ``serial``, whoever issued that serial."""
    spki = asn1_keys.PublicKeyInfo.load(
        issuer.public_key().public_bytes(serialization.Encoding.DER, PUBLIC_KEY_INFO)
    )
    name_hash = hashlib.sha1(issuer.subject.public_bytes()).digest()
    key_hash = hashlib.sha1(spki["public_key"].contents[1:]).digest()
    request = ocsp.OCSPRequestBuilder().add_certificate_by_hash(name_hash, key_hash, serial, hashes.SHA1())
    return request.build().public_bytes(serialization.Encoding.DER)


@pytest.fixture
def client(shared_instance: Instance) -> Iterator[TestClient]:
    with TestClient(create_app(shared_instance.settings)) as test_client:
        yield test_client


def test_the_citizen_responder_does_not_answer_for_a_government_certificate(
    shared_instance: Instance, client: TestClient
) -> None:
    instance = shared_instance
    leaf = issue_official(instance, "001203100901")
    government, citizen = issuing(instance, "government"), issuing(instance, "citizen")
    own = ocsp.OCSPRequestBuilder().add_certificate(leaf, government, hashes.SHA1()).build()
    own_der = own.public_bytes(serialization.Encoding.DER)

    # the government CA answers (and pre-produces, stores and caches) its certificate's status
    answered = ocsp.load_der_ocsp_response(client.post("/ocsp/government", content=own_der).content)
    assert answered.certificate_status is ocsp.OCSPCertStatus.GOOD
    assert answered.serial_number == leaf.serial_number

    # the citizen CA, asked about the same serial under its own name: it never issued it
    crossed = request_for(citizen, leaf.serial_number)
    for body in (
        OcspResponder(instance.ca).respond(instance.db, "citizen", crossed),  # the responder itself
        client.post("/ocsp/citizen", content=crossed, headers=OCSP_REQUEST).content,  # the HTTP fast path
        client.post("/ocsp/citizen", content=crossed, headers=OCSP_REQUEST).content,  # again, from memory
    ):
        response = ocsp.load_der_ocsp_response(body)
        assert response.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
        assert response.certificate_status is ocsp.OCSPCertStatus.UNKNOWN
        asked = ocsp.load_der_ocsp_request(crossed)
        assert (response.issuer_name_hash, response.issuer_key_hash) == (
            asked.issuer_name_hash,
            asked.issuer_key_hash,
        )
        assert response.certificates[0].subject != answered.certificates[0].subject  # its own responder

    # a CertID naming the government CA, sent to the citizen responder: not its issuer (RFC 6960 §2.3)
    fresh = OcspResponder(instance.ca)  # nothing loaded yet, so no shortcut
    for body in (
        fresh.respond(instance.db, "citizen", own_der),
        client.post("/ocsp/citizen", content=own_der, headers=OCSP_REQUEST).content,
        client.get("/ocsp/citizen/" + base64.urlsafe_b64encode(own_der).decode()).content,
    ):
        assert ocsp.load_der_ocsp_response(body).response_status is ocsp.OCSPResponseStatus.UNAUTHORIZED

    # and the government CA still answers for its own certificate
    again = ocsp.load_der_ocsp_response(client.post("/ocsp/government", content=own_der).content)
    assert again.certificate_status is ocsp.OCSPCertStatus.GOOD


def test_kyso_serves_connection_handler_answers_by_issuer_and_serial_too(shared_instance: Instance) -> None:
    """``kyso serve`` answers OCSP on its own connection handler (api.fastpath.connection), ahead of the app."""
    instance = shared_instance
    leaf = issue_official(instance, "001203100902")
    government, citizen = issuing(instance, "government"), issuing(instance, "citizen")
    own = ocsp.OCSPRequestBuilder().add_certificate(leaf, government, hashes.SHA1()).build()
    own_der = own.public_bytes(serialization.Encoding.DER)
    server = start_server(instance)
    try:
        port = int(server.url.rsplit(":", 1)[1])

        def post(path: str, body: bytes) -> ocsp.OCSPResponse:
            head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            (answer,) = raw_http.exchange(port, head + body)
            assert answer.status == 200
            return ocsp.load_der_ocsp_response(answer.body)

        for _ in range(2):  # produced and stored, then from memory
            assert post("/ocsp/government", own_der).certificate_status is ocsp.OCSPCertStatus.GOOD
        crossed = request_for(citizen, leaf.serial_number)
        for _ in range(2):
            assert post("/ocsp/citizen", crossed).certificate_status is ocsp.OCSPCertStatus.UNKNOWN
            assert post("/ocsp/citizen", own_der).response_status is ocsp.OCSPResponseStatus.UNAUTHORIZED
    finally:
        stop_server(server)
