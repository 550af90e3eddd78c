"""Every bad request is a clear MALFORMED error naming the problem, and writes no row."""

from __future__ import annotations

import dataclasses

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from ca.issuance import IssueRequest
from ca.subjects import SubjectFields
from core.errors import Kind, ServiceError
from tests.conftest import Instance

AN = SubjectFields(surname="Nguyễn", given_name="Văn An", cccd="079203001234")


def csr(key, *, der: bool = False) -> bytes:
    request = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")])
    )
    signed = request.sign(key, None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256())
    return signed.public_bytes(serialization.Encoding.DER if der else serialization.Encoding.PEM)


def tampered_csr() -> bytes:
    der = bytearray(csr(ec.generate_private_key(ec.SECP256R1()), der=True))
    der[-5] ^= 0x01  # inside the signature value
    return bytes(der)


BAD_REQUESTS = {
    "not a CSR": (IssueRequest("citizen", AN, csr=b"hello"), "not a PKCS#10"),
    "empty CSR": (IssueRequest("citizen", AN, csr=b"  "), "empty"),
    "certificate instead of CSR": (
        IssueRequest("citizen", AN, csr=b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
        "not a CERTIFICATE REQUEST",
    ),
    "tampered CSR signature": (IssueRequest("citizen", AN, csr=tampered_csr()), "signature does not verify"),
    "RSA-1024": (
        IssueRequest("citizen", AN, csr=csr(rsa.generate_private_key(65537, 1024))),
        "RSA-1024 is too weak",
    ),
    "secp256k1": (IssueRequest("citizen", AN, csr=csr(ec.generate_private_key(ec.SECP256K1()))), "secp256k1"),
    "P-521": (IssueRequest("citizen", AN, csr=csr(ec.generate_private_key(ec.SECP521R1()))), "secp521r1"),
    "Ed25519": (IssueRequest("citizen", AN, csr=csr(ed25519.Ed25519PrivateKey.generate())), "not supported"),
    "CCCD with 11 digits": (
        IssueRequest("citizen", dataclasses.replace(AN, cccd="07920300123")),
        "12 digits",
    ),
    "bad province": (IssueRequest("citizen", dataclasses.replace(AN, cccd="999203001234")), "province code"),
    "unknown profile": (IssueRequest("superhero", AN), "unknown certificate profile"),
    "CA profile on request": (IssueRequest("root-ca", AN), "issued by `kyso init`"),
    "empty name": (IssueRequest("citizen", dataclasses.replace(AN, surname="   ")), "surname is required"),
    "name too long": (IssueRequest("citizen", dataclasses.replace(AN, given_name="A" * 70)), "at most 64"),
    "control characters": (IssueRequest("citizen", dataclasses.replace(AN, given_name="An\x00")), "control"),
    "field the profile lacks": (
        IssueRequest("citizen", dataclasses.replace(AN, tax_code="0300588569")),
        "not allowed in a natural-person subject",
    ),
    "official without organisation": (IssueRequest("official", AN), "organization is required"),
    "agency seal with a bad tax code": (
        IssueRequest("agency-seal", SubjectFields(organization="UBND", tax_code="0301234567")),
        "check digit",
    ),
    "keygen not allowed": (IssueRequest("citizen", AN, keygen="rsa-4096"), "not allowed for citizen"),
    "unknown keygen": (IssueRequest("citizen", AN, keygen="dsa-1024"), "not allowed"),
    "pkcs12 without password": (IssueRequest("citizen", AN, delivery="pkcs12"), "needs a password"),
    "pkcs12 short password": (
        IssueRequest("citizen", AN, delivery="pkcs12", pkcs12_password="abc"),
        "8 characters",
    ),
    "CSR and keygen": (
        IssueRequest("citizen", AN, csr=csr(ec.generate_private_key(ec.SECP256R1())), keygen="ec-p256"),
        "not both",
    ),
}


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_bad_request_is_refused_and_writes_nothing(shared_instance: Instance, case: str) -> None:
    request, problem = BAD_REQUESTS[case]
    before = shared_instance.counts()
    with pytest.raises(ServiceError) as caught, shared_instance.db.transaction() as session:
        shared_instance.ca.issue(session, request)
    assert caught.value.kind is Kind.MALFORMED
    assert problem in caught.value.message
    assert shared_instance.counts() == before
