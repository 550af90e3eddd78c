"""/api/v1/certificates: issue, list/search, show, revoke, suspend, reinstate, renew."""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.orm import Session

from api.auth import client_address, require
from api.deps import RuntimeDep
from api.inputs import Offset
from api.schemas import CertificateOut, CertificatePage, IssuedOut, IssueIn, RenewIn, RevokeIn
from ca import lifecycle
from ca.issuance import Issued, IssueRequest
from ca.runtime import CaRuntime
from ca.subjects import SubjectFields
from identity import audit
from identity.permissions import Permission
from identity.sessions import Principal

router = APIRouter(prefix="/api/v1/certificates", tags=["certificates"])

Reader = Annotated[Principal, Depends(require(Permission.CERTIFICATES_READ))]
Issuer = Annotated[Principal, Depends(require(Permission.CERTIFICATES_ISSUE))]
Revoker = Annotated[Principal, Depends(require(Permission.CERTIFICATES_REVOKE))]


def _audit(
    session: Session,
    runtime: CaRuntime,
    request: Request,
    principal: Principal,
    action: str,
    serial: str,
    **details: object,
) -> None:
    audit.append(
        session,
        clock=runtime.ca.clock,
        actor=principal.username,
        action=action,
        target=serial,
        source=client_address(request),
        details=details or None,
    )


def _issued(issued: Issued) -> IssuedOut:
    return IssuedOut(
        **issued.certificate.as_json(),
        pkcs12_base64=base64.b64encode(issued.pkcs12).decode() if issued.pkcs12 else None,
    )


@router.post("", status_code=201, response_model=IssuedOut, summary="Issue a certificate")
def issue(body: IssueIn, runtime: RuntimeDep, principal: Issuer, request: Request) -> IssuedOut:
    subject = SubjectFields(**body.model_dump(include=set(SubjectFields.__dataclass_fields__)))
    issue_request = IssueRequest(
        profile=body.profile,
        subject=subject,
        csr=body.csr_pem.encode() if body.csr_pem else None,
        keygen=body.keygen,
        delivery=body.delivery,
        pkcs12_password=body.pkcs12_password,
    )
    with runtime.db.transaction() as session:
        issued = runtime.ca.issue(session, issue_request)
        _audit(
            session,
            runtime,
            request,
            principal,
            "certificate.issue",
            issued.certificate.serial,
            profile=body.profile,
        )
        return _issued(issued)


@router.get("", response_model=CertificatePage, summary="List and search certificates")
def search(
    runtime: RuntimeDep,
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
    with runtime.db.reading() as session:
        items, total = lifecycle.search(
            runtime.ca,
            session,
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
def show(serial: str, runtime: RuntimeDep, principal: Reader) -> CertificateOut:
    with runtime.db.reading() as session:
        return CertificateOut.of(lifecycle.show(runtime.ca, session, serial))


@router.post("/{serial}/revoke", response_model=CertificateOut, summary="Revoke with an RFC 5280 reason")
def revoke(
    serial: str, body: RevokeIn, runtime: RuntimeDep, principal: Revoker, request: Request
) -> CertificateOut:
    with runtime.db.transaction() as session:
        info = lifecycle.revoke(runtime.ca, session, serial, body.reason, body.invalidity_date)
        _audit(session, runtime, request, principal, "certificate.revoke", info.serial, reason=body.reason)
        return CertificateOut.of(info)


@router.post("/{serial}/suspend", response_model=CertificateOut, summary="Suspend (certificateHold)")
def suspend(serial: str, runtime: RuntimeDep, principal: Revoker, request: Request) -> CertificateOut:
    with runtime.db.transaction() as session:
        info = lifecycle.suspend(runtime.ca, session, serial)
        _audit(session, runtime, request, principal, "certificate.suspend", info.serial)
        return CertificateOut.of(info)


@router.post("/{serial}/reinstate", response_model=CertificateOut, summary="Lift a suspension")
def reinstate(serial: str, runtime: RuntimeDep, principal: Revoker, request: Request) -> CertificateOut:
    with runtime.db.transaction() as session:
        info = lifecycle.reinstate(runtime.ca, session, serial)
        _audit(session, runtime, request, principal, "certificate.reinstate", info.serial)
        return CertificateOut.of(info)


@router.post("/{serial}/renew", status_code=201, response_model=IssuedOut, summary="Re-key and renew")
def renew(serial: str, body: RenewIn, runtime: RuntimeDep, principal: Issuer, request: Request) -> IssuedOut:
    with runtime.db.transaction() as session:
        issued = lifecycle.renew(
            runtime.ca,
            session,
            serial,
            csr=body.csr_pem.encode() if body.csr_pem else None,
            keygen=body.keygen,
            pkcs12_password=body.pkcs12_password,
        )
        _audit(
            session,
            runtime,
            request,
            principal,
            "certificate.renew",
            issued.certificate.serial,
            renews=issued.certificate.renewed_from,
        )
        return _issued(issued)
