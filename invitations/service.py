"""Invitations: create, amend (a new token; the old one is refused), cancel, recurring passes, and the
context every invitation operation shares (the seal, the trusted keys, the clock, the secret box).

A host invites a guest to a venue for one meeting or for the same hours on several days. Each day is an
*occurrence* with its own count of entries; the token carries the windows, so a desk can decide offline
whether the pass is valid now.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy.orm import Session

from core.clock import VIETNAM, Clock, as_utc
from core.errors import Kind, ServiceError, conflict, malformed, not_found
from core.vn_ids import parse_cccd
from invitations import rotating, token
from invitations.keys import KeySet, PassSigner, TrustedKey
from invitations.venues import clean_text
from invitations.webhooks import WebhookPolicy, check_url
from keystore.secretbox import SecretBox
from store import invitations_repo as repo
from store.models import CheckIn, Invitation, InvitationKey, InvitationOccurrence

ID_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"  # no 0/o, 1/l: read aloud over the phone
ID_LENGTH = 16  # 80 bits: the id is public (in the QR, in pass URLs) but not guessable
EARLY_ARRIVAL = dt.timedelta(minutes=60)
MAX_OCCURRENCE = dt.timedelta(hours=24)
MAX_DAYS = 31
MAX_ENTRIES = 50
MAX_COMPANIONS = 20
MAX_GUEST_NAME = 100
MAX_TITLE = 30
MAX_CONTACT = 100
EMAIL = re.compile(r"^[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\"]+$")
PHONE = re.compile(r"^\+?[0-9 .-]{8,20}$")
_ID_ATTEMPTS = 5
T = TypeVar("T")


@dataclass
class InvitationContext:
    """What invitation operations share; api/ and cli/ build one per process.

    ``seal`` is None where nothing is signed (an offline check). The trusted keys come from the
    ``invitation_keys`` table and are cached for ``keys_ttl`` seconds, so a key retired by another process
    is refused within that time; public keys stay parsed in memory, so verifying needs no database.
    """

    clock: Clock
    box: SecretBox
    seal: PassSigner | None = None
    early: dt.timedelta = EARLY_ARRIVAL
    keys_ttl: float = 30.0
    # what webhooks may reach beyond public addresses (KYSO_WEBHOOK_ALLOW; invitations.webhooks)
    webhooks: WebhookPolicy = field(default_factory=WebhookPolicy)
    _keys: KeySet | None = field(default=None, repr=False)
    _loaded: float = field(default=0.0, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _remembered: dict[object, tuple[float, object]] = field(default_factory=dict, repr=False)

    def remember(self, key: object, load: Callable[[], T | None], ttl: float = 30.0) -> T | None:
        """``load()``, kept for ``ttl`` seconds when it found something (desks and venues change rarely;
        a check-in should not pay a database round trip for them)."""
        value = self.peek(key, ttl)
        if value is not None:
            return value
        value = load()
        if value is not None:
            self._remembered[key] = (time.monotonic(), value)
        return value

    def require_seal(self) -> PassSigner:
        if self.seal is None:
            raise ServiceError(Kind.UNAVAILABLE, "no invitation seal is loaded; run `kyso init`")
        return self.seal

    def keys(self, session: Session) -> KeySet:
        cached = self.cached_keys()
        if cached is not None:
            return cached
        keys = load_keys(session)
        with self._lock:
            self._keys, self._loaded = keys, time.monotonic()
        return keys

    def peek(self, key: object, ttl: float = 30.0) -> Any:
        """What ``remember`` keeps under ``key`` if still fresh, else None (nothing is loaded)."""
        found = self._remembered.get(key)
        return found[1] if found is not None and time.monotonic() - found[0] < ttl else None

    def cached_keys(self) -> KeySet | None:
        """The trusted keys if loaded less than ``keys_ttl`` ago, else None (nothing is loaded)."""
        cached = self._keys
        return cached if cached is not None and time.monotonic() - self._loaded < self.keys_ttl else None

    def keys_older_than(self, seconds: float) -> bool:
        return self._keys is None or time.monotonic() - self._loaded > seconds

    def forget_keys(self) -> None:
        with self._lock:
            self._keys = None


def load_keys(session: Session) -> KeySet:
    trusted = []
    for row in repo.invitation_keys(session):
        certificate = x509.load_der_x509_certificate(row.certificate_der)
        trusted.append(TrustedKey.from_certificate(certificate, retired=row.retired_at is not None))
    return KeySet.of(trusted)


def register_seal(session: Session, context: InvitationContext) -> None:
    """Make the current seal's key trusted (once); called by api/ and cli/ when they load the seal."""
    seal = context.require_seal()
    if repo.invitation_key(session, seal.kid.hex()) is None:
        der = seal.certificate.public_bytes(serialization.Encoding.DER)
        repo.add_invitation_key(
            session, InvitationKey(kid=seal.kid.hex(), certificate_der=der, added_at=context.clock.now())
        )
        context.forget_keys()


