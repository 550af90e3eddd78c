"""The block list (Envoy's "blocklist"): people a venue must not admit without an approver's word, shared by
every venue.

Matching is exact on a *key*: the name casefolded, without diacritics (đ → d) and with single spaces, so
"NGUYỄN  văn An" and "Nguyen Van An" are the same name and "Nguyễn Văn Anh" is not; or the CCCD, kept only
as an HMAC under a key derived from the master key (the number is not stored). An invitation is checked
when it is created or amended (the name, and the CCCD when one is given) and when an entry is added (every
active invitation not over yet: the name, and the CCCD through the invitation's own salted hash).

A hit *holds* the invitation (``invitations.hold`` = pending): the desk's decision (``checkin.plan``) then
denies with ``held`` — keep the guest at the desk — until a named approver admits or refuses. Deciding is
one conditional UPDATE, so two approvers (or two desks' approvers) acting at once make one decision; the
loser is told the decision that stands. An admitted hold lets the next scan admit as usual (the entry is
consumed there, in the one place); a refused one denies with ``hold_refused``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import unicodedata
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy.orm import Session

from core.clock import VIETNAM, as_utc
from core.errors import Kind, ServiceError, malformed, not_found
from core.settings import Settings
from core.vn_ids import parse_cccd
from invitations import token
from invitations.venues import clean_text
from store import blocklist_repo as repo
from store.models import BlocklistEntry, BlocklistHold, Invitation

DECISIONS = ("admitted", "refused")
WALK_UP_REASON = "Khách vãng lai: chờ người mời đồng ý"


def derive_key(settings: Settings) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"kyso block list", info=b"cccd v1").derive(
        settings.master_key_bytes()
    )


def name_key(name: str) -> str:
    """Casefolded, without diacritics (đ → d), single spaces: the exact-match key of a name."""
    decomposed = unicodedata.normalize("NFD", name.replace("đ", "d").replace("Đ", "D"))
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(bare.casefold().split())


def cccd_key(key: bytes, cccd: str) -> str:
    return hmac.new(key, cccd.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class EntryView:
    id: int
    label: str
    reason: str
    by_name: bool
    by_cccd: bool
    added_by: str
    added_at: dt.datetime

    def as_json(self) -> dict[str, object]:
        return {"id": self.id, "label": self.label, "reason": self.reason, "name": self.by_name,
                "cccd": self.by_cccd, "added_by": self.added_by,
                "added_at": self.added_at.astimezone(VIETNAM).isoformat()}  # fmt: skip


def _entry_view(entry: BlocklistEntry) -> EntryView:
    by_name, by_cccd = entry.name_key is not None, entry.cccd_key is not None
    added = as_utc(entry.added_at)
    return EntryView(entry.id, entry.label, entry.reason, by_name, by_cccd, entry.added_by, added)


@dataclass(frozen=True)
class HoldView:
    invitation_id: str
    guest: str
    venue: str
    host: str
    host_account_id: int
    entry_id: int | None  # None: a walk-up guest waiting for the host's approval
    label: str
    reason: str
    matched_on: str
    status: str
    held_at: dt.datetime
    decided_by: str | None
    decided_at: dt.datetime | None

    def as_json(self) -> dict[str, object]:
        def local(value: dt.datetime | None) -> str | None:
            return value.astimezone(VIETNAM).isoformat() if value else None

        return {
            "invitation_id": self.invitation_id,
            "guest": self.guest,
            "venue": self.venue,
            "host": self.host,
            "entry_id": self.entry_id,
            "label": self.label,
            "reason": self.reason,
            "matched_on": self.matched_on,
            "status": self.status,
            "held_at": local(self.held_at),
            "decided_by": self.decided_by,
            "decided_at": local(self.decided_at),
        }


def _hold_view(session: Session, hold: BlocklistHold) -> HoldView:
    invitation = session.get(Invitation, hold.invitation_id)
    entry = repo.entry(session, hold.entry_id) if hold.entry_id is not None else None
    assert invitation is not None
    return HoldView(
        invitation_id=hold.invitation_id,
        guest=invitation.guest_name,
        venue=invitation.venue_code,
        host=invitation.host_name,
        host_account_id=invitation.host_account_id,
        entry_id=entry.id if entry else None,
        label=entry.label if entry else invitation.guest_name,
        reason=entry.reason if entry else WALK_UP_REASON,
        matched_on=hold.matched_on,
        status=hold.status,
        held_at=as_utc(hold.held_at),
        decided_by=hold.decided_by,
        decided_at=as_utc(hold.decided_at) if hold.decided_at else None,
    )


def _hold(
    session: Session, invitation_id: str, entry: BlocklistEntry | None, matched_on: str, now: dt.datetime
) -> None:
    hold = BlocklistHold(
        invitation_id=invitation_id, entry_id=entry.id if entry else None, matched_on=matched_on
    )
    hold.status, hold.held_at = "pending", now
    repo.add_hold(session, hold)


def add_entry(
    session: Session,
    key: bytes,
    *,
    name: str | None,
    cccd: str | None,
    reason: str,
    by: str,
    now: dt.datetime,
) -> tuple[EntryView, list[str]]:
    """Add an entry (a name, a CCCD or both) and hold every active invitation it matches; returns the entry
    and the invitations held."""
    if not name and not cccd:
        raise malformed("a block-list entry names a person, a CCCD, or both")
    shown_name = clean_text(name, "name", 200) if name else None
    number = parse_cccd(cccd).number if cccd else None
    entry = repo.add_entry(
        session,
        BlocklistEntry(
            name_key=name_key(shown_name) if shown_name else None,
            cccd_key=cccd_key(key, number) if number else None,
            label=shown_name or f"CCCD {number[:3]}******{number[-3:]}",  # type: ignore[index]
            reason=clean_text(reason, "reason", 300),
            added_by=by[:100],
            added_at=now,
        ),
    )
    held = []
    for invitation in repo.unheld_invitations(session, now):
        if entry.name_key is not None and name_key(invitation.guest_name) == entry.name_key:
            matched = "name"
        elif (
            number
            and invitation.cccd_hash
            and token.cccd_hash(invitation.id, number).hex() == invitation.cccd_hash
        ):
            matched = "cccd"
        else:
            continue
        _hold(session, invitation.id, entry, matched, now)
        held.append(invitation.id)
    return _entry_view(entry), held


def remove_entry(session: Session, entry_id: int, now: dt.datetime) -> EntryView:
    """Take an entry off the list (holds it made stay for their approver)."""
    entry = repo.entry(session, entry_id)
    if entry is None or entry.removed_at is not None:
        raise not_found(f"no block-list entry {entry_id}")
    entry.removed_at = now
    session.flush()
    return _entry_view(entry)


def entries(session: Session) -> list[EntryView]:
    return [_entry_view(e) for e in repo.active_entries(session)]


def check_invitation(
    session: Session, key: bytes, invitation_id: str, cccd: str | None, now: dt.datetime
) -> HoldView | None:
    """Hold a newly created or amended invitation its name (or its CCCD, when given) is listed under; the
    hold, or None. An invitation already held keeps its hold."""
    invitation = session.get(Invitation, invitation_id)
    assert invitation is not None
    if invitation.hold is not None:
        return None
    cccd = parse_cccd(cccd).number if cccd else None
    guest_key = name_key(invitation.guest_name)
    found = repo.matching_entries(session, guest_key, cccd_key(key, cccd) if cccd else None)
    if not found:
        return None
    entry = found[0]
    matched = "name" if entry.name_key == guest_key else "cccd"
    _hold(session, invitation.id, entry, matched, now)
    session.refresh(invitation)
    return _hold_view(session, repo.hold_of(session, invitation.id))  # type: ignore[arg-type]


def hold_for_host(session: Session, invitation_id: str, now: dt.datetime) -> HoldView:
    """Hold a walk-up guest (registered at the desk) for the host's approval, unless the block list
    already holds them (the same approval then covers both)."""
    if repo.hold_of(session, invitation_id) is None:
        _hold(session, invitation_id, None, "walk_up", now)
    return _hold_view(session, repo.hold_of(session, invitation_id))  # type: ignore[arg-type]


def holds(session: Session, status: str | None = "pending", owner: int | None = None) -> list[HoldView]:
    """Holds (``owner``: only those on invitations this account hosts)."""
    found = [_hold_view(session, h) for h in repo.holds(session, status)]
    return [h for h in found if owner is None or h.host_account_id == owner]


def decide(
    session: Session,
    invitation_id: str,
    decision: str,
    by: str,
    now: dt.datetime,
    note: str | None = None,
    owner: int | None = None,
) -> HoldView:
    """The approver's decision on a held guest: ``admitted`` or ``refused``. CONFLICT if the hold was
    already decided (by someone else at the same moment, say), naming that decision."""
    if decision not in DECISIONS:
        raise malformed("the decision is admitted or refused")
    hold = repo.hold_of(session, invitation_id)
    invitation = session.get(Invitation, invitation_id)
    if hold is None or invitation is None or (owner is not None and invitation.host_account_id != owner):
        raise not_found(f"invitation {invitation_id!r} is not held")
    text = clean_text(note, "note", 300) if note else None
    if not repo.decide_hold(session, invitation_id, decision, by[:100], now, text):
        session.refresh(hold)
        raise ServiceError(Kind.CONFLICT, f"already decided: {hold.status} by {hold.decided_by}")
    session.refresh(hold)
    return _hold_view(session, hold)
