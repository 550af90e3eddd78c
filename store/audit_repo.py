"""The audit chain's statements (``identity.audit`` decides what they mean).

Core statements on the session's connection, prepared once: every audited request pays for the head's
lock, the entries' insert and the head's move, so no ORM layer runs per entry.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Row, bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from store.models import AuditEntry, AuditHead, AuditSeal

COLUMNS = (
    AuditEntry.seq,
    AuditEntry.previous_hash,
    AuditEntry.entry_hash,
    AuditEntry.occurred_at,
    AuditEntry.actor,
    AuditEntry.action,
    AuditEntry.target,
    AuditEntry.outcome,
    AuditEntry.source,
    AuditEntry.details,
)


def _head(head_id: int) -> Any:
    return select(AuditHead.seq, AuditHead.entry_hash).where(AuditHead.id == head_id)


def locked_head(session: Session, head_id: int) -> Row[Any] | None:
    """(seq, entry_hash) of the head row, locked until the transaction ends; None before the first."""
    return session.connection().execute(_head(head_id).with_for_update()).first()


def create_head(session: Session, head_id: int, genesis: str) -> None:
    session.execute(insert(AuditHead).values(id=head_id, seq=0, entry_hash=genesis))


def any_entry(session: Session) -> bool:
    return bool(session.scalar(select(func.count()).select_from(AuditEntry)))


_INSERT_ENTRY = insert(AuditEntry)


def insert_entries_and_move_head(
    session: Session, rows: Sequence[dict[str, Any]], head_id: int, seq: int, entry_hash: str
) -> None:
    connection = session.connection()
    connection.execute(_INSERT_ENTRY, list(rows))
    move = update(AuditHead).where(AuditHead.id == head_id)
    connection.execute(
        move.values(seq=bindparam("new_seq"), entry_hash=bindparam("new_hash")),
        {"new_seq": seq, "new_hash": entry_hash},
    )


def head(session: Session, head_id: int) -> Row[Any] | None:
    """(seq, entry_hash) of the head, unlocked; None before the first append."""
    return session.execute(_head(head_id)).first()


def entry_rows(session: Session, after: int | None, batch: int) -> Iterator[Any]:
    """Entries in seq order, ``batch`` per query (keyset pagination, no ORM identity map)."""
    while True:
        query = select(*COLUMNS).order_by(AuditEntry.seq).limit(batch)
        if after is not None:
            query = query.where(AuditEntry.seq > after)
        rows = session.execute(query).all()
        yield from rows
        if len(rows) < batch:
            return
        after = rows[-1].seq


def rows_with_target(session: Session, target: str, limit: int) -> Sequence[Any]:
    """The latest ``limit`` entries naming ``target``, newest first."""
    query = select(*COLUMNS).where(AuditEntry.target == target).order_by(AuditEntry.seq.desc()).limit(limit)
    return session.execute(query).all()


def later_seq_with_hash(session: Session, entry_hash: str, after_seq: int) -> int | None:
    """The seq of an entry after ``after_seq`` whose hash is ``entry_hash`` (entries reordered)."""
    return session.scalar(
        select(AuditEntry.seq).where(AuditEntry.entry_hash == entry_hash, AuditEntry.seq > after_seq)
    )


def seals(session: Session, *, by_seq: bool = False) -> Sequence[AuditSeal]:
    """Every seal, in the order they were made (or by the entry they seal)."""
    order = (AuditSeal.seq, AuditSeal.id) if by_seq else (AuditSeal.id,)
    return session.scalars(select(AuditSeal).order_by(*order)).all()


def last_sealed_seq(session: Session) -> int:
    """The highest entry any seal covers; 0 when nothing was sealed."""
    return session.scalar(select(func.max(AuditSeal.seq))) or 0


def first_entry_time_after(session: Session, seq: int) -> Any:
    """When the first entry after ``seq`` was written, or None when there is none."""
    query = select(AuditEntry.occurred_at).where(AuditEntry.seq > seq).order_by(AuditEntry.seq).limit(1)
    return session.scalar(query)


def matching_rows(
    session: Session,
    *,
    action: str | None,
    actor: str | None,
    target: str | None,
    before: int | None,
    limit: int,
) -> Sequence[Any]:
    """The latest ``limit`` entries before seq ``before`` whose action and target start with those given
    and whose actor is ``actor``, newest first (the console's filters)."""
    query = select(*COLUMNS)
    if action:
        query = query.where(AuditEntry.action.startswith(action, autoescape=True))
    if actor:
        query = query.where(AuditEntry.actor == actor)
    if target:
        query = query.where(AuditEntry.target.startswith(target, autoescape=True))
    if before is not None:
        query = query.where(AuditEntry.seq < before)
    return session.execute(query.order_by(AuditEntry.seq.desc()).limit(limit)).all()
