"""/api/v1/signing: remote signing with keys held by the service (CSC-API "SCAL2" style).

1. ``POST /authorizations``: the signer confirms the documents' SHA-256 hashes with a fresh TOTP code.
2. ``POST /sign``: the PDFs and the authorisation id → the signed PDF (one) or a ZIP (several).
   ``POST /sign-hash``: for integrators who keep the PDF: the byte-range digest → a CMS signature.
Every signature, and every refusal, is in the audit log. The use cases are services/signing.py's: this
router parses the request, calls them as the caller, and renders what they return.
"""

from __future__ import annotations

import base64
import io
import unicodedata
import urllib.parse
import zipfile
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field

from api.auth import require, require_any
from api.deps import KysoDep, actor_of
from core.clock import display
from core.errors import not_found
from identity.permissions import Permission
from identity.sessions import Principal
from services import signing as signing_service
from signing import registry

router = APIRouter(prefix="/api/v1/signing", tags=["signing"])

Caller = Annotated[Principal, Depends(require(Permission.SELF))]
# People sign with their role's documents:sign / documents:seal; integrators' API keys with those scopes
Signer = Annotated[Principal, Depends(require_any(Permission.DOCUMENTS_SIGN, Permission.DOCUMENTS_SEAL))]
Binder = Annotated[Principal, Depends(require(Permission.CERTIFICATES_ISSUE))]


class CredentialOut(BaseModel):
    id: str
    certificate_serial: str
    purpose: str


class BindIn(BaseModel):
    username: str = Field(max_length=64)
    certificate_serial: str = Field(max_length=64)


class DocumentHash(BaseModel):
    sha256: str = Field(max_length=96, description="hex SHA-256 of the PDF (SHA-384 digests for sign-hash)")
    name: str | None = Field(default=None, max_length=200)


class AuthorizationIn(BaseModel):
    documents: list[DocumentHash] = Field(min_length=1, max_length=1000)
    code: str = Field(max_length=20, description="the signer's current authenticator code")
    credential_id: str | None = Field(default=None, max_length=32)
    on_behalf_of: str | None = Field(
        default=None, max_length=64, description="integrators (service accounts): the signer's username"
    )


class AuthorizationOut(BaseModel):
    id: str
    credential_id: str
    document_hashes: list[str]
    expires_at: str


class SignHashIn(BaseModel):
    authorization_id: str = Field(max_length=64)
    hashes: list[str] = Field(min_length=1, max_length=1000)
    level: str = Field(default="b-b", description="b-b or b-t (a signature timestamp from Kyso's TSA)")


class HashSignature(BaseModel):
    hash: str
    cms_base64: str


class SignHashOut(BaseModel):
    certificate_serial: str
    signatures: list[HashSignature]


@router.get(
    "/credentials", response_model=list[CredentialOut], summary="Your signing certificates in custody"
)
def my_credentials(kyso: KysoDep, principal: Caller) -> list[CredentialOut]:
    return [CredentialOut(**c.__dict__) for c in signing_service.credentials_of(kyso, principal.account_id)]


@router.post("/credentials", status_code=201, response_model=CredentialOut,
             summary="Let an account sign with a certificate held in custody")  # fmt: skip
def bind_credential(body: BindIn, kyso: KysoDep, principal: Binder, request: Request) -> CredentialOut:
    bound = signing_service.bind_credential(
        kyso, actor_of(request, principal), body.username, body.certificate_serial
    )
    return CredentialOut(**bound.__dict__)


@router.post("/authorizations", status_code=201, response_model=AuthorizationOut,
             summary="Confirm documents for signing with a one-time code")  # fmt: skip
def authorize(body: AuthorizationIn, kyso: KysoDep, principal: Signer, request: Request) -> AuthorizationOut:
    granted = signing_service.authorize(
        kyso, actor_of(request, principal), principal, hashes=[d.sha256 for d in body.documents],
        code=body.code, credential_id=body.credential_id, on_behalf_of=body.on_behalf_of,
    )  # fmt: skip
    return AuthorizationOut(
        id=granted.id,
        credential_id=granted.credential_id,
        document_hashes=granted.document_hashes,
        expires_at=display(granted.expires_at),
    )


