"""The background worker: the jobs nobody asks for, run on a schedule.

| job | every | what |
|---|---|---|
| ``deliver`` | 5 s | due invitation emails (with their sealed letter), arrival notices, webhooks |
| ``housekeeping`` | 5 min | end-of-day check-out of guests still inside; anonymising old guest data |
| ``crl`` | 1 min | a new CRL for each authority whose stored one has passed half its validity |
| ``audit-seal`` | 1 min | seal the chain's head once its oldest unsealed entry is old enough (1) |
| ``archive-renew`` | 1 day | a new document timestamp on archived B-LTA PDFs whose last one is due (2) |

(1) ``KYSO_AUDIT_SEAL_MINUTES``, 60 by default; 0 turns periodic sealing off.
(2) Only with ``KYSO_ARCHIVE_DIR`` set (``services.ltv.renew_archive``): renewed 90 days before the
    timestamp's certificate expires, or at once if its digest or key is weak; each file is replaced
    atomically, so a killed run leaves every file whole and the next one finishes.

Where it runs (``KYSO_WORKER``): ``in-process`` (the default) inside every ``kyso serve`` worker process,
which is all the embedded SQLite default needs; ``external`` in production, where ``kyso serve`` leaves it
to ``kyso worker`` processes (one or more, on any host). Every runner takes a job's lock
(``store.job_locks``: a PostgreSQL advisory lock, or a file lock beside SQLite) before running it, so a job
runs in one place at a time; a runner that finds it taken skips that round. No job library: five jobs, the
database Kyso already has, and locks that the server releases when a runner dies, even by ``kill -9``.

Every job is idempotent and decides from the database alone, not from what a runner remembers: an
outbox row is claimed before it is sent (``invitations.notify``), a guest is checked out once, a CRL is
republished only while the stored one is stale, the chain is sealed only if it grew since the last
seal. So a runner killed mid-job leaves nothing half-done that the next round does not finish.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.errors import Kind, ServiceError
from services import audit_log, certificates, checkins, invitations, ltv
from services.audit import Actor
from store import job_locks

if TYPE_CHECKING:
    from services.root import Kyso

log = logging.getLogger("kyso.worker")
IDLE_SECONDS = 1.0  # the longest a runner sleeps between looking for due jobs


@dataclass(frozen=True)
class Job:
    name: str
    every: float  # seconds between two runs by one runner
    run: Callable[[Kyso], object]  # a summary for the log, or None when there was nothing to do
    first: float | None = None  # seconds before a runner's first run (default: one interval)


def _deliver(kyso: Kyso) -> object:
    delivery = invitations.deliver(kyso, Actor.SYSTEM)
    return delivery if (delivery.sent or delivery.retried or delivery.failed) else None


def _housekeeping(kyso: Kyso) -> object:
    checked_out = checkins.auto_checkout(kyso, Actor.SYSTEM)
    anonymised = invitations.anonymise(kyso, Actor.SYSTEM)
    return {"checked_out": checked_out, "anonymised": anonymised} if checked_out or anonymised else None


def _crl(kyso: Kyso) -> object:
    return certificates.republish_stale_crls(kyso) or None


def _audit_seal(kyso: Kyso) -> object:
    minutes = kyso.settings.audit_seal_minutes
    if minutes == 0:
        return None
    sealed = audit_log.seal_if_due(kyso, dt.timedelta(minutes=minutes))
    return {"seq": sealed.seq} if sealed is not None else None


def _archive_renew(kyso: Kyso) -> object:
    directory = kyso.settings.archive_dir
    if directory is None:
        return None
    renewed = [f.path for f in ltv.renew_archive(kyso, Actor.SYSTEM, directory) if f.renewed]
    return {"renewed": renewed} if renewed else None


JOBS = (
    Job("deliver", 5.0, _deliver),
    Job("housekeeping", 300.0, _housekeeping),
    Job("crl", 60.0, _crl),
    Job("audit-seal", 60.0, _audit_seal),
    Job("archive-renew", 86_400.0, _archive_renew, first=60.0),  # daily, and soon after a restart
)


@dataclass(frozen=True)
class Ran:
    job: str
    outcome: str  # done | idle (nothing to do) | busy (another runner has it) | unavailable | failed
    summary: object = None


class Worker:
    """Runs each job when it is due, under its lock; a failing job is logged and tried again next time."""

    def __init__(
        self, kyso: Kyso, jobs: tuple[Job, ...] = JOBS, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.kyso = kyso
        self.jobs = jobs
        self._monotonic = monotonic
        start = monotonic()
        self._due = {job.name: start + (job.every if job.first is None else job.first) for job in jobs}
        self._unavailable: dict[str, str] = {}

    def run_due(self) -> list[Ran]:
        """Run the jobs that are due now (blocking)."""
        ran = []
        for job in self.jobs:
            if self._monotonic() >= self._due[job.name]:
                ran.append(self.run(job))
                self._due[job.name] = self._monotonic() + job.every
        return ran

    def run_all(self) -> list[Ran]:
        """Every job once, due or not (``kyso worker --once``)."""
        return [self.run(job) for job in self.jobs]

    def run(self, job: Job) -> Ran:
        try:
            with job_locks.exclusive(self.kyso.db, job.name, self.kyso.settings.data_dir) as mine:
                if not mine:
                    return Ran(job.name, "busy")
                summary = job.run(self.kyso)
        except ServiceError as error:  # UNAVAILABLE: no seal or TSA key yet (`kyso init`), database down
            if self._unavailable.get(job.name) != error.message:  # said once, not every round
                log.warning("job %s cannot run: %s", job.name, error.message)
            self._unavailable[job.name] = error.message
            return Ran(job.name, "unavailable" if error.kind is Kind.UNAVAILABLE else "failed", error.message)
        except Exception as error:  # keep working after a mail-server hiccup or a bug in one job
            log.exception("job %s failed", job.name)
            return Ran(job.name, "failed", repr(error))
        self._unavailable.pop(job.name, None)
        if summary is not None:
            log.info("job %s: %s", job.name, summary)
        return Ran(job.name, "done" if summary is not None else "idle", summary)

    def seconds_to_next(self) -> float:
        return max(0.0, min(self._due.values()) - self._monotonic())

    def run_forever(self, stop: threading.Event) -> None:
        """``kyso worker``: until ``stop`` is set."""
        while not stop.is_set():
            self.run_due()
            stop.wait(min(self.seconds_to_next(), IDLE_SECONDS))

    async def serve_forever(self) -> None:
        """Inside ``kyso serve`` (KYSO_WORKER=in-process): the jobs in a thread, the loop free."""
        while True:
            await asyncio.to_thread(self.run_due)
            await asyncio.sleep(min(self.seconds_to_next(), IDLE_SECONDS) or IDLE_SECONDS / 10)
