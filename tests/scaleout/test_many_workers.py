"""Scale-out on PostgreSQL: `kyso serve --workers 2` and a second `kyso serve` on another port, one database.

Clients hit both servers at the same moment (threads released by a barrier). What must hold, whichever
process answers: certificate serials are unique, a single-entry pass is admitted once however many desks
scan it, a one-time code is accepted once (at login and when authorising a signature), and the audit
chain stays one line with no gap in its numbering.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import httpx
import pytest
from sqlalchemy import func, select

from store.models import AuditEntry, Certificate, CheckIn
from tests.conftest import Instance, TestAccount, make_account, make_instance, new_database_url
from tests.support import cluster
from tests.support.pdfs import sample_pdf
from tests.support.signing import new_cccd

pytestmark = pytest.mark.postgres
PASSES = 6
DESKS_PER_PASS = 8
ISSUERS, ISSUES_EACH = 8, 3
T = TypeVar("T")


@dataclass
class Fleet:
    instance: Instance
    servers: list[cluster.Served]  # [--workers 2, --workers 1]: three processes answering
    operator: str  # bearer tokens, valid at every server: sessions live in the database
    desk: str
    official: TestAccount

    @property
    def urls(self) -> list[str]:
        return [s.url for s in self.servers]


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Fleet]:
    tmp = tmp_path_factory.mktemp("scaleout")
    instance = make_instance(tmp, new_database_url("postgresql", tmp, request))
    cluster.add_venue(instance)
    operator = make_account(instance, "ca-operator")
    desk = make_account(instance, "desk", venue=cluster.VENUE)
    official = make_account(instance, "official")
    servers = [cluster.start(instance, workers=2)]
    try:
        servers.append(cluster.start(instance, workers=1))
        first = servers[0].url
        yield Fleet(instance, servers, cluster.token(first, operator), cluster.token(first, desk), official)
    finally:
        for server in servers:
            cluster.stop(server)
        instance.db.dispose()


def at_once(calls: list[Callable[[], T]]) -> list[T]:
    """Run every call in its own thread, all released together."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], T]) -> T:
        barrier.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def test_workers_answer_for_each_other(fleet: Fleet) -> None:
    """A token issued by one process is accepted by the others; /healthz is green everywhere."""
    assert len(fleet.servers[0].worker_pids()) == 2
    for url in fleet.urls:
        assert cluster.healthz(url) == 200
        with cluster.client(url, fleet.desk) as desk:
            me = desk.get("/api/v1/auth/me")
        assert me.status_code == 200 and me.json()["role"] == "desk"


def citizen(n: int, i: int) -> dict[str, str]:
    given = f"Văn {n}-{i}"
    return {"profile": "citizen", "surname": "Nguyễn", "given_name": given, "cccd": f"0792030{n:02d}{i:03d}",
            "keygen": "ec-p256"}  # fmt: skip


def test_concurrent_issuance_at_both_servers_gives_unique_serials(fleet: Fleet) -> None:
    before = fleet.instance.count(Certificate)

    def issuer(n: int) -> Callable[[], list[httpx.Response]]:
        def run() -> list[httpx.Response]:
            url = fleet.urls[n % len(fleet.urls)]
            with cluster.client(url, fleet.operator) as operator:
                return [operator.post("/api/v1/certificates", json=citizen(n, i)) for i in range(ISSUES_EACH)]

        return run

    batches = at_once([issuer(n) for n in range(ISSUERS)])
    answers = [a for batch in batches for a in batch]
    assert [a.status_code for a in answers] == [201] * len(answers), [a.text for a in answers if a.is_error]
    serials = [a.json()["serial"] for a in answers]
    assert len(set(serials)) == len(serials) == ISSUERS * ISSUES_EACH
    assert fleet.instance.count(Certificate) == before + len(serials)
    with fleet.instance.db.reading() as session:
        audited = set(
            session.scalars(select(AuditEntry.target).where(AuditEntry.action == "certificate.issue"))
        )
    assert set(serials) <= audited, "every certificate issued has its audit entry"
    cluster.assert_audit_linear(fleet.instance)


