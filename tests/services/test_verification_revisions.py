"""Revisions first-class: an official signs (a stamp whose QR names the document), the agency seals the
signed file; the sealed file is recognised as the registered document sealed afterwards, an edit after
signing as a change, a flipped byte as another file. Through services.verification, as the pages call it."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest

from services import verification
from services.root import Kyso
from signing import registry
from tests.conftest import Instance
from tests.support.revisions import Documents, sign_and_seal
from verification import revisions, words
from verification.report import Indication

AGENCY = "UBND Phường Bến Thành"


@pytest.fixture(scope="module")
def kyso(shared_instance: Instance) -> Iterator[Kyso]:
    yield Kyso(shared_instance.settings, shared_instance.ca.clock, shared_instance.runtime)


@pytest.fixture(scope="module")
def documents(shared_instance: Instance) -> Documents:
    return sign_and_seal(shared_instance)


def test_the_sealed_file_is_the_registered_document_sealed_afterwards(
    kyso: Kyso, documents: Documents
) -> None:
    report = verification.verify(kyso, documents.sealed)
    assert report.all_passed
    [issued] = report.issued_by_us
    assert (issued.id, issued.revision, issued.relation) == (documents.first_id, 2, "signed-after")
    assert issued.added_by == [AGENCY] and issued.registered_id == documents.seal_id
    assert issued.signer_name == "Trần Thị Bình"  # the document as first signed
    assert issued.registered_size == len(documents.signed)
    # at the official's QR: the document signed there, sealed afterwards; at the seal's own QR: the same file
    at_first = verification.relation_to(kyso, report, documents.first_id)
    assert (at_first.kind, at_first.added_by, at_first.revision) == ("signed-after", [AGENCY], 1)
    assert verification.relation_to(kyso, report, documents.seal_id).kind == "same"
    # the words: the official's signature was followed by the agency's seal, not "form filling"
    official, seal = report.signatures
    assert words.changes_after(official, report)[0] == (
        "Bổ sung dữ liệu kiểm tra dài hạn; Thêm chữ ký hoặc dấu (UBND Phường Bến Thành)"
    )
    assert words.kind(seal)[0] == "Dấu của cơ quan"
    assert set(report.test_pki_fields) == {official.field, seal.field}
    # the version the official signed, out of the sealed file, is the registered file byte for byte
    version = revisions.signed_revision(documents.sealed, report.revisions, official.field)
    assert version == documents.signed
    with kyso.db.reading() as session:
        first = registry.find(session, documents.first_id)
    assert first is not None and hashlib.sha256(version).hexdigest() == first.sha256


def test_the_signed_file_at_the_seals_qr_is_the_earlier_version(kyso: Kyso, documents: Documents) -> None:
    report = verification.verify(kyso, documents.signed)
    [issued] = report.issued_by_us
    assert (issued.id, issued.revision, issued.relation) == (documents.first_id, 1, "same")
    assert verification.relation_to(kyso, report, documents.first_id).kind == "same"
    assert verification.relation_to(kyso, report, documents.seal_id).kind == "earlier"


def test_a_later_signature_kyso_did_not_register_is_recognised_by_its_bytes(
    kyso: Kyso, documents: Documents
) -> None:
    report = verification.verify(kyso, documents.cosigned)
    [issued] = report.issued_by_us
    assert (issued.id, issued.revision, issued.relation) == (documents.first_id, 1, "signed-after")
    assert issued.added_by == ["Trần Thị Bình"]


def test_an_edit_after_signing_is_a_change_not_the_document(kyso: Kyso, documents: Documents) -> None:
    report = verification.verify(kyso, documents.edited)
    [issued] = report.issued_by_us
    assert (issued.id, issued.relation) == (documents.first_id, "changed-after")
    assert verification.relation_to(kyso, report, documents.first_id).kind == "changed-after"
    [signature] = report.signatures
    assert words.reason(signature, report) == words.CHANGED_AFTER_SIGNING
    assert words.document_verdict(report) == (Indication.TOTAL_FAILED, words.CHANGED_AFTER_SIGNING)
    assert report.revisions[-1].change == revisions.CONTENT


def test_a_flipped_byte_is_another_file_whose_integrity_failed(kyso: Kyso, documents: Documents) -> None:
    report = verification.verify(kyso, documents.flipped)
    assert report.issued_by_us == []
    assert verification.relation_to(kyso, report, documents.first_id).kind == "different"
    [signature] = report.signatures
    assert signature.sub_indication == "HASH_FAILURE"
    assert words.trusted(signature) == words.NOT_JUDGED and words.integrity(signature) == words.NO


def test_an_unknown_id_is_not_found(kyso: Kyso, documents: Documents) -> None:
    from core.errors import Kind, ServiceError

    report = verification.verify(kyso, documents.signed)
    with pytest.raises(ServiceError) as refused:
        verification.relation_to(kyso, report, "no-such-document")
    assert refused.value.kind is Kind.NOT_FOUND
