"""Security-desk use cases: the check-in decision, check-out, offline bundles and sync, conflict review.

Each function takes the composition root and the ``Actor`` at the desk, runs the action in its
transaction with its audit entry, and returns ``invitations/``'s records; refusals are
``core.errors.ServiceError``. ``api/routers/checkins.py`` and ``cli/invite_cmd.py`` only parse, call and
render. A decision (admit or deny) is an answer, not an error: its transaction commits with its entry.

``kyso serve``'s connection handler (``api/fastpath/checkins.py``) decides groups of scans in pipelined
SQL rather than through ``check_in``; the entry it appends for each decision is ``decision_entry``'s, the
one ``check_in`` writes, so the action, outcome and details are said here once.

A desk account (role ``desk``) works at its venue only; other actors (integrators, managers, the CLI's
operator) are not limited to one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from core.clock import VIETNAM
from core.errors import Kind, ServiceError
from identity import audit
from invitations import blocklist, checkin, offline, rollcall, service, venues
from invitations.checkin import Checkout, Decision, DeskRef
from invitations.reasons import Reason
from services import blocklist as lists
from services.audit import Actor, record
from store import invitations_repo as repo

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from invitations.service import InvitationContext
    from services.root import Kyso

DECIDE = "checkin.decide"


def decision_entry(actor: Actor, decision: Decision) -> audit.Entry:
    """The audit entry of a check-in decision, written by ``check_in`` and by the fast path's groups."""
    return audit.Entry(
        actor=actor.name,
        action=DECIDE,
        target=decision.invitation_id,
        outcome="admit" if decision.admitted else "deny",
        source=actor.source,
        details=decision.audit_details(),
    )


def desk_venue_of(session: Session, actor: Actor, context: InvitationContext) -> str | None:
    """A desk account's venue (remembered for 30 s: moving a desk account to another venue takes effect
    within that time); None for everyone else, who may use any desk."""
    if actor.role != "desk" or actor.account_id is None:
        return None
    account_id = actor.account_id
    return context.remember(("account-venue", account_id), lambda: repo.account_venue(session, account_id))


def _desk(session: Session, actor: Actor, context: InvitationContext, desk_code: str) -> DeskRef:
    return checkin.desk_for(session, desk_code, desk_venue_of(session, actor, context), context)


def reader_of(actor: Actor) -> venues.Reader | None:
    """Whose view of a venue's reports and conflicts: an account's; None (everything) for the console."""
    if actor.account_id is None or actor.role is None:
        return None
    return venues.Reader(actor.account_id, actor.role)


# --- at the desk --------------------------------------------------------------------------------------
def check_in(
    kyso: Kyso, actor: Actor, desk_code: str, scanned: str | None, *, card_qr: str | None = None
) -> Decision:
    """Admit or deny a scanned pass at a desk; ``scanned`` None: the image held no QR code (a deny)."""
    context = kyso.invitations
    with kyso.db.transaction() as session:
        desk = _desk(session, actor, context, desk_code)
        if scanned is None:
            decision = Decision(False, Reason.NO_QR, "no QR code in the image", desk.code, desk.venue_code)
        else:
            decision = checkin.check_in(session, context, scanned, desk, actor.name, card_qr=card_qr)
        audit.append_all(session, clock=kyso.clock, entries=[decision_entry(actor, decision)])
    return decision


def check_out(
    kyso: Kyso, actor: Actor, desk_code: str, *, checkin_id: int | None = None, scanned: str | None = None
) -> Checkout:
    """Check a guest out, by the check-in's id or by scanning the pass again."""
    context = kyso.invitations
    with kyso.db.transaction() as session:
        desk = _desk(session, actor, context, desk_code)
        done = checkin.check_out(session, context, desk, checkin_id=checkin_id, scanned=scanned)
        record(session, kyso, actor, "checkin.checkout", done.invitation_id, desk=desk.code,
               checkin=done.checkin_id)  # fmt: skip
    return done


def auto_checkout(kyso: Kyso, actor: Actor) -> int:
    """Check out everyone still inside from an earlier day; the number checked out."""
    context = kyso.invitations
    with kyso.db.transaction() as session:
        if count := checkin.auto_checkout(session, context):
            record(session, kyso, actor, "checkin.auto_checkout", None, count=count)
    return count


# --- offline desks ------------------------------------------------------------------------------------
def bundle(kyso: Kyso, actor: Actor, venue: str, hours: int) -> bytes:
    """The signed bundle a venue's offline desks work from, valid ``hours``."""
    context = kyso.invitations
    with kyso.db.transaction() as session:
        if repo.venue(session, venue) is None:
            raise ServiceError(Kind.NOT_FOUND, f"no venue {venue!r}")
        limit = desk_venue_of(session, actor, context)
        if limit is not None and limit != venue:
            raise ServiceError(Kind.FORBIDDEN, f"this account works at venue {limit}")
        data = offline.build_bundle(session, context, venue, dt.timedelta(hours=hours))
        record(session, kyso, actor, "checkin.bundle", venue, hours=hours)
    return data


