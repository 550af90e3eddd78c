"""Per-authority status versions: the cheap check that lets a process cache answers about certificate status.

An authority's CRL number is its status version. Every status change (revoke, suspend, reinstate)
republishes the issuing authority's CRL in the transaction that makes the change (``ca.lifecycle``), so
the number moves exactly when an answer about one of its certificates may have changed (and also on the
scheduled republication, which costs a cache refill, nothing more). A process that remembers the number
it saw when it cached an answer knows the answer is still right while the number stays the same.

``StatusVersions.current`` reads it on a connection of its own, outside SQLAlchemy's session machinery:
one indexed SELECT (one round trip on PostgreSQL), cheap enough to run before every cached answer; on
SQLite the SELECT is skipped while the WAL-index header shows that nothing was committed since the last
one. It never raises: ``None`` means "could not check", and the caller must not trust its cache.
"""

from __future__ import annotations

import contextlib
import logging
import mmap
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
        self._commits: _SqliteCommits | None = None
        self._watch_commits = db.dialect == "sqlite"  # until the -shm file turns out not to be there
        self._read: tuple[bytes, dict[str, int | None]] | None = None  # the versions read under a WAL header

    def current(self, authority_id: str) -> int | None:
        with self._lock:
            header = self._commits.header() if self._commits is not None else None
            if header is not None and self._read is not None and self._read[0] == header:
                known = self._read[1]
                if authority_id in known:
                    return known[authority_id]  # nothing was committed since it was read
            try:
                connection = self._connection or self._connect()
                row = connection.execute(self._sql, (authority_id,)).fetchone()
            except Exception:  # the database went away or restarted: report "unknown", reconnect next time
                log.warning("status version of %s could not be read", authority_id, exc_info=True)
                self._close()
                return None
            version = None if row is None else int(row[0])
            if header is not None:  # read before the SELECT: a commit in between shows as a new header
                if self._read is None or self._read[0] != header:
                    self._read = (header, {})
                self._read[1][authority_id] = version
            elif self._commits is None and self._watch_commits:  # the -shm exists once a read has run
                self._commits = _SqliteCommits.open(self._db)
                self._watch_commits = self._commits is not None
        return version

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
        self._read = None
        if self._commits is not None:
            self._commits.close()
            self._commits = None
        if proxied is not None:
            with contextlib.suppress(Exception):  # already broken; nothing more to release
                proxied.close()

    def close(self) -> None:
        with self._lock:
            self._close()


class _SqliteCommits:
    """Whether anything was committed to a SQLite database in WAL mode, without a transaction.

    A SELECT costs a read transaction: two fcntl locks and the statement, ~40 µs under load here, a quarter
    of an OCSP answer. SQLite itself decides whether a reader's snapshot is current from the WAL-index
    header at the start of the -shm file (https://sqlite.org/walformat.html): 48 bytes, written twice, with a
    counter that every commit increments, and written before a commit returns. Reading that header from a
    read-only mapping tells whether any transaction committed since the last SELECT; a header caught
    mid-update (its two copies differ) counts as a change. The mapping stays valid while the connection
    of ``StatusVersions`` is open: a WAL connection holds a shared lock on the database file, so no other
    process can delete or truncate the -shm file meanwhile (it needs the exclusive lock for that).
    """

    HEADER = 48

    def __init__(self, shm: mmap.mmap) -> None:
        self._shm = shm

    @classmethod
    def open(cls, db: Database) -> _SqliteCommits | None:
        database = db.engine.url.database
        if not database or database == ":memory:":
            return None
        try:
            with open(f"{database}-shm", "rb") as shm_file:
                shm = mmap.mmap(shm_file.fileno(), cls.HEADER * 2, access=mmap.ACCESS_READ)
        except (OSError, ValueError):  # no shared-memory file (not WAL) or shorter than the header
            return None
        return cls(shm)

    def header(self) -> bytes | None:
        first, second = self._shm[: self.HEADER], self._shm[self.HEADER : 2 * self.HEADER]
        return first if first == second else None

    def close(self) -> None:
        self._shm.close()
