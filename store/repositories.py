"""Queries. Domain code calls these; only store/ writes SQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

from sqlalchemy import delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.errors import Kind, ServiceError
from store.models import (
    Account,
    Authority,
    BulkRow,
    BulkRun,
    Certificate,
    OcspResponse,
    PublishedCrl,
    ServiceSigner,
    SigningCredential,
    StoredKey,
)

SERIAL_ATTEMPTS = 5


def reserve_certificate(session: Session, make_row: Callable[[], Certificate]) -> Certificate:
    """Insert a certificate row before anything is signed, so its serial is unique by constraint.

    ``make_row`` draws a fresh serial each time; a collision (astronomically unlikely with 159 random
    bits, but the constraint is the guarantee) is retried inside a savepoint.
    """
    for _ in range(SERIAL_ATTEMPTS):
        row = make_row()
        try:
            with session.begin_nested():
                session.add(row)
                session.flush()
            return row
        except IntegrityError:
            continue
    raise ServiceError(Kind.INTERNAL, "could not reserve a unique certificate serial")


def certificate_by_serial(session: Session, serial: str, *, for_update: bool = False) -> Certificate | None:
    query = select(Certificate).where(Certificate.serial == serial)
    if for_update:
        query = query.with_for_update()
    return session.scalars(query).one_or_none()


def serial_exists(session: Session, serial: str) -> bool:
    return session.scalar(select(Certificate.serial).where(Certificate.serial == serial)) is not None


def serials_starting_with(session: Session, prefix: str, limit: int) -> list[tuple[str, str]]:
    """(serial, common name) of at most ``limit`` issued certificates whose serial starts with ``prefix``
    (a LIKE prefix on the index, never the whole table), in serial order."""
    rows = session.execute(
        select(Certificate.serial, Certificate.common_name)
        .where(Certificate.serial.startswith(prefix, autoescape=True), Certificate.status != "reserved")
        .order_by(Certificate.serial)
        .limit(limit)
    ).all()
    return [(serial, name) for serial, name in rows]


def search_certificates(
    session: Session,
    *,
    serial_prefix: str | None = None,
    cccd: str | None = None,
    tax_code: str | None = None,
    name: str | None = None,
    status: str | None = None,
    profile: str | None = None,
    expired_before: dt.datetime | None = None,
    not_expired_at: dt.datetime | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[Sequence[Certificate], int]:
    query = select(Certificate).where(Certificate.status != "reserved")
    if serial_prefix:
        query = query.where(Certificate.serial.startswith(serial_prefix, autoescape=True))
    if cccd:
        query = query.where(Certificate.cccd == cccd)
    if tax_code:
        query = query.where(Certificate.tax_code == tax_code)
    if name:
        pattern = f"%{name.lower()}%"
        query = query.where(
            or_(
                func.lower(Certificate.common_name).like(pattern),
                func.lower(Certificate.organization).like(pattern),
            )
        )
    if status:
        query = query.where(Certificate.status == status)
    if profile:
        query = query.where(Certificate.profile == profile)
    if expired_before:
        query = query.where(
            Certificate.not_after < expired_before, Certificate.status.in_(("valid", "suspended"))
        )
    if not_expired_at:
        query = query.where(Certificate.not_after > not_expired_at)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(Certificate.id.desc()).limit(limit).offset(offset)).all()
    return rows, total


def authority(session: Session, authority_id: str) -> Authority | None:
    return session.get(Authority, authority_id)


def authorities(session: Session) -> Sequence[Authority]:
    return session.scalars(select(Authority).order_by(Authority.created_at, Authority.id)).all()


def service_signers(session: Session) -> Sequence[ServiceSigner]:
    return session.scalars(select(ServiceSigner).order_by(ServiceSigner.id)).all()


def bulk_run(session: Session, run_id: str) -> BulkRun | None:
    return session.get(BulkRun, run_id)


def bulk_rows(session: Session, run_id: str) -> Sequence[BulkRow]:
    return session.scalars(select(BulkRow).where(BulkRow.run_id == run_id).order_by(BulkRow.row_number)).all()


def record_bulk_row(session: Session, row: BulkRow) -> bool:
    """Record a row's outcome; False when another worker already recorded that row (nothing written)."""
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
        return True
    except IntegrityError:
        return False


def delete_key(session: Session, key_id: str) -> None:
    row = session.get(StoredKey, key_id)
    if row is not None:
        session.delete(row)
        session.flush()


