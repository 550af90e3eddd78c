"""The validation policy: named, versioned checks applied to every signature after pyHanko's validation, each
with a level as EU DSS's constraint files give them (FAIL, WARN, INFORM), and each one's result reported.

"Kyso TT15/2025 v1" follows the algorithms and key sizes of Circular 15/2025/TT-BKHCN: RSA keys of at least
2048 bits, ECDSA on curves of at least 256 bits, SHA-2 or SHA-3 digests. SHA-1 and RSA keys under 2048 bits do
not meet it; a signature whose trusted timestamp proves it was made before ``legacy_until`` (2014-01-01, the
date NIST SP 800-131A stopped allowing both for new signatures; the Circular sets no transition date, so the
date is Kyso's choice) is a warning, any other such signature fails the policy. Revocation data older than
``revocation_max_age`` (24 hours) before the trusted signing time (or, without one, the validation time) is a
warning. The table of checks is ``CONSTRAINTS`` (docs/verification.md shows it).

A FAIL result turns a TOTAL-PASSED signature into INDETERMINATE / CRYPTO_CONSTRAINTS_FAILURE_NO_POE (EN 319
102-1 §5.2.8: the algorithms are not reliable at the time the signature is known to exist); a WARN result adds
a warning; an INFORM result is only listed. The policy never raises: a signature whose algorithms cannot be
read gets that as a finding.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, replace

from asn1crypto import x509 as asn1_x509

from core.clock import display
from verification.report import ConstraintResult, Indication, SignatureReport


class Level(enum.StrEnum):
    FAIL = "FAIL"  # not met: the signature does not pass
    WARN = "WARN"  # not met: the report warns
    INFORM = "INFORM"  # not met: the report says so, nothing more


@dataclass(frozen=True)
class Constraint:
    id: str
    level: Level
    requirement: str


CONSTRAINTS: tuple[Constraint, ...] = (
    Constraint(
        "signature.digest-algorithm",
        Level.FAIL,
        "the signature's digest is SHA-2 (SHA-224 … SHA-512) or SHA-3; SHA-1 proven by a trusted timestamp "
        "before the cut-off date: WARN; MD5: always FAIL",
    ),
    Constraint(
        "signature.public-key",
        Level.FAIL,
        "the signer's key is RSA of at least 2048 bits or ECDSA on a curve of at least 256 bits; RSA of "
        "1024-2047 bits proven before the cut-off date: WARN",
    ),
    Constraint(
        "signature.scheme",
        Level.INFORM,
        "RSASSA-PSS or ECDSA; RSA PKCS#1 v1.5 and EdDSA are listed for information",
    ),
    Constraint(
        "signer-certificate.digest-algorithm",
        Level.WARN,
        "the signer's certificate is signed with SHA-2 or SHA-3",
    ),
    Constraint(
        "signature.format",
        Level.INFORM,
        "PAdES (ETSI.CAdES.detached, ETSI.RFC3161); adbe.pkcs7.detached, adbe.pkcs7.sha1 and "
        "adbe.x509.rsa_sha1 are listed for information",
    ),
    Constraint(
        "revocation.freshness",
        Level.WARN,
        "the newest revocation data is at most 24 hours older than the trusted signing time (without one: "
        "the validation time)",
    ),
)
_LEVELS = {c.id: c.level for c in CONSTRAINTS}
_SHA2 = {"sha224", "sha256", "sha384", "sha512", "sha512_224", "sha512_256"}
_SHA3 = {"sha3_224", "sha3_256", "sha3_384", "sha3_512", "shake256"}
_BROKEN = {"md2", "md5"}
_NAMES = {"sha1": "SHA-1", "md5": "MD5", "md2": "MD2"}
_PADES = {"/ETSI.CAdES.detached", "/ETSI.RFC3161"}
_LEGACY_FORMATS = {"/adbe.pkcs7.sha1", "/adbe.x509.rsa_sha1"}
_SHA3_SCHEMES = {  # id-ecdsa-with-sha3-* and id-rsassa-pkcs1-v1_5-with-sha3-* (2.16.840.1.101.3.4.3.9-16)
    **{f"2.16.840.1.101.3.4.3.{n}": "ecdsa" for n in range(9, 13)},
    **{f"2.16.840.1.101.3.4.3.{n}": "rsassa_pkcs1v15" for n in range(13, 17)},
}


@dataclass(frozen=True)
class Policy:
    name: str
    version: str
    legacy_until: dt.datetime  # SHA-1 / RSA < 2048 proven before this: WARN; otherwise FAIL
    revocation_max_age: dt.timedelta

    @property
    def label(self) -> str:
        return f"{self.name} v{self.version}"


KYSO_TT15 = Policy(
    name="Kyso TT15/2025",
    version="1",
    legacy_until=dt.datetime(2014, 1, 1, tzinfo=dt.UTC),
    revocation_max_age=dt.timedelta(hours=24),
)
DEFAULT = KYSO_TT15


@dataclass(frozen=True)
class Facts:
    """What the policy reads of one signature."""

    digest: str  # asn1crypto's name: sha256, sha1, …
    scheme: str  # rsassa_pkcs1v15, rsassa_pss, ecdsa, ed25519, …
    key_algorithm: str  # rsa, rsassa_pss, ec, ed25519, …
    key_bits: int
    certificate_digest: str | None
    sub_filter: str | None


def facts_of(embedded: object) -> Facts:
    """The algorithms of a pyHanko ``EmbeddedPdfSignature`` (or anything with its attributes)."""
    signer_info = embedded.signer_info  # type: ignore[attr-defined]
    certificate: asn1_x509.Certificate = embedded.signer_cert  # type: ignore[attr-defined]
    mechanism = signer_info["signature_algorithm"]
    digest = str(signer_info["digest_algorithm"]["algorithm"].native)
    try:  # sha1_rsa and friends name the digest the scheme itself uses
        scheme_digest = mechanism.hash_algo
    except (ValueError, KeyError):
        scheme_digest = None
    if scheme_digest and scheme_digest != digest and (scheme_digest in _BROKEN or scheme_digest == "sha1"):
        digest = scheme_digest
    key = certificate.public_key
    try:
        key_algorithm, key_bits = str(key.algorithm), int(key.bit_size)
    except (ValueError, KeyError):  # a key type asn1crypto does not know: the policy does not list it either
        key_algorithm, key_bits = str(key["algorithm"]["algorithm"].dotted), 0
    try:
        certificate_digest = certificate.hash_algo
    except (ValueError, KeyError):
        certificate_digest = None
    sub_filter = embedded.sig_object.get("/SubFilter")  # type: ignore[attr-defined]
    return Facts(
        digest=digest,
        scheme=_scheme_of(mechanism),
        key_algorithm=key_algorithm,
        key_bits=key_bits,
        certificate_digest=certificate_digest,
        sub_filter=str(sub_filter) if sub_filter is not None else None,
    )


def _scheme_of(mechanism: object) -> str:
    """asn1crypto's name of the signature scheme; it knows no RSA or ECDSA with SHA-3 (RFC 9688 / NIST
    OIDs), which are named here."""
    try:
        return str(mechanism.signature_algo)  # type: ignore[attr-defined]
    except (ValueError, KeyError):
        oid = str(mechanism["algorithm"].dotted)  # type: ignore[index]
        return _SHA3_SCHEMES.get(oid, oid)


def evaluate(
    policy: Policy,
    facts: Facts,
    *,
    trusted_time: dt.datetime | None,
    revocation_time: dt.datetime | None,
    validated_at: dt.datetime,
) -> list[ConstraintResult]:
    proven_early = trusted_time is not None and trusted_time < policy.legacy_until
    return [
        _digest(policy, facts.digest, proven_early),
        _key(policy, facts, proven_early),
        _scheme(facts.scheme),
        _certificate_digest(facts.certificate_digest),
        _format(facts.sub_filter),
        _freshness(policy, revocation_time, trusted_time, validated_at),
    ]


def apply(
    policy: Policy,
    report: SignatureReport,
    embedded: object,
    *,
    trusted_time: dt.datetime | None,
    revocation_time: dt.datetime | None,
    validated_at: dt.datetime,
) -> SignatureReport:
    """``report`` with the policy's results, its reasons (FAIL) and warnings (WARN) added, and TOTAL-PASSED
    turned INDETERMINATE / CRYPTO_CONSTRAINTS_FAILURE_NO_POE when a FAIL check is not met."""
    try:
        facts = facts_of(embedded)
    except Exception:  # a finding, never a traceback: the bytes may be anything
        results = [
            ConstraintResult(
                "signature.algorithms",
                Level.WARN.value,
                "warning",
                "the signature's algorithms cannot be read",
            )
        ]
    else:
        results = evaluate(
            policy,
            facts,
            trusted_time=trusted_time,
            revocation_time=revocation_time,
            validated_at=validated_at,
        )
    indication, sub = report.indication, report.sub_indication
    reasons, warnings = list(report.reasons), list(report.warnings)
    for result in results:
        if result.result == "failed":
            reasons.append(f"{policy.label}: {result.detail}")
            if indication is Indication.TOTAL_PASSED:
                indication, sub = Indication.INDETERMINATE, "CRYPTO_CONSTRAINTS_FAILURE_NO_POE"
        elif result.result == "warning" and not (
            result.id == "revocation.freshness" and revocation_time is None
        ):
            warnings.append(f"{policy.label}: {result.detail}")  # no revocation data: already said once
    return replace(
        report, indication=indication, sub_indication=sub, reasons=reasons, warnings=warnings,
        policy_results=results,
    )  # fmt: skip


# --- the checks ---------------------------------------------------------------------------------------
def _passed(id: str, detail: str) -> ConstraintResult:
    return ConstraintResult(id, _LEVELS[id].value, "passed", detail)


def _not_met(id: str, level: Level, detail: str) -> ConstraintResult:
    result = {Level.FAIL: "failed", Level.WARN: "warning", Level.INFORM: "information"}[level]
    return ConstraintResult(id, level.value, result, detail)


def _legacy(policy: Policy, id: str, what: str, proven_early: bool) -> ConstraintResult:
    cutoff = policy.legacy_until.date().isoformat()
    if proven_early:
        return _not_met(id, Level.WARN, f"{what}, made before {cutoff} as a trusted timestamp proves")
    return _not_met(id, Level.FAIL, f"{what}, and no trusted timestamp proves it was made before {cutoff}")


def _digest_name(digest: str) -> str:
    return _NAMES.get(digest, digest.upper().replace("_", "-"))


def _digest(policy: Policy, digest: str, proven_early: bool) -> ConstraintResult:
    id = "signature.digest-algorithm"
    if digest in _SHA2 or digest in _SHA3:
        return _passed(id, _digest_name(digest))
    if digest in _BROKEN:
        return _not_met(id, Level.FAIL, f"the digest {_digest_name(digest)} is broken")
    if digest == "sha1":
        return _legacy(policy, id, "the digest is SHA-1", proven_early)
    return _not_met(id, Level.FAIL, f"the digest {digest} is not one the policy lists")


def _key(policy: Policy, facts: Facts, proven_early: bool) -> ConstraintResult:
    id, bits = "signature.public-key", facts.key_bits
    if facts.key_algorithm in ("rsa", "rsassa_pss"):
        if bits >= 2048:
            return _passed(id, f"RSA {bits} bits")
        if bits >= 1024:
            return _legacy(policy, id, f"the RSA key has {bits} bits (under 2048)", proven_early)
        return _not_met(id, Level.FAIL, f"the RSA key has {bits} bits")
    if facts.key_algorithm == "ec":
        if bits >= 256:
            return _passed(id, f"ECDSA {bits}-bit curve")
        return _not_met(id, Level.FAIL, f"the ECDSA curve has {bits} bits (under 256)")
    return _not_met(id, Level.FAIL, f"the key algorithm {facts.key_algorithm} is not one the policy lists")


def _scheme(scheme: str) -> ConstraintResult:
    id = "signature.scheme"
    if scheme in ("rsassa_pss", "ecdsa") or scheme.endswith("_ecdsa"):
        return _passed(id, scheme)
    if scheme == "rsassa_pkcs1v15" or scheme.endswith("_rsa"):
        return _not_met(id, Level.INFORM, "RSA PKCS#1 v1.5 (accepted; RSASSA-PSS is the newer scheme)")
    return _not_met(id, Level.INFORM, f"the signature scheme is {scheme}")


def _certificate_digest(digest: str | None) -> ConstraintResult:
    id = "signer-certificate.digest-algorithm"
    if digest is not None and (digest in _SHA2 or digest in _SHA3):
        return _passed(id, _digest_name(digest))
    named = _digest_name(digest) if digest else "an unknown digest"
    return _not_met(id, Level.WARN, f"the signer's certificate is signed with {named}")


def _format(sub_filter: str | None) -> ConstraintResult:
    id = "signature.format"
    if sub_filter in _PADES:
        return _passed(id, f"PAdES ({sub_filter.lstrip('/')})")
    if sub_filter in _LEGACY_FORMATS:
        return _not_met(id, Level.INFORM, f"legacy PDF signature format {sub_filter.lstrip('/')}")
    named = sub_filter.lstrip("/") if sub_filter else "none"
    return _not_met(id, Level.INFORM, f"a PDF signature, not PAdES (SubFilter {named})")


def _freshness(
    policy: Policy,
    revocation_time: dt.datetime | None,
    trusted_time: dt.datetime | None,
    validated_at: dt.datetime,
) -> ConstraintResult:
    id = "revocation.freshness"
    if revocation_time is None:
        return _not_met(id, Level.WARN, "no revocation data in the file and none fetched")
    reference, what = (
        (trusted_time, "the trusted signing time") if trusted_time else (validated_at, "the validation time")
    )
    age = reference - revocation_time
    hours = int(policy.revocation_max_age.total_seconds() // 3600)
    if age <= policy.revocation_max_age:
        return _passed(id, f"revocation data of {display(revocation_time)}, within {hours} h of {what}")
    return _not_met(
        id,
        Level.WARN,
        f"the newest revocation data ({display(revocation_time)}) is {_span(age)} older than {what} "
        f"(at most {hours} h)",
    )


def _span(delta: dt.timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:.0f} h" if hours < 48 else f"{hours / 24:.0f} days"
