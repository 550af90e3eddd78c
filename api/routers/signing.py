"""/api/v1/signing: remote signing with keys held by the service (CSC-API "SCAL2" style).

1. ``POST /authorizations``: the signer confirms the documents' SHA-256 hashes with a fresh TOTP code.
2. ``POST /sign``: the PDFs and the authorisation id → the signed PDF (one) or a ZIP (several).
   ``POST /sign-hash``: for integrators who keep the PDF: the byte-range digest → a CMS signature.
Every signature, and every refusal, is in the audit log.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import zipfile
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.auth import client_address, require, require_any
from api.deps import RuntimeDep
from ca.runtime import CaRuntime
from core.clock import display
from core.errors import Kind, ServiceError, malformed, not_found
from identity import accounts, audit, lockout
from identity.permissions import Permission, permissions_of
from identity.sessions import Principal
from signing import authorizations, credentials, registry
from signing.pades import Level
from signing.service import Appearance, DocumentIn, SigningService, SignRequest
from store.models import Account

router = APIRouter(prefix="/api/v1/signing", tags=["signing"])

Caller = Annotated[Principal, Depends(require(Permission.SELF))]
# People sign with their role's documents:sign / documents:seal; integrators' API keys with those scopes
Signer = Annotated[Principal, Depends(require_any(Permission.DOCUMENTS_SIGN, Permission.DOCUMENTS_SEAL))]
Binder = Annotated[Principal, Depends(require(Permission.CERTIFICATES_ISSUE))]
PERMISSION_FOR = {"sign": Permission.DOCUMENTS_SIGN, "seal": Permission.DOCUMENTS_SEAL}
SIGNED_FOR_ROLES = ("official", "clerk", "citizen")  # whom an integrator may sign on behalf of


def signing_service(request: Request) -> SigningService:
    return request.app.state.signing


ServiceDep = Annotated[SigningService, Depends(signing_service)]


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


def _record_refusal(
    runtime: CaRuntime, request: Request, principal: Principal, action: str, exc: ServiceError
) -> None:
    with runtime.db.transaction() as session:
        audit.append(
            session, clock=runtime.ca.clock, actor=principal.username, action=action, outcome="refused",
            source=client_address(request), details={"reason": exc.message[:300]},
        )  # fmt: skip


@router.get(
    "/credentials", response_model=list[CredentialOut], summary="Your signing certificates in custody"
)
def my_credentials(runtime: RuntimeDep, principal: Caller) -> list[CredentialOut]:
    with runtime.db.reading() as session:
        return [CredentialOut(**c.__dict__) for c in credentials.of_account(session, principal.account_id)]


@router.post("/credentials", status_code=201, response_model=CredentialOut,
             summary="Let an account sign with a certificate held in custody")  # fmt: skip
def bind_credential(body: BindIn, runtime: RuntimeDep, principal: Binder, request: Request) -> CredentialOut:
    with runtime.db.transaction() as session:
        account = accounts.get(session, body.username)
        bound = credentials.bind(
            session, account=account, serial=body.certificate_serial, now=runtime.ca.clock.now()
        )
        audit.append(
            session, clock=runtime.ca.clock, actor=principal.username, action="signing.credential.bind",
            target=account.username, source=client_address(request),
            details={"serial": bound.certificate_serial, "purpose": bound.purpose},
        )  # fmt: skip
        return CredentialOut(**bound.__dict__)


@router.post("/authorizations", status_code=201, response_model=AuthorizationOut,
             summary="Confirm documents for signing with a one-time code")  # fmt: skip
def authorize(
    body: AuthorizationIn, runtime: RuntimeDep, principal: Signer, request: Request
) -> AuthorizationOut:
    settings = runtime.settings
    try:
        with runtime.db.transaction() as session:
            account = _signer(session, principal, body.on_behalf_of)
            now = runtime.ca.clock.now()
            credential = credentials.choose(session, account.id, body.credential_id, now=now)
            needed = PERMISSION_FOR[credential.purpose]
            if not principal.can(needed):
                raise ServiceError(Kind.FORBIDDEN, f"your account may not {credential.purpose} documents")
            if needed not in permissions_of(account.role):  # an integrator's key is not more than its signer
                raise ServiceError(
                    Kind.FORBIDDEN, f"{account.username}'s role may not {credential.purpose} documents"
                )
            hashes = authorizations.clean_hashes(
                (d.sha256 for d in body.documents), settings.signing_batch_max
            )
            if account.totp_secret is None or not account.totp_confirmed:
                raise ServiceError(
                    Kind.CONFLICT, "the signer has no authenticator app enrolled; enrol one first"
                )
            now = runtime.ca.clock.now()
            # counted per account (identity/lockout.py); a wrong code is committed before it is refused
            box, source = request.app.state.secret_box, client_address(request)
            granted = None
            if lockout.check_code(
                session, runtime.ca.clock, box, account, body.code, where="signing.authorize", source=source
            ):
                granted = authorizations.grant(
                    session, account_id=account.id, requested_by=principal.account_id,
                    credential_id=credential.id, hashes=hashes, now=now,
                    lifetime=dt.timedelta(minutes=settings.signing_authorization_minutes),
                )  # fmt: skip
                audit.append(
                    session, clock=runtime.ca.clock, actor=principal.username, action="signing.authorize",
                    target=account.username, source=client_address(request),
                    details={"authorization": granted.id, "documents": hashes, "credential": credential.id},
                )  # fmt: skip
        if granted is None:
            raise ServiceError(
                Kind.FORBIDDEN, "the code is wrong, expired or already used; nothing was authorised"
            )
    except ServiceError as exc:
        _record_refusal(runtime, request, principal, "signing.authorize", exc)
        raise
    return AuthorizationOut(
        id=granted.id,
        credential_id=granted.credential_id,
        document_hashes=granted.document_hashes,
        expires_at=display(granted.expires_at),
    )


def _signer(session: Session, principal: Principal, on_behalf_of: str | None) -> Account:
    """Whose credential an authorisation is for: the caller's own, or, for an integrator (a service
    account's API key), the signer named by ``on_behalf_of`` — an enabled official, clerk or citizen, who
    still confirms with their own code."""
    if principal.role != "service":
        if on_behalf_of is not None and on_behalf_of.strip().lower() != principal.username:
            raise ServiceError(Kind.FORBIDDEN, "only integrators' service accounts sign on behalf of others")
        return accounts.get(session, principal.username)
    if on_behalf_of is None:
        raise malformed("an integrator signs on behalf of a signer: name their username in on_behalf_of")
    account = accounts.get(session, on_behalf_of)
    if account.role not in SIGNED_FOR_ROLES:
        raise ServiceError(
            Kind.FORBIDDEN,
            f"an integrator signs only for {', '.join(SIGNED_FOR_ROLES)} accounts; "
            f"{account.username} is a {account.role} account",
        )
    if account.disabled:
        raise ServiceError(
            Kind.FORBIDDEN, f"account {account.username} is disabled; nothing is signed for it"
        )
    return account


def _prepare(runtime: CaRuntime, service: SigningService, principal: Principal, authorization_id: str,
             hashes: list[str]):  # fmt: skip
    """The authorisation (checked, not yet consumed) and the key of its credential, usable now."""
    with runtime.db.reading() as session:
        granted = authorizations.check(
            session,
            authorization_id,
            caller_id=principal.account_id,
            hashes=hashes,
            now=runtime.ca.clock.now(),
        )
        credential = next(
            (c for c in credentials.of_account(session, granted.account_id) if c.id == granted.credential_id),
            None,
        )
        signer = session.get(Account, granted.account_id)
    if signer is None or signer.disabled:
        raise ServiceError(Kind.FORBIDDEN, "the signer's account is disabled; nothing is signed for it")
    if credential is None:
        raise ServiceError(Kind.FORBIDDEN, "the credential of this authorisation is no longer available")
    if not principal.can(PERMISSION_FOR[credential.purpose]):
        raise ServiceError(Kind.FORBIDDEN, f"your account may not {credential.purpose} documents")
    return granted, service.keys.signing_key(credential.certificate_serial)


def _finish(runtime: CaRuntime, request: Request, principal: Principal, authorization_id: str,
            records: list[registry.RegisteredDocument], account_id: int) -> None:  # fmt: skip
    """Consume the authorisation and register every signature in one transaction: all or nothing."""
    with runtime.db.transaction() as session:
        authorizations.consume(session, authorization_id, now=runtime.ca.clock.now())
        for record in records:
            registry.record(session, record, account_id)
            audit.append(
                session, clock=runtime.ca.clock, actor=principal.username, action="document.sign",
                target=record.id, source=client_address(request),
                details={"sha256": record.sha256, "input_sha256": record.input_sha256, "level": record.level,
                         "serial": record.certificate_serial, "kind": record.kind,
                         "authorization": authorization_id},
            )  # fmt: skip


@router.post(
    "/sign",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}, "application/zip": {}},
                     "description": "The signed PDF, or a ZIP of them when several were sent"}},
    summary="Sign PDFs confirmed by an authorisation",
)  # fmt: skip
async def sign(
    request: Request,
    runtime: RuntimeDep,
    service: ServiceDep,
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
    try:
        sign_request = SignRequest(
            level=Level.parse(level), appearance=Appearance.parse(appearance), title=title,
            reference_number=reference_number, certify=certify, page=page,
        )  # fmt: skip
        inputs = []
        for upload in documents:
            if upload.size is not None and upload.size > service.max_document_bytes:
                raise ServiceError(Kind.TOO_LARGE, f"{upload.filename} is larger than this service signs")
            inputs.append(await run_in_threadpool(DocumentIn, upload.filename or "document.pdf", upload.file))
        granted, key = await run_in_threadpool(
            _prepare, runtime, service, principal, authorization_id, [d.sha256 for d in inputs]
        )
        signed = await service.sign(key, inputs, sign_request)
        await run_in_threadpool(
            _finish,
            runtime,
            request,
            principal,
            authorization_id,
            [s.record for s in signed],
            granted.account_id,
        )
    except ServiceError as exc:
        await run_in_threadpool(_record_refusal, runtime, request, principal, "document.sign", exc)
        raise
    if len(signed) == 1:
        [only] = signed
        headers = {
            "X-Kyso-Document-Id": only.record.id,
            "X-Kyso-Verify-Url": service.verify_url(only.record.id),
            "Content-Disposition": f'attachment; filename="{_signed_name(only.name)}"',
        }
        return StreamingResponse(_chunks(only.output), media_type="application/pdf", headers=headers)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as bundle:
        for item in signed:
            bundle.writestr(f"{item.record.id}-{_signed_name(item.name)}", item.output.read())
    return Response(archive.getvalue(), media_type="application/zip",
                    headers={"X-Kyso-Document-Ids": ",".join(s.record.id for s in signed)})  # fmt: skip


@router.post("/sign-hash", response_model=SignHashOut, summary="Sign document digests (CSC signHash style)")
async def sign_hash(
    body: SignHashIn, request: Request, runtime: RuntimeDep, service: ServiceDep, principal: Signer
) -> SignHashOut:
    try:
        level = Level.parse(body.level)
        if level.long_term:
            raise malformed("sign-hash makes b-b or b-t signatures; add validation data to the PDF yourself")
        hashes = authorizations.clean_hashes(body.hashes, runtime.settings.signing_batch_max)
        _, key = await run_in_threadpool(_prepare, runtime, service, principal, body.authorization_id, hashes)
        template = service.pades_signer(key).cms
        size = {"sha256": 32, "sha384": 48}[template.digest_algorithm]
        timestamper = service.timestamper if level.timestamped else None
        signatures = []
        for digest_hex in hashes:
            digest = bytes.fromhex(digest_hex)
            if len(digest) != size:
                raise malformed(f"this certificate signs {template.digest_algorithm} digests ({size} bytes)")
            container = await template.async_sign(digest, template.digest_algorithm, timestamper=timestamper)
            signatures.append(
                HashSignature(hash=digest_hex, cms_base64=base64.b64encode(container.dump()).decode())
            )
        await run_in_threadpool(
            _consume_for_hashes, runtime, request, principal, body.authorization_id, hashes, key
        )
    except ServiceError as exc:
        await run_in_threadpool(_record_refusal, runtime, request, principal, "document.sign-hash", exc)
        raise
    return SignHashOut(certificate_serial=key.serial, signatures=signatures)


def _consume_for_hashes(runtime: CaRuntime, request: Request, principal: Principal, authorization_id: str,
                        hashes: list[str], key) -> None:  # fmt: skip
    with runtime.db.transaction() as session:
        authorizations.consume(session, authorization_id, now=runtime.ca.clock.now())
        audit.append(
            session, clock=runtime.ca.clock, actor=principal.username, action="document.sign-hash",
            target=key.serial, source=client_address(request),
            details={"hashes": hashes, "authorization": authorization_id},
        )  # fmt: skip


@router.get("/documents/{document_id}", summary="What Kyso signed under this id (the QR on a stamp)")
def signed_document(document_id: str, runtime: RuntimeDep) -> dict[str, object]:
    with runtime.db.reading() as session:
        found = registry.find(session, document_id[:40])
    if found is None:
        raise not_found("no document signed by this service has that id")
    return found.as_json()


def _signed_name(name: str) -> str:
    stem = name.rsplit("/", 1)[-1].rsplit(".", 1)[0] or "document"
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in stem)[:100]
    return f"{safe}-signed.pdf"


def _chunks(stream, size: int = 1 << 20):
    stream.seek(0)
    while block := stream.read(size):
        yield block
    stream.close()