def revoked_entries(
    session: Session, authority_id: str, not_expired_at: dt.datetime
) -> Sequence[Certificate]:
    """Revoked and suspended certificates of an authority that have not yet expired."""
    return session.scalars(
        select(Certificate)
        .where(
            Certificate.authority_id == authority_id,
            Certificate.status.in_(("revoked", "suspended")),
            Certificate.not_after > not_expired_at,
        )
        .order_by(Certificate.id)
    ).all()


def authority_for_update(session: Session, authority_id: str) -> Authority | None:
    return session.scalars(
        select(Authority).where(Authority.id == authority_id).with_for_update()
    ).one_or_none()


def published_crl(session: Session, authority_id: str) -> PublishedCrl | None:
    return session.get(PublishedCrl, authority_id)


def cached_ocsp_response(
    session: Session, authority_id: str, serial: str, hash_algorithm: str
) -> OcspResponse | None:
    """The stored response for ``serial`` of the CA ``authority_id``: found by issuer and serial together,
    so one CA's responder never hands out another CA's answer (RFC 6960 §2.2)."""
    row = session.get(OcspResponse, (serial, hash_algorithm))
    return row if row is not None and row.authority_id == authority_id else None


def store_ocsp_response(session: Session, response: OcspResponse) -> None:
    """Insert or replace; a concurrent writer of the same response is harmless (both are fresh)."""
    try:
        with session.begin_nested():
            session.merge(response)
            session.flush()
    except IntegrityError:
        pass


def forget_ocsp_responses(session: Session, serial: str) -> None:
    session.execute(delete(OcspResponse).where(OcspResponse.serial == serial))


def valid_certificate_for_cccd(
    session: Session, cccd: str, profile: str, now: dt.datetime
) -> Certificate | None:
    return session.scalars(
        select(Certificate).where(
            Certificate.cccd == cccd,
            Certificate.profile == profile,
            Certificate.status == "valid",
            Certificate.not_after > now,
        )
    ).first()


# --- seals for documents an agency issues --------------------------------------------------------------
def bound_organizations(session: Session, account_id: int, now: dt.datetime) -> list[str]:
    """The organisations named by the valid certificates bound to an account (newest first)."""
    rows = session.execute(
        select(Certificate.organization)
        .join(SigningCredential, SigningCredential.certificate_serial == Certificate.serial)
        .where(
            SigningCredential.account_id == account_id,
            SigningCredential.disabled_at.is_(None),
            Certificate.status == "valid",
            Certificate.organization.is_not(None),
            Certificate.not_before <= now,
            Certificate.not_after > now,
        )
        .order_by(Certificate.not_before.desc())
    ).scalars()
    return list(dict.fromkeys(r for r in rows if r))


def agency_seal_serial(session: Session, organization: str, now: dt.datetime) -> str | None:
    """The agency-seal certificate in custody that seals for ``organization`` now (the longest-lived)."""
    return session.scalars(
        select(Certificate.serial)
        .where(
            Certificate.profile == "agency-seal",
            Certificate.organization == organization,
            Certificate.status == "valid",
            Certificate.key_id.is_not(None),
            Certificate.not_before <= now,
            Certificate.not_after > now,
        )
        .order_by(Certificate.not_after.desc())
        .limit(1)
    ).first()


# --- signing credentials: who holds a certificate in custody -------------------------------------------
def credential_holder(session: Session, serial: str) -> tuple[str, int, str] | None:
    """(credential id, account id, username) of the active credential of certificate ``serial``, if any."""
    row = session.execute(
        select(SigningCredential.id, Account.id, Account.username)
        .join(Account, Account.id == SigningCredential.account_id)
        .where(SigningCredential.certificate_serial == serial, SigningCredential.disabled_at.is_(None))
        .order_by(SigningCredential.created_at)
        .limit(1)
    ).first()
    return (row[0], row[1], row[2]) if row is not None else None


def official_of_organization(
    session: Session, cccd: str, organization: str, now: dt.datetime
) -> Certificate | None:
    """A valid official certificate naming the person ``cccd`` as working for ``organization`` now."""
    return session.scalars(
        select(Certificate)
        .where(
            Certificate.profile == "official",
            Certificate.cccd == cccd,
            Certificate.organization == organization,
            Certificate.status == "valid",
            Certificate.not_before <= now,
            Certificate.not_after > now,
        )
        .limit(1)
    ).first()
