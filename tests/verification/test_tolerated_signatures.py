"""Signatures as other tools make them, rebuilt here byte for byte so the cases run without the corpus
(tests/verification/test_real_world_corpus.py meets the originals): what pdfsig and other readers accept
must give a report with the signer and the right integrity, never a traceback, a Python error string or a
failure for something the standard allows.

Each case signs a sample PDF with pyHanko under a throwaway self-signed key the test holds, then rewrites
the CMS in place (the /Contents slot is outside the signed byte ranges) or appends an update:

* an encapsulated content field present but empty (the Mobile-ID / CloudFCA case of issue 18);
* a signature algorithm's OID given as ``digestAlgorithm``;
* signed attributes in non-DER order (re-signed over the bytes as encoded);
* a field name with a period, a dangling reference in a later revision;
* an approval signature followed by a change pyHanko calls OTHER (warned, not failed);
* report serialisation: a field name that is pyHanko's TextStringObject stays out of the report.
"""

from __future__ import annotations

import asyncio
import binascii
import datetime as dt
import hashlib
import io
import json
import logging
import pickle
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from asn1crypto import cms, keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import signers
from pyhanko.sign.fields import enumerate_sig_fields
from pyhanko.sign.signers.cms_embedder import PdfCMSEmbedder, SigIOSetup, SigObjSetup
from pyhanko_certvalidator.registry import SimpleCertificateStore

from tests.conftest import kyso, make_instance
from tests.support.pdfs import sample_pdf
from verification.isolation import verify_bounded
from verification.report import Indication, VerificationReport, detached
from verification.trust import TrustStore
from verification.validate import Verifier

NOT_ANALYSED = "could not be analysed"
UNRESTRICTED = "approval signature (no certification, no field lock) allows later updates"


class Holder:
    """A self-signed RSA certificate and its key, as a signer outside Kyso's CA holds them."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Nguyễn Văn Ngoài")])
        now = dt.datetime.now(dt.UTC)
        certificate = (
            x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )  # fmt: skip
        self.der = certificate.public_bytes(serialization.Encoding.DER)
        asn1_cert = asn1_x509.Certificate.load(self.der)
        private = self.key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        self.signer = signers.SimpleSigner(
            signing_cert=asn1_cert,
            signing_key=keys.PrivateKeyInfo.load(private),
            cert_registry=SimpleCertificateStore.from_certs([asn1_cert]),
        )
        self.trust = TrustStore.from_der("test", [self.der])

    def sign(self, pdf: bytes, field: str = "Signature1") -> bytes:
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
        meta = signers.PdfSignatureMetadata(field_name=field)
        return signers.sign_pdf(writer, meta, signer=self.signer).getvalue()


@pytest.fixture(scope="module")
def holder() -> Holder:
    return Holder()


@pytest.fixture(scope="module")
def signed(holder: Holder) -> bytes:
    return holder.sign(sample_pdf(1))


def check(holder: Holder, data: bytes) -> VerificationReport:
    return asyncio.run(Verifier(holder.trust).verify(data))


def rewrite_cms(pdf: bytes, mutate: Callable[[cms.ContentInfo], None]) -> bytes:
    """The last signature's CMS changed by ``mutate``, written back into its /Contents slot (same size)."""
    reader = PdfFileReader(io.BytesIO(pdf))
    *_, (_, _, ref) = enumerate_sig_fields(reader, filled_status=True)
    start, length, end, _ = (int(n) for n in ref.get_object()["/V"]["/ByteRange"])
    slot = pdf[start + length + 1 : end - 1]
    message = cms.ContentInfo.load(binascii.unhexlify(slot))
    mutate(message)
    encoded = binascii.hexlify(message.dump()).upper()
    assert len(encoded) <= len(slot)
    return pdf[: start + length + 1] + encoded.ljust(len(slot), b"0") + pdf[end - 1 :]


def pdfsig_validation(tmp_path: Path, data: bytes) -> list[str]:
    path = tmp_path / "doc.pdf"
    path.write_bytes(data)
    out = subprocess.run(["pdfsig", "-nocert", str(path)], capture_output=True, text=True).stdout
    return [line.split(":", 1)[1].strip() for line in out.splitlines() if "Signature Validation:" in line]


