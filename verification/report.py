"""What a verification says: one ``VerificationReport`` per document, one ``SignatureReport`` per signature or
document timestamp, with the ETSI EN 319 102-1 indication and the facts people read.

Times are ISO 8601 in Vietnam time (+07:00); ``as_json`` is the documented JSON schema (docs/verification.md).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any


class Indication(enum.StrEnum):
    TOTAL_PASSED = "TOTAL-PASSED"
    TOTAL_FAILED = "TOTAL-FAILED"
    INDETERMINATE = "INDETERMINATE"


class Revocation(enum.StrEnum):
    """How the signer's revocation status was established."""

    EMBEDDED = "embedded"  # OCSP responses / CRLs inside the PDF (DSS or the CMS)
    FETCHED = "fetched"  # asked the configured responder while verifying
    NOT_CHECKED = "not-checked"  # no revocation data: the report warns, never says "valid"


@dataclass(frozen=True)
class Person:
    """A certificate subject as people read it."""

    name: str
    subject: str  # RFC 4514
    cccd: str | None = None
    tax_code: str | None = None
    organization: str | None = None
    title: str | None = None


@dataclass(frozen=True)
class TimestampFacts:
    authority: str  # the TSA's name
    time: str  # +07:00
    trusted: bool


@dataclass(frozen=True)
class AnchorFacts:
    """The trust anchor a certificate path ended in, and the trust profile that brought it."""

    subject: str
    sha256: str  # of the anchor's DER certificate, hex
    profile: str | None = None  # kyso-test | vn-public | vn-gov | operator (verification/profiles.py)


@dataclass(frozen=True)
class ConstraintResult:
    """One check of the validation policy (verification/policy.py) on one signature, as EU DSS reports its
    constraints: the level the policy gives the check here and whether the signature met it."""

    id: str  # e.g. signature.digest-algorithm
    level: str  # FAIL | WARN | INFORM
    result: str  # passed | failed | warning | information
    detail: str


@dataclass(frozen=True)
class SignatureReport:
    field: str
    kind: str  # signature | document-timestamp
    indication: Indication
    sub_indication: str | None  # ETSI EN 319 102-1 sub-indication, e.g. HASH_FAILURE, TRY_LATER
    signer: Person | None
    issuer: str | None
    signing_time: str | None  # the trusted time when there is one, else the time the signer claimed
    signing_time_source: str  # timestamp | claimed | none
    timestamp: TimestampFacts | None
    revocation: Revocation
    revocation_checked_at: str | None  # the newest revocation data used (its thisUpdate / producedAt)
    revoked_at: str | None
    certificate_valid_from: str | None
    certificate_valid_until: str | None
    integrity: bool  # the signed byte ranges and the CMS signature match
    trusted: bool  # the chain reaches an anchor of the trust list
    coverage: str  # entire-file | entire-revision | partial | unknown
    modification: str | None  # after this signature: none | lta-updates | form-filling | annotations | other
    pades_level: str | None  # B-B | B-T | B-LT | B-LTA
    certification: str | None  # None, or the DocMDP permission of a certification signature
    classic_valid: bool  # pyHanko's classic bottom line (see docs/verification.md)
    reasons: list[str] = field(default_factory=list)  # why not TOTAL-PASSED, in English
    warnings: list[str] = field(default_factory=list)
    trust_anchor: AnchorFacts | None = None  # where the chain ended, when it reached the trust list
    signer_certificate_sha256: str | None = None
    policy_results: list[ConstraintResult] = field(default_factory=list)


@dataclass(frozen=True)
class IssuedRecord:
    """The signing registry's entry when Kyso itself signed this file, or one of its revisions."""

    id: str  # the document's id (/verify/<id>): that of its first signed revision
    signer_name: str
    organization: str | None
    reference_number: str | None
    level: str
    signed_at: str
    revision: int = 1  # which registered revision of the document the upload is, or extends
    relation: str = "same"  # same | signed-after | changed-after (see docs/verification.md)
    registered_id: str | None = None  # the registered signature that made that revision
    added_by: list[str] = field(default_factory=list)  # signed-after: who signed or sealed afterwards
    registered_size: int | None = None  # the revision's bytes: a prefix of the upload


