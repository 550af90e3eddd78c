"""What the signing pipeline needs from the CA: a certificate in custody that may sign now, and the
validation data (chain, OCSP responses, CRLs) a long-term signature embeds. Plain data out, so signing/
never imports ca/."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from sqlalchemy.orm import Session

from ca import crl
from ca.issuance import CertificateAuthority
from ca.ocsp import OcspResponder
from core.clock import display
from core.errors import Kind, ServiceError, not_found
from core.signing_profiles import SIGNING_PROFILES
from keystore import Signer
from store import repositories
from store.db import Database
from store.models import ServiceSigner


@dataclass(frozen=True)
class SigningKey:
    serial: str
    purpose: str  # sign | seal
    profile: str
    signer: Signer  # a software key or one in the HSM
    certificate_der: bytes
    chain_der: list[bytes]  # the issuing CA first, up to the root
    common_name: str
    organization: str | None
    authority_id: str


@dataclass(frozen=True)
class ValidationData:
    trust_roots_der: list[bytes]
    other_certs_der: list[bytes]
    ocsp_responses_der: list[bytes]
    crls_der: list[bytes]


def usable_signing_key(session: Session, ca: CertificateAuthority, serial: str) -> SigningKey:
    """The certificate ``serial`` and its key, refusing (with the reason) anything that must not sign now."""
    row = repositories.certificate_by_serial(session, serial)
    if row is None or row.der is None:
        raise not_found(f"no certificate {serial}")
    if row.profile not in SIGNING_PROFILES:
        raise ServiceError(
            Kind.FORBIDDEN,
            f"certificate {serial} is a {row.profile} certificate; it is not for signing documents",
        )
    if row.status == "revoked":
        when = display(row.revoked_at) if row.revoked_at else "an unknown time"
        raise ServiceError(
            Kind.FORBIDDEN,
            f"certificate {serial} was revoked at {when} ({row.revocation_reason or 'unspecified'}); "
            "it can no longer sign",
        )
    if row.status == "suspended":
        raise ServiceError(
            Kind.FORBIDDEN, f"certificate {serial} is suspended; it cannot sign until reinstated"
        )
    now = ca.clock.now()
    if now >= row.not_after:
        raise ServiceError(Kind.EXPIRED, f"certificate {serial} expired at {display(row.not_after)}")
    if now < row.not_before:
        raise ServiceError(
            Kind.FORBIDDEN, f"certificate {serial} is not valid before {display(row.not_before)}"
        )
    if row.key_id is None:
        raise ServiceError(
            Kind.FORBIDDEN,
            f"the key of certificate {serial} is not held by this service (its owner keeps it); "
            "sign with the owner's own software",
        )
    chain = ca.chain(session, row.authority_id)
    return SigningKey(
        serial=row.serial,
        purpose=SIGNING_PROFILES[row.profile],
        profile=row.profile,
        signer=ca.keystore.signer(session, row.key_id),
        certificate_der=row.der,
        chain_der=[c.public_bytes(serialization.Encoding.DER) for c in chain],
        common_name=row.common_name,
        organization=row.organization,
        authority_id=row.authority_id,
    )


def validation_data(session: Session, ca: CertificateAuthority, serials: list[str]) -> ValidationData:
    """Fresh OCSP responses for ``serials`` (the signer, the TSA) and every authority's current CRL.

    Needs a write session: a stale CRL is regenerated and the OCSP responses are stored pre-produced.
    """
    responder = OcspResponder(ca)
    responses = [responder.produce_for(session, serial) for serial in serials]
    crls = []
    certificates: dict[bytes, None] = {}
    roots = []
    for authority in repositories.authorities(session):
        info = crl.current(session, ca, authority.id) or crl.publish(session, ca, authority.id)
        crls.append(info.der)
        if authority.parent_id is None:
            roots.append(authority.certificate_der)
        else:
            certificates[authority.certificate_der] = None
    for serial in serials:
        row = repositories.certificate_by_serial(session, serial)
        if row is not None and row.der is not None:
            certificates[row.der] = None
    return ValidationData(roots, list(certificates), responses, crls)


def agency_seal_for(session: Session, ca: CertificateAuthority, account_id: int) -> tuple[str, str]:
    """The seal (certificate serial, organisation) of the agency an account works for: the agency named by
    a certificate bound to the account, whose agency-seal certificate this service holds."""
    now = ca.clock.now()
    organizations = repositories.bound_organizations(session, account_id, now)
    for organization in organizations:
        serial = repositories.agency_seal_serial(session, organization, now)
        if serial is not None:
            return serial, organization
    if not organizations:
        raise ServiceError(
            Kind.CONFLICT,
            "the host has no signing certificate naming their agency; bind one "
            "(`kyso user bind-cert USER SERIAL`) so letters can carry the agency's seal",
        )
    raise ServiceError(
        Kind.CONFLICT,
        f"no agency seal held by this service for {organizations[0]}; issue one with "
        f'`kyso ca issue agency-seal --organization "{organizations[0]}" … --keygen ec-p256`',
    )


class CaKeySource:
    """signing/'s ``KeySource`` over this CA: keys in custody and validation data, each in its own session."""

    def __init__(self, db: Database, ca: CertificateAuthority) -> None:
        self.db = db
        self.ca = ca

    def signing_key(self, serial: str) -> SigningKey:
        with self.db.reading() as session:
            return usable_signing_key(session, self.ca, serial)

    def validation(self, serial: str) -> ValidationData:
        with self.db.transaction() as session:
            tsa = session.get(ServiceSigner, "tsa")
            serials = [serial] + ([tsa.certificate_serial] if tsa is not None else [])
            return validation_data(session, self.ca, serials)

    def agency_seal(self, account_id: int) -> tuple[str, str]:
        """(serial, organisation) of the seal for what the account's agency issues (``agency_seal_for``)."""
        with self.db.reading() as session:
            return agency_seal_for(session, self.ca, account_id)
