"""The schema, as typed SQLAlchemy 2 models. It is created only by the Alembic migrations."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Double, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from store.types import UtcDateTime


class Base(DeclarativeBase):
    pass


class StoredKey(Base):
    """A private key wrapped under the master key (software custody) or a reference into a token."""

    __tablename__ = "keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    label: Mapped[str] = mapped_column(String(200))
    algorithm: Mapped[str] = mapped_column(String(20))
    backend: Mapped[str] = mapped_column(String(20), default="software")
    public_key_der: Mapped[bytes] = mapped_column(LargeBinary)
    wrapped_private_key: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class Authority(Base):
    """A certificate authority of the hierarchy: root, citizen, government."""

    __tablename__ = "authorities"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("authorities.id"), nullable=True)
    subject: Mapped[str] = mapped_column(Text)
    certificate_der: Mapped[bytes] = mapped_column(LargeBinary)
    key_id: Mapped[str] = mapped_column(ForeignKey("keys.id"))
    crl_number: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)

    parent: Mapped[Authority | None] = relationship(remote_side=[id], lazy="raise")


class Certificate(Base):
    """Every end-entity and service certificate an authority of Kyso signed (or reserved a serial for)."""

    __tablename__ = "certificates"
    __table_args__ = (
        Index("ix_certificates_cccd", "cccd"),
        Index("ix_certificates_tax_code", "tax_code"),
        Index("ix_certificates_common_name", "common_name"),
        Index("ix_certificates_status", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    serial: Mapped[str] = mapped_column(String(42), unique=True)
    authority_id: Mapped[str] = mapped_column(ForeignKey("authorities.id"))
    profile: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20))  # reserved | valid | suspended | revoked
    subject: Mapped[str] = mapped_column(Text)
    subject_fields: Mapped[str] = mapped_column(Text)  # JSON of the fields the subject was built from
    common_name: Mapped[str] = mapped_column(String(200))
    cccd: Mapped[str | None] = mapped_column(String(12), nullable=True)
    tax_code: Mapped[str | None] = mapped_column(String(14), nullable=True)
    organization: Mapped[str | None] = mapped_column(String(200), nullable=True)
    key_algorithm: Mapped[str] = mapped_column(String(20))
    key_id: Mapped[str | None] = mapped_column(ForeignKey("keys.id"), nullable=True)
    not_before: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    not_after: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    der: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    fingerprint_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    revocation_reason: Mapped[str | None] = mapped_column(String(40), nullable=True)
    invalidity_date: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    suspended_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    renewed_from: Mapped[str | None] = mapped_column(String(42), nullable=True)


class ServiceSigner(Base):
    """A delegated signer of the service (OCSP responder per CA, the TSA) with its certificate and key."""

    __tablename__ = "service_signers"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # e.g. "ocsp-citizen", "tsa"
    authority_id: Mapped[str] = mapped_column(ForeignKey("authorities.id"))
    certificate_serial: Mapped[str] = mapped_column(ForeignKey("certificates.serial"))
    key_id: Mapped[str] = mapped_column(ForeignKey("keys.id"))


class BulkRun(Base):
    """One CSV file given to ``kyso ca bulk-issue``, identified by its content hash so a rerun resumes."""

    __tablename__ = "bulk_runs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 of the file
    file_name: Mapped[str] = mapped_column(String(500))
    total_rows: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)


class BulkRow(Base):
    """The outcome of one row of a bulk run; written in the transaction that issued its certificate."""

    __tablename__ = "bulk_rows"
    __table_args__ = (UniqueConstraint("run_id", "row_number", name="uq_bulk_rows_run_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("bulk_runs.id"))
    row_number: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(10))  # issued | failed
    serial: Mapped[str | None] = mapped_column(String(42), nullable=True)
    message: Mapped[str | None] = mapped_column(Text, nullable=True)


class PublishedCrl(Base):
    """The current CRL of an authority; regenerated on every status change and before it goes stale."""

    __tablename__ = "crls"

    authority_id: Mapped[str] = mapped_column(ForeignKey("authorities.id"), primary_key=True)
    crl_number: Mapped[int] = mapped_column(Integer)
    this_update: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    next_update: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    entries: Mapped[int] = mapped_column(Integer)
    der: Mapped[bytes] = mapped_column(LargeBinary)


class OcspResponse(Base):
    """A pre-produced OCSP response for one certificate (no nonce), served as long as it is fresh.

    Deleted in the transaction that changes the certificate's status, so the next request sees it.
    """

    __tablename__ = "ocsp_responses"

    serial: Mapped[str] = mapped_column(String(42), primary_key=True)
    hash_algorithm: Mapped[str] = mapped_column(String(10), primary_key=True)  # of the CertID
    authority_id: Mapped[str] = mapped_column(ForeignKey("authorities.id"))
    cert_status: Mapped[str] = mapped_column(String(10))  # good | revoked | unknown
    produced_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    next_update: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    der: Mapped[bytes] = mapped_column(LargeBinary)


class Account(Base):
    """A person (admin, operator, official, clerk, desk, citizen) or an integrator's service account."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    cccd: Mapped[str | None] = mapped_column(String(12), unique=True, nullable=True)
    venue: Mapped[str | None] = mapped_column(String(40), nullable=True)  # desk accounts
    password_hash: Mapped[str | None] = mapped_column(String(200), nullable=True)
    must_change_password: Mapped[bool] = mapped_column(default=False)
    disabled: Mapped[bool] = mapped_column(default=False)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)  # passwords and codes, consecutive
    code_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # codes only
    locked_until: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    totp_secret: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)  # wrapped
    totp_confirmed: Mapped[bool] = mapped_column(default=False)
    totp_last_step: Mapped[int | None] = mapped_column(Integer, nullable=True)  # replay guard
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class RecoveryCode(Base):
    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    used_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)


