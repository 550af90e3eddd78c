"""Accounts: people by role, citizens keyed by CCCD, integrators' service accounts."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.clock import Clock
from core.errors import Kind, ServiceError, conflict, malformed, not_found
from core.vn_ids import parse_cccd
from identity import audit, lockout, totp
from identity.passwords import hash_password, one_time_password, verify_password
from identity.permissions import ROLES
from keystore.secretbox import SecretBox
from store import identity_repo
from store.models import Account

USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{2,63}")


@dataclass(frozen=True)
class AccountInfo:
    username: str
    display_name: str
    role: str
    cccd_masked: str | None
    venue: str | None
    disabled: bool
    second_factor: bool
    locked: bool

    @classmethod
    def of(cls, account: Account, now: object) -> AccountInfo:
        cccd = account.cccd
        return cls(
            username=account.username,
            display_name=account.display_name,
            role=account.role,
            cccd_masked=f"{cccd[:3]}******{cccd[-3:]}" if cccd else None,
            venue=account.venue,
            disabled=account.disabled,
            second_factor=account.totp_confirmed,
            locked=lockout.refusal(account, now) is not None,  # type: ignore[arg-type]
        )

    def as_json(self) -> dict[str, object]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class NewAccount:
    account: Account
    one_time_password: str | None  # shown once when the service chose it


def check_username(username: str) -> str:
    name = username.strip().lower()
    if not USERNAME.fullmatch(name):
        raise malformed(
            "usernames are 3-64 characters: lowercase letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def create(
    session: Session,
    clock: Clock,
    *,
    username: str | None,
    role: str,
    display_name: str,
    password: str | None = None,
    cccd: str | None = None,
    venue: str | None = None,
    actor: str = "system",
) -> NewAccount:
    if role not in ROLES:
        raise malformed(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    if role == "citizen":
        if not cccd:
            raise malformed("citizen accounts are keyed by their CCCD number; give --cccd")
        cccd = parse_cccd(cccd).number
        username = username or cccd
    elif cccd:
        cccd = parse_cccd(cccd).number
    if role == "desk" and not venue:
        raise malformed("desk accounts belong to a venue; give --venue")
    name = check_username(username or "")
    display = display_name.strip() or name
    generated = None
    if role == "service":
        password_hash = None  # service accounts authenticate with API keys only
    else:
        generated = None if password else one_time_password()
        password_hash = hash_password(password or generated or "")
    account = Account(
        username=name,
        display_name=display[:200],
        role=role,
        cccd=cccd,
        venue=venue,
        password_hash=password_hash,
        must_change_password=generated is not None,
        created_at=clock.now(),
    )
    try:
        with session.begin_nested():
            session.add(account)
            session.flush()
    except IntegrityError:
        raise conflict(f"an account named {name!r} or with that CCCD already exists") from None
    audit.append(
        session, clock=clock, actor=actor, action="account.create", target=name, details={"role": role}
    )
    return NewAccount(account, generated)


def get(session: Session, username: str) -> Account:
    account = identity_repo.account_named(session, username.strip().lower())
    if account is None:
        raise not_found(f"no account {username!r}")
    return account


def list_accounts(session: Session, role: str | None = None) -> Sequence[Account]:
    return identity_repo.accounts(session, role)


def revoke_sessions(session: Session, account: Account, now: dt.datetime) -> None:
    identity_repo.end_sessions(session, account.id, now)


def disable(session: Session, clock: Clock, username: str, *, actor: str, enabled: bool = False) -> Account:
    account = get(session, username)
    if actor == account.username:
        raise ServiceError(Kind.FORBIDDEN, "you cannot disable your own account")
    account.disabled = not enabled
    if not enabled:
        revoke_sessions(session, account, clock.now())
    audit.append(
        session,
        clock=clock,
        actor=actor,
        action="account.enable" if enabled else "account.disable",
        target=account.username,
    )
    return account


def set_role(session: Session, clock: Clock, username: str, role: str, *, actor: str) -> Account:
    if role not in ROLES:
        raise malformed(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    account = get(session, username)
    if actor == account.username:
        raise ServiceError(Kind.FORBIDDEN, "you cannot change your own role")
    if (role == "service") != (account.role == "service"):
        raise malformed("people and service accounts cannot be turned into each other")
    old = account.role
    account.role = role
    revoke_sessions(session, account, clock.now())  # tokens carry the old role's reach
    audit.append(
        session,
        clock=clock,
        actor=actor,
        action="account.role",
        target=account.username,
        details={"from": old, "to": role},
    )
    return account


def reset_password(
    session: Session, clock: Clock, username: str, *, actor: str, password: str | None = None
) -> str | None:
    account = get(session, username)
    if account.role == "service":
        raise malformed("service accounts have API keys, not passwords")
    generated = None if password else one_time_password()
    account.password_hash = hash_password(password or generated or "")
    account.must_change_password = generated is not None
    lockout.record_success(account)  # the lock and the run of wrong codes end with an admin's reset
    revoke_sessions(session, account, clock.now())
    audit.append(session, clock=clock, actor=actor, action="account.password-reset", target=account.username)
    return generated


def set_own_password(
    session: Session, clock: Clock, account: Account, new: str, *, source: str | None
) -> None:
    """The account's owner chose ``new`` (the caller has established who they are)."""
    if verify_password(account.password_hash, new):
        raise malformed("choose a password different from the current one")
    account.password_hash = hash_password(new)
    account.must_change_password = False
    audit.append(
        session, clock=clock, actor=account.username, action="account.password-change",
        target=account.username, source=source,
    )  # fmt: skip


def reset_second_factor(
    session: Session, clock: Clock, box: SecretBox, username: str, *, actor: str, source: str | None = None
) -> totp.Enrolment:
    """A new authenticator enrolment for ``username`` (a lost phone): ends the old secret, its recovery
    codes, the account's sessions, and any lock of code entry."""
    account = get(session, username)
    if account.role == "service":
        raise malformed("service accounts use API keys, not one-time codes")
    enrolment = totp.enrol(session, box, account)
    lockout.record_success(account)
    revoke_sessions(session, account, clock.now())
    audit.append(
        session, clock=clock, actor=actor, action="totp.reset", target=account.username, source=source
    )
    return enrolment


def unlock(session: Session, clock: Clock, username: str, *, actor: str) -> Account:
    """Reopen login and code entry of a locked account (after 100 wrong codes only an admin can)."""
    account = get(session, username)
    lockout.unlock(session, clock, account, actor=actor)
    return account
