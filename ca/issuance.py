"""Issuance: prepare → lint → sign → store, in that order (the Boulder pattern).

1. prepare: check the request against its profile, obtain the public key (CSR or generated), reserve a
   serial by inserting the row (unique constraint) before anything is signed;
2. lint: build the certificate and sign it with a throwaway key of the issuer's algorithm, run pkilint;
   any ERROR/FATAL finding stops here, so the real CA key never signs a certificate that fails lint;
3. sign with the issuing authority's key, through the keystore;
4. store the DER on the reserved row. All four run in the caller's transaction: a failure leaves no row.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import threading
from collections.abc import Callable
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
from core import metrics
from core.clock import Clock
from core.errors import Kind, ServiceError, conflict, malformed
from core.ids import new_certificate_serial, serial_hex
from keystore import EphemeralKey, KeySigner, Keystore
from keystore.algorithms import algorithm_of, generate_private_key
from store import repositories
from store.db import after_commit
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
class StatusPolicy:
    """How long CRLs and OCSP responses stay valid; both are refreshed at half-life."""

    crl_validity: dt.timedelta = dt.timedelta(hours=24)
    ocsp_validity: dt.timedelta = dt.timedelta(hours=24)


@dataclass
class _Pending:
    """A request between prepare and sign: its reserved row, the builder and the trial certificate."""

    row: Certificate
    profile: Profile
    authority_id: str
    builder: x509.CertificateBuilder
    trial_der: bytes
    ephemeral: EphemeralKey | None = None
    pkcs12_password: str | None = field(default=None, repr=False)


LintMany = Callable[[list[bytes], list[str]], list[list[Finding]]]


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
        keystore: Keystore,
        clock: Clock,
        urls: PkiUrls,
        linter: CertificateLinter,
        profiles: dict[str, Profile] | None = None,
        status_policy: StatusPolicy | None = None,
    ) -> None:
        self.keystore = keystore
        self.clock = clock
        self.urls = urls
        self.linter = linter
        self.profiles = profiles if profiles is not None else default_profiles()
        self.status_policy = status_policy or StatusPolicy()
        self._authorities: dict[str, _Authority] = {}
        self._lint_signers: dict[str, KeySigner] = {}
        self._lock = threading.Lock()

    # -- end-entity issuance -------------------------------------------------------------------------

    def issue(self, session: Session, request: IssueRequest) -> Issued:
        """Issue one certificate: prepare → lint → sign → store."""
        pending = self.prepare(session, request)
        return self.complete(session, pending, self.linter.lint(pending.trial_der, pending.profile.lint))

    def issue_many(
        self, session: Session, requests: list[IssueRequest], lint_many: LintMany
    ) -> list[Issued | ServiceError]:
        """Issue a batch, linting all of it at once through ``lint_many`` (a process pool, in bulk runs).

        Each request is prepared in its own savepoint; one that fails leaves nothing behind and its error
        takes its place in the result.
        """
        results: list[Issued | ServiceError | _Pending] = []
        for request in requests:
            try:
                with session.begin_nested():
                    results.append(self.prepare(session, request))
            except ServiceError as exc:
                results.append(exc)
        pending = [r for r in results if isinstance(r, _Pending)]
        findings = iter(lint_many([p.trial_der for p in pending], [p.profile.lint for p in pending]))
        outcome: list[Issued | ServiceError] = []
        for item in results:
            if not isinstance(item, _Pending):
                outcome.append(item)
                continue
            try:
                outcome.append(self.complete(session, item, next(findings)))
            except LintFailed as exc:
                self._discard(session, item)
                outcome.append(exc)
        return outcome

    def prepare(self, session: Session, request: IssueRequest) -> _Pending:
        """Check the request, obtain the public key, reserve the serial, build and trial-sign for lint."""
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
        pending = self._reserve(session, profile, subject, public_key, algorithm, key_id, profile.issuer)
        pending.ephemeral = ephemeral
        pending.pkcs12_password = request.pkcs12_password
        return pending

    def complete(self, session: Session, pending: _Pending, findings: list[Finding]) -> Issued:
        """Refuse on blocking lint findings; otherwise sign with the CA key and store."""
        row = self._sign_and_store(session, pending, findings)
        pkcs12 = None
        if pending.ephemeral is not None:
            pkcs12 = pending.ephemeral.to_pkcs12(
                x509.load_der_x509_certificate(row.der or b""),
                self.chain(session, pending.authority_id),
                pending.pkcs12_password or "",
                row.common_name or row.serial,
            )
        return Issued(CertificateInfo.from_row(row, self.clock.now()), pkcs12)

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
    ) -> Certificate:
        """Prepare → lint → sign → store for a subject already normalised for ``profile``."""
        pending = self._reserve(session, profile, subject, public_key, algorithm, key_id, authority_id)
        return self._sign_and_store(session, pending, self.linter.lint(pending.trial_der, profile.lint))

    def _reserve(
        self,
        session: Session,
        profile: Profile,
        subject: SubjectFields,
        public_key: CertificatePublicKeyTypes,
        algorithm: str,
        key_id: str | None,
        authority_id: str,
    ) -> _Pending:
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
        trial = self._lint_signer(authority.issuer.algorithm).sign_x509(builder)
        return _Pending(
            row=row,
            profile=profile,
            authority_id=authority_id,
            builder=builder,
            trial_der=trial.public_bytes(serialization.Encoding.DER),
        )

    def _sign_and_store(self, session: Session, pending: _Pending, findings: list[Finding]) -> Certificate:
        if blocking(findings):
            raise LintFailed(pending.profile.name, findings)
        signer = self.keystore.signer(session, self.authority(session, pending.authority_id).key_id)
        self._store_signed(pending.row, signer.sign_x509(pending.builder))
        session.flush()
        issued = functools.partial(metrics.count, "certificate.issued", profile=pending.profile.name)
        after_commit(session, issued)  # counted once the certificate is kept
        return pending.row

    @staticmethod
    def _discard(session: Session, pending: _Pending) -> None:
        """Remove what ``prepare`` wrote for a request that lint refused."""
        key_id = pending.row.key_id
        session.delete(pending.row)
        session.flush()
        if key_id is not None:
            repositories.delete_key(session, key_id)

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
            Issuer.from_certificate(authority_id, certificate, algorithm_of(certificate.public_key())),
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
