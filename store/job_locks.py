"""One runner at a time for each background job, across every process on the database.

PostgreSQL: a session-level advisory lock (``pg_try_advisory_lock``) on a connection of its own, held for
the job's run. SQLite (one machine): an exclusive ``flock`` on a file beside the database. Both are
released by the operating system or the server when the holder dies, even by ``kill -9``: a job never
stays locked after its runner is gone. A runner that finds the lock taken skips that run; the job is
idempotent and the holder is doing it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

from store.db import Database

LOCK_NAMESPACE = "kyso-job:"


def lock_key(job: str) -> int:
    """The advisory lock's 64-bit key for ``job`` (signed, as PostgreSQL takes it)."""
    digest = hashlib.sha256((LOCK_NAMESPACE + job).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextlib.contextmanager
def exclusive(db: Database, job: str, lock_dir: Path) -> Iterator[bool]:
    """``with exclusive(db, "crl", dir) as mine:`` — ``mine`` is False when another runner holds it."""
    if db.dialect == "postgresql":
        with _advisory(db, job) as mine:
            yield mine
    else:
        with _flock(lock_dir / f"job-{job}.lock") as mine:
            yield mine


@contextlib.contextmanager
def _advisory(db: Database, job: str) -> Iterator[bool]:
    key = lock_key(job)
    with db.engine.connect() as connection:
        connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        mine = bool(connection.exec_driver_sql("SELECT pg_try_advisory_lock(%s)", (key,)).scalar())
        try:
            yield mine
        finally:
            if mine:
                connection.exec_driver_sql("SELECT pg_advisory_unlock(%s)", (key,))


@contextlib.contextmanager
def _flock(path: Path) -> Iterator[bool]:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(descriptor, fcntl.LOCK_UN)
    finally:
        os.close(descriptor)
