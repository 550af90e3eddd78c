"""/api/v1/checkins: the security desk — scan a pass (text or photo), check out, offline bundles and sync,
conflicts for review. Also the wiring every invitation route shares (the seal, the audit helper).

Every decision (admit or deny) is written to the audit log in the transaction that made it, and that
transaction commits: a deny is an answer, not an error.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.orm import Session

from api.auth import client_address, require, require_any
from api.deps import RuntimeDep
from api.inputs import CheckInId, ConflictId, refuse_nul_in
from api.limits import read_body
from ca.runtime import CaRuntime
from core.errors import Kind, ServiceError, malformed
from identity import audit
from identity.permissions import Permission
from identity.sessions import Principal
from invitations import checkin, offline, qr, venues
from invitations.checkin import Decision
from invitations.reasons import Reason
from invitations.service import InvitationContext
from store import invitations_repo as repo

router = APIRouter(prefix="/api/v1/checkins", tags=["security desk"])
DeskCaller = Annotated[Principal, Depends(require(Permission.CHECKINS_CREATE))]
Manager = Annotated[Principal, Depends(require(Permission.INVITATIONS_MANAGE))]
# A venue's report and offline conflicts: the route lets in hosts, desks and the admin; which venue's rows
# each sees is decided by invitations.venues (report_scope, conflict_visibility).
VenueReader = Annotated[
    Principal,
    Depends(require_any(Permission.INVITATIONS_MANAGE, Permission.CHECKINS_CREATE, Permission.USERS_MANAGE)),
]
ConflictReviewer = Annotated[
    Principal, Depends(require_any(Permission.INVITATIONS_MANAGE, Permission.USERS_MANAGE))
]
JSON_LIMIT = 64 * 1024  # a check-in is a few hundred bytes
IMAGE_LIMIT = 10 * 1024 * 1024  # a phone photo of a pass
SYNC_LIMIT = 8 * 1024 * 1024
Model = TypeVar("Model", bound=BaseModel)


# --- wiring shared with api/routers/invitations.py ----------------------------------------------------
def context_of(app: Any) -> InvitationContext:
    """The process's invitation context, from the composition root (services.root.Kyso)."""
    return app.state.kyso.invitations


def invitation_context(request: Request) -> InvitationContext:
    return context_of(request.app)


ContextDep = Annotated[InvitationContext, Depends(invitation_context)]


def record(
    session: Session,
    runtime: CaRuntime,
    request: Request | None,
    principal: Principal | None,
    action: str,
    target: str | None,
    outcome: str = "success",
    **details: object,
) -> None:
    audit.append(
        session,
        clock=runtime.ca.clock,
        actor=principal.username if principal else "system",
        action=action,
        target=target,
        outcome=outcome,
        source=client_address(request) if request else None,
        details=details or None,
    )


def json_body(model: type[BaseModel]) -> dict[str, Any]:
    """The OpenAPI request body of a route that reads and parses its JSON itself (``parse``)."""
    schema = {"content": {"application/json": {"schema": model.model_json_schema()}}, "required": True}
    return {"requestBody": schema}


def parse(model: type[Model], body: bytes) -> Model:
    try:
        parsed = model.model_validate_json(body)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()[:5]
        )
        raise malformed(problems or "the request body is not valid JSON") from None
    refuse_nul_in(parsed.model_dump())  # read here, not by FastAPI: api.inputs.refuse_nul did not see it
    return parsed


def desk_venue_of(session: Session, principal: Principal, context: InvitationContext) -> str | None:
    """A desk account works at its venue only; integrators (API keys) and managers are not limited.
    (Remembered for 30 s: moving a desk account to another venue takes effect within that time.)"""
    if principal.role != "desk":
        return None
    return context.remember(
        ("account-venue", principal.account_id), lambda: repo.account_venue(session, principal.account_id)
    )


# --- check-in -----------------------------------------------------------------------------------------
class CheckinIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    payload: str = Field(max_length=4000, description="the scanned QR text (KY1:… or KR1:…)")
    desk: str = Field(min_length=1, max_length=40, examples=["gate-1"])
    card_qr: str | None = Field(
        None, max_length=1000, description="optional: the QR of the guest's CCCD card, to compare"
    )


def _decide(
    request: Request, principal: Principal, desk_code: str, scanned: str | None, card_qr: str | None
) -> Decision:
    runtime: CaRuntime = request.app.state.runtime
    context = context_of(request.app)
    with runtime.db.transaction() as session:
        desk = checkin.desk_for(session, desk_code, desk_venue_of(session, principal, context), context)
        if scanned is None:
            decision = Decision(False, Reason.NO_QR, "no QR code in the image", desk.code, desk.venue_code)
        else:
            decision = checkin.check_in(session, context, scanned, desk, principal.username, card_qr=card_qr)
        record(
            session,
            runtime,
            request,
            principal,
            "checkin.decide",
            decision.invitation_id,
            "admit" if decision.admitted else "deny",
            **decision.audit_details(),
        )
    return decision


@router.post(
    "",
    summary="Scan a pass at a desk → admit or deny, with the reason in Vietnamese",
    openapi_extra=json_body(CheckinIn),
)
async def check_in(request: Request, principal: DeskCaller) -> JSONResponse:
    data = parse(CheckinIn, await read_body(request, JSON_LIMIT))
    decision = await run_in_threadpool(_decide, request, principal, data.desk, data.payload, data.card_qr)
    return JSONResponse(decision.as_json())


