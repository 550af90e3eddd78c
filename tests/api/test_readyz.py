"""/readyz: 503 problem+json while the database cannot take the write lock audited actions need (a stuck
transaction holds the audit head), 200 otherwise; /healthz stays the liveness check (issue 16, item 3)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.app import create_app
from identity import audit
from tests.conftest import Instance


@pytest.fixture
def client(instance: Instance) -> Iterator[TestClient]:
    app = create_app(instance.settings)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client
    app.state.kyso.runtime.db.dispose()


def test_readyz_reports_a_database_whose_write_lock_is_held(client: TestClient, instance: Instance) -> None:
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["status"] == "ok"

    with instance.db.transaction() as session:  # a running instance has audited something already
        audit.append(session, clock=instance.ca.clock, actor="admin", action="test.first", source="test")
    connection = instance.db.engine.connect()
    stuck = Session(bind=connection)
    try:
        # an audited action that never ends its transaction: it holds the audit head (on SQLite, the lock)
        audit.append(stuck, clock=instance.ca.clock, actor="stuck", action="test.stuck", source="test")
        stuck.flush()
        started = time.monotonic()
        response = client.get("/readyz")
        elapsed = time.monotonic() - started
        assert response.status_code == 503, (response.text, elapsed)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert "cannot take a write lock" in response.json()["detail"]
        assert 1.5 < elapsed < 6, elapsed  # it waited about 2 s, not the 10 s lock timeout or for ever
        assert client.get("/healthz").status_code == 200  # alive, only not ready
    finally:
        stuck.rollback()
        stuck.close()
        connection.close()
    assert client.get("/readyz").status_code == 200
