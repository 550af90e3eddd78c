"""Extending what was signed (PAdES augmentation, ETSI EN 319 142-1 §5.4 and pyHanko's ``ltvfix``): a
signed PDF gains, as incremental updates that leave every signature intact,

- validation data for its signatures and their timestamps in the DSS (B-T → B-LT), and
- a document timestamp over everything, the DSS included (→ B-LTA; from B-B it also gives the
  signatures the proof of existence a B-T signature has, as §5.3 allows a document timestamp to).

``renew`` keeps an archived B-LTA document alive: before the last document timestamp's certificate
expires or its algorithm weakens, the validation data of that timestamp is added and a new timestamp is
laid over it (pyHanko's archival timestamp chain). ``renewal_due`` says whether a file needs it.

Nothing is fetched: the validation material (``pades.ValidationMaterial``) is what the caller has —
Kyso's own CAs' OCSP responses and CRLs. A signature whose chain Kyso cannot vouch for (another CA, no
revocation data here) is reported as not extended, with the reason; the file still gets what there is.
"""

from __future__ import annotations

import datetime as dt
import enum
import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from asn1crypto import cms
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.general import SigningError
from pyhanko.sign.signers.pdf_signer import PdfTimeStamper
from pyhanko.sign.timestamps.api import TimeStamper
from pyhanko.sign.validation.dss import DocumentSecurityStore, collect_validation_info
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.errors import PathBuildingError, PathValidationError
from pyhanko_certvalidator.path import ValidationPath

from core.errors import Kind, ServiceError, malformed
from signing.pades import Level, ValidationMaterial

log = logging.getLogger("kyso.signing")
DIGEST = "sha256"
# Renew a document timestamp this long before its TSA certificate expires.
RENEW_BEFORE = dt.timedelta(days=90)
WEAK_DIGESTS = frozenset({"md5", "sha1"})
MIN_RSA_BITS = 2048


class Step(enum.StrEnum):
    VALIDATION_DATA = "validation-data"  # the DSS gained what validating the signatures needs
    DOCUMENT_TIMESTAMP = "document-timestamp"  # a document timestamp covers the whole file


@dataclass(frozen=True)
class SignatureFacts:
    field: str
    signer: str  # the signer certificate's subject, as written
    issuer: str
    serial: int  # the signer certificate's serial
    timestamped: bool  # a signature timestamp or a later document timestamp covers it
    validation_data: bool  # its chain and revocation data were found (embedded or supplied)
    problem: str | None  # why validation data could not be gathered


@dataclass(frozen=True)
class Extended:
    pdf: bytes
    level_before: Level
    level_after: Level
    steps: tuple[Step, ...]
    signatures: tuple[SignatureFacts, ...]

    def as_json(self) -> dict[str, object]:
        return {
            "level_before": self.level_before.value,
            "level_after": self.level_after.value,
            "steps": [s.value for s in self.steps],
            "signatures": [
                {"field": s.field, "signer": s.signer, "issuer": s.issuer, "serial": f"{s.serial:x}",
                 "timestamped": s.timestamped, "validation_data": s.validation_data, "problem": s.problem}
                for s in self.signatures
            ],
            "size": len(self.pdf),
        }  # fmt: skip


def context_of(
    material: ValidationMaterial, document_certs: Sequence[asn1_x509.Certificate]
) -> ValidationContext:
    """A context that knows the caller's anchors, chains and revocation data, and the document's own
    certificates; revocation is soft-fail so a signature of another CA yields what there is."""
    from asn1crypto import crl as asn1_crl
    from asn1crypto import ocsp as asn1_ocsp

    return ValidationContext(
        trust_roots=[asn1_x509.Certificate.load(der) for der in material.trust_roots_der],
        other_certs=[*(asn1_x509.Certificate.load(der) for der in material.other_certs_der), *document_certs],
        ocsps=[asn1_ocsp.OCSPResponse.load(der) for der in material.ocsp_responses_der],
        crls=[asn1_crl.CertificateList.load(der) for der in material.crls_der],
        allow_fetching=False,
        revocation_mode="soft-fail",
    )


def _reader(data: bytes) -> PdfFileReader:
    try:
        return PdfFileReader(io.BytesIO(data), strict=False)
    except Exception as error:  # pyHanko raises many kinds for a file that is not a PDF
        raise malformed(f"not a readable PDF: {error}") from None


def embedded_certificates(data: bytes) -> list[asn1_x509.Certificate]:
    """Every certificate the file's signatures and timestamps carry (signers, chains, TSAs)."""
    reader = _reader(data)
    found: dict[bytes, asn1_x509.Certificate] = {}
    for signature in reader.embedded_signatures:
        for signed_data in _signed_datas(signature):
            for choice in signed_data["certificates"] or ():
                if choice.name == "certificate":
                    found[choice.chosen.dump()] = choice.chosen
    return list(found.values())