def assert_sound(report: VerificationReport, fields: int = 1) -> None:
    """Every signature read, its integrity established and its signer named; only trust is open (no
    revocation data), and no reason or warning says the signature was unreadable."""
    assert len(report.signatures) == fields
    for signature in report.signatures:
        assert signature.integrity, signature.reasons
        assert signature.signer is not None and signature.signer.name == "Nguyễn Văn Ngoài"
        assert signature.indication is Indication.INDETERMINATE and signature.sub_indication == "TRY_LATER"
        assert not any("cannot be" in line for line in signature.reasons + signature.warnings)


def test_an_empty_encapsulated_content_is_no_content(holder: Holder, signed: bytes, tmp_path: Path) -> None:
    """Mobile-ID (CloudFCA) writes eContent as an empty OCTET STRING in a detached signature: pdfsig and
    openssl verify it; Kyso said TOTAL-FAILED / FORMAT_FAILURE with no signer."""

    def empty(message: cms.ContentInfo) -> None:
        message["content"]["encap_content_info"]["content"] = b""

    data = rewrite_cms(signed, empty)
    content = cms.ContentInfo.load(binascii.unhexlify(data.split(b"/Contents <")[1].split(b">")[0]))
    assert content["content"]["encap_content_info"]["content"].contents == b""  # present, and empty
    assert pdfsig_validation(tmp_path, data) == ["Signature is Valid."]
    assert_sound(check(holder, data))


def test_content_inside_a_detached_signature_fails_naming_the_signer(holder: Holder, signed: bytes) -> None:
    """Non-empty eContent in an adbe.pkcs7.detached signature is a format failure (pyHanko's
    pdf-sig-with-econtent.pdf); the report says so in a sentence and still names who signed."""

    def with_content(message: cms.ContentInfo) -> None:
        message["content"]["encap_content_info"]["content"] = b"not the document"

    [signature] = check(holder, rewrite_cms(signed, with_content)).signatures
    assert signature.indication is Indication.TOTAL_FAILED and signature.sub_indication == "FORMAT_FAILURE"
    assert signature.signer is not None and signature.signer.name == "Nguyễn Văn Ngoài"
    assert signature.reasons == [
        "the signature cannot be validated: it carries the signed content inside the CMS, which a detached "
        "PDF signature must not"
    ]


def test_a_signature_algorithm_given_as_the_digest_algorithm(holder: Holder, signed: bytes) -> None:
    """digestAlgorithm = sha256WithRSAEncryption: the reason was "module 'cryptography.hazmat.primitives.hashes'
    has no attribute '1.2.840.113549.1.1.11'"."""

    def as_signature_oid(message: cms.ContentInfo) -> None:
        message["content"]["signer_infos"][0]["digest_algorithm"] = {"algorithm": "1.2.840.113549.1.1.11"}

    assert_sound(check(holder, rewrite_cms(signed, as_signature_oid)))


def test_signed_attributes_in_non_der_order_verify_over_their_encoding(holder: Holder, signed: bytes) -> None:
    def unsorted(message: cms.ContentInfo) -> None:
        signer_info = message["content"]["signer_infos"][0]
        encoded = sorted((attribute.dump() for attribute in signer_info["signed_attrs"]), reverse=True)
        body = b"".join(encoded)
        as_set = b"\x31" + _der_length(len(body)) + body
        signer_info["signed_attrs"] = cms.CMSAttributes.load(as_set)
        signer_info["signature"] = holder.key.sign(as_set, padding.PKCS1v15(), hashes.SHA256())

    data = rewrite_cms(signed, unsorted)
    reader = PdfFileReader(io.BytesIO(data))
    [(_, value, _)] = list(enumerate_sig_fields(reader, filled_status=True))
    message = cms.ContentInfo.load(bytes(value.get_object()["/Contents"]))
    kept = [attribute.dump() for attribute in message["content"]["signer_infos"][0]["signed_attrs"]]
    assert kept != sorted(kept)  # the file really holds them out of DER order
    assert_sound(check(holder, data))


