"""Signed documents kept for the long term: ``POST /api/v1/documents/extend`` adds validation data and a
document timestamp to a signed PDF (B-T → B-LT → B-LTA), as ``kyso ltv`` does. The use case is
``services.ltv``'s; records clerks and services with ``documents:seal`` may call it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Query, Request, UploadFile
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from api.auth import require
from api.deps import KysoDep, actor_of
from core.errors import Kind, ServiceError
from identity.permissions import Permission
from identity.sessions import Principal
from services import ltv
from signing.pades import Level

router = APIRouter(prefix="/api/v1/documents", tags=["signing"])
Keeper = Annotated[Principal, Depends(require(Permission.DOCUMENTS_SEAL))]


@router.post(
    "/extend",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}, "description": "the extended PDF"}},
    summary="Extend a signed PDF for the long term: validation data and a document timestamp",
)
async def extend_document(
    kyso: KysoDep,
    request: Request,
    principal: Keeper,
    document: Annotated[UploadFile, File(description="a signed PDF")],
    level: Annotated[
        str, Query(pattern="^(b-t|b-lt|b-lta)$", description="the level to reach (default b-lta)")
    ] = "b-lta",
) -> Response:
    max_bytes = kyso.settings.signing_upload_mb << 20
    if document.size is not None and document.size > max_bytes:
        raise ServiceError(Kind.TOO_LARGE, f"the file is larger than {max_bytes >> 20} MB")
    data = await document.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ServiceError(Kind.TOO_LARGE, f"the file is larger than {max_bytes >> 20} MB")
    extended = await run_in_threadpool(
        ltv.extend_document, kyso, actor_of(request, principal), data, Level.parse(level)
    )
    problems = [s for s in extended.signatures if s.problem]
    headers = {
        "Content-Disposition": 'attachment; filename="extended.pdf"',
        "X-Kyso-Level-Before": extended.level_before.value,
        "X-Kyso-Level-After": extended.level_after.value,
        "X-Kyso-Steps": ",".join(s.value for s in extended.steps) or "none",
        "X-Kyso-Signatures-Without-Validation-Data": str(len(problems)),
    }
    return Response(extended.pdf, media_type="application/pdf", headers=headers)
