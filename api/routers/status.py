"""Certificate status: CRLs (DER at the CRL distribution point URLs) and OCSP (RFC 6960, GET and POST)."""

from __future__ import annotations

import time

from fastapi import APIRouter, Depends, Request, Response

from api.auth import client_address, require
from api.deps import KysoDep
from api.fastpath import ocsp as ocsp_fastpath
from api.fastpath.ocsp import decode_get
from api.request_body import BodyTooLarge, read_body
from ca import crl, ocsp, status
from identity.permissions import Permission

router = APIRouter(tags=["status"])
OCSP_RESPONSE = "application/ocsp-response"


@router.get(
    "/pki/crl/{authority_id}.crl",
    response_class=Response,
    responses={200: {"content": {"application/pkix-crl": {}}}},
    summary="The authority's current CRL in DER (its CRL distribution point)",
)
def get_crl(authority_id: str, kyso: KysoDep) -> Response:
    with kyso.db.reading() as session:
        info = crl.current(session, kyso.ca, authority_id)
    if info is None:
        with kyso.db.transaction() as session:
            info = crl.publish(session, kyso.ca, authority_id)
    max_age = max(0, int((info.next_update - kyso.clock.now()).total_seconds() // 2))
    return Response(
        info.der,
        media_type="application/pkix-crl",
        headers={
            "Cache-Control": f"public, max-age={max_age}",
            "ETag": f'"crl-{authority_id}-{info.crl_number}"',
        },
    )


async def _ocsp_answer(request: Request, authority_id: str, der: bytes | None, *, get: bool) -> Response:
    state = request.app.state
    rendered = await ocsp_fastpath.answer(
        state.ocsp, authority_id, der, state.ocsp_limit, client_address(request)
    )
    headers = {k.decode(): v.decode() for k, v in rendered.asgi_headers(get, time.time())}
    headers.pop("content-length")
    return Response(rendered.body, status_code=rendered.status, headers=headers)


# kyso serve answers these URLs on the connection (api.fastpath.connection) before any ASGI request exists;
# these routes are the same answers for every other ASGI server and the TestClient.
@router.post(
    "/ocsp/{authority_id}",
    response_class=Response,
    responses={200: {"content": {OCSP_RESPONSE: {}}}},
    summary="OCSP over POST (application/ocsp-request)",
)
async def ocsp_post(authority_id: str, request: Request) -> Response:
    try:
        body: bytes | None = await read_body(request, ocsp.MAX_REQUEST_BYTES)
    except BodyTooLarge:
        body = None
    return await _ocsp_answer(request, authority_id, body, get=False)


@router.get(
    "/ocsp/{authority_id}/{encoded:path}",
    response_class=Response,
    responses={200: {"content": {OCSP_RESPONSE: {}}}},
    summary="OCSP over GET (base64 of the DER request in the path, RFC 6960 appendix A.1)",
)
async def ocsp_get(authority_id: str, encoded: str, request: Request) -> Response:
    return await _ocsp_answer(request, authority_id, decode_get(encoded), get=True)


@router.get(
    "/api/v1/certificates/{serial}/status",
    dependencies=[Depends(require(Permission.CERTIFICATES_READ))],
    tags=["certificates"],
    summary="A certificate's current status, with where relying parties check it",
)
def certificate_status(serial: str, kyso: KysoDep) -> dict[str, object]:
    with kyso.db.reading() as session:
        return status.certificate_status(session, kyso.ca, serial).as_json()
