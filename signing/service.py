"""Signing documents end to end: check the inputs, sign each at the requested level with the requested
appearance, and describe the results for the registry. Keys and validation data come from a ``KeySource``
that api/ or cli/ builds over the CA (signing/ never imports ca/)."""

from __future__ import annotations

import asyncio
import enum
import hashlib
import tempfile
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import BinaryIO, Protocol

from asn1crypto import x509
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.sign.fields import enumerate_sig_fields
from pyhanko.sign.general import SigningError
from pyhanko.sign.timestamps.api import TimeStamper

from core.errors import malformed
from signing.cms import RawSigner, TemplateSigner
from signing.inputs import check_size, open_for_signing
from signing.pades import Level, PadesSigner, Placement, SignOptions, ValidationMaterial
from signing.registry import RegisteredDocument, new_document_id

_SIGNERS_CACHED = 256
_SPOOL_BYTES = 4 << 20
VALIDATION_REUSE_SECONDS = 300  # documents above this go through temporary files, not memory


class SigningKey(Protocol):  # read-only: ca.signing_keys.SigningKey is a frozen dataclass
    @property
    def serial(self) -> str: ...
    @property
    def purpose(self) -> str: ...  # sign | seal
    @property
    def signer(self) -> RawSigner: ...
    @property
    def certificate_der(self) -> bytes: ...
    @property
    def chain_der(self) -> Sequence[bytes]: ...
    @property
    def common_name(self) -> str: ...
    @property
    def organization(self) -> str | None: ...


class KeySource(Protocol):
    def signing_key(self, serial: str) -> SigningKey: ...

    def validation(self, serial: str) -> ValidationMaterial: ...


class Appearance(enum.StrEnum):
    OFFICIAL = "official"  # the signer's blue block
    SEAL = "seal"  # the agency's red seal over the left third of the official's block
    ATTACHMENT = "attachment"  # text-only top-right block for attachments
    INVISIBLE = "invisible"

    @classmethod
    def parse(cls, value: str) -> Appearance:
        try:
            return cls(value.strip().lower())
        except ValueError:
            raise malformed(
                f"unknown appearance {value!r}; choose official, seal, attachment or invisible"
            ) from None


@dataclass(frozen=True)
class SignRequest:
    level: Level = Level.B_LT
    appearance: Appearance = Appearance.OFFICIAL
    title: str | None = None  # the official's position, e.g. "Phó Chủ tịch"
    reference_number: str | None = None  # the document number, e.g. "123/QĐ-UBND"
    certify: bool = False
    page: int = -1
    reason: str | None = None
    location: str | None = None


@dataclass
class DocumentIn:
    name: str
    stream: BinaryIO
    sha256: str = ""
    size: int = 0

    def __post_init__(self) -> None:
        if not self.sha256 or not self.size:
            self.stream.seek(0)
            digest, size = hashlib.sha256(), 0
            while block := self.stream.read(1 << 20):
                digest.update(block)
                size += len(block)
            self.stream.seek(0)
            self.sha256, self.size = digest.hexdigest(), size


@dataclass
class DocumentOut:
    name: str
    record: RegisteredDocument
    output: BinaryIO = field(repr=False)