def _der_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    encoded = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(encoded)]) + encoded


def test_field_names_with_a_period(holder: Holder) -> None:
    """A field named "Ký.số" in the document itself (one /T with a period), and pyHanko's "Chu.ky"."""
    writer = IncrementalPdfFileWriter(io.BytesIO(sample_pdf(1)))
    page = writer.root["/Pages"]["/Kids"][0]
    widget = generic.DictionaryObject(
        {
            generic.NameObject("/FT"): generic.NameObject("/Sig"),
            generic.NameObject("/T"): generic.TextStringObject("Ký.số"),
            generic.NameObject("/Type"): generic.NameObject("/Annot"),
            generic.NameObject("/Subtype"): generic.NameObject("/Widget"),
            generic.NameObject("/Rect"): generic.ArrayObject([generic.NumberObject(0)] * 4),
            generic.NameObject("/F"): generic.NumberObject(132),
            generic.NameObject("/P"): writer.root["/Pages"].raw_get("/Kids")[0],
        }
    )
    ref = writer.add_object(widget)
    page["/Annots"] = generic.ArrayObject([ref])
    writer.update_container(page)
    writer.root["/AcroForm"] = generic.DictionaryObject(
        {
            generic.NameObject("/Fields"): generic.ArrayObject([ref]),
            generic.NameObject("/SigFlags"): generic.NumberObject(3),
        }
    )
    writer.update_root()
    out = io.BytesIO()
    writer.write(out)
    report = check(holder, holder.sign(out.getvalue(), field="Ký.số"))
    assert_sound(report)
    assert report.signatures[0].field == "Ký.số"
    nested = check(holder, holder.sign(sample_pdf(1), field="Chu.ky"))
    assert_sound(nested)
    assert nested.signatures[0].field == "Chu.ky"


def test_a_dangling_reference_after_the_signature_is_the_null_object(holder: Holder, signed: bytes) -> None:
    """A later revision adds an annotation whose /Popup names an object no section defines: the
    difference analysis runs (it raised KeyError before, and the signature failed as unreadable)."""
    writer = IncrementalPdfFileWriter(io.BytesIO(signed))
    page = writer.root["/Pages"]["/Kids"][0]
    note = generic.DictionaryObject(
        {
            generic.NameObject("/Type"): generic.NameObject("/Annot"),
            generic.NameObject("/Subtype"): generic.NameObject("/Text"),
            generic.NameObject("/Rect"): generic.ArrayObject([generic.NumberObject(0)] * 4),
            generic.NameObject("/Contents"): generic.TextStringObject("ghi chú"),
            generic.NameObject("/Popup"): generic.IndirectObject(9999, 0, writer),
        }
    )
    page["/Annots"] = generic.ArrayObject([writer.add_object(note)])
    writer.update_container(page)
    out = io.BytesIO()
    writer.write(out)
    report = check(holder, out.getvalue())
    assert_sound(report)
    [signature] = report.signatures
    assert signature.modification is not None
    assert not any(NOT_ANALYSED in w for w in signature.warnings), signature.warnings


def test_a_prev_pointing_at_no_section_is_rebuilt_from_the_nearest_one(holder: Holder, signed: bytes) -> None:
    """An unsigned update after the signature whose trailer says /Prev 0 (EU DSS's pades-5-signatures file
    has that): pyHanko sought to a negative offset and the file was refused as damaged."""
    writer = IncrementalPdfFileWriter(io.BytesIO(signed))
    writer.root["/Lang"] = generic.TextStringObject("vi-VN")
    writer.update_root()
    out = io.BytesIO()
    writer.write(out)
    updated = out.getvalue()
    tail = updated.rindex(b"/Prev ")
    digits = updated[tail + 6 :].split(maxsplit=1)[0]
    broken = updated[: tail + 6] + b"0".ljust(len(digits)) + updated[tail + 6 + len(digits) :]
    assert len(broken) == len(updated) and b"/Prev 0" in broken[tail:]
    report = check(holder, broken)
    assert_sound(report)
    assert report.signatures[0].coverage == "entire-revision"  # the update after it was found again


