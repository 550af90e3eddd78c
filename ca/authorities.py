"""Reading the hierarchy: the CAs, their certificates and chains."""

from __future__ import annotations

from cryptography import x509
from sqlalchemy.orm import Session

from ca.issuance import CertificateAuthority
from ca.records import AuthorityInfo, pem_of
from core.errors import not_found
from core.ids import serial_hex
from keystore.algorithms import algorithm_of
from store import repositories

AUTHORITY_IDS = ("root", "citizen", "government")


def list_authorities(session: Session) -> list[AuthorityInfo]:
    infos = []
    for row in repositories.authorities(session):
        certificate = x509.load_der_x509_certificate(row.certificate_der)
        infos.append(
            AuthorityInfo(
                id=row.id,
                parent=row.parent_id,
                subject=row.subject,
                key_algorithm=algorithm_of(certificate.public_key()),
                not_before=certificate.not_valid_before_utc,
                not_after=certificate.not_valid_after_utc,
                serial=serial_hex(certificate.serial_number),
                certificate_pem=pem_of(row.certificate_der),
            )
        )
    return infos


def certificate_der(session: Session, authority_id: str) -> bytes:
    row = repositories.authority(session, authority_id)
    if row is None:
        raise not_found(f"no certificate authority {authority_id!r}; known: {', '.join(AUTHORITY_IDS)}")
    return row.certificate_der


def chain_pem(ca: CertificateAuthority, session: Session, authority_id: str) -> str:
    if repositories.authority(session, authority_id) is None:
        raise not_found(f"no certificate authority {authority_id!r}; known: {', '.join(AUTHORITY_IDS)}")
    return ca.chain_pem(session, authority_id)
