"""PAdES baseline signing (ETSI EN 319 142-1) on pyHanko's async API: B-B, B-T, B-LT and B-LTA.

One ``PadesSigner`` per signing certificate and process: its CMS template (signing/cms.py) is built once.
The size of the signature container is reserved from the certificate chain and the level, so pyHanko never
signs a dry run to estimate it.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO, Protocol

from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.writer import BasePdfFileWriter
from pyhanko.sign.fields import MDPPerm, SigFieldSpec, SigSeedSubFilter
from pyhanko.sign.general import SigningError
from pyhanko.sign.signers import constants
from pyhanko.sign.signers.pdf_signer import PdfSignatureMetadata, PdfSigner
from pyhanko.sign.timestamps.api import TimeStamper
from pyhanko.stamp import BaseStampStyle
from pyhanko_certvalidator import ValidationContext

from core.errors import Kind, ServiceError
from signing.cms import TemplateSigner
from signing.form_appearances import prepare_form_appearances

_BASE_CONTAINER = 2048  # SignedData framing, attributes and a signature, with room to spare
_TIMESTAMP_TOKEN = 6144  # a token carries the TSA's certificate (certReq) and its CMS


class Level(enum.StrEnum):
    B_B = "b-b"
    B_T = "b-t"
    B_LT = "b-lt"
    B_LTA = "b-lta"

    @property
    def timestamped(self) -> bool:
        return self is not Level.B_B

    @property
    def long_term(self) -> bool:
        return self in (Level.B_LT, Level.B_LTA)

    @classmethod
    def parse(cls, value: str) -> Level:
        try:
            return cls(value.strip().lower().replace("_", "-"))
        except ValueError:
            raise ServiceError(
                Kind.MALFORMED, f"unknown PAdES level {value!r}; choose one of b-b, b-t, b-lt, b-lta"
            ) from None


class ValidationMaterial(Protocol):
    """What a B-LT signature embeds in the DSS: trust anchors, chains, fresh OCSP responses and CRLs (DER).

    Gathered by the caller from Kyso's own CA; nothing is fetched over the network while signing.
    """

    @property
    def trust_roots_der(self) -> Sequence[bytes]: ...
    @property
    def other_certs_der(self) -> Sequence[bytes]: ...
    @property
    def ocsp_responses_der(self) -> Sequence[bytes]: ...
    @property
    def crls_der(self) -> Sequence[bytes]: ...


def validation_context(material: ValidationMaterial) -> ValidationContext:
    return ValidationContext(
        trust_roots=[x509.Certificate.load(der) for der in material.trust_roots_der],
        other_certs=[x509.Certificate.load(der) for der in material.other_certs_der],
        ocsps=[asn1_ocsp.OCSPResponse.load(der) for der in material.ocsp_responses_der],
        crls=[asn1_crl.CertificateList.load(der) for der in material.crls_der],
        allow_fetching=False,
        revocation_mode="hard-fail",
    )


@dataclass(frozen=True)
class Placement:
    """A visible signature: the page (0-based, negative counts from the end), the box and its style."""

    box: tuple[float, float, float, float]
    style: BaseStampStyle
    page: int = -1


@dataclass(frozen=True)
class SignOptions:
    level: Level = Level.B_LT
    placement: Placement | None = None  # None: an invisible signature
    certify: bool = False  # DocMDP: later changes limited to form filling and signatures
    field_name: str | None = None
    reason: str | None = None
    location: str | None = None
    name: str | None = None
    text_params: dict[str, str] = field(default_factory=dict)


class PadesSigner:
    """Signs PDFs with one certificate at any baseline level."""

    def __init__(
        self,
        signer: TemplateSigner,
        *,
        timestamper: TimeStamper | None = None,
        validation: Callable[[], ValidationMaterial] | None = None,
    ) -> None:
        self.cms = signer
        self.timestamper = timestamper
        self.validation = validation
        certificates = len(signer.signing_cert.dump()) + sum(len(c.dump()) for c in signer.cert_registry)
        self._reserve_bb = _round_up(_BASE_CONTAINER + certificates)
        self._reserve_bt = self._reserve_bb + _TIMESTAMP_TOKEN

    def check_level(self, level: Level) -> None:
        if level.timestamped and self.timestamper is None:
            raise ServiceError(
                Kind.UNAVAILABLE, f"{level} needs a timestamp authority, and none is configured"
            )
        if level.long_term and self.validation is None:
            raise ServiceError(
                Kind.UNAVAILABLE, f"{level} needs validation data, and no source is configured"
            )

    async def sign(self, writer: IncrementalPdfFileWriter, output: BinaryIO, options: SignOptions) -> None:
        """Append the signature as an incremental update of ``writer``'s document, written to ``output``."""
        level = options.level
        self.check_level(level)
        field_name = options.field_name or _free_field_name(writer)
        context = validation_context(self.validation()) if level.long_term and self.validation else None
        metadata = PdfSignatureMetadata(
            field_name=field_name,
            md_algorithm=self.cms.digest_algorithm,
            subfilter=SigSeedSubFilter.PADES,
            certify=options.certify,
            docmdp_permissions=MDPPerm.FILL_FORMS,
            reason=options.reason,
            location=options.location,
            name=options.name,
            embed_validation_info=level.long_term,
            use_pades_lta=level is Level.B_LTA,
            validation_context=context,
        )
        placement = options.placement
        field_spec = None
        if placement is not None:
            page = placement.page if placement.page >= 0 else _page_count(writer) + placement.page
            field_spec = SigFieldSpec(sig_field_name=field_name, on_page=page, box=placement.box)
        prepare_form_appearances(writer)
        pdf_signer = _VersionKeepingSigner(
            metadata,
            self.cms,
            timestamper=self.timestamper if level.timestamped else None,
            stamp_style=placement.style if placement is not None else None,
            new_field_spec=field_spec,
        )
        await pdf_signer.async_sign_pdf(
            writer,
            bytes_reserved=self._reserve_bt if level.timestamped else self._reserve_bb,
            appearance_text_params=options.text_params or None,
            output=output,
        )


