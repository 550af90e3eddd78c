"""Venues (a ward office, a building) and their security desks, and who may read a venue's guests."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from sqlalchemy.orm import Session

from core.clock import Clock
from core.errors import Kind, ServiceError, conflict, malformed, not_found
from store import invitations_repo as repo
from store.models import Desk, Venue

CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")
MAX_RETENTION_DAYS = 3650


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
    retention_days: int | None = None  # None: the instance's KYSO_INVITATION_RETENTION_DAYS

    def as_json(self) -> dict[str, object]:
        return {
            "code": self.code,
            "name": self.name,
            "address": self.address,
            "desks": [d.as_json() for d in self.desks],
            "retention_days": self.retention_days,
        }

    def keeps_for(self, default_days: int) -> int:
        """Days after an invitation here ends before its guest is anonymised."""
        return self.retention_days if self.retention_days is not None else default_days


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
    retention_days: int | None = None,
) -> VenueView:
    code = check_code(code, "venue")
    if retention_days is not None and not 1 <= retention_days <= MAX_RETENTION_DAYS:
        raise malformed(f"a venue keeps guest data 1 to {MAX_RETENTION_DAYS} days")
    desk_codes = [check_code(d, "desk") for d in desks or []]
    if len(set(desk_codes)) != len(desk_codes):
        raise malformed("a desk code is given twice")
    now = clock.now()
    venue = Venue(
        code=code,
        name=clean_text(name, "venue name", 200),
        address=clean_text(address, "address", 300) if address else None,
        created_at=now,
        retention_days=retention_days,
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


def set_retention(session: Session, code: str, retention_days: int | None) -> VenueView:
    """Set (or with None clear) how many days after an invitation ends its guest's data is kept."""
    venue = repo.venue(session, code)
    if venue is None:
        raise not_found(f"no venue {code!r}")
    if retention_days is not None and not 1 <= retention_days <= MAX_RETENTION_DAYS:
        raise malformed(f"a venue keeps guest data 1 to {MAX_RETENTION_DAYS} days")
    venue.retention_days = retention_days
    session.flush()
    return view(session, code)


def view(session: Session, code: str) -> VenueView:
    venue = repo.venue(session, code)
    if venue is None:
        raise not_found(f"no venue {code!r}")
    desks = [DeskView(d.code, d.name) for d in repo.desks_of(session, code)]
    return VenueView(venue.code, venue.name, venue.address, desks, venue.retention_days)


def all_venues(session: Session) -> list[VenueView]:
    return [view(session, v.code) for v in repo.venues(session)]


# --- who reads a venue's guests (issue 16 item 11) ----------------------------------------------------
# The admin, and the roles that already manage every invitation (clerks inviting for hosts, integrators'
# service accounts), see every venue.
EVERY_VENUE = frozenset({"admin", "clerk", "service"})


@dataclass(frozen=True)
class Reader:
    """The account asking for a venue's report or conflicts. The operator's console (the CLI) passes none
    and sees everything."""

    account_id: int
    role: str


@dataclass(frozen=True)
class Scope:
    """What of a venue a reader sees: all of it, or only the invitations one account hosts there."""

    host_account_id: int | None = None  # None: the whole venue

    @property
    def whole(self) -> bool:
        return self.host_account_id is None


WHOLE = Scope()


def report_scope(session: Session, reader: Reader | None, venue_code: str) -> Scope:
    """The venue's own people: accounts assigned to it (its desks, officials an admin placed there) see
    it whole; a host of an invitation there sees their own guests; others are refused (FORBIDDEN). The
    venue must exist (NOT_FOUND)."""
    if repo.venue(session, venue_code) is None:
        raise not_found(f"no venue {venue_code!r}")
    if reader is None or reader.role in EVERY_VENUE:
        return WHOLE
    if repo.account_venue(session, reader.account_id) == venue_code:
        return WHOLE
    if repo.hosts_at(session, reader.account_id, venue_code):
        return Scope(reader.account_id)
    raise ServiceError(
        Kind.FORBIDDEN,
        f"venue {venue_code}'s guests are for its own hosts and desks and the admin; "
        "this account neither works there nor hosts an invitation there",
    )


def conflict_visibility(session: Session, reader: Reader | None) -> tuple[str | None, int] | None:
    """Which offline records a reader sees: None for all; else (the venue the account is assigned to,
    or None; the account) — records from that venue's desks and about invitations the account hosts."""
    if reader is None or reader.role in EVERY_VENUE:
        return None
    return repo.account_venue(session, reader.account_id), reader.account_id
