"""Public PKI endpoints: CA certificates at their AIA URLs, and the hierarchy in JSON."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.deps import KysoDep
from api.schemas import AuthorityOut
from ca import authorities

router = APIRouter(tags=["pki"])


@router.get(
    "/pki/ca/{authority_id}.cer",
    response_class=Response,
    responses={200: {"content": {"application/pkix-cert": {}}}},
    summary="A CA certificate in DER (the caIssuers URL of the AIA extension)",
)
def ca_certificate(authority_id: str, kyso: KysoDep) -> Response:
    with kyso.db.reading() as session:
        der = authorities.certificate_der(session, authority_id)
    return Response(
        der, media_type="application/pkix-cert", headers={"Cache-Control": "public, max-age=86400"}
    )


@router.get(
    "/pki/ca/{authority_id}/chain.pem",
    response_class=Response,
    responses={200: {"content": {"application/pem-certificate-chain": {}}}},
    summary="The CA certificate and its parents up to the root, in PEM",
)
def ca_chain(authority_id: str, kyso: KysoDep) -> Response:
    with kyso.db.reading() as session:
        pem = authorities.chain_pem(kyso.ca, session, authority_id)
    return Response(pem, media_type="application/pem-certificate-chain")


@router.get("/api/v1/authorities", response_model=list[AuthorityOut], summary="The CA hierarchy")
def list_authorities(kyso: KysoDep) -> list[AuthorityOut]:
    urls = kyso.ca.urls
    with kyso.db.reading() as session:
        infos = authorities.list_authorities(session)
    return [
        AuthorityOut(
            id=a.id,
            parent=a.parent,
            subject=a.subject,
            key_algorithm=a.key_algorithm,
            serial=a.serial,
            not_before=a.not_before,
            not_after=a.not_after,
            certificate_url=urls.ca_certificate(a.id),
            crl_url=urls.crl(a.id),
            ocsp_url=urls.ocsp(a.id) if a.parent else None,
        )
        for a in infos
    ]