class _VersionKeepingSigner(PdfSigner):
    """pyHanko declares ISO/TS 32002 (a PDF 2.0 extension) for every ECDSA P-256/P-384 key, which turns a
    PDF 1.7 or PDF/A-2 input into a "/Version /2.0" document. ECDSA is an algorithm PAdES itself allows
    (ETSI TS 119 312) and every validator here reads it in a 1.7 file, so only what the signature needs is
    declared: PAdES' ESIC extension to 1.7 ("ETSI.CAdES.detached"). EdDSA and SHA-3, which only PDF 2.0
    defines, keep pyHanko's declarations."""

    def register_extensions(self, pdf_out: BasePdfFileWriter, *, md_algorithm: str) -> None:
        try:
            mechanism = self.signer.get_signature_mechanism_for_digest(md_algorithm).signature_algo
        except (SigningError, ValueError):
            mechanism = None
        if mechanism in ("ecdsa", "rsassa_pkcs1v15", "rsassa_pss") and not (
            md_algorithm.startswith("sha3_") or md_algorithm == "shake256"
        ):
            if self.signature_meta.subfilter == SigSeedSubFilter.PADES:
                pdf_out.ensure_output_version(version=(1, 7))
                if pdf_out.output_version < (2, 0):
                    pdf_out.register_extension(constants.ESIC_EXTENSION_1)
            return
        super().register_extensions(pdf_out, md_algorithm=md_algorithm)


def _round_up(size: int, block: int = 256) -> int:
    return -(-size // block) * block  # pyHanko needs an even size; whole blocks keep it readable


def _page_count(writer: IncrementalPdfFileWriter) -> int:
    return int(writer.root["/Pages"]["/Count"])


def _free_field_name(writer: IncrementalPdfFileWriter) -> str:
    from pyhanko.sign.fields import enumerate_sig_fields

    taken = {name for name, _, _ in enumerate_sig_fields(writer.prev, filled_status=None)}
    number = len(taken) + 1
    while f"Signature{number}" in taken:
        number += 1
    return f"Signature{number}"


def sha256_of_stream(stream: BinaryIO, chunk: int = 1 << 20) -> str:
    stream.seek(0)
    digest = hashlib.sha256()
    while block := stream.read(chunk):
        digest.update(block)
    stream.seek(0)
    return digest.hexdigest()
