"""pyHanko's validator as a relying party would run it: trust only the test root, never fetch."""

from __future__ import annotations

import io
from dataclasses import dataclass

from asn1crypto import x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko_certvalidator import ValidationContext


@dataclass(frozen=True)
class PyhankoVerdict:
    field: str
    kind: str  # signature | timestamp
    intact: bool
    valid: bool
    trusted: bool
    revocation_checked: bool  # hard-fail against the DSS only
    modification_level: str | None
    docmdp_ok: bool | None
    timestamp_trusted: bool | None


def pyhanko_verdicts(pdf: bytes, root: x509.Certificate) -> list[PyhankoVerdict]:
    reader = PdfFileReader(io.BytesIO(pdf))
    try:
        dss = DocumentSecurityStore.read_dss(reader)
    except Exception:  # no DSS: nothing to check revocation against
        dss = None
    verdicts = []
    for signature in reader.embedded_signatures:
        kwargs = {"trust_roots": [root], "allow_fetching": False}
        if dss is not None:
            context = dss.as_validation_context({**kwargs, "revocation_mode": "hard-fail"})
            hard = True
        else:
            context = ValidationContext(**kwargs, revocation_mode="soft-fail")
            hard = False
        if signature.sig_object_type == "/DocTimeStamp":
            status = validate_pdf_timestamp(signature, validation_context=context)
            verdicts.append(
                PyhankoVerdict(signature.field_name, "timestamp", status.intact, status.valid, status.trusted,
                               hard, None, None, None)
            )  # fmt: skip
            continue
        status = validate_pdf_signature(
            signature, signer_validation_context=context, ts_validation_context=context
        )
        level = status.modification_level.name if status.modification_level is not None else None
        ts = status.timestamp_validity
        verdicts.append(
            PyhankoVerdict(signature.field_name, "signature", status.intact, status.valid, status.trusted, hard,
                           level, status.docmdp_ok, ts.trusted if ts is not None else None)
        )  # fmt: skip
    return verdicts
