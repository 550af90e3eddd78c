"""/api/v1/certificates: issue, list/search, show, revoke, suspend, reinstate, renew.

Each route parses its input, names the caller (api.deps.actor_of) and calls services.certificates,
which opens the transaction and writes the audit entry.
"""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from api.auth import require
from api.deps import KysoDep, actor_of
from api.inputs import Offset
from api.schemas import CertificateOut, CertificatePage, IssuedOut, IssueIn, RenewIn, RevokeIn
from ca.issuance import Issued, IssueRequest
from ca.subjects import SubjectFields
from identity.permissions import Permission
from identity.sessions import Principal
from services import certificates

router = APIRouter(prefix="/api/v1/certificates", tags=["certificates"])

Reader = Annotated[Principal, Depends(require(Permission.CERTIFICATES_READ))]
Issuer = Annotated[Principal, Depends(require(Permission.CERTIFICATES_ISSUE))]
Revoker = Annotated[Principal, Depends(require(Permission.CERTIFICATES_REVOKE))]


def _issued(issued: Issued) -> IssuedOut:
    return IssuedOut(
        **issued.certificate.as_json(),
        pkcs12_base64=base64.b64encode(issued.pkcs12).decode() if issued.pkcs12 else None,
    )


@router.post("", status_code=201, response_model=IssuedOut, summary="Issue a certificate")
def issue(body: IssueIn, kyso: KysoDep, principal: Issuer, request: Request) -> IssuedOut:
    subject = SubjectFields(**body.model_dump(include=set(SubjectFields.__dataclass_fields__)))
    issue_request = IssueRequest(
        profile=body.profile,
        subject=subject,
        csr=body.csr_pem.encode() if body.csr_pem else None,
        keygen=body.keygen,
        delivery=body.delivery,
        pkcs12_password=body.pkcs12_password,
    )
    return _issued(certificates.issue(kyso, actor_of(request, principal), issue_request))


@router.get("", response_model=CertificatePage, summary="List and search certificates")
def search(
    kyso: KysoDep,
    principal: Reader,
    serial: Annotated[str | None, Query(description="serial or its leading hex digits")] = None,
    cccd: str | None = None,
    tax_code: str | None = None,
    name: Annotated[str | None, Query(description="part of the name or organisation")] = None,
    status: str | None = None,
    profile: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Offset = 0,
) -> CertificatePage:
    items, total = certificates.search(
        kyso,
        serial=serial,
        cccd=cccd,
        tax_code=tax_code,
        name=name,
        status=status,
        profile=profile,
        limit=limit,
        offset=offset,
    )
    return CertificatePage(
        total=total, limit=limit, offset=offset, items=[CertificateOut.of(i) for i in items]
    )


@router.get("/{serial}", response_model=CertificateOut, summary="Show one certificate")
def show(serial: str, kyso: KysoDep, principal: Reader) -> CertificateOut:
    return CertificateOut.of(certificates.show(kyso, serial))


@router.post("/{serial}/revoke", response_model=CertificateOut, summary="Revoke with an RFC 5280 reason")
def revoke(
    serial: str, body: RevokeIn, kyso: KysoDep, principal: Revoker, request: Request
) -> CertificateOut:
    actor = actor_of(request, principal)
    return CertificateOut.of(certificates.revoke(kyso, actor, serial, body.reason, body.invalidity_date))


@router.post("/{serial}/suspend", response_model=CertificateOut, summary="Suspend (certificateHold)")
def suspend(serial: str, kyso: KysoDep, principal: Revoker, request: Request) -> CertificateOut:
    return CertificateOut.of(certificates.suspend(kyso, actor_of(request, principal), serial))


@router.post("/{serial}/reinstate", response_model=CertificateOut, summary="Lift a suspension")
def reinstate(serial: str, kyso: KysoDep, principal: Revoker, request: Request) -> CertificateOut:
    return CertificateOut.of(certificates.reinstate(kyso, actor_of(request, principal), serial))


@router.post("/{serial}/renew", status_code=201, response_model=IssuedOut, summary="Re-key and renew")
def renew(serial: str, body: RenewIn, kyso: KysoDep, principal: Issuer, request: Request) -> IssuedOut:
    issued = certificates.renew(
        kyso,
        actor_of(request, principal),
        serial,
        csr=body.csr_pem.encode() if body.csr_pem else None,
        keygen=body.keygen,
        pkcs12_password=body.pkcs12_password,
    )
    return _issued(issued)
