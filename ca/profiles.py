"""Certificate profiles are data (ca/profiles.toml), checked when loaded so a typo fails at start-up."""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from core.errors import malformed
from keystore.algorithms import ALGORITHMS

PROFILES_FILE = Path(__file__).with_name("profiles.toml")
KYSO_POLICY_ARC = "1.3.6.1.4.1.32473.1"
END_ENTITY_PROFILES = ("citizen", "official", "agency-seal")

SUBJECT_KINDS = {"natural-person", "natural-person-in-organisation", "legal-person", "authority", "service"}
ISSUERS = {"self", "root", "citizen", "government", "same-as-subject-ca"}
LINT_TYPES = {"pkix", "NCP_NATURAL_PERSON_CERTIFICATE", "NCP_LEGAL_PERSON_CERTIFICATE"}
KEY_USAGES = {
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
}
EXTENDED_KEY_USAGES = {
    "ocsp_signing": ExtendedKeyUsageOID.OCSP_SIGNING,
    "time_stamping": ExtendedKeyUsageOID.TIME_STAMPING,
    "email_protection": ExtendedKeyUsageOID.EMAIL_PROTECTION,
    "client_auth": ExtendedKeyUsageOID.CLIENT_AUTH,
}


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    issuer: str
    subject: str
    lint: str
    validity_days: int
    key_usage: frozenset[str]
    policies: tuple[str, ...]
    key_algorithms: tuple[str, ...]
    extended_key_usage: tuple[str, ...] = ()
    extended_key_usage_critical: bool = False
    path_length: int | None = None
    ocsp_no_check: bool = False

    @property
    def is_ca(self) -> bool:
        return self.subject == "authority"

    def key_usage_extension(self) -> x509.KeyUsage:
        ku = self.key_usage
        return x509.KeyUsage(
            digital_signature="digital_signature" in ku,
            content_commitment="content_commitment" in ku,
            key_encipherment="key_encipherment" in ku,
            data_encipherment="data_encipherment" in ku,
            key_agreement="key_agreement" in ku,
            key_cert_sign="key_cert_sign" in ku,
            crl_sign="crl_sign" in ku,
            encipher_only=False,
            decipher_only=False,
        )

    def extended_key_usage_extension(self) -> x509.ExtendedKeyUsage | None:
        if not self.extended_key_usage:
            return None
        return x509.ExtendedKeyUsage([EXTENDED_KEY_USAGES[name] for name in self.extended_key_usage])


def _check(name: str, raw: dict[str, object]) -> Profile:
    def fail(problem: str) -> ValueError:
        return ValueError(f"certificate profile {name!r} in {PROFILES_FILE.name}: {problem}")

    known = set(Profile.__dataclass_fields__) - {"name"}
    unknown = set(raw) - known
    if unknown:
        raise fail(f"unknown keys {sorted(unknown)}")
    try:
        profile = Profile(
            name=name,
            description=str(raw["description"]),
            issuer=str(raw["issuer"]),
            subject=str(raw["subject"]),
            lint=str(raw["lint"]),
            validity_days=int(raw["validity_days"]),
            key_usage=frozenset(raw["key_usage"]),
            policies=tuple(raw.get("policies", ())),  # type: ignore[arg-type]
            key_algorithms=tuple(raw["key_algorithms"]),  # type: ignore[arg-type]
            extended_key_usage=tuple(raw.get("extended_key_usage", ())),  # type: ignore[arg-type]
            extended_key_usage_critical=bool(raw.get("extended_key_usage_critical", False)),
            path_length=raw.get("path_length"),  # type: ignore[arg-type]
            ocsp_no_check=bool(raw.get("ocsp_no_check", False)),
        )
    except KeyError as exc:
        raise fail(f"missing key {exc.args[0]!r}") from exc
    if profile.issuer not in ISSUERS:
        raise fail(f"issuer must be one of {sorted(ISSUERS)}")
    if profile.subject not in SUBJECT_KINDS:
        raise fail(f"subject must be one of {sorted(SUBJECT_KINDS)}")
    if profile.lint not in LINT_TYPES:
        raise fail(f"lint must be one of {sorted(LINT_TYPES)}")
    if not 1 <= profile.validity_days <= 7305:
        raise fail("validity_days must be between 1 and 7305")
    if not profile.key_usage or not profile.key_usage <= KEY_USAGES:
        raise fail(f"key_usage must be a non-empty subset of {sorted(KEY_USAGES)}")
    if bad := [e for e in profile.extended_key_usage if e not in EXTENDED_KEY_USAGES]:
        raise fail(f"unknown extended_key_usage {bad}")
    if bad := [a for a in profile.key_algorithms if a not in ALGORITHMS]:
        raise fail(f"unknown key_algorithms {bad}")
    for oid in profile.policies:
        try:
            x509.ObjectIdentifier(oid)
        except ValueError as exc:
            raise fail(f"policy {oid!r} is not an OID") from exc
    if profile.is_ca != ("key_cert_sign" in profile.key_usage):
        raise fail("authority profiles, and only they, have key_cert_sign")
    if not profile.is_ca and ("content_commitment" in profile.key_usage) and profile.subject == "service":
        raise fail("service certificates do not sign documents")
    return profile


def load_profiles(path: Path = PROFILES_FILE) -> dict[str, Profile]:
    with path.open("rb") as handle:
        data = tomllib.load(handle)
    return {name: _check(name, raw) for name, raw in data.get("profiles", {}).items()}


@functools.cache
def default_profiles() -> dict[str, Profile]:
    return load_profiles()


def get_profile(name: str, profiles: dict[str, Profile] | None = None) -> Profile:
    profiles = profiles if profiles is not None else default_profiles()
    try:
        return profiles[name]
    except KeyError:
        raise malformed(
            f"unknown certificate profile {name!r}; choose one of {', '.join(END_ENTITY_PROFILES)}"
        ) from None
