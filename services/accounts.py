"""An account holder's own session and second factor: log out, enrol and confirm an authenticator app,
read one's own activity. Each change writes its audit entry (``logout``, ``totp.enrol``, ``totp.confirm``)
in its transaction; ``/api/v1/auth/*`` (api/routers/auth.py) parses, calls and renders.

Logging in, password changes and the lock on wrong codes write their own entries in identity/ (one
domain, with the audit log it keeps), so they are called there directly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.errors import conflict
from identity import audit, lockout, totp
from identity.accounts import get
from identity.sessions import logout as end_credential
from services.audit import Actor, record

if TYPE_CHECKING:
    from identity.totp import Enrolment
    from services.root import Kyso


def logout(kyso: Kyso, actor: Actor, credential: str) -> None:
    """End the session or token the request was authenticated with, at once."""
    with kyso.db.transaction() as session:
        end_credential(session, kyso.clock, credential)
        record(session, kyso, actor, "logout", None)


def enrol_second_factor(kyso: Kyso, actor: Actor) -> Enrolment:
    """A new authenticator secret for the actor (CONFLICT if one is active: an admin resets it)."""
    with kyso.db.transaction() as session:
        account = get(session, actor.name)
        if account.totp_confirmed:
            raise conflict("a second factor is already active; an admin can reset it")
        enrolment = totp.enrol(session, kyso.secret_box, account)
        record(session, kyso, actor, "totp.enrol", None)
    return enrolment


def confirm_second_factor(kyso: Kyso, actor: Actor, code: str) -> list[str] | None:
    """The recovery codes once ``code`` confirms the enrolment; None for a wrong code, which is counted
    towards the lock and audited as a failure (committed all the same)."""
    with kyso.db.transaction() as session:
        account = get(session, actor.name)
        codes = lockout.confirm_enrolment(
            session, kyso.clock, kyso.secret_box, account, code, source=actor.source
        )
        record(session, kyso, actor, "totp.confirm", None, "success" if codes else "failure")
    return codes


def activity(kyso: Kyso, actor: Actor, limit: int) -> list[audit.AuditRecord]:
    """The entries naming the actor's account, newest first."""
    with kyso.db.reading() as session:
        return audit.concerning(session, actor.name, limit)
