"""The timestamp authority over HTTP (RFC 3161 §3.4): application/timestamp-query in, -reply out.

Protocol refusals (bad hash, garbage, unknown policy) are 200 with a rejection TimeStampResp, as the RFC
has it; only what is not a TSP request at all gets a problem+json: 415 for another media type, 413 for a
body over the limit (refused without buffering it), 429 for a client over ``KYSO_TSA_RATE_PER_MINUTE``.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from api.deps import KysoDep
from api.problems import problem
from api.ratelimit import tsa_limit
from api.request_body import read_body
from ca import tsa

router = APIRouter(tags=["pki"])
TIMESTAMP_QUERY = "application/timestamp-query"
TIMESTAMP_REPLY = "application/timestamp-reply"


def _authority(request: Request) -> tsa.TimestampAuthority:
    return request.app.state.kyso.timestamp_authority


@router.post(
    "/tsa",
    response_class=Response,
    responses={
        200: {"content": {TIMESTAMP_REPLY: {}}, "description": "A TimeStampResp, granted or rejected"},
        413: {"description": "The body is larger than 64 KiB"},
        415: {"description": "The body is not application/timestamp-query"},
        429: {"description": "Too many requests from this client (KYSO_TSA_RATE_PER_MINUTE)"},
    },
    summary="RFC 3161 timestamping (application/timestamp-query)",
    dependencies=[Depends(tsa_limit)],
)
async def timestamp(request: Request, kyso: KysoDep) -> Response:
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != TIMESTAMP_QUERY:
        return problem(415, f"send a DER TimeStampReq as {TIMESTAMP_QUERY}", kind="malformed")
    body = await read_body(request, tsa.MAX_REQUEST_BYTES)  # BodyTooLarge becomes 413 problem+json
    der = await run_in_threadpool(_authority(request).serve, kyso.db, body)
    return Response(der, media_type=TIMESTAMP_REPLY, headers={"Cache-Control": "no-store"})
