"""Which certificates in custody an account may sign with (a CSC "credential")."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import Kind, ServiceError, conflict
from core.ids import new_id
from store.models import SigningCredential


@dataclass(frozen=True)
class CredentialInfo:
    id: str
    account_id: int
    certificate_serial: str
    purpose: str

    @classmethod
    def of(cls, row: SigningCredential) -> CredentialInfo:
        return cls(row.id, row.account_id, row.certificate_serial, row.purpose)


def bind(session: Session, *, account_id: int, serial: str, purpose: str, now: dt.datetime) -> CredentialInfo:
    existing = session.scalar(
        select(SigningCredential).where(
            SigningCredential.account_id == account_id,
            SigningCredential.certificate_serial == serial,
            SigningCredential.disabled_at.is_(None),
        )
    )
    if existing is not None:
        raise conflict(f"certificate {serial} is already bound to this account", credential_id=existing.id)
    row = SigningCredential(
        id=new_id(), account_id=account_id, certificate_serial=serial, purpose=purpose, created_at=now
    )
    session.add(row)
    session.flush()
    return CredentialInfo.of(row)


def of_account(session: Session, account_id: int) -> Sequence[CredentialInfo]:
    rows = session.scalars(
        select(SigningCredential)
        .where(SigningCredential.account_id == account_id, SigningCredential.disabled_at.is_(None))
        .order_by(SigningCredential.created_at)
    )
    return [CredentialInfo.of(row) for row in rows]


def choose(
    session: Session, account_id: int, credential_id: str | None, purpose: str | None = None
) -> CredentialInfo:
    """The credential named, or the account's only (latest) one for ``purpose``; refuses someone else's."""
    owned = of_account(session, account_id)
    if credential_id is not None:
        for credential in owned:
            if credential.id == credential_id:
                return credential
        raise ServiceError(Kind.FORBIDDEN, f"credential {credential_id} is not one of this account's")
    candidates = [c for c in owned if purpose is None or c.purpose == purpose]
    if not candidates:
        raise ServiceError(
            Kind.CONFLICT,
            "this account has no signing certificate in custody"
            + (f" for {purpose}" if purpose else "")
            + "; ask the CA operator to bind one (kyso user bind-cert)",
        )
    return candidates[-1]
