"""Queries for invitations, desks and check-ins. invitations/ calls these; only store/ writes SQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import Row, and_, bindparam, delete, exists, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from store.models import (
    Account,
    CheckIn,
    Desk,
    Invitation,
    InvitationKey,
    InvitationLetter,
    InvitationOccurrence,
    OfflineCheckIn,
    OutboxMessage,
    Venue,
)


# --- venues and desks ---------------------------------------------------------------------------------
def add_venue(session: Session, venue: Venue, desks: Sequence[Desk]) -> bool:
    """False (nothing written) when the venue code or a desk code is taken."""
    try:
        with session.begin_nested():
            session.add(venue)
            session.flush()
            session.add_all(desks)
            session.flush()
        return True
    except IntegrityError:
        return False


def add_desk(session: Session, desk: Desk) -> bool:
    try:
        with session.begin_nested():
            session.add(desk)
            session.flush()
        return True
    except IntegrityError:
        return False


def venue(session: Session, code: str) -> Venue | None:
    return session.get(Venue, code)


def venues(session: Session) -> Sequence[Venue]:
    return session.scalars(select(Venue).order_by(Venue.code)).all()


def desk(session: Session, code: str) -> Desk | None:
    return session.get(Desk, code)


def desks_of(session: Session, venue_code: str) -> Sequence[Desk]:
    return session.scalars(select(Desk).where(Desk.venue_code == venue_code).order_by(Desk.code)).all()


def account_venue(session: Session, account_id: int) -> str | None:
    return session.scalar(select(Account.venue).where(Account.id == account_id))


def account_by_username(session: Session, username: str) -> Account | None:
    return session.scalars(select(Account).where(Account.username == username)).one_or_none()


def account_names(session: Session, account_ids: set[int]) -> dict[int, str]:
    if not account_ids:
        return {}
    rows = session.execute(select(Account.id, Account.username).where(Account.id.in_(account_ids))).all()
    return {row.id: row.username for row in rows}


# --- invitations --------------------------------------------------------------------------------------
def add_invitation(
    session: Session, invitation: Invitation, occurrences: Sequence[InvitationOccurrence]
) -> bool:
    """False when the (random) id is already taken; the caller draws another."""
    try:
        with session.begin_nested():
            session.add(invitation)
            session.flush()
            session.add_all(occurrences)
            session.flush()
        return True
    except IntegrityError:
        return False


def invitation(session: Session, invitation_id: str, *, for_update: bool = False) -> Invitation | None:
    query = select(Invitation).where(Invitation.id == invitation_id)
    if for_update:
        query = query.with_for_update()
    return session.scalars(query).one_or_none()


_DECISION_COLUMNS = (
    Invitation.id,
    Invitation.status,
    Invitation.token_id,
    Invitation.token_version,
    Invitation.entries_allowed,
    Invitation.rotating,
    Invitation.rotating_secret,
    Invitation.cccd_hash,
    Invitation.guest_name,
    Invitation.host_name,
    Invitation.host_contact,
    Invitation.hold,
    Invitation.meeting_title,
    Invitation.companions,
    Invitation.notify_webhook,
    Invitation.notify_email,
)


# The desk's hot path runs prebuilt Core statements on the session's connection: no ORM execution layer and
# no statement construction or cache-key generation per scan.
_FOR_DECISION = select(*_DECISION_COLUMNS).where(Invitation.id.in_(bindparam("ids", expanding=True)))


def invitations_for_decision(session: Session, invitation_ids: set[str]) -> dict[str, Row[Any]]:
    """The columns desk decisions read, as plain rows by id (no ORM identity map on the hot path)."""
    if not invitation_ids:
        return {}
    rows = session.connection().execute(_FOR_DECISION, {"ids": sorted(invitation_ids)})
    return {row.id: row for row in rows}


_PerInvitation = TypeVar("_PerInvitation", InvitationOccurrence, CheckIn)


def _by_invitation(
    session: Session, model: type[_PerInvitation], invitation_ids: Sequence[str], *order: Any
) -> dict[str, list[_PerInvitation]]:
    """Rows of ``model`` for these invitations, grouped by invitation (every id present), in ``order``."""
    found: dict[str, list[_PerInvitation]] = {i: [] for i in invitation_ids}
    if not invitation_ids:
        return found
    rows = session.scalars(select(model).where(model.invitation_id.in_(invitation_ids)).order_by(*order))
    for row in rows.all():
        found[row.invitation_id].append(row)
    return found


def occurrences(session: Session, invitation_ids: Sequence[str]) -> dict[str, list[InvitationOccurrence]]:
    return _by_invitation(
        session,
        InvitationOccurrence,
        invitation_ids,
        InvitationOccurrence.invitation_id,
        InvitationOccurrence.number,
    )


def replace_occurrences(
    session: Session, invitation_id: str, windows: Sequence[tuple[dt.date, dt.datetime, dt.datetime]]
) -> None:
    """Make the occurrences match ``windows``, keeping the entries already used of those that remain."""
    existing = {o.number: o for o in occurrences(session, [invitation_id])[invitation_id]}
    for number, (day, starts_at, ends_at) in enumerate(windows):
        row = existing.pop(number, None)
        if row is None:
            session.add(
                InvitationOccurrence(
                    invitation_id=invitation_id,
                    number=number,
                    day=day,
                    starts_at=starts_at,
                    ends_at=ends_at,
                    entries_used=0,
                )
            )
        else:
            row.day, row.starts_at, row.ends_at = day, starts_at, ends_at
    for row in existing.values():
        session.delete(row)
    session.flush()


def search_invitations(
    session: Session,
    *,
    host_account_id: int | None = None,
    venue_code: str | None = None,
    day: dt.date | None = None,
    status: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[Sequence[Invitation], int]:
    query = select(Invitation)
    if host_account_id is not None:
        query = query.where(Invitation.host_account_id == host_account_id)
    if venue_code:
        query = query.where(Invitation.venue_code == venue_code)
    if status:
        query = query.where(Invitation.status == status)
    if day is not None:
        query = query.where(
            exists().where(
                InvitationOccurrence.invitation_id == Invitation.id, InvitationOccurrence.day == day
            )
        )
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(Invitation.starts_at.desc(), Invitation.id).limit(limit).offset(offset)
    )
    return rows.all(), total


_CONSUME = (
    update(InvitationOccurrence)
    .where(
        InvitationOccurrence.invitation_id == bindparam("b_invitation_id"),
        InvitationOccurrence.number == bindparam("b_number"),
        InvitationOccurrence.entries_used < bindparam("b_allowed"),
        exists().where(
            Invitation.id == bindparam("b_invitation_id"),
            Invitation.status == "active",
            Invitation.token_id == bindparam("b_token_id"),
        ),
    )
    .values(entries_used=InvitationOccurrence.entries_used + 1)
    .returning(InvitationOccurrence.entries_used, InvitationOccurrence.ends_at)
)


def consume_entry(
    session: Session, invitation_id: str, number: int, allowed: int, token_id: str
) -> tuple[int, dt.datetime] | None:
    """Use one entry of an occurrence atomically: exactly ``allowed`` callers succeed, however many race.

    A single conditional UPDATE: on PostgreSQL a second writer waits for the first's row lock and then
    re-evaluates ``entries_used < allowed`` against the committed row; SQLite writers are serialised by
    BEGIN IMMEDIATE. The invitation must still be active with this token, checked in the same statement.
    Returns the entries now used and the occurrence's end, or None when nothing was left to use.
    """
    row = (
        session.connection()
        .execute(
            _CONSUME,
            {
                "b_invitation_id": invitation_id,
                "b_number": number,
                "b_allowed": allowed,
                "b_token_id": token_id,
            },
        )
        .first()
    )
    return (row.entries_used, row.ends_at) if row is not None else None


_ADD_CHECKIN = insert(CheckIn).returning(CheckIn.id)


def add_checkin_row(session: Session, **values: object) -> int:
    """Insert a check-in without the ORM's unit of work (the hot path of a desk); returns its id."""
    return session.connection().execute(_ADD_CHECKIN, values).scalar_one()


