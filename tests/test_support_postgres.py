"""Self-test of tests/support/postgres.py: the throwaway PostgreSQL cluster the suite relies on."""

from __future__ import annotations

import socket
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from tests.support.postgres import (
    ENV_VAR,
    available,
    fresh_database,
    libpq_url,
    postgres_url,
    throwaway_cluster,
)


def _local_reason() -> str | None:
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv(ENV_VAR, raising=False)
        return available()


needs_local_postgres = pytest.mark.skipif(
    _local_reason() is not None, reason=f"cannot start PostgreSQL here: {_local_reason()}"
)


def _accepts_connections(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@pytest.mark.postgres
@needs_local_postgres
def test_throwaway_cluster_lifecycle() -> None:
    with throwaway_cluster() as url:
        parsed = sa.make_url(url)
        assert parsed.drivername == "postgresql+psycopg"
        assert (parsed.username, parsed.password, parsed.host, parsed.database) == (
            "kyso",
            None,
            "127.0.0.1",
            "kyso",
        )
        port = parsed.port
        assert port is not None

        with psycopg.connect(libpq_url(url)) as conn:
            version = conn.execute("SELECT version()").fetchone()
            data_directory = conn.execute("SHOW data_directory").fetchone()
            encoding = conn.execute("SHOW server_encoding").fetchone()
        assert version is not None and "PostgreSQL" in version[0]
        assert encoding is not None and encoding[0] == "UTF8"
        assert data_directory is not None
        data_dir = Path(data_directory[0])
        assert data_dir.is_dir()

        # A second, independent database on the same server, usable through SQLAlchemy.
        other_url = fresh_database(url, "kyso_selftest")
        assert sa.make_url(other_url).database == "kyso_selftest"
        engine = sa.create_engine(other_url)
        try:
            with engine.begin() as conn:
                conn.execute(sa.text("CREATE TABLE t (id integer PRIMARY KEY, name text NOT NULL)"))
                conn.execute(sa.text("INSERT INTO t VALUES (1, 'one'), (2, 'two')"))
            with engine.connect() as conn:
                assert conn.execute(sa.text("SELECT count(*) FROM t")).scalar_one() == 2
                assert conn.execute(sa.text("SELECT current_database()")).scalar_one() == "kyso_selftest"
        finally:
            engine.dispose()

        # Recreating it gives an empty database again, even with a session still connected to it.
        lingering = psycopg.connect(libpq_url(other_url))
        try:
            again = fresh_database(url, "kyso_selftest")
            with pytest.raises(psycopg.OperationalError):  # DROP ... WITH (FORCE) terminated it
                lingering.execute("SELECT 1")
        finally:
            lingering.close()
        with psycopg.connect(libpq_url(again)) as conn:
            assert conn.execute("SELECT to_regclass('public.t')").fetchone() == (None,)

        # The admin database does not see the other database's table.
        with psycopg.connect(libpq_url(url)) as conn:
            assert conn.execute("SELECT to_regclass('public.t')").fetchone() == (None,)

    assert not data_dir.exists()
    assert not data_dir.parent.exists()
    assert not _accepts_connections(port)


@pytest.mark.postgres
@needs_local_postgres
def test_throwaway_cluster_cleans_up_when_body_raises() -> None:
    with pytest.raises(ZeroDivisionError), throwaway_cluster() as url:
        port = sa.make_url(url).port
        assert port is not None
        with psycopg.connect(libpq_url(url)) as conn:
            row = conn.execute("SHOW data_directory").fetchone()
        assert row is not None
        data_dir = Path(row[0])
        1 / 0  # noqa: B018
    assert not data_dir.parent.exists()
    assert not _accepts_connections(port)


def test_postgres_url_prefers_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    configured = "postgresql+psycopg://someone@db.invalid:5999/elsewhere"
    monkeypatch.setenv(ENV_VAR, configured)
    assert available() is None
    with postgres_url() as url:
        assert url == configured


def test_fresh_database_rejects_bad_names() -> None:
    admin = "postgresql+psycopg://kyso@127.0.0.1:1/kyso"
    with pytest.raises(ValueError):
        fresh_database(admin, "")
    with pytest.raises(ValueError):
        fresh_database(admin, "x" * 64)
    with pytest.raises(ValueError):
        fresh_database(admin, "kyso")


def test_libpq_url_strips_driver() -> None:
    assert (
        libpq_url("postgresql+psycopg://kyso@127.0.0.1:5432/kyso") == "postgresql://kyso@127.0.0.1:5432/kyso"
    )
