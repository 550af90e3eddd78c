"""What the services tests read back: the audit chain's head and the entries written after it."""

from __future__ import annotations

from identity import audit
from services.root import Kyso


def head(kyso: Kyso) -> int:
    with kyso.db.reading() as session:
        return audit.current_head(session)[0]


def entries_after(kyso: Kyso, seq: int) -> list[tuple[str, str, str | None, str | None, str, dict | None]]:
    """(actor, action, target, source, outcome, details) of every entry after ``seq``, oldest first."""
    with kyso.db.reading() as session:
        found = list(audit.entries(session, after=seq))
    return [(e.actor, e.action, e.target, e.source, e.outcome, e.details) for e in found]