class SessionToken(Base):
    """A bearer token or browser session; only its SHA-256 is stored, so it can be revoked at once."""

    __tablename__ = "session_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(10))  # bearer | cookie
    csrf_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[str] = mapped_column(Text)  # JSON list of permissions
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)


class AuditEntry(Base):
    """One link of the audit hash chain. ``previous_hash`` is unique: the chain cannot fork."""

    __tablename__ = "audit_entries"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    previous_hash: Mapped[str] = mapped_column(String(64), unique=True)
    entry_hash: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(60))
    target: Mapped[str | None] = mapped_column(String(200), nullable=True, index=True)
    outcome: Mapped[str] = mapped_column(String(20))
    source: Mapped[str | None] = mapped_column(String(100), nullable=True)
    details: Mapped[str] = mapped_column(Text)  # canonical JSON


class AuditHead(Base):
    """The single row naming the chain's last entry; locked by every append, so appends are linear."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer)
    entry_hash: Mapped[str] = mapped_column(String(64))


class AuditSeal(Base):
    """The chain head signed by the service and timestamped by the TSA at a moment in time."""

    __tablename__ = "audit_seals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    seq: Mapped[int] = mapped_column(Integer)
    entry_hash: Mapped[str] = mapped_column(String(64))
    sealed_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    signature: Mapped[bytes] = mapped_column(LargeBinary)
    signer_certificate_serial: Mapped[str] = mapped_column(String(42))
    timestamp_token: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)


class SigningCredential(Base):
    """An account's right to sign with one certificate held in custody (a CSC "credential")."""

    __tablename__ = "signing_credentials"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    certificate_serial: Mapped[str] = mapped_column(ForeignKey("certificates.serial"))
    purpose: Mapped[str] = mapped_column(String(10))  # sign | seal
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    disabled_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)


class SigningAuthorization(Base):
    """Sole control (SCAL2): a second-factor confirmation bound to exactly these documents, used once."""

    __tablename__ = "signing_authorizations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    credential_id: Mapped[str] = mapped_column(ForeignKey("signing_credentials.id"))
    requested_by: Mapped[int] = mapped_column(Integer)  # the signer, or the integrator acting for them
    document_hashes: Mapped[str] = mapped_column(Text)  # JSON list of lowercase hex SHA-256
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)