@router.post(
    "/scan",
    summary="Scan a photo of a pass (PNG or JPEG in the body, at most 10 MB)",
    openapi_extra={
        "requestBody": {"content": {"image/*": {"schema": {"type": "string", "format": "binary"}}}}
    },
)
async def check_in_photo(
    request: Request, principal: DeskCaller, desk: Annotated[str, Query(min_length=1, max_length=40)]
) -> JSONResponse:
    image = await read_body(request, IMAGE_LIMIT)
    texts = await run_in_threadpool(qr.read, image)
    ours = [t for t in texts if t.startswith(("KY1:", "KR1:"))] or texts
    decision = await run_in_threadpool(_decide, request, principal, desk, ours[0] if ours else None, None)
    return JSONResponse(decision.as_json())


class CheckoutIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    desk: str = Field(min_length=1, max_length=40)
    checkin_id: CheckInId | None = None
    payload: str | None = Field(None, max_length=4000, description="or scan the pass again")


@router.post("/checkout", summary="Check a guest out, by check-in id or by scanning the pass again")
def check_out(
    body: CheckoutIn, runtime: RuntimeDep, principal: DeskCaller, request: Request
) -> dict[str, Any]:
    context = context_of(request.app)
    with runtime.db.transaction() as session:
        desk = checkin.desk_for(session, body.desk, desk_venue_of(session, principal, context), context)
        done = checkin.check_out(session, context, desk, checkin_id=body.checkin_id, scanned=body.payload)
        record(
            session,
            runtime,
            request,
            principal,
            "checkin.checkout",
            done.invitation_id,
            desk=desk.code,
            checkin=done.checkin_id,
        )
        return done.as_json()


# --- offline desks ------------------------------------------------------------------------------------
class SyncIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    desk: str = Field(min_length=1, max_length=40)
    records: list[dict[str, Any]] = Field(max_length=offline.MAX_SYNC_RECORDS)


def _sync(request: Request, principal: Principal, data: SyncIn) -> list[dict[str, object]]:
    runtime: CaRuntime = request.app.state.runtime
    context = context_of(request.app)
    with runtime.db.transaction() as session:
        desk = checkin.desk_for(session, data.desk, desk_venue_of(session, principal, context), context)
        outcomes = offline.sync(session, context, desk, data.records, principal.username)
        for outcome in outcomes:
            if outcome.outcome != "duplicate":
                record(
                    session,
                    runtime,
                    request,
                    principal,
                    "checkin.offline",
                    outcome.invitation_id,
                    outcome.outcome,
                    desk=desk.code,
                    record=outcome.record_id,
                )
    return [o.as_json() for o in outcomes]


@router.post(
    "/sync",
    summary="An offline desk's journal, on reconnecting; conflicts are flagged",
    openapi_extra=json_body(SyncIn),
)
async def sync(request: Request, principal: DeskCaller) -> JSONResponse:
    data = parse(SyncIn, await read_body(request, SYNC_LIMIT))
    outcomes = await run_in_threadpool(_sync, request, principal, data)
    counts = {
        kind: sum(o["outcome"] == kind for o in outcomes)
        for kind in ("recorded", "conflict", "rejected", "denied", "duplicate")
    }
    return JSONResponse({"counts": counts, "records": outcomes})


@router.get("/bundle", summary="The signed bundle an offline desk works from (application/cose)")
def bundle(
    runtime: RuntimeDep,
    principal: DeskCaller,
    request: Request,
    venue: Annotated[str, Query(min_length=1, max_length=40)],
    hours: Annotated[int, Query(ge=1, le=72)] = 24,
) -> Response:
    context = context_of(request.app)
    with runtime.db.transaction() as session:
        if repo.venue(session, venue) is None:
            raise ServiceError(Kind.NOT_FOUND, f"no venue {venue!r}")
        limit = desk_venue_of(session, principal, context)
        if limit is not None and limit != venue:
            raise ServiceError(Kind.FORBIDDEN, f"this account works at venue {limit}")
        data = offline.build_bundle(session, context, venue, dt.timedelta(hours=hours))
        record(session, runtime, request, principal, "checkin.bundle", venue, hours=hours)
    filename = f"kyso-desk-{venue}.cose"
    return Response(
        data,
        media_type="application/cose; cose-type=cose-sign1",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def reader_of(principal: Principal) -> venues.Reader:
    return venues.Reader(principal.account_id, principal.role)


@router.get(
    "/conflicts",
    summary="Passes admitted twice by offline desks, for review (the venue's hosts and desks, the admin)",
)
def conflicts(runtime: RuntimeDep, principal: VenueReader, reviewed: bool = False) -> list[dict[str, object]]:
    with runtime.db.reading() as session:
        rows = offline.conflicts(session, reader_of(principal), reviewed=reviewed)
        return [offline.offline_record_json(r) for r in rows]


@router.post("/conflicts/{conflict_id}/review", summary="Mark a conflict as reviewed")
def review(
    conflict_id: ConflictId, runtime: RuntimeDep, principal: ConflictReviewer, request: Request
) -> dict[str, object]:
    with runtime.db.transaction() as session:
        row = offline.review(
            session, conflict_id, principal.username, runtime.ca.clock.now(), reader_of(principal)
        )
        record(
            session,
            runtime,
            request,
            principal,
            "checkin.conflict.review",
            row.invitation_id,
            offline_record=row.id,
        )
        return offline.offline_record_json(row)
