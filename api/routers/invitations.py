"""/api/v1/invitations and /api/v1/venues: hosts invite guests; venues, reports and CSV; the desk routes
(api/routers/checkins.py) are included here, so the app includes one router.

An official manages the invitations they host; a clerk or an integrator may invite on behalf of a host
(``"host": "<username>"``) and manage every invitation. A background worker (started with the app)
delivers the outbox — invitation emails, arrival notices — and runs the end-of-day check-out and the
retention clean-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from api.auth import require
from api.deps import RuntimeDep
from api.inputs import Offset
from api.routers import checkins
from api.routers.checkins import ContextDep, context_of, record
from ca.runtime import CaRuntime
from core.clock import VIETNAM
from core.errors import Kind, ServiceError, malformed
from identity.permissions import Permission
from identity.sessions import Principal
from invitations import checkin, mail, notify, pass_links, qr, reports, retention, service, venues
from invitations import letter as letters
from invitations.service import Amendment, Host, InvitationInput
from signing.seals import DocumentSealer
from store import invitations_repo as repo

log = logging.getLogger("kyso.invitations")
WORKER_SECONDS = 5.0
HOUSEKEEPING_EVERY = 60  # worker rounds: check-out and retention every ~5 minutes
ON_BEHALF = frozenset({"clerk", "service"})  # roles that may invite for another host and see every invitation


async def _worker(app: FastAPI) -> None:
    rounds = 0
    while True:
        await asyncio.sleep(WORKER_SECONDS)
        try:
            await asyncio.to_thread(run_worker_round, app, rounds % HOUSEKEEPING_EVERY == 0)
        except Exception:  # keep delivering after a database or mail-server hiccup
            log.exception("invitation worker round failed")
        rounds += 1


def run_worker_round(app: Any, housekeeping: bool) -> None:
    """Deliver due notifications; with ``housekeeping``, end-of-day check-out and data retention."""
    runtime: CaRuntime = app.state.runtime
    try:
        context = context_of(app)
    except ServiceError:
        return  # no seal yet (`kyso init` not run on this version): nothing to do
    smtp = mail.config_from(runtime.settings)
    attach = letters.for_mail(runtime.db, context, letter_sealer(app), _audit_letter(runtime, None, None))
    build = notify.invitation_mail_builder(context, attach, pass_links.url_builder(runtime.settings))
    notify.deliver_due(runtime.db, runtime.ca.clock.now, smtp, build, webhooks=context.webhooks)
    if not housekeeping:
        return
    with runtime.db.transaction() as session:
        if count := checkin.auto_checkout(session, context):
            record(session, runtime, None, None, "checkin.auto_checkout", None, count=count)
    with runtime.db.transaction() as session:
        days = runtime.settings.invitation_retention_days
        if done := retention.anonymise(session, runtime.ca.clock.now(), days):
            record(
                session, runtime, None, None, "invitation.anonymise", None, count=len(done), after_days=days
            )


def letter_sealer(app: Any) -> DocumentSealer:
    return app.state.kyso.letter_sealer


def _audit_letter(runtime: CaRuntime, request: Request | None, principal: Principal | None) -> Any:
    def on_sealed(session: Session, letter: letters.SealedLetter) -> None:
        record(session, runtime, request, principal, "invitation.letter", letter.invitation_id,
               document=letter.document_id, organization=letter.organization)  # fmt: skip

    return on_sealed


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    task = asyncio.create_task(_worker(app))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


router = APIRouter(lifespan=lifespan)
invitations_router = APIRouter(prefix="/api/v1/invitations", tags=["invitations"])
venues_router = APIRouter(prefix="/api/v1/venues", tags=["venues"])
Manager = Annotated[Principal, Depends(require(Permission.INVITATIONS_MANAGE))]
Admin = Annotated[Principal, Depends(require(Permission.USERS_MANAGE))]


# --- schemas ------------------------------------------------------------------------------------------
class InvitationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    guest_name: str = Field(max_length=200, examples=["Nguyễn Thị Minh Khai"])
    venue: str = Field(max_length=40, examples=["UBND-BT"])
    starts_at: AwareDatetime = Field(examples=["2026-11-24T09:00:00+07:00"])
    ends_at: AwareDatetime = Field(examples=["2026-11-24T10:00:00+07:00"])
    meeting_title: str = Field("Làm việc", max_length=300)
    cccd: str | None = Field(None, max_length=20, description="stored hashed, shown masked")
    guest_email: str | None = Field(None, max_length=254)
    guest_phone: str | None = Field(None, max_length=30)
    entries: int = Field(1, ge=1, le=service.MAX_ENTRIES, description="entries per day")
    companions: list[str] = Field(default_factory=list, max_length=service.MAX_COMPANIONS)
    days: int = Field(1, ge=1, le=service.MAX_DAYS, description="the same hours on this many days")
    rotating: bool = Field(False, description="the pass page shows a code that changes every 30 s")
    notify_webhook: str | None = Field(None, max_length=500)
    notify_email: str | None = Field(None, max_length=254)
    host: str | None = Field(
        None, max_length=64, description="for clerks and integrators: the host's username"
    )
    send_email: bool = Field(False, description="email the invitation (QR and .ics) to guest_email")


class AmendIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    guest_name: str | None = Field(None, max_length=200)
    meeting_title: str | None = Field(None, max_length=300)
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    days: int | None = Field(None, ge=1, le=service.MAX_DAYS)
    entries: int | None = Field(None, ge=1, le=service.MAX_ENTRIES)
    companions: list[str] | None = Field(None, max_length=service.MAX_COMPANIONS)
    cccd: str | None = Field(None, max_length=20, description='"" removes it')
    guest_email: str | None = Field(None, max_length=254)
    guest_phone: str | None = Field(None, max_length=30)
    rotating: bool | None = None
    notify_webhook: str | None = Field(None, max_length=500)
    notify_email: str | None = Field(None, max_length=254)


class VenueIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(max_length=40, examples=["UBND-BT"])
    name: str = Field(max_length=200, examples=["UBND Phường Bến Thành"])
    address: str | None = Field(None, max_length=300)
    desks: list[str] = Field(default_factory=list, max_length=100, examples=[["gate-1", "gate-2"]])


# --- helpers ------------------------------------------------------------------------------------------
def _owner(principal: Principal) -> int | None:
    """Officials see their own invitations; clerks and integrators see all."""
    return None if principal.role in ON_BEHALF else principal.account_id


def _host(session: Session, principal: Principal, username: str | None) -> Host:
    if username and username.strip().lower() != principal.username:
        if principal.role not in ON_BEHALF:
            raise ServiceError(Kind.FORBIDDEN, "only clerks and integrators invite on behalf of another host")
        return service.host_of(session, username)
    if principal.role == "service":
        raise malformed('an integrator names the host: give "host": "<username>"')
    return service.host_of(session, principal.username)


# --- invitations --------------------------------------------------------------------------------------
@invitations_router.post("", status_code=201, summary="Invite a guest → the invitation and its QR text")
def create(
    body: InvitationIn, runtime: RuntimeDep, principal: Manager, context: ContextDep, request: Request
) -> dict[str, object]:
    data = InvitationInput(
        **body.model_dump(exclude={"host", "send_email", "companions"}), companions=tuple(body.companions)
    )
    with runtime.db.transaction() as session:
        host = _host(session, principal, body.host)
        created = service.create(session, context, host, data)
        if body.send_email:
            invitation = repo.invitation(session, created.id)
            notify.enqueue_invitation_email(session, invitation, runtime.ca.clock.now())  # type: ignore[arg-type]
        record(
            session,
            runtime,
            request,
            principal,
            "invitation.create",
            created.id,
            venue=created.venue,
            host=host.username,
            days=len(created.occurrences),
            emailed=body.send_email,
        )
        return created.as_json()


@invitations_router.get("", summary="List invitations (an official sees their own)")
def search(
    runtime: RuntimeDep,
    principal: Manager,
    venue: str | None = None,
    day: Annotated[dt.date | None, Query(description="a day with an occurrence, YYYY-MM-DD")] = None,
    status: Annotated[str | None, Query(pattern="^(active|cancelled)$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> dict[str, object]:
    with runtime.db.reading() as session:
        items, total = service.search(
            session, owner=_owner(principal), venue=venue, day=day, status=status, limit=limit, offset=offset
        )
    return {"total": total, "limit": limit, "offset": offset, "items": [i.as_json() for i in items]}


@invitations_router.get("/{invitation_id}", summary="One invitation, with its current QR text")
def show(
    invitation_id: str, runtime: RuntimeDep, principal: Manager, context: ContextDep
) -> dict[str, object]:
    with runtime.db.reading() as session:
        return service.view(session, context, invitation_id, _owner(principal), with_payload=True).as_json()


@invitations_router.patch("/{invitation_id}", summary="Amend: a new QR; the old one is refused from now on")
def amend(
    invitation_id: str,
    body: AmendIn,
    runtime: RuntimeDep,
    principal: Manager,
    context: ContextDep,
    request: Request,
) -> dict[str, object]:
    changes = body.model_dump(exclude_unset=True)
    if not changes:
        raise malformed("nothing to change")
    if changes.get("companions") is not None:
        changes["companions"] = tuple(changes["companions"])
    with runtime.db.transaction() as session:
        amended = service.amend(session, context, invitation_id, Amendment(**changes), _owner(principal))
        record(
            session,
            runtime,
            request,
            principal,
            "invitation.amend",
            amended.id,
            fields=sorted(changes),
            version=amended.token_version,
        )
        return amended.as_json()


@invitations_router.delete("/{invitation_id}", summary="Cancel: the QR is refused from now on")
def cancel(
    invitation_id: str, runtime: RuntimeDep, principal: Manager, context: ContextDep, request: Request
) -> dict[str, object]:
    with runtime.db.transaction() as session:
        cancelled = service.cancel(session, context, invitation_id, _owner(principal))
        record(session, runtime, request, principal, "invitation.cancel", cancelled.id)
        return cancelled.as_json()


def _qr(
    runtime: CaRuntime, context: service.InvitationContext, principal: Principal, invitation_id: str
) -> qr.QrCode:
    with runtime.db.reading() as session:
        shown = service.view(session, context, invitation_id, _owner(principal), with_payload=True)
    if shown.payload is None:
        raise ServiceError(Kind.CONFLICT, "the invitation is cancelled: it has no QR code")
    return qr.render(shown.payload)


@invitations_router.get("/{invitation_id}/qr.png", summary="The QR code as PNG", response_class=Response)
def qr_png(
    invitation_id: str,
    runtime: RuntimeDep,
    principal: Manager,
    context: ContextDep,
    scale: Annotated[int, Query(ge=2, le=20, description="pixels per module")] = 8,
) -> Response:
    return Response(_qr(runtime, context, principal, invitation_id).png(scale), media_type="image/png")


@invitations_router.get("/{invitation_id}/qr.svg", summary="The QR code as SVG", response_class=Response)
def qr_svg(invitation_id: str, runtime: RuntimeDep, principal: Manager, context: ContextDep) -> Response:
    return Response(_qr(runtime, context, principal, invitation_id).svg(), media_type="image/svg+xml")


@invitations_router.get(
    "/{invitation_id}/letter.pdf",
    summary="The invitation letter (giấy mời) as PDF, sealed PAdES B-LT by the host's agency",
    response_class=Response,
    responses={
        200: {"content": {"application/pdf": {}}},
        409: {"description": "cancelled, or no agency seal"},
    },
)
def letter_pdf(
    invitation_id: str, runtime: RuntimeDep, principal: Manager, context: ContextDep, request: Request
) -> Response:
    with runtime.db.reading() as session:
        shown = service.view(
            session, context, invitation_id, _owner(principal)
        )  # refuses others' invitations
    sealed = letters.issue(
        runtime.db, context, shown.id, letter_sealer(request.app), _audit_letter(runtime, request, principal)
    )
    headers = {"Content-Disposition": f'attachment; filename="giay-moi-{shown.id}.pdf"'}
    return Response(sealed.pdf, media_type="application/pdf", headers=headers)


@invitations_router.post(
    "/{invitation_id}/send", status_code=202, summary="Email the invitation to the guest"
)
def send(
    invitation_id: str, runtime: RuntimeDep, principal: Manager, context: ContextDep, request: Request
) -> dict[str, object]:
    with runtime.db.transaction() as session:
        shown = service.view(session, context, invitation_id, _owner(principal))
        if shown.status != "active":
            raise ServiceError(Kind.CONFLICT, "the invitation is cancelled")
        notify.enqueue_invitation_email(session, repo.invitation(session, shown.id), runtime.ca.clock.now())  # type: ignore[arg-type]
        record(session, runtime, request, principal, "invitation.send", shown.id)
    return {"queued": True, "to": shown.guest_email}


# --- venues and reports -------------------------------------------------------------------------------
@venues_router.post("", status_code=201, summary="Add a venue with its desks (admin)")
def add_venue(body: VenueIn, runtime: RuntimeDep, principal: Admin, request: Request) -> dict[str, object]:
    with runtime.db.transaction() as session:
        added = venues.add(
            session, runtime.ca.clock, body.code, body.name, address=body.address, desks=body.desks
        )
        record(
            session, runtime, request, principal, "venue.add", added.code, desks=[d.code for d in added.desks]
        )
        return added.as_json()


@venues_router.get("", summary="Venues and their desks")
def list_venues(runtime: RuntimeDep, principal: Manager) -> list[dict[str, object]]:
    with runtime.db.reading() as session:
        return [v.as_json() for v in venues.all_venues(session)]


def _report(runtime: CaRuntime, principal: Principal, code: str, day: dt.date | None) -> reports.DayReport:
    now = runtime.ca.clock.now()
    with runtime.db.reading() as session:
        return reports.day_report(
            session, code, day or now.astimezone(VIETNAM).date(), now, checkins.reader_of(principal)
        )


@venues_router.get(
    "/{code}/report",
    summary="Expected guests, arrivals and no-shows for a day (the venue's hosts and desks, the admin)",
)
def report(
    code: str,
    runtime: RuntimeDep,
    principal: checkins.VenueReader,
    day: Annotated[dt.date | None, Query(description="YYYY-MM-DD; today by default")] = None,
) -> dict[str, object]:
    return _report(runtime, principal, code, day).as_json()


@venues_router.get("/{code}/report.csv", summary="The day's report as CSV (UTF-8)", response_class=Response)
def report_csv(
    code: str,
    runtime: RuntimeDep,
    principal: checkins.VenueReader,
    day: Annotated[dt.date | None, Query()] = None,
) -> Response:
    found = _report(runtime, principal, code, day)
    return Response(
        found.csv(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="khach-{found.venue}-{found.day.isoformat()}.csv"'
        },
    )


router.include_router(invitations_router)
router.include_router(venues_router)
router.include_router(checkins.router)