def retire_key(session: Session, context: InvitationContext, kid_hex: str) -> None:
    """Stop trusting a seal key: every token it signed is refused as "unknown key" from now on."""
    row = repo.invitation_key(session, kid_hex.strip().lower())
    if row is None:
        raise not_found(f"no invitation key {kid_hex!r}")
    if context.seal is not None and context.seal.kid.hex() == row.kid:
        raise conflict("that is the current seal's key; issue a new seal before retiring it")
    if row.retired_at is None:
        row.retired_at = context.clock.now()
        session.flush()
    context.forget_keys()


# --- input --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class InvitationInput:
    guest_name: str
    venue: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    meeting_title: str = "Làm việc"
    cccd: str | None = None
    guest_email: str | None = None
    guest_phone: str | None = None
    entries: int = 1
    companions: tuple[str, ...] = ()
    days: int = 1  # the same hours on this many consecutive days
    rotating: bool = False
    notify_webhook: str | None = None
    notify_email: str | None = None
    guest_title: str | None = None  # the honorific the pass page greets with: "Ông", "Bà", "TS."…
    host_contact: str | None = None  # how the desk and the guest reach the host: a phone, an extension


@dataclass(frozen=True)
class Host:
    account_id: int
    username: str
    display_name: str


def new_invitation_id() -> str:
    return "".join(secrets.choice(ID_ALPHABET) for _ in range(ID_LENGTH))


def _aware(value: dt.datetime, what: str) -> dt.datetime:
    if value.tzinfo is None:
        raise malformed(f"the {what} needs a time zone, e.g. 2026-11-24T09:00:00+07:00")
    return as_utc(value)


def _windows(
    starts_at: dt.datetime, ends_at: dt.datetime, days: int
) -> list[tuple[dt.date, dt.datetime, dt.datetime]]:
    step = dt.timedelta(days=1)
    return [
        ((starts_at + n * step).astimezone(VIETNAM).date(), starts_at + n * step, ends_at + n * step)
        for n in range(days)
    ]


def _check(data: InvitationInput, now: dt.datetime, webhooks: WebhookPolicy) -> InvitationInput:
    starts_at, ends_at = _aware(data.starts_at, "start"), _aware(data.ends_at, "end")
    if ends_at <= starts_at:
        raise malformed("the end must come after the start")
    if ends_at - starts_at > MAX_OCCURRENCE:
        raise malformed("a meeting lasts at most 24 hours; use --days for several days")
    if not 1 <= data.days <= MAX_DAYS:
        raise malformed(f"a recurring pass covers 1 to {MAX_DAYS} days")
    if ends_at + dt.timedelta(days=data.days - 1) <= now:
        raise malformed("the invitation would already be over")
    if starts_at - now > dt.timedelta(days=366):
        raise malformed("invitations are for the coming year at most")
    if not 1 <= data.entries <= MAX_ENTRIES:
        raise malformed(f"entries per day must be 1 to {MAX_ENTRIES}")
    if len(data.companions) > MAX_COMPANIONS:
        raise malformed(f"at most {MAX_COMPANIONS} accompanying guests")
    email = data.guest_email.strip() if data.guest_email else None
    if email and (len(email) > 254 or not EMAIL.fullmatch(email)):
        raise malformed("the guest's email address is not valid")
    notify_email = data.notify_email.strip() if data.notify_email else None
    if notify_email and (len(notify_email) > 254 or not EMAIL.fullmatch(notify_email)):
        raise malformed("the host's notification email address is not valid")
    phone = data.guest_phone.strip() if data.guest_phone else None
    if phone and not PHONE.fullmatch(phone):
        raise malformed("the guest's phone number is not valid")
    webhook = data.notify_webhook.strip() if data.notify_webhook else None
    if webhook and (len(webhook) > 500 or not re.fullmatch(r"https?://[^\s<>\"]+", webhook)):
        raise malformed("the notification webhook must be an http(s) URL of at most 500 characters")
    if webhook:
        check_url(webhook, webhooks)  # not clearly internal; resolved and checked again when sending
    return InvitationInput(
        guest_name=clean_text(data.guest_name, "guest name", MAX_GUEST_NAME),
        venue=data.venue.strip(),
        starts_at=starts_at,
        ends_at=ends_at,
        meeting_title=clean_text(data.meeting_title, "meeting title", 300),
        cccd=parse_cccd(data.cccd).number if data.cccd else None,
        guest_email=email,
        guest_phone=phone,
        entries=data.entries,
        companions=tuple(clean_text(c, "accompanying guest's name", MAX_GUEST_NAME) for c in data.companions),
        days=data.days,
        rotating=data.rotating,
        notify_webhook=webhook,
        notify_email=notify_email,
        guest_title=clean_text(data.guest_title, "honorific", MAX_TITLE) if data.guest_title else None,
        host_contact=(
            clean_text(data.host_contact, "host's contact", MAX_CONTACT) if data.host_contact else None
        ),
    )


