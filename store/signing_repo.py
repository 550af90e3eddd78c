"""The signing domain's queries (``signing.registry``, ``signing.credentials``,
``signing.authorizations``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from store.models import SignedDocument, SignedRevision, SigningAuthorization, SigningCredential


def documents_with_hash(session: Session, sha256: str) -> Sequence[SignedDocument]:
    return session.scalars(select(SignedDocument).where(SignedDocument.sha256 == sha256.lower())).all()


def documents_with_hashes(session: Session, hashes: Sequence[str]) -> Sequence[SignedDocument]:
    """Registered documents whose output has one of ``hashes`` (the revisions of an upload)."""
    wanted = sorted({h.lower() for h in hashes})
    if not wanted:
        return []
    return session.scalars(select(SignedDocument).where(SignedDocument.sha256.in_(wanted))).all()


def revision_of(session: Session, registered_id: str) -> SignedRevision | None:
    """The revision a registered signature made of an earlier registered document, if it made one."""
    return session.get(SignedRevision, registered_id)


def revisions_of(session: Session, document_id: str) -> Sequence[SignedRevision]:
    """A document's later revisions, oldest first."""
    query = select(SignedRevision).where(SignedRevision.document_id == document_id)
    return session.scalars(query.order_by(SignedRevision.number)).all()


def add_revision(
    session: Session, *, registered_id: str, document_id: str, sha256: str, size: int, previous_size: int
) -> int:
    """Record ``registered_id``'s output as the next revision of ``document_id``; returns its number."""
    last = session.scalar(
        select(func.max(SignedRevision.number)).where(SignedRevision.document_id == document_id)
    )
    number = (last or 1) + 1
    session.add(
        SignedRevision(
            registered_id=registered_id, document_id=document_id, number=number, sha256=sha256, size=size,
            previous_size=previous_size,
        )
    )  # fmt: skip
    session.flush()
    return number


def active_credentials(session: Session, account_id: int) -> Sequence[SigningCredential]:
    """An account's credentials that are not disabled, oldest first."""
    return session.scalars(
        select(SigningCredential)
        .where(SigningCredential.account_id == account_id, SigningCredential.disabled_at.is_(None))
        .order_by(SigningCredential.created_at)
    ).all()


def mark_authorization_used(session: Session, authorization_id: str, now: dt.datetime) -> bool:
    """True if this call consumed it (one conditional UPDATE: of two racing requests one wins)."""
    used = session.execute(
        update(SigningAuthorization)
        .where(SigningAuthorization.id == authorization_id, SigningAuthorization.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    return used.rowcount == 1  # type: ignore[attr-defined]
