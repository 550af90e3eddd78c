"""The registry of documents Kyso signed: what a stamp's QR code and the verification page point at."""

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


def record(session: Session, document: RegisteredDocument, account_id: int | None) -> None:
    session.add(SignedDocument(**{**asdict(document), "account_id": account_id}))
    session.flush()


def find(session: Session, document_id: str) -> RegisteredDocument | None:
    row = session.get(SignedDocument, document_id)
    return RegisteredDocument.of(row) if row is not None else None


def find_by_hash(session: Session, sha256: str) -> list[RegisteredDocument]:
    return [RegisteredDocument.of(row) for row in signing_repo.documents_with_hash(session, sha256)]
