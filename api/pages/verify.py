"""The citizens' pages: ``/verify`` (pick or drop a PDF → one verdict per signature, in plain words) and
``/verify/{id}`` (what the QR on a stamp opens: the registered document, and a copy compared with it).
The checks themselves are services.verification's, as for the API: same limits, isolation and seal.

Every result page has ONE conclusion (the banner): at ``/verify/{id}`` it weighs how the upload relates
to the registered document (the same file, the same file sealed afterwards, changed after signing, or
another file) with the signatures' verdict. The words come from verification.words. A result keeps the
upload for a while (api/pages/held.py) so each signature's signed revision can be downloaded ("Xem bản
đã ký") and compared, page by page, with the file as uploaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from api.deps import KysoDep
from api.pages.access import FORM_FIELD, check_form_token, form_token
from api.pages.held import HeldUploads, Kept
from api.pages.i18n import translator
from api.pages.render import language, local_time, page
from api.ratelimit import verify_limit
from api.routers.verify import check_upload
from core.errors import Kind, ServiceError
from services import verification
from services.root import Kyso
from signing import registry
from verification import words
from verification.report import Indication, SignatureReport, VerificationReport

router = APIRouter(tags=["pages"], include_in_schema=False)
CSS = {
    Indication.TOTAL_PASSED: "passed",
    Indication.TOTAL_FAILED: "failed",
    Indication.INDETERMINATE: "indeterminate",
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
    notice: str | None  # the test CA's notice
    technical: list[str]
    revision: int | None  # the revision this signature signed, when the file's revisions are known
    later_changes: bool  # something came after that revision: a comparison is worth showing


@dataclass(frozen=True)
class Conclusion:
    css: str
    verdict: str
    sentences: list[str]  # why, first the reason that decides


def _card(lang: str, t, number: int, s: SignatureReport, report: VerificationReport) -> SignatureCard:
    pick = words.pick
    rows: list[tuple[str, str]] = []
    seal = words.is_seal(s)
    if s.signer is not None:
        rows.append((t("agency") if seal else t("signer"), s.signer.name))
        if s.signer.title:
            rows.append((t("title_role"), s.signer.title))
        if s.signer.organization and s.signer.organization != s.signer.name:
            rows.append((t("agency"), s.signer.organization))
    if s.signing_time:
        source = pick(words.TIME_SOURCE.get(s.signing_time_source, ("", "")), lang)
        when = local_time(s.signing_time, "%H:%M:%S %d/%m/%Y")
        rows.append((t("signing_time"), f"{when} ({source})" if source else when))
    timestamp = (
        f"{s.timestamp.authority}, {local_time(s.timestamp.time, '%H:%M:%S %d/%m/%Y')}"
        if s.timestamp
        else t("no_timestamp")
    )
    rows.append((t("timestamp"), timestamp))
    rows.append((t("changes"), pick(words.changes_after(s, report), lang)))
    rows.append((t("integrity"), pick(words.integrity(s), lang)))
    rows.append((t("trusted_chain"), pick(words.trusted(s), lang)))
    revocation = words.REVOCATION[s.revocation.value] if s.integrity else words.NOT_JUDGED
    rows.append((t("revocation"), pick(revocation, lang)))
    if s.issuer:
        rows.append((t("issuer"), words.issuer(s.issuer) or s.issuer))
    if s.pades_level:
        rows.append((t("pades_level"), s.pades_level))
    kind = pick(words.kind(s), lang)
    because = words.reason(s, report)
    indication, verdict = words.signature_verdict(s, report)
    mine = next((r for r in report.revisions if r.field == s.field and r.signed_until), None)
    technical = [pick(words.technical(line), lang) for line in [*s.reasons, *s.warnings]]
    # the banner says it once when every signature is under the test CA; else the card says it
    own_notice = s.field in report.test_pki_fields and not _all_test(report)
    if lang != "en":
        technical += [f"(English) {line}" for line in [*s.reasons, *s.warnings]]
    return SignatureCard(
        heading=f"{kind} {number}",
        css=CSS[indication],
        verdict=pick(verdict, lang),
        indication=s.indication.value + (f" / {s.sub_indication}" if s.sub_indication else ""),
        reason=pick(because, lang) if because else None,
        rows=rows,
        notice=pick(words.TEST_PKI, lang) if own_notice else None,
        technical=technical,
        revision=mine.number if mine else None,
        later_changes=bool(mine and any(r.number > mine.number for r in report.revisions)),
    )


def _all_test(report: VerificationReport) -> bool:
    return bool(report.signatures) and all(s.field in report.test_pki_fields for s in report.signatures)


def _issued_sentence(lang: str, report: VerificationReport) -> str | None:
    for issued in report.issued_by_us:
        named = issued.organization and issued.organization != issued.signer_name
        values = {
            "signer": issued.signer_name,
            "org": f", {issued.organization}" if named else "",
            "at": local_time(issued.signed_at),
            "by": ", ".join(issued.added_by) or "—",
        }
        text = words.ISSUED.get(issued.relation, words.ISSUED["same"])
        return words.pick(text, lang).format(**values)
    return None


def _conclusion(lang: str, report: VerificationReport, relation: verification.Relation | None) -> Conclusion:
    """The page's one conclusion: the document's verdict (verification.words.document_verdict), and at
    /verify/<id> the upload's relation to the registered document (another file, or one changed after
    signing, is never green)."""
    pick = words.pick
    indication, because = words.document_verdict(report)
    if indication is None:
        undecided = pick(words.VERDICT[Indication.INDETERMINATE], lang)
        if relation is not None and relation.kind not in ("same", "validation-added"):
            sentences = [pick(words.NO_SIGNATURE, lang), pick(words.RELATION["different"], lang)]
            return Conclusion("failed", pick(words.VERDICT[Indication.TOTAL_FAILED], lang), sentences)
        return Conclusion("indeterminate", undecided, [pick(words.NO_SIGNATURE, lang)])
    verdict = pick(words.VERDICT[indication], lang)
    css = CSS[indication]
    reason = pick(because, lang) if because is not None else None
    failed = pick(words.VERDICT[Indication.TOTAL_FAILED], lang)
    if relation is None:
        first = reason if indication is not Indication.TOTAL_PASSED else None
        return Conclusion(css, verdict, [x for x in (first, _issued_sentence(lang, report)) if x])
    if relation.kind == "different":
        different = pick(words.RELATION["different"], lang)
        return Conclusion("failed", failed, [x for x in (reason, different) if x])
    if relation.kind == "changed-after":
        return Conclusion("failed", failed, [pick(words.CHANGED_AFTER_SIGNING, lang)])
    if relation.kind == "earlier":
        undecided = pick(words.VERDICT[Indication.INDETERMINATE], lang)
        return Conclusion("indeterminate", undecided, [pick(words.RELATION["earlier"], lang)])
    if indication is not Indication.TOTAL_PASSED:
        return Conclusion(css, verdict, [reason] if reason else [])
    text = pick(words.RELATION.get(relation.kind, words.RELATION["same"]), lang)
    return Conclusion(css, verdict, [text.format(by=", ".join(relation.added_by) or "—")])


def _report_view(
    request: Request,
    report: VerificationReport,
    relation: verification.Relation | None = None,
    held: str | None = None,
) -> dict[str, object]:
    lang = language(request)
    t = translator(lang)
    return {
        "report": report,
        "conclusion": _conclusion(lang, report, relation),
        "cards": [_card(lang, t, n, s, report) for n, s in enumerate(report.signatures, start=1)],
        "held": held,
        "test_pki": words.pick(words.TEST_PKI, lang) if _all_test(report) else None,
    }


def _verify_page(
    request: Request, *, action: str, status: int = 200, record=None, **context: object
) -> HTMLResponse:
    token, cookies = form_token(request)
    context.setdefault("report", None)
    context.setdefault("error", None)
    context.setdefault("conclusion", None)
    context.setdefault("held", None)
    context.setdefault("test_pki", None)
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


def _unknown(request: Request) -> HTMLResponse:
    """A /verify/<id> that names no document: the verify page's own 404, with the upload form."""
    return page(request, "verify_unknown.html", title="verify_unknown_title", status=404)


