"""The desk's decision: admit or deny, with a reason a guard understands, and the check-out.

Order (the step-ca single-use pattern): verify the token first (signature, key, time window — in memory,
no database), then the venue, then the invitation's state, and only then consume an entry with one
conditional UPDATE, so any number of desks scanning one single-entry pass at once admit exactly once.
The caller writes the decision to the audit log in the same transaction and commits it, deny or admit.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Row
from sqlalchemy.orm import Session

from core.clock import VIETNAM, as_utc
from core.errors import Kind, ServiceError, malformed, not_found
from invitations import cccd_card, notify, rotating, token
from invitations.reasons import (
    ADMIT_NEXT_ACTION,
    ADMIT_NEXT_ACTION_EN,
    ADMIT_VIETNAMESE,
    ENGLISH,
    NEXT_ACTION,
    NEXT_ACTION_EN,
    VIETNAMESE,
    Reason,
)
from invitations.service import InvitationContext
from store import invitations_repo as repo

# seconds: a flood of passes under a truly unknown key reloads the key set at most this often
RELOAD_KEYS_AFTER = 2.0
CARD_MATCHES = "CCCD card matches"
HOLD_ADMITTED = "held, then admitted by an approver"
CARD_NOT_COMPARED = "the invitation names no CCCD; the card was not compared"


@dataclass(frozen=True)
class Decision:
    admitted: bool
    reason: Reason | None
    detail: str
    desk: str
    venue: str
    invitation_id: str | None = None
    guest_name: str | None = None
    host_name: str | None = None
    host_contact: str | None = None
    meeting_title: str | None = None
    companions: list[str] = field(default_factory=list)
    occurrence: int | None = None
    entries_left: int | None = None
    checkin_id: int | None = None
    ends_at: dt.datetime | None = None
    notes: list[str] = field(default_factory=list)
    # a "used" deny: when and at which desk the pass was last admitted
    last_used_at: dt.datetime | None = None
    last_used_desk: str | None = None
    card_check: str | None = None  # an admission with a CCCD card scanned: "match" or "not_compared"

    def as_json(self) -> dict[str, object]:
        reason = self.reason
        last_used = None
        if self.last_used_at is not None:
            last_used = {"at": self.last_used_at.astimezone(VIETNAM).isoformat(), "desk": self.last_used_desk}
        return {
            "decision": "admit" if self.admitted else "deny",
            "reason": ADMIT_VIETNAMESE if self.admitted else VIETNAMESE[self.reason],  # type: ignore[index]
            "reason_code": None if self.admitted else self.reason.value,  # type: ignore[union-attr]
            "reason_en": "admitted" if self.admitted else ENGLISH[self.reason],  # type: ignore[index]
            "detail": self.detail,
            "next_action": ADMIT_NEXT_ACTION if reason is None else NEXT_ACTION[reason],
            "next_action_en": ADMIT_NEXT_ACTION_EN if reason is None else NEXT_ACTION_EN[reason],
            "last_used": last_used,
            "desk": self.desk,
            "venue": self.venue,
            "invitation_id": self.invitation_id,
            "guest": self.guest_name,
            "host": self.host_name,
            "host_contact": self.host_contact,
            "meeting": self.meeting_title,
            "companions": self.companions,
            "occurrence": self.occurrence,
            "entries_left": self.entries_left,
            "checkin_id": self.checkin_id,
            "valid_until": self.ends_at.astimezone(VIETNAM).isoformat() if self.ends_at else None,
            "notes": self.notes,
            "card_check": self.card_check,
        }

    def audit_details(self) -> dict[str, object]:
        """What the audit log keeps: codes and ids, not the guest's personal data."""
        return {
            "desk": self.desk,
            "venue": self.venue,
            "reason": self.reason.value if self.reason else None,
            "occurrence": self.occurrence,
            "checkin": self.checkin_id,
        }


@dataclass(frozen=True)
class DeskRef:
    code: str
    venue_code: str