@pytest.mark.parametrize("shift", [10, 100_000])
def test_a_last_startxref_pointing_at_no_section_is_the_last_section(
    holder: Holder, signed: bytes, shift: int
) -> None:
    """An unsigned update after the signature whose final startxref points inside its xref table or past
    the end (EU DSS's pdf-signed-corrupted and pades_infinite_loop files): the last section is read."""
    writer = IncrementalPdfFileWriter(io.BytesIO(signed))
    writer.root["/Lang"] = generic.TextStringObject("vi-VN")
    writer.update_root()
    out = io.BytesIO()
    writer.write(out)
    updated = out.getvalue()
    at = updated.rindex(b"startxref") + len(b"startxref")
    declared = updated[at:].split()[0]
    broken = updated[:at] + updated[at:].replace(declared, str(int(declared) + shift).encode(), 1)
    report = check(holder, broken)
    assert_sound(report)
    assert report.signatures[0].coverage == "entire-revision"


def pkcs7_sha1(holder: Holder, pdf: bytes, workdir: Path, *, tamper: bool = False) -> bytes:
    """A legacy adbe.pkcs7.sha1 signature as Acrobat 5-era tools made it: `openssl cms -sign -nodetach`
    over the SHA-1 digest of the byte ranges (the digest travels inside the CMS), placed by pyHanko's
    PdfCMSEmbedder. ``tamper``: the digest signed is of other bytes."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    embedder = PdfCMSEmbedder().write_cms(field_name="Legacy", writer=writer)
    next(embedder)
    placeholder = signers.SignatureObject(bytes_reserved=8192)
    placeholder[generic.NameObject("/SubFilter")] = generic.NameObject("/adbe.pkcs7.sha1")
    embedder.send(SigObjSetup(sig_placeholder=placeholder))
    prepared, output = embedder.send(SigIOSetup(md_algorithm="sha1", in_place=False))
    document = output.getvalue()
    signed = document[: prepared.reserved_region_start] + document[prepared.reserved_region_end :]
    (workdir / "digest.bin").write_bytes(hashlib.sha1(signed + (b"x" if tamper else b"")).digest())
    (workdir / "key.pem").write_bytes(
        holder.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    (workdir / "cert.pem").write_bytes(
        x509.load_der_x509_certificate(holder.der).public_bytes(serialization.Encoding.PEM)
    )
    subprocess.run(
        ["openssl", "cms", "-sign", "-binary", "-nodetach", "-outform", "DER", "-md", "sha1",
         "-in", workdir / "digest.bin", "-signer", workdir / "cert.pem", "-inkey", workdir / "key.pem",
         "-out", workdir / "cms.der"],
        check=True, capture_output=True,
    )  # fmt: skip
    embedder.send((workdir / "cms.der").read_bytes())
    return output.getvalue()


def test_a_legacy_adbe_pkcs7_sha1_signature_is_checked(holder: Holder, tmp_path: Path) -> None:
    """pyHanko does not validate adbe.pkcs7.sha1 (it raised "not a recognized SubFilter"); pdfsig does,
    and so does Kyso now: the encapsulated digest must be the byte ranges' SHA-1."""
    data = pkcs7_sha1(holder, sample_pdf(1), tmp_path)
    assert pdfsig_validation(tmp_path, data) == ["Signature is Valid."]
    [signature] = check(holder, data).signatures
    assert (
        signature.integrity and signature.signer is not None and signature.signer.name == "Nguyễn Văn Ngoài"
    )
    assert signature.coverage == "entire-file" and signature.pades_level is None
    assert signature.indication is not Indication.TOTAL_PASSED  # SHA-1 digest: the policy fails it
    assert any("SHA-1" in reason for reason in signature.reasons), signature.reasons
    [forged] = check(holder, pkcs7_sha1(holder, sample_pdf(1), tmp_path, tamper=True)).signatures
    assert forged.indication is Indication.TOTAL_FAILED and forged.sub_indication == "HASH_FAILURE"
    assert not forged.integrity


