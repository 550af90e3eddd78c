"""N desks scanning one single-entry pass at the same moment admit it exactly once.

Processes (each with its own runtime, seal and connection pool) and threads inside them all wait at a
barrier, then check in the same token. The database decides: one admit, every other scan "already used",
and exactly one check-in row.
"""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing
import threading
from pathlib import Path

import pytest

from core.clock import VIETNAM
from invitations import checkin, service, venues
from invitations.reasons import Reason
from invitations.service import InvitationInput
from store import invitations_repo as repo
from tests.conftest import Instance, make_account, make_instance, new_database_url
from tests.support.invitations import instance_context

PROCESSES = 6
THREADS = 4


def _settings_json(instance: Instance) -> str:
    data = instance.settings.model_dump(mode="json")
    data["master_key"] = instance.settings.master_key.get_secret_value()  # type: ignore[union-attr]
    return json.dumps(data)


def _prepare(instance: Instance, venue: str, desks: list[str]) -> str:
    """A single-entry pass valid now; returns its QR text."""
    context = instance_context(instance)
    official = make_account(instance, "official")
    now = dt.datetime.now(VIETNAM)
    with instance.db.transaction() as session:
        venues.add(session, instance.ca.clock, venue, "UBND Phường Sài Gòn", desks=desks)
        host = service.host_of(session, official.username)
        created = service.create(session, context, host, InvitationInput(
            guest_name="Võ Thị Sáu", venue=venue, starts_at=now, ends_at=now + dt.timedelta(hours=1),
        ))  # fmt: skip
    return created.payload  # type: ignore[return-value]


def _scan(instance_db, context, payload: str, desk_code: str) -> str:
    with instance_db.transaction() as session:
        desk = checkin.desk_for(session, desk_code, None)
        decision = checkin.check_in(session, context, payload, desk, f"desk:{desk_code}")
    return "admit" if decision.admitted else decision.reason.value  # type: ignore[union-attr]


def _desk_process(settings_json: str, payload: str, desk_code: str, ready, go, results) -> None:
    from ca.runtime import CaRuntime
    from core.settings import Settings
    from tests.conftest import Instance

    try:
        runtime = CaRuntime.from_settings(Settings.model_validate(json.loads(settings_json)))
        instance = Instance(runtime.settings, runtime)
        context = instance_context(instance)
        with runtime.db.reading() as session:
            context.keys(session)  # warm: the scan itself is only the decision
        outcomes: list[str] = []
        local = threading.Barrier(THREADS)

        def one() -> None:
            local.wait()
            outcomes.append(_scan(runtime.db, context, payload, desk_code))

        threads = [threading.Thread(target=one) for _ in range(THREADS)]
        ready.put(True)
        go.wait(120)
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        results.put(outcomes)
    except Exception as exc:  # the parent reports it
        ready.put(True)
        results.put(repr(exc))


@pytest.mark.postgres
def test_parallel_check_ins_of_one_single_entry_pass_admit_exactly_once_on_postgresql(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    instance = make_instance(tmp_path, new_database_url("postgresql", tmp_path, request))
    desks = [f"pg-gate-{n}" for n in range(PROCESSES)]
    payload = _prepare(instance, "UBND-SG", desks)
    spawn = multiprocessing.get_context("spawn")
    ready, results, go = spawn.Queue(), spawn.Queue(), spawn.Event()
    settings_json = _settings_json(instance)
    processes = [
        spawn.Process(target=_desk_process, args=(settings_json, payload, desk, ready, go, results))
        for desk in desks
    ]
    for process in processes:
        process.start()
    for _ in processes:
        ready.get(timeout=300)
    go.set()
    outcomes = [results.get(timeout=300) for _ in processes]
    for process in processes:
        process.join(timeout=60)
    failures = [o for o in outcomes if isinstance(o, str)]
    assert not failures, failures
    flat = [o for batch in outcomes for o in batch]
    assert len(flat) == PROCESSES * THREADS
    assert flat.count("admit") == 1, flat
    assert set(flat) - {"admit"} == {Reason.USED.value}
    with instance.db.reading() as session:
        invitation_id = service.search(session, venue="UBND-SG")[0][0].id
        assert len(repo.checkins_of(session, invitation_id)) == 1
    instance.db.dispose()


def test_parallel_check_ins_in_threads_admit_exactly_once_on_sqlite(tmp_path: Path) -> None:
    instance = make_instance(tmp_path, f"sqlite:///{tmp_path / 'kyso.db'}")
    desks = [f"lite-gate-{n}" for n in range(3)]
    payload = _prepare(instance, "UBND-Q1", desks)
    context = instance_context(instance)
    barrier = threading.Barrier(12)
    outcomes: list[str] = []

    def one(n: int) -> None:
        barrier.wait()
        outcomes.append(_scan(instance.db, context, payload, desks[n % 3]))

    threads = [threading.Thread(target=one, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("admit") == 1, outcomes
    assert set(outcomes) - {"admit"} == {Reason.USED.value}
    instance.db.dispose()
