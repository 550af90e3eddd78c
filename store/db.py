"""Engine and session handling. The caller owns the transaction: ``with db.transaction() as s: …``."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote, urlencode

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from core.errors import Kind, ServiceError

READ_ONLY = "kyso_read_only"
_AFTER_COMMIT = "kyso_after_commit"
log = logging.getLogger("kyso.store")
SQLITE_BUSY_TIMEOUT_MS = 30000


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
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
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


# Limits every Kyso session on PostgreSQL runs under (settings db_lock_timeout_seconds and
# db_idle_in_transaction_timeout_seconds). A client that stops mid-transaction (killed, frozen, or its socket
# kept open by a forgotten child process) must not hold its locks, the audit head's among them, for ever:
# the server ends a transaction left idle that long, and a statement waiting for a lock that long fails
# (answered 503) instead of queueing without end.
LOCK_TIMEOUT_SECONDS = 10.0
IDLE_IN_TRANSACTION_TIMEOUT_SECONDS = 30.0
READY_TIMEOUT_SECONDS = 2.0


def postgres_options(lock_timeout: float, idle_in_transaction_timeout: float, given: str = "") -> str:
    """libpq ``options`` setting both limits (0 switches one off), after any the URL already gives."""
    limits = (
        f"-c lock_timeout={round(lock_timeout * 1000)} "
        f"-c idle_in_transaction_session_timeout={round(idle_in_transaction_timeout * 1000)}"
    )
    return f"{given} {limits}".strip()


# hide_parameters: an error's text (and so a traceback in the log) names the statement but not its
# parameters, which hold password and API-key hashes, wrapped keys and guests' personal data.
def make_engine(
    url: str,
    *,
    lock_timeout: float = LOCK_TIMEOUT_SECONDS,
    idle_in_transaction_timeout: float = IDLE_IN_TRANSACTION_TIMEOUT_SECONDS,
) -> Engine:
    if url.startswith("sqlite"):
        database = url.split("///", 1)[-1]
        if database and database != ":memory:":
            # the database holds password hashes and wrapped keys: readable by its owner only
            Path(database).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            Path(database).touch(mode=0o600, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False}, hide_parameters=True)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    # No pre-ping: it cost a round trip per transaction. A connection that died (PostgreSQL restarted)
    # fails its first statement; SQLAlchemy then recognises the disconnect and drops every pooled
    # connection, so that one request is answered 503 and the following ones reconnect.
    given = make_url(url).query.get("options", "")
    options = postgres_options(
        lock_timeout, idle_in_transaction_timeout, given if isinstance(given, str) else ""
    )
    return create_engine(
        url,
        pool_size=10,
        max_overflow=20,
        pool_recycle=3600,
        connect_args={"options": options},
        hide_parameters=True,
    )


class Database:
    def __init__(
        self,
        url: str,
        *,
        lock_timeout: float = LOCK_TIMEOUT_SECONDS,
        idle_in_transaction_timeout: float = IDLE_IN_TRANSACTION_TIMEOUT_SECONDS,
    ) -> None:
        self.url = url
        self.engine = make_engine(
            url, lock_timeout=lock_timeout, idle_in_transaction_timeout=idle_in_transaction_timeout
        )
        self._limits = (lock_timeout, idle_in_transaction_timeout)
        self._sqlite = self.engine.dialect.name == "sqlite"
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def libpq_url(self) -> str:
        """The PostgreSQL URL without SQLAlchemy's driver name, for a connection of psycopg's own (with the
        same session limits as the engine's)."""
        url = self.engine.url
        given = url.query.get("options", "")
        options = postgres_options(*self._limits, given if isinstance(given, str) else "")
        base = url.set(drivername="postgresql", query={}).render_as_string(hide_password=False)
        # %20, not "+", for the spaces: libpq does not read "+" in a URI as a space
        return base + "?" + urlencode({**url.query, "options": options}, doseq=True, quote_via=quote)

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

    def check_writable(self, timeout: float = READY_TIMEOUT_SECONDS) -> None:
        """Take (and give back at once) the write lock every audited action needs, the audit head's row on
        PostgreSQL and the database's write lock on SQLite; raise UNAVAILABLE if that takes over
        ``timeout`` seconds. Readiness (/readyz): a database that answers but cannot be written to, because
        a stuck transaction holds the lock, is not ready, though the process is alive (/healthz)."""
        milliseconds = max(1, round(timeout * 1000))
        try:
            with self.engine.connect() as connection:
                if self._sqlite:
                    driver = connection.connection.driver_connection
                    assert driver is not None
                    driver.execute(f"PRAGMA busy_timeout={milliseconds}")
                    try:
                        connection.begin().rollback()  # BEGIN IMMEDIATE (see _sqlite_begin): the write lock
                    finally:
                        driver.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
                else:
                    transaction = connection.begin()
                    connection.exec_driver_sql(f"SET LOCAL lock_timeout = {milliseconds}")
                    connection.exec_driver_sql(f"SET LOCAL statement_timeout = {milliseconds}")
                    connection.exec_driver_sql("SELECT id FROM audit_head FOR UPDATE")
                    transaction.rollback()
        except OperationalError as exc:
            error = exc.orig
            busy = getattr(error, "sqlstate", None) in ("55P03", "57014") or (
                getattr(error, "sqlite_errorcode", 0) & 0xFF
            ) in (5, 6)  # lock_not_available, query_canceled; SQLITE_BUSY, SQLITE_LOCKED
            if busy:
                raise ServiceError(
                    Kind.UNAVAILABLE,
                    f"the database cannot take a write lock within {timeout:g} s: a transaction holds it",
                ) from exc
            raise unavailable(exc) from exc

    def dispose(self) -> None:
        self.engine.dispose()
