"""The registry of documents Kyso signed: what a stamp's QR code and the verification page point at.

A document keeps its id through its revisions: when Kyso signs or seals a file it registered before (the
input's hash is a registered output's), the new output is recorded as the next revision of the first
document (``signed_revisions``), whose bytes are a prefix of it. Every signature keeps its own row too, for
the QR on its own stamp."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import asdict, dataclass

from sqlalchemy.orm import Session

from core.clock import display
from store import signing_repo
from store.models import SignedDocument


def new_document_id() -> str:
    """Public and unguessable (it appears in QR codes), short enough for a small QR version."""
    return secrets.token_urlsafe(12)


@dataclass(frozen=True)
class RegisteredDocument:
    id: str
    sha256: str
    input_sha256: str
    size: int
    kind: str
    level: str
    certificate_serial: str
    signer_name: str
    organization: str | None
    reference_number: str | None
    signed_at: dt.datetime

    @classmethod
    def of(cls, row: SignedDocument) -> RegisteredDocument:
        return cls(
            row.id,
            row.sha256,
            row.input_sha256,
            row.size,
            row.kind,
            row.level,
            row.certificate_serial,
            row.signer_name,
            row.organization,
            row.reference_number,
            row.signed_at,
        )

    def as_json(self) -> dict[str, object]:
        data = asdict(self)
        data["signed_at"] = display(self.signed_at)
        return data


@dataclass(frozen=True)
class Revision:
    """One signed revision of a registered document: the file as it was after signature ``number``."""

    document_id: str  # the id of revision 1, the one the first stamp's QR names
    number: int  # 1 for the document as first signed
    sha256: str
    size: int  # the revision is the first ``size`` bytes of every later one
    signed: RegisteredDocument  # the signature (or seal) that made this revision
    previous_size: int | None = None  # the revision it extends (its size); None for revision 1


def record(session: Session, document: RegisteredDocument, account_id: int | None) -> Revision:
    """Register a signed output; when its input was a registered output, it is also that document's next
    revision. Returns the revision it is (number 1 for a new document)."""
    session.add(SignedDocument(**{**asdict(document), "account_id": account_id}))
    session.flush()
    same_input = signing_repo.documents_with_hash(session, document.input_sha256)
    earlier = [r for r in same_input if r.id != document.id]
    if not earlier:
        return Revision(document.id, 1, document.sha256, document.size, document)
    base = min(earlier, key=lambda r: r.signed_at)
    previous = signing_repo.revision_of(session, base.id)
    root = previous.document_id if previous is not None else base.id
    number = signing_repo.add_revision(
        session, registered_id=document.id, document_id=root, sha256=document.sha256, size=document.size,
        previous_size=base.size,
    )  # fmt: skip
    return Revision(root, number, document.sha256, document.size, document, base.size)


def ancestors(history: list[Revision], revision: Revision) -> list[Revision]:
    """The revisions ``revision`` extends, nearest first, in a document's ``history``: each later
    revision names the size of the one it extends (two seals of the same signed file are siblings)."""
    by_size = {r.size: r for r in history}
    found: list[Revision] = []
    current = revision
    while (
        current.previous_size is not None and current.previous_size in by_size and len(found) < len(history)
    ):
        current = by_size[current.previous_size]
        found.append(current)
    return found


def revisions(session: Session, document_id: str) -> list[Revision]:
    """Every signed revision of a document, the first one included, oldest first; [] for an unknown id."""
    first = session.get(SignedDocument, document_id)
    if first is None:
        return []
    found = [Revision(first.id, 1, first.sha256, first.size, RegisteredDocument.of(first))]
    for row in signing_repo.revisions_of(session, document_id):
        signed = session.get(SignedDocument, row.registered_id)
        if signed is not None:
            signer = RegisteredDocument.of(signed)
            found.append(Revision(document_id, row.number, row.sha256, row.size, signer, row.previous_size))
    return found


def revisions_with_hashes(session: Session, hashes: list[str]) -> list[Revision]:
    """The registered revisions whose bytes hash to one of ``hashes`` (each prefix of an upload that ends
    a PDF revision): which registered document an upload is, or extends."""
    found = []
    for row in signing_repo.documents_with_hashes(session, hashes):
        later = signing_repo.revision_of(session, row.id)
        signed = RegisteredDocument.of(row)
        if later is None:
            found.append(Revision(row.id, 1, row.sha256, row.size, signed))
        else:
            found.append(
                Revision(later.document_id, later.number, row.sha256, row.size, signed, later.previous_size)
            )
    return found


def find(session: Session, document_id: str) -> RegisteredDocument | None:
    row = session.get(SignedDocument, document_id)
    return RegisteredDocument.of(row) if row is not None else None


def find_by_hash(session: Session, sha256: str) -> list[RegisteredDocument]:
    return [RegisteredDocument.of(row) for row in signing_repo.documents_with_hash(session, sha256)]
