"""Per-authority status versions: the cheap check that lets a process cache answers about certificate status.

An authority's CRL number is its status version. Every status change (revoke, suspend, reinstate)
republishes the issuing authority's CRL in the transaction that makes the change (``ca.lifecycle``), so
the number moves exactly when an answer about one of its certificates may have changed (and also on the
scheduled republication, which costs a cache refill, nothing more). A process that remembers the number
it saw when it cached an answer knows the answer is still right while the number stays the same.

``StatusVersions.current`` reads it on a connection of its own, outside SQLAlchemy's session machinery:
one indexed SELECT, a few microseconds on SQLite and one round trip on PostgreSQL, cheap enough to run
before every cached answer. It never raises: ``None`` means "could not check", and the caller must not
trust its cache.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.db import Database
from store.models import Authority

log = logging.getLogger("kyso.store")
_SQLITE_QUERY = "SELECT crl_number FROM authorities WHERE id = ?"  # sqlite3 takes qmark parameters
_FORMAT_QUERY = "SELECT crl_number FROM authorities WHERE id = %s"  # psycopg takes format parameters


def status_version(session: Session, authority_id: str) -> int | None:
    """The authority's status version as ``session`` sees it (None for an unknown authority)."""
    return session.scalar(select(Authority.crl_number).where(Authority.id == authority_id))


class StatusVersions:
    """Reads status versions on a dedicated autocommit connection; thread-safe."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._proxied: Any = None  # SQLAlchemy's wrapper, detached from the pool; kept so it is not collected
        self._connection: Any = None  # the driver's own connection (sqlite3 or psycopg), opened lazily
        self._sql = _SQLITE_QUERY if db.dialect == "sqlite" else _FORMAT_QUERY
        self._lock = threading.Lock()

    def current(self, authority_id: str) -> int | None:
        with self._lock:
            try:
                connection = self._connection or self._connect()
                row = connection.execute(self._sql, (authority_id,)).fetchone()
            except Exception:  # the database went away or restarted: report "unknown", reconnect next time
                log.warning("status version of %s could not be read", authority_id, exc_info=True)
                self._close()
                return None
        return None if row is None else int(row[0])

    def _connect(self) -> Any:
        proxied = self._db.engine.raw_connection()
        connection = proxied.driver_connection
        proxied.detach()  # ours for the life of the process, not the pool's
        self._proxied = proxied
        if self._db.dialect != "sqlite":
            connection.autocommit = True  # each read sees what is committed now; no open transaction
        # SQLite connections come from the engine with isolation_level=None: every statement autocommits.
        self._connection = connection
        return connection

    def _close(self) -> None:
        proxied, self._proxied, self._connection = self._proxied, None, None
        if proxied is not None:
            with contextlib.suppress(Exception):  # already broken; nothing more to release
                proxied.close()

    def close(self) -> None:
        with self._lock:
            self._close()
