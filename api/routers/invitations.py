"""/api/v1/invitations and /api/v1/venues: hosts invite guests; venues, reports and CSV; the desk routes
(api/routers/checkins.py) are included here, so the app includes one router.

An official manages the invitations they host; a clerk or an integrator may invite on behalf of a host
(``"host": "<username>"``) and manage every invitation. The outbox (invitation emails, arrival notices),
the end-of-day check-out and the retention clean-up are the background worker's (services/worker.py).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from api.auth import require
from api.deps import KysoDep, actor_of
from api.inputs import Offset
from api.routers import checkins
from api.routers.checkins import ContextDep
from core.clock import VIETNAM
from core.errors import Kind, ServiceError, malformed
from identity.permissions import Permission
from identity.sessions import Principal
from invitations import qr, reports, service, venues
from invitations.service import Amendment, InvitationInput
from services import checkins as checkin_service
from services import invitations as invitation_service
from services.invitations import owner_of
from services.root import Kyso

router = APIRouter()
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
    guest_title: str | None = Field(None, max_length=30, description='the honorific: "Ông", "Bà"…')
    host_contact: str | None = Field(
        None, max_length=100, description="the host's phone or extension, shown to the desk and the guest"
    )
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
    guest_title: str | None = Field(None, max_length=30, description='"" removes it')
    host_contact: str | None = Field(None, max_length=100, description='"" removes it')


class VenueIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(max_length=40, examples=["UBND-BT"])
    name: str = Field(max_length=200, examples=["UBND Phường Bến Thành"])
    address: str | None = Field(None, max_length=300)
    desks: list[str] = Field(default_factory=list, max_length=100, examples=[["gate-1", "gate-2"]])
    retention_days: int | None = Field(
        None,
        ge=1,
        le=venues.MAX_RETENTION_DAYS,
        description="days after an invitation ends before its guest is anonymised (default: the instance's)",
    )


def _owner(principal: Principal) -> int | None:
    """Whose invitations the caller manages (``services.invitations.owner_of``), for the reading routes."""
    return owner_of(actor_of(None, principal))


# --- invitations --------------------------------------------------------------------------------------
@invitations_router.post("", status_code=201, summary="Invite a guest → the invitation and its QR text")
def create(body: InvitationIn, kyso: KysoDep, principal: Manager, request: Request) -> dict[str, object]:
    data = InvitationInput(
        **body.model_dump(exclude={"host", "send_email", "companions"}), companions=tuple(body.companions)
    )
    actor = actor_of(request, principal)
    created = invitation_service.create(kyso, actor, data, host=body.host, send_email=body.send_email)
    return created.as_json()


@invitations_router.get("", summary="List invitations (an official sees their own)")
def search(
    kyso: KysoDep,
    principal: Manager,
    venue: str | None = None,
    day: Annotated[dt.date | None, Query(description="a day with an occurrence, YYYY-MM-DD")] = None,
    status: Annotated[str | None, Query(pattern="^(active|cancelled)$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> dict[str, object]:
    with kyso.db.reading() as session:
        items, total = service.search(
            session,
            owner=_owner(principal),
            venue=venue,
            day=day,
            status=status,
            limit=limit,
            offset=offset,
            now=kyso.clock.now(),
        )
    return {"total": total, "limit": limit, "offset": offset, "items": [i.as_json() for i in items]}


@invitations_router.get("/{invitation_id}", summary="One invitation, with its current QR text")
def show(invitation_id: str, kyso: KysoDep, principal: Manager, context: ContextDep) -> dict[str, object]:
    with kyso.db.reading() as session:
        return service.view(session, context, invitation_id, _owner(principal), with_payload=True).as_json()


@invitations_router.patch("/{invitation_id}", summary="Amend: a new QR; the old one is refused from now on")
def amend(
    invitation_id: str, body: AmendIn, kyso: KysoDep, principal: Manager, request: Request
) -> dict[str, object]:
    changes = body.model_dump(exclude_unset=True)
    if not changes:
        raise malformed("nothing to change")
    if changes.get("companions") is not None:
        changes["companions"] = tuple(changes["companions"])
    actor = actor_of(request, principal)
    return invitation_service.amend(kyso, actor, invitation_id, Amendment(**changes)).as_json()


@invitations_router.delete("/{invitation_id}", summary="Cancel: the QR is refused from now on")
def cancel(invitation_id: str, kyso: KysoDep, principal: Manager, request: Request) -> dict[str, object]:
    return invitation_service.cancel(kyso, actor_of(request, principal), invitation_id).as_json()


def _qr(
    kyso: Kyso, context: service.InvitationContext, principal: Principal, invitation_id: str
) -> qr.QrCode:
    with kyso.db.reading() as session:
        shown = service.view(session, context, invitation_id, _owner(principal), with_payload=True)
    if shown.payload is None:
        raise ServiceError(Kind.CONFLICT, "the invitation is cancelled: it has no QR code")
    return qr.render(shown.payload)


@invitations_router.get("/{invitation_id}/qr.png", summary="The QR code as PNG", response_class=Response)
def qr_png(
    invitation_id: str,
    kyso: KysoDep,
    principal: Manager,
    context: ContextDep,
    scale: Annotated[int, Query(ge=2, le=20, description="pixels per module")] = 8,
) -> Response:
    return Response(_qr(kyso, context, principal, invitation_id).png(scale), media_type="image/png")


@invitations_router.get("/{invitation_id}/qr.svg", summary="The QR code as SVG", response_class=Response)
def qr_svg(invitation_id: str, kyso: KysoDep, principal: Manager, context: ContextDep) -> Response:
    return Response(_qr(kyso, context, principal, invitation_id).svg(), media_type="image/svg+xml")


@invitations_router.get(
    "/{invitation_id}/letter.pdf",
    summary="The invitation letter (giấy mời) as PDF, sealed PAdES B-LT by the host's agency",
    response_class=Response,
    responses={
        200: {"content": {"application/pdf": {}}},
        409: {"description": "cancelled, or no agency seal"},
    },
)
def letter_pdf(invitation_id: str, kyso: KysoDep, principal: Manager, request: Request) -> Response:
    sealed = invitation_service.letter(kyso, actor_of(request, principal), invitation_id)
    headers = {"Content-Disposition": f'attachment; filename="giay-moi-{sealed.invitation_id}.pdf"'}
    return Response(sealed.pdf, media_type="application/pdf", headers=headers)


@invitations_router.post(
    "/{invitation_id}/send", status_code=202, summary="Email the invitation to the guest"
)
def send(invitation_id: str, kyso: KysoDep, principal: Manager, request: Request) -> dict[str, object]:
    shown = invitation_service.send(kyso, actor_of(request, principal), invitation_id)
    return {"queued": True, "to": shown.guest_email}


# --- venues and reports -------------------------------------------------------------------------------
@venues_router.post("", status_code=201, summary="Add a venue with its desks (admin)")
def add_venue(body: VenueIn, kyso: KysoDep, principal: Admin, request: Request) -> dict[str, object]:
    actor = actor_of(request, principal)
    added = invitation_service.add_venue(
        kyso,
        actor,
        body.code,
        body.name,
        address=body.address,
        desks=body.desks,
        retention_days=body.retention_days,
    )
    return added.as_json()


class RetentionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    retention_days: int | None = Field(
        ge=1, le=venues.MAX_RETENTION_DAYS, description="null: the instance's KYSO_INVITATION_RETENTION_DAYS"
    )


@venues_router.patch("/{code}", summary="Set a venue's retention of guest data, in days (admin)")
def set_retention(
    code: Annotated[str, Path(min_length=1, max_length=40)],
    body: RetentionIn,
    kyso: KysoDep,
    principal: Admin,
    request: Request,
) -> dict[str, object]:
    return invitation_service.set_retention(
        kyso, actor_of(request, principal), code, body.retention_days
    ).as_json()


class DeskIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(max_length=40, examples=["gate-3"], description="unique across venues")
    name: str | None = Field(None, max_length=200, examples=["Cổng phụ"])


@venues_router.post("/{code}/desks", status_code=201, summary="Add a desk to a venue (admin)")
def add_desk(
    code: Annotated[str, Path(min_length=1, max_length=40)],
    body: DeskIn,
    kyso: KysoDep,
    principal: Admin,
    request: Request,
) -> dict[str, object]:
    added = invitation_service.add_desk(kyso, actor_of(request, principal), code, body.code, body.name)
    return dict(added.as_json())


@venues_router.get("", summary="Venues and their desks")
def list_venues(kyso: KysoDep, principal: Manager) -> list[dict[str, object]]:
    with kyso.db.reading() as session:
        return [v.as_json() for v in venues.all_venues(session)]


def _report(kyso: Kyso, principal: Principal, code: str, day: dt.date | None) -> reports.DayReport:
    now = kyso.clock.now()
    with kyso.db.reading() as session:
        return reports.day_report(
            session,
            code,
            day or now.astimezone(VIETNAM).date(),
            now,
            checkin_service.reader_of(actor_of(None, principal)),
        )


@venues_router.get(
    "/{code}/report",
    summary="Expected guests, arrivals and no-shows for a day (the venue's hosts and desks, the admin)",
)
def report(
    code: str,
    kyso: KysoDep,
    principal: checkins.VenueReader,
    day: Annotated[dt.date | None, Query(description="YYYY-MM-DD; today by default")] = None,
) -> dict[str, object]:
    return _report(kyso, principal, code, day).as_json()


@venues_router.get("/{code}/report.csv", summary="The day's report as CSV (UTF-8)", response_class=Response)
def report_csv(
    code: str,
    kyso: KysoDep,
    principal: checkins.VenueReader,
    day: Annotated[dt.date | None, Query()] = None,
) -> Response:
    found = _report(kyso, principal, code, day)
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
