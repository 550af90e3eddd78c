"""Block-list use cases (``invitations.blocklist``): the admin lists and unlists people; a named approver
admits or refuses a held guest; invitations are checked when created or amended. Every change and every
decision is an audit entry (``blocklist.add``, ``blocklist.remove``, ``blocklist.hold``,
``blocklist.decide``) — with entry and invitation ids, not names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from invitations import blocklist
from services.audit import Actor, record

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from services.root import Kyso


def key_of(kyso: Kyso) -> bytes:
    return blocklist.derive_key(kyso.settings)


def add(
    kyso: Kyso, actor: Actor, *, name: str | None, cccd: str | None, reason: str
) -> tuple[blocklist.EntryView, list[str]]:
    """List a person (name, CCCD or both) for every venue; invitations they match are held at once."""
    with kyso.db.transaction() as session:
        entry, held = blocklist.add_entry(
            session, key_of(kyso), name=name, cccd=cccd, reason=reason, by=actor.name, now=kyso.clock.now()
        )
        record(session, kyso, actor, "blocklist.add", str(entry.id), name=entry.by_name, cccd=entry.by_cccd,
               held=held)  # fmt: skip
    return entry, held


def remove(kyso: Kyso, actor: Actor, entry_id: int) -> blocklist.EntryView:
    with kyso.db.transaction() as session:
        entry = blocklist.remove_entry(session, entry_id, kyso.clock.now())
        record(session, kyso, actor, "blocklist.remove", str(entry_id))
    return entry


def entries(kyso: Kyso) -> list[blocklist.EntryView]:
    with kyso.db.reading() as session:
        return blocklist.entries(session)


def holds(kyso: Kyso, actor: Actor, status: str | None = "pending") -> list[blocklist.HoldView]:
    """The holds the actor may see: an official those on invitations they host; everyone else all."""
    with kyso.db.reading() as session:
        return blocklist.holds(session, status, _owner(actor))


def _owner(actor: Actor) -> int | None:
    """An official approves holds on the guests they host (the host's approval); clerks, the admin, desks
    (which only read) and the CLI see every hold."""
    return actor.account_id if actor.role == "official" else None


def decide(
    kyso: Kyso, actor: Actor, invitation_id: str, decision: str, note: str | None = None
) -> blocklist.HoldView:
    """A named approver (the actor) admits or refuses a held guest; of two at once, one decision stands."""
    with kyso.db.transaction() as session:
        hold = blocklist.decide(
            session, invitation_id, decision, actor.name, kyso.clock.now(), note, owner=_owner(actor)
        )
        record(session, kyso, actor, "blocklist.decide", invitation_id, decision, entry=hold.entry_id)
    return hold


def check(session: Session, kyso: Kyso, actor: Actor, invitation_id: str, cccd: str | None) -> None:
    """Hold a created or amended invitation the block list names, in the caller's transaction, audited."""
    hold = blocklist.check_invitation(session, key_of(kyso), invitation_id, cccd, kyso.clock.now())
    if hold is not None:
        record(session, kyso, actor, "blocklist.hold", invitation_id, matched=hold.matched_on,
               entry=hold.entry_id)  # fmt: skip
