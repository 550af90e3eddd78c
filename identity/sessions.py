"""Logging in, bearer tokens and browser sessions, API keys.

Tokens and keys are random, shown once and stored as SHA-256 only, so a database reader cannot use
them and revoking one (logout, account disabled, role changed) takes effect on the next request.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from dataclasses import dataclass

from sqlalchemy.orm import Session

from core.clock import Clock
from core.errors import Kind, ServiceError, malformed, not_found
from identity import audit, lockout
from identity.accounts import get, set_own_password
from identity.lockout import LOCK_AFTER, LOCK_BASE, LOCK_MAX  # noqa: F401 - where tests and docs look
from identity.passwords import check_policy, verify_password
from identity.permissions import ROLES, SECOND_FACTOR_REQUIRED, Permission, permissions_of
from keystore.secretbox import SecretBox
from store import identity_repo
from store.models import Account, ApiKey, SessionToken

TOKEN_TTL = dt.timedelta(minutes=15)
COOKIE_TTL = dt.timedelta(hours=8)
REFUSED = "wrong username, password or one-time code, or the account is locked for a while"
FIRST_LOGIN_NOTICE = (
    "this account still has a one-time password: choose your own first "
    "(POST /api/v1/auth/password with current_password and new_password, or the page /account/password)"
)
TOKEN_PREFIX = "kyso_"  # noqa: S105 - a prefix, not a secret
API_KEY_PREFIX = "kysk_"


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class Principal:
    """Who is calling, and what they may do."""

    account_id: int
    username: str
    role: str
    permissions: frozenset[Permission]
    via: str  # bearer | cookie | api-key
    csrf_hash: str | None = None
    must_change_password: bool = False  # a one-time password: only the change (api.auth enforces it)

    def can(self, permission: Permission) -> bool:
        return permission in self.permissions


@dataclass(frozen=True)
class LoginOutcome:
    """Never raised: failed logins must still commit their failure count and audit entry."""

    account: Account | None
    token: str | None = None
    csrf: str | None = None
    expires_in: int = 0
    must_change_password: bool = False  # the session opens only the password change until it is done


def login(
    session: Session,
    clock: Clock,
    box: SecretBox,
    *,
    username: str,
    password: str,
    code: str | None,
    source: str | None,
    kind: str = "bearer",
    new_password: str | None = None,
) -> LoginOutcome:
    """Log in; with ``new_password``, the account's password is replaced in the same step (how a first
    login leaves its one-time password behind). Raises only for a new password the policy refuses."""
    if new_password is not None:
        check_policy(new_password)  # before anything is checked or counted
    now = clock.now()
    name = username.strip().lower()[:64]
    account = identity_repo.account_named(session, name)
    # The password is checked whatever happens, so an unknown or locked account costs the same time.
    password_ok = verify_password(account.password_hash if account else None, password)

    def refuse(reason: str) -> LoginOutcome:
        audit.append(
            session,
            clock=clock,
            actor=name or "?",
            action="login",
            outcome="failure",
            source=source,
            details={"reason": reason},
        )
        return LoginOutcome(None)

    if account is None or account.role == "service":
        return refuse("unknown account")
    if account.disabled:
        return refuse("disabled")
    if lockout.refusal(account, now) is not None:
        return refuse("locked")  # the same answer as a wrong password: a lock tells nothing about it
    if not password_ok:
        lockout.record_failure(session, clock, account, where="login", source=source, code=False)
        return refuse("password")
    if account.role in SECOND_FACTOR_REQUIRED and account.totp_secret is None:
        return refuse("no second factor enrolled")
    if account.totp_secret is not None:
        if not code:
            lockout.record_failure(session, clock, account, where="login", source=source, code=False)
            return refuse("code")
        try:
            if not lockout.check_code(session, clock, box, account, code, where="login", source=source):
                return refuse("code")
        except lockout.Locked:
            return refuse("locked")
    lockout.record_success(account)
    token, csrf, ttl = _new_session(session, account, kind, now)
    audit.append(session, clock=clock, actor=name, action="login", source=source, details={"kind": kind})
    if new_password is not None:
        set_own_password(session, clock, account, new_password, source=source)
    return LoginOutcome(account, token, csrf, int(ttl.total_seconds()), account.must_change_password)


def change_password(
    session: Session, clock: Clock, username: str, credential: str, *, current: str, new: str,
    source: str | None,
) -> bool:  # fmt: skip
    """Self-service: replace one's password, proving the current one. The session ``credential`` stays
    (and, after a one-time password, now opens everything); every other session of the account ends.
    False for a wrong current password — counted like a failed login, so commit, then refuse."""
    check_policy(new)
    account = get(session, username)
    if not reauthenticate(session, clock, account, current, where="password.change", source=source):
        return False
    set_own_password(session, clock, account, new, source=source)
    identity_repo.end_sessions(session, account.id, clock.now(), keep=digest(credential))
    return True


def reauthenticate(
    session: Session, clock: Clock, account: Account, password: str | None, *, where: str, source: str | None
) -> bool:
    """Someone already signed in proves again that they know the account's password (before changing it,
    or an admin before resetting their own password or second factor). A wrong one counts towards the
    account's lock (``identity.lockout``); raises ``lockout.Locked`` while it is locked."""
    if (locked := lockout.refusal(account, clock.now())) is not None:
        raise locked
    if verify_password(account.password_hash, password or ""):
        return True
    lockout.record_failure(session, clock, account, where=where, source=source, code=False)
    return False