def revoked_for_venue(
    session: Session, venue_code: str, start: dt.datetime, end: dt.datetime
) -> Sequence[Invitation]:
    """Invitations of a venue with an occurrence overlapping [start, end]: what an offline desk needs."""
    overlapping = exists().where(
        InvitationOccurrence.invitation_id == Invitation.id,
        InvitationOccurrence.ends_at >= start,
        InvitationOccurrence.starts_at <= end,
    )
    return session.scalars(
        select(Invitation).where(Invitation.venue_code == venue_code, overlapping).order_by(Invitation.id)
    ).all()


# --- check-ins ----------------------------------------------------------------------------------------
def add_checkin(session: Session, checkin: CheckIn) -> CheckIn:
    session.add(checkin)
    session.flush()
    return checkin


def checkin(session: Session, checkin_id: int) -> CheckIn | None:
    return session.get(CheckIn, checkin_id)


def checkins_of(session: Session, invitation_id: str) -> Sequence[CheckIn]:
    return session.scalars(
        select(CheckIn).where(CheckIn.invitation_id == invitation_id).order_by(CheckIn.admitted_at)
    ).all()


def checkins_for(session: Session, invitation_ids: Sequence[str]) -> dict[str, list[CheckIn]]:
    """The check-ins of these invitations, each list in admission order."""
    return _by_invitation(session, CheckIn, invitation_ids, CheckIn.admitted_at, CheckIn.id)


