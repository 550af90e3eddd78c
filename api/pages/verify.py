"""The citizens' pages: ``/verify`` (pick or drop a PDF → one verdict per signature, in plain words) and
``/verify/{id}`` (what the QR on a stamp opens: the registered document, and a copy compared with it).
The checks themselves are services.verification's, as for the API: same limits, isolation and seal."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from api.deps import KysoDep
from api.pages.access import FORM_FIELD, PageRefused, check_form_token, form_token
from api.pages.i18n import translator
from api.pages.render import language, local_time, page
from api.ratelimit import verify_limit
from api.routers.verify import check_upload
from core.errors import Kind, ServiceError
from services import verification
from services.root import Kyso
from signing import registry
from verification.report import Indication, SignatureReport, VerificationReport

router = APIRouter(tags=["pages"], include_in_schema=False)
VERDICT = {
    Indication.TOTAL_PASSED: ("passed", "verdict_passed"),
    Indication.TOTAL_FAILED: ("failed", "verdict_failed"),
    Indication.INDETERMINATE: ("indeterminate", "verdict_indeterminate"),
}
Token = Annotated[str | None, Form(alias=FORM_FIELD)]
Upload = Annotated[UploadFile, File()]


@dataclass(frozen=True)
class SignatureCard:
    heading: str
    css: str  # passed | failed | indeterminate
    verdict: str
    indication: str
    reason: str | None  # plain words, when not passed
    rows: list[tuple[str, str]]
    technical: list[str]


def _reason(t, s: SignatureReport) -> str | None:
    if s.indication is Indication.TOTAL_PASSED:
        return None
    key = f"sub_{s.sub_indication}"
    try:
        return t(key)
    except KeyError:
        return t("sub_other")


def _changes(t, s: SignatureReport) -> str:
    if s.modification:
        return t(f"change_{s.modification}")
    # a signature over the entire file: nothing can have been added after it
    return t("change_none") if s.coverage == "entire-file" and s.integrity else "—"


def _card(t, number: int, s: SignatureReport) -> SignatureCard:
    css, verdict = VERDICT[s.indication]
    rows: list[tuple[str, str]] = []
    if s.signer is not None:
        rows.append((t("signer"), s.signer.name))
        if s.signer.title:
            rows.append((t("title_role"), s.signer.title))
        if s.signer.organization and s.signer.organization != s.signer.name:
            rows.append((t("agency"), s.signer.organization))
    if s.signing_time:
        source = {"timestamp": t("time_from_timestamp"), "claimed": t("time_claimed")}.get(
            s.signing_time_source, ""
        )
        rows.append((t("signing_time"), f"{local_time(s.signing_time, '%H:%M:%S %d/%m/%Y')} ({source})"))
    timestamp = (
        f"{s.timestamp.authority}, {local_time(s.timestamp.time, '%H:%M:%S %d/%m/%Y')}"
        if s.timestamp
        else t("no_timestamp")
    )
    rows.append((t("timestamp"), timestamp))
    rows.append((t("changes"), _changes(t, s)))
    rows.append((t("integrity"), t("yes") if s.integrity else t("no")))
    rows.append((t("trusted_chain"), t("yes") if s.trusted else t("no")))
    rows.append((t("revocation"), t(f"revocation_{s.revocation.value}")))
    if s.issuer:
        rows.append((t("issuer"), s.issuer))
    if s.pades_level:
        rows.append((t("pades_level"), s.pades_level))
    heading = t("signature_n" if s.kind == "signature" else "timestamp_n", n=number)
    return SignatureCard(
        heading=heading,
        css=css,
        verdict=t(verdict),
        indication=s.indication.value + (f" / {s.sub_indication}" if s.sub_indication else ""),
        reason=_reason(t, s),
        rows=rows,
        technical=[*s.reasons, *s.warnings],
    )


def _report_view(request: Request, report: VerificationReport) -> dict[str, object]:
    t = translator(language(request))
    overall = VERDICT[report.indication] if report.indication else None
    return {
        "report": report,
        "overall_css": overall[0] if overall else "indeterminate",
        "overall": t(overall[1]) if overall else t("no_signatures"),
        "cards": [_card(t, n, s) for n, s in enumerate(report.signatures, start=1)],
    }


def _verify_page(
    request: Request, *, action: str, status: int = 200, record=None, **context: object
) -> HTMLResponse:
    token, cookies = form_token(request)
    context.setdefault("report", None)
    context.setdefault("error", None)
    context.setdefault("same", None)
    return page(
        request,
        "verify.html",
        title="verify_title",
        status=status,
        scripts=("verify.js",),
        cookies=cookies,
        action=action,
        csrf_token=token,
        record=record,
        **context,
    )


async def _checked(kyso: Kyso, document: UploadFile) -> tuple[VerificationReport | None, str | None]:
    try:
        return await check_upload(kyso, document), None
    except ServiceError as exc:
        if exc.kind is Kind.INTERNAL:
            raise
        return None, exc.message


def _record(kyso: Kyso, document_id: str) -> registry.RegisteredDocument:
    try:
        return verification.registered(kyso, document_id)
    except ServiceError as exc:
        if exc.kind is Kind.NOT_FOUND:
            raise PageRefused(404, "not_found") from None
        raise


@router.get("/verify", response_class=HTMLResponse, summary="The citizens' verification page")
def verify_page(request: Request) -> HTMLResponse:
    return _verify_page(request, action="/verify")


@router.post(
    "/verify", response_class=HTMLResponse, summary="Verify an uploaded PDF (HTML report)",
    dependencies=[Depends(verify_limit)],
)  # fmt: skip
async def verify_upload(request: Request, kyso: KysoDep, document: Upload, token: Token = None):
    check_form_token(request, token)
    report, error = await _checked(kyso, document)
    extra = _report_view(request, report) if report else {}
    return _verify_page(request, action="/verify", error=error, **extra)


@router.post(
    "/verify/report.pdf",
    summary="The sealed PDF report of an uploaded PDF",
    dependencies=[Depends(verify_limit)],
)
async def verify_report_pdf(request: Request, kyso: KysoDep, document: Upload, token: Token = None):
    check_form_token(request, token)
    report, error = await _checked(kyso, document)
    if report is None:
        return _verify_page(request, action="/verify", status=422, error=error)
    sealed = await verification.sealed_report(kyso, report)
    headers = {"Content-Disposition": 'attachment; filename="bao-cao-kiem-tra.pdf"'}
    return Response(sealed, media_type="application/pdf", headers=headers)


@router.get("/verify/{document_id}", response_class=HTMLResponse, summary="What the QR on a stamp opens")
def verify_record(document_id: str, request: Request, kyso: KysoDep) -> HTMLResponse:
    found = _record(kyso, document_id)
    return _verify_page(request, action=f"/verify/{found.id}", record=found)


@router.post(
    "/verify/{document_id}", response_class=HTMLResponse, summary="Compare a copy with the record",
    dependencies=[Depends(verify_limit)],
)  # fmt: skip
async def compare_copy(
    document_id: str, request: Request, kyso: KysoDep, document: Upload, token: Token = None
) -> HTMLResponse:
    found = await run_in_threadpool(_record, kyso, document_id)
    check_form_token(request, token)
    report, error = await _checked(kyso, document)
    extra = _report_view(request, report) if report else {}
    same = report.sha256 == found.sha256 if report else None
    return _verify_page(request, action=f"/verify/{found.id}", record=found, error=error, same=same, **extra)
