"""Per-client rate limits on login and verify, kept in the database: shared by every worker (two apps on
one database stand for two processes), exact under concurrent requests, 429 problem+json with Retry-After."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.ratelimit import client_key
from core.clock import FrozenClock
from store import rate_limits
from tests.conftest import Instance, make_instance

PROBLEM_JSON = "application/problem+json"


@pytest.fixture
def clocked(database_url: str, tmp_path) -> Iterator[tuple[Instance, FrozenClock]]:
    clock = FrozenClock(dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC))
    inst = make_instance(tmp_path, database_url, clock=clock)
    yield inst, clock
    inst.db.dispose()


def take(instance: Instance, client: str, now: float, rate: int = 3) -> rate_limits.Verdict:
    with instance.db.transaction() as session:
        return rate_limits.take(session, "login", client, rate=rate, period=60, now=now)


def test_a_burst_then_one_request_per_interval(clocked) -> None:
    instance, clock = clocked
    t = clock.now().timestamp()
    assert [take(instance, "198.51.100.7", t).allowed for _ in range(4)] == [True, True, True, False]
    refused = take(instance, "198.51.100.7", t)
    assert not refused.allowed and refused.retry_after == 20  # one request per 60/3 s after the burst
    assert take(instance, "198.51.100.8", t).allowed  # another client has its own allowance
    assert not take(instance, "198.51.100.7", t + 19).allowed
    assert take(instance, "198.51.100.7", t + 20).allowed
    assert not take(instance, "198.51.100.7", t + 20).allowed
    assert [take(instance, "198.51.100.7", t + 200).allowed for _ in range(4)] == [True, True, True, False]


def test_concurrent_requests_are_counted_exactly(clocked) -> None:
    instance, clock = clocked
    t = clock.now().timestamp()
    allowed: list[bool] = []
    lock = threading.Lock()

    def hammer() -> None:
        for _ in range(10):
            verdict = take(instance, "203.0.113.50", t, rate=25)
            with lock:
                allowed.append(verdict.allowed)

    threads = [threading.Thread(target=hammer) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(allowed) == 60 and allowed.count(True) == 25


def test_ipv6_clients_are_limited_per_64_and_mapped_ipv4_as_ipv4() -> None:
    assert client_key("2001:db8:1:2:aaaa::1") == client_key("2001:db8:1:2:bbbb::2") == "2001:db8:1:2::/64"
    assert client_key("2001:db8:1:3::1") != client_key("2001:db8:1:2::1")
    assert client_key("::ffff:192.0.2.1") == "192.0.2.1"
    assert client_key("192.0.2.1") == "192.0.2.1"
    assert client_key(None) == "unknown"


def _app(instance: Instance, clock: FrozenClock, **rates: int):
    settings = instance.settings.model_copy(update=rates)
    return create_app(settings, clock=clock)


def test_login_is_limited_per_client_across_workers(clocked) -> None:
    instance, clock = clocked
    rates = {"login_rate_per_minute": 4}
    worker_a = TestClient(_app(instance, clock, **rates), client=("192.0.2.10", 1000))
    worker_b = TestClient(_app(instance, clock, **rates), client=("192.0.2.10", 1001))
    other = TestClient(worker_a.app, client=("192.0.2.11", 1000))
    form = {"username": "nobody", "password": "wrong"}
    statuses = [w.post("/api/v1/auth/token", data=form).status_code for w in (worker_a, worker_b) * 2]
    assert statuses == [401, 401, 401, 401]
    refused = worker_b.post("/api/v1/auth/session", data=form)
    assert refused.status_code == 429
    assert refused.headers["content-type"].startswith(PROBLEM_JSON)
    assert refused.headers["retry-after"] == "15"
    assert refused.json()["retry_after_seconds"] == 15 and "too many" in refused.json()["detail"]
    assert other.post("/api/v1/auth/token", data=form).status_code == 401
    clock.advance(seconds=15)
    assert worker_a.post("/api/v1/auth/token", data=form).status_code == 401
    assert worker_a.post("/api/v1/auth/token", data=form).status_code == 429


def test_verify_is_limited_and_refused_before_the_document_is_checked(clocked) -> None:
    instance, clock = clocked
    client = TestClient(_app(instance, clock, verify_rate_per_minute=2), client=("192.0.2.20", 1000))
    upload = {"document": ("x.pdf", b"not a pdf", "application/pdf")}
    statuses = [client.post("/api/v1/verify", files=upload).status_code for _ in range(3)]
    assert statuses == [422, 422, 429]
    refused = client.post("/api/v1/verify", files=upload)
    assert int(refused.headers["retry-after"]) == 30
