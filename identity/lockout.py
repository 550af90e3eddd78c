"""How many wrong answers an account may give: one policy for every place a password or one-time code is
checked (login, signing authorisation, TOTP confirmation, recovery codes).

Counted per account in the database, so every worker and machine shares the count:

- ``failed_logins``: consecutive wrong passwords and codes. From the ``LOCK_AFTER``-th on, each one locks
  the account (login and code entry) for ``LOCK_BASE`` doubled per further failure, at most ``LOCK_MAX``.
- ``code_failures``: consecutive wrong one-time codes (TOTP or recovery), wherever they were typed. At
  ``CODE_FAILURE_CAP`` (NIST SP 800-63B §5.2.2: no more than 100) code entry is disabled until an admin
  reopens it (``kyso user unlock``, ``POST /api/v1/users/{username}/unlock``, or a reset of the
  password or second factor).

A right code ends both runs. Every check locks the account's row first (``SELECT … FOR UPDATE``; SQLite
writers hold the database lock already), so parallel guesses on many workers are counted one after the
other and none slips past a lock. Each lock is audited as ``account.code_locked`` (or ``account.locked``
after wrong passwords) with the account as target: the owner reads it in ``GET /api/v1/auth/activity``.
"""

from __future__ import annotations

import datetime as dt
import math

from sqlalchemy.orm import Session

from core.clock import Clock, as_utc
from core.errors import Kind, ServiceError, conflict
from identity import audit, totp
from keystore.secretbox import SecretBox
from store.models import Account

LOCK_AFTER = 5  # failures before the first lock
LOCK_BASE = dt.timedelta(seconds=30)  # doubled for every further failure
LOCK_MAX = dt.timedelta(hours=1)
CODE_FAILURE_CAP = 100  # consecutive wrong codes, then only an admin reopens code entry


class Locked(ServiceError):
    """Code entry is refused for now (``retry_after`` seconds) or until an admin reopens it (None)."""

    def __init__(self, message: str, retry_after: int | None) -> None:
        details = {"retry_after_seconds": retry_after} if retry_after is not None else None
        super().__init__(Kind.FORBIDDEN, message, details=details)
        self.retry_after = retry_after


def lock_delay(failures: int) -> dt.timedelta | None:
    """How long ``failures`` consecutive failures lock an account (None: not yet)."""
    if failures < LOCK_AFTER:
        return None
    return min(LOCK_BASE * 2 ** min(failures - LOCK_AFTER, 32), LOCK_MAX)


def disabled(account: Account) -> bool:
    return account.code_failures >= CODE_FAILURE_CAP


def refusal(account: Account, now: dt.datetime) -> Locked | None:
    """Why this account may not try a code (or log in) now, or None."""
    if disabled(account):
        return Locked(
            f"one-time code entry is disabled after {CODE_FAILURE_CAP} wrong codes in a row; "
            "ask an admin to reopen the account",
            None,
        )
    if account.locked_until is not None and as_utc(account.locked_until) > now:
        wait = max(1, math.ceil((as_utc(account.locked_until) - now).total_seconds()))
        return Locked(
            f"too many wrong codes or passwords: the account is locked; try again in {wait} s", wait
        )
    return None


def _lock_row(session: Session, account: Account) -> None:
    """Re-read the counters under the row's lock (FOR UPDATE; a no-op on SQLite, already serialised)."""
    session.flush()
    session.refresh(account, with_for_update=True)


def record_failure(
    session: Session, clock: Clock, account: Account, *, where: str, source: str | None, code: bool
) -> None:
    """Count one wrong password (``code`` False) or one-time code, and lock the account when due."""
    _lock_row(session, account)
    now = clock.now()
    account.failed_logins += 1
    if code:
        account.code_failures += 1
    delay = lock_delay(account.failed_logins)
    capped = code and account.code_failures == CODE_FAILURE_CAP
    if delay is None and not capped:
        return
    until = now + delay if delay is not None else None
    if until is not None:
        account.locked_until = until
    audit.append(
        session,
        clock=clock,
        actor="system",
        action="account.code_locked" if code else "account.locked",
        outcome="locked",
        target=account.username,
        source=source,
        details={
            "where": where,
            "consecutive_failures": account.failed_logins,
            "locked_until": until.isoformat() if until is not None and not capped else None,
            "admin_reset_needed": disabled(account),
        },
    )


def record_success(account: Account) -> None:
    account.failed_logins, account.code_failures, account.locked_until = 0, 0, None


def check_code(
    session: Session,
    clock: Clock,
    box: SecretBox,
    account: Account,
    code: str,
    *,
    where: str,
    source: str | None,
    recovery: bool = True,
) -> bool:
    """The one way to check a one-time code. Raises ``Locked`` while the account is locked; otherwise
    True for a right code (TOTP, or with ``recovery`` an unused recovery code), False for a wrong one
    — counted, so the caller must commit its transaction before refusing."""
    _lock_row(session, account)
    now = clock.now()
    if (locked := refusal(account, now)) is not None:
        raise locked
    if recovery:
        ok = totp.verify(session, box, account, code, now)
    else:
        ok = totp.verify_step(session, box, account, code, now)
    if ok:
        record_success(account)
    else:
        record_failure(session, clock, account, where=where, source=source, code=True)
    return ok


def confirm_enrolment(
    session: Session, clock: Clock, box: SecretBox, account: Account, code: str, *, source: str | None
) -> list[str] | None:
    """Confirm the authenticator with a code from it; fresh recovery codes (shown once) replace the old
    ones. None for a wrong code (counted: commit, then refuse)."""
    if account.totp_secret is None:
        raise conflict("no second factor is being enrolled; start with enrolment")
    if not check_code(
        session, clock, box, account, code, where="totp.confirm", source=source, recovery=False
    ):
        return None
    return totp.new_recovery_codes(session, account)


def unlock(session: Session, clock: Clock, account: Account, *, actor: str) -> None:
    """An admin reopens login and code entry (after checking with the owner)."""
    record_success(account)
    audit.append(session, clock=clock, actor=actor, action="account.unlock", target=account.username)
