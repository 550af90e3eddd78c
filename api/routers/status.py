"""Certificate status: CRLs (DER at the CRL distribution point URLs) and OCSP (RFC 6960, GET and POST)."""

from __future__ import annotations

import base64
import binascii
from urllib.parse import unquote

from cryptography.hazmat.primitives import serialization
from cryptography.x509 import ocsp as x509_ocsp
from fastapi import APIRouter, Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from api.auth import require
from api.deps import RuntimeDep
from api.limits import BodyTooLarge, read_body
from ca import crl, ocsp, status
from identity.permissions import Permission

router = APIRouter(tags=["status"])
OCSP_RESPONSE = "application/ocsp-response"


def _responder(request: Request) -> ocsp.OcspResponder:
    responder = getattr(request.app.state, "ocsp_responder", None)
    if responder is None:
        responder = request.app.state.ocsp_responder = ocsp.OcspResponder(request.app.state.runtime.ca)
    return responder


@router.get(
    "/pki/crl/{authority_id}.crl",
    response_class=Response,
    responses={200: {"content": {"application/pkix-crl": {}}}},
    summary="The authority's current CRL in DER (its CRL distribution point)",
)
def get_crl(authority_id: str, runtime: RuntimeDep) -> Response:
    with runtime.db.reading() as session:
        info = crl.current(session, runtime.ca, authority_id)
    if info is None:
        with runtime.db.transaction() as session:
            info = crl.publish(session, runtime.ca, authority_id)
    max_age = max(0, int((info.next_update - runtime.ca.clock.now()).total_seconds() // 2))
    return Response(
        info.der,
        media_type="application/pkix-crl",
        headers={
            "Cache-Control": f"public, max-age={max_age}",
            "ETag": f'"crl-{authority_id}-{info.crl_number}"',
        },
    )


def _ocsp_answer(der: bytes, *, cacheable: bool) -> Response:
    headers = {"Cache-Control": "public, max-age=300" if cacheable else "no-cache"}
    return Response(der, media_type=OCSP_RESPONSE, headers=headers)


def _malformed() -> Response:
    return _ocsp_answer(
        x509_ocsp.OCSPResponseBuilder.build_unsuccessful(
            x509_ocsp.OCSPResponseStatus.MALFORMED_REQUEST
        ).public_bytes(serialization.Encoding.DER),
        cacheable=False,
    )


@router.post(
    "/ocsp/{authority_id}",
    response_class=Response,
    responses={200: {"content": {OCSP_RESPONSE: {}}}},
    summary="OCSP over POST (application/ocsp-request)",
)
async def ocsp_post(authority_id: str, request: Request, runtime: RuntimeDep) -> Response:
    try:
        body = await read_body(request, ocsp.MAX_REQUEST_BYTES)
    except BodyTooLarge:
        return _malformed()
    der = await run_in_threadpool(_responder(request).respond, runtime.db, authority_id, body)
    return _ocsp_answer(der, cacheable=False)


@router.get(
    "/ocsp/{authority_id}/{encoded:path}",
    response_class=Response,
    responses={200: {"content": {OCSP_RESPONSE: {}}}},
    summary="OCSP over GET (base64 of the DER request in the path, RFC 6960 appendix A.1)",
)
async def ocsp_get(authority_id: str, encoded: str, request: Request, runtime: RuntimeDep) -> Response:
    text = unquote(encoded)
    if len(text) > ocsp.MAX_REQUEST_BYTES * 2:
        return _malformed()
    try:
        body = base64.b64decode(
            text + "=" * (-len(text) % 4), altchars=b"-_" if "-" in text or "_" in text else None
        )
    except (binascii.Error, ValueError):
        return _malformed()
    der = await run_in_threadpool(_responder(request).respond, runtime.db, authority_id, body)
    return _ocsp_answer(der, cacheable=True)


@router.get(
    "/api/v1/certificates/{serial}/status",
    dependencies=[Depends(require(Permission.CERTIFICATES_READ))],
    tags=["certificates"],
    summary="A certificate's current status, with where relying parties check it",
)
def certificate_status(serial: str, runtime: RuntimeDep) -> dict[str, object]:
    with runtime.db.reading() as session:
        return status.certificate_status(session, runtime.ca, serial).as_json()
