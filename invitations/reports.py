"""Reports for a venue and a day: who is expected, who arrived, who did not come; as JSON or CSV.

A guest is *expected* until their occurrence has ended, *arrived* once admitted (*inside* until checked
out), a *no-show* after the end without an admission; cancelled invitations are listed as such.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from dataclasses import dataclass

from sqlalchemy.orm import Session

from core.clock import VIETNAM, as_utc
from invitations import venues
from store import invitations_repo as repo

CSV_COLUMNS = [
    "invitation_id",
    "guest",
    "host",
    "meeting",
    "starts_at",
    "ends_at",
    "status",
    "admitted_at",
    "checked_out_at",
    "desk",
    "companions",
]


@dataclass(frozen=True)
class ReportRow:
    invitation_id: str
    guest: str
    host: str
    meeting: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    status: str  # expected | arrived | inside | no-show | cancelled
    admitted_at: dt.datetime | None
    checked_out_at: dt.datetime | None
    desk: str | None
    companions: int

    def as_json(self) -> dict[str, object]:
        def local(value: dt.datetime | None) -> str | None:
            return value.astimezone(VIETNAM).isoformat(timespec="minutes") if value else None

        return {
            "invitation_id": self.invitation_id,
            "guest": self.guest,
            "host": self.host,
            "meeting": self.meeting,
            "starts_at": local(self.starts_at),
            "ends_at": local(self.ends_at),
            "status": self.status,
            "admitted_at": local(self.admitted_at),
            "checked_out_at": local(self.checked_out_at),
            "desk": self.desk,
            "companions": self.companions,
        }


@dataclass(frozen=True)
class DayReport:
    venue: str
    venue_name: str
    day: dt.date
    rows: list[ReportRow]

    def counts(self) -> dict[str, int]:
        counts = {"expected": 0, "arrived": 0, "inside": 0, "no-show": 0, "cancelled": 0}
        for row in self.rows:
            counts[row.status] += 1
        counts["arrived_total"] = counts["arrived"] + counts["inside"]
        return counts

    def as_json(self) -> dict[str, object]:
        return {
            "venue": self.venue,
            "venue_name": self.venue_name,
            "day": self.day.isoformat(),
            "counts": self.counts(),
            "guests": [row.as_json() for row in self.rows],
        }

    def csv(self) -> str:
        """UTF-8 CSV (with a BOM so spreadsheet programs read the diacritics); formula-like cells neutered."""
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\r\n")
        writer.writeheader()
        for row in self.rows:
            writer.writerow({key: _cell(value) for key, value in row.as_json().items()})
        return "\ufeff" + buffer.getvalue()


def _cell(value: object) -> object:
    # a guest named "=HYPERLINK(…)" must not become a formula in the host's spreadsheet (CSV injection)
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def day_report(
    session: Session, venue_code: str, day: dt.date, now: dt.datetime, reader: venues.Reader | None = None
) -> DayReport:
    """The venue's guests on ``day`` as ``reader`` may see them (``venues.report_scope``: the whole venue,
    a host's own guests, or FORBIDDEN); the operator's console (no reader) sees all."""
    scope = venues.report_scope(session, reader, venue_code)
    venue = venues.view(session, venue_code)
    rows = []
    found = repo.venue_day(session, venue_code, day, host_account_id=scope.host_account_id)
    for invitation, occurrence, checkins in found:
        first = checkins[0] if checkins else None
        last = checkins[-1] if checkins else None
        ends_at = as_utc(occurrence.ends_at)
        if invitation.status == "cancelled":
            status = "cancelled"
        elif last is not None:
            status = "inside" if last.checked_out_at is None else "arrived"
        else:
            status = "no-show" if ends_at < now else "expected"
        rows.append(
            ReportRow(
                invitation_id=invitation.id,
                guest=invitation.guest_name,
                host=invitation.host_name,
                meeting=invitation.meeting_title,
                starts_at=as_utc(occurrence.starts_at),
                ends_at=ends_at,
                status=status,
                admitted_at=as_utc(first.admitted_at) if first else None,
                checked_out_at=as_utc(last.checked_out_at) if last and last.checked_out_at else None,
                desk=first.desk_code if first else None,
                companions=len(json.loads(invitation.companions)),
            )
        )
    return DayReport(venue.code, venue.name, day, rows)
