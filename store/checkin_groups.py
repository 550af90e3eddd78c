"""A group of desk check-ins decided on PostgreSQL in three pipelined round trips (async psycopg).

On a busy desk server a database round trip costs more CPU than the decision it serves, so the check-in
decider of ``kyso serve`` (``api.fastpath.checkins``) runs each group's transaction as three pipeline
syncs, whatever the group's size:

1. ``read``: BEGIN, the live bearer tokens of the group, the invitations its passes name;
2. ``consume``: the occurrences locked in (invitation, occurrence) order — the order every transaction
   locks them in, so two groups never wait on each other in a cycle — then each entry consumed with its
   check-in inserted in the same statement (the same pass twice in a group: a second statement, which
   sees the first's update), and the audit head locked last, as a single decision locks it;
3. ``finish``: the audit entries, the head moved, arrival notifications queued, COMMIT.

The conditional UPDATE is the single-decision one (``invitations_repo.consume_entry``) applied to each
joined row: a row updated meanwhile by another transaction is re-checked (``entries_used < allowed``)
after its lock is granted, so N desks scanning one single-entry pass still admit it exactly once.

Only SQL lives here; what the rows mean is decided by ``invitations.checkin`` and ``identity.audit``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from types import TracebackType
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus
from psycopg.rows import namedtuple_row

_LIVE_TOKENS = """
SELECT t.token_hash, a.id AS account_id, a.username, a.role, a.venue
FROM session_tokens AS t JOIN accounts AS a ON a.id = t.account_id
WHERE t.token_hash = ANY(%(hashes)s) AND t.kind = 'bearer' AND t.revoked_at IS NULL
  AND t.expires_at > %(now)s AND NOT a.disabled AND NOT a.must_change_password
"""
_INVITATIONS = """
SELECT id, status, token_id, token_version, entries_allowed, rotating, rotating_secret, cccd_hash,
       guest_name, host_name, host_contact, hold, meeting_title, companions, notify_webhook, notify_email
FROM invitations WHERE id = ANY(%(ids)s)
"""
_LOCK = """
SELECT 1 FROM invitation_occurrences AS o
JOIN unnest(%(ids)s::text[], %(numbers)s::integer[]) AS v(invitation_id, number)
  ON o.invitation_id = v.invitation_id AND o.number = v.number
ORDER BY o.invitation_id, o.number
FOR UPDATE OF o
"""
_CONSUME_AND_RECORD = """
WITH v AS (
    SELECT * FROM unnest(%(ids)s::text[], %(numbers)s::integer[], %(allowed)s::integer[], %(tokens)s::text[],
                         %(venues)s::text[], %(desks)s::text[], %(actors)s::text[])
        AS v(invitation_id, number, allowed, token_id, venue_code, desk_code, actor)
), consumed AS (
    UPDATE invitation_occurrences AS o SET entries_used = o.entries_used + 1
    FROM v
    WHERE o.invitation_id = v.invitation_id AND o.number = v.number AND o.entries_used < v.allowed
      AND EXISTS (SELECT 1 FROM invitations AS i
                  WHERE i.id = v.invitation_id AND i.status = 'active' AND i.token_id = v.token_id)
    RETURNING o.invitation_id, o.number, o.entries_used, o.ends_at
), recorded AS (
    INSERT INTO checkins (invitation_id, occurrence, venue_code, desk_code, admitted_at, source, actor)
    SELECT c.invitation_id, c.number, v.venue_code, v.desk_code, %(now)s, 'online', v.actor
    FROM consumed AS c JOIN v ON v.invitation_id = c.invitation_id AND v.number = c.number
    RETURNING id, invitation_id, occurrence
)
SELECT c.invitation_id, c.number, c.entries_used, c.ends_at, r.id AS checkin_id
FROM consumed AS c JOIN recorded AS r ON r.invitation_id = c.invitation_id AND r.occurrence = c.number
"""
_HEAD = "SELECT seq, entry_hash FROM audit_head WHERE id = %(id)s FOR UPDATE"
_LAST_CHECKINS = """
SELECT DISTINCT ON (invitation_id, occurrence) invitation_id, occurrence, admitted_at, desk_code
FROM checkins WHERE invitation_id = ANY(%(ids)s)
ORDER BY invitation_id, occurrence, admitted_at DESC, id DESC
"""
_AUDIT_COLUMNS = (
    ("seq", "integer"), ("previous_hash", "text"), ("entry_hash", "text"), ("occurred_at", "timestamptz"),
    ("actor", "text"), ("action", "text"), ("target", "text"), ("outcome", "text"), ("source", "text"),
    ("details", "text"),
)  # fmt: skip
_OUTBOX_COLUMNS = (
    ("invitation_id", "text"), ("kind", "text"), ("purpose", "text"), ("target", "text"), ("payload", "text"),
    ("status", "text"), ("attempts", "integer"), ("created_at", "timestamptz"), ("due_at", "timestamptz"),
)  # fmt: skip


def _insert_unnest(table: str, columns: Sequence[tuple[str, str]]) -> str:
    names = ", ".join(name for name, _ in columns)
    arrays = ", ".join(f"%({name})s::{kind}[]" for name, kind in columns)
    return f"INSERT INTO {table} ({names}) SELECT * FROM unnest({arrays})"  # noqa: S608 - names are constants


_INSERT_AUDIT = _insert_unnest("audit_entries", _AUDIT_COLUMNS)
_INSERT_OUTBOX = _insert_unnest("outbox", _OUTBOX_COLUMNS)
_MOVE_HEAD = "UPDATE audit_head SET seq = %(seq)s, entry_hash = %(hash)s WHERE id = %(id)s"

Wanted = tuple[str, int, int, str]  # invitation id, occurrence number, entries allowed, token id
Consumed = tuple[int, dt.datetime, int]  # entries now used, the occurrence's end, the check-in's id


class GroupConnection:
    """One connection for one worker's decider, opened on first use and again after it broke."""

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo
        self.connection: psycopg.AsyncConnection[Any] | None = None

    async def begin(self) -> GroupTransaction:
        if self.connection is None or self.connection.closed or self.connection.broken:
            self.connection = await psycopg.AsyncConnection.connect(
                self.conninfo, autocommit=True, row_factory=namedtuple_row
            )
        return GroupTransaction(self.connection)

    async def close(self) -> None:
        if self.connection is not None:
            await self.connection.close()


