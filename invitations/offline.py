"""Offline desks: a signed bundle to keep admitting while the network is down, a local journal, and the
sync that brings the journal back — where a pass admitted at two offline desks becomes a conflict.

The bundle is a COSE_Sign1 (the same codec as tokens) signed by the invitation seal, with the seal's
certificate chain in the protected header (``x5chain``, RFC 9360). Its payload is JSON: the venue and
its desks, the trusted keys (certificates), and every invitation of the venue whose window overlaps the
bundle's validity, with its status and current token id — so cancellations and amendments made before
the download are enforced offline. The desk trusts the bundle only if the chain ends at a root it was
given (``--trust``, the Kyso root from ``kyso ca chain --ca root``) and the bundle has not expired.

Offline, each occurrence's entries are counted in the desk's own journal, so one desk never admits a
single-entry pass twice; two desks can, and the sync finds it: the first record to arrive consumes the
entry, the second is kept as a *conflict* for a person to review.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cbor2
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy.orm import Session

from core.clock import VIETNAM, Clock, as_utc
from core.errors import Kind, ServiceError, malformed
from invitations import token, venues
from invitations.checkin import Decision, DeskRef
from invitations.keys import ALGORITHMS, KeySet, TrustedKey, canonical_der, kid_of
from invitations.reasons import Reason
from invitations.service import InvitationContext
from store import invitations_repo as repo
from store.models import CheckIn, OfflineCheckIn

BUNDLE_FORMAT = "kyso-desk-bundle"
BUNDLE_VERSION = 1
HEADER_X5CHAIN = 33
DEFAULT_VALIDITY = dt.timedelta(hours=24)
OFFLINE_LEEWAY = 120  # seconds: a desk's clock may drift while it cannot reach a time server
MAX_BUNDLE_BYTES = 20 * 1024 * 1024
MAX_SYNC_RECORDS = 5000
_HASHES = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384()}


# --- the bundle, server side --------------------------------------------------------------------------
def build_bundle(
    session: Session, context: InvitationContext, venue_code: str, valid_for: dt.timedelta = DEFAULT_VALIDITY
) -> bytes:
    seal = context.require_seal()
    now = context.clock.now()
    expires = now + valid_for
    venue = venues.view(session, venue_code)
    listed = repo.revoked_for_venue(session, venue_code, now - dt.timedelta(hours=1), expires)
    der = serialization.Encoding.DER
    payload = {
        "format": BUNDLE_FORMAT,
        "version": BUNDLE_VERSION,
        "issued_at": now.isoformat(),
        "expires_at": expires.isoformat(),
        "venue": venue.as_json(),
        "keys": [
            {
                "kid": key.kid.hex(),
                "certificate": base64.b64encode(key.certificate.public_bytes(der)).decode(),
            }
            for key in context.keys(session).active_keys()
            if key.certificate is not None
        ],
        "invitations": [
            {
                "id": i.id,
                "status": i.status,
                "token_id": i.token_id,
                "host": i.host_name,
                "meeting": i.meeting_title,
                "entries": i.entries_allowed,
                "hold": i.hold,  # a block-list hold (invitations.blocklist) as it stood at download
            }
            for i in listed
        ],
    }
    chain = [seal.certificate.public_bytes(der), *(c.public_bytes(der) for c in seal.chain)]
    body = json.dumps(payload, ensure_ascii=False, sort_keys=True).encode()
    return token.sign_cose(seal, body, {HEADER_X5CHAIN: chain})


# --- the bundle, desk side ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Bundle:
    venue_code: str
    venue_name: str
    desks: frozenset[str]
    keys: KeySet
    invitations: Mapping[str, Mapping[str, object]]
    issued_at: dt.datetime
    expires_at: dt.datetime


def _issued_by(certificate: x509.Certificate, issuer: x509.Certificate, now: dt.datetime) -> bool:
    try:
        certificate.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc


def _chains_to(
    certificate: x509.Certificate,
    intermediates: list[x509.Certificate],
    roots: list[x509.Certificate],
    now: dt.datetime,
) -> bool:
    """Walks up through ``intermediates`` to one of ``roots`` (a short chain: at most four links)."""
    current = certificate
    for _ in range(4):
        if any(current == root or _issued_by(current, root, now) for root in roots):
            return True
        parent = next((c for c in intermediates if c != current and _issued_by(current, c, now)), None)
        if parent is None:
            return False
        current = parent
    return False


def open_bundle(data: bytes, roots: list[x509.Certificate], now: dt.datetime) -> Bundle:
    """Check and read a bundle; MALFORMED if it is not one or does not verify, EXPIRED when too old."""
    if len(data) > MAX_BUNDLE_BYTES:
        raise ServiceError(Kind.TOO_LARGE, "that file is far larger than a desk bundle")
    try:
        message = cbor2.loads(data)
        protected_bytes, _, body, signature = message.value
        header = cbor2.loads(protected_bytes)
        alg, kid, chain_der = header[token.HEADER_ALG], header[token.HEADER_KID], header[HEADER_X5CHAIN]
        chain = [x509.load_der_x509_certificate(bytes(c)) for c in chain_der]
        payload = json.loads(body)
    except (cbor2.CBORError, ValueError, TypeError, KeyError, AttributeError, IndexError):
        raise malformed("not a Kyso desk bundle (download one with `kyso invite bundle`)") from None
    if not isinstance(message, cbor2.CBORTag) or message.tag != token.COSE_SIGN1_TAG or not chain:
        raise malformed("not a Kyso desk bundle (a signed COSE_Sign1 with a certificate chain)")
    leaf = chain[0]
    if kid_of(leaf) != kid or alg not in ALGORITHMS or not _chains_to(leaf, chain[1:], roots, now):
        raise malformed("the bundle's signer does not chain to the trusted root")
    _, size, hash_name = ALGORITHMS[alg]
    public_key = leaf.public_key()
    if not isinstance(public_key, ec.EllipticCurvePublicKey) or len(signature) != 2 * size:
        raise malformed("the bundle's signature is not an ECDSA signature of the right size")
    der = canonical_der(alg, signature)
    if der is None:
        raise malformed("the bundle's signature is not in its canonical (low-s) form: it was altered")
    try:
        public_key.verify(der, token.sig_structure(protected_bytes, body), ec.ECDSA(_HASHES[hash_name]))
    except InvalidSignature:
        raise malformed("the bundle's signature does not verify: it was altered") from None
    if not isinstance(payload, dict) or payload.get("format") != BUNDLE_FORMAT:
        raise malformed("not a Kyso desk bundle")
    expires_at = dt.datetime.fromisoformat(payload["expires_at"])
    if expires_at < now:
        raise ServiceError(
            Kind.EXPIRED,
            f"the desk bundle expired at {expires_at.astimezone(VIETNAM):%d/%m %H:%M}; "
            "download a new one when the network is back",
        )
    trusted = []
    for entry in payload["keys"]:
        certificate = x509.load_der_x509_certificate(base64.b64decode(entry["certificate"]))
        if _chains_to(certificate, chain[1:], roots, now):
            trusted.append(TrustedKey.from_certificate(certificate))
    venue = payload["venue"]
    return Bundle(
        venue_code=venue["code"],
        venue_name=venue["name"],
        desks=frozenset(d["code"] for d in venue["desks"]),
        keys=KeySet.of(trusted),
        invitations={i["id"]: i for i in payload["invitations"]},
        issued_at=dt.datetime.fromisoformat(payload["issued_at"]),
        expires_at=expires_at,
    )


@dataclass
class OfflineDesk:
    """A desk working from a bundle, writing every decision to a JSON-lines journal (fsynced)."""

    bundle: Bundle
    desk: str
    journal: Path
    clock: Clock
    leeway: int = OFFLINE_LEEWAY
    _admitted: dict[tuple[str, str, int], int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.desk not in self.bundle.desks:
            raise malformed(f"desk {self.desk} is not a desk of venue {self.bundle.venue_code}")
        for record in read_journal(self.journal):
            if record.get("decision") == "admit":
                key = (record["invitation_id"], record["token_id"], int(record["occurrence"]))
                self._admitted[key] = self._admitted.get(key, 0) + 1

    def check(self, scanned: str) -> Decision:
        now = self.clock.now()
        if now > self.bundle.expires_at:
            raise ServiceError(Kind.EXPIRED, "the desk bundle has expired; download a new one")
        decision, claims = self._decide(scanned, now)
        record: dict[str, object] = {
            "record_id": uuid.uuid4().hex,
            "desk": self.desk,
            "scanned_at": now.isoformat(),
            "decision": "admit" if decision.admitted else "deny",
            "reason": decision.reason.value if decision.reason else None,
            "invitation_id": decision.invitation_id,
        }
        if decision.admitted and claims is not None:
            record.update(
                token_id=claims.token_id.hex(),
                occurrence=decision.occurrence,
                token=token.PREFIX + token.split_scanned(scanned)[0],
            )
            key = (claims.invitation_id, claims.token_id.hex(), decision.occurrence or 0)
            self._admitted[key] = self._admitted.get(key, 0) + 1
        _append(self.journal, record)
        return decision

    def _decide(self, scanned: str, now: dt.datetime) -> tuple[Decision, token.InvitationClaims | None]:
        verdict = token.verify(scanned, self.bundle.keys, now, leeway=self.leeway)
        claims = verdict.claims
        base = {"desk": self.desk, "venue": self.bundle.venue_code}
        if claims is None:
            return Decision(False, verdict.reason, verdict.detail, **base), None
        known: dict[str, object] = {"invitation_id": claims.invitation_id, "guest_name": claims.guest_name}
        listed = self.bundle.invitations.get(claims.invitation_id)
        if listed:
            known.update(host_name=listed.get("host"), meeting_title=listed.get("meeting"))
        if verdict.reason is not None:
            return Decision(False, verdict.reason, verdict.detail, **base, **known), claims
        if claims.venue != self.bundle.venue_code:
            return Decision(
                False, Reason.WRONG_VENUE, f"the pass is for {claims.venue}", **base, **known
            ), claims
        notes = ["offline: recorded locally, synced later"]
        if listed is None:
            notes.append(
                "not in the bundle (invited after it was downloaded): signature and time checked only"
            )
        elif listed.get("status") == "cancelled":
            return Decision(False, Reason.CANCELLED, "cancelled before the bundle", **base, **known), claims
        elif listed.get("token_id") != claims.token_id.hex():
            return Decision(False, Reason.SUPERSEDED, "a newer pass exists", **base, **known), claims
        elif listed.get("hold") == "pending":
            return Decision(False, Reason.HELD, "held by the block list at download", **base, **known), claims
        elif listed.get("hold") == "refused":
            return Decision(False, Reason.HOLD_REFUSED, "refused by the approver", **base, **known), claims
        if claims.rotating:
            notes.append("the rotating code cannot be checked offline")
        occurrence = verdict.occurrence or 0
        used = self._admitted.get((claims.invitation_id, claims.token_id.hex(), occurrence), 0)
        if used >= claims.entries:
            return Decision(False, Reason.USED, "already admitted at this desk", **base, **known), claims
        decision = Decision(
            True,
            None,
            "genuine and current (offline)",
            **base,
            **known,
            occurrence=occurrence,
            entries_left=claims.entries - used - 1,
            notes=notes,
        )
        return decision, claims


def _append(path: Path, record: Mapping[str, object]) -> None:
    line = json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, line.encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def read_journal(path: Path) -> list[dict[str, object]]:
    if not path.exists():
        return []
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            raise malformed(f"{path}:{number} is not a journal line") from None
        if isinstance(record, dict):
            records.append(record)
    return records


# --- the sync, server side ----------------------------------------------------------------------------
@dataclass(frozen=True)
class SyncOutcome:
    record_id: str
    outcome: str  # recorded | conflict | rejected | denied | duplicate
    detail: str
    invitation_id: str | None
    checkin_id: int | None = None
    offline_id: int | None = None

    def as_json(self) -> dict[str, object]:
        return {
            "record_id": self.record_id,
            "outcome": self.outcome,
            "detail": self.detail,
            "invitation_id": self.invitation_id,
            "checkin_id": self.checkin_id,
        }


def _text(record: Mapping[str, object], name: str, limit: int, required: bool = True) -> str | None:
    value = record.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value or len(value) > limit:
        raise malformed(f"journal record field {name!r} must be text of 1..{limit} characters")
    return value


def sync(
    session: Session,
    context: InvitationContext,
    desk: DeskRef,
    records: list[Mapping[str, object]],
    actor: str,
) -> list[SyncOutcome]:
    """Record what an offline desk decided. Idempotent per (desk, record id): a retried sync is harmless."""
    if len(records) > MAX_SYNC_RECORDS:
        raise malformed(f"at most {MAX_SYNC_RECORDS} records per sync; send the journal in parts")
    now = context.clock.now()
    outcomes = []
    for record in records:
        record_id = _text(record, "record_id", 64)
        scanned_text = _text(record, "scanned_at", 40)
        try:
            scanned_at = as_utc(dt.datetime.fromisoformat(scanned_text))
        except ValueError:
            raise malformed(f"record {record_id}: scanned_at is not an ISO 8601 time") from None
        existing = repo.offline_record(session, desk.code, record_id)
        if existing is not None:
            outcomes.append(
                SyncOutcome(
                    record_id,
                    "duplicate",
                    existing.outcome,
                    existing.invitation_id,
                    existing.checkin_id,
                    existing.id,
                )
            )
            continue
        outcome = _settle(session, context, desk, record, record_id, scanned_at, now, actor)
        row = OfflineCheckIn(
            desk_code=desk.code,
            record_id=record_id,
            invitation_id=outcome.invitation_id,
            token_id=record.get("token_id") if isinstance(record.get("token_id"), str) else None,
            scanned_at=scanned_at,
            received_at=now,
            outcome=outcome.outcome,
            detail=outcome.detail[:2000],
            checkin_id=outcome.checkin_id,
        )
        if not repo.add_offline_record(session, row):
            continue  # the same record arrived through a parallel sync
        outcomes.append(
            SyncOutcome(
                outcome.record_id,
                outcome.outcome,
                outcome.detail,
                outcome.invitation_id,
                outcome.checkin_id,
                row.id,
            )
        )
    return outcomes


def _settle(
    session: Session,
    context: InvitationContext,
    desk: DeskRef,
    record: Mapping[str, object],
    record_id: str,
    scanned_at: dt.datetime,
    now: dt.datetime,
    actor: str,
) -> SyncOutcome:
    invitation_id = record.get("invitation_id") if isinstance(record.get("invitation_id"), str) else None
    if record.get("decision") != "admit":
        reason = record.get("reason")
        return SyncOutcome(record_id, "denied", f"denied offline: {reason}", invitation_id)
    if scanned_at > now + dt.timedelta(seconds=OFFLINE_LEEWAY):
        return SyncOutcome(
            record_id, "rejected", "scanned in the future: the desk clock is wrong", invitation_id
        )
    text = _text(record, "token", token.MAX_TEXT)
    verdict = token.verify(text, context.keys(session), scanned_at, leeway=OFFLINE_LEEWAY)
    claims = verdict.claims
    if claims is None or verdict.reason is not None:
        return SyncOutcome(
            record_id, "rejected", f"the pass was not valid when scanned: {verdict.detail}", invitation_id
        )
    if claims.venue != desk.venue_code:
        return SyncOutcome(
            record_id, "rejected", f"a pass for {claims.venue} admitted at {desk.code}", claims.invitation_id
        )
    invitation = repo.invitation(session, claims.invitation_id)
    if invitation is None:
        return SyncOutcome(record_id, "rejected", "no such invitation", claims.invitation_id)
    if invitation.status == "cancelled":
        return SyncOutcome(
            record_id, "conflict", "admitted offline after the invitation was cancelled", invitation.id
        )
    if invitation.token_id != claims.token_id.hex():
        return SyncOutcome(
            record_id, "conflict", "admitted offline with a pass replaced by an amendment", invitation.id
        )
    if invitation.hold in ("pending", "refused"):
        return SyncOutcome(
            record_id, "conflict", "admitted offline while the block list held the guest", invitation.id
        )
    number = verdict.occurrence or 0
    if not repo.consume_entry(
        session, invitation.id, number, invitation.entries_allowed, invitation.token_id
    ):
        earlier = [c for c in repo.checkins_of(session, invitation.id) if c.occurrence == number]
        where = ", ".join(
            f"{c.desk_code} at {as_utc(c.admitted_at).astimezone(VIETNAM):%H:%M}" for c in earlier
        )
        return SyncOutcome(
            record_id, "conflict", f"this pass was already used ({where or 'elsewhere'})", invitation.id
        )
    row = repo.add_checkin(
        session,
        CheckIn(
            invitation_id=invitation.id,
            occurrence=number,
            venue_code=desk.venue_code,
            desk_code=desk.code,
            admitted_at=scanned_at,
            source="offline",
            actor=actor[:100],
        ),
    )
    return SyncOutcome(record_id, "recorded", "admitted offline, recorded", invitation.id, row.id)


def conflicts(
    session: Session, reader: venues.Reader | None, *, reviewed: bool = False
) -> Sequence[OfflineCheckIn]:
    """Passes admitted twice by offline desks, as ``reader`` may see them (``venues.conflict_visibility``:
    the venue's desks' records and the reader's own invitations; everything for the admin and the console)."""
    visible = venues.conflict_visibility(session, reader)
    return repo.offline_records(session, outcome="conflict", unreviewed=not reviewed, visible_to=visible)


def review(
    session: Session, offline_id: int, reviewer: str, now: dt.datetime, reader: venues.Reader | None = None
) -> OfflineCheckIn:
    """Mark a record reviewed; one ``reader`` may not see is NOT_FOUND, like one that does not exist."""
    row = repo.offline_record_by_id(session, offline_id)
    visible = venues.conflict_visibility(session, reader)
    if row is not None and visible is not None:
        row = row if repo.offline_record_visible_to(session, row.id, *visible) else None
    if row is None:
        raise ServiceError(Kind.NOT_FOUND, f"no offline record {offline_id}")
    if row.reviewed_at is None:
        row.reviewed_at, row.reviewed_by = now, reviewer[:100]
        session.flush()
    return row


def offline_record_json(row: OfflineCheckIn) -> dict[str, object]:
    return {
        "id": row.id,
        "desk": row.desk_code,
        "record_id": row.record_id,
        "invitation_id": row.invitation_id,
        "scanned_at": as_utc(row.scanned_at).astimezone(VIETNAM).isoformat(),
        "received_at": as_utc(row.received_at).astimezone(VIETNAM).isoformat(),
        "outcome": row.outcome,
        "detail": row.detail,
        "checkin_id": row.checkin_id,
        "reviewed_at": as_utc(row.reviewed_at).astimezone(VIETNAM).isoformat() if row.reviewed_at else None,
        "reviewed_by": row.reviewed_by,
    }
