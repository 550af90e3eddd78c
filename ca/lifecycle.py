"""After issuance: show, search, suspend (certificateHold), reinstate, revoke, renew (re-key).

A revoked or expired certificate can never come back or be renewed; every state change locks the row
first so two operators acting at once cannot both win.
"""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy.orm import Session

from ca import crl
from ca.issuance import CertificateAuthority, Issued, IssueRequest
from ca.profiles import END_ENTITY_PROFILES, get_profile
from ca.records import REVOCATION_REASONS, CertificateInfo
from ca.subjects import SubjectFields
from core.clock import display
from core.errors import conflict, malformed, not_found
from core.ids import clean_serial_text, parse_serial, serial_hex
from store import repositories
from store.models import Certificate

STATUSES = ("valid", "suspended", "revoked", "expired")


def _load(session: Session, serial: str, *, for_update: bool = False) -> Certificate:
    canonical = serial_hex(parse_serial(serial))
    row = repositories.certificate_by_serial(session, canonical, for_update=for_update)
    if row is None or row.status == "reserved":
        raise not_found(f"no certificate with serial {canonical}")
    return row


def show(ca: CertificateAuthority, session: Session, serial: str) -> CertificateInfo:
    return CertificateInfo.from_row(_load(session, serial), ca.clock.now())


def search(
    ca: CertificateAuthority,
    session: Session,
    *,
    serial: str | None = None,
    cccd: str | None = None,
    tax_code: str | None = None,
    name: str | None = None,
    status: str | None = None,
    profile: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[CertificateInfo], int]:
    if status is not None and status not in STATUSES:
        raise malformed(f"unknown status {status!r}; choose one of {', '.join(STATUSES)}")
    if not 1 <= limit <= 1000 or offset < 0:
        raise malformed("limit must be 1..1000 and offset not negative")
    now = ca.clock.now()
    expired_filter = status == "expired"
    rows, total = repositories.search_certificates(
        session,
        serial_prefix=clean_serial_text(serial) if serial else None,
        cccd=cccd,
        tax_code=tax_code,
        name=name,
        status=None if expired_filter else status,
        profile=profile,
        expired_before=now if expired_filter else None,
        not_expired_at=now if status in ("valid", "suspended") else None,
        limit=limit,
        offset=offset,
    )
    return [CertificateInfo.from_row(r, now) for r in rows], total


def _status_changed(session: Session, ca: CertificateAuthority, row: Certificate) -> None:
    """In the same transaction: drop stored OCSP responses (the next request produces a fresh one) and
    republish the issuing authority's CRL."""
    session.flush()
    repositories.forget_ocsp_responses(session, row.serial)
    crl.publish(session, ca, row.authority_id)


def _refuse_if_expired(ca: CertificateAuthority, row: Certificate, action: str) -> None:
    if row.not_after <= ca.clock.now():
        raise conflict(f"certificate {row.serial} expired on {display(row.not_after)}; it cannot be {action}")


def revoke(
    ca: CertificateAuthority,
    session: Session,
    serial: str,
    reason: str,
    invalidity_date: dt.datetime | None = None,
) -> CertificateInfo:
    if reason == "certificate-hold":
        raise malformed("certificate-hold is not a revocation: suspend the certificate instead")
    if reason not in REVOCATION_REASONS:
        raise malformed(
            f"unknown revocation reason {reason!r}; choose one of {', '.join(REVOCATION_REASONS)}"
        )
    now = ca.clock.now()
    if invalidity_date is not None and invalidity_date > now:
        raise malformed("the invalidity date cannot be in the future")
    row = _load(session, serial, for_update=True)
    if invalidity_date is not None:
        invalidity_date = invalidity_date.astimezone(dt.UTC)
        if invalidity_date < row.not_before:
            raise malformed("the invalidity date is before the certificate was valid")
    if row.status == "revoked":
        raise conflict(
            f"certificate {row.serial} was already revoked on {display(row.revoked_at or now)} "
            f"({row.revocation_reason})"
        )
    row.status = "revoked"
    row.revoked_at = now
    row.revocation_reason = reason
    row.invalidity_date = invalidity_date
    row.suspended_at = None
    _status_changed(session, ca, row)
    return CertificateInfo.from_row(row, now)


def suspend(ca: CertificateAuthority, session: Session, serial: str) -> CertificateInfo:
    row = _load(session, serial, for_update=True)
    if row.status == "revoked":
        raise conflict(f"certificate {row.serial} is revoked; it cannot be suspended")
    if row.status == "suspended":
        raise conflict(f"certificate {row.serial} is already suspended")
    _refuse_if_expired(ca, row, "suspended")
    row.status = "suspended"
    row.suspended_at = ca.clock.now()
    _status_changed(session, ca, row)
    return CertificateInfo.from_row(row, ca.clock.now())


def reinstate(ca: CertificateAuthority, session: Session, serial: str) -> CertificateInfo:
    row = _load(session, serial, for_update=True)
    if row.status == "revoked":
        raise conflict(f"certificate {row.serial} is revoked; revoked certificates can never be reinstated")
    if row.status != "suspended":
        raise conflict(f"certificate {row.serial} is not suspended")
    _refuse_if_expired(ca, row, "reinstated")
    row.status = "valid"
    row.suspended_at = None
    _status_changed(session, ca, row)
    return CertificateInfo.from_row(row, ca.clock.now())


def renew(
    ca: CertificateAuthority,
    session: Session,
    serial: str,
    *,
    csr: bytes | None = None,
    keygen: str | None = None,
    pkcs12_password: str | None = None,
) -> Issued:
    """Re-key: a new certificate for the same subject and a new key; the old one is revoked as superseded.

    The new key stays in custody when the old one was, unless a CSR or a PKCS#12 password says otherwise.
    """
    row = _load(session, serial, for_update=True)
    if row.profile not in END_ENTITY_PROFILES:
        raise malformed(f"{row.profile} certificates are renewed by `kyso init`, not here")
    if row.status != "valid":
        raise conflict(f"certificate {row.serial} is {row.status}; only a valid certificate can be renewed")
    _refuse_if_expired(ca, row, "renewed")
    profile = get_profile(row.profile, ca.profiles)
    delivery = "pkcs12" if pkcs12_password else ("custody" if row.key_id or csr else "pkcs12")
    if delivery == "pkcs12" and not pkcs12_password and csr is None:
        raise malformed(
            "the old key was delivered as PKCS#12: give a CSR or a PKCS#12 password for the new one"
        )
    issued = ca.issue(
        session,
        IssueRequest(
            profile=profile.name,
            subject=SubjectFields.from_dict(json.loads(row.subject_fields)),
            csr=csr,
            keygen=None if csr else (keygen or row.key_algorithm),
            delivery=delivery,  # type: ignore[arg-type]
            pkcs12_password=pkcs12_password,
        ),
    )
    new_row = repositories.certificate_by_serial(session, issued.certificate.serial)
    assert new_row is not None
    new_row.renewed_from = row.serial
    revoke(ca, session, row.serial, "superseded")
    session.flush()
    return Issued(CertificateInfo.from_row(new_row, ca.clock.now()), issued.pkcs12)
