"""/csc/v1: the Cloud Signature Consortium API (v1.0.4) as Kyso's remote-signing face, beside /api/v1/signing.

A CSC client (pyHanko's ``CSCSigner``, a document system's signing module) reaches the same accounts,
credentials and authorisations as Kyso's own routes, through the same use cases of services/signing.py:

- ``credentials/list`` / ``credentials/info``: the certificates in custody bound to the caller (or, for an
  integrator's service account, to the signer named in ``userID``), with their chain and key algorithm;
- ``credentials/authorize``: SCAL2, the signer's authenticator code as ``OTP`` confirms exactly the listed
  hashes; the SAD is the id of a Kyso signing authorisation (``services.signing.authorize``);
- ``credentials/extendTransaction``: ``numSignatures`` beyond the hashes listed leaves signatures open whose
  hashes exist only after the previous signature (sequential signatures); each extension names the next
  hashes and gets its own SAD, spending the open count (``services.signing.extend_authorization``);
- ``signatures/signDoc`` (CSC 2's, served here too): whole PDFs in base64, signed as ``POST
  /api/v1/signing/sign`` signs them (``services.signing.sign``), the SAD bound to each PDF's SHA-256;
- ``signatures/signHash``: raw signature values over those hashes (``services.signing.sign_hash``), consumed
  once, audited as ``document.sign-hash``.

Errors have the spec's shape, ``{"error": …, "error_description": …}``, with its status codes (400 for a bad
request, a wrong OTP or an unusable SAD; 401 without valid credentials), not problem+json.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import io
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field

from api.auth import client_address, require_any
from api.deps import KysoDep, actor_of
from core.errors import Kind, ServiceError
from identity.permissions import Permission
from identity.sessions import Principal, login
from services import signing as signing_service

SPECS = "1.0.4.0"
METHODS = [
    "auth/login",
    "credentials/list",
    "credentials/info",
    "credentials/authorize",
    "credentials/extendTransaction",
    "signatures/signHash",
    "signatures/signDoc",
]

# CSC error codes for Kyso's refusals: (HTTP status, error). A refused SAD is the spec's 400 invalid_request,
# a wrong code 400 invalid_otp; a role or key without the permission, 403.
_ERRORS: dict[Kind, tuple[int, str]] = {
    Kind.MALFORMED: (400, "invalid_request"),
    Kind.UNAUTHORIZED: (401, "invalid_token"),
    Kind.FORBIDDEN: (403, "access_denied"),
    Kind.NOT_FOUND: (400, "invalid_request"),
    Kind.CONFLICT: (400, "invalid_request"),
    Kind.EXPIRED: (400, "invalid_request"),
    Kind.TOO_LARGE: (400, "invalid_request"),
}


def csc_error(status: int, error: str, description: str) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"error": error, "error_description": description}, status, headers=headers)


class CSCRoute(APIRoute):
    """Every refusal of a CSC route, its authentication included, in the CSC error shape."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except ServiceError as exc:
                status, error = _ERRORS.get(exc.kind, (400, "invalid_request"))
                if exc.kind is Kind.FORBIDDEN and "code is wrong" in exc.message:
                    error, status = "invalid_otp", 400
                refused_sad = not exc.message.startswith("your account may not")  # else: a permission
                if (
                    exc.kind is Kind.FORBIDDEN
                    and request.url.path.endswith(("/signHash", "/signDoc", "/extendTransaction"))
                    and refused_sad
                ):
                    error, status = "invalid_request", 400
                return csc_error(status, error, exc.message)
            except RequestValidationError as exc:
                first = exc.errors()[0] if exc.errors() else {}
                where = ".".join(str(p) for p in first.get("loc", ())[1:]) or "body"
                return csc_error(400, "invalid_request", f"Invalid parameter {where}: {first.get('msg', '')}")

        return answer


router = APIRouter(prefix="/csc/v1", tags=["csc"], route_class=CSCRoute)
Signer = Annotated[Principal, Depends(require_any(Permission.DOCUMENTS_SIGN, Permission.DOCUMENTS_SEAL))]


class _In(BaseModel):
    model_config = ConfigDict(extra="ignore")


