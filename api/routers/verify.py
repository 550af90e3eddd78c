"""Verification: ``POST /api/v1/verify`` (a PDF → the JSON report) and the trust anchors operators manage;
the citizens' pages ``/verify`` and ``/verify/{id}`` (api/pages/verify.py) use the same checks. Public
routes are limited per client address (api.ratelimit, counted in the database); every document is checked
in a bounded child process. The use cases are ``services.verification``'s."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api.auth import require
from api.deps import KysoDep, actor_of
from api.ratelimit import verify_limit
from core.errors import Kind, ServiceError
from identity.permissions import Permission
from identity.sessions import Principal
from services import verification
from services.root import Kyso
from verification.report import VerificationReport

router = APIRouter(tags=["verification"])
Operator = Annotated[Principal, Depends(require(Permission.CERTIFICATES_ISSUE))]
Reader = Annotated[Principal, Depends(require(Permission.CERTIFICATES_READ))]


async def check_upload(kyso: Kyso, upload: UploadFile) -> VerificationReport:
    """The report on an uploaded PDF, refused as too large before more than the limit is read."""
    max_bytes = kyso.verifiers.limits.max_bytes
    if upload.size is not None and upload.size > max_bytes:
        raise ServiceError(Kind.TOO_LARGE, f"the file is larger than {max_bytes >> 20} MB")
    data = await upload.read(max_bytes + 1)
    return await run_in_threadpool(verification.verify, kyso, data)


@router.post(
    "/api/v1/verify",
    summary="Verify a signed PDF (public, rate-limited)",
    dependencies=[Depends(verify_limit)],
)
async def verify_api(
    kyso: KysoDep,
    document: Annotated[UploadFile, File(description="the signed PDF")],
    report_format: Annotated[
        str,
        Query(
            alias="format",
            pattern="^(json|pdf|xml)$",
            description="json; pdf: the report, sealed; xml: the ETSI TS 119 102-2 validation report",
        ),
    ] = "json",
) -> Response:
    report = await check_upload(kyso, document)
    if report_format == "pdf":
        sealed = await verification.sealed_report(kyso, report)
        headers = {"Content-Disposition": 'attachment; filename="verification-report.pdf"'}
        return Response(sealed, media_type="application/pdf", headers=headers)
    if report_format == "xml":
        from verification.etsi_report import xml_report

        return Response(xml_report(report), media_type="application/xml")
    return JSONResponse(report.as_json())


class AnchorIn(BaseModel):
    label: str = Field(max_length=100)
    certificate_pem: str = Field(max_length=20_000)


@router.get("/api/v1/verify/trust-anchors", summary="The verification trust list")
def list_anchors(kyso: KysoDep, principal: Reader) -> dict[str, object]:
    return verification.anchors_listing(kyso).as_json()


@router.post("/api/v1/verify/trust-anchors", status_code=201, summary="Trust another root")
def add_anchor(body: AnchorIn, kyso: KysoDep, principal: Operator, request: Request) -> dict[str, str]:
    actor = actor_of(request, principal)
    return verification.add_anchor(kyso, actor, body.label, body.certificate_pem.encode()).__dict__


@router.delete("/api/v1/verify/trust-anchors/{key}", summary="Stop trusting an anchor")
def remove_anchor(key: str, kyso: KysoDep, principal: Operator, request: Request) -> dict[str, str]:
    return verification.remove_anchor(kyso, actor_of(request, principal), key).__dict__


class ProfileIn(BaseModel):
    enabled: bool


@router.get("/api/v1/verify/trust-profiles", summary="The trust profiles, which are on, and their anchors")
def list_profiles(kyso: KysoDep, principal: Reader) -> list[dict[str, object]]:
    return [p.as_json() for p in verification.profiles_listing(kyso)]


@router.put("/api/v1/verify/trust-profiles/{name}", summary="Switch a trust profile on or off")
def set_profile(
    name: str, body: ProfileIn, kyso: KysoDep, principal: Operator, request: Request
) -> dict[str, object]:
    actor = actor_of(request, principal)
    return verification.set_profile(kyso, actor, name, body.enabled).as_json()
