"""The operator's trust anchors (``trust_anchors``) and choice of trust profiles (``trust_profiles``): the
queries of ``verification.anchors``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.models import TrustAnchor, TrustProfileSetting


def by_label(session: Session, label: str) -> TrustAnchor | None:
    return session.scalar(select(TrustAnchor).where(TrustAnchor.label == label))


def by_label_or_fingerprint(session: Session, key: str) -> TrustAnchor | None:
    return session.get(TrustAnchor, key.lower()) or by_label(session, key)


def all_anchors(session: Session, *, by: str = "added_at") -> Sequence[TrustAnchor]:
    """Every anchor, in the order they were added (``by="added_at"``) or by label."""
    order = TrustAnchor.added_at if by == "added_at" else TrustAnchor.label
    return session.scalars(select(TrustAnchor).order_by(order)).all()


def profile_settings(session: Session) -> dict[str, TrustProfileSetting]:
    """The operators' choices of trust profiles, by name (a profile without one keeps its default)."""
    return {row.name: row for row in session.scalars(select(TrustProfileSetting))}


def set_profile(session: Session, name: str, enabled: bool, *, now: dt.datetime, actor: str) -> None:
    row = session.get(TrustProfileSetting, name)
    if row is None:
        session.add(TrustProfileSetting(name=name, enabled=enabled, changed_at=now, changed_by=actor))
    else:
        row.enabled, row.changed_at, row.changed_by = enabled, now, actor
    session.flush()
