"""PAdES levels B-B … B-LTA, checked by poppler's pdfsig, pyHanko's validator and qpdf; sequential
signatures; what must not be signed."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from ca import lifecycle
from core.errors import Kind, ServiceError
from signing.pades import Level
from signing.service import Appearance, DocumentIn, SignRequest
from tests.conftest import make_instance, run_tool
from tests.support.pdfs import sample_pdf
from tests.support.signing import (
    issue_in_custody,
    nss_database,
    pdfsig,
    root_asn1,
    root_pem,
    sign_bytes,
    signing_service,
)
from tests.support.validators import pyhanko_verdicts


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("pades")
    instance = make_instance(tmp, f"sqlite:///{tmp / 'kyso.db'}")
    service = signing_service(instance)
    official = issue_in_custody(instance, "official")
    seal = issue_in_custody(instance, "agency-seal")
    nss = nss_database(tmp / "nss", root_pem(instance))
    yield instance, service, official, seal, nss, tmp
    instance.db.dispose()


def _write(tmp: Path, name: str, data: bytes) -> Path:
    path = tmp / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("level", list(Level))
def test_every_level_validates_with_pdfsig_pyhanko_and_qpdf(setup, level: Level) -> None:
    instance, service, official, _, nss, tmp = setup
    signed, _ = sign_bytes(service, official, sample_pdf(2), level=level)
    path = _write(tmp, f"{level}.pdf", signed)

    run_tool("qpdf", "--check", path)
    by_poppler = pdfsig(path, nss)
    assert by_poppler[0].signature_valid, by_poppler[0].raw
    assert by_poppler[0].certificate_trusted, by_poppler[0].raw
    assert "ETSI.CAdES.detached" in by_poppler[0].raw
    verdicts = pyhanko_verdicts(signed, root_asn1(instance))
    signature = verdicts[0]
    assert (signature.intact, signature.valid, signature.trusted) == (True, True, True)
    if level.timestamped:
        assert signature.timestamp_trusted is True
    if level.long_term:
        # revocation checked in hard-fail mode against the DSS alone: nothing had to be fetched
        assert signature.revocation_checked
    if level is Level.B_LTA:
        assert [v.kind for v in verdicts] == ["signature", "timestamp"]
        assert verdicts[1].intact and verdicts[1].trusted
    else:
        assert len(verdicts) == 1


def test_a_flipped_byte_inside_the_signed_range_is_reported_broken(setup) -> None:
    instance, service, official, _, nss, tmp = setup
    signed = bytearray(sign_bytes(service, official, sample_pdf(1), level=Level.B_B)[0])
    position = signed.index(b"trang 1/1")  # page text, inside the first signed byte range
    signed[position] ^= 0x01
    path = _write(tmp, "flipped.pdf", bytes(signed))
    by_poppler = pdfsig(path, nss)[0]
    assert not by_poppler.signature_valid
    assert "Signature Validation: Digest Mismatch." in by_poppler.raw
    assert not pyhanko_verdicts(bytes(signed), root_asn1(instance))[0].intact


def test_sequential_signatures_stay_valid_and_the_certification_allows_form_filling(setup) -> None:
    instance, service, official, seal, _, _ = setup
    first, _ = sign_bytes(service, official, sample_pdf(1), level=Level.B_T, certify=True)
    second, _ = sign_bytes(service, seal, first, level=Level.B_T)
    third, _ = sign_bytes(service, official, second, level=Level.B_B)
    verdicts = pyhanko_verdicts(third, root_asn1(instance))
    assert [v.field for v in verdicts] == ["Signature1", "Signature2", "Signature3"]
    assert all(v.intact and v.valid and v.trusted for v in verdicts)
    certification = verdicts[0]
    assert certification.modification_level == "FORM_FILLING"
    assert certification.docmdp_ok is True
    assert verdicts[-1].modification_level == "NONE"


def test_registry_records_what_was_signed(setup) -> None:
    from signing import registry

    instance, service, official, _, _, _ = setup
    source = sample_pdf(1)
    key = service.keys.signing_key(official)
    [out] = _sign(service, key, source, Level.B_B)
    with instance.db.transaction() as session:
        registry.record(session, out.record, None)
    with instance.db.reading() as session:
        found = registry.find_by_hash(session, out.record.sha256)
    assert [d.id for d in found] == [out.record.id]
    assert found[0].signer_name == "Trần Thị Bình"
    assert found[0].organization == "UBND Phường Bến Thành"


def _sign(service, key, pdf: bytes, level: Level, **extra):
    import asyncio

    request = SignRequest(level=level, appearance=Appearance.INVISIBLE, **extra)
    return asyncio.run(service.sign(key, [DocumentIn("doc.pdf", io.BytesIO(pdf))], request))


def _encrypted_pdf(tmp: Path) -> bytes:
    plain = _write(tmp, "plain.pdf", sample_pdf(1))
    encrypted = tmp / "encrypted.pdf"
    run_tool("qpdf", "--encrypt", "user", "owner", "256", "--", plain, encrypted)
    return encrypted.read_bytes()


def _broken_signature(service, official) -> bytes:
    signed = bytearray(sign_bytes(service, official, sample_pdf(1), level=Level.B_B)[0])
    position = signed.index(b"trang 1/1")
    signed[position] ^= 0x01
    return bytes(signed)


BAD_DOCUMENTS = {
    "not a pdf": (lambda tmp, svc, off: b"GIF89a not a PDF at all", "is not a PDF"),
    "truncated": (lambda tmp, svc, off: sample_pdf(1)[:300], "damaged"),
    "garbage after header": (lambda tmp, svc, off: b"%PDF-1.7\n" + b"\x00garbage" * 50, "damaged"),
    "xref offsets wrong": (
        lambda tmp, svc, off: sample_pdf(1).replace(b"trang 1/1", b"trang 1/1 (shifted)"),
        "damaged",
    ),
    "encrypted": (lambda tmp, svc, off: _encrypted_pdf(tmp), "encrypted"),
    "broken earlier signature": (lambda tmp, svc, off: _broken_signature(svc, off), "is broken"),
}


@pytest.mark.parametrize("case", list(BAD_DOCUMENTS))
def test_bad_documents_are_refused_with_the_reason(setup, case: str) -> None:
    _, service, official, _, _, tmp = setup
    make, expected = BAD_DOCUMENTS[case]
    key = service.keys.signing_key(official)
    with pytest.raises(ServiceError) as refused:
        _sign(service, key, make(tmp, service, official), Level.B_B)
    assert refused.value.kind is Kind.MALFORMED
    assert expected in refused.value.message


def test_one_bad_document_in_a_batch_signs_nothing(setup) -> None:
    import asyncio

    _, service, official, _, _, _ = setup
    key = service.keys.signing_key(official)
    documents = [
        DocumentIn("good.pdf", io.BytesIO(sample_pdf(1))),
        DocumentIn("bad.pdf", io.BytesIO(b"nope")),
    ]
    with pytest.raises(ServiceError, match=r"bad\.pdf is not a PDF"):
        asyncio.run(
            service.sign(key, documents, SignRequest(level=Level.B_B, appearance=Appearance.INVISIBLE))
        )


def test_a_document_over_the_limit_is_refused(setup) -> None:
    _, service, official, _, _, _ = setup
    key = service.keys.signing_key(official)
    limit, service.max_document_bytes = service.max_document_bytes, 10_000
    try:
        with pytest.raises(ServiceError) as refused:
            _sign(service, key, sample_pdf(1, payload_bytes=20_000), Level.B_B)
    finally:
        service.max_document_bytes = limit
    assert refused.value.kind is Kind.TOO_LARGE


@pytest.mark.parametrize("change", ["revoke", "suspend"])
def test_revoked_or_suspended_certificates_cannot_sign(setup, change: str) -> None:
    instance, service, _, _, _, _ = setup
    serial = issue_in_custody(instance, "citizen")
    with instance.db.transaction() as session:
        if change == "revoke":
            lifecycle.revoke(instance.ca, session, serial, reason="key-compromise")
        else:
            lifecycle.suspend(instance.ca, session, serial)
    with pytest.raises(ServiceError) as refused:
        service.keys.signing_key(serial)
    assert refused.value.kind is Kind.FORBIDDEN
    assert ("revoked" if change == "revoke" else "suspended") in refused.value.message


def test_service_certificates_and_keys_not_in_custody_cannot_sign(setup) -> None:
    instance, service, _, _, _, _ = setup
    with instance.db.reading() as session:
        from store.models import ServiceSigner

        tsa_serial = session.get(ServiceSigner, "tsa").certificate_serial
    with pytest.raises(ServiceError, match="not for signing documents"):
        service.keys.signing_key(tsa_serial)


def test_pdfsig_reports_an_untrusted_root_as_untrusted(setup, tmp_path: Path) -> None:
    """The pdfsig workaround (tests/support/pdfsig_shim.c) only clears stale errors after a success."""
    from tests.support.signing import nss_database as make_nss

    _, service, official, _, _, _ = setup
    path = _write(tmp_path, "signed.pdf", sign_bytes(service, official, sample_pdf(1), level=Level.B_B)[0])
    stranger = make_nss(tmp_path / "other-nss", b"")
    verdict = pdfsig(path, stranger)[0]
    assert verdict.signature_valid and not verdict.certificate_trusted
    assert "issuer" in verdict.raw.lower()


def test_an_expired_certificate_cannot_sign(tmp_path: Path) -> None:
    import datetime as dt

    from core.clock import FrozenClock

    clock = FrozenClock(dt.datetime.now(dt.UTC))
    instance = make_instance(tmp_path, f"sqlite:///{tmp_path / 'kyso.db'}", clock=clock)
    serial = issue_in_custody(instance, "citizen")
    clock.advance(days=3 * 365)
    with pytest.raises(ServiceError) as refused:
        signing_service(instance).keys.signing_key(serial)
    assert refused.value.kind is Kind.EXPIRED and "expired" in refused.value.message
    instance.db.dispose()