def mask_cccd(cccd: str) -> str:
    return f"{cccd[:3]}******{cccd[-3:]}"


# --- views --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Arrival:
    """Where the guest is, from the check-ins: the state every page shows (desk list, pass, portal).

    ``state``: cancelled; inside (admitted, not checked out); left (admitted and checked out);
    no-show (every occurrence over, never admitted); expected (otherwise).
    """

    state: str
    arrived_at: dt.datetime | None = None  # the latest admission
    left_at: dt.datetime | None = None  # its check-out
    desk: str | None = None

    def as_json(self) -> dict[str, object]:
        def local(value: dt.datetime | None) -> str | None:
            return value.astimezone(VIETNAM).isoformat() if value else None

        return {"state": self.state, "arrived_at": local(self.arrived_at), "left_at": local(self.left_at),
                "desk": self.desk}  # fmt: skip


def arrival_of(
    invitation: Invitation, occurrences: Sequence[InvitationOccurrence], checkins: Sequence[CheckIn],
    now: dt.datetime,
) -> Arrival:  # fmt: skip
    """The guest's state now (``checkins`` in admission order)."""
    last = checkins[-1] if checkins else None
    if invitation.status == "cancelled":
        state = "cancelled"
    elif last is not None:
        state = "inside" if last.checked_out_at is None else "left"
    elif occurrences and all(as_utc(o.ends_at) < now for o in occurrences):
        state = "no-show"
    else:
        state = "expected"
    if last is None:
        return Arrival(state)
    left = as_utc(last.checked_out_at) if last.checked_out_at else None
    return Arrival(state, as_utc(last.admitted_at), left, last.desk_code)


@dataclass(frozen=True)
class OccurrenceView:
    number: int
    day: dt.date
    starts_at: dt.datetime
    ends_at: dt.datetime
    entries_used: int

    def as_json(self) -> dict[str, object]:
        return {
            "number": self.number,
            "day": self.day.isoformat(),
            "starts_at": self.starts_at.astimezone(VIETNAM).isoformat(),
            "ends_at": self.ends_at.astimezone(VIETNAM).isoformat(),
            "entries_used": self.entries_used,
        }


@dataclass(frozen=True)
class InvitationView:
    id: str
    host: str
    host_name: str
    venue: str
    meeting_title: str
    guest_name: str
    guest_email: str | None
    guest_phone: str | None
    cccd_masked: str | None
    companions: list[str]
    starts_at: dt.datetime
    ends_at: dt.datetime
    entries_allowed: int
    status: str
    token_version: int
    rotating: bool
    occurrences: list[OccurrenceView]
    created_at: dt.datetime
    payload: str | None = None  # the QR text, when the caller may see it
    guest_title: str | None = None
    host_contact: str | None = None
    arrival: Arrival | None = None  # filled by views that read the check-ins

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "host": self.host,
            "host_name": self.host_name,
            "venue": self.venue,
            "meeting_title": self.meeting_title,
            "guest_name": self.guest_name,
            "guest_email": self.guest_email,
            "guest_phone": self.guest_phone,
            "cccd_masked": self.cccd_masked,
            "companions": self.companions,
            "starts_at": self.starts_at.astimezone(VIETNAM).isoformat(),
            "ends_at": self.ends_at.astimezone(VIETNAM).isoformat(),
            "entries_allowed": self.entries_allowed,
            "status": self.status,
            "token_version": self.token_version,
            "rotating": self.rotating,
            "occurrences": [o.as_json() for o in self.occurrences],
            "created_at": self.created_at.astimezone(VIETNAM).isoformat(),
            "payload": self.payload,
            "guest_title": self.guest_title,
            "host_contact": self.host_contact,
            "arrival": self.arrival.as_json() if self.arrival else None,
        }


