"""The operator's trust anchors (``trust_anchors``): the queries of ``verification.anchors``."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.models import TrustAnchor


def by_label(session: Session, label: str) -> TrustAnchor | None:
    return session.scalar(select(TrustAnchor).where(TrustAnchor.label == label))


def by_label_or_fingerprint(session: Session, key: str) -> TrustAnchor | None:
    return session.get(TrustAnchor, key.lower()) or by_label(session, key)


def all_anchors(session: Session, *, by: str = "added_at") -> Sequence[TrustAnchor]:
    """Every anchor, in the order they were added (``by="added_at"``) or by label."""
    order = TrustAnchor.added_at if by == "added_at" else TrustAnchor.label
    return session.scalars(select(TrustAnchor).order_by(order)).all()
