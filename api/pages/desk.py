"""``/desk``: the security desk. A scanner types the pass and Enter into the big input; the page posts it to
``POST /api/v1/checkins`` and fills the screen with the decision. Camera frames go to ``POST /desk/decode``
(zxing-cpp on the server) and a decoded pass takes the same path as a typed one, so an empty frame is not
a "deny" in the audit log. ``GET /desk/guests``: the day's expected and arrived guests at the desk's venue.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from api.auth import require
from api.deps import KysoDep
from api.pages.access import page_caller
from api.pages.render import page
from api.pages.static import STATIC
from api.request_body import read_body
from api.routers.checkins import IMAGE_LIMIT
from core.clock import VIETNAM
from core.errors import Kind, ServiceError
from identity.permissions import Permission
from identity.sessions import Principal
from invitations import qr, reports, rollcall, venues
from store import invitations_repo as repo

router = APIRouter(tags=["pages"], include_in_schema=False)
DeskPage = Annotated[Principal, Depends(page_caller(Permission.CHECKINS_CREATE))]
DeskCaller = Annotated[Principal, Depends(require(Permission.CHECKINS_CREATE))]
SCRIPT_STRINGS = [
    "admit", "deny", "checked_out", "queued", "queued_text", "guest", "host", "meeting", "companions",
    "entries_left", "check_out_button", "online", "offline", "pending", "replayed", "no_guests",
    "count_expected", "count_arrived", "count_noshow", "status_expected", "status_arrived", "status_inside",
    "status_no-show", "status_cancelled", "camera_unavailable", "camera_looking", "camera_start",
    "camera_stop", "network_error", "error_prefix", "host_contact", "next_action", "last_used",
    "entries_more", "held_word", "hold_approved", "walkup_check", "walkup_waiting", "card_prompt",
    "card_match", "card_not_compared",
]  # fmt: skip


def _venue_of(kyso, principal: Principal, asked: str | None):
    with kyso.db.reading() as session:
        code = repo.account_venue(session, principal.account_id) if principal.role == "desk" else None
        if code is None and asked:
            code = asked
        every = venues.all_venues(session) if code is None else []
        return (venues.view(session, code) if code else None), every


def _venue_page(
    request: Request, kyso, principal: Principal, venue: str | None, name: str, title: str, strings
) -> HTMLResponse:
    """A desk page for one venue (a desk account's own, or the one asked for), or the venue picker."""
    try:
        here, every = _venue_of(kyso, principal, venue)
    except ServiceError as exc:
        if exc.kind is not Kind.NOT_FOUND:
            raise
        here, every = None, []
    return page(
        request, f"{name}.html", title=title, scripts=("common.js", f"{name}.js"), script_strings=strings,
        principal=principal, venue=here, venues=every,
    )  # fmt: skip


@router.get("/desk", response_class=HTMLResponse)
def desk_page(
    request: Request,
    kyso: KysoDep,
    principal: DeskPage,
    venue: Annotated[str | None, Query(max_length=40)] = None,
) -> HTMLResponse:
    return _venue_page(request, kyso, principal, venue, "desk", "desk_title", SCRIPT_STRINGS)


@router.get("/desk/guests")
def desk_guests(
    kyso: KysoDep, principal: DeskCaller, venue: Annotated[str, Query(min_length=1, max_length=40)]
) -> JSONResponse:
    """The day's report for the desk's own venue (a desk account sees no other; invitations.venues)."""
    with kyso.db.reading() as session:
        now = kyso.clock.now()
        reader = venues.Reader(principal.account_id, principal.role)
        found = reports.day_report(session, venue, now.astimezone(VIETNAM).date(), now, reader)
        whole = venues.report_scope(session, reader, venue).whole
        # who is inside now, for the roll call page (/desk/rollcall) to work from when the network is gone
        inside = rollcall.roll_call(session, venue, now).as_json() if whole else None
    return JSONResponse({**found.as_json(), "rollcall": inside}, headers={"Cache-Control": "no-store"})


ROLLCALL_STRINGS = [
    "rollcall_synced", "rollcall_none", "rollcall_no_data", "mark_safe", "mark_missing", "mark_unmarked",
    "rollcall_counts", "rollcall_pending", "online", "offline", "host", "host_contact", "companions",
    "col_arrived", "network_error", "error_prefix",
]  # fmt: skip


@router.get("/desk/rollcall", response_class=HTMLResponse)
def rollcall_page(
    request: Request,
    kyso: KysoDep,
    principal: DeskPage,
    venue: Annotated[str | None, Query(max_length=40)] = None,
) -> HTMLResponse:
    """The evacuation roll call on a phone: who is inside, mark safe / missing, CSV. Works offline from the
    desk's last sync (the page and its data are kept by the browser: /desk/rollcall-sw.js)."""
    return _venue_page(request, kyso, principal, venue, "rollcall", "rollcall", ROLLCALL_STRINGS)


@router.get("/desk/rollcall-sw.js")
def rollcall_worker(principal: DeskCaller) -> Response:
    """The service worker that lets /desk/rollcall open without a network (its scope is /desk/); for the
    desk's people, like the page (the browser fetches it with the session cookie)."""
    body = (STATIC / "rollcall-sw.js").read_bytes()
    return Response(body, media_type="text/javascript; charset=utf-8", headers={"Cache-Control": "no-cache"})


@router.post("/desk/decode")
async def desk_decode(request: Request, principal: DeskCaller) -> JSONResponse:
    """A camera frame (JPEG or PNG) → the QR texts in it, ours first; nothing is decided or recorded."""
    image = await read_body(request, IMAGE_LIMIT)
    texts = await run_in_threadpool(qr.read, image)
    ours = [t for t in texts if t.startswith(("KY1:", "KR1:"))]
    return JSONResponse({"texts": ours + [t for t in texts if t not in ours]})
