"""Documents the service itself issues under an agency's seal (invitation letters): sealed PAdES B-LT
with the agency-seal certificate held for the host's agency, shown as the text-only top-right block
(document number, agency, time) that Decree 30 uses for documents carrying only the agency's signature.

No one-time code: an agency seal applied by the system to a document the system generated is an
electronic seal of the organisation (the way e-seals stamp automatically issued documents), not a person's
signature; officials' own signatures always need their code (signing/authorizations.py).
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from signing import registry
from signing.pades import Level
from signing.service import Appearance, DocumentIn, SigningService, SignRequest


@dataclass(frozen=True)
class SealedDocument:
    pdf: bytes
    record: registry.RegisteredDocument

    @property
    def document_id(self) -> str:
        return self.record.id

    def register(self, session: Session) -> None:
        registry.record(session, self.record, None)


class DocumentSealer:
    """Seals generated PDFs for an account's agency; ``agency_seal`` finds (serial, agency) for an account."""

    def __init__(
        self,
        service: SigningService,
        agency_seal: Callable[[int], tuple[str, str]],
        *,
        reason: str,
        name: str,
    ) -> None:
        self.service, self.agency_seal, self.reason, self.name = service, agency_seal, reason, name

    def seal_for(self, account_id: int) -> tuple[str, str]:
        return self.agency_seal(account_id)

    def seal(self, seal: tuple[str, str], pdf: bytes, reference: str) -> SealedDocument:
        """Seal ``pdf``; runs its own event loop, so call it from a thread without one (a worker thread)."""
        key = self.service.keys.signing_key(seal[0])
        request = SignRequest(
            level=Level.B_LT, appearance=Appearance.ATTACHMENT, reference_number=reference, reason=self.reason
        )
        [out] = asyncio.run(self.service.sign(key, [DocumentIn(self.name, io.BytesIO(pdf))], request))
        return SealedDocument(out.output.read(), out.record)