class InfoIn(_In):
    lang: str | None = Field(default=None, max_length=20)


class LoginIn(_In):
    rememberMe: bool = False
    clientData: str | None = Field(default=None, max_length=20, description="the account's current code")


class ListIn(_In):
    userID: str | None = Field(default=None, max_length=64)
    maxResults: int | None = Field(default=None, ge=1, le=1000)


class InfoRequest(_In):
    credentialID: str = Field(max_length=64)
    certificates: str = Field(default="single", pattern="^(none|single|chain)$")
    certInfo: bool = False
    authInfo: bool = False


class AuthorizeIn(_In):
    credentialID: str = Field(max_length=64)
    numSignatures: int = Field(ge=1, le=1000)
    hash: list[str] | None = Field(default=None, max_length=1000)
    PIN: str | None = Field(default=None, max_length=20)
    OTP: str | None = Field(default=None, max_length=20)
    description: str | None = Field(default=None, max_length=500)


class SignHashIn(_In):
    credentialID: str = Field(max_length=64)
    SAD: str = Field(max_length=64)
    hash: list[str] = Field(min_length=1, max_length=1000)
    hashAlgo: str | None = Field(default=None, max_length=64)
    signAlgo: str = Field(max_length=64)
    signAlgoParams: str | None = Field(default=None, max_length=1000)


def _bad(message: str) -> ServiceError:
    return ServiceError(Kind.MALFORMED, message)


def _hex_hashes(values: list[str]) -> list[str]:
    """The spec's base64 hashes as Kyso's hex digests."""
    digests = []
    for value in values:
        try:
            digests.append(base64.b64decode(value, validate=True).hex())
        except (binascii.Error, ValueError):
            raise _bad(f"Invalid parameter hash: {value[:60]!r} is not base64") from None
    return digests


@router.post("/info", summary="CSC info: the service and the methods it offers")
def info(body: InfoIn | None = None) -> dict[str, object]:
    return {
        "specs": SPECS,
        "name": "Kyso",
        "logo": "",
        "region": "VN",
        "lang": "vi-VN",
        "description": "Kyso: keys in custody, SCAL2 authorisation with the signer's code",
        "authType": ["basic"],
        "methods": METHODS,
    }


