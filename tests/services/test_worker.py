"""The background worker (services/worker.py) and its job locks (store/job_locks.py): jobs run when due,
decide from the database alone (a second run finds nothing to do), one runner at a time on SQLite and
PostgreSQL, and a runner killed with SIGKILL leaves no lock behind."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from ca import crl
from core.clock import FrozenClock
from identity import audit
from services import worker as worker_module
from services.root import Kyso
from services.worker import JOBS, Worker
from store import job_locks
from tests.conftest import Instance, make_instance
from tests.conftest import kyso as run_kyso
from tests.support.cluster import poll

JOB = {job.name: job for job in JOBS}


class Ticks:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def frozen(database_url: str, tmp_path: Path) -> Iterator[tuple[Instance, FrozenClock, Kyso]]:
    clock = FrozenClock(dt.datetime.now(dt.UTC))  # the real time: the hierarchy is valid now
    instance = make_instance(tmp_path, database_url, clock=clock)
    yield instance, clock, Kyso(instance.settings, clock, instance.runtime)
    instance.db.dispose()


def test_jobs_are_due_after_their_interval_and_each_once_per_interval(frozen) -> None:
    _, _, kyso = frozen
    ticks = Ticks()
    runner = Worker(kyso, monotonic=ticks)
    assert runner.run_due() == []  # nothing at start: the first round comes one interval later
    ticks.now += 5
    assert [r.job for r in runner.run_due()] == ["deliver"]
    assert runner.run_due() == []
    ticks.now += 300  # archive-renew runs a minute after start, then daily
    assert {r.job for r in runner.run_due()} == {
        "deliver",
        "housekeeping",
        "crl",
        "audit-seal",
        "archive-renew",
    }
    assert 0 < runner.seconds_to_next() <= 5


def test_crls_are_republished_at_half_life_once(frozen) -> None:
    _, clock, kyso = frozen
    with kyso.db.transaction() as session:
        first = crl.publish(session, kyso.ca, "citizen")
    runner = Worker(kyso)
    done = runner.run(JOB["crl"])
    assert done.outcome == "done" and "citizen" not in done.summary  # fresh: only the others had none
    assert runner.run(JOB["crl"]).outcome == "idle"  # every stored CRL is fresh now
    clock.advance(hours=13)  # past half of the 24 h validity
    again = runner.run(JOB["crl"])
    assert again.outcome == "done" and "citizen" in again.summary
    with kyso.db.reading() as session:
        assert crl.current(session, kyso.ca, "citizen").crl_number > first.crl_number
    assert runner.run(JOB["crl"]).outcome == "idle"


def test_the_audit_chain_is_sealed_when_its_oldest_unsealed_entry_is_old_enough(frozen) -> None:
    instance, clock, kyso = frozen
    kyso = Kyso(instance.settings.model_copy(update={"audit_seal_minutes": 10}), clock, instance.runtime)
    with kyso.db.transaction() as session:
        audit.append(session, clock=clock, actor="test", action="test.action", target=None)
    runner = Worker(kyso)
    assert runner.run(JOB["audit-seal"]).outcome == "idle"  # the entry is not 10 minutes old yet
    clock.advance(minutes=11)
    sealed = runner.run(JOB["audit-seal"])
    with kyso.db.reading() as session:
        head = audit.current_head(session)[0]
        assert [s.seq for s in audit.list_seals(session)] == [head] == [sealed.summary["seq"]]
    clock.advance(minutes=60)
    assert runner.run(JOB["audit-seal"]).outcome == "idle"  # nothing new since the seal
    off = Kyso(instance.settings.model_copy(update={"audit_seal_minutes": 0}), clock, instance.runtime)
    with kyso.db.transaction() as session:
        audit.append(session, clock=clock, actor="test", action="test.action", target=None)
    clock.advance(days=1)
    assert Worker(off).run(JOB["audit-seal"]).outcome == "idle"


def test_a_job_another_runner_holds_is_skipped_and_the_others_run(frozen) -> None:
    instance, _, kyso = frozen
    with job_locks.exclusive(kyso.db, "crl", instance.settings.data_dir) as mine:
        assert mine
        with job_locks.exclusive(kyso.db, "crl", instance.settings.data_dir) as again:
            assert not again  # not even the same process takes it twice
        assert Worker(kyso).run(JOB["crl"]).outcome == "busy"
        assert Worker(kyso).run(JOB["housekeeping"]).outcome in ("idle", "done")
    assert Worker(kyso).run(JOB["crl"]).outcome in ("idle", "done")


def test_a_failing_job_is_reported_and_the_worker_goes_on(frozen) -> None:
    _, _, kyso = frozen

    def broken(_: Kyso) -> object:
        raise RuntimeError("mail server on fire")

    failing = worker_module.Job("broken", 1.0, broken)
    ran = Worker(kyso, jobs=(failing, JOB["crl"])).run_all()
    assert [(r.job, r.outcome) for r in ran] == [("broken", "failed"), ("crl", "done")]


def test_a_runner_killed_with_sigkill_leaves_no_lock(frozen) -> None:
    instance, _, kyso = frozen
    holder = textwrap.dedent(f"""
        import sys, time
        from store.db import Database
        from store import job_locks
        from pathlib import Path
        with job_locks.exclusive(Database({instance.settings.resolved_database_url!r}), "crl",
                                 Path({str(instance.settings.data_dir)!r})) as mine:
            print("held" if mine else "not held", flush=True)
            time.sleep(600)
    """)
    process = subprocess.Popen(
        [sys.executable, "-c", holder], stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[2]
    )
    try:
        assert process.stdout is not None and process.stdout.readline().strip() == "held"
        assert Worker(kyso).run(JOB["crl"]).outcome == "busy"
        os.kill(process.pid, signal.SIGKILL)
        process.wait(30)

        def free() -> bool:
            with job_locks.exclusive(kyso.db, "crl", instance.settings.data_dir) as mine:
                return mine

        poll(free, 30, "the lock outlived its killed holder")  # PostgreSQL ends the session at once
        assert Worker(kyso).run(JOB["crl"]).outcome in ("idle", "done")
    finally:
        process.kill()
        process.wait()


def test_kyso_worker_once_runs_every_job_and_says_how_it_went(instance: Instance) -> None:
    result = run_kyso(instance, "worker", "--once", "--json")
    assert result.returncode == 0, result.stderr
    ran = {r["job"]: r["outcome"] for r in json.loads(result.stdout)}
    assert set(ran) == {"deliver", "housekeeping", "crl", "audit-seal", "archive-renew"}
    assert ran["crl"] == "done" and set(ran.values()) <= {"done", "idle"}
    again = json.loads(run_kyso(instance, "worker", "--once", "--json").stdout)
    assert {r["job"]: r["outcome"] for r in again}["crl"] == "idle"
