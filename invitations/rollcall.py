"""Evacuation roll call: who is inside a venue now (admitted, not checked out), marked safe or missing.

The list is the venue's open check-ins; a mark is kept per check-in (the newest counts) with who made it and
when, so a roll call taken on a phone that lost the network and sent its marks later keeps their order. The
CSV is for the incident commander: UTF-8 with a BOM, formula-like cells neutered (reports._cell).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from dataclasses import dataclass

from sqlalchemy.orm import Session

from core.clock import VIETNAM, as_utc
from core.errors import malformed, not_found
from invitations import reports, venues
from store import rollcall_repo as repo

STATUSES = ("safe", "missing")
CSV_COLUMNS = ["guest", "companions", "host", "host_contact", "guest_phone", "desk", "admitted_at", "mark",
               "marked_at", "marked_by", "checkin_id", "invitation_id"]  # fmt: skip


@dataclass(frozen=True)
class Person:
    checkin_id: int
    invitation_id: str
    guest: str
    companions: list[str]
    host: str
    host_contact: str | None
    guest_phone: str | None
    desk: str
    admitted_at: dt.datetime
    mark: str | None  # safe | missing | None (not marked yet)
    marked_at: dt.datetime | None
    marked_by: str | None

    def as_json(self) -> dict[str, object]:
        def local(value: dt.datetime | None) -> str | None:
            return value.astimezone(VIETNAM).isoformat() if value else None

        return {
            "checkin_id": self.checkin_id,
            "invitation_id": self.invitation_id,
            "guest": self.guest,
            "companions": self.companions,
            "host": self.host,
            "host_contact": self.host_contact,
            "guest_phone": self.guest_phone,
            "desk": self.desk,
            "admitted_at": local(self.admitted_at),
            "mark": self.mark,
            "marked_at": local(self.marked_at),
            "marked_by": self.marked_by,
        }


@dataclass(frozen=True)
class RollCall:
    venue: str
    venue_name: str
    at: dt.datetime
    people: list[Person]

    def counts(self) -> dict[str, int]:
        marks = [p.mark for p in self.people]
        inside = len(self.people) + sum(len(p.companions) for p in self.people)
        return {"people": len(self.people), "inside": inside, "safe": marks.count("safe"),
                "missing": marks.count("missing"), "unmarked": marks.count(None)}  # fmt: skip

    def as_json(self) -> dict[str, object]:
        return {
            "venue": self.venue,
            "venue_name": self.venue_name,
            "at": self.at.astimezone(VIETNAM).isoformat(),
            "counts": self.counts(),
            "people": [p.as_json() for p in self.people],
        }

    def csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\r\n", extrasaction="ignore")
        writer.writeheader()
        for person in self.people:
            row = person.as_json()
            row["companions"] = "; ".join(person.companions)
            row["mark"] = person.mark or "unmarked"
            writer.writerow({key: reports._cell(value) for key, value in row.items()})
        return "\ufeff" + buffer.getvalue()


def roll_call(session: Session, venue_code: str, now: dt.datetime) -> RollCall:
    """Who is inside ``venue_code`` now, with the newest mark on each."""
    venue = venues.view(session, venue_code)  # NOT_FOUND for an unknown venue
    rows = repo.inside(session, venue_code)
    marks = repo.latest_marks(session, [r.checkin_id for r in rows])
    people = []
    for r in rows:
        mark = marks.get(r.checkin_id)
        guest = f"{r.guest_title} {r.guest_name}" if r.guest_title else r.guest_name
        person = Person(
            checkin_id=r.checkin_id,
            invitation_id=r.invitation_id,
            guest=guest,
            companions=json.loads(r.companions),
            host=r.host_name,
            host_contact=r.host_contact,
            guest_phone=r.guest_phone,
            desk=r.desk_code,
            admitted_at=as_utc(r.admitted_at),
            mark=mark.status if mark else None,
            marked_at=as_utc(mark.marked_at) if mark else None,
            marked_by=mark.marked_by if mark else None,
        )
        people.append(person)
    return RollCall(venue.code, venue.name, now, people)


def mark(
    session: Session, venue_code: str, checkin_id: int, status: str, by: str, at: dt.datetime
) -> dict[str, object]:
    """Mark a person inside ``venue_code`` safe or missing; ``at``: when the marker saw them (a phone that
    was offline sends its marks later), never later than now."""
    if status not in STATUSES:
        raise malformed(f"a roll-call mark is one of {', '.join(STATUSES)}")
    if repo.open_checkin_at(session, checkin_id, venue_code) is None:
        raise not_found(f"no one inside {venue_code} under check-in {checkin_id}")
    made = repo.add_mark(session, checkin_id, venue_code, status, at, by[:100])
    return {"checkin_id": checkin_id, "mark": made.status, "marked_at": at.astimezone(VIETNAM).isoformat(),
            "marked_by": made.marked_by}  # fmt: skip