def _view(
    invitation: Invitation,
    occurrences: list[InvitationOccurrence],
    host: str,
    payload: str | None,
    arrival: Arrival | None = None,
) -> InvitationView:
    return InvitationView(
        id=invitation.id,
        host=host,
        host_name=invitation.host_name,
        venue=invitation.venue_code,
        meeting_title=invitation.meeting_title,
        guest_name=invitation.guest_name,
        guest_email=invitation.guest_email,
        guest_phone=invitation.guest_phone,
        cccd_masked=invitation.cccd_masked,
        companions=json.loads(invitation.companions),
        starts_at=as_utc(invitation.starts_at),
        ends_at=as_utc(invitation.ends_at),
        entries_allowed=invitation.entries_allowed,
        status=invitation.status,
        token_version=invitation.token_version,
        rotating=invitation.rotating,
        occurrences=[
            OccurrenceView(o.number, o.day, as_utc(o.starts_at), as_utc(o.ends_at), o.entries_used)
            for o in occurrences
        ],
        created_at=as_utc(invitation.created_at),
        payload=payload,
        guest_title=invitation.guest_title,
        host_contact=invitation.host_contact,
        arrival=arrival,
    )


# --- tokens -------------------------------------------------------------------------------------------
def claims_of(
    invitation: Invitation, occurrences: list[InvitationOccurrence], early: dt.timedelta
) -> token.InvitationClaims:
    first, last = occurrences[0], occurrences[-1]
    not_before = int((as_utc(first.starts_at) - early).timestamp())
    span = days = None
    if len(occurrences) > 1:
        span = int((as_utc(first.ends_at) - as_utc(first.starts_at) + early).total_seconds())
        days = tuple((as_utc(o.starts_at) - as_utc(first.starts_at)).days for o in occurrences)
    return token.InvitationClaims(
        invitation_id=invitation.id,
        venue=invitation.venue_code,
        guest_name=invitation.guest_name,
        not_before=not_before,
        expires=int(as_utc(last.ends_at).timestamp()),
        token_id=bytes.fromhex(invitation.token_id),
        version=invitation.token_version,
        cccd_hash=bytes.fromhex(invitation.cccd_hash) if invitation.cccd_hash else None,
        entries=invitation.entries_allowed,
        companions=len(json.loads(invitation.companions)),
        rotating=invitation.rotating,
        span=span,
        days=days or (),
    )


def token_text(
    context: InvitationContext, invitation: Invitation, occurrences: list[InvitationOccurrence]
) -> str:
    """The static QR text. Signing again gives another signature over the same claims: both are valid."""
    return token.encode(claims_of(invitation, occurrences, context.early), context.require_seal())


def pass_text(context: InvitationContext, session: Session, invitation_id: str) -> str:
    """What the guest's phone shows now: the token, with the current rotating code when required.

    The seam for the pass page (pages issue): call it on each refresh, at least every 30 seconds.
    """
    invitation = _get(session, invitation_id, None)
    occurrences = repo.occurrences(session, [invitation.id])[invitation.id]
    text = token_text(context, invitation, occurrences)
    if invitation.rotating and invitation.rotating_secret:
        code = rotating.current_code(
            context.box, invitation.id, invitation.rotating_secret, context.clock.now()
        )
        text = token.with_rotating_code(text, code)
    return text