@dataclass(frozen=True)
class RevisionFacts:
    """One revision of the PDF (incremental update): its bytes are ``[0, end)`` of the file."""

    number: int  # 1 for the original document
    end: int
    sha256: str  # of the bytes [0, end)
    change: str  # original | signature | timestamp | validation-data | form-filling | annotations | content
    field: str | None  # the signature field whose signature made this revision
    signed_until: int | None  # the end of that signature's ByteRange: its signed revision's length


@dataclass(frozen=True)
class VerificationReport:
    sha256: str
    size: int
    trust_list: str
    validated_at: str
    signatures: list[SignatureReport]
    issued_by_us: list[IssuedRecord] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    revisions: list[RevisionFacts] = field(default_factory=list)  # [] for a single revision
    test_pki_fields: list[str] = field(default_factory=list)  # signatures chaining to Kyso's test root
    trust_profiles: list[str] = field(default_factory=list)  # the trust profiles in force
    policy: str | None = None  # the validation policy applied, e.g. "Kyso TT15/2025"
    policy_version: str | None = None

    @property
    def indication(self) -> Indication | None:
        """The document's verdict: the worst of its signatures; None when it has none."""
        if not self.signatures:
            return None
        order = [Indication.TOTAL_FAILED, Indication.INDETERMINATE, Indication.TOTAL_PASSED]
        return min((s.indication for s in self.signatures), key=order.index)

    @property
    def all_passed(self) -> bool:
        return bool(self.signatures) and all(s.indication is Indication.TOTAL_PASSED for s in self.signatures)

    def as_json(self) -> dict[str, Any]:
        data = to_json(self)
        data["indication"] = self.indication.value if self.indication else None
        data["signature_count"] = len(self.signatures)
        data["all_passed"] = self.all_passed
        return data


# --- serialisation ------------------------------------------------------------------------------------
# A report's strings may arrive as subclasses of str that keep a reference to the whole parsed PDF (pyHanko's
# TextStringObject). ``dataclasses.asdict`` deep-copies every value, so one such field name once made a
# 25-signature report cost 80 s and 1.8 GB to serialise; these walk the fields once and copy nothing big.
def to_json(value: Any) -> Any:
    """The JSON form of a report (or any part of it): dataclasses as dicts, enums as their values, every
    string, number and container as a plain built-in one."""
    if value is None or type(value) in (str, int, float, bool):
        return value
    if isinstance(value, enum.Enum):
        return to_json(value.value)
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, list | tuple):
        return [to_json(item) for item in value]
    if isinstance(value, dict):
        return {str(key): to_json(item) for key, item in value.items()}
    return _builtin(value)


def detached(value: Any) -> Any:
    """The same report with every value a built-in (or an enum of this module): what the bounded child
    sends back, so the parent never unpickles a parsed PDF hanging off a string."""
    if value is None or type(value) in (str, int, float, bool) or isinstance(value, enum.Enum):
        return value
    if is_dataclass(value) and not isinstance(value, type):
        return type(value)(**{f.name: detached(getattr(value, f.name)) for f in fields(value) if f.init})
    if isinstance(value, list):
        return [detached(item) for item in value]
    if isinstance(value, tuple):
        return tuple(detached(item) for item in value)
    if isinstance(value, dict):
        return {str(key): detached(item) for key, item in value.items()}
    return _builtin(value)


def _builtin(value: Any) -> Any:
    for kind in (bool, int, float, str):
        if isinstance(value, kind):
            return kind(value)
    raise TypeError(f"a report holds a {type(value).__name__}, which has no JSON form")
