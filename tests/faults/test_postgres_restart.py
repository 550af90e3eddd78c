"""PostgreSQL stopped and started again under load: while it is down Kyso answers 503 problem+json (OCSP:
an OCSP error status), never a 500; when it is back the same `kyso serve` processes answer again, and no
check-in a desk saw admitted is missing."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from store.models import CheckIn
from tests.conftest import make_account, make_instance
from tests.support import cluster
from tests.support.postgres import fresh_database
from tests.support.signing import issue_in_custody

pytestmark = pytest.mark.postgres


@pytest.fixture
def postgres() -> Iterator[cluster.OwnPostgres]:
    server = cluster.OwnPostgres()
    yield server
    server.remove()


def test_requests_fail_cleanly_while_postgresql_restarts_and_succeed_after(
    postgres: cluster.OwnPostgres, tmp_path: Path
) -> None:
    instance = make_instance(tmp_path, fresh_database(postgres.url, "kyso_restart"))
    cluster.add_venue(instance)
    host, desk = make_account(instance, "official"), make_account(instance, "desk", venue=cluster.VENUE)
    payloads = cluster.make_passes(instance, 400, host=host)
    authority, ocsp_request = cluster.ocsp_request_for(instance, issue_in_custody(instance, "citizen"))
    server = cluster.start(instance, workers=2)
    seen: list[tuple[str, str, int]] = []  # (phase, kind, status)
    admitted: dict[str, int] = {}
    problems: list[str] = []
    phase = ["before"]
    stop = threading.Event()
    try:
        bearer = cluster.token(server.url, desk)

        def load(n: int) -> None:
            with cluster.client(server.url, bearer, timeout=30) as client:
                for payload in payloads[n::4]:
                    if stop.is_set():
                        return
                    for kind, call in (
                        ("me", lambda: client.get("/api/v1/auth/me")),
                        ("checkin", lambda p=payload: client.post(
                            "/api/v1/checkins", json=cluster.checkin_request(p, cluster.DESKS[n])
                        )),
                        ("ocsp", lambda: client.post(
                            f"/ocsp/{authority}", content=ocsp_request,
                            headers={"Content-Type": "application/ocsp-request"},
                        )),
                    ):  # fmt: skip
                        try:
                            answer = call()
                        except httpx.TransportError as exc:  # kyso serve itself must stay up
                            problems.append(f"{kind}: {exc!r}")
                            continue
                        seen.append((phase[0], kind, answer.status_code))
                        if kind == "ocsp":
                            status = cluster.ocsp_status(answer)
                            if status not in ("SUCCESSFUL", "TRY_LATER", "INTERNAL_ERROR"):
                                problems.append(f"ocsp: {status}")
                        elif answer.status_code == 503:
                            if not cluster.is_problem(answer, 503):
                                problems.append(f"{kind}: 503 without problem+json: {answer.text[:200]}")
                        elif answer.status_code != 200:
                            problems.append(f"{kind}: {answer.status_code} {answer.text[:300]}")
                        elif kind == "checkin":
                            decision = answer.json()
                            if decision["decision"] == "admit":
                                admitted[decision["invitation_id"]] = decision["checkin_id"]

        def count(phase_name: str, kind: str, status: int) -> int:
            for each in running:  # a load thread that failed says why at once, not after the deadline
                if each.done() and each.exception() is not None:
                    raise AssertionError(f"a load thread failed: {each.exception()!r}")
            return Counter(seen)[(phase_name, kind, status)]

        with ThreadPoolExecutor(4) as pool:
            running = [pool.submit(load, n) for n in range(4)]
            cluster.poll(lambda: count("before", "checkin", 200) >= 20, 120, "no check-in before the outage")
            phase[0] = "down"
            postgres.stop()
            cluster.poll(lambda: count("down", "me", 503) >= 5 and count("down", "checkin", 503) >= 5, 120,
                         "no 503 seen while the database was down")  # fmt: skip
            assert cluster.healthz(server.url) == 503
            postgres.start()
            phase[0] = "after"
            cluster.poll(lambda: count("after", "checkin", 200) >= 20, 120,
                         "check-ins did not resume after the database came back")  # fmt: skip
            stop.set()
            for each in running:
                each.result()
        assert cluster.healthz(server.url) == 200
        assert server.alive()
    finally:
        stop.set()
        cluster.stop(server)

    assert not problems, problems[:10]
    statuses = Counter((kind, status) for _, kind, status in seen)
    assert set(statuses) <= {("me", 200), ("me", 503), ("checkin", 200), ("checkin", 503), ("ocsp", 200)}
    instance.db.dispose()  # this process's own pool still holds connections from before the restart
    with instance.db.reading() as session:
        stored = dict(session.execute(select(CheckIn.invitation_id, CheckIn.id)).all())
        doubles = session.scalar(
            select(func.count()).select_from(
                select(CheckIn.invitation_id)
                .group_by(CheckIn.invitation_id)
                .having(func.count() > 1)
                .subquery()
            )
        )
    assert doubles == 0
    assert all(stored.get(i) == c for i, c in admitted.items()), "an admit a desk saw is not in the database"
    cluster.assert_audit_linear(instance)
    instance.db.dispose()
