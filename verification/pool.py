"""A pool of pre-forked, bounded verification workers, so an upload does not pay for a fork.

Forking a fresh child per document (``verification.isolation``'s first design) costs more than checking
a typical document: the fork of a service process of a few hundred megabytes, the child's first touches
of copied pages, and caches (parsed anchors, revocation data already checked, pyHanko's own) that start
cold in every child and die with it. Each worker here is forked once, sets its memory ceiling once
(``RLIMIT_AS``), and then checks documents one after another, each within the document's deadline:

- a document that overruns the deadline, or a worker that dies (out of memory, a crash), costs only that
  worker: it is killed and the next document gets a fresh one;
- a worker is retired after ``recycle_after`` documents, so whatever a long run of hostile input may
  have left behind in its memory does not stay;
- at most one document per CPU is checked at once per service process (the slots it is given); the
  others wait for a worker within their own deadline, then get 503 (``UNAVAILABLE``), as before.

The isolation is the same as a child per document: the worker is a separate process with its own
ceiling, it holds nothing of the service's but what was in memory when it was forked, and what it
sends back is a pickled report or a refusal.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import pickle
import resource
import threading
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from core.errors import Kind, ServiceError, malformed
from verification.report import VerificationReport, detached
from verification.validate import Verifier

log = logging.getLogger(__name__)
TOO_BIG = "the PDF needs more memory to check than this service allows"
BUSY = "the verifier is busy with other documents; try again shortly"
RECYCLE_AFTER = 200  # documents a worker checks before it is replaced
_FAILED = "failed"  # the worker stopped on a problem of its own: it exits after answering


def check_here(verifier: Verifier, data: bytes) -> object:
    """The report on ``data`` (built whole, under this process's limits), or a refusal as a tuple
    (exceptions with keyword-only fields do not unpickle): what a bounded process sends back. A refusal
    marked ``_FAILED`` is the validator's own failure, after which the process should not go on."""
    try:
        report = detached(asyncio.run(verifier.verify(data)))
        report.as_json()  # the report is built here too, under this process's limits, never in the service
        return report
    except ServiceError as exc:
        return ("error", exc.kind.value, exc.message)
    except MemoryError:
        return (
            _FAILED,
            "error",
            Kind.MALFORMED.value,
            "the PDF needs more memory to check than this service allows",
        )
    except BaseException:
        log.exception("the validator failed")  # a defect: the log says where
        return (
            _FAILED, "error", Kind.MALFORMED.value,
            "the PDF cannot be checked: the validator stopped on a problem it did not expect",
        )  # fmt: skip


def outcome_of(outcome: object) -> VerificationReport:
    """The report a bounded process sent, or the ServiceError it stands for."""
    if isinstance(outcome, tuple) and outcome[:1] == (_FAILED,):
        outcome = outcome[1:]
    if isinstance(outcome, tuple) and outcome[:1] == ("error",):
        raise ServiceError(Kind(outcome[1]), outcome[2])
    if not isinstance(outcome, VerificationReport):
        raise ServiceError(Kind.INTERNAL, "the validator returned nothing")
    return outcome


def _serve(verifier: Verifier, memory_bytes: int, connection: Connection) -> None:
    """A worker's life: documents in, outcomes out, until the service closes its end or a check fails."""
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    while True:
        try:
            data = connection.recv_bytes()
        except (EOFError, OSError):
            return  # the service is gone or retired this worker
        outcome = check_here(verifier, data)
        try:
            connection.send_bytes(pickle.dumps(outcome))
        except (OSError, MemoryError):
            return
        if isinstance(outcome, tuple) and outcome[:1] == (_FAILED,):
            return  # its memory may hold what made it fail: the next document gets a fresh worker


class _Worker:
    __slots__ = ("connection", "process", "served")

    def __init__(self, process: BaseProcess, connection: Connection) -> None:
        self.process = process
        self.connection = connection
        self.served = 0

    def close(self) -> None:
        self.connection.close()
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)


class VerifierPool:
    """Pre-forked workers for one ``Verifier`` (one trust list), forked on first need."""

    def __init__(
        self,
        verifier: Verifier,
        slots: threading.BoundedSemaphore | None = None,
        recycle_after: int = RECYCLE_AFTER,
    ) -> None:
        self.verifier = verifier
        self.recycle_after = recycle_after
        # the turns to take: the process's (isolation.shared_slots), so a pool and one-off children
        # together check at most one document per CPU
        self._slots = slots or threading.BoundedSemaphore(max(1, os.cpu_count() or 1))
        self._idle: list[_Worker] = []
        self._lock = threading.Lock()
        self._closed = False

    def check(self, data: bytes) -> VerificationReport:
        """The report on ``data`` from a worker; MALFORMED when it runs out of time or memory,
        UNAVAILABLE when no worker is free within the deadline. Blocking."""
        limits = self.verifier.limits
        if not self._slots.acquire(timeout=limits.timeout_seconds):
            raise ServiceError(
                Kind.UNAVAILABLE, "the verifier is busy with other documents; try again shortly"
            )
        try:
            return self._check(data)
        finally:
            self._slots.release()

    def _check(self, data: bytes) -> VerificationReport:
        limits = self.verifier.limits
        worker = self._take()
        keep = False
        try:
            worker.connection.send_bytes(data)
            if not worker.connection.poll(limits.timeout_seconds):
                raise malformed(
                    f"checking this PDF took longer than {limits.timeout_seconds:g} s; refused as too complex"
                )
            try:
                outcome = pickle.loads(worker.connection.recv_bytes())  # noqa: S301 - our own worker wrote it
            except (EOFError, OSError):
                raise malformed("the PDF could not be checked: the validator ran out of memory") from None
            worker.served += 1
            failed = isinstance(outcome, tuple) and outcome[:1] == (_FAILED,)
            keep = not failed and worker.served < self.recycle_after
            return outcome_of(outcome)
        finally:
            self._give_back(worker, keep)

    def _take(self) -> _Worker:
        with self._lock:
            while self._idle:
                worker = self._idle.pop()
                if worker.process.is_alive():
                    return worker
                worker.close()
        return self._fork()

    def _give_back(self, worker: _Worker, keep: bool) -> None:
        with self._lock:
            if keep and not self._closed and worker.process.is_alive():
                self._idle.append(worker)
                return
        worker.close()

    def _fork(self) -> _Worker:
        context = multiprocessing.get_context("fork")
        ours, theirs = context.Pipe(duplex=True)
        process = context.Process(
            target=_serve, args=(self.verifier, self.verifier.limits.memory_bytes, theirs), daemon=True
        )
        process.start()
        theirs.close()
        return _Worker(process, ours)

    def idle_pids(self) -> list[int]:
        """The process ids of the workers waiting for a document (for operators and tests)."""
        with self._lock:
            return [w.process.pid for w in self._idle if w.process.pid is not None]

    def close(self) -> None:
        """Retire every idle worker (those checking a document now retire when they finish)."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.close()