def sync(
    kyso: Kyso, actor: Actor, desk_code: str, records: Sequence[Mapping[str, object]]
) -> list[offline.SyncOutcome]:
    """Record an offline desk's journal, an audit entry per new record; a pass admitted twice is a
    conflict. Idempotent: records already synced come back as "duplicate" and are not audited again."""
    context = kyso.invitations
    with kyso.db.transaction() as session:
        desk = _desk(session, actor, context, desk_code)
        outcomes = offline.sync(session, context, desk, list(records), actor.name)
        for outcome in outcomes:
            if outcome.outcome != "duplicate":
                record(session, kyso, actor, "checkin.offline", outcome.invitation_id, outcome.outcome,
                       desk=desk.code, record=outcome.record_id)  # fmt: skip
    return outcomes


def conflicts(kyso: Kyso, actor: Actor, *, reviewed: bool = False) -> list[dict[str, object]]:
    """Passes admitted at two offline desks, as the actor may see them."""
    with kyso.db.reading() as session:
        rows = offline.conflicts(session, reader_of(actor), reviewed=reviewed)
        return [offline.offline_record_json(r) for r in rows]


def review_conflict(kyso: Kyso, actor: Actor, conflict_id: int) -> dict[str, object]:
    """Mark a conflict reviewed (one the actor may not see is NOT_FOUND); the record as JSON."""
    with kyso.db.transaction() as session:
        row = offline.review(session, conflict_id, actor.name, kyso.clock.now(), reader_of(actor))
        record(session, kyso, actor, "checkin.conflict.review", row.invitation_id, offline_record=row.id)
        return offline.offline_record_json(row)


# --- evacuation roll call -----------------------------------------------------------------------------
def _rollcall_venue(session: Session, actor: Actor, venue: str) -> None:
    """The roll call is the venue's own people's (its desks, accounts placed there) and the admin's."""
    scope = venues.report_scope(session, reader_of(actor), venue)
    if not scope.whole:
        raise ServiceError(Kind.FORBIDDEN, f"the roll call of {venue} is for its desks and the admin")


def roll_call(kyso: Kyso, actor: Actor, venue: str) -> rollcall.RollCall:
    """Who is inside ``venue`` now, with the newest mark on each."""
    with kyso.db.reading() as session:
        _rollcall_venue(session, actor, venue)
        return rollcall.roll_call(session, venue, kyso.clock.now())


def mark_rollcall(
    kyso: Kyso, actor: Actor, venue: str, checkin_id: int, status: str, seen_at: dt.datetime | None = None
) -> dict[str, object]:
    """Mark one person inside safe or missing, audited; ``seen_at`` (a mark made offline) is kept when it
    is within the last day, else the mark is dated now."""
    now = kyso.clock.now()
    at = seen_at if seen_at is not None and now - dt.timedelta(days=1) <= seen_at <= now else now
    with kyso.db.transaction() as session:
        _rollcall_venue(session, actor, venue)
        done = rollcall.mark(session, venue, checkin_id, status, actor.name, at)
        record(session, kyso, actor, "rollcall.mark", str(checkin_id), status, venue=venue)
    return done


def rollcall_csv(kyso: Kyso, actor: Actor, venue: str) -> str:
    """The roll call as CSV; the export is audited (it names the people inside)."""
    with kyso.db.transaction() as session:
        _rollcall_venue(session, actor, venue)
        found = rollcall.roll_call(session, venue, kyso.clock.now())
        record(session, kyso, actor, "rollcall.export", venue, people=len(found.people))
    return found.csv()


# --- walk-up guests -----------------------------------------------------------------------------------
WALK_UP_HOURS = 4


def walk_up(
    kyso: Kyso,
    actor: Actor,
    desk_code: str,
    *,
    guest_name: str,
    host: str,
    cccd: str | None = None,
    meeting_title: str | None = None,
) -> tuple[service.InvitationView, blocklist.HoldView]:
    """Register a guest who came without an invitation: an invitation for today at the desk's venue, from
    now for four hours (not past midnight), held for the host's approval — and checked against the block
    list like any other. The desk then scans its pass as usual: held until the host (or a clerk, the
    admin) decides."""
    context = kyso.invitations
    now = kyso.clock.now()
    midnight = dt.datetime.combine(now.astimezone(VIETNAM).date(), dt.time(23, 59), VIETNAM)
    with kyso.db.transaction() as session:
        desk = _desk(session, actor, context, desk_code)
        hosting = service.host_of(session, host)
        data = service.InvitationInput(
            guest_name=guest_name,
            venue=desk.venue_code,
            starts_at=now - dt.timedelta(minutes=1),
            ends_at=min(now + dt.timedelta(hours=WALK_UP_HOURS), midnight),
            meeting_title=meeting_title or "Khách vãng lai",
            cccd=cccd,
        )
        created = service.create(session, context, hosting, data)
        lists.check(session, kyso, actor, created.id, data.cccd)
        hold = blocklist.hold_for_host(session, created.id, now)
        record(session, kyso, actor, "checkin.walk_up", created.id, desk=desk.code, host=hosting.username,
               matched=hold.matched_on)  # fmt: skip
    return created, hold
