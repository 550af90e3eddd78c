"""The block list's SQL: entries, the invitations they may hold, and the holds (one per invitation)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from store.models import BlocklistEntry, BlocklistHold, Invitation


def add_entry(session: Session, entry: BlocklistEntry) -> BlocklistEntry:
    session.add(entry)
    session.flush()
    return entry


def entry(session: Session, entry_id: int) -> BlocklistEntry | None:
    return session.get(BlocklistEntry, entry_id)


def active_entries(session: Session) -> Sequence[BlocklistEntry]:
    return session.scalars(
        select(BlocklistEntry).where(BlocklistEntry.removed_at.is_(None)).order_by(BlocklistEntry.id)
    ).all()


def matching_entries(session: Session, name_key: str, cccd_key: str | None) -> Sequence[BlocklistEntry]:
    """Active entries with this name key or (when given) this CCCD key, oldest first."""
    wanted = [BlocklistEntry.name_key == name_key]
    if cccd_key is not None:
        wanted.append(BlocklistEntry.cccd_key == cccd_key)
    return session.scalars(
        select(BlocklistEntry)
        .where(BlocklistEntry.removed_at.is_(None), or_(*wanted))
        .order_by(BlocklistEntry.id)
    ).all()


def unheld_invitations(session: Session, now: dt.datetime) -> Sequence[Invitation]:
    """Active invitations not over yet and not held: the ones a new entry may hold."""
    return session.scalars(
        select(Invitation).where(
            Invitation.status == "active", Invitation.ends_at > now, Invitation.hold.is_(None)
        )
    ).all()


def add_hold(session: Session, hold: BlocklistHold) -> None:
    session.add(hold)
    session.execute(
        update(Invitation)
        .where(Invitation.id == hold.invitation_id)
        .values(hold=hold.status)
        .execution_options(synchronize_session=False)
    )
    session.flush()


def hold_of(session: Session, invitation_id: str) -> BlocklistHold | None:
    return session.scalars(
        select(BlocklistHold).where(BlocklistHold.invitation_id == invitation_id)
    ).one_or_none()


def holds(session: Session, status: str | None = None) -> Sequence[BlocklistHold]:
    query = select(BlocklistHold).order_by(BlocklistHold.held_at, BlocklistHold.id)
    if status is not None:
        query = query.where(BlocklistHold.status == status)
    return session.scalars(query).all()


def decide_hold(
    session: Session, invitation_id: str, status: str, by: str, at: dt.datetime, note: str | None
) -> bool:
    """Decide a pending hold with one conditional UPDATE: of approvers deciding at once, exactly one wins."""
    result = session.execute(
        update(BlocklistHold)
        .where(BlocklistHold.invitation_id == invitation_id, BlocklistHold.status == "pending")
        .values(status=status, decided_by=by, decided_at=at, note=note)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    session.execute(
        update(Invitation)
        .where(Invitation.id == invitation_id)
        .values(hold=status)
        .execution_options(synchronize_session=False)
    )
    return True