@router.post(
    "/sign",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}, "application/zip": {}},
                     "description": "The signed PDF, or a ZIP of them when several were sent"}},
    summary="Sign PDFs confirmed by an authorisation",
)  # fmt: skip
async def sign(
    request: Request,
    kyso: KysoDep,
    principal: Signer,
    documents: Annotated[list[UploadFile], File(description="one or more PDF files")],
    authorization_id: Annotated[str, Form(max_length=64)],
    level: Annotated[str, Form()] = "b-lt",
    appearance: Annotated[str, Form(description="official, seal, attachment or invisible")] = "official",
    title: Annotated[str | None, Form(max_length=100)] = None,
    reference_number: Annotated[str | None, Form(max_length=100)] = None,
    certify: Annotated[bool, Form()] = False,
    page: Annotated[int, Form()] = -1,
) -> Response:
    signed = await signing_service.sign(
        kyso, actor_of(request, principal), principal, authorization_id, documents, level=level,
        appearance=appearance, title=title, reference_number=reference_number, certify=certify, page=page,
    )  # fmt: skip
    if len(signed) == 1:
        [only] = signed
        headers = {
            "X-Kyso-Document-Id": only.record.id,
            "X-Kyso-Verify-Url": kyso.signing.verify_url(only.record.id),
            "Content-Disposition": _attachment(_signed_name(only.name)),
        }
        return StreamingResponse(_chunks(only.output), media_type="application/pdf", headers=headers)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as bundle:
        for item in signed:
            bundle.writestr(f"{item.record.id}-{_signed_name(item.name)}", item.output.read())
    return Response(archive.getvalue(), media_type="application/zip",
                    headers={"X-Kyso-Document-Ids": ",".join(s.record.id for s in signed)})  # fmt: skip


@router.post("/sign-hash", response_model=SignHashOut, summary="Sign document digests (CSC signHash style)")
async def sign_hash(body: SignHashIn, request: Request, kyso: KysoDep, principal: Signer) -> SignHashOut:
    made = await signing_service.sign_hash(
        kyso, actor_of(request, principal), principal, body.authorization_id, body.hashes, body.level
    )
    return SignHashOut(
        certificate_serial=made.certificate_serial,
        signatures=[
            HashSignature(hash=h, cms_base64=base64.b64encode(cms).decode()) for h, cms in made.signatures
        ],
    )


@router.get("/documents/{document_id}", summary="What Kyso signed under this id (the QR on a stamp)")
def signed_document(document_id: str, kyso: KysoDep) -> dict[str, object]:
    with kyso.db.reading() as session:
        found = registry.find(session, document_id[:40])
    if found is None:
        raise not_found("no document signed by this service has that id")
    return found.as_json()


def _signed_name(name: str) -> str:
    stem = name.rsplit("/", 1)[-1].rsplit(".", 1)[0] or "document"
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in stem)[:100]
    return f"{safe}-signed.pdf"


def _attachment(filename: str) -> str:
    """A Content-Disposition for ``filename`` (RFC 6266): HTTP header values are Latin-1, so a name such as
    ``Công_văn-signed.pdf`` goes in ``filename*`` as UTF-8, with an ASCII ``filename`` for old clients
    (before, building the header failed after the document was signed: 500, the PDF lost)."""
    ascii_name = "".join(
        ch if ch.isascii() and (ch.isalnum() or ch in "-_.") else "_"
        for ch in unicodedata.normalize("NFKD", filename.replace("đ", "d").replace("Đ", "D"))
        if not unicodedata.combining(ch)
    )
    if ascii_name == filename:
        return f'attachment; filename="{filename}"'
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{urllib.parse.quote(filename, safe='')}"


def _chunks(stream, size: int = 1 << 20):
    stream.seek(0)
    while block := stream.read(size):
        yield block
    stream.close()