class SigningService:
    def __init__(
        self,
        keys: KeySource,
        *,
        timestamper: TimeStamper | None,
        verify_url_base: str,
        max_document_bytes: int,
        now: object,
    ) -> None:
        self.keys = keys
        self.timestamper = timestamper
        self.verify_url_base = verify_url_base.rstrip("/")
        self.max_document_bytes = max_document_bytes
        self._now = now  # a callable returning an aware datetime (the clock)
        self._signers: OrderedDict[tuple[str, bytes], PadesSigner] = OrderedDict()
        self._validation_cache: dict[str, tuple[float, ValidationMaterial]] = {}

    def pades_signer(self, key: SigningKey) -> PadesSigner:
        """One per certificate and process: the CMS template is encoded once, not per document."""
        cache_key = (key.serial, hashlib.sha256(key.certificate_der).digest())
        cached = self._signers.get(cache_key)
        if cached is not None:
            self._signers.move_to_end(cache_key)
            return cached
        template = TemplateSigner(
            key.signer,
            x509.Certificate.load(key.certificate_der),
            [x509.Certificate.load(der) for der in key.chain_der],
        )
        signer = PadesSigner(
            template, timestamper=self.timestamper, validation=lambda: self._validation(key.serial)
        )
        self._signers[cache_key] = signer
        if len(self._signers) > _SIGNERS_CACHED:
            self._signers.popitem(last=False)
        return signer

    def _validation(self, serial: str) -> ValidationMaterial:
        """Validation data for B-LT, reused for a few minutes: the OCSP responses in it stay valid for hours,
        and whether the key may sign at all is checked on every request (``KeySource.signing_key``)."""
        now = time.monotonic()
        cached = self._validation_cache.get(serial)
        if cached is not None and now - cached[0] < VALIDATION_REUSE_SECONDS:
            return cached[1]
        material = self.keys.validation(serial)
        self._validation_cache[serial] = (now, material)
        return material

    def check_documents(self, documents: Sequence[DocumentIn]) -> list[IncrementalPdfFileWriter]:
        """Open and check every document before any is signed: one bad file and nothing is signed."""
        if not documents:
            raise malformed("send at least one PDF document")
        writers = []
        for document in documents:
            check_size(document.size, self.max_document_bytes)
            writers.append(open_for_signing(document.stream, name=document.name))
        return writers

    async def sign(
        self, key: SigningKey, documents: Sequence[DocumentIn], request: SignRequest
    ) -> list[DocumentOut]:
        signer = self.pades_signer(key)
        signer.check_level(request.level)
        # Parsing and writing a PDF is pure CPU in pyHanko (only the digest's signature is awaited): on the
        # event loop, one crafted 6 MB file (a form of a million field references) stalled every request of
        # the worker for 14 s. So the documents are opened, and each is signed on its own loop, in a thread.
        writers = await asyncio.to_thread(self.check_documents, documents)
        results = []
        for document, writer in zip(documents, writers, strict=True):
            document_id = new_document_id()
            output = tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES)  # noqa: SIM115 - returned open
            options = self._options(key, writer, document_id, request)
            try:
                await asyncio.to_thread(asyncio.run, signer.sign(writer, output, options))
            except PdfError as exc:  # objects are read lazily: damage can surface only while signing
                output.close()
                raise malformed(f"{document.name} is a damaged PDF: {str(exc)[:200]}") from exc
            except SigningError as exc:  # what pyHanko refuses to sign (certification, seed values, locks)
                output.close()
                raise malformed(f"{document.name} cannot be signed: {str(exc)[:200]}") from exc
            except AssertionError as exc:  # pyHanko asserts the form's shape: a /Fields entry not a reference
                output.close()
                raise malformed(f"{document.name} is a damaged PDF: its form fields are malformed") from exc
            output.seek(0)
            signed = await asyncio.to_thread(DocumentIn, document.name, output)  # hashes, measures the output
            results.append(
                DocumentOut(
                    document.name,
                    RegisteredDocument(
                        id=document_id,
                        sha256=signed.sha256,
                        input_sha256=document.sha256,
                        size=signed.size,
                        kind=_kind(key, request),
                        level=request.level.value,
                        certificate_serial=key.serial,
                        signer_name=key.common_name,
                        organization=key.organization,
                        reference_number=request.reference_number,
                        signed_at=self._now(),
                    ),
                    output,
                )
            )
        return results

    def verify_url(self, document_id: str) -> str:
        return f"{self.verify_url_base}/verify/{document_id}"

    def _options(
        self, key: SigningKey, writer: IncrementalPdfFileWriter, document_id: str, request: SignRequest
    ) -> SignOptions:
        placement = None
        if request.appearance is not Appearance.INVISIBLE:
            placement = _placement(key, writer, request, self.verify_url(document_id))
        return SignOptions(
            level=request.level,
            placement=placement,
            certify=request.certify,
            reason=request.reason,
            location=request.location,
            name=key.common_name,
        )


def _kind(key: SigningKey, request: SignRequest) -> str:
    if request.appearance is Appearance.SEAL or key.purpose == "seal":
        return "seal"
    return "attachment" if request.appearance is Appearance.ATTACHMENT else "official"


def _placement(
    key: SigningKey, writer: IncrementalPdfFileWriter, request: SignRequest, verify_url: str
) -> Placement:
    from signing.appearance import StampContent, stamp_box, stamp_style

    pages = int(writer.root["/Pages"]["/Count"])
    page_index = request.page if request.page >= 0 else pages + request.page
    if not 0 <= page_index < pages:
        raise malformed(f"page {request.page} does not exist; the document has {pages} page(s)")
    width, height = _page_size(writer, page_index)
    kind = request.appearance.value
    over = _last_official_box(writer, page_index) if request.appearance is Appearance.SEAL else None
    if request.appearance is Appearance.SEAL and over is None:
        raise malformed(
            "the seal goes over an official's signature block, and this page has none; "
            "sign it first or choose another appearance"
        )
    content = StampContent(
        kind=kind,
        signer_name=key.organization
        if request.appearance is Appearance.SEAL and key.organization
        else key.common_name,
        title=request.title,
        agency=key.organization,
        document_number=request.reference_number,
        verify_url=verify_url,
    )
    box = stamp_box(kind, width, height, over=over) if over is not None else stamp_box(kind, width, height)
    return Placement(box=box, style=stamp_style(content), page=page_index)


def _page_size(writer: IncrementalPdfFileWriter, page_index: int) -> tuple[float, float]:
    page = writer.find_page_for_modification(page_index)[0].get_object()
    for _ in range(32):  # /MediaBox may be inherited from the page tree
        media_box = page.get("/MediaBox")
        if media_box is not None or "/Parent" not in page:
            break
        page = page["/Parent"]
    if media_box is None:
        raise malformed(f"page {page_index + 1} has no /MediaBox; the document is damaged")
    x1, y1, x2, y2 = (float(v) for v in media_box)
    return abs(x2 - x1), abs(y2 - y1)


def _last_official_box(
    writer: IncrementalPdfFileWriter, page_index: int
) -> tuple[float, float, float, float] | None:
    """The rectangle of the latest visible signature on ``page_index`` (the block a seal goes over)."""
    page_ref = writer.find_page_for_modification(page_index)[0]
    box = None
    for _, _, field_ref in enumerate_sig_fields(writer.prev, filled_status=True):
        widget = field_ref.get_object()
        if widget.get("/P") is not None and widget.raw_get("/P") != page_ref:
            continue
        rect = widget.get("/Rect")
        if rect is None:
            continue
        x1, y1, x2, y2 = (float(v) for v in rect)
        if x2 - x1 > 1 and y2 - y1 > 1:
            box = (min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2))
    return box
