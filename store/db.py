"""Engine and session handling. The caller owns the transaction: ``with db.transaction() as s: …``."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from core.errors import Kind, ServiceError

READ_ONLY = "kyso_read_only"
_AFTER_COMMIT = "kyso_after_commit"
log = logging.getLogger("kyso.store")


def after_commit(session: Session, callback: Callable[[], None]) -> None:
    """Run ``callback`` once the transaction of ``session`` has committed (never if it rolls back).

    For reports about what was done (metrics): a callback's failure is logged, not raised.
    """
    session.info.setdefault(_AFTER_COMMIT, []).append(callback)


def _run_after_commit(session: Session) -> None:
    for callback in session.info.pop(_AFTER_COMMIT, ()):
        try:
            callback()
        except Exception:
            log.exception("an after-commit callback failed")


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    # Python's sqlite3 module opens transactions lazily and its SAVEPOINT handling commits when the
    # outermost savepoint is released; switch its own transaction control off and let SQLAlchemy emit
    # BEGIN (see _sqlite_begin), so a transaction with savepoints inside stays one atomic unit.
    dbapi_connection.isolation_level = None  # type: ignore[attr-defined]
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(connection: object) -> None:
    # Writers BEGIN IMMEDIATE, taking the write lock up front: two deferred transactions that both read
    # and then write would deadlock on the lock upgrade, which SQLite reports as "database is locked"
    # without waiting. Readers begin deferred, so in WAL mode they never queue behind a writer.
    readonly = connection.get_execution_options().get(READ_ONLY)  # type: ignore[attr-defined]
    connection.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")  # type: ignore[attr-defined]


def unavailable(exc: OperationalError) -> ServiceError:
    """What a client is told when the database failed: a full disk is named (nothing was written, and an
    operator must free space); anything else is an outage that retrying later may get past."""
    error = exc.orig
    # sqlite3 reports SQLITE_FULL (13, in the low byte of an extended code); PostgreSQL SQLSTATE 53100
    full = (getattr(error, "sqlite_errorcode", 0) & 0xFF) == 13 or getattr(error, "sqlstate", None) == "53100"
    if full:
        return ServiceError(Kind.UNAVAILABLE, "the database's disk is full; nothing was written")
    return ServiceError(Kind.UNAVAILABLE, "the database is not reachable right now")


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        database = url.split("///", 1)[-1]
        if database and database != ":memory:":
            # the database holds password hashes and wrapped keys: readable by its owner only
            Path(database).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            Path(database).touch(mode=0o600, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    # No pre-ping: it cost a round trip per transaction. A connection that died (PostgreSQL restarted)
    # fails its first statement; SQLAlchemy then recognises the disconnect and drops every pooled
    # connection, so that one request is answered 503 and the following ones reconnect.
    return create_engine(url, pool_size=10, max_overflow=20, pool_recycle=3600)


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._sqlite = self.engine.dialect.name == "sqlite"
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def libpq_url(self) -> str:
        """The PostgreSQL URL without SQLAlchemy's driver name, for a connection of psycopg's own."""
        return self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work is committed when the block ends and rolled back if it raises."""
        session = self._sessions()
        try:
            yield session
            session.commit()
        except OperationalError as exc:
            session.rollback()
            raise unavailable(exc) from exc
        except BaseException:
            session.rollback()
            raise
        else:
            _run_after_commit(session)
        finally:
            session.close()

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A session for reads only: on SQLite it does not take the write lock, so it never waits for one."""
        with self.transaction() as session:
            if self._sqlite:  # only SQLite begins differently (see _sqlite_begin)
                session.connection(execution_options={READ_ONLY: True})
            yield session
            if session.new or session.dirty or session.deleted:
                raise ServiceError(Kind.INTERNAL, "a read-only session was asked to write")

    def dispose(self) -> None:
        self.engine.dispose()