# --- operations ---------------------------------------------------------------------------------------
def create(session: Session, context: InvitationContext, host: Host, data: InvitationInput) -> InvitationView:
    now = context.clock.now()
    data = _check(data, now, context.webhooks)
    if repo.venue(session, data.venue) is None:
        raise not_found(f"no venue {data.venue!r}; `kyso venue add` creates one")
    windows = _windows(data.starts_at, data.ends_at, data.days)
    for _ in range(_ID_ATTEMPTS):
        invitation_id = new_invitation_id()
        invitation = Invitation(
            id=invitation_id,
            host_account_id=host.account_id,
            host_name=host.display_name[:200],
            venue_code=data.venue,
            meeting_title=data.meeting_title,
            guest_name=data.guest_name,
            guest_email=data.guest_email,
            guest_phone=data.guest_phone,
            cccd_hash=token.cccd_hash(invitation_id, data.cccd).hex() if data.cccd else None,
            cccd_masked=mask_cccd(data.cccd) if data.cccd else None,
            companions=json.dumps(list(data.companions), ensure_ascii=False),
            starts_at=windows[0][1],
            ends_at=windows[-1][2],
            entries_allowed=data.entries,
            status="active",
            token_id=os.urandom(token.TOKEN_ID_LENGTH).hex(),
            token_version=1,
            rotating=data.rotating,
            rotating_secret=rotating.new_secret(context.box, invitation_id) if data.rotating else None,
            notify_webhook=data.notify_webhook,
            notify_email=data.notify_email,
            guest_title=data.guest_title,
            host_contact=data.host_contact,
            created_at=now,
            updated_at=now,
        )
        occurrences = [
            InvitationOccurrence(
                invitation_id=invitation_id, number=n, day=day, starts_at=start, ends_at=end, entries_used=0
            )
            for n, (day, start, end) in enumerate(windows)
        ]
        if repo.add_invitation(session, invitation, occurrences):
            text = token_text(context, invitation, occurrences)
            arrival = arrival_of(invitation, occurrences, [], now)
            return _view(invitation, occurrences, host.username, text, arrival)
    raise ServiceError(Kind.INTERNAL, "could not draw a unique invitation id")


@dataclass(frozen=True)
class Amendment:
    """Fields to change; None leaves a field as it is. ``cccd=""`` removes the CCCD."""

    guest_name: str | None = None
    meeting_title: str | None = None
    starts_at: dt.datetime | None = None
    ends_at: dt.datetime | None = None
    days: int | None = None
    entries: int | None = None
    companions: tuple[str, ...] | None = None
    cccd: str | None = None
    guest_email: str | None = None
    guest_phone: str | None = None
    rotating: bool | None = None
    notify_webhook: str | None = None
    notify_email: str | None = None
    guest_title: str | None = None  # "" removes it
    host_contact: str | None = None  # "" removes it


def _get(session: Session, invitation_id: str, owner: int | None, *, for_update: bool = False) -> Invitation:
    invitation = repo.invitation(session, invitation_id.strip(), for_update=for_update)
    # someone else's invitation is "not found", not "forbidden": ids are not confirmed to strangers
    if invitation is None or (owner is not None and invitation.host_account_id != owner):
        raise not_found(f"no invitation {invitation_id!r}")
    return invitation


