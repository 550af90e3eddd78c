"""Full CRLs per authority (RFC 5280 §5): CRL number, AKI, reason codes, invalidity dates.

The current CRL is stored in ``crls`` and served from there; it is regenerated in the transaction of every
status change (revoke, suspend, reinstate) and whenever it has passed half of its validity, so relying
parties always find one that is fresh. Suspended certificates appear with certificateHold and leave the
next CRL when reinstated. Entries of certificates that have expired are dropped (RFC 5280 §3.3 allows it).

Delta CRLs are not produced: 470,000 certificates with a few per cent revoked make a full CRL of a few
hundred KiB, which an HTTP cache serves cheaply, and OCSP is the fresh source for relying parties that
need one (see docs/operator.md).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy.orm import Session

from ca.issuance import CertificateAuthority
from ca.records import REVOCATION_REASONS
from core.errors import not_found
from store import repositories
from store.crl_entries import revocation_entries
from store.models import PublishedCrl


@dataclass(frozen=True)
class CrlInfo:
    authority_id: str
    crl_number: int
    this_update: dt.datetime
    next_update: dt.datetime
    entries: int
    der: bytes


def _info(row: PublishedCrl) -> CrlInfo:
    return CrlInfo(row.authority_id, row.crl_number, row.this_update, row.next_update, row.entries, row.der)


def is_fresh(row: PublishedCrl, now: dt.datetime) -> bool:
    """Fresh until half its validity has passed: it is replaced long before relying parties see it stale."""
    return now < row.this_update + (row.next_update - row.this_update) / 2


def current(session: Session, ca: CertificateAuthority, authority_id: str) -> CrlInfo | None:
    """The stored CRL if it is still fresh, else None (the caller regenerates it in a write transaction)."""
    row = repositories.published_crl(session, authority_id)
    return _info(row) if row is not None and is_fresh(row, ca.clock.now()) else None


def publish(session: Session, ca: CertificateAuthority, authority_id: str) -> CrlInfo:
    """Generate, sign and store a new CRL for ``authority_id`` with the next CRL number."""
    authority_row = repositories.authority_for_update(session, authority_id)
    if authority_row is None:
        raise not_found(f"no certificate authority {authority_id!r}")
    authority = ca.authority(session, authority_id)
    now = ca.clock.now().replace(microsecond=0)
    authority_row.crl_number += 1
    entries = revocation_entries(session, authority_id, now)
    # All entries handed to the constructor at once: add_revoked_certificate copies the list each time,
    # which made 100,000 entries take ~20 s.
    builder = x509.CertificateRevocationListBuilder(
        issuer_name=authority.certificate.subject,
        last_update=now,
        next_update=now + ca.status_policy.crl_validity,
        extensions=[
            x509.Extension(x509.CRLNumber.oid, False, x509.CRLNumber(authority_row.crl_number)),
            x509.Extension(
                x509.AuthorityKeyIdentifier.oid,
                False,
                x509.AuthorityKeyIdentifier(authority.issuer.key_identifier, None, None),
            ),
        ],
        revoked_certificates=[_revoked(*entry) for entry in entries],
    )
    crl = ca.keystore.signer(session, authority.key_id).sign_x509(builder)
    der = crl.public_bytes(serialization.Encoding.DER)
    row = repositories.published_crl(session, authority_id)
    if row is None:
        row = PublishedCrl(authority_id=authority_id)
        session.add(row)
    row.crl_number, row.this_update, row.next_update = (
        authority_row.crl_number,
        now,
        now + ca.status_policy.crl_validity,
    )
    row.entries, row.der = len(entries), der
    session.flush()
    return _info(row)


def _revoked(
    serial: str,
    status: str,
    revoked_at: dt.datetime | None,
    suspended_at: dt.datetime | None,
    reason: str | None,
    invalidity_date: dt.datetime | None,
) -> x509.RevokedCertificate:
    when = (suspended_at if status == "suspended" else revoked_at) or dt.datetime.now(dt.UTC)
    builder = x509.RevokedCertificateBuilder().serial_number(int(serial, 16)).revocation_date(when)
    flag = (
        x509.ReasonFlags.certificate_hold if status == "suspended" else REVOCATION_REASONS.get(reason or "")
    )
    # RFC 5280 §5.3.1: the reason code "unspecified" SHOULD be absent.
    if flag is not None and flag is not x509.ReasonFlags.unspecified:
        builder = builder.add_extension(x509.CRLReason(flag), critical=False)
    if invalidity_date is not None and status == "revoked":
        builder = builder.add_extension(
            x509.InvalidityDate(invalidity_date.replace(tzinfo=None)), critical=False
        )
    return builder.build()
