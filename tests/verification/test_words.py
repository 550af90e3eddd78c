"""verification.words, the one mapping from verdicts to plain words: every sub-indication the code can
produce has a Vietnamese and an English sentence, an edit after signing reads as one, a failed integrity
leaves the chain "không đánh giá được", seals are the agency's, issuers lose asn1crypto's English labels."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from pyhanko.sign.ades.report import AdESFailure, AdESIndeterminate

from verification import render, words
from verification.pdf_report import body_lines
from verification.report import (
    Indication,
    IssuedRecord,
    Person,
    RevisionFacts,
    Revocation,
    SignatureReport,
    VerificationReport,
)

OFFICIAL = Person(
    "Trần Thị Bình", "CN=Trần Thị Bình", cccd="079185001235", organization="UBND Phường Bến Thành"
)
AGENCY = Person(
    "UBND Phường Bến Thành", "CN=UBND", tax_code="0300588569", organization="UBND Phường Bến Thành"
)
KYSO_CA = "Common Name: Kyso Government CA, Organization: Kyso Test PKI, Country: VN"


def _signature(**changes: object) -> SignatureReport:
    base = SignatureReport(
        field="Signature1", kind="signature", indication=Indication.TOTAL_PASSED, sub_indication=None,
        signer=OFFICIAL, issuer=KYSO_CA, signing_time="2026-11-23T09:00:00+07:00",
        signing_time_source="timestamp", timestamp=None, revocation=Revocation.EMBEDDED,
        revocation_checked_at=None, revoked_at=None, certificate_valid_from=None, certificate_valid_until=None,
        integrity=True, trusted=True, coverage="entire-revision", modification="none", pades_level="B-LT",
        certification=None, classic_valid=True,
    )  # fmt: skip
    return dataclasses.replace(base, **changes)


def _report(*signatures: SignatureReport, **changes: object) -> VerificationReport:
    report = VerificationReport(
        sha256="ab" * 32, size=1234, trust_list="Kyso", validated_at="2026-11-23T10:00:00+07:00",
        signatures=list(signatures),
    )  # fmt: skip
    return dataclasses.replace(report, **changes)


def _produced_sub_indications() -> set[str]:
    """Every sub-indication verification/ names in its code: the AdES enums' members it uses, and the
    names it writes as strings."""
    found = {m.name for m in AdESFailure} | {m.name for m in AdESIndeterminate}
    source = "\n".join(
        p.read_text() for p in Path(words.__file__).parent.glob("*.py") if p.name != "words.py"
    )
    found |= set(re.findall(r"AdES(?:Failure|Indeterminate)\.([A-Z_]+)", source))
    return found


def test_every_sub_indication_has_both_languages() -> None:
    produced = _produced_sub_indications()
    assert {"HASH_FAILURE", "SIG_CONSTRAINTS_FAILURE", "NO_CERTIFICATE_CHAIN_FOUND", "TRY_LATER"} <= produced
    missing = produced - set(words.SUB_INDICATION)
    assert not missing
    for name, (vi, en) in words.SUB_INDICATION.items():
        assert vi and en and vi != en, name
        assert vi.endswith(".") and en.endswith("."), name
    # and an unknown one still reads as a sentence, never a KeyError
    assert words.sub_indication("SOMETHING_NEW") == words.UNKNOWN_SUB_INDICATION


@pytest.mark.parametrize("level", ["none", "lta-updates", "form-filling", "annotations", "other"])
def test_every_modification_level_has_words(level: str) -> None:
    vi, en = words.MODIFICATION[level]
    assert vi and en
    assert words.changes_after(_signature(modification=level)) == (vi, en)


def test_every_revision_change_has_words() -> None:
    from verification import revisions

    changes = {getattr(revisions, n) for n in ("ORIGINAL", "SIGNATURE", "TIMESTAMP", "VALIDATION_DATA",
                                               "FORM_FILLING", "ANNOTATIONS", "CONTENT")}  # fmt: skip
    assert changes == set(words.REVISION_CHANGE)


def test_an_edit_after_signing_is_said_so_first() -> None:
    edited = _signature(indication=Indication.TOTAL_FAILED, sub_indication="SIG_CONSTRAINTS_FAILURE",
                        modification="other",
                        reasons=["the document was changed after signing in a way the signer did not allow"])  # fmt: skip
    assert words.reason(edited) == words.CHANGED_AFTER_SIGNING
    assert words.reason(edited)[0] == "Văn bản đã bị thay đổi sau khi ký."
    assert words.changes_after(edited)[0] == "Văn bản đã bị thay đổi sau khi ký"
    # the technical line has its Vietnamese too
    assert words.technical(edited.reasons[0])[0].startswith("văn bản đã bị thay đổi sau khi ký")
    # a constraint failure that is not an edit keeps its own sentence
    plain = dataclasses.replace(edited, modification="lta-updates")
    assert words.reason(plain) == words.SUB_INDICATION["SIG_CONSTRAINTS_FAILURE"]


def test_a_revision_that_changed_content_makes_the_reason_an_edit() -> None:
    """pyHanko may call a text form fill after signing allowed; the revisions say the content changed."""
    signature = _signature(
        indication=Indication.INDETERMINATE, sub_indication=None, modification="form-filling"
    )
    revisions = [
        RevisionFacts(1, 700, "a" * 64, "original", None, None),
        RevisionFacts(2, 30000, "b" * 64, "signature", "Signature1", 30000),
        RevisionFacts(3, 31000, "c" * 64, "content", None, None),
    ]
    report = _report(signature, revisions=revisions)
    assert words.reason(signature, report) == words.CHANGED_AFTER_SIGNING
    assert words.changes_after(signature, report)[0] == "Thay đổi nội dung văn bản"
    assert words.document_verdict(report) == (Indication.TOTAL_FAILED, words.CHANGED_AFTER_SIGNING)


def test_a_valid_approval_signature_over_an_edited_document_is_never_green() -> None:
    """An approval signature stays TOTAL-PASSED for the version it signed (ISO 32000-1 12.8); the document
    after a content change is not that version: the card is amber, the conclusion red, the reason first."""
    signature = _signature(modification="other")
    revisions = [
        RevisionFacts(1, 700, "a" * 64, "original", None, None),
        RevisionFacts(2, 30000, "b" * 64, "signature", "Signature1", 30000),
        RevisionFacts(3, 31000, "c" * 64, "validation-data", None, None),
        RevisionFacts(4, 32000, "d" * 64, "content", None, None),
    ]
    report = _report(signature, revisions=revisions)
    assert words.signature_verdict(signature, report) == (
        Indication.INDETERMINATE,
        words.VALID_FOR_SIGNED_VERSION,
    )
    assert words.document_verdict(report) == (Indication.TOTAL_FAILED, words.CHANGED_AFTER_SIGNING)
    text = render.text(report)
    assert "KẾT LUẬN / OVERALL: KHÔNG HỢP LỆ / invalid (TOTAL-FAILED)" in text
    assert "Lý do / Reason: Văn bản đã bị thay đổi sau khi ký." in text
    # a seal added after it instead is no edit: green
    sealed = [*revisions[:3], RevisionFacts(4, 40000, "e" * 64, "signature", "Signature2", 40000)]
    seal = _signature(field="Signature2", signer=AGENCY)
    report = _report(_signature(modification="form-filling"), seal, revisions=sealed)
    assert words.document_verdict(report) == (Indication.TOTAL_PASSED, None)


def test_a_flipped_byte_fails_integrity_and_leaves_the_chain_unjudged() -> None:
    flipped = _signature(indication=Indication.TOTAL_FAILED, sub_indication="HASH_FAILURE", integrity=False,
                         trusted=False, reasons=["the signed bytes were changed after signing"])  # fmt: skip
    assert words.integrity(flipped) == words.NO
    assert words.trusted(flipped) == words.NOT_JUDGED == ("không đánh giá được", "cannot be judged")
    assert words.changes_after(flipped) == words.NOT_JUDGED
    assert "không toàn vẹn" in words.reason(flipped)[0]
    lines = dict(render.signature_lines(1, flipped))
    assert lines["Chuỗi chứng thư tin cậy / Trusted chain"] == "không đánh giá được / cannot be judged"
    assert lines["Thu hồi / Revocation"].startswith("không đánh giá được")
    # an intact signature whose chain is not trusted still says NO
    untrusted = _signature(indication=Indication.INDETERMINATE, sub_indication="NO_CERTIFICATE_CHAIN_FOUND",
                           trusted=False)  # fmt: skip
    assert words.trusted(untrusted) == words.NO


def test_a_seal_is_the_agencys_and_named_once() -> None:
    seal = _signature(field="Signature2", signer=AGENCY)
    assert words.is_seal(seal) and not words.is_seal(_signature())
    assert words.kind(seal) == ("Dấu của cơ quan", "Agency seal")
    lines = render.signature_lines(2, seal)
    assert [value for _, value in lines].count("UBND Phường Bến Thành") == 1
    record = IssuedRecord("id1", "UBND Phường Bến Thành", "UBND Phường Bến Thành", None, "b-lt",
                          "2026-11-23T09:00:00+07:00")  # fmt: skip
    assert render.issued_line(record).count("UBND Phường Bến Thành") == 2  # once per language


def test_technical_lines_have_their_vietnamese() -> None:
    revoked = "the certificate was revoked on 2026-11-20T10:00:00+07:00, before the signing time"
    assert words.technical(revoked) == ("chứng thư đã bị thu hồi vào 2026-11-20T10:00:00+07:00", revoked)
    both = "no revocation data in the file and none fetched: not checked / không kiểm tra được tình trạng"
    vi, en = words.technical(both)
    assert vi.startswith("tệp không kèm dữ liệu thu hồi") and en.endswith("not checked")
    assert words.technical("something new / điều mới") == ("điều mới", "something new")
    assert words.technical("something new") == ("something new", "something new")


def test_issuers_lose_the_english_labels() -> None:
    assert words.issuer(KYSO_CA) == "Kyso Government CA (Kyso Test PKI, VN)"
    assert words.issuer("Organization: Bộ Công an, Country: VN") == "Bộ Công an (VN)"
    assert words.issuer("CN=odd") == "CN=odd"
    assert words.issuer(None) is None


def test_the_test_ca_notice_and_the_relation_reach_text_and_pdf_reports() -> None:
    seal = _signature(field="Signature2", signer=AGENCY)
    record = IssuedRecord("doc1", "Trần Thị Bình", "UBND Phường Bến Thành", "12/QĐ-UBND", "b-lt",
                          "2026-11-23T09:00:00+07:00", revision=2, relation="signed-after",
                          added_by=["UBND Phường Bến Thành"])  # fmt: skip
    report = _report(_signature(), seal, issued_by_us=[record], test_pki_fields=["Signature1", "Signature2"])
    text = render.text(report)
    assert "Chứng thư do CA thử nghiệm của Kyso cấp — không có giá trị pháp lý" in text
    assert "được đóng dấu sau đó bởi UBND Phường Bến Thành" in text
    assert "Common Name:" not in text
    pdf_lines = "\n".join(body_lines(report))
    assert "không có giá trị pháp lý" in pdf_lines and "được đóng dấu sau đó bởi" in pdf_lines


def test_one_tone_mark_style() -> None:
    """The modern placement (hoà, khoá, huỷ) in every word the verdicts and the pages use."""
    old = re.compile(r"(?i)(?<![qg])(òa|óa|ỏa|õa|ọa|òe|óe|ỏe|õe|ọe|ùy|úy|ủy|ũy|ụy)(?![a-zàáảãạăâêôơưđ])")
    from api.pages import i18n

    texts = [w for pair in i18n.CATALOGUE.values() for w in pair]
    for table in (
        words.SUB_INDICATION,
        words.MODIFICATION,
        words.REVISION_CHANGE,
        words.RELATION,
        words.ISSUED,
    ):
        texts += [w for pair in table.values() for w in pair]
    assert not [t for t in texts if old.search(t)]
