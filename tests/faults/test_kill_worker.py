"""kill -9 in the middle of work, on PostgreSQL: nothing half-done is left behind, and the service answers
again without manual repair.

- issuance: a `kyso serve --workers 2` worker dies while clients issue certificates; afterwards no row is
  left "reserved", every certificate issued has its audit entry (and every answer a client got is in the
  database), `kyso ca list` agrees with the table, and the supervisor's new worker issues again;
- a signing batch: the server dies while it signs 40 PDFs under one authorisation; afterwards the
  authorisation is either consumed with every document registered and audited, or not consumed with none
  of them, and then it signs the batch exactly once;
- check-in bursts: a worker dies while desks at two servers scan passes; every admit a desk saw is in the
  database, no pass is admitted twice, and a pass whose answer was lost is either admitted now or refused
  as used with its check-in on record.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from store.models import AuditEntry, Certificate, CheckIn, SignedDocument, SigningAuthorization
from tests.conftest import Instance, kyso, make_account, make_instance, new_database_url
from tests.support import cluster
from tests.support.clock import UNDER_FAKETIME
from tests.support.pdfs import sample_pdf
from tests.support.signing import new_cccd

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def pg(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Instance]:
    tmp = tmp_path_factory.mktemp("kill")
    instance = make_instance(tmp, new_database_url("postgresql", tmp, request))
    cluster.add_venue(instance)
    yield instance
    instance.db.dispose()


def _citizen(n: int) -> dict[str, str]:
    return {"profile": "citizen", "surname": "Lê", "given_name": f"Văn {n}", "cccd": f"07920300{n:04d}",
            "keygen": "ec-p256"}  # fmt: skip


# Under libfaketime (tests.support.clock.UNDER_FAKETIME) uvicorn's supervisor loop
# (`while not should_exit.wait(0.5)`) never runs and cannot replace a worker.


@pytest.mark.skipif(UNDER_FAKETIME, reason="libfaketime stalls uvicorn's supervisor loop (timed Event.wait)")
def test_a_worker_killed_during_issuance_leaves_no_half_issued_certificate(pg: Instance) -> None:
    server = cluster.start(pg, workers=2)
    try:
        bearer = cluster.token(server.url, make_account(pg, "ca-operator"))
        seen: list[str] = []  # serials the clients were told about
        lost = [0]  # requests whose answer never came (the worker died under them)
        stop = threading.Event()
        numbers = iter(range(10_000))
        lock = threading.Lock()

        def issuer() -> None:
            while not stop.is_set():
                with lock:
                    n = next(numbers)
                try:
                    with cluster.client(server.url, bearer) as operator:
                        answer = operator.post("/api/v1/certificates", json=_citizen(n))
                except httpx.TransportError:
                    lost[0] += 1
                    continue
                if answer.status_code == 201:
                    seen.append(answer.json()["serial"])
                else:  # the request failed cleanly: a problem document, never a 500
                    assert cluster.is_problem(answer, 503), answer.text

        with ThreadPoolExecutor(6) as pool:
            workers = [pool.submit(issuer) for _ in range(6)]
            cluster.poll(lambda: len(seen) >= 6, 120, "no certificate was issued")
            victim = server.worker_pids()[0]
            os.kill(victim, signal.SIGKILL)
            after_kill = len(seen)
            cluster.poll(lambda: len(seen) >= after_kill + 6, 180, "issuance did not go on after the kill")
            stop.set()
            for worker in workers:
                worker.result()
        # the supervisor replaced the dead worker
        cluster.poll(lambda: len(server.worker_pids()) == 2 and victim not in server.worker_pids(), 120,
                     "the killed worker was not replaced")  # fmt: skip
    finally:
        cluster.stop(server)

    with pg.db.reading() as session:
        rows = session.execute(select(Certificate.serial, Certificate.status, Certificate.profile)).all()
        audited = set(
            session.scalars(select(AuditEntry.target).where(AuditEntry.action == "certificate.issue"))
        )
    assert not [r for r in rows if r.status != "valid"], "a certificate row was left reserved"
    citizens = {r.serial for r in rows if r.profile == "citizen"}
    assert set(seen) <= citizens, "a client was told about a certificate the database does not have"
    assert citizens == audited, "a certificate without its audit entry, or an entry without its certificate"
    listed = json.loads(kyso(pg, "ca", "list", "--profile", "citizen", "--json", "--limit", "1").stdout)
    assert listed["total"] == len(citizens)
    cluster.assert_audit_linear(pg)


def _signing_state(
    instance: Instance, authorization_id: str, inputs: set[str]
) -> tuple[bool, set[str], set[str]]:
    """(consumed, registry ids of these inputs, ids audited as signed under this authorisation)."""
    with instance.db.reading() as session:
        used_at = session.scalar(
            select(SigningAuthorization.used_at).where(SigningAuthorization.id == authorization_id)
        )
        registered = set(
            session.scalars(select(SignedDocument.id).where(SignedDocument.input_sha256.in_(inputs)))
        )
        entries = session.execute(
            select(AuditEntry.target, AuditEntry.details).where(AuditEntry.action == "document.sign")
        ).all()
    audited = {e.target for e in entries if json.loads(e.details)["authorization"] == authorization_id}
    return used_at is not None, registered, audited


def test_a_server_killed_during_a_signing_batch_signs_all_or_nothing(pg: Instance) -> None:
    official = make_account(pg, "official", cccd=new_cccd())
    cluster.bind_signing_credential(pg, official)
    pdfs = [sample_pdf(1, title=f"Quyet dinh {n}/QD-UBND") for n in range(40)]
    inputs = {hashlib.sha256(pdf).hexdigest() for pdf in pdfs}
    files = [("documents", (f"qd-{n}.pdf", pdf, "application/pdf")) for n, pdf in enumerate(pdfs)]
    form = {"level": "b-lt", "appearance": "invisible"}

    server = cluster.start(pg)
    try:
        bearer = cluster.token(server.url, official)
        with cluster.client(server.url, bearer) as signer:
            body = {
                "documents": [{"sha256": h} for h in sorted(inputs)],
                "code": official.code(at=_next_step()),
            }
            granted = signer.post("/api/v1/signing/authorizations", json=body)
            assert granted.status_code == 201, granted.text
            authorization_id = granted.json()["id"]
            baseline = cluster.cpu_seconds(server.process.pid)
            outcome: list[object] = []
            sending = threading.Thread(
                target=lambda: outcome.append(_post_sign(signer, files, form, authorization_id))
            )
            sending.start()
            # kill once the server has spent a little CPU on this batch: mid-signing, not before it began
            cluster.poll(lambda: cluster.cpu_seconds(server.process.pid) - baseline > 0.3, 120,
                         "the server did not start signing", interval=0.01)  # fmt: skip
            cluster.kill_hard(server)
            sending.join(60)
        assert isinstance(outcome[0], httpx.TransportError), outcome
    finally:
        cluster.stop(server)

    consumed, registered, audited = _signing_state(pg, authorization_id, inputs)
    assert registered == audited, "a registry entry without its audit entry, or the reverse"
    assert (consumed, len(registered)) in ((True, len(pdfs)), (False, 0)), (consumed, len(registered))

    server = cluster.start(pg)  # no repair: the same database, a new process
    try:
        with cluster.client(server.url, bearer) as signer:
            again = signer.post(
                "/api/v1/signing/sign", files=files, data={**form, "authorization_id": authorization_id}
            )
        assert again.status_code == (409 if consumed else 200), again.text
    finally:
        cluster.stop(server)
    consumed, registered, audited = _signing_state(pg, authorization_id, inputs)
    assert consumed and registered == audited and len(registered) == len(pdfs)
    cluster.assert_audit_linear(pg)


def _next_step() -> float:
    import time

    return time.time() + 30  # the login used this step's code; the next step's is valid now and unused


def _post_sign(signer: httpx.Client, files: list, form: dict[str, str], authorization_id: str) -> object:
    try:
        return signer.post(
            "/api/v1/signing/sign", files=files, data={**form, "authorization_id": authorization_id}
        )
    except httpx.TransportError as exc:
        return exc


def test_a_worker_killed_during_check_in_bursts_loses_no_check_in(pg: Instance, tmp_path: Path) -> None:
    host = make_account(pg, "official")
    desk = make_account(pg, "desk", venue=cluster.VENUE)
    payloads = cluster.make_passes(pg, 240, host=host)
    servers = [cluster.start(pg, workers=2)]
    try:
        servers.append(cluster.start(pg))
        bearer = cluster.token(servers[0].url, desk)
        admitted: dict[str, int] = {}  # invitation id -> check-in id, as the desks saw them
        unanswered: list[str] = []
        done = [0]
        lock = threading.Lock()

        def desk_client(n: int) -> None:
            with cluster.client(servers[n % 2].url, bearer) as client:
                for payload in payloads[n::8]:
                    try:
                        answer = client.post(
                            "/api/v1/checkins", json=cluster.checkin_request(payload, cluster.DESKS[n])
                        )
                    except httpx.TransportError:
                        unanswered.append(payload)
                        continue
                    finally:
                        with lock:
                            done[0] += 1
                    assert answer.status_code == 200, answer.text
                    decision = answer.json()
                    assert decision["decision"] == "admit", decision
                    admitted[decision["invitation_id"]] = decision["checkin_id"]

        with ThreadPoolExecutor(8) as pool:
            desks = [pool.submit(desk_client, n) for n in range(8)]
            cluster.poll(lambda: done[0] >= 60, 120, "the desks made no progress")
            os.kill(servers[0].worker_pids()[0], signal.SIGKILL)
            for each in desks:
                each.result()

        # a pass whose answer was lost: admitted now, or refused as used because its check-in was stored
        with cluster.client(servers[1].url, bearer) as client:
            for payload in unanswered:
                decision = client.post(
                    "/api/v1/checkins", json=cluster.checkin_request(payload, "gate-1")
                ).json()
                assert decision["decision"] == "admit" or decision["reason_code"] == "used", decision
                if decision["decision"] == "admit":
                    admitted[decision["invitation_id"]] = decision["checkin_id"]
    finally:
        for server in servers:
            cluster.stop(server)

    with pg.db.reading() as session:
        rows = session.execute(select(CheckIn.invitation_id, CheckIn.id)).all()
        per_pass = dict(
            session.execute(select(CheckIn.invitation_id, func.count()).group_by(CheckIn.invitation_id)).all()
        )
    stored = {r.invitation_id: r.id for r in rows}
    assert all(count == 1 for count in per_pass.values()), "a pass was admitted twice"
    assert all(stored.get(i) == c for i, c in admitted.items()), "an admit a desk saw is not in the database"
    assert len(stored) == len(payloads), "every pass was checked in exactly once in the end"
    cluster.assert_audit_linear(pg)
