"""Approvals, N of M (as EJBCA's approval profiles): an action a policy names does not run when asked;
it waits until ``required`` people other than the requester approve it, and then runs once, in the
transaction of the last approval (if the action is refused then — the certificate was revoked meanwhile,
say — the request ends as ``failed``, audited as ``approval.fail``). One rejection ends the request;
a request not approved in time expires. Each step is an audit entry (``approval.request`` /
``.approve`` / ``.reject`` / ``.expire`` / ``.fail``, target ``approval:<id>``), and the action itself
is audited as usual, naming the requester (with ``approval`` and ``approved_by`` in the details of a
revocation).

Actions a policy can name (``ACTIONS``; a policy row with ``required`` 0, or none, means no approval):

- ``certificate.revoke``: revoking an ``official`` or ``agency-seal`` certificate
  (services.certificates.revoke files the request);
- ``account.grant-role``: giving an account the admin or ca-operator role (services.administration.set_role
  files it; while it is held such accounts cannot be created with that role outright).
- ``trust.change``: adding or removing a trust anchor, switching a trust profile on or off
  (services.verification files it, after trying the change in a savepoint rolled back).

Who may vote: an account whose role holds the action's permission (the local CLI operator too), never
the requester — who may still reject (withdraw) their own request. The console (/console/approvals) and
`kyso approvals list|approve|reject` show what waits and for whom.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.clock import display
from core.errors import Kind, ServiceError, conflict, malformed, not_found
from identity.permissions import Permission, permissions_of
from services.audit import Actor, record
from store import approvals_repo

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from services.root import Kyso
    from store.models import ApprovalRequest

ACTIONS: dict[str, Permission] = {
    "certificate.revoke": Permission.CERTIFICATES_REVOKE,
    "account.grant-role": Permission.USERS_MANAGE,
    "trust.change": Permission.CERTIFICATES_ISSUE,  # as /api/v1/verify/trust-* asks
}
DEFAULT_LIFETIME_HOURS = 24
MAX_REQUIRED = 9


@dataclass(frozen=True)
class Approval:
    """A request as people read it: who asked, what, who approved or rejected, and what still waits."""

    id: int
    action: str
    target: str
    params: dict[str, Any]
    required: int
    status: str  # pending | approved | rejected | expired (pending past its time) | failed (refused when run)
    requested_by: str
    requested_at: dt.datetime
    expires_at: dt.datetime
    decided_at: dt.datetime | None
    approved_by: tuple[str, ...]
    rejected_by: tuple[str, ...]

    @property
    def waiting_for(self) -> int:
        return max(self.required - len(self.approved_by), 0) if self.status == "pending" else 0

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "action": self.action, "target": self.target, "params": self.params,
            "required": self.required, "status": self.status, "requested_by": self.requested_by,
            "requested_at": self.requested_at.isoformat(), "expires_at": self.expires_at.isoformat(),
            "decided_at": self.decided_at.isoformat() if self.decided_at else None,
            "approved_by": list(self.approved_by), "rejected_by": list(self.rejected_by),
            "waiting_for": self.waiting_for,
        }  # fmt: skip


def _view(row: ApprovalRequest, votes: list[Any], now: dt.datetime) -> Approval:
    status = "expired" if row.status == "pending" and row.expires_at <= now else row.status
    return Approval(
        id=row.id, action=row.action, target=row.target, params=json.loads(row.params),
        required=row.required, status=status, requested_by=row.requested_by, requested_at=row.requested_at,
        expires_at=row.expires_at, decided_at=row.decided_at,
        approved_by=tuple(v.voter for v in votes if v.decision == "approve"),
        rejected_by=tuple(v.voter for v in votes if v.decision == "reject"),
    )  # fmt: skip


def _load(session: Session, kyso: Kyso, request_id: int, *, for_update: bool = False) -> Approval:
    row = approvals_repo.request(session, request_id, for_update=for_update)
    if row is None:
        raise not_found(f"no approval request {request_id}")
    return _view(row, list(approvals_repo.votes(session, [row.id])), kyso.clock.now())


# --- policies -------------------------------------------------------------------------------------------
def set_policy(
    kyso: Kyso, actor: Actor, action: str, required: int, lifetime_hours: int = DEFAULT_LIFETIME_HOURS
) -> None:
    if action not in ACTIONS:
        raise malformed(f"unknown action {action!r}; approvals can be required for {', '.join(ACTIONS)}")
    if not 0 <= required <= MAX_REQUIRED:
        raise malformed(f"required approvals must be 0..{MAX_REQUIRED}")
    if not 1 <= lifetime_hours <= 24 * 30:
        raise malformed("a request's lifetime must be 1 hour to 30 days")
    with kyso.db.transaction() as session:
        approvals_repo.set_policy(session, action, required, lifetime_hours, kyso.clock.now(), actor.name)
        record(
            session, kyso, actor, "approval.policy", action, required=required, lifetime_hours=lifetime_hours
        )


def policies(kyso: Kyso) -> list[dict[str, Any]]:
    with kyso.db.reading() as session:
        rows = {r.action: r for r in approvals_repo.policies(session)}
    return [
        {"action": a, "required": rows[a].required if a in rows else 0,
         "lifetime_hours": rows[a].lifetime_hours if a in rows else DEFAULT_LIFETIME_HOURS}
        for a in ACTIONS
    ]  # fmt: skip


def required(session: Session, action: str) -> int:
    """How many approvals ``action`` needs now (0: it runs at once)."""
    row = approvals_repo.policy(session, action)
    return row.required if row is not None else 0


# --- requests -------------------------------------------------------------------------------------------
class Pending(ServiceError):
    """The action was filed for approval and did not run (409, with the request's id in the details)."""

    def __init__(self, approval: Approval) -> None:
        super().__init__(
            Kind.CONFLICT,
            f"{approval.action} of {approval.target} needs {approval.required} approval(s) by someone other "
            f"than {approval.requested_by}: request {approval.id} waits until {display(approval.expires_at)} "
            f"(kyso approvals approve {approval.id})",
            details={"approval_request": approval.id, "approvals_required": approval.required},
        )
        self.approval = approval


def file(
    session: Session, kyso: Kyso, actor: Actor, action: str, target: str, params: dict[str, Any]
) -> Approval:
    """File ``action`` on ``target`` for approval in the caller's transaction (which must then commit:
    raise ``Pending`` after it). A request already waiting for the same action and target is refused."""
    waiting = approvals_repo.pending_for(session, action, target)
    now = kyso.clock.now()
    if waiting is not None and waiting.expires_at > now:
        raise conflict(f"request {waiting.id} for {action} of {target} already waits for approval")
    policy = approvals_repo.policy(session, action)
    assert policy is not None and policy.required > 0, "file only what a policy requires approval for"
    row = approvals_repo.add_request(
        session, action=action, target=target, params=json.dumps(params, sort_keys=True),
        required=policy.required, status="pending", requested_by=actor.name, requested_at=now,
        expires_at=now + dt.timedelta(hours=policy.lifetime_hours),
    )  # fmt: skip
    record(session, kyso, actor, "approval.request", f"approval:{row.id}", for_action=action, on=target,
           required=policy.required)  # fmt: skip
    return _view(row, [], now)


def listing(kyso: Kyso, status: str | None = "pending", limit: int = 100) -> list[Approval]:
    """Requests newest first (``status`` None: all); a pending one past its time is listed as expired."""
    with kyso.db.reading() as session:
        rows = list(approvals_repo.requests(session, status=status, limit=limit))
        votes = approvals_repo.votes(session, [r.id for r in rows])
    now = kyso.clock.now()
    return [_view(r, [v for v in votes if v.request_id == r.id], now) for r in rows]


def show(kyso: Kyso, request_id: int) -> Approval:
    with kyso.db.reading() as session:
        return _load(session, kyso, request_id)


def _may_vote(actor: Actor, approval: Approval) -> None:
    needed = ACTIONS[approval.action]
    if actor.role is not None and needed not in permissions_of(actor.role):
        raise ServiceError(Kind.FORBIDDEN, f"approving {approval.action} needs {needed.value}")


def _expire_if_due(kyso: Kyso, actor: Actor, request_id: int) -> None:
    """Mark a request past its time as expired (its own committed step), then refuse the vote."""
    with kyso.db.transaction() as session:
        row = approvals_repo.request(session, request_id, for_update=True)
        assert row is not None
        if row.status != "pending":
            return
        row.status, row.decided_at = "expired", kyso.clock.now()
        record(
            session,
            kyso,
            actor,
            "approval.expire",
            f"approval:{row.id}",
            for_action=row.action,
            on=row.target,
        )
    raise ServiceError(Kind.EXPIRED, f"approval request {request_id} expired; file the action again")


def approve(kyso: Kyso, actor: Actor, request_id: int, comment: str = "") -> Approval:
    """Approve; the last approval needed runs the action in the same transaction."""
    with kyso.db.transaction() as session:
        approval = _load(session, kyso, request_id, for_update=True)
        if approval.status == "expired" and approval.decided_at is None:
            expired = True
        else:
            expired = False
            _vote_allowed(actor, approval)
            if actor.name == approval.requested_by:
                raise ServiceError(Kind.FORBIDDEN, "the requester cannot approve their own request")
            now = kyso.clock.now()
            approvals_repo.add_vote(session, request_id=request_id, voter=actor.name, decision="approve",
                                    comment=comment[:500], voted_at=now)  # fmt: skip
            record(session, kyso, actor, "approval.approve", f"approval:{request_id}",
                   for_action=approval.action, on=approval.target)  # fmt: skip
            approval = _load(session, kyso, request_id)
            if approval.waiting_for == 0:
                status = "approved"
                try:
                    with session.begin_nested():  # a refused action (say, revoked meanwhile) ends the request
                        _run(session, kyso, approval)
                except ServiceError as refused:
                    status = "failed"
                    record(session, kyso, actor, "approval.fail", f"approval:{request_id}",
                           for_action=approval.action, on=approval.target,
                           error=refused.message[:200])  # fmt: skip
                row = approvals_repo.request(session, request_id)
                assert row is not None
                row.status, row.decided_at = status, now
                approval = _load(session, kyso, request_id)
    if expired:
        _expire_if_due(kyso, actor, request_id)
    return approval


def reject(kyso: Kyso, actor: Actor, request_id: int, comment: str = "") -> Approval:
    """One rejection ends the request (the requester's own is a withdrawal)."""
    with kyso.db.transaction() as session:
        approval = _load(session, kyso, request_id, for_update=True)
        expired = approval.status == "expired" and approval.decided_at is None
        if not expired:
            if actor.name != approval.requested_by:
                _vote_allowed(actor, approval)
            elif approval.status != "pending":
                raise conflict(f"approval request {request_id} is {approval.status}")
            now = kyso.clock.now()
            approvals_repo.add_vote(session, request_id=request_id, voter=actor.name, decision="reject",
                                    comment=comment[:500], voted_at=now)  # fmt: skip
            row = approvals_repo.request(session, request_id)
            assert row is not None
            row.status, row.decided_at = "rejected", now
            record(session, kyso, actor, "approval.reject", f"approval:{request_id}",
                   for_action=approval.action, on=approval.target, comment=comment[:200])  # fmt: skip
            approval = _load(session, kyso, request_id)
    if expired:
        _expire_if_due(kyso, actor, request_id)
    return approval


def _vote_allowed(actor: Actor, approval: Approval) -> None:
    if approval.status != "pending":
        raise conflict(f"approval request {approval.id} is {approval.status}")
    _may_vote(actor, approval)
    if actor.name in approval.approved_by:
        raise conflict(f"{actor.name} already approved request {approval.id}")


def _run(session: Session, kyso: Kyso, approval: Approval) -> None:
    """The approved action, as the requester asked it, with its own audit entry."""
    requester = Actor(approval.requested_by, "approval")
    if approval.action == "certificate.revoke":
        from services import certificates

        since = approval.params.get("invalidity_date")
        certificates.revoke_in(
            session, kyso, requester, approval.target, approval.params["reason"],
            dt.datetime.fromisoformat(since) if since else None,
            approval=approval.id, approved_by=list(approval.approved_by),
        )  # fmt: skip
        return
    if approval.action == "account.grant-role":
        from identity import accounts

        accounts.set_role(session, kyso.clock, approval.target, approval.params["role"], actor=requester.name)
        return
    if approval.action == "trust.change":
        import base64

        from services import verification

        p = approval.params
        if p["op"] == "add":
            verification.add_anchor_in(
                session, kyso, requester, p["label"], base64.b64decode(p["certificate"])
            )
        elif p["op"] == "remove":
            verification.remove_anchor_in(session, kyso, requester, p["key"])
        else:
            verification.set_profile_in(session, kyso, requester, p["name"], bool(p["enabled"]))
        return
    raise AssertionError(f"no runner for {approval.action}")  # pragma: no cover - ACTIONS lists the runners
