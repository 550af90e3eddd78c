"""Turns a profile, a subject and a public key into a to-be-signed certificate."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import AuthorityInformationAccessOID

from ca.profiles import Profile
from ca.urls import PkiUrls

CLOCK_SKEW = dt.timedelta(minutes=1)  # notBefore is backdated this much for relying parties' clock skew


@dataclass(frozen=True)
class Issuer:
    """What the builder needs to know of the signing authority."""

    authority_id: str
    name: x509.Name
    key_identifier: bytes
    algorithm: str
    not_after: dt.datetime
    is_root: bool

    @classmethod
    def from_certificate(cls, authority_id: str, certificate: x509.Certificate, algorithm: str) -> Issuer:
        ski = certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        return cls(
            authority_id=authority_id,
            name=certificate.subject,
            key_identifier=ski.digest,
            algorithm=algorithm,
            not_after=certificate.not_valid_after_utc,
            is_root=certificate.issuer == certificate.subject,
        )


def validity(profile: Profile, now: dt.datetime, issuer: Issuer | None) -> tuple[dt.datetime, dt.datetime]:
    """From a minute ago to the profile's lifetime, never beyond the issuer's own notAfter."""
    now = now.replace(microsecond=0)
    not_after = now + dt.timedelta(days=profile.validity_days)
    if issuer is not None:
        not_after = min(not_after, issuer.not_after)
    return now - CLOCK_SKEW, not_after


def build(
    *,
    profile: Profile,
    subject: x509.Name,
    public_key: CertificatePublicKeyTypes,
    serial: int,
    not_before: dt.datetime,
    not_after: dt.datetime,
    issuer: Issuer | None,
    urls: PkiUrls,
) -> x509.CertificateBuilder:
    """``issuer`` is None for a self-signed root."""
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.name if issuer else subject)
        .public_key(public_key)
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(profile.key_usage_extension(), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )
    if profile.is_ca:
        builder = builder.add_extension(
            x509.BasicConstraints(ca=True, path_length=profile.path_length), critical=True
        )
    if (eku := profile.extended_key_usage_extension()) is not None:
        builder = builder.add_extension(eku, critical=profile.extended_key_usage_critical)
    if profile.policies:
        builder = builder.add_extension(
            x509.CertificatePolicies(
                [x509.PolicyInformation(x509.ObjectIdentifier(oid), None) for oid in profile.policies]
            ),
            critical=False,
        )
    if profile.ocsp_no_check:
        builder = builder.add_extension(x509.OCSPNoCheck(), critical=False)
    # The root carries an AKI too (its own key id): RFC 5280 makes it optional there, linters and path
    # builders prefer it present.
    key_identifier = (
        issuer.key_identifier if issuer else x509.SubjectKeyIdentifier.from_public_key(public_key).digest
    )
    builder = builder.add_extension(x509.AuthorityKeyIdentifier(key_identifier, None, None), critical=False)
    if issuer is None:
        return builder
    access = [
        x509.AccessDescription(
            AuthorityInformationAccessOID.CA_ISSUERS,
            x509.UniformResourceIdentifier(urls.ca_certificate(issuer.authority_id)),
        )
    ]
    # Issuing CAs answer OCSP; the root publishes only a CRL, and a responder's certificate is not checked.
    if not issuer.is_root and not profile.ocsp_no_check:
        access.insert(
            0,
            x509.AccessDescription(
                AuthorityInformationAccessOID.OCSP,
                x509.UniformResourceIdentifier(urls.ocsp(issuer.authority_id)),
            ),
        )
    builder = builder.add_extension(x509.AuthorityInformationAccess(access), critical=False)
    if not profile.ocsp_no_check:
        builder = builder.add_extension(
            x509.CRLDistributionPoints(
                [
                    x509.DistributionPoint(
                        [x509.UniformResourceIdentifier(urls.crl(issuer.authority_id))], None, None, None
                    )
                ]
            ),
            critical=False,
        )
    return builder
