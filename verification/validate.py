"""Validate every signature and document timestamp of a PDF with pyHanko and say, per signature, what
ETSI EN 319 102-1 calls the result (how pyHanko's classic verdict is turned into it: docs/verification.md).

Nothing here reaches a database or a key: the trust anchors come in as a ``TrustStore``, fresh revocation
data (optional) through a ``fetch_ocsp`` callable that api/ or cli/ builds over the service's responder.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from asn1crypto import algos, core, crl, ocsp
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.ades.report import AdESFailure, AdESIndeterminate
from pyhanko.sign.fields import enumerate_sig_fields
from pyhanko.sign.validation import async_validate_pdf_signature, async_validate_pdf_timestamp, generic_cms
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.status import PdfSignatureStatus, SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.policy_decl import (
    CertRevTrustPolicy,
    RevocationCheckingPolicy,
    RevocationCheckingRule,
)

from core.clock import display
from core.errors import Kind, ServiceError, malformed
from verification import policy as policies
from verification.report import (
    Indication,
    Person,
    Revocation,
    SignatureReport,
    TimestampFacts,
    VerificationReport,
)
from verification.speedups import shortcuts
from verification.trust import TrustStore

_log = logging.getLogger(__name__)
_pyhanko_log = logging.getLogger("verification.pyhanko")  # pyHanko's own log lines, at DEBUG

FetchOcsp = Callable[[asn1_x509.Certificate, asn1_x509.Certificate], bytes | None]
"""(certificate, its issuer) → a DER OCSP response from the configured responder, or None."""

_PDF_MAGIC_WINDOW = 1024
_NO_TIME_PROBLEMS = {
    AdESIndeterminate.REVOKED_NO_POE,
    AdESIndeterminate.OUT_OF_BOUNDS_NO_POE,
    AdESIndeterminate.EXPIRED,
    AdESIndeterminate.REVOCATION_OUT_OF_BOUNDS_NO_POE,
    AdESIndeterminate.TRY_LATER,  # revocation data no longer fresh today; fresh at the timestamp's time
}
_PARSED_CACHE = 512
_CONTEXT_CACHE = 64
_SIGNER_ONLY = CertRevTrustPolicy(
    RevocationCheckingPolicy(
        ee_certificate_rule=RevocationCheckingRule.CRL_OR_OCSP_REQUIRED,
        intermediate_ca_cert_rule=RevocationCheckingRule.NO_CHECK,
    )
)


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 100 << 20
    max_signatures: int = 50
    timeout_seconds: float = 30.0  # enforced by verification.isolation
    memory_bytes: int = 1536 << 20  # enforced by verification.isolation
    context_reuse_seconds: float = 60.0  # a validation context serves identical material this long


@dataclass
class _Material:
    """Validation data for one document: the DSS, plus what was fetched."""

    certs: list[asn1_x509.Certificate] = field(default_factory=list)
    ocsps: list[ocsp.OCSPResponse] = field(default_factory=list)
    crls: list[crl.CertificateList] = field(default_factory=list)
    fetched: list[ocsp.OCSPResponse] = field(default_factory=list)
    fetch_failures: list[str] = field(default_factory=list)

    @property
    def key(self) -> tuple[bytes, ...]:
        """The material's identity: documents with the same key validate against the same data."""
        return tuple(
            hashlib.sha256(item.dump()).digest()
            for item in self.certs + self.ocsps + self.crls + self.fetched
        )

    @property
    def revocation_source(self) -> Revocation:
        if self.fetched:
            return Revocation.FETCHED
        return Revocation.EMBEDDED if self.ocsps or self.crls else Revocation.NOT_CHECKED

    def newest_revocation_time(self) -> dt.datetime | None:
        answered = [r for r in self.ocsps + self.fetched if r["response_status"].native == "successful"]
        times = [
            r["response_bytes"]["response"].parsed["tbs_response_data"]["produced_at"].native
            for r in answered
        ]
        times += [c["tbs_cert_list"]["this_update"].native for c in self.crls]
        return max(times, default=None)