def _has_signature_timestamp(signature: EmbeddedPdfSignature) -> bool:
    return len(_signed_datas(signature)) > 1


def _signed_datas(signature: EmbeddedPdfSignature) -> list[cms.SignedData]:
    datas = [signature.signed_data]
    unsigned = signature.signer_info["unsigned_attrs"]
    for attribute in unsigned or ():
        if attribute["type"].native == "signature_time_stamp_token":
            datas.extend(token["content"] for token in attribute["values"])
    return datas


def level_of(data: bytes) -> Level:
    """The baseline level every regular signature of the file reaches (the lowest of them)."""
    reader = _reader(data)
    signatures = reader.embedded_regular_signatures
    if not signatures:
        raise ServiceError(Kind.MALFORMED, "the file carries no signature to extend")
    has_dss = "/DSS" in reader.root
    document_timestamp = bool(reader.embedded_timestamp_signatures)
    levels = []
    for signature in signatures:
        timestamped = _has_signature_timestamp(signature) or _covered_by_timestamp(reader, signature)
        if not timestamped:
            levels.append(Level.B_B)
        elif not has_dss:
            levels.append(Level.B_T)
        elif _covered_by_timestamp(reader, signature, after_dss=True) and document_timestamp:
            levels.append(Level.B_LTA)
        else:
            levels.append(Level.B_LT)
    order = [Level.B_B, Level.B_T, Level.B_LT, Level.B_LTA]
    return min(levels, key=order.index)


def _covered_by_timestamp(
    reader: PdfFileReader, signature: EmbeddedPdfSignature, after_dss: bool = False
) -> bool:
    """A document timestamp was laid after the signature (and, with ``after_dss``, after a DSS)."""
    for timestamp in reader.embedded_timestamp_signatures:
        later = timestamp.signed_revision > signature.signed_revision
        if later and (not after_dss or timestamp.signed_revision > _first_dss_revision(reader, signature)):
            return True
    return False


def _first_dss_revision(reader: PdfFileReader, signature: EmbeddedPdfSignature) -> int:
    """The first revision after ``signature``'s that holds a DSS (a large number when none does)."""
    for revision in range(signature.signed_revision, reader.total_revisions):
        root = reader.get_historical_root(revision)
        if "/DSS" in root:
            return revision
    return 1 << 30


async def _gather(
    writer: IncrementalPdfFileWriter,
    signatures: Sequence[EmbeddedPdfSignature],
    context: ValidationContext,
    material: ValidationMaterial,
) -> list[tuple[EmbeddedPdfSignature, str | None]]:
    """Add each signature's validation data to the DSS in ``writer``; (signature, problem) for each."""
    outcomes: list[tuple[EmbeddedPdfSignature, str | None]] = []
    for signature in signatures:
        try:
            paths = await collect_validation_info(signature, context)
        except (PathBuildingError, PathValidationError) as error:
            outcomes.append((signature, _plain(error)))
            continue
        DocumentSecurityStore.supply_dss_in_writer(
            writer, signature.pkcs7_content, paths=paths, validation_context=context
        )
        outcomes.append((signature, _missing_revocation(paths, material)))
    return outcomes


def _missing_revocation(paths: list[ValidationPath], material: ValidationMaterial) -> str | None:
    """The first certificate on the paths (below its anchor) that no OCSP response or CRL of ``material``
    speaks for, as a sentence; None when each has its revocation data."""
    from asn1crypto import crl as asn1_crl
    from asn1crypto import ocsp as asn1_ocsp

    answered: set[int] = set()
    for der in material.ocsp_responses_der:
        basic = asn1_ocsp.OCSPResponse.load(der).basic_ocsp_response
        for single in basic["tbs_response_data"]["responses"]:
            answered.add(single["cert_id"]["serial_number"].native)
    listed_by = {asn1_crl.CertificateList.load(der).issuer.dump() for der in material.crls_der}
    for path in paths:
        for cert in path.iter_certs(include_root=False):
            if cert.serial_number not in answered and cert.issuer.dump() not in listed_by:
                return (
                    f"no revocation data for {cert.subject.human_friendly} here: it was issued by "
                    f"{cert.issuer.human_friendly}, a CA this service does not run"
                )
    return None


def _plain(error: Exception) -> str:
    text = str(error).strip() or type(error).__name__
    return f"its certificate chain could not be built or checked here: {text}"


