"""/api/v1/approvals: what waits for approval (N of M), and approving or rejecting it (services.approvals).

A request is filed by the action itself (a revocation answers 409 with ``approval_request``); these
routes list requests and vote. The service checks that the voter's role holds the action's permission
and is not the requester.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from api.auth import require, require_any
from api.deps import KysoDep, actor_of
from identity.permissions import Permission
from identity.sessions import Principal
from services import approvals

router = APIRouter(prefix="/api/v1/approvals", tags=["approvals"])
Reader = Annotated[Principal, Depends(require(Permission.AUDIT_READ))]
Voter = Annotated[Principal, Depends(require_any(Permission.CERTIFICATES_REVOKE, Permission.USERS_MANAGE))]
RequestId = Annotated[int, Path(ge=1, le=2**31 - 1, description="the approval request's id")]


class VoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: str = Field("", max_length=500)


Vote = Annotated[VoteIn | None, Body()]


@router.get("", summary="Approval requests, newest first (pending by default)")
def listing(
    kyso: KysoDep,
    principal: Reader,
    status: Literal["pending", "approved", "rejected", "expired", "failed", "all"] = "pending",
) -> list[dict[str, object]]:
    return [a.as_json() for a in approvals.listing(kyso, None if status == "all" else status)]


@router.get("/policies", summary="How many approvals each action needs")
def policies(kyso: KysoDep, principal: Reader) -> list[dict[str, object]]:
    return approvals.policies(kyso)


@router.get("/{request_id}", summary="One approval request")
def show(request_id: RequestId, kyso: KysoDep, principal: Reader) -> dict[str, object]:
    return approvals.show(kyso, request_id).as_json()


@router.post("/{request_id}/approve", summary="Approve; the last approval needed runs the action")
def approve(
    request_id: RequestId, kyso: KysoDep, principal: Voter, request: Request, body: Vote = None
) -> dict[str, object]:
    comment = body.comment if body else ""
    return approvals.approve(kyso, actor_of(request, principal), request_id, comment).as_json()


@router.post("/{request_id}/reject", summary="Reject (or, as the requester, withdraw); one rejection ends it")
def reject(
    request_id: RequestId, kyso: KysoDep, principal: Voter, request: Request, body: Vote = None
) -> dict[str, object]:
    comment = body.comment if body else ""
    return approvals.reject(kyso, actor_of(request, principal), request_id, comment).as_json()
