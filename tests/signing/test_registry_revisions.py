"""The registry knows every signed revision of a document: an official signs, the agency seals the signed
file, and the sealed output is revision 2 of the first document (same id), found by its hash."""

from __future__ import annotations

import asyncio
import io

import pytest

from signing import registry
from signing.pades import Level
from signing.service import Appearance, DocumentIn, SignRequest
from tests.conftest import make_instance
from tests.support.pdfs import sample_pdf
from tests.support.signing import issue_in_custody, issue_seal, signing_service


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("revisions")
    instance = make_instance(tmp, f"sqlite:///{tmp / 'kyso.db'}")
    yield instance, signing_service(instance)
    instance.db.dispose()


def _sign(instance, service, serial: str, pdf: bytes, appearance: Appearance):
    key = service.keys.signing_key(serial)
    request = SignRequest(level=Level.B_T, appearance=appearance)
    [out] = asyncio.run(service.sign(key, [DocumentIn("d.pdf", io.BytesIO(pdf))], request))
    with instance.db.transaction() as session:
        revision = registry.record(session, out.record, None)
    return out.output.read(), out.record, revision


def test_a_seal_over_a_registered_file_is_its_next_revision(world) -> None:
    instance, service = world
    signed, first, one = _sign(instance, service, issue_in_custody(instance, "official"), sample_pdf(1),
                               Appearance.parse("official"))  # fmt: skip
    sealed, seal, two = _sign(instance, service, issue_seal(instance), signed, Appearance.SEAL)
    assert (one.document_id, one.number) == (first.id, 1)
    assert (two.document_id, two.number) == (first.id, 2)
    assert sealed.startswith(signed)
    with instance.db.reading() as session:
        revisions = registry.revisions(session, first.id)
        assert [(r.number, r.sha256, r.size) for r in revisions] == [
            (1, first.sha256, len(signed)),
            (2, seal.sha256, len(sealed)),
        ]
        assert revisions[1].signed.kind == "seal"
        [found] = registry.revisions_with_hashes(session, [seal.sha256, "0" * 64])
        assert (found.document_id, found.number, found.signed.id) == (first.id, 2, seal.id)
        # the seal's own row stays: the QR on the seal's stamp names it
        assert registry.find(session, seal.id) is not None
        assert registry.revisions(session, "unknown") == []
    # sealing the sealed file again is revision 3 of the same document
    *_, three = _sign(instance, service, issue_seal(instance), sealed, Appearance.INVISIBLE)
    assert (three.document_id, three.number) == (first.id, 3)
    # a second seal over the official's file is a sibling of the first: it extends revision 1 only
    *_, four = _sign(instance, service, issue_seal(instance), signed, Appearance.INVISIBLE)
    assert (four.document_id, four.number, four.previous_size) == (first.id, 4, len(signed))
    with instance.db.reading() as session:
        history = registry.revisions(session, first.id)
    by_number = {r.number: r for r in history}
    assert [r.number for r in registry.ancestors(history, by_number[3])] == [2, 1]
    assert [r.number for r in registry.ancestors(history, by_number[4])] == [1]
    assert registry.ancestors(history, by_number[1]) == []


def test_an_unrelated_document_starts_its_own_history(world) -> None:
    instance, service = world
    _, record, revision = _sign(instance, service, issue_in_custody(instance, "official"), sample_pdf(2),
                                Appearance.INVISIBLE)  # fmt: skip
    assert (revision.document_id, revision.number) == (record.id, 1)
    with instance.db.reading() as session:
        assert [r.number for r in registry.revisions(session, record.id)] == [1]
