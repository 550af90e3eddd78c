"""The delegated signers of the service — OCSP responders and the TSA — with their certificates."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509
from sqlalchemy.orm import Session

from ca.issuance import CertificateAuthority
from core.errors import Kind, ServiceError
from keystore import KeySigner
from store import repositories
from store.models import ServiceSigner


@dataclass(frozen=True)
class DelegatedSigner:
    id: str
    authority_id: str
    signer: KeySigner
    certificate: x509.Certificate
    chain: list[x509.Certificate]  # the issuing CA first, up to the root


def load(session: Session, ca: CertificateAuthority, signer_id: str) -> DelegatedSigner:
    """The signer's key (through the keystore), its certificate and the chain above it.

    Raises UNAVAILABLE when the hierarchy is not initialised or the key cannot be unwrapped, so
    protocol endpoints can answer with their own "try later"/"internal error" status.
    """
    row = session.get(ServiceSigner, signer_id)
    if row is None:
        raise ServiceError(Kind.UNAVAILABLE, f"no {signer_id} signer; run `kyso init` first")
    certificate_row = repositories.certificate_by_serial(session, row.certificate_serial)
    if certificate_row is None or certificate_row.der is None:
        raise ServiceError(Kind.UNAVAILABLE, f"the {signer_id} certificate is missing")
    return DelegatedSigner(
        id=signer_id,
        authority_id=row.authority_id,
        signer=ca.keystore.signer(session, row.key_id),
        certificate=x509.load_der_x509_certificate(certificate_row.der),
        chain=ca.chain(session, row.authority_id),
    )
