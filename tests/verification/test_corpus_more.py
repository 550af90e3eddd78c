"""The rest of the corpus: a signer revoked before signing, an expired signer with and without a timestamp,
and signatures made by other tools (pyHanko's default signer, `openssl cms`) — each with its indication,
and pdfsig agreeing on integrity and trust."""

from __future__ import annotations

import asyncio
import datetime as dt
import time

import pytest
from asn1crypto import x509 as asn1_x509

from ca.lifecycle import revoke
from ca.ocsp import OcspResponder
from ca.tsa import TimestampAuthority
from ca.tsa_pyhanko import InProcessTimeStamper
from core.clock import FrozenClock
from core.ids import serial_hex
from signing.pades import Level
from tests.conftest import make_instance
from tests.support.pdfs import sample_pdf
from tests.support.signing import (
    issue_in_custody,
    nss_database,
    pdfsig,
    root_pem,
    sign_bytes,
    signing_service,
)
from tests.verification.other_signers import (
    dss_material,
    held_key,
    openssl_cms,
    pyhanko_default,
    pyhanko_pades_t,
    with_dss,
)
from verification.report import Indication, Revocation
from verification.trust import TrustStore
from verification.validate import Verifier


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("corpus")
    instance = make_instance(tmp, f"sqlite:///{tmp / 'kyso.db'}")
    trust = TrustStore.from_pem("Kyso", root_pem(instance))
    yield instance, trust, tmp
    instance.db.dispose()


def check(trust, data, **kwargs):
    return asyncio.run(Verifier(trust, **kwargs).verify(data))


def ocsp_for(instance, serial: str) -> bytes:
    with instance.db.transaction() as session:
        return OcspResponder(instance.ca).produce_for(session, serial)


def fetcher(instance):
    return lambda certificate, issuer: ocsp_for(instance, serial_hex(certificate.serial_number))


def agree_with_pdfsig(tmp, instance, name, data, report):
    nss = nss_database(tmp / "nss", root_pem(instance))
    path = tmp / f"{name}.pdf"
    path.write_bytes(data)
    theirs = pdfsig(path, nss)
    assert len(theirs) == len(report.signatures), theirs
    for ours, their in zip(report.signatures, theirs, strict=True):
        assert their.signature_valid == ours.integrity, (name, their.raw)
        if ours.integrity and ours.revoked_at is None:  # pdfsig runs -no-ocsp: chain only, not revocation
            assert their.certificate_trusted == ours.trusted, (name, their.raw)


def test_a_signer_revoked_before_signing_fails(world):
    """Revoked, then signed by a tool that does not check (pyHanko), timestamped after the revocation and
    carrying the OCSP answer that says so: TOTAL-FAILED/REVOKED."""
    instance, trust, tmp = world
    held = held_key(instance, tmp / "revoked")
    with instance.db.transaction() as session:
        revoke(instance.ca, session, held.serial, "key-compromise")
    time.sleep(1.1)  # revocation times have whole seconds: sign in a later second
    stamper = InProcessTimeStamper(TimestampAuthority(instance.ca), instance.db)
    signed = pyhanko_pades_t(sample_pdf(1), held, stamper)
    # the TSA's and the CAs' status from a Kyso B-LT file, the signer's (revoked) from the responder
    kyso_lt, _ = sign_bytes(
        signing_service(instance), issue_in_custody(instance), sample_pdf(1), level=Level.B_LT
    )
    certs, ocsps, crls = dss_material(kyso_lt)
    chain = [asn1_x509.Certificate.load(c) for c in _pem_ders(held.chain.read_bytes())]
    lt = with_dss(signed, certs=[*certs, *chain], ocsps=[*ocsps, ocsp_for(instance, held.serial)], crls=crls)

    report = check(trust, lt)
    [first] = report.signatures
    assert (first.indication, first.sub_indication) == (Indication.TOTAL_FAILED, "REVOKED"), first.reasons
    assert first.revocation is Revocation.EMBEDDED and first.revoked_at
    assert first.signing_time_source == "timestamp" and first.revoked_at < first.signing_time
    assert first.integrity and first.pades_level == "B-LT"
    assert any("before the signing time" in reason for reason in first.reasons)
    agree_with_pdfsig(tmp, instance, "revoked-before", lt, report)