class SignedDocument(Base):
    """A document Kyso signed: what the QR on a stamp and the verification page point at."""

    __tablename__ = "signed_documents"
    __table_args__ = (Index("ix_signed_documents_sha256", "sha256"),)

    id: Mapped[str] = mapped_column(String(24), primary_key=True)  # public, in /verify/<id>
    sha256: Mapped[str] = mapped_column(String(64))  # of the signed output
    input_sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(12))  # official | seal | attachment | citizen | hash
    level: Mapped[str] = mapped_column(String(8))  # b-b | b-t | b-lt | b-lta
    certificate_serial: Mapped[str] = mapped_column(String(42))
    signer_name: Mapped[str] = mapped_column(String(200))
    organization: Mapped[str | None] = mapped_column(String(200), nullable=True)
    reference_number: Mapped[str | None] = mapped_column(String(100), nullable=True)
    account_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    signed_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class SignedRevision(Base):
    """A later signed revision of a registered document: Kyso signed or sealed the registered file again
    (its bytes are a prefix of this revision's), so the document keeps its id; revision 1 is the document's
    own row. Every signature still has its own row in ``signed_documents`` (``registered_id``)."""

    __tablename__ = "signed_revisions"
    __table_args__ = (
        UniqueConstraint("document_id", "number", name="uq_signed_revisions_number"),
        Index("ix_signed_revisions_sha256", "sha256"),
    )

    registered_id: Mapped[str] = mapped_column(ForeignKey("signed_documents.id"), primary_key=True)
    document_id: Mapped[str] = mapped_column(ForeignKey("signed_documents.id"))  # the id the first QR names
    number: Mapped[int] = mapped_column(Integer)  # 2, 3, …
    sha256: Mapped[str] = mapped_column(String(64))  # of the whole file after this signature
    size: Mapped[int] = mapped_column(Integer)
    previous_size: Mapped[int] = mapped_column(Integer)  # the revision it extends: bytes [0, previous_size)


# --- invitations and the security desk (invitations/) -------------------------------------------------
class Venue(Base):
    """A building or office guests are invited to; its desks check them in."""

    __tablename__ = "venues"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)  # e.g. UBND-BT
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str | None] = mapped_column(String(300), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    # days after an invitation ends before its guest is anonymised; None: KYSO_INVITATION_RETENTION_DAYS
    retention_days: Mapped[int | None] = mapped_column(Integer, nullable=True)


class Desk(Base):
    """A security desk or gate of a venue; desk codes are unique across venues."""

    __tablename__ = "desks"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    venue_code: Mapped[str] = mapped_column(ForeignKey("venues.code"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class Invitation(Base):
    """A guest invited by a host. The current QR token is identified by ``token_id`` and ``token_version``;
    amending the invitation changes both, so earlier tokens are refused."""

    __tablename__ = "invitations"
    __table_args__ = (Index("ix_invitations_venue_starts", "venue_code", "starts_at"),)

    id: Mapped[str] = mapped_column(String(20), primary_key=True)  # public, in the token
    host_account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    host_name: Mapped[str] = mapped_column(String(200))
    venue_code: Mapped[str] = mapped_column(ForeignKey("venues.code"))
    meeting_title: Mapped[str] = mapped_column(String(300))
    guest_name: Mapped[str] = mapped_column(String(200))
    guest_title: Mapped[str | None] = mapped_column(String(30), nullable=True)  # "Ông", "Bà", …
    host_contact: Mapped[str | None] = mapped_column(String(100), nullable=True)  # shown to desk and guest
    hold: Mapped[str | None] = mapped_column(String(10), nullable=True)  # pending|admitted|refused
    guest_email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    guest_phone: Mapped[str | None] = mapped_column(String(20), nullable=True)
    cccd_hash: Mapped[str | None] = mapped_column(String(32), nullable=True)  # hex, salted by the id
    cccd_masked: Mapped[str | None] = mapped_column(String(12), nullable=True)
    companions: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of names
    starts_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)  # the first occurrence
    ends_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)  # the last occurrence
    entries_allowed: Mapped[int] = mapped_column(Integer, default=1)  # per occurrence
    status: Mapped[str] = mapped_column(String(12), default="active")  # active | cancelled
    token_id: Mapped[str] = mapped_column(String(16))  # hex of the CWT cti
    token_version: Mapped[int] = mapped_column(Integer, default=1)
    rotating: Mapped[bool] = mapped_column(default=False)
    rotating_secret: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)  # sealed
    notify_webhook: Mapped[str | None] = mapped_column(String(500), nullable=True)
    notify_email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    anonymised_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)