class GroupTransaction:
    """``async with await connection.begin() as group:`` — rolled back unless ``finish`` committed it."""

    def __init__(self, connection: psycopg.AsyncConnection[Any]) -> None:
        self.connection = connection

    async def __aenter__(self) -> GroupTransaction:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if error is None and self.connection.info.transaction_status == TransactionStatus.IDLE:
            return  # committed (or nothing begun)
        try:
            if not self.connection.broken:
                await self.connection.execute("ROLLBACK")
        except psycopg.Error:
            await self.connection.close()

    async def read(
        self, token_hashes: Sequence[str], now: dt.datetime, invitation_ids: Sequence[str]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """BEGIN; the live bearer tokens (by hash: account id, username, role) and the invitations (by id)."""
        connection = self.connection
        async with connection.pipeline():
            await connection.execute("BEGIN")
            tokens = await connection.execute(_LIVE_TOKENS, {"hashes": list(token_hashes), "now": now})
            invitations = await connection.execute(_INVITATIONS, {"ids": list(invitation_ids)})
        return (
            {row.token_hash: row for row in await tokens.fetchall()},
            {row.id: row for row in await invitations.fetchall()},
        )

    async def consume(
        self, wanted: Sequence[Wanted], checkins: Sequence[dict[str, Any]], now: dt.datetime, head_id: int
    ) -> tuple[list[Consumed | None], tuple[int, str] | None]:
        """Each entry of ``wanted`` consumed (in order, as if one after the other) with its check-in row
        (``checkins``, same order) inserted; then the audit head (seq, hash), locked, or None if missing."""
        connection = self.connection
        rounds = _rounds(wanted)
        async with connection.pipeline():
            if wanted:
                keys = {"ids": [w[0] for w in wanted], "numbers": [w[1] for w in wanted]}
                await connection.execute(_LOCK, keys)
            cursors = [
                await connection.execute(
                    _CONSUME_AND_RECORD, _consume_parameters(wanted, checkins, chosen, now)
                )
                for chosen in rounds
            ]
            head = await connection.execute(_HEAD, {"id": head_id})
        results: list[Consumed | None] = [None] * len(wanted)
        for chosen, cursor in zip(rounds, cursors, strict=True):
            found = {
                (r.invitation_id, r.number): (r.entries_used, r.ends_at, r.checkin_id)
                for r in await cursor.fetchall()
            }
            for index in chosen:
                results[index] = found.get(wanted[index][:2])
        row = await head.fetchone()
        return results, (row.seq, row.entry_hash) if row is not None else None

    async def last_checkins(
        self, invitation_ids: Sequence[str]
    ) -> dict[tuple[str, int], tuple[dt.datetime, str]]:
        """When and at which desk each occurrence of these invitations was last used."""
        cursor = await self.connection.execute(_LAST_CHECKINS, {"ids": list(invitation_ids)})
        return {
            (r.invitation_id, r.occurrence): (r.admitted_at, r.desk_code) for r in await cursor.fetchall()
        }

    async def finish(
        self, audit_rows: Sequence[dict[str, Any]], head_id: int, outbox_rows: Sequence[dict[str, Any]]
    ) -> None:
        """The audit entries (the head moved to the last), the outbox messages, COMMIT."""
        connection = self.connection
        async with connection.pipeline():
            if audit_rows:
                await connection.execute(_INSERT_AUDIT, _columns(audit_rows, _AUDIT_COLUMNS))
                last = audit_rows[-1]
                await connection.execute(
                    _MOVE_HEAD, {"seq": last["seq"], "hash": last["entry_hash"], "id": head_id}
                )
            if outbox_rows:
                await connection.execute(_INSERT_OUTBOX, _columns(outbox_rows, _OUTBOX_COLUMNS))
            await connection.execute("COMMIT")


def _rounds(wanted: Sequence[Wanted]) -> list[list[int]]:
    """Positions of ``wanted`` in statements of distinct (invitation, occurrence): a repeat goes to a later
    statement, which sees the earlier one's update."""
    rounds: list[list[int]] = []
    for index, item in enumerate(wanted):
        key = item[:2]
        for chosen in rounds:
            if all(wanted[i][:2] != key for i in chosen):
                chosen.append(index)
                break
        else:
            rounds.append([index])
    return rounds


def _consume_parameters(
    wanted: Sequence[Wanted], checkins: Sequence[dict[str, Any]], chosen: Sequence[int], now: dt.datetime
) -> dict[str, Any]:
    return {
        "ids": [wanted[i][0] for i in chosen],
        "numbers": [wanted[i][1] for i in chosen],
        "allowed": [wanted[i][2] for i in chosen],
        "tokens": [wanted[i][3] for i in chosen],
        "venues": [checkins[i]["venue_code"] for i in chosen],
        "desks": [checkins[i]["desk_code"] for i in chosen],
        "actors": [checkins[i]["actor"] for i in chosen],
        "now": now,
    }


def _columns(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]]) -> dict[str, list[Any]]:
    return {name: [row[name] for row in rows] for name, _ in columns}