def test_another_tools_signature_pyhanko_default(world):
    """pyHanko's SimpleSigner with its defaults: adbe.pkcs7.detached with a claimed signingTime."""
    instance, trust, tmp = world
    held = held_key(instance, tmp / "pyhanko", given_name="Văn Hai")
    signed = pyhanko_default(sample_pdf(1), held)
    offline = check(trust, signed)
    [first] = offline.signatures
    assert (first.indication, first.sub_indication) == (Indication.INDETERMINATE, "TRY_LATER")
    assert first.integrity and first.trusted and first.classic_valid
    assert first.pades_level is None and first.signing_time_source == "claimed"
    assert first.signer.name.endswith("Văn Hai") and first.signer.cccd == "079190004321"
    fetched = check(trust, signed, fetch_ocsp=fetcher(instance))
    online = fetched.signatures[0]
    assert online.indication is Indication.TOTAL_PASSED, (online.reasons, fetched.warnings)
    assert online.revocation is Revocation.FETCHED
    agree_with_pdfsig(tmp, instance, "pyhanko-default", signed, offline)
    tampered = signed.replace(b"Quyet dinh", b"Quyet dinx", 1)
    broken = check(trust, tampered)
    assert broken.signatures[0].indication is Indication.TOTAL_FAILED
    agree_with_pdfsig(tmp, instance, "pyhanko-default-tampered", tampered, broken)


def test_another_tools_signature_openssl_cms(world):
    """`openssl cms -sign -binary -noattr`: no signed attributes, no signing time, placed by pyHanko."""
    instance, trust, tmp = world
    held = held_key(instance, tmp / "openssl", given_name="Văn Ba")
    signed = openssl_cms(sample_pdf(1), held, tmp / "openssl")
    online = check(trust, signed, fetch_ocsp=fetcher(instance))
    [first] = online.signatures
    assert (first.indication, first.integrity, first.trusted) == (Indication.TOTAL_PASSED, True, True), (
        first.reasons
    )
    assert first.signing_time is None and first.signing_time_source == "none"
    assert first.field == "OpenSSL" and first.signer.name.endswith("Văn Ba")
    agree_with_pdfsig(tmp, instance, "openssl", signed, online)
    other = TrustStore.from_pem("empty", _other_root())
    assert check(other, signed).signatures[0].indication is Indication.INDETERMINATE


def test_an_expired_signer_passes_with_a_timestamp_only(world):
    """Verified 800 days after signing (officials' certificates last 730): B-LT proves the signature came
    while the certificate was valid → TOTAL-PASSED with a warning; B-B cannot → INDETERMINATE/
    OUT_OF_BOUNDS_NO_POE. (signing/ gathers B-LT data at the real time, so the verifier's clock moves.)"""
    instance, trust, _ = world
    service = signing_service(instance)
    serial = issue_in_custody(instance, "official")
    lt, _ = sign_bytes(service, serial, sample_pdf(1), level=Level.B_LT)
    bb, _ = sign_bytes(service, serial, sample_pdf(1), level=Level.B_B)
    later = FrozenClock(dt.datetime.now(dt.UTC) + dt.timedelta(days=800))
    timestamped = check(trust, lt, now=later.now).signatures[0]
    assert timestamped.indication is Indication.TOTAL_PASSED, timestamped.reasons
    assert any("no longer valid" in w for w in timestamped.warnings)
    assert dt.datetime.fromisoformat(timestamped.certificate_valid_until) < later.now()
    plain = check(trust, bb, now=later.now).signatures[0]
    assert (plain.indication, plain.sub_indication) == (Indication.INDETERMINATE, "OUT_OF_BOUNDS_NO_POE")
    assert any("expired" in reason for reason in plain.reasons)
    # the same B-LT file today
    assert check(trust, lt).signatures[0].indication is Indication.TOTAL_PASSED


def _pem_ders(data: bytes) -> list[bytes]:
    from verification.trust import certificates_from_pem

    return certificates_from_pem(data)


def _other_root() -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    from tests.verification.test_validate import _self_signed_ca

    return x509.load_der_x509_certificate(_self_signed_ca()).public_bytes(serialization.Encoding.PEM)
