"""Per-client rate limits in the database: GCRA (the generic cell rate algorithm), one atomic UPSERT.

A scope allows ``rate`` requests per ``period`` seconds per client, in bursts of up to ``rate``. The row
keeps the client's theoretical arrival time (TAT). A request at ``now`` is allowed when
``max(tat, now) + interval - now <= period`` (``interval = period / rate``), and then moves the TAT to
``max(tat, now) + interval``; a refused request leaves it. Both the test and the move happen in one
``INSERT … ON CONFLICT DO UPDATE … RETURNING`` (SQLite ≥ 3.35 and PostgreSQL), whose SET expressions all
read the row as it was, so concurrent requests from any number of workers serialise on the row and none is
lost or double-counted. Rows whose TAT has passed mean nothing and are deleted now and then.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass

from sqlalchemy import case, delete, func
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from store.models import RateLimit

_SLACK = 1e-3  # seconds: a burst of exactly ``rate`` must fit despite the float sum of its intervals
_PURGE_ONE_IN = 512  # requests; a purge deletes the rows of every client that is under its limit again


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: int  # whole seconds until the next request would be allowed (0 when allowed)


def take(session: Session, scope: str, client: str, *, rate: int, period: float, now: float) -> Verdict:
    """Count one request of ``client`` in ``scope``; the caller's transaction commits it."""
    interval = period / rate
    table = RateLimit.__table__
    postgres = session.get_bind().dialect.name == "postgresql"
    insert = (postgresql.insert if postgres else sqlite.insert)(table)
    later = (func.greatest if postgres else func.max)(table.c.tat, now) + interval
    fits = later - now <= period + _SLACK
    statement = (
        insert.values(scope=scope, client=client[:64], tat=now + interval, allowed=True)
        .on_conflict_do_update(
            index_elements=[table.c.scope, table.c.client],
            set_={"tat": case((fits, later), else_=table.c.tat), "allowed": fits},
        )
        .returning(table.c.tat, table.c.allowed)
    )
    tat, allowed = session.execute(statement).one()
    if secrets.randbelow(_PURGE_ONE_IN) == 0:
        session.execute(delete(table).where(table.c.tat < now))
    if allowed:
        return Verdict(True, 0)
    return Verdict(False, max(1, math.ceil(tat + interval - period - now)))
