"""``/portal``: officials and clerks. The page is rendered on the server (their invitations, venues,
certificates and their status); its script calls the JSON API with the session cookie and the CSRF header:
create/cancel invitations, and signing as the API defines it — review the file (name, size, SHA-256
computed in the browser), confirm with a TOTP code (an authorisation bound to that hash), sign, download."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from api.deps import KysoDep, actor_of
from api.pages.access import page_caller
from api.pages.guest_pass import _key as pass_key
from api.pages.render import page
from api.routers.invitations import _owner
from ca import lifecycle
from ca.records import CertificateInfo
from core.clock import VIETNAM
from identity import accounts
from identity.permissions import Permission
from identity.sessions import Principal
from invitations import pass_links, service, venues
from invitations.service import InvitationView
from services import blocklist
from signing import credentials

router = APIRouter(tags=["pages"], include_in_schema=False)
PortalPage = Annotated[Principal, Depends(page_caller(Permission.SELF))]
SCRIPT_STRINGS = [
    "network_error", "error_prefix", "created", "cancel_confirm", "cancelled_ok", "signing", "signed_ok",
    "download_signed", "bytes", "login_failed", "arrival_notice", "left_notice", "state_inside", "state_left",
    "state_expected", "state_no-show", "state_cancelled", "col_arrived", "col_left", "hold_done_admitted",
    "hold_done_refused",
]  # fmt: skip


@dataclass(frozen=True)
class InvitationRow:
    view: InvitationView
    pass_token: str


@dataclass(frozen=True)
class CertificateRow:
    info: CertificateInfo
    purpose: str | None  # sign | seal when the service holds its key for this account


def _certificates(kyso, principal: Principal) -> list[CertificateRow]:
    with kyso.db.reading() as session:
        held = {
            c.certificate_serial: c.purpose for c in credentials.of_account(session, principal.account_id)
        }
        rows = {s: CertificateRow(lifecycle.show(kyso.ca, session, s), p) for s, p in held.items()}
        cccd = accounts.get(session, principal.username).cccd
        if cccd:
            found, _ = lifecycle.search(kyso.ca, session, cccd=cccd, limit=20)
            for info in found:
                rows.setdefault(info.serial, CertificateRow(info, None))
    return sorted(rows.values(), key=lambda r: r.info.not_after, reverse=True)


def _invitations(request: Request, kyso, principal: Principal) -> tuple[list[InvitationRow], list]:
    if not principal.can(Permission.INVITATIONS_MANAGE):
        return [], []
    key = pass_key(request)
    with kyso.db.reading() as session:
        items, _ = service.search(
            session,
            owner=_owner(principal),
            venue=None,
            day=None,
            status=None,
            limit=50,
            offset=0,
            now=kyso.clock.now(),
        )
        every = venues.all_venues(session)
    rows = [InvitationRow(i, pass_links.token_for(key, i.id, i.token_version)) for i in items]
    return rows, every


def _holds(request: Request, kyso, principal: Principal) -> list:
    """Guests the block list holds at a desk that this account may decide on (issue 21)."""
    if not principal.can(Permission.INVITATIONS_MANAGE):
        return []
    return blocklist.holds(kyso, actor_of(request, principal))


@router.get("/portal", response_class=HTMLResponse)
def portal_page(request: Request, kyso: KysoDep, principal: PortalPage) -> HTMLResponse:
    invitations, every = _invitations(request, kyso, principal)
    today = kyso.clock.now().astimezone(VIETNAM).date()
    return page(
        request,
        "portal.html",
        title="portal_title",
        scripts=("common.js", "portal.js"),
        script_strings=SCRIPT_STRINGS,
        principal=principal,
        can_invite=principal.can(Permission.INVITATIONS_MANAGE),
        can_sign=principal.can(Permission.DOCUMENTS_SIGN) or principal.can(Permission.DOCUMENTS_SEAL),
        invitations=invitations,
        holds=_holds(request, kyso, principal),
        venues=every,
        certificates=_certificates(kyso, principal),
        today=today.isoformat(),
    )
