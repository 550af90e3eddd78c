"""Bounded verification is bounded in number too (``verification.isolation``).

Each upload to ``POST /api/v1/verify`` is checked in a forked child with a memory ceiling (1.5 GB) and a
deadline (30 s), but nothing limited how many children ran at once: an 8 MB PDF whose signature's
/ByteRange holds 2,000,000 numbers kept a child at ~1.3 GB for ~20 s, and one client's rate limit allows a
burst of 30 such uploads — enough to exhaust a 24 GB machine. Now at most one child per CPU runs in a
process; the rest wait their turn and, when none comes within the deadline, are answered 503.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from pathlib import Path

import pytest

from core.errors import Kind, ServiceError, malformed
from tests.support.clock import UNDER_FAKETIME
from verification import isolation
from verification.validate import Limits

PDF = b"%PDF-1.7\n%%EOF\n"


class SlowVerifier:
    """Stands for the real one: notes when its child runs, takes a while, then refuses the document."""

    def __init__(self, log: Path, seconds: float = 0.4, timeout: float = 20.0) -> None:
        self.log = log
        self.seconds = seconds
        self.limits = Limits(timeout_seconds=timeout)

    async def verify(self, data: bytes) -> None:
        started = time.monotonic()
        await asyncio.sleep(self.seconds)
        with self.log.open("a") as out:
            out.write(f"{started} {time.monotonic()}\n")
        raise malformed("done")


def test_no_more_children_run_at_once_than_there_are_slots(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(isolation, "_slots", threading.BoundedSemaphore(1), raising=False)
    verifier = SlowVerifier(tmp_path / "runs.log")
    outcomes: list[str] = []

    def one() -> None:
        try:
            isolation.verify_bounded(verifier, PDF)  # type: ignore[arg-type]
        except ServiceError as exc:
            outcomes.append(exc.message)

    threads = [threading.Thread(target=one) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert outcomes == ["done"] * 3, "every document still gets its verdict"
    runs = sorted(tuple(map(float, line.split())) for line in verifier.log.read_text().splitlines())
    assert len(runs) == 3
    for (_, first_end), (second_start, _) in itertools.pairwise(runs):
        assert second_start >= first_end, f"two validator children ran at once: {runs}"  # before: all 3


@pytest.mark.skipif(UNDER_FAKETIME, reason="libfaketime: a timed Semaphore.acquire never runs out")
def test_a_document_that_gets_no_turn_in_time_is_answered_busy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    slots = threading.BoundedSemaphore(1)
    monkeypatch.setattr(isolation, "_slots", slots, raising=False)
    assert slots.acquire(timeout=1)  # another document holds the only turn
    try:
        with pytest.raises(ServiceError) as refused:
            isolation.verify_bounded(SlowVerifier(tmp_path / "runs.log", timeout=0.3), PDF)  # type: ignore[arg-type]
    finally:
        slots.release()
    assert refused.value.kind is Kind.UNAVAILABLE  # 503, not a verdict on the document
    assert not (tmp_path / "runs.log").exists(), "no child was started"
