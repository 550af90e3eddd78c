"""Verification: ``POST /api/v1/verify`` (a PDF → the JSON report) and the trust anchors operators manage;
the citizens' pages ``/verify`` and ``/verify/{id}`` (api/pages/verify.py) use the same checks. Public
routes are limited per client address (api.ratelimit, counted in the database); every document is checked
in a bounded child process."""

from __future__ import annotations

import io
from dataclasses import replace
from typing import Annotated

from cryptography.hazmat.primitives import serialization
from fastapi import APIRouter, Depends, File, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api.auth import client_address, require
from api.deps import RuntimeDep
from api.ratelimit import verify_limit
from ca.hierarchy import report_seal
from ca.runtime import CaRuntime
from core.clock import display
from core.errors import Kind, ServiceError, not_found
from identity import audit
from identity.permissions import Permission
from identity.sessions import Principal
from signing import registry
from signing.pades import Level
from signing.service import Appearance, DocumentIn, SigningService, SignRequest
from verification import anchors
from verification.isolation import verify_bounded
from verification.pdf_report import report_pdf
from verification.report import IssuedRecord, VerificationReport
from verification.validate import Limits, Verifier

router = APIRouter(tags=["verification"])
Operator = Annotated[Principal, Depends(require(Permission.CERTIFICATES_ISSUE))]
Reader = Annotated[Principal, Depends(require(Permission.CERTIFICATES_READ))]


class _State:
    def __init__(self, runtime: CaRuntime) -> None:
        settings = runtime.settings
        self.limits = Limits(
            max_bytes=settings.verify_max_mb << 20,
            timeout_seconds=settings.verify_timeout_seconds,
            memory_bytes=settings.verify_memory_mb << 20,
        )
        self.verifiers: dict[tuple[str, ...], Verifier] = {}


def _state(request: Request) -> _State:
    state = getattr(request.app.state, "verification", None)
    if state is None:
        state = request.app.state.verification = _State(request.app.state.runtime)
    return state


# Per client address, counted in the database so every worker shares it (api.ratelimit).
_limit = verify_limit


def _verifier(runtime: CaRuntime, state: _State) -> Verifier:
    """One per trust list (anchors parsed once), rebuilt when operators change the anchors."""
    with runtime.db.reading() as session:
        root = runtime.ca.chain(session, "root")[-1].public_bytes(serialization.Encoding.DER)
        store = anchors.trust_list(session, [root])
    key = (store.name, *store.fingerprints)
    verifier = state.verifiers.get(key)
    if verifier is None:
        state.verifiers.clear()
        verifier = state.verifiers[key] = Verifier(store, limits=state.limits, now=runtime.ca.clock.now)
    return verifier


def _issued(runtime: CaRuntime, sha256: str) -> list[IssuedRecord]:
    with runtime.db.reading() as session:
        return [
            IssuedRecord(
                r.id, r.signer_name, r.organization, r.reference_number, r.level, display(r.signed_at)
            )
            for r in registry.find_by_hash(session, sha256)
        ]


async def _check(request: Request, runtime: CaRuntime, upload: UploadFile) -> VerificationReport:
    state = _state(request)
    if upload.size is not None and upload.size > state.limits.max_bytes:
        raise ServiceError(Kind.TOO_LARGE, f"the file is larger than {state.limits.max_bytes >> 20} MB")
    data = await upload.read(state.limits.max_bytes + 1)
    verifier = await run_in_threadpool(_verifier, runtime, state)
    report = await run_in_threadpool(verify_bounded, verifier, data)
    return replace(report, issued_by_us=await run_in_threadpool(_issued, runtime, report.sha256))


@router.post(
    "/api/v1/verify", summary="Verify a signed PDF (public, rate-limited)", dependencies=[Depends(_limit)]
)
async def verify_api(
    request: Request,
    runtime: RuntimeDep,
    document: Annotated[UploadFile, File(description="the signed PDF")],
    report_format: Annotated[
        str, Query(alias="format", pattern="^(json|pdf)$", description="json, or pdf: the report, sealed")
    ] = "json",
) -> Response:
    report = await _check(request, runtime, document)
    if report_format == "pdf":
        sealed = await _sealed(request.app.state.signing, runtime, report)
        headers = {"Content-Disposition": 'attachment; filename="verification-report.pdf"'}
        return Response(sealed, media_type="application/pdf", headers=headers)
    return JSONResponse(report.as_json())


SEAL_REASON = "Báo cáo kiểm tra chữ ký số / Signature verification report"


def _seal_serial(runtime: CaRuntime) -> str:
    with runtime.db.transaction() as session:
        return report_seal(session, runtime.ca)


async def _sealed(service: SigningService, runtime: CaRuntime, report: VerificationReport) -> bytes:
    """The report as a PDF sealed PAdES B-LT by the report-seal certificate (issued on first use)."""
    serial = await run_in_threadpool(_seal_serial, runtime)
    key = await run_in_threadpool(service.keys.signing_key, serial)
    pdf = await run_in_threadpool(report_pdf, report)
    request = SignRequest(level=Level.B_LT, appearance=Appearance.INVISIBLE, reason=SEAL_REASON)
    [sealed] = await service.sign(key, [DocumentIn("verification-report.pdf", io.BytesIO(pdf))], request)
    return sealed.output.read()


def _registered(runtime: CaRuntime, document_id: str) -> registry.RegisteredDocument:
    with runtime.db.reading() as session:
        found = registry.find(session, document_id[:40])
    if found is None:
        raise not_found("no document signed by this service has that id")
    return found


class AnchorIn(BaseModel):
    label: str = Field(max_length=100)
    certificate_pem: str = Field(max_length=20_000)


@router.get("/api/v1/verify/trust-anchors", summary="The verification trust list")
def list_anchors(runtime: RuntimeDep, principal: Reader) -> dict[str, object]:
    with runtime.db.reading() as session:
        root = runtime.ca.chain(session, "root")[-1].public_bytes(serialization.Encoding.DER)
        store = anchors.trust_list(session, [root])
        added = anchors.listing(session)
    return {"name": store.name, "fingerprints": store.fingerprints, "added": [a.__dict__ for a in added]}


@router.post("/api/v1/verify/trust-anchors", status_code=201, summary="Trust another root")
def add_anchor(body: AnchorIn, runtime: RuntimeDep, principal: Operator, request: Request) -> dict[str, str]:
    with runtime.db.transaction() as session:
        info = anchors.add(
            session,
            body.label,
            body.certificate_pem.encode(),
            now=runtime.ca.clock.now(),
            actor=principal.username,
        )
        audit.append(
            session,
            clock=runtime.ca.clock,
            actor=principal.username,
            action="trust.add",
            target=info.fingerprint,
            source=client_address(request),
            details={"label": info.label, "subject": info.subject},
        )
    return info.__dict__


@router.delete("/api/v1/verify/trust-anchors/{key}", summary="Stop trusting an anchor")
def remove_anchor(key: str, runtime: RuntimeDep, principal: Operator, request: Request) -> dict[str, str]:
    with runtime.db.transaction() as session:
        info = anchors.remove(session, key)
        audit.append(
            session,
            clock=runtime.ca.clock,
            actor=principal.username,
            action="trust.remove",
            target=info.fingerprint,
            source=client_address(request),
            details={"label": info.label},
        )
    return info.__dict__