def desk_for(
    session: Session, desk_code: str, account_venue: str | None, context: InvitationContext | None = None
) -> DeskRef:
    """The desk, which must belong to the venue of a desk account (``account_venue``) when one is given.

    With a ``context``, a desk once found is remembered for a while (no round trip per scan).
    """
    code = desk_code.strip()

    def load() -> DeskRef | None:
        row = repo.desk(session, code)
        return DeskRef(row.code, row.venue_code) if row is not None else None

    desk = context.remember(("desk", code), load) if context is not None else load()
    if desk is None:
        raise not_found(f"no desk {desk_code!r}; `kyso venue add … --desk` creates desks")
    if account_venue is not None and desk.venue_code != account_venue:
        raise ServiceError(
            Kind.FORBIDDEN, f"this account works at venue {account_venue}, not at desk {desk.code}"
        )
    return desk


def _deny(reason: Reason, detail: str, desk: DeskRef, **known: object) -> Decision:
    return Decision(False, reason, detail, desk.code, desk.venue_code, **known)  # type: ignore[arg-type]


def _invitation_facts(invitation: Row[Any]) -> dict[str, object]:
    return {
        "invitation_id": invitation.id,
        "guest_name": invitation.guest_name,
        "host_name": invitation.host_name,
        "host_contact": invitation.host_contact,
        "meeting_title": invitation.meeting_title,
        "companions": json.loads(invitation.companions),
    }


def read_pass(session: Session, context: InvitationContext, scanned: str, now: dt.datetime) -> token.Verdict:
    """The token's verdict (signature, key, time window: in memory). A key this process does not know yet
    may have been registered by another process since the key set was loaded: reload once and retry."""
    verdict = token.verify(scanned, context.keys(session), now)
    if verdict.reason is Reason.UNKNOWN_KEY and context.keys_older_than(RELOAD_KEYS_AFTER):
        context.forget_keys()
        verdict = token.verify(scanned, context.keys(session), now)
    return verdict


@dataclass(frozen=True)
class Scan:
    """A pass read at a desk (``read_pass``), waiting for its decision."""

    verdict: token.Verdict
    desk: DeskRef
    actor: str
    card_qr: str | None = None


def check_in(
    session: Session,
    context: InvitationContext,
    scanned: str,
    desk: DeskRef,
    actor: str,
    *,
    card_qr: str | None = None,
) -> Decision:
    """Decide on one scan at ``desk``. Never raises for a bad pass: a deny is a normal answer."""
    now = context.clock.now()
    verdict = read_pass(session, context, scanned, now)
    return decide_all(session, context, [Scan(verdict, desk, actor, card_qr)], now)[0]


def decide_all(
    session: Session, context: InvitationContext, scans: Sequence[Scan], now: dt.datetime
) -> list[Decision]:
    """The decisions on passes already read, in the caller's transaction, in the order of ``scans``.

    Entries are consumed in invitation order, so transactions deciding several scans never wait on each
    other in a cycle; the same pass twice is consumed one scan after the other.
    (``api.fastpath.checkins`` runs the same steps on PostgreSQL in three pipelined round trips.)
    """
    ids = {scan.verdict.claims.invitation_id for scan in scans if scan.verdict.claims is not None}
    decisions, entering = plan(context, scans, repo.invitations_for_decision(session, ids), now)
    consumed = [repo.consume_entry(session, *entry.wanted) for entry in entering]
    for entry, result in zip(entering, consumed, strict=True):
        if result is not None:
            checkin_id = repo.add_checkin_row(session, **entry.checkin_row(now))
            decision = entry.admitted(*result, checkin_id)
            notify.enqueue_arrival(session, entry.invitation, decision.as_json(), now)
            decisions[entry.index] = decision
    for entry, result in zip(entering, consumed, strict=True):
        if result is None:  # after the inserts: the admission that used it may be in this group
            decisions[entry.index] = entry.used(_last_checkin(session, entry))
    return decisions  # type: ignore[return-value]


