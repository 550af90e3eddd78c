"""The pre-forked verification workers (``verification.pool``): a worker checks document after document,
a document over its deadline or a worker that dies costs only that worker, workers retire after a number
of documents, and the service's verifications go through them with the same verdicts."""

from __future__ import annotations

import asyncio
import os
import time

import pytest

from core.errors import Kind, ServiceError, malformed
from verification.pool import VerifierPool
from verification.validate import Limits

PDF = b"%PDF-1.7\n%%EOF\n"


class Probe:
    """Stands for the real verifier: answers with the worker's pid, or misbehaves when told to."""

    def __init__(self, timeout: float = 20.0) -> None:
        self.limits = Limits(timeout_seconds=timeout)

    async def verify(self, data: bytes) -> None:
        if data == b"hang":
            await asyncio.sleep(60)
        if data == b"die":
            os._exit(1)  # as the kernel ends a worker over its memory ceiling
        if data == b"bug":
            raise RuntimeError("a defect in the validator")
        raise malformed(f"pid {os.getpid()}")


def pid_of(pool: VerifierPool, data: bytes = PDF) -> int:
    with pytest.raises(ServiceError) as answer:
        pool.check(data)
    assert answer.value.message.startswith("pid "), answer.value.message
    return int(answer.value.message.split()[1])


@pytest.fixture
def pool():
    kept = VerifierPool(Probe(timeout=1.0))  # type: ignore[arg-type]
    yield kept
    kept.close()


def test_one_worker_checks_document_after_document(pool: VerifierPool) -> None:
    first = pid_of(pool)
    assert first != os.getpid()  # not in the service's process
    assert pid_of(pool) == first == pool.idle_pids()[0]


def test_a_document_over_its_deadline_costs_only_its_worker(pool: VerifierPool) -> None:
    first = pid_of(pool)
    started = time.monotonic()
    with pytest.raises(ServiceError) as refused:
        pool.check(b"hang")
    assert refused.value.kind is Kind.MALFORMED and "took longer than 1 s" in refused.value.message
    assert time.monotonic() - started < 30
    assert pool.idle_pids() == []  # killed, not kept
    assert pid_of(pool) != first  # the next document gets a fresh worker


def test_a_worker_that_dies_is_replaced(pool: VerifierPool) -> None:
    first = pid_of(pool)
    with pytest.raises(ServiceError, match="ran out of memory") as refused:
        pool.check(b"die")
    assert refused.value.kind is Kind.MALFORMED
    assert pid_of(pool) != first


def test_a_validator_defect_is_a_sentence_and_retires_the_worker(pool: VerifierPool) -> None:
    first = pid_of(pool)
    with pytest.raises(ServiceError, match="stopped on a problem it did not expect"):
        pool.check(b"bug")
    assert pid_of(pool) != first


def test_workers_retire_after_their_share_of_documents() -> None:
    pool = VerifierPool(Probe(), recycle_after=2)  # type: ignore[arg-type]
    try:
        first = pid_of(pool)
        assert pid_of(pool) == first
        assert pid_of(pool) != first
    finally:
        pool.close()


def test_closing_retires_the_idle_workers() -> None:
    pool = VerifierPool(Probe())  # type: ignore[arg-type]
    worker = pid_of(pool)
    pool.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(worker, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    pytest.fail(f"worker {worker} still runs after close()")
