"""Tests of identity/.

``append_in_child`` lives here rather than in a test module: a process started with ``spawn`` imports
the module that defines its target, and this package imports only identity/ and store/ (under a
second), where the test modules pull in the CA fixtures (seconds per child).
"""

from __future__ import annotations

import multiprocessing
import threading

from core.clock import SystemClock
from identity import audit
from store.db import Database


def append_in_child(
    url: str, worker: int, count: int, barrier: threading.Barrier, queue: multiprocessing.Queue
) -> None:
    """Append ``count`` entries, each in its own transaction; put the seqs (or the error) on ``queue``."""
    database = Database(url)
    try:
        barrier.wait(timeout=120)  # all start together: the first appends race to create the head
        seqs = []
        for i in range(count):
            with database.transaction() as session:
                record = audit.append(
                    session,
                    clock=SystemClock(),
                    actor=f"worker-{worker}",
                    action="test.append",
                    target=str(i),
                )
            seqs.append(record.seq)
        queue.put(seqs)
    except Exception as exc:  # the parent reports it
        queue.put(repr(exc))
    finally:
        database.dispose()