def open_checkin(session: Session, invitation_id: str) -> CheckIn | None:
    return session.scalars(
        select(CheckIn)
        .where(CheckIn.invitation_id == invitation_id, CheckIn.checked_out_at.is_(None))
        .order_by(CheckIn.admitted_at.desc())
    ).first()


def check_out(session: Session, checkin_id: int, at: dt.datetime, by: str) -> bool:
    result = session.execute(
        update(CheckIn)
        .where(CheckIn.id == checkin_id, CheckIn.checked_out_at.is_(None))
        .values(checked_out_at=at, checkout_by=by)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


def open_checkins_before(session: Session, before: dt.datetime) -> Sequence[CheckIn]:
    return session.scalars(
        select(CheckIn).where(CheckIn.checked_out_at.is_(None), CheckIn.admitted_at < before)
    ).all()


def venue_day(
    session: Session, venue_code: str, day: dt.date, *, host_account_id: int | None = None
) -> list[tuple[Invitation, InvitationOccurrence, list[CheckIn]]]:
    """Every invitation of the venue (or only those ``host_account_id`` hosts) with an occurrence on
    ``day``, with that occurrence's check-ins."""
    query = (
        select(Invitation, InvitationOccurrence)
        .join(InvitationOccurrence, InvitationOccurrence.invitation_id == Invitation.id)
        .where(Invitation.venue_code == venue_code, InvitationOccurrence.day == day)
    )
    if host_account_id is not None:
        query = query.where(Invitation.host_account_id == host_account_id)
    rows = session.execute(query.order_by(InvitationOccurrence.starts_at, Invitation.guest_name)).all()
    if not rows:
        return []
    ids = [invitation.id for invitation, _ in rows]
    found: dict[tuple[str, int], list[CheckIn]] = {}
    for row in session.scalars(
        select(CheckIn).where(CheckIn.invitation_id.in_(ids)).order_by(CheckIn.admitted_at)
    ):
        found.setdefault((row.invitation_id, row.occurrence), []).append(row)
    return [(inv, occ, found.get((inv.id, occ.number), [])) for inv, occ in rows]


# --- offline desks ------------------------------------------------------------------------------------
def offline_record(session: Session, desk_code: str, record_id: str) -> OfflineCheckIn | None:
    return session.scalars(
        select(OfflineCheckIn).where(
            OfflineCheckIn.desk_code == desk_code, OfflineCheckIn.record_id == record_id
        )
    ).one_or_none()


def add_offline_record(session: Session, record: OfflineCheckIn) -> bool:
    """False when this desk already sent this record (a retried sync)."""
    try:
        with session.begin_nested():
            session.add(record)
            session.flush()
        return True
    except IntegrityError:
        return False


def offline_records(
    session: Session,
    *,
    outcome: str | None = None,
    unreviewed: bool = False,
    limit: int = 200,
    visible_to: tuple[str | None, int] | None = None,
) -> Sequence[OfflineCheckIn]:
    """``visible_to`` (a venue or None, an account id): only records from that venue's desks or about
    invitations that account hosts."""
    query = select(OfflineCheckIn)
    if outcome:
        query = query.where(OfflineCheckIn.outcome == outcome)
    if visible_to is not None:
        query = query.where(offline_record_visible(*visible_to))
    if unreviewed:
        query = query.where(OfflineCheckIn.reviewed_at.is_(None))
    return session.scalars(query.order_by(OfflineCheckIn.id.desc()).limit(limit)).all()


def offline_record_by_id(session: Session, record_id: int) -> OfflineCheckIn | None:
    return session.get(OfflineCheckIn, record_id)


def offline_record_visible(venue_code: str | None, host_account_id: int) -> Any:
    """The condition: a record from a desk of ``venue_code``, or about an invitation the account hosts."""
    hosted = OfflineCheckIn.invitation_id.in_(
        select(Invitation.id).where(Invitation.host_account_id == host_account_id)
    )
    if venue_code is None:
        return hosted
    return or_(OfflineCheckIn.desk_code.in_(select(Desk.code).where(Desk.venue_code == venue_code)), hosted)


def offline_record_visible_to(
    session: Session, record_id: int, venue_code: str | None, host_account_id: int
) -> bool:
    visible = offline_record_visible(venue_code, host_account_id)
    return bool(session.scalar(select(exists().where(OfflineCheckIn.id == record_id, visible))))


def hosts_at(session: Session, account_id: int, venue_code: str) -> bool:
    """Whether the account hosts (or hosted) any invitation at the venue."""
    return bool(
        session.scalar(
            select(
                exists().where(Invitation.host_account_id == account_id, Invitation.venue_code == venue_code)
            )
        )
    )


# --- seal keys ----------------------------------------------------------------------------------------
def invitation_keys(session: Session) -> Sequence[InvitationKey]:
    return session.scalars(select(InvitationKey).order_by(InvitationKey.added_at)).all()


def add_invitation_key(session: Session, key: InvitationKey) -> None:
    try:
        with session.begin_nested():
            session.add(key)
            session.flush()
    except IntegrityError:
        pass  # registered by another process meanwhile


def invitation_key(session: Session, kid: str) -> InvitationKey | None:
    return session.get(InvitationKey, kid)


# --- retention ----------------------------------------------------------------------------------------
def ended_before(session: Session, before: dt.datetime) -> Sequence[Invitation]:
    return session.scalars(
        select(Invitation).where(Invitation.ends_at < before, Invitation.anonymised_at.is_(None))
    ).all()


# --- outbox -------------------------------------------------------------------------------------------
def add_outbox(session: Session, message: OutboxMessage) -> None:
    session.add(message)
    session.flush()


def due_outbox(session: Session, now: dt.datetime, stale_before: dt.datetime, limit: int) -> Sequence[int]:
    """Ids of messages to send: pending and due, or stuck in 'sending' (a worker died) since long ago."""
    return session.scalars(
        select(OutboxMessage.id)
        .where(
            or_(
                and_(OutboxMessage.status == "pending", OutboxMessage.due_at <= now),
                and_(OutboxMessage.status == "sending", OutboxMessage.due_at <= stale_before),
            )
        )
        .order_by(OutboxMessage.due_at)
        .limit(limit)
    ).all()


def claim_outbox(session: Session, message_id: int, now: dt.datetime, stale_before: dt.datetime) -> bool:
    """Mark a message as being sent by this worker; False when another worker claimed it first."""
    result = session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id == message_id,
            or_(
                OutboxMessage.status == "pending",
                and_(OutboxMessage.status == "sending", OutboxMessage.due_at <= stale_before),
            ),
        )
        .values(status="sending", due_at=now, attempts=OutboxMessage.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


def outbox_message(session: Session, message_id: int) -> OutboxMessage | None:
    return session.get(OutboxMessage, message_id)


def outbox_for(session: Session, invitation_id: str) -> Sequence[OutboxMessage]:
    return session.scalars(
        select(OutboxMessage).where(OutboxMessage.invitation_id == invitation_id).order_by(OutboxMessage.id)
    ).all()


# --- invitation letters -------------------------------------------------------------------------------
def letter(session: Session, invitation_id: str) -> InvitationLetter | None:
    return session.get(InvitationLetter, invitation_id)


def put_letter(session: Session, letter: InvitationLetter) -> None:
    """Keep ``letter`` as the invitation's one letter, replacing a letter for an older token."""
    old = session.get(InvitationLetter, letter.invitation_id)
    if old is not None:
        session.delete(old)
        session.flush()
    session.add(letter)
    session.flush()


def delete_letter(session: Session, invitation_id: str) -> None:
    session.execute(delete(InvitationLetter).where(InvitationLetter.invitation_id == invitation_id))