def amend(
    session: Session,
    context: InvitationContext,
    invitation_id: str,
    changes: Amendment,
    owner: int | None = None,
) -> InvitationView:
    """Apply changes and issue a new token (new token id, version + 1): earlier QR codes are refused."""
    invitation = _get(session, invitation_id, owner, for_update=True)
    if invitation.status != "active":
        raise conflict("a cancelled invitation cannot be amended; create a new one")
    occurrences = repo.occurrences(session, [invitation.id])[invitation.id]
    first = occurrences[0]
    cccd = changes.cccd

    def pick(new: object, old: object) -> object:
        return old if new is None else new

    merged = InvitationInput(
        guest_name=pick(changes.guest_name, invitation.guest_name),  # type: ignore[arg-type]
        venue=invitation.venue_code,
        starts_at=changes.starts_at or as_utc(first.starts_at),
        ends_at=changes.ends_at or as_utc(first.ends_at),
        meeting_title=pick(changes.meeting_title, invitation.meeting_title),  # type: ignore[arg-type]
        cccd=cccd or None,
        guest_email=pick(changes.guest_email, invitation.guest_email),  # type: ignore[arg-type]
        guest_phone=pick(changes.guest_phone, invitation.guest_phone),  # type: ignore[arg-type]
        entries=pick(changes.entries, invitation.entries_allowed),  # type: ignore[arg-type]
        companions=pick(changes.companions, tuple(json.loads(invitation.companions))),  # type: ignore[arg-type]
        days=pick(changes.days, len(occurrences)),  # type: ignore[arg-type]
        rotating=pick(changes.rotating, invitation.rotating),  # type: ignore[arg-type]
        notify_webhook=pick(changes.notify_webhook, invitation.notify_webhook),  # type: ignore[arg-type]
        notify_email=pick(changes.notify_email, invitation.notify_email),  # type: ignore[arg-type]
        guest_title=pick(changes.guest_title, invitation.guest_title),  # type: ignore[arg-type]
        host_contact=pick(changes.host_contact, invitation.host_contact),  # type: ignore[arg-type]
    )
    data = _check(merged, context.clock.now(), context.webhooks)
    windows = _windows(data.starts_at, data.ends_at, data.days)
    invitation.guest_name = data.guest_name
    invitation.meeting_title = data.meeting_title
    invitation.guest_email, invitation.guest_phone = data.guest_email, data.guest_phone
    if cccd is not None:  # "" removes it, a number replaces it, None keeps it
        invitation.cccd_hash = token.cccd_hash(invitation.id, data.cccd).hex() if data.cccd else None
        invitation.cccd_masked = mask_cccd(data.cccd) if data.cccd else None
    invitation.companions = json.dumps(list(data.companions), ensure_ascii=False)
    invitation.entries_allowed = data.entries
    invitation.starts_at, invitation.ends_at = windows[0][1], windows[-1][2]
    if data.rotating and not invitation.rotating_secret:
        invitation.rotating_secret = rotating.new_secret(context.box, invitation.id)
    invitation.rotating = data.rotating
    invitation.notify_webhook, invitation.notify_email = data.notify_webhook, data.notify_email
    invitation.guest_title, invitation.host_contact = data.guest_title, data.host_contact
    invitation.token_id = os.urandom(token.TOKEN_ID_LENGTH).hex()
    invitation.token_version += 1
    invitation.updated_at = context.clock.now()
    session.flush()
    repo.replace_occurrences(session, invitation.id, windows)
    return view(session, context, invitation.id, with_payload=True)


def cancel(
    session: Session, context: InvitationContext, invitation_id: str, owner: int | None = None
) -> InvitationView:
    invitation = _get(session, invitation_id, owner, for_update=True)
    if invitation.status != "cancelled":
        invitation.status = "cancelled"
        invitation.cancelled_at = invitation.updated_at = context.clock.now()
        session.flush()
    return view(session, context, invitation.id)


def view(
    session: Session,
    context: InvitationContext,
    invitation_id: str,
    owner: int | None = None,
    *,
    with_payload: bool = False,
) -> InvitationView:
    invitation = _get(session, invitation_id, owner)
    occurrences = repo.occurrences(session, [invitation.id])[invitation.id]
    host = repo.account_names(session, {invitation.host_account_id}).get(invitation.host_account_id, "?")
    payload = None
    if with_payload and invitation.status == "active":
        payload = token_text(context, invitation, occurrences)
    checkins = repo.checkins_of(session, invitation.id)
    arrival = arrival_of(invitation, occurrences, checkins, context.clock.now())
    return _view(invitation, occurrences, host, payload, arrival)


def search(
    session: Session,
    *,
    owner: int | None = None,
    venue: str | None = None,
    day: dt.date | None = None,
    status: str | None = None,
    limit: int = 50,
    offset: int = 0,
    now: dt.datetime | None = None,
) -> tuple[list[InvitationView], int]:
    rows, total = repo.search_invitations(
        session, host_account_id=owner, venue_code=venue, day=day, status=status, limit=limit, offset=offset
    )
    occurrences = repo.occurrences(session, [r.id for r in rows])
    hosts = repo.account_names(session, {r.host_account_id for r in rows})
    checkins = repo.checkins_for(session, [r.id for r in rows])
    now = now or dt.datetime.now(dt.UTC)
    views = [
        _view(r, occurrences[r.id], hosts.get(r.host_account_id, "?"), None, arrival_of(r, occurrences[r.id],
              checkins[r.id], now))
        for r in rows
    ]  # fmt: skip
    return views, total


def host_of(session: Session, username: str) -> Host:
    account = repo.account_by_username(session, username.strip().lower())
    if account is None:
        raise not_found(f"no account {username!r}")
    if account.role not in ("official", "clerk") or account.disabled:
        raise malformed(f"{username} cannot host guests (an active official or clerk can)")
    return Host(account.id, account.username, account.display_name)