async def extend(
    data: bytes, target: Level, material: ValidationMaterial, timestamper: TimeStamper | None
) -> Extended:
    """``data`` extended to ``target``: a document timestamp when a signature has none (B-B → B-T), the
    validation data of every signature and timestamp (→ B-LT), and a document timestamp over it all
    (→ B-LTA). A file at ``target`` already gets fresh validation data (B-LT) or a new timestamp."""
    if target is Level.B_B:
        raise malformed("b-b is where a signature starts; extend to b-t, b-lt or b-lta")
    before = level_of(data)
    context = context_of(material, embedded_certificates(data))
    steps: list[Step] = []
    output = io.BytesIO(data)
    problems: dict[str, str | None] = {}
    if before is Level.B_B:  # first the proof of existence every level above B-B has (§5.3)
        await _document_timestamp(output, timestamper, target, None)
        steps.append(Step.DOCUMENT_TIMESTAMP)
    if target.long_term:
        writer = IncrementalPdfFileWriter(output, strict=False)
        every = _reader(output.getvalue()).embedded_signatures  # the timestamps' TSAs need theirs too
        for signature, problem in await _gather(writer, every, context, material):
            problems[signature.field_name] = problem
        writer.write_in_place()
        steps.append(Step.VALIDATION_DATA)
    if target is Level.B_LTA:
        await _document_timestamp(output, timestamper, target, context)
        steps.append(Step.DOCUMENT_TIMESTAMP)
    result = output.getvalue()
    return Extended(result, before, level_of(result), tuple(steps), _facts(result, problems))


async def _document_timestamp(
    output: io.BytesIO, timestamper: TimeStamper | None, target: Level, context: ValidationContext | None
) -> None:
    """A document timestamp over all of ``output`` (written in place)."""
    if timestamper is None:
        raise ServiceError(Kind.UNAVAILABLE, f"{target} needs a timestamp authority; none is configured")
    output.seek(0)
    writer = IncrementalPdfFileWriter(output, strict=False)
    try:
        await PdfTimeStamper(timestamper).async_timestamp_pdf(
            writer, DIGEST, validation_context=context, in_place=True
        )
    except SigningError as error:
        raise ServiceError(Kind.UNAVAILABLE, f"no document timestamp could be made: {error}") from None


def _facts(data: bytes, problems: dict[str, str | None]) -> tuple[SignatureFacts, ...]:
    reader = _reader(data)
    facts = []
    for signature in reader.embedded_regular_signatures:
        cert = signature.signer_cert
        problem = problems.get(signature.field_name)
        facts.append(
            SignatureFacts(
                signature.field_name,
                cert.subject.human_friendly,
                cert.issuer.human_friendly,
                cert.serial_number,
                _has_signature_timestamp(signature) or _covered_by_timestamp(reader, signature),
                signature.field_name in problems and problem is None,
                problem,
            )
        )
    return tuple(facts)


# --- archive renewal -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class RenewalCheck:
    due: bool
    reason: str  # why (or why not), as a sentence


def renewal_due(data: bytes, now: dt.datetime, before: dt.timedelta = RENEW_BEFORE) -> RenewalCheck:
    """Whether the file's last document timestamp needs a new one laid over it: its TSA certificate
    expires within ``before`` or its digest or key is weak. A file without one is not an archive yet."""
    reader = _reader(data)
    timestamps = reader.embedded_timestamp_signatures
    if not timestamps:
        return RenewalCheck(False, "no document timestamp: not an archived (B-LTA) document; extend it first")
    last = timestamps[-1]
    cert = last.signer_cert
    not_after = cert["tbs_certificate"]["validity"]["not_after"].native
    digest = last.md_algorithm
    if digest in WEAK_DIGESTS:
        return RenewalCheck(True, f"the last document timestamp uses {digest.upper()}, a weak digest")
    public_key = cert.public_key
    if public_key.algorithm == "rsa" and public_key.bit_size < MIN_RSA_BITS:
        return RenewalCheck(
            True, f"the last document timestamp's key is RSA-{public_key.bit_size}, too short"
        )
    if not_after - now <= before:
        return RenewalCheck(True, f"the last timestamp's certificate expires {not_after:%Y-%m-%d}")
    return RenewalCheck(
        False, f"the last document timestamp's certificate is valid until {not_after:%Y-%m-%d}"
    )


async def renew(data: bytes, material: ValidationMaterial, timestamper: TimeStamper) -> bytes:
    """A new document timestamp over ``data``, with the validation data of the last one in the DSS."""
    output = io.BytesIO(data)
    reader = PdfFileReader(output, strict=False)
    context = context_of(material, embedded_certificates(data))
    try:
        await PdfTimeStamper(timestamper).async_update_archival_timestamp_chain(
            reader, context, in_place=True, default_md_algorithm=DIGEST
        )
    except SigningError as error:
        raise ServiceError(Kind.UNAVAILABLE, f"the archive timestamp could not be made: {error}") from None
    return output.getvalue()
