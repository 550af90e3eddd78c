"""The identity domain's queries: accounts, sessions and API keys, one-time codes
(``identity.accounts``, ``identity.sessions``, ``identity.totp``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import Row, bindparam, or_, select, update
from sqlalchemy.orm import Session

from store.models import Account, ApiKey, RecoveryCode, SessionToken


# --- accounts -----------------------------------------------------------------------------------------
def account_named(session: Session, username: str) -> Account | None:
    """The account of an already normalised (stripped, lower-case) username."""
    return session.scalars(select(Account).where(Account.username == username)).one_or_none()


def accounts(session: Session, role: str | None = None) -> Sequence[Account]:
    query = select(Account).order_by(Account.username)
    if role:
        query = query.where(Account.role == role)
    return session.scalars(query).all()


# --- sessions and API keys ----------------------------------------------------------------------------
def end_sessions(session: Session, account_id: int, now: dt.datetime, *, keep: str | None = None) -> None:
    """Revoke every live session of the account, but the one whose token hash is ``keep``."""
    query = update(SessionToken).where(
        SessionToken.account_id == account_id, SessionToken.revoked_at.is_(None)
    )
    if keep is not None:
        query = query.where(SessionToken.token_hash != keep)
    session.execute(query.values(revoked_at=now))


_LIVE_TOKEN = (
    select(Account.id, Account.username, Account.role, SessionToken.csrf_hash, Account.must_change_password)
    .join(Account, Account.id == SessionToken.account_id)
    .where(
        SessionToken.token_hash == bindparam("token_hash"),
        SessionToken.kind == bindparam("kind"),
        SessionToken.revoked_at.is_(None),
        SessionToken.expires_at > bindparam("now"),
        Account.disabled.is_(False),
    )
)


def live_token(session: Session, token_hash: str, kind: str, now: dt.datetime) -> Row | None:
    """(account id, username, role, csrf hash, must change password) of a live token of ``kind`` whose
    account is enabled: one statement, which every authenticated request pays."""
    parameters = {"token_hash": token_hash, "kind": kind, "now": now}
    return session.connection().execute(_LIVE_TOKEN, parameters).first()


def api_key_by_hash(session: Session, key_hash: str) -> ApiKey | None:
    return session.scalars(select(ApiKey).where(ApiKey.key_hash == key_hash)).one_or_none()


def api_keys(session: Session) -> Sequence[ApiKey]:
    return session.scalars(select(ApiKey).order_by(ApiKey.id)).all()


# --- one-time codes -----------------------------------------------------------------------------------
def accept_totp_step(session: Session, account_id: int, step: int) -> bool:
    """Record ``step`` as used unless it (or a later one) already was; one conditional UPDATE, so a code
    is accepted once across every worker."""
    accepted = session.execute(
        update(Account)
        .where(Account.id == account_id, or_(Account.totp_last_step.is_(None), Account.totp_last_step < step))
        .values(totp_last_step=step, totp_confirmed=True)
        .execution_options(synchronize_session=False)
    )
    return accepted.rowcount == 1  # type: ignore[attr-defined]


def drop_recovery_codes(session: Session, account_id: int) -> None:
    session.query(RecoveryCode).filter(RecoveryCode.account_id == account_id).delete()


def use_recovery_code(session: Session, account_id: int, code_hash: str, now: dt.datetime) -> bool:
    """Mark an unused recovery code used; True if this call did (one conditional UPDATE)."""
    used = session.execute(
        update(RecoveryCode)
        .where(
            RecoveryCode.account_id == account_id,
            RecoveryCode.code_hash == code_hash,
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    return used.rowcount == 1  # type: ignore[attr-defined]