def test_each_single_entry_pass_is_admitted_once_when_desks_at_both_servers_scan_it(
    fleet: Fleet,
) -> None:
    payloads = cluster.make_passes(fleet.instance, PASSES, host=fleet.official)
    clients = [cluster.client(url, fleet.desk) for url in fleet.urls]
    try:
        for payload in payloads:
            answers = at_once([
                lambda n=n, payload=payload: clients[n % len(clients)].post(
                    "/api/v1/checkins", json=cluster.checkin_request(payload, cluster.DESKS[n])
                )
                for n in range(DESKS_PER_PASS)
            ])  # fmt: skip
            assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
            decisions = [a.json()["decision"] for a in answers]
            assert decisions.count("admit") == 1, decisions
            assert {a.json()["reason_code"] for a in answers if a.json()["decision"] == "deny"} == {"used"}
    finally:
        for each in clients:
            each.close()
    with fleet.instance.db.reading() as session:
        per_pass = session.execute(
            select(CheckIn.invitation_id, func.count()).group_by(CheckIn.invitation_id)
        ).all()
    assert len(per_pass) >= PASSES and all(count == 1 for _, count in per_pass), per_pass
    cluster.assert_audit_linear(fleet.instance)


def test_a_login_code_is_accepted_once_across_workers(fleet: Fleet) -> None:
    account = make_account(fleet.instance, "official")
    code = account.code()
    # five tries: under the five failures that would lock the account
    answers = at_once([lambda n=n: cluster.login(fleet.urls[n % 2], account, code) for n in range(5)])
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] + [401] * 4, [a.text for a in answers]
    assert all(cluster.is_problem(a, 401) for a in answers if a.status_code == 401)


def test_an_authorisation_code_is_accepted_once_across_workers(fleet: Fleet) -> None:
    official = make_account(fleet.instance, "official", cccd=new_cccd())
    cluster.bind_signing_credential(fleet.instance, official)
    bearer = cluster.token(fleet.urls[0], official)  # uses the current step's code
    code = official.code(at=time.time() + 30)  # the next step's code: valid now, not used yet
    body = {"documents": [{"sha256": hashlib.sha256(sample_pdf(1)).hexdigest()}], "code": code}
    clients = [cluster.client(url, bearer) for url in fleet.urls]
    try:
        answers = at_once([
            lambda n=n: clients[n % 2].post("/api/v1/signing/authorizations", json=body) for n in range(6)
        ])  # fmt: skip
    finally:
        for each in clients:
            each.close()
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201] + [403] * 5, [a.text for a in answers]
    cluster.assert_audit_linear(fleet.instance)


def _issued_count(url: str) -> float:
    text = httpx.get(url + "/metrics", timeout=30).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("kyso_certificates_issued_total{")
    )


def test_servers_sharing_a_data_directory_keep_their_own_metrics(tmp_path_factory: pytest.TempPathFactory,
                                                                 request: pytest.FixtureRequest) -> None:  # fmt: skip
    """Two `kyso serve --workers 2` on one data directory (two containers on one volume, or a restart
    beside the running server): starting the second does not wipe the first one's counters."""
    tmp = tmp_path_factory.mktemp("metrics")
    instance = make_instance(tmp, new_database_url("postgresql", tmp, request))
    first = cluster.start(instance, workers=2)
    second = None
    try:
        bearer = cluster.token(first.url, make_account(instance, "ca-operator"))
        with cluster.client(first.url, bearer) as operator:
            for n in range(3):
                assert operator.post("/api/v1/certificates", json=citizen(90, n)).status_code == 201
        assert _issued_count(first.url) == 3
        second = cluster.start(instance, workers=2)
        assert _issued_count(first.url) == 3, "the second server's start wiped the first one's metrics"
        assert _issued_count(second.url) == 0
    finally:
        for server in (first, second):
            if server is not None:
                cluster.stop(server)
        instance.db.dispose()