class InvitationOccurrence(Base):
    """One day of an invitation (one row for a single meeting). ``entries_used`` is consumed by a
    conditional UPDATE (``WHERE entries_used < allowed``), so concurrent desks admit at most ``allowed``."""

    __tablename__ = "invitation_occurrences"
    __table_args__ = (
        UniqueConstraint("invitation_id", "number", name="uq_invitation_occurrences_number"),
        Index("ix_invitation_occurrences_day", "day"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    invitation_id: Mapped[str] = mapped_column(ForeignKey("invitations.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)  # the token's window index
    day: Mapped[dt.date] = mapped_column()  # local date (Asia/Ho_Chi_Minh)
    starts_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    ends_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    entries_used: Mapped[int] = mapped_column(Integer, default=0)


class CheckIn(Base):
    """An admitted entry: online at a desk, or offline and synced later."""

    __tablename__ = "checkins"
    __table_args__ = (Index("ix_checkins_venue_admitted", "venue_code", "admitted_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    invitation_id: Mapped[str] = mapped_column(ForeignKey("invitations.id", ondelete="CASCADE"), index=True)
    occurrence: Mapped[int] = mapped_column(Integer)
    venue_code: Mapped[str] = mapped_column(String(40))
    desk_code: Mapped[str] = mapped_column(String(40))
    admitted_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    checked_out_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    checkout_by: Mapped[str | None] = mapped_column(String(10), nullable=True)  # desk | auto
    source: Mapped[str] = mapped_column(String(10), default="online")  # online | offline
    actor: Mapped[str] = mapped_column(String(100))


class RollcallMark(Base):
    """An evacuation roll call's mark on a guest inside: safe or missing (the newest mark counts)."""

    __tablename__ = "rollcall_marks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    checkin_id: Mapped[int] = mapped_column(ForeignKey("checkins.id", ondelete="CASCADE"), index=True)
    venue_code: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(10))  # safe | missing
    marked_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    marked_by: Mapped[str] = mapped_column(String(100))


class BlocklistEntry(Base):
    """Someone a venue must not admit without an approver's word; shared by every venue. Matched exactly on
    the name (casefolded, without diacritics) or the CCCD (a keyed hash: the number is not stored)."""

    __tablename__ = "blocklist_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name_key: Mapped[str | None] = mapped_column(String(200), nullable=True, index=True)
    cccd_key: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    label: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(String(300))
    added_by: Mapped[str] = mapped_column(String(100))
    added_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    removed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)


class BlocklistHold(Base):
    """A guest held at the desk by a block-list hit until a named approver admits or refuses."""

    __tablename__ = "blocklist_holds"
    __table_args__ = (UniqueConstraint("invitation_id", name="uq_blocklist_holds_invitation"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    invitation_id: Mapped[str] = mapped_column(ForeignKey("invitations.id", ondelete="CASCADE"))
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("blocklist_entries.id"), nullable=True)
    matched_on: Mapped[str] = mapped_column(String(10))  # name | cccd | walk_up (the host approves)
    status: Mapped[str] = mapped_column(String(10))  # pending | admitted | refused
    held_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    note: Mapped[str | None] = mapped_column(String(300), nullable=True)


class OfflineCheckIn(Base):
    """What an offline desk reported on reconnecting; a token admitted twice is kept as a conflict."""

    __tablename__ = "offline_checkins"
    __table_args__ = (UniqueConstraint("desk_code", "record_id", name="uq_offline_checkins_record"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    desk_code: Mapped[str] = mapped_column(String(40))
    record_id: Mapped[str] = mapped_column(String(64))  # chosen by the desk: a re-sync is a no-op
    invitation_id: Mapped[str | None] = mapped_column(String(20), nullable=True, index=True)
    token_id: Mapped[str | None] = mapped_column(String(16), nullable=True)
    scanned_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    received_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    outcome: Mapped[str] = mapped_column(String(12))  # recorded | conflict | rejected
    detail: Mapped[str] = mapped_column(Text)
    checkin_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    reviewed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    reviewed_by: Mapped[str | None] = mapped_column(String(100), nullable=True)


class InvitationKey(Base):
    """A seal key desks trust, by its 8-byte kid; a retired key's tokens are refused as unknown."""

    __tablename__ = "invitation_keys"

    kid: Mapped[str] = mapped_column(String(16), primary_key=True)  # hex
    certificate_der: Mapped[bytes] = mapped_column(LargeBinary)
    added_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    retired_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)


class OutboxMessage(Base):
    """A notification to deliver after the transaction that caused it: a host's arrival webhook or email,
    a guest's invitation email. Claimed by a conditional UPDATE, so two workers never send one twice."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_due", "status", "due_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    invitation_id: Mapped[str | None] = mapped_column(String(20), nullable=True)
    kind: Mapped[str] = mapped_column(String(20))  # webhook | email
    purpose: Mapped[str] = mapped_column(String(20))  # arrival | invitation
    target: Mapped[str] = mapped_column(String(500))
    payload: Mapped[str] = mapped_column(Text)  # JSON
    status: Mapped[str] = mapped_column(String(10), default="pending")  # pending | sending | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    due_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)


class InvitationLetter(Base):
    """The PAdES-sealed invitation letter ("giấy mời") for the current token of an invitation: sealed once,
    the same bytes on every download; an amended invitation gets a new one, anonymisation deletes it."""

    __tablename__ = "invitation_letters"

    invitation_id: Mapped[str] = mapped_column(ForeignKey("invitations.id"), primary_key=True)
    token_id: Mapped[str] = mapped_column(String(16))  # the token the letter's QR carries
    document_id: Mapped[str] = mapped_column(String(40))  # in the signed-document registry
    organization: Mapped[str] = mapped_column(String(200))  # the agency whose seal it bears
    pdf: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


# --- verification (verification/) ----------------------------------------------------------------------
class TrustAnchor(Base):
    """A root an operator added to the verification trust list (Kyso's own root is always in it)."""

    __tablename__ = "trust_anchors"
    __table_args__ = (UniqueConstraint("label", name="uq_trust_anchors_label"),)

    fingerprint: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 of the DER, hex
    label: Mapped[str] = mapped_column(String(100))
    subject: Mapped[str] = mapped_column(Text)
    certificate_der: Mapped[bytes] = mapped_column(LargeBinary)
    added_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    added_by: Mapped[str] = mapped_column(String(100))


class TrustProfileSetting(Base):
    """An operator's choice for a named trust profile (verification/profiles.py); a profile without a row
    keeps its default."""

    __tablename__ = "trust_profiles"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    enabled: Mapped[bool] = mapped_column()
    changed_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    changed_by: Mapped[str] = mapped_column(String(100))


# --- rate limits (api/ratelimit.py) --------------------------------------------------------------------
class RateLimit(Base):
    """One client's GCRA state for one limited scope (login, verify): its theoretical arrival time.

    Kept in the database, not in a worker's memory, so every worker and every machine enforces the same
    limit; ``store.rate_limits.take`` updates it with one atomic UPSERT per request.
    """

    __tablename__ = "rate_limits"

    scope: Mapped[str] = mapped_column(String(20), primary_key=True)
    client: Mapped[str] = mapped_column(String(64), primary_key=True)  # an IPv4/IPv6 address
    tat: Mapped[float] = mapped_column(Double)  # POSIX seconds; at or before now: a full burst is free
    allowed: Mapped[bool] = mapped_column()  # whether the latest request was let through


# --- approvals, N of M (services/approvals.py) ---------------------------------------------------------
class ApprovalPolicy(Base):
    """How many people other than the requester must approve an action before it runs (0 or no row: none)."""

    __tablename__ = "approval_policies"

    action: Mapped[str] = mapped_column(String(60), primary_key=True)
    required: Mapped[int] = mapped_column(Integer)
    lifetime_hours: Mapped[int] = mapped_column(Integer)
    changed_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    changed_by: Mapped[str] = mapped_column(String(100))


class ApprovalRequest(Base):
    """An action waiting for approvals: pending, then approved (and run), rejected or expired."""

    __tablename__ = "approval_requests"
    __table_args__ = (Index("ix_approval_requests_status", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    action: Mapped[str] = mapped_column(String(60))
    target: Mapped[str] = mapped_column(String(200))
    params: Mapped[str] = mapped_column(Text)  # canonical JSON: what runs once approved
    required: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))
    requested_by: Mapped[str] = mapped_column(String(100))
    requested_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)


class ApprovalVote(Base):
    """One person's approval or rejection of a request; one each."""

    __tablename__ = "approval_votes"
    __table_args__ = (UniqueConstraint("request_id", "voter", name="uq_approval_votes_voter"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("approval_requests.id"))
    voter: Mapped[str] = mapped_column(String(100))
    decision: Mapped[str] = mapped_column(String(10))  # approve | reject
    comment: Mapped[str] = mapped_column(String(500))
    voted_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