def replace_first_page(pdf: bytes) -> bytes:
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    page = writer.root["/Pages"]["/Kids"][0]
    forged = b"BT /F1 14 Tf 72 760 Td (Quyet dinh GIA MAO) Tj ET"
    page["/Contents"] = writer.add_object(generic.StreamObject(stream_data=forged))
    writer.update_container(page)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_an_approval_signature_is_warned_not_failed_for_later_changes(holder: Holder, signed: bytes) -> None:
    """ISO 32000-1 lets any update follow an approval signature: pyHanko's OTHER is a warning that only
    the signed revision is what was signed (a certification signature still fails: test_validate.py)."""
    [signature] = check(holder, replace_first_page(signed)).signatures
    assert signature.modification == "other" and signature.certification is None
    assert signature.sub_indication == "TRY_LATER" and signature.integrity
    assert any(UNRESTRICTED in w for w in signature.warnings), signature.warnings
    [second] = check(holder, holder.sign(signed, field="Signature2")).signatures[:1]
    assert second.modification == "form-filling" and not any(UNRESTRICTED in w for w in second.warnings)


def test_the_report_holds_plain_strings_and_is_built_in_the_child(holder: Holder, signed: bytes) -> None:
    """pyHanko's field name is a TextStringObject tied to the parsed PDF: kept in the report it made
    pickling and ``as_json`` copy the whole document (lt-short.pdf: 80 s, 1.8 GB in the parent)."""
    in_process = check(holder, signed)
    assert type(in_process.signatures[0].field) is str
    bounded = verify_bounded(Verifier(holder.trust), signed)
    assert bounded.as_json() == in_process.as_json() | {"validated_at": bounded.as_json()["validated_at"]}
    assert len(pickle.dumps(bounded)) < 20_000
    tied = detached(in_process)
    assert tied == in_process and len(pickle.dumps(tied)) < 20_000
    json.dumps(bounded.as_json())  # only built-in values
    assert bounded.as_json()["signatures"][0]["indication"] == "INDETERMINATE"


def test_pyhankos_log_lines_reach_the_service_log_at_debug_without_tracebacks(
    holder: Holder, signed: bytes
) -> None:
    """The service's log handlers sit on the root logger: pyHanko's warnings (with tracebacks) about what
    it tolerated reach them only as DEBUG lines of ``verification.pyhanko``, without exception information."""
    seen: list[logging.LogRecord] = []
    collect = logging.Handler(logging.DEBUG)
    collect.emit = seen.append  # type: ignore[method-assign,assignment]
    root = logging.getLogger()
    level = root.level
    root.addHandler(collect)
    root.setLevel(logging.DEBUG)
    try:
        check(holder, replace_first_page(signed))
    finally:
        root.removeHandler(collect)
        root.setLevel(level)
    mine = [r for r in seen if r.name == "verification.pyhanko"]
    assert mine and all(r.levelno == logging.DEBUG for r in mine)
    assert any("pyhanko.sign.diff_analysis" in r.getMessage() for r in mine)
    assert not [r for r in seen if r.name.startswith("pyhanko")]
    assert not [r for r in seen if r.exc_info and r.levelno > logging.DEBUG]


@pytest.fixture(scope="module")
def instance(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("tolerated-cli")
    made = make_instance(tmp, f"sqlite:///{tmp / 'kyso.db'}")
    yield made
    made.db.dispose()


def test_kyso_verify_prints_no_library_traceback(
    holder: Holder, signed: bytes, instance, tmp_path: Path
) -> None:
    """pyHanko logs what it tolerates as warnings with tracebacks (here: the replaced page after an approval
    signature); even with --verbose, `kyso verify` prints the report and no traceback."""
    path = tmp_path / "changed.pdf"
    path.write_bytes(replace_first_page(signed))
    for args in (("verify", path), ("--verbose", "verify", path), ("verify", path, "--json")):
        result = kyso(instance, *args)
        assert result.returncode == 1, (args, result.stderr)
        assert "Traceback" not in result.stderr and "Traceback" not in result.stdout, (args, result.stderr)
        assert "SuspiciousModification" not in result.stderr, (args, result.stderr)
