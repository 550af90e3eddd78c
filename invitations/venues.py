"""Venues (a ward office, a building) and their security desks."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from sqlalchemy.orm import Session

from core.clock import Clock
from core.errors import conflict, malformed, not_found
from store import invitations_repo as repo
from store.models import Desk, Venue

CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")


@dataclass(frozen=True)
class DeskView:
    code: str
    name: str

    def as_json(self) -> dict[str, str]:
        return {"code": self.code, "name": self.name}


@dataclass(frozen=True)
class VenueView:
    code: str
    name: str
    address: str | None
    desks: list[DeskView]

    def as_json(self) -> dict[str, object]:
        return {
            "code": self.code,
            "name": self.name,
            "address": self.address,
            "desks": [d.as_json() for d in self.desks],
        }


def check_code(code: str, what: str) -> str:
    code = code.strip()
    if not CODE.fullmatch(code):
        raise malformed(f"{what} codes are 1-40 letters, digits, '.', '_' or '-' (e.g. UBND-BT, gate-1)")
    return code


def clean_text(text: str, what: str, limit: int) -> str:
    """NFC, trimmed, 1..limit characters, no control characters (a name, a title)."""
    value = unicodedata.normalize("NFC", text).strip()
    if not value or len(value) > limit:
        raise malformed(f"the {what} must have 1 to {limit} characters")
    if any(unicodedata.category(char).startswith("C") for char in value):
        raise malformed(f"the {what} contains control characters")
    return value


def add(
    session: Session,
    clock: Clock,
    code: str,
    name: str,
    *,
    address: str | None = None,
    desks: list[str] | None = None,
) -> VenueView:
    code = check_code(code, "venue")
    desk_codes = [check_code(d, "desk") for d in desks or []]
    if len(set(desk_codes)) != len(desk_codes):
        raise malformed("a desk code is given twice")
    now = clock.now()
    venue = Venue(
        code=code,
        name=clean_text(name, "venue name", 200),
        address=clean_text(address, "address", 300) if address else None,
        created_at=now,
    )
    rows = [Desk(code=d, venue_code=code, name=d, created_at=now) for d in desk_codes]
    if not repo.add_venue(session, venue, rows):
        raise conflict(f"venue {code} or one of its desk codes exists already (desk codes are unique)")
    return view(session, code)


def add_desk(session: Session, clock: Clock, venue_code: str, code: str, name: str | None = None) -> DeskView:
    if repo.venue(session, venue_code) is None:
        raise not_found(f"no venue {venue_code!r}")
    code = check_code(code, "desk")
    desk = Desk(
        code=code,
        venue_code=venue_code,
        name=clean_text(name or code, "desk name", 200),
        created_at=clock.now(),
    )
    if not repo.add_desk(session, desk):
        raise conflict(f"desk {code} exists already (desk codes are unique across venues)")
    return DeskView(desk.code, desk.name)


def view(session: Session, code: str) -> VenueView:
    venue = repo.venue(session, code)
    if venue is None:
        raise not_found(f"no venue {code!r}")
    desks = [DeskView(d.code, d.name) for d in repo.desks_of(session, code)]
    return VenueView(venue.code, venue.name, venue.address, desks)


def all_venues(session: Session) -> list[VenueView]:
    return [view(session, v.code) for v in repo.venues(session)]