@router.post("/auth/login", summary="CSC auth/login: HTTP Basic username and password → access token")
def auth_login(request: Request, kyso: KysoDep, body: LoginIn | None = None) -> dict[str, object]:
    header = request.headers.get("authorization", "")
    scheme, _, encoded = header.partition(" ")
    try:
        username, _, password = base64.b64decode(encoded, validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        username = password = ""
    if scheme.lower() != "basic" or not username:
        return csc_error(400, "invalid_request", "Malformed authorization header: send HTTP Basic")  # type: ignore[return-value]
    code = body.clientData if body is not None else None
    with kyso.db.transaction() as session:
        outcome = login(
            session, kyso.clock, kyso.secret_box, username=username[:64], password=password[:256],
            code=code, source=client_address(request), kind="bearer",
        )  # fmt: skip
    if outcome.token is None or outcome.must_change_password:
        return csc_error(  # type: ignore[return-value]
            400, "authentication_error",
            "the username, password or one-time code (clientData) is wrong, or the password must be changed",
        )  # fmt: skip
    return {"access_token": outcome.token, "expires_in": outcome.expires_in}


@router.post("/credentials/list", summary="CSC credentials/list: the credentials one may sign with")
def credentials_list(body: ListIn, kyso: KysoDep, principal: Signer) -> dict[str, object]:
    found = signing_service.usable_credentials(kyso, principal, body.userID)
    ids = [c.id for c in found][: body.maxResults or None]
    return {"credentialIDs": ids}


@router.post("/credentials/info", summary="CSC credentials/info: key, certificate chain, SCAL2")
def credentials_info(body: InfoRequest, kyso: KysoDep, principal: Signer) -> dict[str, object]:
    credential, username, key = signing_service.credential_for(kyso, principal, body.credentialID)
    certificate = asn1_x509.Certificate.load(key.certificate_der)
    chain = [asn1_x509.Certificate.load(der) for der in key.chain_der]
    template = kyso.signing.pades_signer(key).cms
    public = certificate.public_key
    key_info: dict[str, object] = {
        "status": "enabled",
        "algo": [template.signature_mechanism["algorithm"].dotted] if template.signature_mechanism else [],
        "len": public.bit_size,
    }
    if public.algorithm == "ec":
        key_info["curve"] = asn1_keys.NamedCurve(public.curve[1]).dotted
    result: dict[str, object] = {
        "description": f"{key.common_name} ({credential.purpose}), account {username}",
        "key": key_info,
        "authMode": "explicit",
        "SCAL": "2",
        "PIN": {"presence": "false"},
        "OTP": {
            "presence": "true",
            "type": "offline",
            "ID": "totp",
            "provider": "Kyso",
            "format": "N",
            "label": "Mã xác thực",
            "description": "the 6-digit code of the signer's authenticator app",
        },
        "multisign": kyso.settings.signing_batch_max,
        "lang": "vi-VN",
    }
    cert: dict[str, object] = {"status": "valid"}
    if body.certificates != "none":
        listed = [certificate, *chain] if body.certificates == "chain" else [certificate]
        cert["certificates"] = [base64.b64encode(c.dump()).decode("ascii") for c in listed]
    if body.certInfo:
        cert.update(
            issuerDN=certificate.issuer.human_friendly,
            serialNumber=format(certificate.serial_number, "x"),
            subjectDN=certificate.subject.human_friendly,
            validFrom=_generalized(certificate.not_valid_before),
            validTo=_generalized(certificate.not_valid_after),
        )
    result["cert"] = cert
    return result


@router.post(
    "/credentials/authorize", summary="CSC credentials/authorize: SCAL2, the code confirms the hashes"
)
def credentials_authorize(
    body: AuthorizeIn, request: Request, kyso: KysoDep, principal: Signer
) -> dict[str, object]:
    if not body.hash:
        raise _bad("Missing parameter hash: this credential is SCAL2, the SAD is bound to the hashes to sign")
    if body.numSignatures < len(body.hash):
        raise _bad(f"Invalid parameter numSignatures: {body.numSignatures} for {len(body.hash)} hashes")
    code = body.OTP or body.PIN
    if not code:
        raise _bad("Missing parameter OTP: the signer's current authenticator code")
    _, username, _ = signing_service.credential_for(kyso, principal, body.credentialID)
    granted = signing_service.authorize(
        kyso, actor_of(request, principal), principal, hashes=_hex_hashes(body.hash), code=code,
        credential_id=body.credentialID, on_behalf_of=username if principal.role == "service" else None,
        pending=body.numSignatures - len(body.hash),
    )  # fmt: skip
    lifetime = int((granted.expires_at - kyso.clock.now()).total_seconds())
    return {"SAD": granted.id, "expiresIn": max(lifetime, 1)}


class ExtendIn(_In):
    credentialID: str = Field(max_length=64)
    SAD: str = Field(max_length=64)
    hash: list[str] = Field(min_length=1, max_length=1000)


@router.post(
    "/credentials/extendTransaction",
    summary="CSC credentials/extendTransaction: a SAD for the next hashes of an authorised transaction",
)
def credentials_extend(
    body: ExtendIn, request: Request, kyso: KysoDep, principal: Signer
) -> dict[str, object]:
    signing_service.credential_for(kyso, principal, body.credentialID)
    extended = signing_service.extend_authorization(
        kyso, actor_of(request, principal), principal, body.SAD, body.credentialID, _hex_hashes(body.hash)
    )
    lifetime = int((extended.expires_at - kyso.clock.now()).total_seconds())
    return {"SAD": extended.id, "expiresIn": max(lifetime, 1)}


@router.post("/signatures/signHash", summary="CSC signatures/signHash: raw signatures over authorised hashes")
async def signatures_sign_hash(
    body: SignHashIn, request: Request, kyso: KysoDep, principal: Signer
) -> dict[str, object]:
    _, _, key = signing_service.credential_for(kyso, principal, body.credentialID)
    template = kyso.signing.pades_signer(key).cms
    mechanism = template.signature_mechanism
    offered = mechanism["algorithm"].dotted if mechanism is not None else None
    if body.signAlgo != offered:
        raise _bad(f"Invalid parameter signAlgo: this credential signs with {offered}")
    from asn1crypto import algos

    own_params = mechanism["parameters"] if mechanism is not None else None
    if body.signAlgoParams is not None and own_params is not None and own_params.native is not None:
        try:
            theirs = base64.b64decode(body.signAlgoParams, validate=True)
        except (binascii.Error, ValueError):
            raise _bad("Invalid parameter signAlgoParams: not base64") from None
        if theirs != own_params.dump():  # e.g. another RSASSA-PSS salt length than the key signs with
            raise _bad("Invalid parameter signAlgoParams: this credential signs with other parameters")
    wanted_hash = algos.DigestAlgorithmId(template.digest_algorithm).dotted
    if body.hashAlgo is not None and body.hashAlgo != wanted_hash:
        raise _bad(
            f"Invalid parameter hashAlgo: this credential signs {template.digest_algorithm} ({wanted_hash})"
        )
    made = await signing_service.sign_hash(
        kyso, actor_of(request, principal), principal, body.SAD, _hex_hashes(body.hash), "b-b", raw=True
    )
    return {"signatures": [base64.b64encode(signature).decode("ascii") for _, signature in made.signatures]}


def _generalized(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y%m%d%H%M%SZ")


_LEVELS = {"ades-b-b": "b-b", "ades-b-t": "b-t", "ades-b-lt": "b-lt", "ades-b-lta": "b-lta"}


class DocumentIn(_In):
    document: str = Field(description="the PDF, base64")
    signature_format: str = Field(default="P", max_length=4, description="P: PAdES, the only one here")
    conformance_level: str = Field(default="AdES-B-LT", max_length=20)
    signed_envelope_property: str = Field(
        default="Approval", max_length=20, description="Approval, Certification"
    )
    appearance: str = Field(
        default="official", max_length=20, description="Kyso: official, seal, invisible, …"
    )


class SignDocIn(_In):
    credentialID: str = Field(max_length=64)
    SAD: str = Field(max_length=64)
    documents: list[DocumentIn] = Field(min_length=1, max_length=1000)


class _Upload:
    """A decoded document as services.signing takes uploads."""

    def __init__(self, name: str, data: bytes) -> None:
        self.filename: str | None = name
        self.file = io.BytesIO(data)
        self.size: int | None = len(data)


@router.post(
    "/signatures/signDoc", summary="CSC signatures/signDoc: sign whole PDFs (PAdES) with an authorisation"
)
async def signatures_sign_doc(
    body: SignDocIn, request: Request, kyso: KysoDep, principal: Signer
) -> dict[str, object]:
    signing_service.credential_for(kyso, principal, body.credentialID)
    settings = {
        (d.conformance_level.lower(), d.signed_envelope_property.lower(), d.appearance)
        for d in body.documents
    }
    if len(settings) != 1:
        raise _bad("Invalid parameter documents: one request signs all its documents the same way")
    [(conformance, envelope, appearance)] = settings
    if any(d.signature_format.upper() != "P" for d in body.documents):
        raise _bad("Invalid parameter signature_format: this service makes PAdES signatures (P) only")
    level = _LEVELS.get(conformance)
    if level is None:
        raise _bad(f"Invalid parameter conformance_level: choose one of {', '.join(_LEVELS)}")
    if envelope not in ("approval", "certification"):
        raise _bad("Invalid parameter signed_envelope_property: Approval or Certification")
    uploads = []
    for number, item in enumerate(body.documents, start=1):
        try:
            data = base64.b64decode(item.document, validate=True)
        except (binascii.Error, ValueError):
            raise _bad(f"Invalid parameter documents[{number}].document: not base64") from None
        uploads.append(_Upload(f"document-{number}.pdf", data))
    signed = await signing_service.sign(
        kyso, actor_of(request, principal), principal, body.SAD, uploads, level=level, appearance=appearance,
        certify=envelope == "certification",
    )  # fmt: skip
    return {
        "DocumentWithSignature": [base64.b64encode(item.output.read()).decode("ascii") for item in signed],
        "documentIDs": [item.record.id for item in signed],  # Kyso: the registry ids (/verify/<id>)
    }
