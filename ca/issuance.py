"""Issuance: prepare → lint → sign → store, in that order (the Boulder pattern).

1. prepare: check the request against its profile, obtain the public key (CSR or generated), reserve a
   serial by inserting the row (unique constraint) before anything is signed;
2. lint: build the certificate and sign it with a throwaway key of the issuer's algorithm, run pkilint;
   any ERROR/FATAL finding stops here, so the real CA key never signs a certificate that fails lint;
3. sign with the issuing authority's key, through the keystore;
4. store the DER on the reserved row. All four run in the caller's transaction: a failure leaves no row.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from sqlalchemy.orm import Session

from ca.builder import Issuer, build, validity
from ca.csr import public_key_from_csr
from ca.lint import CertificateLinter, Finding, blocking
from ca.profiles import Profile, default_profiles, get_profile
from ca.records import CertificateInfo, pem_of
from ca.subjects import SubjectFields, build_name, normalise, rfc4514
from ca.urls import PkiUrls
from core.clock import Clock
from core.errors import Kind, ServiceError, conflict, malformed
from core.ids import new_certificate_serial, serial_hex
from keystore import EphemeralKey, KeySigner, SoftwareKeystore
from keystore.algorithms import algorithm_of, generate_private_key
from store import repositories
from store.models import Certificate

Delivery = Literal["custody", "pkcs12"]


@dataclass(frozen=True)
class IssueRequest:
    profile: str
    subject: SubjectFields
    csr: bytes | None = None
    keygen: str | None = None
    delivery: Delivery = "custody"
    pkcs12_password: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Issued:
    certificate: CertificateInfo
    pkcs12: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True)
class _Authority:
    issuer: Issuer
    certificate: x509.Certificate
    key_id: str


class LintFailed(ServiceError):
    def __init__(self, profile: str, findings: list[Finding]) -> None:
        super().__init__(
            Kind.MALFORMED,
            f"the {profile} certificate was not signed: lint found "
            + "; ".join(str(f) for f in blocking(findings)),
            details={"findings": [f.as_dict() for f in findings]},
        )
        self.findings = findings


class CertificateAuthority:
    """Issues certificates from the hierarchy created by ``ca.hierarchy``."""

    def __init__(
        self,
        keystore: SoftwareKeystore,
        clock: Clock,
        urls: PkiUrls,
        linter: CertificateLinter,
        profiles: dict[str, Profile] | None = None,
    ) -> None:
        self.keystore = keystore
        self.clock = clock
        self.urls = urls
        self.linter = linter
        self.profiles = profiles if profiles is not None else default_profiles()
        self._authorities: dict[str, _Authority] = {}
        self._lint_signers: dict[str, KeySigner] = {}
        self._lock = threading.Lock()

    # -- end-entity issuance -------------------------------------------------------------------------

    def issue(self, session: Session, request: IssueRequest) -> Issued:
        profile = get_profile(request.profile, self.profiles)
        if profile.subject in ("authority", "service"):
            raise malformed(f"profile {profile.name!r} is issued by `kyso init`, not on request")
        subject = normalise(profile.subject, request.subject)
        ephemeral: EphemeralKey | None = None
        key_id: str | None = None
        if request.csr is not None and request.keygen is not None:
            raise malformed("give either a CSR or a key algorithm to generate, not both")
        if request.csr is not None:
            public_key, algorithm = public_key_from_csr(request.csr, profile.key_algorithms)
        else:
            algorithm = request.keygen or "ec-p256"
            if algorithm not in profile.key_algorithms:
                raise malformed(
                    f"{algorithm} keys are not allowed for {profile.name}; "
                    f"use one of {', '.join(profile.key_algorithms)}"
                )
            if request.delivery == "pkcs12":
                if not request.pkcs12_password:
                    raise malformed("a PKCS#12 delivery needs a password")
                if len(request.pkcs12_password) < 8:
                    raise malformed("the PKCS#12 password must have at least 8 characters")
                ephemeral = EphemeralKey(algorithm)
                public_key = ephemeral.public_key()
            else:
                signer = self.keystore.generate(session, algorithm, f"{profile.name}: {subject.common_name}")
                key_id, public_key = signer.key_id, signer.public_key()  # type: ignore[assignment]
        row = self.issue_for_key(
            session, profile, subject, public_key, algorithm, key_id=key_id, authority_id=profile.issuer
        )
        info = CertificateInfo.from_row(row, self.clock.now())
        pkcs12 = None
        if ephemeral is not None:
            certificate = x509.load_der_x509_certificate(row.der or b"")
            pkcs12 = ephemeral.to_pkcs12(
                certificate,
                self.chain(session, profile.issuer),
                request.pkcs12_password or "",
                subject.common_name or row.serial,
            )
        return Issued(info, pkcs12)

    def issue_for_key(
        self,
        session: Session,
        profile: Profile,
        subject: SubjectFields,
        public_key: CertificatePublicKeyTypes,
        algorithm: str,
        *,
        key_id: str | None,
        authority_id: str,
        renewed_from: str | None = None,
    ) -> Certificate:
        """Prepare → lint → sign → store for a subject already normalised for ``profile``."""
        authority = self.authority(session, authority_id)
        now = self.clock.now()
        if authority.issuer.not_after <= now:
            raise conflict(f"the {authority_id} CA certificate has expired; it cannot issue")
        not_before, not_after = validity(profile, now, authority.issuer)
        name = build_name(subject)

        def reservation() -> Certificate:
            return Certificate(
                serial=serial_hex(new_certificate_serial()),
                authority_id=authority_id,
                profile=profile.name,
                status="reserved",
                subject=rfc4514(name),
                subject_fields=json.dumps(subject.as_dict(), ensure_ascii=False, sort_keys=True),
                common_name=subject.common_name or "",
                cccd=subject.cccd,
                tax_code=subject.tax_code,
                organization=subject.organization,
                key_algorithm=algorithm,
                key_id=key_id,
                not_before=not_before,
                not_after=not_after,
                created_at=now,
                renewed_from=renewed_from,
            )

        row = repositories.reserve_certificate(session, reservation)
        builder = build(
            profile=profile,
            subject=name,
            public_key=public_key,
            serial=int(row.serial, 16),
            not_before=not_before,
            not_after=not_after,
            issuer=authority.issuer,
            urls=self.urls,
        )
        self.lint_or_refuse(profile, builder, authority.issuer.algorithm)
        signer = self.keystore.signer(session, authority.key_id)
        certificate = signer.sign_x509(builder)
        self._store_signed(row, certificate)
        session.flush()
        return row

    # -- shared steps --------------------------------------------------------------------------------

    def lint_or_refuse(
        self, profile: Profile, builder: x509.CertificateBuilder, issuer_algorithm: str
    ) -> None:
        trial = self._lint_signer(issuer_algorithm).sign_x509(builder)
        findings = self.linter.lint(trial.public_bytes(serialization.Encoding.DER), profile.lint)
        if blocking(findings):
            raise LintFailed(profile.name, findings)

    def _lint_signer(self, algorithm: str) -> KeySigner:
        signer = self._lint_signers.get(algorithm)
        if signer is None:
            with self._lock:
                signer = self._lint_signers.setdefault(algorithm, KeySigner(generate_private_key(algorithm)))
        return signer

    @staticmethod
    def _store_signed(row: Certificate, certificate: x509.Certificate) -> None:
        der = certificate.public_bytes(serialization.Encoding.DER)
        row.der = der
        row.fingerprint_sha256 = hashlib.sha256(der).hexdigest()
        row.status = "valid"

    def authority(self, session: Session, authority_id: str) -> _Authority:
        cached = self._authorities.get(authority_id)
        if cached is not None:
            return cached
        row = repositories.authority(session, authority_id)
        if row is None:
            raise ServiceError(
                Kind.UNAVAILABLE, f"the {authority_id} CA does not exist yet; run `kyso init` first"
            )
        certificate = x509.load_der_x509_certificate(row.certificate_der)
        loaded = _Authority(
            Issuer.from_certificate(authority_id, certificate, algorithm_of(certificate.public_key())),  # type: ignore[arg-type]
            certificate,
            row.key_id,
        )
        self._authorities[authority_id] = loaded
        return loaded

    def chain(self, session: Session, authority_id: str) -> list[x509.Certificate]:
        """The authority's certificate, then its parents up to the root."""
        chain: list[x509.Certificate] = []
        current: str | None = authority_id
        while current is not None:
            row = repositories.authority(session, current)
            if row is None:
                raise ServiceError(Kind.NOT_FOUND, f"no certificate authority {current!r}")
            chain.append(x509.load_der_x509_certificate(row.certificate_der))
            current = row.parent_id
        return chain

    def chain_pem(self, session: Session, authority_id: str) -> str:
        return "".join(
            pem_of(c.public_bytes(serialization.Encoding.DER)) for c in self.chain(session, authority_id)
        )
