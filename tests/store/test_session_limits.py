"""Kyso's PostgreSQL sessions run under lock_timeout and idle_in_transaction_session_timeout, so a stuck
client cannot hold the audit head (or any lock) for ever (issue 16, item 3)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text

from core.errors import Kind, ServiceError
from store.db import Database
from tests.conftest import make_settings, new_database_url

pytestmark = pytest.mark.postgres


@pytest.fixture
def url(tmp_path: Path, request: pytest.FixtureRequest) -> str:
    return new_database_url("postgresql", tmp_path, request)


@pytest.fixture
def db(url: str, request: pytest.FixtureRequest) -> Iterator[Database]:
    lock_timeout, idle_timeout = getattr(request, "param", (1, 1))
    database = Database(url, lock_timeout=lock_timeout, idle_in_transaction_timeout=idle_timeout)
    with database.transaction() as session:
        session.execute(text("CREATE TABLE t (id int PRIMARY KEY)"))
        session.execute(text("INSERT INTO t VALUES (1)"))
    yield database
    database.dispose()


def test_the_defaults_come_from_the_settings(url: str, tmp_path: Path) -> None:
    from ca.runtime import CaRuntime

    settings = make_settings(tmp_path / "var", url)
    assert (settings.db_lock_timeout_seconds, settings.db_idle_in_transaction_timeout_seconds) == (10, 30)
    runtime = CaRuntime.from_settings(
        make_settings(
            tmp_path / "var", url, db_lock_timeout_seconds=4, db_idle_in_transaction_timeout_seconds=7.5
        )
    )
    try:
        with runtime.db.reading() as session:
            assert session.scalar(text("SHOW lock_timeout")) == "4s"
            assert session.scalar(text("SHOW idle_in_transaction_session_timeout")) == "7500ms"
        # psycopg connections of Kyso's own (the check-in fast path) run under the same limits
        with psycopg.connect(runtime.db.libpq_url()) as own:
            assert own.execute("SHOW lock_timeout").fetchone() == ("4s",)
    finally:
        runtime.db.dispose()


@pytest.mark.parametrize("db", [(1, 60)], indirect=True)  # the holder is not ended while we wait
def test_a_lock_wait_ends_with_a_503_instead_of_for_ever(db: Database) -> None:
    holder = psycopg.connect(db.libpq_url())
    try:
        holder.execute("SELECT id FROM t WHERE id = 1 FOR UPDATE")  # and then sits idle, holding it
        started = time.monotonic()
        with pytest.raises(ServiceError) as caught, db.transaction() as session:
            session.execute(text("UPDATE t SET id = 1 WHERE id = 1"))
        assert caught.value.kind is Kind.UNAVAILABLE
        assert time.monotonic() - started < 5
    finally:
        holder.close()


def test_a_transaction_left_idle_is_ended_and_its_locks_freed(db: Database) -> None:
    stuck = psycopg.connect(db.libpq_url())
    stuck.execute("SELECT id FROM t WHERE id = 1 FOR UPDATE")
    time.sleep(2.5)  # past the 1 s idle_in_transaction_session_timeout: the server ends that session
    with db.transaction() as session:
        session.execute(text("UPDATE t SET id = 1 WHERE id = 1"))  # does not wait
    with pytest.raises(psycopg.Error, match="idle-in-transaction timeout"):
        stuck.execute("SELECT 1")
    stuck.close()
