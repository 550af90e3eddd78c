"""``/pass/<token>``: the guest's pass on their phone — the QR (re-fetched every 20 s when it rotates),
the meeting, a map link to the venue, an .ics for their calendar, the host's contact, and how long the venue
keeps the guest's data. Once admitted, the page says when (and when they left) instead of asking them to show
the code. Public: the token is the credential (api/pages/pass_links.py); cancelled and amended invitations
say so and show no QR."""

from __future__ import annotations

import datetime as dt
import urllib.parse
from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from api.pages.access import PageRefused
from api.pages.render import page
from api.routers.checkins import context_of
from core.clock import VIETNAM, as_utc
from invitations import mail, pass_links, qr, service, venues
from invitations.service import InvitationView
from store import invitations_repo as repo

router = APIRouter(tags=["pages"], include_in_schema=False)
REFRESH_SECONDS = 20
NO_STORE = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex"}


@dataclass(frozen=True)
class Pass:
    token: str
    state: str  # active | cancelled | amended
    view: InvitationView
    venue_name: str
    venue_address: str | None
    retention_days: int  # the venue's, else the instance's (invitations.venues.VenueView.keeps_for)

    @property
    def kept_until(self) -> dt.date:
        """The day the guest's data is anonymised (Vietnam time)."""
        return (self.view.ends_at + dt.timedelta(days=self.retention_days)).astimezone(VIETNAM).date()


def _key(request: Request) -> bytes:
    return request.app.state.kyso.pass_key


def _load(request: Request, token: str) -> Pass:
    kyso = request.app.state.kyso
    context = context_of(request.app)
    parts = pass_links.split(token)
    with kyso.db.reading() as session:
        invitation = repo.invitation(session, parts[0]) if parts else None
        checked = (
            pass_links.check(_key(request), token, invitation.token_version)
            if invitation is not None
            else None
        )
        if invitation is None or checked is None:
            raise PageRefused(404, "pass_unknown")
        shown = service.view(session, context, invitation.id)
        venue = venues.view(session, invitation.venue_code)
    state = "amended" if not checked.current else "active" if shown.status == "active" else "cancelled"
    days = venue.keeps_for(kyso.settings.invitation_retention_days)
    return Pass(token, state, shown, venue.name, venue.address, days)


def _pass_text(request: Request, invitation_id: str) -> str:
    kyso = request.app.state.kyso
    with kyso.db.reading() as session:
        return service.pass_text(context_of(request.app), session, invitation_id)


@router.get("/pass/{token}", response_class=HTMLResponse)
async def pass_page(token: str, request: Request) -> HTMLResponse:
    found = await run_in_threadpool(_load, request, token)
    place = found.venue_name + (f", {found.venue_address}" if found.venue_address else "")
    map_url = "https://www.openstreetmap.org/search?" + urllib.parse.urlencode(
        {"query": found.venue_address or found.venue_name}
    )
    response = page(
        request,
        "pass.html",
        title="pass_title",
        scripts=("pass.js",),
        found=found,
        place=place,
        map_url=map_url,
        refresh=REFRESH_SECONDS if found.view.rotating else 0,
    )
    response.headers["X-Robots-Tag"] = "noindex"
    return response


@router.get("/pass/{token}/qr.png")
async def pass_qr(token: str, request: Request) -> Response:
    found = await run_in_threadpool(_load, request, token)
    if found.state != "active":
        raise PageRefused(410, "pass_cancelled" if found.state == "cancelled" else "pass_amended")
    text = await run_in_threadpool(_pass_text, request, found.view.id)
    png = await run_in_threadpool(lambda: qr.render(text).png(8))
    return Response(png, media_type="image/png", headers=NO_STORE)


@router.get("/pass/{token}/invitation.ics")
async def pass_calendar(token: str, request: Request) -> Response:
    found = await run_in_threadpool(_load, request, token)
    if found.state != "active":
        raise PageRefused(410, "pass_cancelled" if found.state == "cancelled" else "pass_amended")
    shown = found.view
    about = mail.InvitationMail(
        invitation_id=shown.id, to="", guest_name=shown.guest_name, host_name=shown.host_name,
        meeting_title=shown.meeting_title, venue_name=found.venue_name, venue_address=found.venue_address,
        windows=[(as_utc(o.starts_at), as_utc(o.ends_at)) for o in shown.occurrences],
        token_text="", qr_png=b"",
    )  # fmt: skip
    settings = request.app.state.kyso.settings
    organizer = mail.sender_address(settings.smtp_from)
    body = mail.calendar(about, organizer, request.app.state.kyso.clock.now())
    headers = {**NO_STORE, "Content-Disposition": f'attachment; filename="thu-moi-{shown.id}.ics"'}
    return Response(body, media_type="text/calendar; charset=utf-8", headers=headers)
