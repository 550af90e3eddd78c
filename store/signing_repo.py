"""The signing domain's queries (``signing.registry``, ``signing.credentials``,
``signing.authorizations``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from store.models import SignedDocument, SigningAuthorization, SigningCredential


def documents_with_hash(session: Session, sha256: str) -> Sequence[SignedDocument]:
    return session.scalars(select(SignedDocument).where(SignedDocument.sha256 == sha256.lower())).all()


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
