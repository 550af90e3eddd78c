"""Approvals' statements (services/approvals.py decides what they mean): policies, requests, votes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.models import ApprovalPolicy, ApprovalRequest, ApprovalVote


def policy(session: Session, action: str) -> ApprovalPolicy | None:
    return session.get(ApprovalPolicy, action)


def policies(session: Session) -> Sequence[ApprovalPolicy]:
    return session.scalars(select(ApprovalPolicy).order_by(ApprovalPolicy.action)).all()


def set_policy(
    session: Session, action: str, required: int, lifetime_hours: int, at: dt.datetime, by: str
) -> None:
    row = session.get(ApprovalPolicy, action)
    if row is None:
        row = ApprovalPolicy(action=action)
        session.add(row)
    row.required, row.lifetime_hours, row.changed_at, row.changed_by = required, lifetime_hours, at, by
    session.flush()


def add_request(session: Session, **fields: object) -> ApprovalRequest:
    row = ApprovalRequest(**fields)
    session.add(row)
    session.flush()
    return row


def request(session: Session, request_id: int, *, for_update: bool = False) -> ApprovalRequest | None:
    query = select(ApprovalRequest).where(ApprovalRequest.id == request_id)
    return session.scalars(query.with_for_update() if for_update else query).first()


def requests(session: Session, *, status: str | None, limit: int) -> Sequence[ApprovalRequest]:
    query = select(ApprovalRequest).order_by(ApprovalRequest.id.desc()).limit(limit)
    if status:
        query = query.where(ApprovalRequest.status == status)
    return session.scalars(query).all()


def pending_for(session: Session, action: str, target: str) -> ApprovalRequest | None:
    query = select(ApprovalRequest).where(
        ApprovalRequest.action == action,
        ApprovalRequest.target == target,
        ApprovalRequest.status == "pending",
    )
    return session.scalars(query.order_by(ApprovalRequest.id.desc())).first()


def votes(session: Session, request_ids: Sequence[int]) -> Sequence[ApprovalVote]:
    if not request_ids:
        return []
    query = select(ApprovalVote).where(ApprovalVote.request_id.in_(request_ids)).order_by(ApprovalVote.id)
    return session.scalars(query).all()


def add_vote(session: Session, **fields: object) -> None:
    session.add(ApprovalVote(**fields))
    session.flush()
