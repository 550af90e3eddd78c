"""The corpus built here, each file with the indication a relying party must get; pdfsig agrees on integrity
and trust where it understands the file; malformed inputs get a clean answer."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import time
import zlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from ca.lifecycle import revoke
from ca.ocsp import OcspResponder
from core.errors import Kind, ServiceError
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
from verification.isolation import verify_bounded
from verification.report import Indication, Revocation
from verification.trust import TrustStore
from verification.validate import Limits, Verifier


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("verification")
    instance = make_instance(tmp, f"sqlite:///{tmp / 'kyso.db'}")
    serial = issue_in_custody(instance, "official")
    service = signing_service(instance)
    trust = TrustStore.from_pem("Kyso", root_pem(instance))
    yield instance, serial, service, trust
    instance.db.dispose()


def check(trust: TrustStore, data: bytes, **kwargs):
    return asyncio.run(Verifier(trust, **kwargs).verify(data))


@pytest.mark.parametrize(
    ("level", "expected", "sub", "pades"),
    [
        (Level.B_B, Indication.INDETERMINATE, "TRY_LATER", "B-B"),
        (Level.B_T, Indication.INDETERMINATE, "TRY_LATER", "B-T"),
        (Level.B_LT, Indication.TOTAL_PASSED, None, "B-LT"),
        (Level.B_LTA, Indication.TOTAL_PASSED, None, "B-LTA"),
    ],
)
def test_every_level_gets_its_indication(world, level, expected, sub, pades):
    _, serial, service, trust = world
    signed, _ = sign_bytes(service, serial, sample_pdf(1), level=level)
    report = check(trust, signed)
    first = report.signatures[0]
    assert (first.indication, first.sub_indication, first.pades_level) == (expected, sub, pades)
    assert first.signer.name == "Trần Thị Bình" and first.signer.cccd == "079185001235"
    assert first.integrity and first.signing_time.endswith("+07:00")
    if level is Level.B_B:  # no revocation data: never silently valid
        assert first.revocation is Revocation.NOT_CHECKED and report.warnings
        assert first.classic_valid  # pyHanko's classic bottom line says valid; the report does not
    if level.timestamped:
        assert first.signing_time_source == "timestamp" and first.timestamp.authority
    if level is Level.B_LTA:
        assert [s.kind for s in report.signatures] == ["signature", "document-timestamp"]
        assert report.signatures[1].indication is Indication.TOTAL_PASSED
    assert report.all_passed is (expected is Indication.TOTAL_PASSED)


def test_a_flipped_byte_fails_integrity(world):
    _, serial, service, trust = world
    signed, _ = sign_bytes(service, serial, sample_pdf(1), level=Level.B_LT)
    flipped = signed.replace(b"Quyet dinh", b"Quyet dinx", 1)
    assert flipped != signed
    first = check(trust, flipped).signatures[0]
    assert (first.indication, first.sub_indication) == (Indication.TOTAL_FAILED, "HASH_FAILURE")
    assert not first.integrity


def test_an_unknown_root_is_indeterminate(world):
    _, serial, service, _ = world
    signed, _ = sign_bytes(service, serial, sample_pdf(1), level=Level.B_LT)
    other = TrustStore.from_der("other", [_self_signed_ca()])
    report = check(other, signed)
    first = report.signatures[0]
    assert first.indication is Indication.INDETERMINATE and not first.trusted
    assert report.trust_list == "other"


def test_a_second_signature_is_allowed_but_a_replaced_page_is_not(world):
    _, serial, service, trust = world
    signed, _ = sign_bytes(service, serial, sample_pdf(2), level=Level.B_LT, certify=True)
    twice, _ = sign_bytes(service, serial, signed, level=Level.B_LT)
    report = check(trust, twice)
    assert [s.indication for s in report.signatures] == [Indication.TOTAL_PASSED] * 2
    assert report.signatures[0].certification is not None

    replaced = _replace_first_page(signed)
    first = check(trust, replaced).signatures[0]
    assert first.indication is Indication.TOTAL_FAILED
    assert first.sub_indication == "SIG_CONSTRAINTS_FAILURE" and first.integrity


def test_revoked_after_a_timestamped_signature_passes_but_not_without_timestamp(world):
    instance, _, service, trust = world
    serial = issue_in_custody(instance, "official")
    lt, _ = sign_bytes(service, serial, sample_pdf(1), level=Level.B_LT)
    bb, _ = sign_bytes(service, serial, sample_pdf(1), level=Level.B_B)
    time.sleep(1.1)  # OCSP revocation times have whole seconds: revoke in a later second than the timestamp
    with instance.db.transaction() as session:
        revoke(instance.ca, session, serial, "key-compromise")
    fetch = _fetcher(instance)
    timestamped = check(trust, lt, fetch_ocsp=fetch).signatures[0]
    assert timestamped.revocation is Revocation.FETCHED and timestamped.revoked_at
    assert timestamped.indication is Indication.TOTAL_PASSED, timestamped.reasons
    assert any("revoked" in w for w in timestamped.warnings)
    plain = check(trust, bb, fetch_ocsp=fetch).signatures[0]
    assert (plain.indication, plain.sub_indication) == (Indication.INDETERMINATE, "REVOKED_NO_POE")


def test_pdfsig_agrees_on_integrity_and_trust(world, tmp_path):
    instance, serial, service, trust = world
    nss = nss_database(tmp_path / "nss", root_pem(instance))
    signed, _ = sign_bytes(service, serial, sample_pdf(1), level=Level.B_LT)
    corpus = {"valid": signed, "flipped": signed.replace(b"Quyet dinh", b"Quyet dinx", 1)}
    for name, data in corpus.items():
        path = tmp_path / f"{name}.pdf"
        path.write_bytes(data)
        ours = check(trust, data).signatures[0]
        [theirs] = pdfsig(path, nss)
        assert theirs.signature_valid == ours.integrity, name
        if ours.integrity:
            assert theirs.certificate_trusted == ours.trusted, name


def test_no_signature_is_an_answer(world):
    *_, trust = world
    report = check(trust, sample_pdf(1))
    assert report.signatures == [] and report.indication is None and not report.all_passed
    assert any("no signature" in w for w in report.warnings)


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"hello, not a pdf", Kind.MALFORMED),
        (b"%PDF-1.7\n1 0 obj << /Type /Catalog >> garbage xref\nstartxref\n999999\n%%EOF", Kind.MALFORMED),
    ],
)
def test_unreadable_input_is_refused_cleanly(world, data, kind):
    *_, trust = world
    with pytest.raises(ServiceError) as caught:
        check(trust, data)
    assert caught.value.kind is kind


def test_garbage_cms_and_bad_byte_range_are_verdicts(world):
    _, serial, service, trust = world
    signed, _ = sign_bytes(service, serial, sample_pdf(1), level=Level.B_B)
    start = signed.index(b"/Contents <") + len(b"/Contents <")
    garbage = signed[:start] + b"41" * 64 + signed[start + 128 :]
    first = check(trust, garbage).signatures[0]
    assert first.indication is Indication.TOTAL_FAILED
    # a ByteRange with a gap: the signature no longer covers its whole revision
    at = signed.index(b"/ByteRange [")
    end = signed.index(b"]", at)
    numbers = [int(n) for n in signed[at + 12 : end].split()]
    numbers[2] += 2
    numbers[3] -= 2
    text = b"/ByteRange [" + b" ".join(b"%d" % n for n in numbers) + b"]"
    gap = signed[:at] + text.ljust(end + 1 - at) + signed[end + 1 :]
    assert len(gap) == len(signed)
    report = check(trust, gap)
    assert report.signatures[0].indication is Indication.TOTAL_FAILED


def test_size_and_time_limits(world):
    _, serial, service, trust = world
    with pytest.raises(ServiceError) as caught:
        check(trust, b"%PDF-1.7\n" + b"0" * 2048, limits=Limits(max_bytes=1024))
    assert caught.value.kind is Kind.TOO_LARGE
    signed, _ = sign_bytes(service, serial, sample_pdf(1), level=Level.B_LT)
    verifier = Verifier(trust, limits=Limits(timeout_seconds=60))
    assert verify_bounded(verifier, signed).all_passed
    hurried = Verifier(trust, limits=Limits(timeout_seconds=0.0001))
    with pytest.raises(ServiceError) as caught:
        verify_bounded(hurried, signed)
    assert "longer than" in caught.value.message


def test_a_compressed_bomb_is_answered_within_the_memory_ceiling(world):
    *_, trust = world
    bomb = zlib.compress(b"\0" * (300 << 20), 9)  # inflates to 300 MB, past the 256 MB ceiling below
    stream = b"99 0 obj\n<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(bomb) + bomb
    pdf = sample_pdf(1) + stream + b"\nendstream\nendobj\n%%EOF\n"
    verifier = Verifier(trust, limits=Limits(memory_bytes=256 << 20, timeout_seconds=60))
    try:
        report = verify_bounded(verifier, pdf)
    except ServiceError as refused:  # refused cleanly is an answer too
        assert refused.kind is Kind.MALFORMED
    else:
        assert report.signatures == []


def _fetcher(instance):
    responder = OcspResponder(instance.ca)

    def fetch(certificate, issuer):
        with instance.db.transaction() as session:
            return responder.produce_for(session, serial_hex(certificate.serial_number))

    return fetch


def _self_signed_ca() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "Another Root")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    return cert.public_bytes(serialization.Encoding.DER)


def _replace_first_page(signed: bytes) -> bytes:
    writer = IncrementalPdfFileWriter(io.BytesIO(signed))
    page_ref = writer.root["/Pages"].raw_get("/Kids")[0]
    page = page_ref.get_object()
    content = b"BT /F1 14 Tf 72 760 Td (Quyet dinh GIA MAO) Tj ET"
    page["/Contents"] = writer.add_object(generic.StreamObject(stream_data=content))
    writer.update_container(page)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