@dataclass(frozen=True)
class Entering:
    """A scan that passed every check but the last: is an entry left to consume?"""

    index: int  # its place in the group
    scan: Scan
    invitation: Row[Any]
    notes: list[str]

    @property
    def number(self) -> int:
        return self.scan.verdict.occurrence or 0

    @property
    def wanted(self) -> tuple[str, int, int, str]:
        """(invitation id, occurrence, entries allowed, token id): what the conditional UPDATE needs."""
        invitation = self.invitation
        return invitation.id, self.number, invitation.entries_allowed, invitation.token_id

    def checkin_row(self, now: dt.datetime) -> dict[str, object]:
        desk = self.scan.desk
        return {
            "invitation_id": self.invitation.id,
            "occurrence": self.number,
            "venue_code": desk.venue_code,
            "desk_code": desk.code,
            "admitted_at": now,
            "source": "online",
            "actor": self.scan.actor[:100],
        }

    def admitted(self, entries_used: int, ends_at: dt.datetime, checkin_id: int) -> Decision:
        desk = self.scan.desk
        return Decision(
            True,
            None,
            "genuine, current and unused",
            desk.code,
            desk.venue_code,
            **_invitation_facts(self.invitation),  # type: ignore[arg-type]
            occurrence=self.number,
            entries_left=self.invitation.entries_allowed - entries_used,
            checkin_id=checkin_id,
            ends_at=as_utc(ends_at),
            notes=self.notes,
            card_check="match"
            if CARD_MATCHES in self.notes
            else "not_compared"
            if CARD_NOT_COMPARED in self.notes
            else None,
        )

    def used(self, last: tuple[dt.datetime, str] | None) -> Decision:
        """The deny when nothing was left; ``last``: when and at which desk the occurrence was last used."""
        detail = "every entry of this pass was used"
        known: dict[str, object] = _invitation_facts(self.invitation)
        if last is not None:
            at = as_utc(last[0])
            detail += f"; last admitted at {at.astimezone(VIETNAM):%H:%M} by desk {last[1]}"
            known |= {"last_used_at": at, "last_used_desk": last[1]}
        return _deny(Reason.USED, detail, self.scan.desk, **known)


def plan(
    context: InvitationContext, scans: Sequence[Scan], invitations: dict[str, Row[Any]], now: dt.datetime
) -> tuple[list[Decision | None], list[Entering]]:
    """The denies decided before anything is consumed (by position) and the scans left to consume, in
    invitation and occurrence order (the order their rows are locked in)."""
    decisions: list[Decision | None] = [None] * len(scans)
    entering: list[Entering] = []
    for index, scan in enumerate(scans):
        refused = _refusal(context, scan, invitations, now)
        if isinstance(refused, Decision):
            decisions[index] = refused
        else:
            claims = scan.verdict.claims
            assert claims is not None
            entering.append(Entering(index, scan, invitations[claims.invitation_id], refused))
    entering.sort(key=lambda entry: (entry.invitation.id, entry.number))
    return decisions, entering


def _last_checkin(session: Session, entry: Entering) -> tuple[dt.datetime, str] | None:
    used = repo.checkins_of(session, entry.invitation.id)
    last = next((c for c in reversed(used) if c.occurrence == entry.number), None)
    return (last.admitted_at, last.desk_code) if last is not None else None


