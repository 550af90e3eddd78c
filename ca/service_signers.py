"""The delegated signers of the service — OCSP responders and the TSA — with their certificates."""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass

from cryptography import x509
from sqlalchemy.orm import Session

from ca.issuance import CertificateAuthority
from core.errors import Kind, ServiceError
from core.ids import serial_hex
from keystore import Signer
from store import repositories
from store.models import ServiceSigner
from store.status_versions import StatusVersions, status_version


@dataclass(frozen=True)
class DelegatedSigner:
    id: str
    authority_id: str
    signer: Signer
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


@dataclass(frozen=True)
class Standing:
    """A delegated signer as last loaded: its certificate's status and the status version read with it."""

    delegated: DelegatedSigner
    certificate_status: str  # valid | suspended | revoked | reserved
    version: int | None


class DelegatedSigners:
    """The delegated signers, loaded once per process and again when their authority's status moves.

    Loading a signer reads four rows and parses its certificate and chain; a reload per token or per
    response is what made the TSA slow. A status change of the signer's own certificate (revoked,
    suspended) moves its issuing authority's status version (``store.status_versions``), so the next use
    reloads it and sees the new status. With ``versions`` the check runs on their own connection; without,
    in a session from ``open_session`` (in-process callers lend the one they have open).
    """

    def __init__(self, ca: CertificateAuthority, versions: StatusVersions | None = None) -> None:
        self.ca = ca
        self.versions = versions
        self._loaded: dict[str, Standing] = {}
        self._lock = threading.Lock()

    def get(self, signer_id: str, open_session: Callable[[], AbstractContextManager[Session]]) -> Standing:
        cached = self._loaded.get(signer_id)
        if cached is not None and self.versions is not None:
            if (
                cached.version is not None
                and self.versions.current(cached.delegated.authority_id) == cached.version
            ):
                return cached
            cached = None  # its status may have changed: load it again
        with open_session() as session:
            if cached is not None and self._unchanged(session, cached):
                return cached
            return self._load(session, signer_id)

    @staticmethod
    def _unchanged(session: Session, cached: Standing) -> bool:
        current = status_version(session, cached.delegated.authority_id)
        return cached.version is not None and current == cached.version

    def _load(self, session: Session, signer_id: str) -> Standing:
        row = session.get(ServiceSigner, signer_id)
        # the version is read before the status, so a change committed in between is seen next time
        version = status_version(session, row.authority_id) if row is not None else None
        delegated = load(session, self.ca, signer_id)
        serial = serial_hex(delegated.certificate.serial_number)
        certificate_row = repositories.certificate_by_serial(session, serial)
        standing = Standing(delegated, certificate_row.status if certificate_row else "reserved", version)
        with self._lock:
            self._loaded[signer_id] = standing
        return standing