def _held(kyso: Kyso) -> HeldUploads:
    return HeldUploads(kyso.settings.data_dir / "verify-held")


async def _checked(
    kyso: Kyso, document: UploadFile
) -> tuple[VerificationReport | None, str | None, str | None]:
    """The report, or the error to show; and the token of the kept upload (for "Xem bản đã ký")."""
    try:
        report = await check_upload(kyso, document)
    except ServiceError as exc:
        if exc.kind is Kind.INTERNAL:
            raise
        return None, exc.message, None
    await document.seek(0)
    data = await document.read()
    token = await run_in_threadpool(_held(kyso).keep, data, report)
    return report, None, token


def _record(kyso: Kyso, document_id: str) -> registry.RegisteredDocument | None:
    try:
        return verification.registered(kyso, document_id)
    except ServiceError as exc:
        if exc.kind is Kind.NOT_FOUND:
            return None
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
    report, error, held = await _checked(kyso, document)
    extra = _report_view(request, report, held=held) if report else {}
    return _verify_page(request, action="/verify", error=error, **extra)


@router.post(
    "/verify/report.pdf",
    summary="The sealed PDF report of an uploaded PDF",
    dependencies=[Depends(verify_limit)],
)
async def verify_report_pdf(request: Request, kyso: KysoDep, document: Upload, token: Token = None):
    check_form_token(request, token)
    try:
        report = await check_upload(kyso, document)
    except ServiceError as exc:
        if exc.kind is Kind.INTERNAL:
            raise
        return _verify_page(request, action="/verify", status=422, error=exc.message)
    sealed = await verification.sealed_report(kyso, report)
    headers = {"Content-Disposition": 'attachment; filename="bao-cao-kiem-tra.pdf"'}
    return Response(sealed, media_type="application/pdf", headers=headers)


