"""/api/v1/checkins: the security desk — scan a pass (text or photo), check out, offline bundles and sync,
conflicts for review. Also the wiring every invitation route shares (the invitation context, JSON bodies
read by the route itself).

The use cases, their audit entries and the desk-venue rule are ``services.checkins``'; a route parses,
calls and renders.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from api.auth import require, require_any
from api.deps import KysoDep, actor_of
from api.inputs import CheckInId, ConflictId, refuse_nul_in
from api.request_body import read_body
from core.errors import malformed
from identity.permissions import Permission
from identity.sessions import Principal
from invitations import offline, qr
from invitations.service import InvitationContext
from services import blocklist, checkins

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
# the block list: kept by the admin; a held guest is decided by a named approver (an official, a clerk, the
# admin), never by the desk that holds them
Approver = ConflictReviewer
ListKeeper = Annotated[Principal, Depends(require(Permission.USERS_MANAGE))]
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


# --- check-in -----------------------------------------------------------------------------------------
class CheckinIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    payload: str = Field(max_length=4000, description="the scanned QR text (KY1:… or KR1:…)")
    desk: str = Field(min_length=1, max_length=40, examples=["gate-1"])
    card_qr: str | None = Field(
        None, max_length=1000, description="optional: the QR of the guest's CCCD card, to compare"
    )


@router.post(
    "",
    summary="Scan a pass at a desk → admit or deny, with the reason in Vietnamese",
    openapi_extra=json_body(CheckinIn),
)
async def check_in(request: Request, kyso: KysoDep, principal: DeskCaller) -> JSONResponse:
    data = parse(CheckinIn, await read_body(request, JSON_LIMIT))
    actor = actor_of(request, principal)
    decision = await run_in_threadpool(
        checkins.check_in, kyso, actor, data.desk, data.payload, card_qr=data.card_qr
    )
    return JSONResponse(decision.as_json())


@router.post(
    "/scan",
    summary="Scan a photo of a pass (PNG or JPEG in the body, at most 10 MB)",
    openapi_extra={
        "requestBody": {"content": {"image/*": {"schema": {"type": "string", "format": "binary"}}}}
    },
)
async def check_in_photo(
    request: Request,
    kyso: KysoDep,
    principal: DeskCaller,
    desk: Annotated[str, Query(min_length=1, max_length=40)],
) -> JSONResponse:
    image = await read_body(request, IMAGE_LIMIT)
    texts = await run_in_threadpool(qr.read, image)
    ours = [t for t in texts if t.startswith(("KY1:", "KR1:"))] or texts
    actor = actor_of(request, principal)
    decision = await run_in_threadpool(checkins.check_in, kyso, actor, desk, ours[0] if ours else None)
    return JSONResponse(decision.as_json())


class CheckoutIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    desk: str = Field(min_length=1, max_length=40)
    checkin_id: CheckInId | None = None
    payload: str | None = Field(None, max_length=4000, description="or scan the pass again")


@router.post("/checkout", summary="Check a guest out, by check-in id or by scanning the pass again")
def check_out(body: CheckoutIn, kyso: KysoDep, principal: DeskCaller, request: Request) -> dict[str, Any]:
    done = checkins.check_out(
        kyso, actor_of(request, principal), body.desk, checkin_id=body.checkin_id, scanned=body.payload
    )
    return done.as_json()


# --- offline desks ------------------------------------------------------------------------------------
class SyncIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    desk: str = Field(min_length=1, max_length=40)
    records: list[dict[str, Any]] = Field(max_length=offline.MAX_SYNC_RECORDS)


@router.post(
    "/sync",
    summary="An offline desk's journal, on reconnecting; conflicts are flagged",
    openapi_extra=json_body(SyncIn),
)
async def sync(request: Request, kyso: KysoDep, principal: DeskCaller) -> JSONResponse:
    data = parse(SyncIn, await read_body(request, SYNC_LIMIT))
    actor = actor_of(request, principal)
    outcomes = [
        o.as_json() for o in await run_in_threadpool(checkins.sync, kyso, actor, data.desk, data.records)
    ]
    counts = {
        kind: sum(o["outcome"] == kind for o in outcomes)
        for kind in ("recorded", "conflict", "rejected", "denied", "duplicate")
    }
    return JSONResponse({"counts": counts, "records": outcomes})


@router.get("/bundle", summary="The signed bundle an offline desk works from (application/cose)")
def bundle(
    kyso: KysoDep,
    principal: DeskCaller,
    request: Request,
    venue: Annotated[str, Query(min_length=1, max_length=40)],
    hours: Annotated[int, Query(ge=1, le=72)] = 24,
) -> Response:
    data = checkins.bundle(kyso, actor_of(request, principal), venue, hours)
    filename = f"kyso-desk-{venue}.cose"
    return Response(
        data,
        media_type="application/cose; cose-type=cose-sign1",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get(
    "/conflicts",
    summary="Passes admitted twice by offline desks, for review (the venue's hosts and desks, the admin)",
)
def conflicts(
    kyso: KysoDep, principal: VenueReader, request: Request, reviewed: bool = False
) -> list[dict[str, object]]:
    return checkins.conflicts(kyso, actor_of(request, principal), reviewed=reviewed)


@router.post("/conflicts/{conflict_id}/review", summary="Mark a conflict as reviewed")
def review(
    conflict_id: ConflictId, kyso: KysoDep, principal: ConflictReviewer, request: Request
) -> dict[str, object]:
    return checkins.review_conflict(kyso, actor_of(request, principal), conflict_id)


# --- evacuation roll call -----------------------------------------------------------------------------
class MarkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    venue: str = Field(min_length=1, max_length=40)
    checkin_id: CheckInId
    status: Literal["safe", "missing"]
    seen_at: AwareDatetime | None = Field(None, description="when the mark was made (by a phone offline)")


@router.get("/rollcall", summary="Evacuation roll call: who is inside the venue now, with their marks")
def roll_call(
    kyso: KysoDep,
    principal: VenueReader,
    request: Request,
    venue: Annotated[str, Query(min_length=1, max_length=40)],
) -> JSONResponse:
    found = checkins.roll_call(kyso, actor_of(request, principal), venue)
    return JSONResponse(found.as_json(), headers={"Cache-Control": "no-store"})


@router.post("/rollcall", summary="Mark a person inside safe or missing (audited)")
def mark(body: MarkIn, kyso: KysoDep, principal: VenueReader, request: Request) -> dict[str, object]:
    actor = actor_of(request, principal)
    return checkins.mark_rollcall(kyso, actor, body.venue, body.checkin_id, body.status, body.seen_at)


@router.get("/rollcall.csv", summary="The roll call as CSV (UTF-8 with BOM; the export is audited)")
def roll_call_csv(
    kyso: KysoDep,
    principal: VenueReader,
    request: Request,
    venue: Annotated[str, Query(min_length=1, max_length=40)],
) -> Response:
    text = checkins.rollcall_csv(kyso, actor_of(request, principal), venue)
    return Response(
        text.encode(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="diem-danh-{venue}.csv"',
            "Cache-Control": "no-store",
        },
    )


# --- the block list and its holds ---------------------------------------------------------------------
class BlockIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(
        None, max_length=200, description="matched exactly, ignoring case and diacritics"
    )
    cccd: str | None = Field(
        None, max_length=20, description="matched by a keyed hash; the number is not kept"
    )
    reason: str = Field(min_length=1, max_length=300)


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["admitted", "refused"]
    note: str | None = Field(None, max_length=300)


@router.get("/blocklist", summary="The block list shared by every venue (admin)")
def block_list(kyso: KysoDep, principal: ListKeeper) -> list[dict[str, object]]:
    return [e.as_json() for e in blocklist.entries(kyso)]


@router.post("/blocklist", status_code=201, summary="List a person; matching invitations are held (admin)")
def block(body: BlockIn, kyso: KysoDep, principal: ListKeeper, request: Request) -> dict[str, object]:
    entry, held = blocklist.add(
        kyso, actor_of(request, principal), name=body.name, cccd=body.cccd, reason=body.reason
    )
    return {**entry.as_json(), "held": held}


@router.delete("/blocklist/{entry_id}", summary="Take a person off the block list (admin)")
def unblock(
    entry_id: ConflictId, kyso: KysoDep, principal: ListKeeper, request: Request
) -> dict[str, object]:
    return blocklist.remove(kyso, actor_of(request, principal), entry_id).as_json()


@router.get("/holds", summary="Guests held at the desk by the block list (pending, or all)")
def holds(
    kyso: KysoDep,
    principal: VenueReader,
    request: Request,
    status: Annotated[Literal["pending", "admitted", "refused", "all"], Query()] = "pending",
) -> list[dict[str, object]]:
    found = blocklist.holds(kyso, actor_of(request, principal), None if status == "all" else status)
    return [h.as_json() for h in found]


@router.post(
    "/holds/{invitation_id}", summary="A named approver admits or refuses a held guest (one decision)"
)
def decide_hold(
    invitation_id: Annotated[str, Path(min_length=1, max_length=20)],
    body: DecisionIn,
    kyso: KysoDep,
    principal: Approver,
    request: Request,
) -> dict[str, object]:
    actor = actor_of(request, principal)
    return blocklist.decide(kyso, actor, invitation_id, body.decision, body.note).as_json()


# --- walk-up guests -----------------------------------------------------------------------------------
class WalkUpIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    desk: str = Field(min_length=1, max_length=40)
    guest_name: str = Field(min_length=1, max_length=200)
    host: str = Field(min_length=1, max_length=64, description="the host's username: they approve")
    cccd: str | None = Field(None, max_length=20)
    meeting_title: str | None = Field(None, max_length=300)


@router.post("/walk-ups", status_code=201, summary="Register a walk-up guest at the desk (held for the host)")
def walk_up(body: WalkUpIn, kyso: KysoDep, principal: DeskCaller, request: Request) -> dict[str, object]:
    created, hold = checkins.walk_up(
        kyso, actor_of(request, principal), body.desk, guest_name=body.guest_name, host=body.host,
        cccd=body.cccd, meeting_title=body.meeting_title,
    )  # fmt: skip
    return {"invitation": created.as_json(), "hold": hold.as_json()}
