"""What ca/ hands to api/ and cli/: plain frozen records, never ORM rows."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ca.revocation_reasons import REVOCATION_REASON_NAMES
from store.models import Certificate

REVOCATION_REASONS = {name: x509.ReasonFlags[name.replace("-", "_")] for name in REVOCATION_REASON_NAMES}


def pem_of(der: bytes) -> str:
    return x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM).decode()


@dataclass(frozen=True)
class CertificateInfo:
    serial: str
    profile: str
    status: str  # valid | suspended | revoked | expired (derived from notAfter)
    issuer: str
    subject: str
    subject_fields: dict[str, str]
    common_name: str
    cccd: str | None
    tax_code: str | None
    organization: str | None
    key_algorithm: str
    key_in_custody: bool
    not_before: dt.datetime
    not_after: dt.datetime
    fingerprint_sha256: str | None
    revoked_at: dt.datetime | None
    revocation_reason: str | None
    invalidity_date: dt.datetime | None
    renewed_from: str | None
    certificate_pem: str

    @classmethod
    def from_row(cls, row: Certificate, now: dt.datetime) -> CertificateInfo:
        status = row.status
        if status in ("valid", "suspended") and row.not_after <= now:
            status = "expired"
        return cls(
            serial=row.serial,
            profile=row.profile,
            status=status,
            issuer=row.authority_id,
            subject=row.subject,
            subject_fields=json.loads(row.subject_fields),
            common_name=row.common_name,
            cccd=row.cccd,
            tax_code=row.tax_code,
            organization=row.organization,
            key_algorithm=row.key_algorithm,
            key_in_custody=row.key_id is not None,
            not_before=row.not_before,
            not_after=row.not_after,
            fingerprint_sha256=row.fingerprint_sha256,
            revoked_at=row.revoked_at,
            revocation_reason=row.revocation_reason,
            invalidity_date=row.invalidity_date,
            renewed_from=row.renewed_from,
            certificate_pem=pem_of(row.der) if row.der else "",
        )

    def as_json(self) -> dict[str, Any]:
        def iso(value: dt.datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {
            "serial": self.serial,
            "profile": self.profile,
            "status": self.status,
            "issuer": self.issuer,
            "subject": self.subject,
            "subject_fields": self.subject_fields,
            "key_algorithm": self.key_algorithm,
            "key_in_custody": self.key_in_custody,
            "not_before": iso(self.not_before),
            "not_after": iso(self.not_after),
            "fingerprint_sha256": self.fingerprint_sha256,
            "revoked_at": iso(self.revoked_at),
            "revocation_reason": self.revocation_reason,
            "invalidity_date": iso(self.invalidity_date),
            "renewed_from": self.renewed_from,
            "certificate_pem": self.certificate_pem,
        }


@dataclass(frozen=True)
class AuthorityInfo:
    id: str
    parent: str | None
    subject: str
    key_algorithm: str
    not_before: dt.datetime
    not_after: dt.datetime
    serial: str
    certificate_pem: str