def _refusal(
    context: InvitationContext, scan: Scan, invitations: dict[str, Row[Any]], now: dt.datetime
) -> Decision | list[str]:
    """A deny decided before any entry is consumed, or the notes for an admission."""
    verdict, desk = scan.verdict, scan.desk
    claims = verdict.claims
    if claims is None:  # not ours, damaged, forged or an unknown key: nothing about it can be trusted
        return _deny(verdict.reason, verdict.detail, desk)  # type: ignore[arg-type]
    seen: dict[str, object] = {"invitation_id": claims.invitation_id, "guest_name": claims.guest_name}
    if verdict.reason is not None:
        return _deny(verdict.reason, verdict.detail, desk, **seen)
    if claims.venue != desk.venue_code:
        return _deny(Reason.WRONG_VENUE, f"the pass is for {claims.venue}", desk, **seen)
    invitation = invitations.get(claims.invitation_id)
    if invitation is None:
        return _deny(Reason.UNKNOWN_INVITATION, "no such invitation in this instance", desk, **seen)
    facts = _invitation_facts(invitation)
    if invitation.status == "cancelled":
        return _deny(Reason.CANCELLED, "the host cancelled the invitation", desk, **facts)
    if invitation.token_id != claims.token_id.hex():
        detail = f"this is version {claims.version}; the invitation is at version {invitation.token_version}"
        return _deny(Reason.SUPERSEDED, detail, desk, **facts)
    notes: list[str] = []
    if invitation.hold == "pending":  # invitations.blocklist: a named approver decides
        return _deny(Reason.HELD, "held at the desk until an approver decides", desk, **facts)
    if invitation.hold == "refused":
        return _deny(Reason.HOLD_REFUSED, "held, and the approver refused", desk, **facts)
    if invitation.hold == "admitted":
        notes.append(HOLD_ADMITTED)
    if invitation.rotating:
        if verdict.rotating_code is None:
            return _deny(Reason.ROTATING_CODE_MISSING, "a still copy of a live pass", desk, **facts)
        if not invitation.rotating_secret or not rotating.code_is_current(
            context.box, invitation.id, invitation.rotating_secret, verdict.rotating_code, now
        ):
            return _deny(
                Reason.ROTATING_CODE_INVALID, "the rotating code is older than a minute", desk, **facts
            )
        notes.append("rotating code checked")
    if scan.card_qr is not None:
        card = cccd_card.parse(scan.card_qr)
        if invitation.cccd_hash is None:
            notes.append(CARD_NOT_COMPARED)
        elif token.cccd_hash(invitation.id, card.cccd).hex() != invitation.cccd_hash:
            return _deny(Reason.CCCD_MISMATCH, "the CCCD card is not the invitee's", desk, **facts)
        else:
            notes.append(CARD_MATCHES)
    return notes


@dataclass(frozen=True)
class Checkout:
    checkin_id: int
    invitation_id: str
    guest_name: str
    desk: str
    admitted_at: dt.datetime
    checked_out_at: dt.datetime

    def as_json(self) -> dict[str, object]:
        return {
            "checkin_id": self.checkin_id,
            "invitation_id": self.invitation_id,
            "guest": self.guest_name,
            "desk": self.desk,
            "admitted_at": self.admitted_at.astimezone(VIETNAM).isoformat(),
            "checked_out_at": self.checked_out_at.astimezone(VIETNAM).isoformat(),
        }


def check_out(
    session: Session,
    context: InvitationContext,
    desk: DeskRef,
    *,
    checkin_id: int | None = None,
    scanned: str | None = None,
) -> Checkout:
    """Record that a guest left, by the check-in's id or by scanning the pass again (even once expired)."""
    now = context.clock.now()
    if checkin_id is not None:
        row = repo.checkin(session, checkin_id)
        if row is None or row.venue_code != desk.venue_code:
            raise not_found(f"no check-in {checkin_id} at venue {desk.venue_code}")
    elif scanned is not None:
        verdict = token.verify(scanned, context.keys(session), now)
        if verdict.claims is None:
            raise malformed(f"not a pass Kyso can read: {VIETNAMESE[verdict.reason]}")  # type: ignore[index]
        row = repo.open_checkin(session, verdict.claims.invitation_id)
        if row is None or row.venue_code != desk.venue_code:
            raise not_found("this guest is not checked in here")
    else:
        raise malformed("give the check-in id or the scanned pass")
    if row.checked_out_at is None:
        repo.check_out(session, row.id, now, "desk")
        session.refresh(row)
    invitation = repo.invitation(session, row.invitation_id)
    return Checkout(
        row.id,
        row.invitation_id,
        invitation.guest_name if invitation else "?",
        row.desk_code,
        as_utc(row.admitted_at),
        as_utc(row.checked_out_at or now),
    )


def auto_checkout(session: Session, context: InvitationContext) -> int:
    """Check out everyone still inside from an earlier day (Vietnam time), at the end of their day."""
    now = context.clock.now()
    midnight = dt.datetime.combine(now.astimezone(VIETNAM).date(), dt.time(), VIETNAM)
    count = 0
    for row in repo.open_checkins_before(session, midnight):
        day = as_utc(row.admitted_at).astimezone(VIETNAM).date()
        end_of_day = dt.datetime.combine(day, dt.time(23, 59, 59), VIETNAM)
        count += repo.check_out(session, row.id, min(end_of_day, now), "auto")
    return count
