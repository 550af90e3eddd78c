"""``/console``: the CA operator's (and the admin's) web console.

Server-rendered like /portal: the pages read through the same service functions as the JSON API
(services.certificates, services.administration, services.audit_log), and their script (console.js)
changes things by calling the JSON API itself — /api/v1/certificates/{serial}/revoke|suspend|reinstate|
renew, /api/v1/users…, /api/v1/api-keys…, /api/v1/audit/verify — with the session cookie and the
``X-CSRF-Token`` header, so every action has one implementation, one permission check and one audit
entry, whichever door it came through.

Who sees what follows the API's permissions: certificates:read opens the search (admins and CA operators);
the revoke/suspend/reinstate buttons need certificates:revoke and renewal certificates:issue (CA
operators); accounts need users:manage and API keys api-keys:manage (admins); the audit log audit:read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlencode

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from api.deps import KysoDep
from api.inputs import column_max
from api.pages import i18n
from api.pages.access import page_caller
from api.pages.console_words import WORDS
from api.pages.render import page
from ca.lifecycle import STATUSES
from ca.profiles import END_ENTITY_PROFILES
from ca.records import CertificateInfo
from ca.revocation_reasons import REVOCATION_REASON_NAMES
from core.errors import Kind, ServiceError
from identity.permissions import ROLES, Permission
from identity.sessions import Principal
from services import administration, approvals, audit_log, certificates, verification
from store.models import AuditEntry

_clash = set(WORDS) & set(i18n.CATALOGUE)
assert not _clash, f"console strings already in the catalogue: {sorted(_clash)}"
i18n.CATALOGUE.update(WORDS)
assert all(f"action_{a}" in WORDS for a in approvals.ACTIONS), "a word for every action approvals can hold"

router = APIRouter(tags=["pages"], include_in_schema=False)
Reader = Annotated[Principal, Depends(page_caller(Permission.CERTIFICATES_READ))]
AccountsAdmin = Annotated[Principal, Depends(page_caller(Permission.USERS_MANAGE))]
AuditReader = Annotated[Principal, Depends(page_caller(Permission.AUDIT_READ))]
PAGE_SIZE = 25
SCRIPT_STRINGS = [
    "network_error_console", "error_prefix_console", "login_failed", "network_error",
    "console_confirm_revoke", "console_confirm_suspend", "console_confirm_reinstate", "console_confirm_renew",
    "console_done_revoke", "console_done_suspend", "console_done_reinstate", "console_done_renew",
    "console_download_p12", "console_created_account", "console_new_password_is", "console_totp_reset",
    "console_changed", "console_confirm_account", "console_key_created", "console_key_removed",
    "console_verifying", "console_chain_ok", "console_chain_broken", "console_confirm_vote", "console_voted",
    "console_sent_for_approval", "console_trust_changed", "console_confirm_trust", "console_venue_added",
    "console_venue_saved",
    *(f"approval_{status}" for status in ("pending", "approved", "rejected", "expired", "failed")),
    *(f"reason_{name}" for name in REVOCATION_REASON_NAMES),
]  # fmt: skip
Text = Annotated[str | None, Query(max_length=200)]


@dataclass(frozen=True)
class Tabs:
    """Which parts of the console this caller may open (the navigation)."""

    certificates: bool
    accounts: bool
    audit: bool
    approvals: bool
    trust: bool
    venues: bool

    @classmethod
    def of(cls, principal: Principal) -> Tabs:
        return cls(
            principal.can(Permission.CERTIFICATES_READ),
            principal.can(Permission.USERS_MANAGE),
            principal.can(Permission.AUDIT_READ),
            principal.can(Permission.AUDIT_READ),
            principal.can(Permission.CERTIFICATES_READ),
            principal.can(Permission.USERS_MANAGE),
        )


def _blank(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def _console(
    request: Request, template: str, principal: Principal, *, title: str, status: int = 200, **context
):
    return page(
        request,
        template,
        title=title,
        status=status,
        scripts=("common.js", "console.js"),
        script_strings=SCRIPT_STRINGS,
        principal=principal,
        tabs=Tabs.of(principal),
        **context,
    )


# --- certificates ---------------------------------------------------------------------------------------
@router.get("/console", response_class=HTMLResponse)
def certificates_page(
    request: Request,
    kyso: KysoDep,
    principal: Reader,
    serial: Text = None,
    cccd: Text = None,
    tax_code: Text = None,
    name: Text = None,
    status: Text = None,
    profile: Text = None,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> HTMLResponse:
    filters = {
        "serial": _blank(serial), "cccd": _blank(cccd), "tax_code": _blank(tax_code), "name": _blank(name),
        "status": _blank(status), "profile": _blank(profile),
    }  # fmt: skip
    problem = None
    items: list[CertificateInfo] = []
    total = 0
    try:
        items, total = certificates.search(kyso, **filters, limit=PAGE_SIZE, offset=offset)
    except ServiceError as exc:
        if exc.kind is not Kind.MALFORMED:
            raise
        problem = exc.message
    kept = {k: v for k, v in filters.items() if v}

    def link(at: int) -> str:
        return "/console?" + urlencode({**kept, "offset": at}) if at >= 0 else ""

    return _console(
        request,
        "console.html",
        principal,
        title="console_title",
        status=400 if problem else 200,
        filters={k: v or "" for k, v in filters.items()},
        statuses=STATUSES,
        profiles=END_ENTITY_PROFILES,
        items=items,
        total=total,
        offset=offset,
        shown=len(items),
        previous=link(max(offset - PAGE_SIZE, 0)) if offset > 0 else "",
        next=link(offset + PAGE_SIZE) if offset + len(items) < total else "",
        problem=problem,
    )


def _one(kyso, serial: str) -> CertificateInfo | None:
    try:
        return certificates.show(kyso, serial)
    except ServiceError as exc:
        if exc.kind in (Kind.NOT_FOUND, Kind.MALFORMED):
            return None
        raise


@router.get("/console/certificates/{serial}", response_class=HTMLResponse)
def certificate_page(serial: str, request: Request, kyso: KysoDep, principal: Reader) -> HTMLResponse:
    info = _one(kyso, serial)
    if info is None:
        return page(request, "message.html", title="console_title", status=404, message="console_no_such")
    can_revoke = principal.can(Permission.CERTIFICATES_REVOKE)
    can_renew = principal.can(Permission.CERTIFICATES_ISSUE) and info.profile in END_ENTITY_PROFILES
    return _console(
        request,
        "console_certificate.html",
        principal,
        title="console_title",
        info=info,
        reasons=REVOCATION_REASON_NAMES,
        can_revoke=can_revoke and info.status in ("valid", "suspended"),
        can_suspend=can_revoke and info.status == "valid",
        can_reinstate=can_revoke and info.status == "suspended",
        can_renew=can_renew and info.status == "valid",
        may_change=can_revoke or principal.can(Permission.CERTIFICATES_ISSUE),
    )


def _file(kyso, serial: str, suffix: str) -> Response:
    info = _one(kyso, serial)
    if info is None:
        raise ServiceError(Kind.NOT_FOUND, f"no certificate with serial {serial[:64]!r}")  # problem+json
    headers = {
        "Content-Disposition": f'attachment; filename="{info.serial}.{suffix}"',
        "Cache-Control": "no-store",
    }
    if suffix == "pem":
        return Response(info.certificate_pem, media_type="application/x-pem-file", headers=headers)
    der = x509.load_pem_x509_certificate(info.certificate_pem.encode()).public_bytes(
        serialization.Encoding.DER
    )
    return Response(der, media_type="application/pkix-cert", headers=headers)


@router.get("/console/certificates/{serial}/certificate.pem")
def certificate_pem(serial: str, kyso: KysoDep, principal: Reader) -> Response:
    return _file(kyso, serial, "pem")


@router.get("/console/certificates/{serial}/certificate.cer")
def certificate_der(serial: str, kyso: KysoDep, principal: Reader) -> Response:
    return _file(kyso, serial, "cer")


# --- accounts and API keys ------------------------------------------------------------------------------
@router.get("/console/accounts", response_class=HTMLResponse)
def accounts_page(
    request: Request, kyso: KysoDep, principal: AccountsAdmin, role: Text = None
) -> HTMLResponse:
    chosen = role if role in ROLES else None
    every = administration.list_accounts(kyso, chosen)
    may_keys = principal.can(Permission.API_KEYS_MANAGE)
    services_accounts = (
        [a.username for a in administration.list_accounts(kyso, "service")] if may_keys else []
    )
    return _console(
        request,
        "console_accounts.html",
        principal,
        title="console_accounts",
        accounts=every,
        roles=list(ROLES),
        role=chosen or "",
        may_keys=may_keys,
        keys=administration.api_keys(kyso) if may_keys else [],
        service_accounts=services_accounts,
        scopes=sorted(p.value for p in ROLES["service"]),
    )


# --- the audit log --------------------------------------------------------------------------------------
@router.get("/console/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    kyso: KysoDep,
    principal: AuditReader,
    action: Text = None,
    actor: Text = None,
    target: Text = None,
    before: Annotated[int | None, Query(ge=1, le=column_max(AuditEntry.seq))] = None,
) -> HTMLResponse:
    filters = {"action": _blank(action), "actor": _blank(actor), "target": _blank(target)}
    found = audit_log.search(kyso, **filters, before=before, limit=PAGE_SIZE)
    kept = {k: v for k, v in filters.items() if v}
    older = (
        "/console/audit?" + urlencode({**kept, "before": found[-1].seq})
        if len(found) == PAGE_SIZE and found[-1].seq > 1
        else ""
    )
    return _console(
        request,
        "console_audit.html",
        principal,
        title="console_audit",
        filters={k: v or "" for k, v in filters.items()},
        entries=found,
        older=older,
    )


# --- approvals (N of M) ---------------------------------------------------------------------------------
@router.get("/console/approvals", response_class=HTMLResponse)
def approvals_page(request: Request, kyso: KysoDep, principal: AuditReader) -> HTMLResponse:
    every = approvals.listing(kyso, None, limit=50)
    may_vote = {
        a.id: a.status == "pending"
        and approvals.ACTIONS[a.action] in ROLES.get(principal.role, frozenset())
        and principal.username not in a.approved_by
        for a in every
    }
    return _console(
        request,
        "console_approvals.html",
        principal,
        title="console_approvals",
        waiting=[a for a in every if a.status == "pending"],
        decided=[a for a in every if a.status != "pending"][:20],
        may_vote=may_vote,
        policies=approvals.policies(kyso),
    )


# --- what verification trusts ---------------------------------------------------------------------------
@router.get("/console/trust", response_class=HTMLResponse)
def trust_page(request: Request, kyso: KysoDep, principal: Reader) -> HTMLResponse:
    return _console(
        request,
        "console_trust.html",
        principal,
        title="console_trust",
        profiles=verification.profiles_listing(kyso),
        listing=verification.anchors_listing(kyso),
        may_change=principal.can(Permission.CERTIFICATES_ISSUE),  # as /api/v1/verify/trust-* asks
    )


# --- venues and desks (admins) --------------------------------------------------------------------------
@router.get("/console/venues", response_class=HTMLResponse)
def venues_page(request: Request, kyso: KysoDep, principal: AccountsAdmin) -> HTMLResponse:
    from invitations import venues

    with kyso.db.reading() as session:
        every = venues.all_venues(session)
    return _console(request, "console_venues.html", principal, title="console_venues", venues=every)