class Verifier:
    """Validates PDFs against one trust list. One per process and trust list: anchors are parsed once and
    revocation data seen before (the DSS of documents from the same signer) is not parsed again."""

    def __init__(
        self,
        trust: TrustStore,
        *,
        limits: Limits | None = None,
        fetch_ocsp: FetchOcsp | None = None,
        now: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.trust = trust
        self.limits = limits or Limits()
        _quiet_pyhanko_logs()
        self.fetch_ocsp = fetch_ocsp
        self._now = now or (lambda: dt.datetime.now(dt.UTC))
        self.policy = policies.DEFAULT
        self._parsed: OrderedDict[bytes, object] = OrderedDict()
        self._contexts: OrderedDict[tuple[bytes, ...], ValidationContext] = OrderedDict()

    # --- the document -------------------------------------------------------------------------------
    async def verify(self, data: bytes) -> VerificationReport:
        """The report for ``data``; raises ServiceError only when the bytes are not a readable PDF."""
        check_input(data, self.limits)
        with shortcuts():
            return await self._verify(data)

    async def _verify(self, data: bytes) -> VerificationReport:
        now = self._now()
        reader = _open(data)
        try:
            fields = list(enumerate_sig_fields(reader, filled_status=True))
        except Exception as exc:
            _log.debug("form fields unreadable", exc_info=True)
            raise malformed(f"the PDF is damaged: its form fields cannot be read ({_why(exc)})") from None
        report = VerificationReport(
            sha256=hashlib.sha256(data).hexdigest(),
            size=len(data),
            trust_list=self.trust.name,
            validated_at=display(now),
            signatures=[],
            trust_profiles=list(self.trust.profiles),
            policy=self.policy.name,
            policy_version=self.policy.version,
        )
        if not fields:
            report.warnings.append("no signature found / không tìm thấy chữ ký nào")
            return report
        if len(fields) > self.limits.max_signatures:
            raise malformed(f"the PDF has {len(fields)} signatures; at most {self.limits.max_signatures}")
        material = self._material(reader)
        for name, _, field_ref in fields:
            report.signatures.append(await self._one(reader, name, field_ref, material, now))
        report.warnings.extend(dict.fromkeys(material.fetch_failures))
        if material.revocation_source is Revocation.NOT_CHECKED:
            report.warnings.append(
                "no revocation data in the file and none fetched: the certificates' revocation status was "
                "not checked / không kiểm tra được tình trạng thu hồi chứng thư số"
            )
        return report

    def _material(self, reader: PdfFileReader) -> _Material:
        material = _Material()
        try:
            dss = DocumentSecurityStore.read_dss(reader)
        except Exception:
            return material
        try:
            material.certs = [self._parse(asn1_x509.Certificate, c.dump()) for c in dss.load_certs()]
            material.ocsps = [self._parse(ocsp.OCSPResponse, der) for der in dss._ocsps_seen]
            material.crls = [self._parse(crl.CertificateList, der) for der in dss._crls_seen]
        except Exception:
            return _Material()
        return material

    def _parse(self, kind: type, der: bytes):
        """Parsed ASN.1 objects by content: the same OCSP response or CRL is decoded once per process."""
        key = hashlib.sha256(der).digest()
        found = self._parsed.get(key)
        if found is None:
            found = kind.load(der)
            found.native  # noqa: B018 - fail here on garbage, not later inside the validator
            self._parsed[key] = found
            if len(self._parsed) > _PARSED_CACHE:
                self._parsed.popitem(last=False)
        else:
            self._parsed.move_to_end(key)
        return found

    def _current(self, material: _Material, now: dt.datetime) -> ValidationContext:
        """The context validating at ``now``, shared by documents with the same material for a while
        (``Limits.context_reuse_seconds``): parsed revocation data and validated paths are reused."""
        key = material.key
        found = self._contexts.get(key)
        if (
            found is not None
            and abs((now - found.moment).total_seconds()) <= self.limits.context_reuse_seconds
        ):
            self._contexts.move_to_end(key)
            return found
        context = self._context(material, moment=now, retroactive=False)
        self._contexts[key] = context
        self._contexts.move_to_end(key)
        if len(self._contexts) > _CONTEXT_CACHE:
            self._contexts.popitem(last=False)
        return context

    def _context(
        self, material: _Material, *, moment: dt.datetime | None = None, retroactive: bool = True
    ) -> ValidationContext:
        revocation = material.revocation_source is not Revocation.NOT_CHECKED
        policy: dict[str, object] = {"revocation_mode": "hard-fail" if revocation else "soft-fail"}
        if material.fetched and not (material.ocsps or material.crls):
            # only the signer's status was fetched: require it, and leave the CAs to the trust list
            policy = {"revinfo_policy": _SIGNER_ONLY}
        return ValidationContext(
            trust_roots=list(self.trust.roots),
            other_certs=material.certs + list(self.trust.intermediates),
            ocsps=material.ocsps + material.fetched,
            crls=material.crls,
            allow_fetching=False,
            moment=moment,
            retroactive_revinfo=retroactive and moment is not None,
            **policy,
        )

    # --- one signature ------------------------------------------------------------------------------
    async def _one(self, reader, name, field_ref, material: _Material, now: dt.datetime) -> SignatureReport:
        try:
            embedded = EmbeddedPdfSignature(reader, field_ref, name)
        except Exception as exc:
            _log.debug("signature %s undecodable", name, exc_info=True)
            return _unreadable(name, f"the signature cannot be decoded: {_why(exc)}")
        try:
            _tolerate(embedded)
            if embedded.sig_object_type == "/DocTimeStamp" or _subfilter(embedded) == "/ETSI.RFC3161":
                return await self._document_timestamp(embedded, material, now)
            return await self._signature(embedded, material, now)
        except ServiceError:
            raise
        except Exception as exc:
            _log.debug("signature %s not validated", name, exc_info=True)
            unreadable = _unreadable(name, f"the signature cannot be validated: {_why(exc)}")
            return replace(unreadable, signer=_signer_if_known(embedded), issuer=_issuer_if_known(embedded))

    async def _signature(
        self, embedded: EmbeddedPdfSignature, material: _Material, now: dt.datetime
    ) -> SignatureReport:
        signer = embedded.signer_cert
        if self.fetch_ocsp is not None:
            self._fetch(embedded, material)
        context = self._current(material, now)
        reasons: list[str] = []
        warnings: list[str] = []
        try:
            status: PdfSignatureStatus = await _validate_signature(embedded, context, skip_diff=False)
            analysed = True
        except Exception:
            _log.debug("difference analysis failed for %s", embedded.field_name, exc_info=True)
            status = await _validate_signature(embedded, context, skip_diff=True)
            analysed = False
            warnings.append(_NOT_ANALYSED)
        ts = status.timestamp_validity
        ts_time = ts.timestamp if ts is not None and ts.intact and ts.valid and ts.trusted else None
        if ts is not None and ts_time is None and ts.intact and ts.valid:
            ts_time = await self._timestamp_at_its_time(embedded, material, ts.timestamp, warnings)
        if ts is not None and ts_time is None:
            warnings.append("the signature timestamp is not valid or not trusted; it was ignored")
        claimed = status.signer_reported_dt
        revocation = material.revocation_source
        revoked_at = status.revocation_details.revocation_date if status.revocation_details else None

        indication, sub = Indication.TOTAL_PASSED, None
        if not status.intact:
            indication, sub = Indication.TOTAL_FAILED, AdESFailure.HASH_FAILURE.name
            reasons.append("the signed bytes were changed after signing")
        elif not status.valid:
            indication, sub = Indication.TOTAL_FAILED, AdESFailure.SIG_CRYPTO_FAILURE.name
            reasons.append("the cryptographic signature does not verify")
        elif status.coverage is None or status.coverage < SignatureCoverageLevel.ENTIRE_REVISION:
            indication, sub = Indication.TOTAL_FAILED, AdESFailure.FORMAT_FAILURE.name
            reasons.append("the signature does not cover its whole revision (ByteRange with gaps)")
        elif status.docmdp_ok is False and _restricted(embedded):
            indication, sub = Indication.TOTAL_FAILED, AdESIndeterminate.SIG_CONSTRAINTS_FAILURE.name
            reasons.append("the document was changed after signing in a way the signer did not allow")
        elif not analysed and _restricted(embedded) and status.coverage != SignatureCoverageLevel.ENTIRE_FILE:
            indication, sub = Indication.INDETERMINATE, AdESIndeterminate.SIG_CONSTRAINTS_FAILURE.name
            reasons.append("the signer restricted later changes, and the changes made after signing could "
                           "not be analysed")  # fmt: skip
        elif revoked_at is not None:
            indication, sub = self._revoked(revoked_at, ts_time, claimed, reasons)
            if indication is Indication.TOTAL_PASSED:
                again = await async_validate_pdf_signature(
                    embedded, signer_validation_context=self._context(material, moment=ts_time),
                    ts_validation_context=self._context(material, moment=ts_time), skip_diff=True,
                )  # fmt: skip
                if not again.bottom_line:
                    indication, sub = _untrusted(again, reasons)
                else:
                    warnings.append(f"the certificate was revoked on {display(revoked_at)}, after the "
                                    "timestamped signing time")  # fmt: skip
        elif not status.trusted:
            problem = status.trust_problem_indic
            if problem in _NO_TIME_PROBLEMS and ts_time is not None:
                # validation with time (EN 319 102-1 §5.5): the timestamp proves the signature existed
                # while the certificate was valid; validate the chain at that moment
                again = await async_validate_pdf_signature(
                    embedded, signer_validation_context=self._context(material, moment=ts_time),
                    ts_validation_context=self._context(material, moment=ts_time), skip_diff=True,
                )  # fmt: skip
                if again.trusted and again.revocation_details is None:
                    warnings.append("the certificate is no longer valid today; it was valid at the "
                                    "timestamped signing time")  # fmt: skip
                else:
                    indication, sub = _untrusted(again, reasons)
            else:
                indication, sub = _untrusted(status, reasons)
        if status.docmdp_ok is False and not _restricted(embedded):
            warnings.append(_UNRESTRICTED_CHANGES)
        if indication is Indication.TOTAL_PASSED and revocation is Revocation.NOT_CHECKED:
            indication, sub = Indication.INDETERMINATE, AdESIndeterminate.TRY_LATER.name
            reasons.append("revocation status not checked: the file carries no OCSP/CRL data")
        if indication is Indication.TOTAL_PASSED and ts_time is None and claimed is not None:
            warnings.append("the signing time is the one the signer's software claimed (no timestamp)")

        signing_time = ts_time or claimed
        report = SignatureReport(
            field=str(embedded.field_name),
            kind="signature",
            indication=indication,
            sub_indication=sub,
            signer=person(signer),
            issuer=signer.issuer.human_friendly,
            signing_time=display(signing_time) if signing_time else None,
            signing_time_source="timestamp" if ts_time else ("claimed" if claimed else "none"),
            timestamp=_timestamp_facts(ts),
            revocation=revocation,
            revocation_checked_at=_display(material.newest_revocation_time()),
            revoked_at=_display(revoked_at),
            certificate_valid_from=_display(signer["tbs_certificate"]["validity"]["not_before"].native),
            certificate_valid_until=_display(signer["tbs_certificate"]["validity"]["not_after"].native),
            integrity=bool(status.intact and status.valid),
            trusted=bool(status.trusted) or indication is Indication.TOTAL_PASSED,
            coverage=_coverage(status.coverage),
            modification=_level(status),
            pades_level=_pades_level(embedded, material, ts is not None, later_doc_timestamps(embedded)),
            certification=_certification(embedded),
            classic_valid=bool(status.bottom_line),
            reasons=reasons,
            warnings=warnings,
        )
        return self._assess(report, embedded, status, material, ts_time, now)

    async def _timestamp_at_its_time(
        self, embedded: EmbeddedPdfSignature, material: _Material, at: dt.datetime, warnings: list[str]
    ) -> dt.datetime | None:
        """A signature timestamp whose TSA chain no longer validates today (expired, or its revocation data
        is past nextUpdate) is validated at its own time with the embedded data (EN 319 102-1 past
        certificate validation); then it proves the signature existed at that time."""
        context = self._context(material, moment=at)
        again = await async_validate_pdf_signature(
            embedded, signer_validation_context=context, ts_validation_context=context, skip_diff=True
        )
        ts = again.timestamp_validity
        if ts is None or not (ts.intact and ts.valid and ts.trusted):
            return None
        warnings.append("the timestamp authority's certificate or revocation data is no longer current; "
                        "the timestamp was validated at its own time")  # fmt: skip
        return ts.timestamp

    @staticmethod
    def _revoked(revoked_at, ts_time, claimed, reasons: list[str]) -> tuple[Indication, str | None]:
        if ts_time is not None and ts_time < revoked_at:
            return Indication.TOTAL_PASSED, None  # checked again at the timestamp's time by the caller
        if (ts_time or claimed) is not None and revoked_at <= (ts_time or claimed):
            reasons.append(f"the certificate was revoked on {display(revoked_at)}, before the signing time")
            return Indication.TOTAL_FAILED, AdESFailure.REVOKED.name
        reasons.append(f"the certificate was revoked on {display(revoked_at)} and no timestamp proves the "
                       "signature existed before that")  # fmt: skip
        return Indication.INDETERMINATE, AdESIndeterminate.REVOKED_NO_POE.name

    def _fetch(self, embedded: EmbeddedPdfSignature, material: _Material) -> None:
        signer = embedded.signer_cert
        issuer = next(
            (c for c in list(embedded.other_embedded_certs) + material.certs + list(self.trust.roots)
             if c.subject == signer.issuer and c.public_key is not None),
            None,
        )  # fmt: skip
        if issuer is None:
            return
        try:
            der = self.fetch_ocsp(signer, issuer)
        except Exception:  # a responder that fails is the same as none: the report says so
            material.fetch_failures.append("the OCSP responder did not answer; revocation was not fetched")
            return
        if der:
            try:
                material.fetched.append(self._parse(ocsp.OCSPResponse, der))
            except (ValueError, TypeError):
                return

    async def _document_timestamp(
        self, embedded: EmbeddedPdfSignature, material: _Material, now: dt.datetime
    ) -> SignatureReport:
        context = self._current(material, now)
        reasons: list[str] = []
        warnings: list[str] = []
        try:
            status = await async_validate_pdf_timestamp(embedded, validation_context=context)
        except Exception:
            _log.debug("difference analysis failed for %s", embedded.field_name, exc_info=True)
            status = await async_validate_pdf_timestamp(embedded, validation_context=context, skip_diff=True)
            warnings.append(_NOT_ANALYSED)
        indication, sub = Indication.TOTAL_PASSED, None
        if not status.intact:
            indication, sub = Indication.TOTAL_FAILED, AdESFailure.HASH_FAILURE.name
            reasons.append("the timestamped bytes were changed")
        elif not status.valid:
            indication, sub = Indication.TOTAL_FAILED, AdESFailure.SIG_CRYPTO_FAILURE.name
            reasons.append("the timestamp's signature does not verify")
        elif not status.trusted:
            indication, sub = _untrusted(status, reasons)
        elif material.revocation_source is Revocation.NOT_CHECKED:
            indication, sub = Indication.INDETERMINATE, AdESIndeterminate.TRY_LATER.name
            reasons.append("revocation status of the timestamp authority not checked")
        tsa = embedded.signer_cert
        report = SignatureReport(
            field=str(embedded.field_name),
            kind="document-timestamp",
            indication=indication,
            sub_indication=sub,
            signer=person(tsa),
            issuer=tsa.issuer.human_friendly,
            signing_time=display(status.timestamp),
            signing_time_source="timestamp",
            timestamp=TimestampFacts(person(tsa).name, display(status.timestamp), bool(status.trusted)),
            revocation=material.revocation_source,
            revocation_checked_at=_display(material.newest_revocation_time()),
            revoked_at=None,
            certificate_valid_from=_display(tsa["tbs_certificate"]["validity"]["not_before"].native),
            certificate_valid_until=_display(tsa["tbs_certificate"]["validity"]["not_after"].native),
            integrity=bool(status.intact and status.valid),
            trusted=bool(status.trusted),
            coverage=_coverage(status.coverage),
            modification=_level(status),
            pades_level=None,
            certification=None,
            classic_valid=bool(status.intact and status.valid and status.trusted),
            reasons=reasons,
            warnings=warnings,
        )
        trusted_time = status.timestamp if status.trusted else None
        return self._assess(report, embedded, status, material, trusted_time, now)

    # --- the anchor reached and the validation policy (verification/trust.py, verification/policy.py) ---
    def _assess(
        self, report: SignatureReport, embedded: EmbeddedPdfSignature, status, material: _Material,
        trusted_time: dt.datetime | None, now: dt.datetime,
    ) -> SignatureReport:  # fmt: skip
        signer = embedded.signer_cert
        anchor = None
        if report.trusted:
            others = [*embedded.other_embedded_certs, *material.certs]
            anchor = self.trust.anchor_of(getattr(status, "validation_path", None), signer, others)
        report = replace(
            report, trust_anchor=anchor, signer_certificate_sha256=hashlib.sha256(signer.dump()).hexdigest()
        )
        return policies.apply(
            self.policy, report, embedded, trusted_time=trusted_time,
            revocation_time=material.newest_revocation_time(), validated_at=now,
        )  # fmt: skip


# --- input checks -----------------------------------------------------------------------------------
def check_input(data: bytes, limits: Limits) -> None:
    if len(data) > limits.max_bytes:
        raise ServiceError(
            Kind.TOO_LARGE,
            f"the file is larger than {limits.max_bytes >> 20} MB, the most this service checks",
        )
    if b"%PDF-" not in data[:_PDF_MAGIC_WINDOW]:
        raise malformed("this is not a PDF file / tệp này không phải PDF")


def _open(data: bytes) -> PdfFileReader:
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        if reader.encrypted and not _opens_without_password(reader):
            raise malformed("the PDF is encrypted; send the decrypted file")
        reader.root  # noqa: B018 - resolve the catalog now: a broken xref shows here
        return reader
    except ServiceError:
        raise
    except (PdfError, ValueError, KeyError, IndexError, TypeError, RecursionError) as exc:
        _log.debug("unreadable PDF", exc_info=True)
        raise malformed(f"the PDF is damaged and cannot be read: {_why(exc)}") from None


# --- facts --------------------------------------------------------------------------------------------
_NAME_KEYS = {
    "common_name": "name",
    "organization_name": "organization",
    "title": "title",
}


def person(certificate: asn1_x509.Certificate) -> Person:
    values: dict[str, str] = {}
    cccd = tax_code = None
    for rdn in certificate.subject.chosen:
        for attribute in rdn:
            kind = attribute["type"].native
            value = str(attribute["value"].native)
            if kind == "user_id":
                if value.startswith("CCCD:"):
                    cccd = value[5:]
                elif value.startswith("MST:"):
                    tax_code = value[4:]
            elif kind in _NAME_KEYS:
                values.setdefault(_NAME_KEYS[kind], value)
    return Person(
        name=values.get("name") or values.get("organization") or certificate.subject.human_friendly,
        subject=certificate.subject.human_friendly,
        cccd=cccd,
        tax_code=tax_code,
        organization=values.get("organization"),
        title=values.get("title"),
    )


def _timestamp_facts(ts) -> TimestampFacts | None:
    if ts is None:
        return None
    return TimestampFacts(person(ts.signing_cert).name, display(ts.timestamp), bool(ts.trusted and ts.valid))


def _untrusted(status, reasons: list[str]) -> tuple[Indication, str | None]:
    problem = status.trust_problem_indic
    if status.revocation_details is not None:
        reasons.append(f"the certificate was revoked on {display(status.revocation_details.revocation_date)}")
        return Indication.TOTAL_FAILED, AdESFailure.REVOKED.name
    sub = problem.name if problem is not None else AdESIndeterminate.NO_CERTIFICATE_CHAIN_FOUND.name
    reasons.append(_TRUST_REASONS.get(sub, f"the certificate chain could not be validated ({sub})"))
    if isinstance(problem, AdESFailure):
        return Indication.TOTAL_FAILED, sub
    return Indication.INDETERMINATE, sub


_TRUST_REASONS = {
    "NO_CERTIFICATE_CHAIN_FOUND": "the certificate does not chain to an anchor of the trust list",
    "OUT_OF_BOUNDS_NO_POE": "the certificate has expired (or is not yet valid) and no timestamp proves "
    "the signature was made while it was valid",
    "EXPIRED": "the certificate has expired",
    "CHAIN_CONSTRAINTS_FAILURE": "the certificate chain breaks a constraint (key usage, path length)",
    "REVOKED_NO_POE": "the certificate is revoked and no timestamp proves the signature came first",
    "TRY_LATER": "revocation status could not be established",
}


def _level(status) -> str | None:
    level = getattr(status, "modification_level", None)
    return level.name.lower().replace("_", "-") if level is not None else None


def _coverage(coverage: SignatureCoverageLevel | None) -> str:
    return {
        SignatureCoverageLevel.ENTIRE_FILE: "entire-file",
        SignatureCoverageLevel.ENTIRE_REVISION: "entire-revision",
    }.get(coverage, "partial" if coverage is not None else "unknown")


def later_doc_timestamps(embedded: EmbeddedPdfSignature) -> int:
    """How many document timestamps were laid after the signature."""
    count = 0
    for _, _, ref in enumerate_sig_fields(embedded.reader, filled_status=True):
        value = ref.get_object().get("/V")
        if value is None:
            continue
        value = value.get_object()
        if value.get("/Type") == "/DocTimeStamp":
            byte_range = value.get("/ByteRange")
            if byte_range is not None and int(byte_range[-2]) > int(embedded.byte_range[-2]):
                count += 1
    return count


def _pades_level(
    embedded: EmbeddedPdfSignature, material: _Material, signature_timestamp: bool, doc_timestamps: int
) -> str | None:
    """The baseline level (EN 319 142-1 §6): a signature timestamp or a later document timestamp makes
    B-T (§5.3 allows either); validation data B-LT; a document timestamp beyond the one that gave B-T,
    B-LTA (as ``kyso ltv`` extends a B-B signature: timestamp, DSS, timestamp)."""
    if embedded.sig_object.get("/SubFilter") != "/ETSI.CAdES.detached":
        return None  # adbe.pkcs7.detached and others: a PDF signature, but not PAdES baseline
    level = "B-B"
    lta = doc_timestamps >= (1 if signature_timestamp else 2)
    if signature_timestamp or doc_timestamps:
        level = "B-T"
        if material.ocsps or material.crls:
            level = "B-LT"
            if lta:
                level = "B-LTA"
    return level


def _certification(embedded: EmbeddedPdfSignature) -> str | None:
    permission = embedded.docmdp_level
    return permission.name.lower().replace("_", "-") if permission is not None else None


def _unreadable(
    name: str,
    reason: str,
    indication: Indication = Indication.TOTAL_FAILED,
    sub: AdESFailure | AdESIndeterminate = AdESFailure.FORMAT_FAILURE,
) -> SignatureReport:
    return SignatureReport(
        field=str(name), kind="signature", indication=indication,
        sub_indication=sub.name, signer=None, issuer=None, signing_time=None,
        signing_time_source="none", timestamp=None, revocation=Revocation.NOT_CHECKED,
        revocation_checked_at=None, revoked_at=None,
        certificate_valid_from=None, certificate_valid_until=None,
        integrity=False, trusted=False, coverage="unknown", modification=None, pades_level=None,
        certification=None, classic_valid=False, reasons=[reason],
    )  # fmt: skip


def _signer_if_known(embedded: EmbeddedPdfSignature) -> Person | None:
    """Who the CMS names as signer, for a signature that could not be validated: people still see it."""
    try:
        return person(embedded.signer_cert)
    except Exception:
        return None


def _issuer_if_known(embedded: EmbeddedPdfSignature) -> str | None:
    try:
        return str(embedded.signer_cert.issuer.human_friendly)
    except Exception:
        return None


def _display(value: dt.datetime | None) -> str | None:
    return display(value) if value is not None else None


# --- what real-world files need ------------------------------------------------------------------------
_NOT_ANALYSED = (
    "the changes made to the document after this signature could not be analysed (its later revisions "
    "have a structure the analysis does not read); only the revision it covers is what was signed"
)
_UNRESTRICTED_CHANGES = (
    "the document was changed after this signature beyond signing, form filling and annotations; an "
    "approval signature (no certification, no field lock) allows later updates (ISO 32000-1 12.8), so only "
    "the revision this signature covers is what the signer signed: compare it with the file"
)


def _restricted(embedded: EmbeddedPdfSignature) -> bool:
    """Whether the signer restricted later changes: a certification (DocMDP) or a field lock (FieldMDP)."""
    return embedded.docmdp_level is not None or embedded.fieldmdp is not None


def _subfilter(embedded: EmbeddedPdfSignature) -> str | None:
    value = embedded.sig_object.get("/SubFilter")
    return str(value) if value is not None else None


async def _validate_signature(
    embedded: EmbeddedPdfSignature, context: ValidationContext, *, skip_diff: bool
) -> PdfSignatureStatus:
    if _subfilter(embedded) == "/adbe.pkcs7.sha1":
        return await _validate_pkcs7_sha1(embedded, context, skip_diff=skip_diff)
    return await async_validate_pdf_signature(
        embedded, signer_validation_context=context, ts_validation_context=context, skip_diff=skip_diff
    )


async def _validate_pkcs7_sha1(
    embedded: EmbeddedPdfSignature, context: ValidationContext, *, skip_diff: bool
) -> PdfSignatureStatus:
    """The legacy adbe.pkcs7.sha1 form (ISO 32000-1 12.8.3.3.1), which pyHanko does not validate: the CMS
    signs an encapsulated SHA-1 digest of the byte ranges. Intact when that digest is the document's and
    the CMS's own message digest matches it; the CMS signature and the chain are checked as for any other
    signature; coverage and later changes as pyHanko computes them."""
    embedded.compute_integrity_info(skip_diff=skip_diff)
    found = embedded.summarise_integrity_info()
    if embedded.self_reported_timestamp is not None:
        found["signer_reported_dt"] = embedded.self_reported_timestamp
    found = await generic_cms.cms_basic_validation(
        embedded.signed_data,
        raw_digest=None,  # the encapsulated content is what the CMS signs
        validation_context=context,
        status_kwargs=found,
        key_usage_settings=PdfSignatureStatus.default_usage_constraints(None),
    )
    content = embedded.signed_data["encap_content_info"]["content"]
    carried = content.native if content is not core.VOID else None
    ranges = [int(n) for n in embedded.byte_range]
    stream = embedded.reader.stream
    document = hashlib.sha1()  # noqa: S324 - the legacy format's own digest, checked, not trusted
    for start, length in zip(ranges[::2], ranges[1::2], strict=True):
        stream.seek(start)
        document.update(stream.read(length))
    found["intact"] = bool(found["intact"]) and carried == document.digest()
    return PdfSignatureStatus(**found)


def _tolerate(embedded: EmbeddedPdfSignature) -> None:
    """Deviations other readers accept and that change nothing signed, undone before pyHanko looks:

    * an encapsulated content field present but empty (some remote-signing services, e.g. Mobile-ID, write
      ``eContent`` as an empty OCTET STRING in a detached signature): the same as no content;
    * a signature algorithm's OID where the digest algorithm belongs (``sha256WithRSAEncryption`` as
      ``digestAlgorithm``): the digest it names.

    Neither field is inside the signed attributes, which keep their original encoding.
    """
    encapsulated = embedded.signed_data["encap_content_info"]
    content = encapsulated["content"]
    if encapsulated["content_type"].native == "data" and content is not core.VOID and not content.contents:
        encapsulated["content"] = None
    digest = embedded.signer_info["digest_algorithm"]["algorithm"]
    if digest.native not in _DIGESTS:
        try:
            named = algos.SignedDigestAlgorithm({"algorithm": digest.dotted}).hash_algo
        except (ValueError, KeyError):
            return
        embedded.signer_info["digest_algorithm"] = {"algorithm": named}
        embedded.md_algorithm = named
        if embedded.external_md_algorithm == digest.native:
            embedded.external_md_algorithm = named


_DIGESTS = {"md5", "sha1", "sha224", "sha256", "sha384", "sha512", "sha3_224", "sha3_256", "sha3_384",
            "sha3_512", "shake128", "shake256", "sha512_224", "sha512_256"}  # fmt: skip


def _opens_without_password(reader: PdfFileReader) -> bool:
    """An encrypted PDF that opens with the empty user password (permissions only) is read as any other."""
    try:
        return bool(reader.decrypt(b""))
    except Exception:
        return False


def _why(exc: BaseException) -> str:
    """A sentence for a failure inside the PDF or CMS reader; the exception itself goes to the debug log."""
    text = str(exc)
    for needle, sentence in _WHY:
        if needle in text:
            return sentence
    if isinstance(exc, KeyError):
        return "an object it refers to is missing from the file"
    if isinstance(exc, RecursionError):
        return "its objects refer to each other in a loop"
    if isinstance(exc, PdfError):
        return "its PDF structure is damaged"
    if isinstance(exc, ValueError | TypeError):
        return "its data is not encoded as the standard requires"
    return "its structure is not one this service can check"


_WHY = (
    ("Reference(", "an object it refers to is missing from the file (a dangling reference)"),
    ("EOF marker", "the file is cut short: its end-of-file marker is missing"),
    ("xref", "its cross-reference table is damaged"),
    ("negative seek", "its cross-reference table is damaged"),
    ("startxref", "its cross-reference table is damaged"),
    ("Stream ended prematurely", "the file ends in the middle of an object"),
    ("endstream", "a stream in the file is not terminated"),
    ("Encryption settings", "its encryption dictionary is damaged"),
    ("asn1crypto", "its CMS data is not valid DER"),
    ("signer_infos should contain exactly one", "its CMS data holds more than one signer"),
    ("signer certificate not included", "the signer's certificate is not in the signature"),
    ("not a recognized SubFilter", "its /SubFilter names a signature format this service does not check"),
    ("encapsulated data", "it carries the signed content inside the CMS, which a detached PDF signature "
                          "must not"),
    ("no attribute", "it names a digest or signature algorithm this service does not know"),
)  # fmt: skip


def _quiet_pyhanko_logs() -> None:
    """pyHanko logs what it tolerates as warnings with tracebacks; a citizen's terminal or the service's log
    at INFO is no place for them. They go to ``verification.pyhanko`` at DEBUG, without the traceback."""
    for name in ("pyhanko", "pyhanko_certvalidator"):
        logger = logging.getLogger(name)
        if not any(isinstance(h, _ToDebug) for h in logger.handlers):
            logger.addHandler(_ToDebug())
        logger.propagate = False


class _ToDebug(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        if _pyhanko_log.isEnabledFor(logging.DEBUG):
            _pyhanko_log.debug("%s: %s", record.name, record.getMessage())
