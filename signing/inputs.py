"""Refuse what must not be signed, before anything is signed: not a PDF, corrupt, encrypted, too large, or
carrying a signature that is already broken (signing over it would lend it credibility)."""

from __future__ import annotations

import logging
from typing import BinaryIO

from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.sign.general import SignedDataCerts
from pyhanko.sign.validation.generic_cms import validate_sig_integrity

from core.errors import Kind, ServiceError

log = logging.getLogger(__name__)


def _refuse(message: str, kind: Kind = Kind.MALFORMED) -> ServiceError:
    return ServiceError(kind, message)


def check_size(size: int, limit: int) -> None:
    if size > limit:
        raise _refuse(
            f"the document is {size / 1e6:.1f} MB; this service signs documents up to {limit / 1e6:.0f} MB",
            Kind.TOO_LARGE,
        )


def open_for_signing(stream: BinaryIO, *, name: str = "the document") -> IncrementalPdfFileWriter:
    """An incremental writer over ``stream``; ServiceError(MALFORMED) naming the reason otherwise."""
    stream.seek(0)
    head = stream.read(1024)
    stream.seek(0)
    if b"%PDF-" not in head:
        raise _refuse(f"{name} is not a PDF (it does not start with %PDF-)")
    try:
        writer = IncrementalPdfFileWriter(stream, strict=False)
    except (PdfError, ValueError, KeyError, IndexError, TypeError) as exc:
        raise _refuse(f"{name} is a damaged PDF that cannot be read: {_short(exc)}") from exc
    if writer.prev.encrypted:
        raise _refuse(f"{name} is encrypted; remove the password protection before signing")
    try:
        pages = int(writer.root["/Pages"]["/Count"])
    except (PdfError, KeyError, TypeError, ValueError) as exc:
        raise _refuse(f"{name} is a damaged PDF: its page tree cannot be read ({_short(exc)})") from exc
    if pages < 1:
        raise _refuse(f"{name} has no pages")
    check_existing_signatures(writer, name)
    check_certification(writer, name)
    return writer


def check_certification(writer: IncrementalPdfFileWriter, name: str) -> None:
    """A document certified "no changes allowed" (DocMDP P=1) takes no further signature: adding one would
    break its certification, so it is refused with that reason (pyHanko would raise deep in signing)."""
    from pyhanko.sign.fields import MDPPerm
    from pyhanko.sign.validation import read_certification_data

    try:
        certification = read_certification_data(writer.prev)
    except (PdfError, KeyError, TypeError, ValueError) as exc:
        raise _refuse(f"{name} has a certification signature that cannot be read: {_short(exc)}") from exc
    if certification is not None and certification.permission == MDPPerm.NO_CHANGES:
        raise _refuse(
            f'{name} is certified with "no changes allowed" (DocMDP P=1): any further signature would '
            "break its certification; ask its author for a version certified to allow signing, or an "
            "uncertified copy"
        )


def check_existing_signatures(writer: IncrementalPdfFileWriter, name: str) -> None:
    """Every earlier signature must still match the bytes it covers and verify with its certificate."""
    try:
        signatures = writer.prev.embedded_signatures
    except (PdfError, KeyError, TypeError, ValueError) as exc:
        raise _refuse(f"{name} has a signature field that cannot be read: {_short(exc)}") from exc
    for signature in signatures:
        label = f"the existing signature {signature.field_name!r}"
        try:
            digest = signature.compute_digest()
            if signature.sig_object_type == "/DocTimeStamp":
                intact = digest == signature.external_digest
                valid = intact
            else:
                intact, valid = validate_sig_integrity(
                    signature.signer_info, signature.signer_cert, "data", digest
                )
        except (PdfError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise _refuse(f"{label} in {name} is damaged: {_short(exc)}") from exc
        if not (intact and valid):
            raise _refuse(
                f"{label} in {name} is broken (the document was changed after it was signed); "
                "refusing to sign over it"
            )


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) < 200 else text[:197] + "..."


__all__ = ["SignedDataCerts", "check_size", "open_for_signing"]