def _new_session(
    session: Session, account: Account, kind: str, now: dt.datetime
) -> tuple[str, str | None, dt.timedelta]:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(24) if kind == "cookie" else None
    ttl = COOKIE_TTL if kind == "cookie" else TOKEN_TTL
    session.add(
        SessionToken(
            token_hash=digest(token),
            account_id=account.id,
            kind=kind,
            csrf_hash=digest(csrf) if csrf else None,
            created_at=now,
            expires_at=now + ttl,
        )
    )
    session.flush()
    return token, csrf, ttl


def authenticate(session: Session, clock: Clock, credential: str, *, via: str) -> Principal:
    """Resolve a bearer token, a session cookie or an API key to a principal, or refuse (401)."""
    now = clock.now()
    if credential.startswith(API_KEY_PREFIX) and via == "bearer":
        return _api_key_principal(session, credential, now)
    expected_kind = "cookie" if via == "cookie" else "bearer"
    found = identity_repo.live_token(session, digest(credential), expected_kind, now)
    if found is None:
        raise ServiceError(Kind.UNAUTHORIZED, "the session has expired or was ended; log in again")
    account_id, username, role, csrf_hash, must_change = found
    return Principal(account_id, username, role, permissions_of(role), via, csrf_hash, must_change)


def _api_key_principal(session: Session, key: str, now: dt.datetime) -> Principal:
    row = identity_repo.api_key_by_hash(session, digest(key))
    account = session.get(Account, row.account_id) if row is not None else None
    if row is None or row.revoked_at is not None or account is None or account.disabled:
        raise ServiceError(Kind.UNAUTHORIZED, "the API key is not valid")
    row.last_used_at = now
    scopes = frozenset(Permission(s) for s in json.loads(row.scopes))
    return Principal(account.id, account.username, account.role, scopes, "api-key")


def logout(session: Session, clock: Clock, credential: str) -> None:
    row = session.get(SessionToken, digest(credential))
    if row is not None and row.revoked_at is None:
        row.revoked_at = clock.now()


@dataclass(frozen=True)
class NewApiKey:
    id: int
    key: str  # shown once
    prefix: str
    scopes: list[str]


def create_api_key(
    session: Session, clock: Clock, username: str, name: str, scopes: list[str], *, actor: str
) -> NewApiKey:
    account = get(session, username)
    if account.role != "service":
        raise malformed("API keys belong to service accounts; create one with role 'service'")
    allowed = ROLES["service"]
    try:
        wanted = sorted({Permission(s) for s in scopes})
    except ValueError:
        raise malformed(f"unknown scope in {scopes}; choose from {', '.join(sorted(allowed))}") from None
    if not wanted or not set(wanted) <= allowed:
        raise malformed(f"scopes must be a non-empty subset of {', '.join(sorted(allowed))}")
    secret = secrets.token_urlsafe(32)
    prefix = secrets.token_hex(4)
    key = f"{API_KEY_PREFIX}{prefix}_{secret}"
    row = ApiKey(
        account_id=account.id,
        name=name.strip()[:100] or "key",
        prefix=prefix,
        key_hash=digest(key),
        scopes=json.dumps([str(s) for s in wanted]),
        created_at=clock.now(),
    )
    session.add(row)
    session.flush()
    audit.append(
        session,
        clock=clock,
        actor=actor,
        action="api-key.create",
        target=account.username,
        details={"prefix": prefix, "scopes": [str(s) for s in wanted]},
    )
    return NewApiKey(row.id, key, prefix, [str(s) for s in wanted])


def revoke_api_key(session: Session, clock: Clock, key_id: int, *, actor: str) -> None:
    row = session.get(ApiKey, key_id)
    if row is None:
        raise not_found(f"no API key {key_id}")
    row.revoked_at = row.revoked_at or clock.now()
    audit.append(session, clock=clock, actor=actor, action="api-key.revoke", target=str(key_id))
