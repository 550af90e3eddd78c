"""The test CA hierarchy `kyso init` creates: Root → Citizen CA, Government CA; per issuing CA a delegated
OCSP responder; a timestamp authority under the Government CA. Creating it twice changes nothing."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy.orm import Session

from ca.builder import build, validity
from ca.issuance import CertificateAuthority
from ca.profiles import get_profile
from ca.subjects import SubjectFields, build_name, normalise, rfc4514
from core.errors import malformed
from core.ids import new_certificate_serial, serial_hex
from keystore.algorithms import ALGORITHMS, algorithm_of
from store import repositories
from store.models import Authority, Certificate, ServiceSigner

ORGANIZATION = "Kyso Test PKI"
ISSUING_CAS = {"citizen": "Kyso Citizen CA", "government": "Kyso Government CA"}
ROOT_NAME = "Kyso Root CA"
SERVICE_SIGNERS = {
    # id: (issuing authority, profile, common name)
    "ocsp-citizen": ("citizen", "ocsp-responder", "Kyso OCSP Responder - Citizen CA"),
    "ocsp-government": ("government", "ocsp-responder", "Kyso OCSP Responder - Government CA"),
    "tsa": ("government", "tsa", "Kyso Timestamp Authority"),
    "invitation-seal": ("government", "invitation-seal", "Kyso Invitation Seal"),
}
# Signers whose key algorithm does not follow the hierarchy's: invitation tokens are COSE ES256 in a QR
# code, where an RSA signature would not fit.
SERVICE_SIGNER_KEYS = {"invitation-seal": "ec-p256"}


@dataclass(frozen=True)
class HierarchyReport:
    created: bool
    authorities: list[str]
    service_signers: list[str]


def service_key_algorithm(ca_algorithm: str) -> str:
    """Responders and the TSA sign on the hot path: P-256 under an EC hierarchy, RSA-3072 under RSA."""
    return "ec-p256" if ca_algorithm.startswith("ec-") else "rsa-3072"


def initialise(session: Session, ca: CertificateAuthority, algorithm: str) -> HierarchyReport:
    """Create the hierarchy; on an existing one, add only the service signers it lacks (added in a
    later version of Kyso), so `kyso init` after an upgrade completes an instance without touching it."""
    existing = [a.id for a in repositories.authorities(session)]
    if existing:
        present = {s.id for s in repositories.service_signers(session)}
        root = repositories.authority(session, "root")
        if root is not None:
            root_algorithm = algorithm_of(x509.load_der_x509_certificate(root.certificate_der).public_key())
            for signer_id in SERVICE_SIGNERS:
                if signer_id not in present:
                    _create_service_signer(session, ca, signer_id, root_algorithm)
        return HierarchyReport(False, existing, [s.id for s in repositories.service_signers(session)])
    if algorithm not in ALGORITHMS or algorithm in ("ec-p256", "rsa-2048"):
        raise malformed("CA keys must be ec-p384, rsa-3072 or rsa-4096")
    _create_root(session, ca, algorithm)
    for authority_id, common_name in ISSUING_CAS.items():
        _create_issuing_ca(session, ca, authority_id, common_name, algorithm)
    for signer_id in SERVICE_SIGNERS:
        _create_service_signer(session, ca, signer_id, algorithm)
    return HierarchyReport(True, ["root", *ISSUING_CAS], list(SERVICE_SIGNERS))


def _create_service_signer(
    session: Session, ca: CertificateAuthority, signer_id: str, ca_algorithm: str
) -> None:
    authority_id, profile_name, common_name = SERVICE_SIGNERS[signer_id]
    profile = get_profile(profile_name, ca.profiles)
    subject = normalise("service", SubjectFields(common_name=common_name, organization=ORGANIZATION))
    key_algorithm = SERVICE_SIGNER_KEYS.get(signer_id) or service_key_algorithm(ca_algorithm)
    signer = ca.keystore.generate(session, key_algorithm, f"{signer_id} signer")
    row = ca.issue_for_key(
        session,
        profile,
        subject,
        signer.public_key(),
        signer.algorithm,
        key_id=signer.key_id,
        authority_id=authority_id,
    )
    session.add(
        ServiceSigner(
            id=signer_id, authority_id=authority_id, certificate_serial=row.serial, key_id=signer.key_id
        )
    )
    session.flush()


def _create_root(session: Session, ca: CertificateAuthority, algorithm: str) -> None:
    profile = get_profile("root-ca", ca.profiles)
    subject = normalise("authority", SubjectFields(common_name=ROOT_NAME, organization=ORGANIZATION))
    signer = ca.keystore.generate(session, algorithm, "root CA key")
    now = ca.clock.now()
    not_before, not_after = validity(profile, now, None)
    serial = serial_hex(new_certificate_serial())
    name = build_name(subject)
    builder = build(
        profile=profile,
        subject=name,
        public_key=signer.public_key(),
        serial=int(serial, 16),
        not_before=not_before,
        not_after=not_after,
        issuer=None,
        urls=ca.urls,
    )
    ca.lint_or_refuse(profile, builder, algorithm)
    der = signer.sign_x509(builder).public_bytes(serialization.Encoding.DER)
    session.add(
        Authority(
            id="root",
            parent_id=None,
            subject=rfc4514(name),
            certificate_der=der,
            key_id=signer.key_id,
            crl_number=0,
            created_at=now,
        )
    )
    session.flush()
    session.add(
        Certificate(
            serial=serial,
            authority_id="root",
            profile=profile.name,
            status="valid",
            subject=rfc4514(name),
            subject_fields=json.dumps(subject.as_dict(), ensure_ascii=False, sort_keys=True),
            common_name=ROOT_NAME,
            key_algorithm=algorithm,
            key_id=signer.key_id,
            not_before=not_before,
            not_after=not_after,
            der=der,
            fingerprint_sha256=hashlib.sha256(der).hexdigest(),
            created_at=now,
        )
    )
    session.flush()


def _create_issuing_ca(
    session: Session, ca: CertificateAuthority, authority_id: str, common_name: str, algorithm: str
) -> None:
    profile = get_profile("issuing-ca", ca.profiles)
    subject = normalise("authority", SubjectFields(common_name=common_name, organization=ORGANIZATION))
    signer = ca.keystore.generate(session, algorithm, f"{authority_id} CA key")
    row = ca.issue_for_key(
        session,
        profile,
        subject,
        signer.public_key(),
        algorithm,
        key_id=signer.key_id,
        authority_id="root",
    )
    session.add(
        Authority(
            id=authority_id,
            parent_id="root",
            subject=row.subject,
            certificate_der=row.der or b"",
            key_id=signer.key_id,
            crl_number=0,
            created_at=ca.clock.now(),
        )
    )
    session.flush()


# --- the seal on verification reports -------------------------------------------------------------------
# An agency-seal certificate (legal person "Kyso Test PKI") in custody, issued on first use and again when
# it comes within 30 days of expiry or is revoked. The tax code is a test value with a valid check digit.
REPORT_SEAL_SUBJECT = SubjectFields(
    common_name="Kyso - Báo cáo kiểm tra chữ ký / Verification reports",
    organization=ORGANIZATION,
    tax_code="0319999996",
)


def report_seal(session: Session, ca: CertificateAuthority) -> str:
    """The serial of the certificate that seals verification reports (issued now if there is none)."""
    import datetime as dt

    from ca.issuance import IssueRequest

    rows, _ = repositories.search_certificates(
        session, profile="agency-seal", tax_code=REPORT_SEAL_SUBJECT.tax_code, status="valid",
        not_expired_at=ca.clock.now() + dt.timedelta(days=30), limit=1,
    )  # fmt: skip
    if rows and rows[0].key_id is not None:
        return rows[0].serial
    request = IssueRequest(profile="agency-seal", subject=REPORT_SEAL_SUBJECT, keygen="ec-p256")
    issued = ca.issue(session, request)
    return issued.certificate.serial
