"""/api/v1/certificates: issue, list/search, show, revoke, suspend, reinstate, renew."""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import OperatorDep, RuntimeDep
from api.schemas import CertificateOut, CertificatePage, IssuedOut, IssueIn, RenewIn, RevokeIn
from ca import lifecycle
from ca.issuance import Issued, IssueRequest
from ca.subjects import SubjectFields

router = APIRouter(prefix="/api/v1/certificates", tags=["certificates"], dependencies=[OperatorDep])


def _issued(issued: Issued) -> IssuedOut:
    return IssuedOut(
        **issued.certificate.as_json(),
        pkcs12_base64=base64.b64encode(issued.pkcs12).decode() if issued.pkcs12 else None,
    )


@router.post("", status_code=201, response_model=IssuedOut, summary="Issue a certificate")
def issue(body: IssueIn, runtime: RuntimeDep) -> IssuedOut:
    subject = SubjectFields(**body.model_dump(include=set(SubjectFields.__dataclass_fields__)))
    request = IssueRequest(
        profile=body.profile,
        subject=subject,
        csr=body.csr_pem.encode() if body.csr_pem else None,
        keygen=body.keygen,
        delivery=body.delivery,
        pkcs12_password=body.pkcs12_password,
    )
    with runtime.db.transaction() as session:
        return _issued(runtime.ca.issue(session, request))


@router.get("", response_model=CertificatePage, summary="List and search certificates")
def search(
    runtime: RuntimeDep,
    serial: Annotated[str | None, Query(description="serial or its leading hex digits")] = None,
    cccd: str | None = None,
    tax_code: str | None = None,
    name: Annotated[str | None, Query(description="part of the name or organisation")] = None,
    status: str | None = None,
    profile: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
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
def show(serial: str, runtime: RuntimeDep) -> CertificateOut:
    with runtime.db.reading() as session:
        return CertificateOut.of(lifecycle.show(runtime.ca, session, serial))


@router.post("/{serial}/revoke", response_model=CertificateOut, summary="Revoke with an RFC 5280 reason")
def revoke(serial: str, body: RevokeIn, runtime: RuntimeDep) -> CertificateOut:
    with runtime.db.transaction() as session:
        return CertificateOut.of(
            lifecycle.revoke(runtime.ca, session, serial, body.reason, body.invalidity_date)
        )


@router.post("/{serial}/suspend", response_model=CertificateOut, summary="Suspend (certificateHold)")
def suspend(serial: str, runtime: RuntimeDep) -> CertificateOut:
    with runtime.db.transaction() as session:
        return CertificateOut.of(lifecycle.suspend(runtime.ca, session, serial))


@router.post("/{serial}/reinstate", response_model=CertificateOut, summary="Lift a suspension")
def reinstate(serial: str, runtime: RuntimeDep) -> CertificateOut:
    with runtime.db.transaction() as session:
        return CertificateOut.of(lifecycle.reinstate(runtime.ca, session, serial))


@router.post("/{serial}/renew", status_code=201, response_model=IssuedOut, summary="Re-key and renew")
def renew(serial: str, body: RenewIn, runtime: RuntimeDep) -> IssuedOut:
    with runtime.db.transaction() as session:
        return _issued(
            lifecycle.renew(
                runtime.ca,
                session,
                serial,
                csr=body.csr_pem.encode() if body.csr_pem else None,
                keygen=body.keygen,
                pkcs12_password=body.pkcs12_password,
            )
        )
