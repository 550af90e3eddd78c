"""verification.revisions without a database: prefix hashes in one pass, the relation of an upload to a
registered file by its revisions, the signed version's end, and files it cannot take apart."""

from __future__ import annotations

import dataclasses
import hashlib

from tests.support.pdfs import sample_pdf
from verification import revisions
from verification.report import (
    Indication,
    Person,
    RevisionFacts,
    Revocation,
    SignatureReport,
    VerificationReport,
)


def _signature(field: str, name: str) -> SignatureReport:
    return SignatureReport(
        field=field, kind="signature", indication=Indication.TOTAL_PASSED, sub_indication=None,
        signer=Person(name, f"CN={name}"), issuer=None, signing_time=None, signing_time_source="none",
        timestamp=None, revocation=Revocation.EMBEDDED, revocation_checked_at=None, revoked_at=None,
        certificate_valid_from=None, certificate_valid_until=None, integrity=True, trusted=True,
        coverage="entire-revision", modification="form-filling", pades_level="B-LT", certification=None,
        classic_valid=True,
    )  # fmt: skip


def _report(data: bytes, facts: list[RevisionFacts]) -> VerificationReport:
    return VerificationReport(
        sha256=hashlib.sha256(data).hexdigest(), size=len(data), trust_list="Kyso", validated_at="",
        signatures=[_signature("Signature1", "Trần Thị Bình"), _signature("Signature2", "UBND Phường Bến Thành")],
        revisions=facts,
    )  # fmt: skip


def test_prefix_hashes_are_the_hashes_of_the_prefixes() -> None:
    data = bytes(range(256)) * 40
    ends = [1, 100, 5000, len(data)]
    assert revisions.prefix_hashes(data, ends) == [hashlib.sha256(data[:e]).hexdigest() for e in ends]


def test_the_relation_follows_the_later_revisions() -> None:
    data = b"x" * 4000
    h = revisions.prefix_hashes(data, [100, 1000, 1500, 3000, 4000])
    facts = [
        RevisionFacts(1, 100, h[0], revisions.ORIGINAL, None, None),
        RevisionFacts(2, 1000, h[1], revisions.SIGNATURE, "Signature1", 1000),
        RevisionFacts(3, 1500, h[2], revisions.VALIDATION_DATA, None, None),
        RevisionFacts(4, 3000, h[3], revisions.SIGNATURE, "Signature2", 3000),
        RevisionFacts(5, 4000, h[4], revisions.VALIDATION_DATA, None, None),
    ]
    report = _report(data, facts)
    # the registered file is revisions 1-3 (the official's signature and its DSS)
    assert revisions.relation(report, h[2], 1500) == (revisions.SIGNED_AFTER, ["UBND Phường Bến Thành"])
    assert revisions.relation(report, h[4], 4000) == (revisions.SAME, [])
    assert revisions.relation(report, h[3], 3000) == (revisions.VALIDATION_ADDED, [])
    assert revisions.relation(report, h[2], 1501) is None  # the size must match too
    assert revisions.relation(report, "0" * 64, 1500) is None
    edited = [
        *facts[:3],
        dataclasses.replace(facts[3], change=revisions.CONTENT, field=None, signed_until=None),
    ]
    assert revisions.relation(_report(data, edited), h[2], 1500) == (revisions.CHANGED_AFTER, [])
    # the version the official signed: its ByteRange and the DSS written with it
    assert revisions.signed_version_end(facts, "Signature1") == 1500
    assert revisions.signed_version_end(facts, "Signature2") == 4000
    assert revisions.signed_version_end(facts, "Nope") is None
    assert revisions.signed_revision(data, facts, "Signature1") == data[:1500]


def test_files_it_cannot_take_apart_have_no_revisions() -> None:
    assert revisions.analyse(sample_pdf(1)) == []  # one revision: nothing to say
    assert revisions.analyse(b"%PDF-1.7\n" + b"\x00" * 500) == []
    assert revisions.analyse(b"") == []
    pdf = sample_pdf(1)
    appended = pdf + b"garbage after the end\n%%EOF\n"
    assert revisions.analyse(appended) == []  # still one xref section
