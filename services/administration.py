"""Account administration, as an admin does it over the API (``/api/v1/users``, ``/api/v1/api-keys``) and
the local operator with ``kyso user …``: create, list, disable or enable, change role, reset a password or
a second factor, unlock, and service accounts' API keys. Each change writes its audit entry in
identity/ in the same transaction.

An admin who resets their own password or second factor proves their password again first
(``own_password``): a stolen session alone must not replace the factors that protect it. A wrong one is
counted towards the account's lock (committed) before the reset is refused.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.errors import Kind, ServiceError
from identity import accounts, totp
from identity.sessions import NewApiKey, create_api_key, reauthenticate, revoke_api_key
from services import approvals
from services.audit import Actor
from store import identity_repo

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from services.root import Kyso

PRIVILEGED_ROLES = ("admin", "ca-operator")  # granting them can be held for approval
OWN_RESET = (
    "to reset your own password or second factor, confirm with your current password "
    '({"current_password": "…"}); to choose a new password use POST /api/v1/auth/password'
)


@dataclass(frozen=True)
class CreatedAccount:
    info: accounts.AccountInfo
    one_time_password: str | None  # shown once, when the service chose it
    enrolment: totp.Enrolment | None  # a second factor enrolled with the account


@dataclass(frozen=True)
class OwnAccount:
    """The actor resets their own account: ``password`` is the one they typed to confirm it."""

    password: str | None


def create_account(
    kyso: Kyso,
    actor: Actor,
    *,
    username: str | None,
    role: str,
    display_name: str = "",
    cccd: str | None = None,
    venue: str | None = None,
    password: str | None = None,
    enrol_second_factor: bool = False,
) -> CreatedAccount:
    """A new account; without ``password`` a one-time one is chosen (and returned once). While granting
    admin or ca-operator needs approval, such accounts are created with another role first."""
    with kyso.db.transaction() as session:
        if role in PRIVILEGED_ROLES and approvals.required(session, "account.grant-role"):
            raise ServiceError(
                Kind.FORBIDDEN,
                f"granting {role} needs approval: create the account with another role, then change its role "
                "(the change waits for approval)",
            )
        new = accounts.create(
            session, kyso.clock, username=username, role=role, display_name=display_name, password=password,
            cccd=cccd, venue=venue, actor=actor.name,
        )  # fmt: skip
        enrolment = (
            totp.enrol(session, kyso.secret_box, new.account)
            if enrol_second_factor and role != "service"
            else None
        )
        info = accounts.AccountInfo.of(new.account, kyso.clock.now())
    return CreatedAccount(info, new.one_time_password, enrolment)


def list_accounts(kyso: Kyso, role: str | None = None) -> list[accounts.AccountInfo]:
    with kyso.db.reading() as session:
        now = kyso.clock.now()
        return [accounts.AccountInfo.of(a, now) for a in accounts.list_accounts(session, role)]


def set_enabled(kyso: Kyso, actor: Actor, username: str, enabled: bool) -> accounts.AccountInfo:
    """Disable an account (its sessions end at once) or enable it again."""
    with kyso.db.transaction() as session:
        account = accounts.disable(session, kyso.clock, username, actor=actor.name, enabled=enabled)
        return accounts.AccountInfo.of(account, kyso.clock.now())


def set_role(kyso: Kyso, actor: Actor, username: str, role: str) -> accounts.AccountInfo:
    """Change an account's role; its sessions end.

    Granting admin or ca-operator, when the ``account.grant-role`` approval policy asks for approvals, is
    filed as a request instead (services.approvals; ``approvals.Pending`` once it is committed)."""
    with kyso.db.transaction() as session:
        if role not in PRIVILEGED_ROLES or not approvals.required(session, "account.grant-role"):
            account = accounts.set_role(session, kyso.clock, username, role, actor=actor.name)
            return accounts.AccountInfo.of(account, kyso.clock.now())
        account = accounts.get(session, username)
        if account.username == actor.name:
            raise ServiceError(Kind.FORBIDDEN, "you cannot change your own role")
        if account.role == role:
            raise ServiceError(Kind.CONFLICT, f"{account.username} already has the role {role}")
        waiting = approvals.file(session, kyso, actor, "account.grant-role", account.username, {"role": role})
    raise approvals.Pending(waiting)


def unlock(kyso: Kyso, actor: Actor, username: str) -> accounts.AccountInfo:
    """Reopen login and code entry of a locked account."""
    with kyso.db.transaction() as session:
        account = accounts.unlock(session, kyso.clock, username, actor=actor.name)
        return accounts.AccountInfo.of(account, kyso.clock.now())


def _confirmed(session: Session, kyso: Kyso, actor: Actor, username: str, own: OwnAccount | None) -> bool:
    if own is None or username.strip().lower() != actor.name:
        return True
    return reauthenticate(
        session, kyso.clock, accounts.get(session, username), own.password, where="account.reset-own",
        source=actor.source,
    )  # fmt: skip


def reset_password(
    kyso: Kyso, actor: Actor, username: str, *, password: str | None = None, own: OwnAccount | None = None
) -> str | None:
    """A new password (a one-time one, returned, when ``password`` is None); sessions end, the lock lifts.
    ``own``: the caller is an account that must confirm a reset of itself (None for the local operator)."""
    generated = None
    with kyso.db.transaction() as session:
        if confirmed := _confirmed(session, kyso, actor, username, own):
            generated = accounts.reset_password(
                session, kyso.clock, username, actor=actor.name, password=password
            )
    if not confirmed:  # the wrong password was counted (committed) before the refusal
        raise ServiceError(Kind.FORBIDDEN, OWN_RESET)
    return generated


def reset_second_factor(
    kyso: Kyso, actor: Actor, username: str, *, own: OwnAccount | None = None
) -> totp.Enrolment:
    """A new authenticator enrolment (a lost phone), replacing the old one and lifting a code lock."""
    enrolment = None
    with kyso.db.transaction() as session:
        if _confirmed(session, kyso, actor, username, own):
            enrolment = accounts.reset_second_factor(
                session, kyso.clock, kyso.secret_box, username, actor=actor.name, source=actor.source
            )
    if enrolment is None:
        raise ServiceError(Kind.FORBIDDEN, OWN_RESET)
    return enrolment


def new_api_key(kyso: Kyso, actor: Actor, username: str, name: str, scopes: list[str]) -> NewApiKey:
    """An API key for a service account; the key itself is returned once (Kyso keeps its hash)."""
    with kyso.db.transaction() as session:
        return create_api_key(session, kyso.clock, username, name, scopes, actor=actor.name)


def api_keys(kyso: Kyso) -> list[dict[str, object]]:
    """Every API key, never the keys themselves."""
    with kyso.db.reading() as session:
        return [
            {"id": r.id, "name": r.name, "prefix": r.prefix, "scopes": json.loads(r.scopes),
             "created_at": r.created_at, "last_used_at": r.last_used_at, "revoked_at": r.revoked_at}
            for r in identity_repo.api_keys(session)
        ]  # fmt: skip


def remove_api_key(kyso: Kyso, actor: Actor, key_id: int) -> None:
    with kyso.db.transaction() as session:
        revoke_api_key(session, kyso.clock, key_id, actor=actor.name)
