"""The evacuation roll call's SQL: who is inside a venue now (open check-ins) and the marks on them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from store.models import CheckIn, Invitation, RollcallMark


def inside(session: Session, venue_code: str) -> Sequence[Row[Any]]:
    """The venue's open check-ins with their guests, in admission order."""
    query = (
        select(
            CheckIn.id.label("checkin_id"),
            CheckIn.invitation_id,
            CheckIn.desk_code,
            CheckIn.admitted_at,
            Invitation.guest_name,
            Invitation.guest_title,
            Invitation.companions,
            Invitation.host_name,
            Invitation.host_contact,
            Invitation.guest_phone,
        )
        .join(Invitation, Invitation.id == CheckIn.invitation_id)
        .where(CheckIn.venue_code == venue_code, CheckIn.checked_out_at.is_(None))
        .order_by(CheckIn.admitted_at, CheckIn.id)
    )
    return session.execute(query).all()  # type: ignore[return-value]


def latest_marks(session: Session, checkin_ids: Sequence[int]) -> dict[int, RollcallMark]:
    """The newest mark of each check-in that has one."""
    if not checkin_ids:
        return {}
    rows = session.scalars(
        select(RollcallMark)
        .where(RollcallMark.checkin_id.in_(checkin_ids))
        .order_by(RollcallMark.marked_at, RollcallMark.id)
    ).all()
    return {row.checkin_id: row for row in rows}  # later rows overwrite earlier ones


def open_checkin_at(session: Session, checkin_id: int, venue_code: str) -> CheckIn | None:
    return session.scalars(
        select(CheckIn).where(
            CheckIn.id == checkin_id, CheckIn.venue_code == venue_code, CheckIn.checked_out_at.is_(None)
        )
    ).one_or_none()


def add_mark(
    session: Session, checkin_id: int, venue_code: str, status: str, marked_at: dt.datetime, marked_by: str
) -> RollcallMark:
    mark = RollcallMark(
        checkin_id=checkin_id, venue_code=venue_code, status=status, marked_at=marked_at, marked_by=marked_by
    )
    session.add(mark)
    session.flush()
    return mark
