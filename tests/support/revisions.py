"""Documents with a history, for the tests of revisions: an official signs (a visible stamp whose QR names
the document), the agency seals the signed file; the same signed file edited after signing, with one byte
flipped, and signed again without being registered."""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from signing import registry
from signing.pades import Level
from signing.service import Appearance, DocumentIn, SignRequest
from tests.conftest import Instance
from tests.support.pdfs import sample_pdf
from tests.support.signing import issue_in_custody, issue_seal, signing_service


@dataclass(frozen=True)
class Documents:
    signed: bytes  # by the official, registered (revision 1)
    first_id: str
    sealed: bytes  # the signed file sealed by the agency, registered (revision 2)
    seal_id: str
    edited: bytes  # the signed file with a line of text added by an incremental update
    flipped: bytes  # the signed file with one byte of its content changed
    cosigned: bytes  # the signed file signed again by Kyso, NOT registered


def add_text_after_signing(pdf: bytes, text: bytes = b"Them mot dong sau khi ky") -> bytes:
    """An incremental update that adds a line of text to page 1 (what a forger's editor does)."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    page = writer.root["/Pages"]["/Kids"][0].get_object()
    line = writer.add_object(
        generic.StreamObject(stream_data=b"BT /F1 14 Tf 72 700 Td (" + text + b") Tj ET")
    )
    page["/Contents"] = generic.ArrayObject([page["/Contents"], line])
    writer.update_container(page)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def sign_and_seal(instance: Instance, *, register_cosigned: bool = False) -> Documents:
    service = signing_service(instance)

    def sign(serial: str, pdf: bytes, appearance: Appearance, register: bool = True):
        key = service.keys.signing_key(serial)
        request = SignRequest(level=Level.B_LT, appearance=appearance)
        [out] = asyncio.run(service.sign(key, [DocumentIn("qd.pdf", io.BytesIO(pdf))], request))
        if register:
            with instance.db.transaction() as session:
                registry.record(session, out.record, None)
        return out.output.read(), out.record.id

    signed, first_id = sign(
        issue_in_custody(instance, "official"), sample_pdf(1), Appearance.parse("official")
    )
    sealed, seal_id = sign(issue_seal(instance), signed, Appearance.SEAL)
    cosigned, _ = sign(
        issue_in_custody(instance, "official"), signed, Appearance.INVISIBLE, register_cosigned
    )
    flipped = signed.replace(b"trang 1/1", b"trang 2/1", 1)
    assert flipped != signed
    return Documents(signed, first_id, sealed, seal_id, add_text_after_signing(signed), flipped, cosigned)
