"""A certificate's current status, as `kyso ca status` and the API report it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import Session

from ca.issuance import CertificateAuthority
from ca.lifecycle import show
from ca.records import CertificateInfo


@dataclass(frozen=True)
class CertificateStatus:
    serial: str
    status: str  # valid | suspended | revoked | expired
    issuer: str
    revoked_at: dt.datetime | None
    revocation_reason: str | None
    not_after: dt.datetime
    crl_url: str
    ocsp_url: str | None  # the root's subordinates are checked by CRL only

    def as_json(self) -> dict[str, object]:
        return {
            "serial": self.serial,
            "status": self.status,
            "issuer": self.issuer,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
            "revocation_reason": self.revocation_reason,
            "not_after": self.not_after.isoformat(),
            "crl_url": self.crl_url,
            "ocsp_url": self.ocsp_url,
        }


def certificate_status(session: Session, ca: CertificateAuthority, serial: str) -> CertificateStatus:
    info: CertificateInfo = show(ca, session, serial)
    reason = "certificate-hold" if info.status == "suspended" else info.revocation_reason
    return CertificateStatus(
        serial=info.serial,
        status=info.status,
        issuer=info.issuer,
        revoked_at=info.revoked_at,
        revocation_reason=reason,
        not_after=info.not_after,
        crl_url=ca.urls.crl(info.issuer),
        ocsp_url=None if info.issuer == "root" else ca.urls.ocsp(info.issuer),
    )