# --- the kept upload: signed revisions and what changed since --------------------------------------------
def _kept(kyso: Kyso, token: str) -> Kept | None:
    return _held(kyso).get(token)


@router.get("/verify/held/{token}/revision/{number}.pdf", summary="A signature's signed revision")
def signed_revision(token: str, number: int, request: Request, kyso: KysoDep) -> Response:
    kept = _kept(kyso, token)
    data = kept.signed_revision(number) if kept is not None else None
    if data is None:
        return page(request, "message.html", title="not_found_title", status=404, message="held_expired")
    headers = {"Content-Disposition": f'attachment; filename="ban-da-ky-{number}.pdf"'}
    return Response(data, media_type="application/pdf", headers=headers)


@dataclass(frozen=True)
class PageRow:
    number: int
    changed: bool
    before: str | None
    after: str | None
    diff: str | None


@router.get(
    "/verify/held/{token}/changes/{number}", response_class=HTMLResponse,
    summary="A signed revision compared page by page with the file as uploaded",
    dependencies=[Depends(verify_limit)],
)  # fmt: skip
async def changes_since(token: str, number: int, request: Request, kyso: KysoDep) -> HTMLResponse:
    from verification.compare import MAX_PAGES, compare

    held = _held(kyso)
    kept = held.get(token)
    before = kept.signed_revision(number) if kept is not None else None
    if kept is None or before is None:
        return page(request, "message.html", title="not_found_title", status=404, message="held_expired")
    out = held.images(token) / f"r{number}"
    changes = await run_in_threadpool(compare, before, kept.data, out)
    base = f"/verify/held/{token}/image/r{number}"

    def url(path) -> str | None:
        return f"{base}/{path.stem}.png" if path is not None else None

    rows = [PageRow(c.page, c.changed, url(c.before), url(c.after), url(c.diff)) for c in changes]
    return page(
        request, "verify_changes.html", title="changes_title", rows=rows, number=number, token=token,
        max_pages=MAX_PAGES, rendered=bool(changes), any_changed=any(c.changed for c in changes),
    )  # fmt: skip


@router.get("/verify/held/{token}/image/r{number}/{name}.png", summary="A page image of a comparison")
def comparison_image(token: str, number: int, name: str, kyso: KysoDep) -> Response:
    path = _held(kyso).image(token, f"r{number}/{name}")
    if path is None:  # an image is fetched by the page, not read: a problem document, as the API answers
        raise ServiceError(Kind.NOT_FOUND, "no such comparison image; the upload is kept for 30 minutes")
    return FileResponse(path, media_type="image/png", headers={"Cache-Control": "no-store"})


# --- what a stamp's QR opens ----------------------------------------------------------------------------
@router.get("/verify/{document_id}", response_class=HTMLResponse, summary="What the QR on a stamp opens")
def verify_record(document_id: str, request: Request, kyso: KysoDep) -> HTMLResponse:
    found = _record(kyso, document_id)
    if found is None:
        return _unknown(request)
    return _verify_page(request, action=f"/verify/{found.id}", record=found)


@router.post(
    "/verify/{document_id}", response_class=HTMLResponse, summary="Compare a copy with the record",
    dependencies=[Depends(verify_limit)],
)  # fmt: skip
async def compare_copy(
    document_id: str, request: Request, kyso: KysoDep, document: Upload, token: Token = None
) -> HTMLResponse:
    found = await run_in_threadpool(_record, kyso, document_id)
    if found is None:
        return _unknown(request)
    check_form_token(request, token)
    report, error, held = await _checked(kyso, document)
    extra: dict[str, object] = {}
    if report is not None:
        relation = await run_in_threadpool(verification.relation_to, kyso, report, found.id)
        extra = _report_view(request, report, relation, held)
    return _verify_page(request, action=f"/verify/{found.id}", record=found, error=error, **extra)
