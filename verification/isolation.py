"""Bounded verification: the validation runs in a forked child with a memory ceiling and a deadline, so a
hostile PDF (a decompression bomb, a pathological object graph) costs at most that, never the service.

``verify_bounded`` forks a child per document (for a one-off verifier: a trust list given by the caller);
the service's own verifier keeps pre-forked workers instead (``verification.pool``). Both take a turn from
the same ``shared_slots``."""

from __future__ import annotations

import multiprocessing
import os
import pickle
import resource
import threading
from multiprocessing.connection import Connection

from core.errors import Kind, ServiceError, malformed
from verification.pool import BUSY, TOO_BIG, check_here, outcome_of
from verification.report import VerificationReport
from verification.validate import Verifier, check_input

# Each child may take ``memory_bytes`` for ``timeout_seconds``; with no bound on how many run at once, a
# burst of hostile uploads multiplies that (one client's verify limit allows a burst of 30, and an 8 MB PDF
# whose /ByteRange holds 2,000,000 numbers keeps a child at ~1.3 GB for ~20 s). So at most one child per
# CPU runs in a process; the others wait their turn within the document's own deadline, then get 503.
_slots = threading.BoundedSemaphore(max(1, os.cpu_count() or 1))


def _child(verifier: Verifier, data: bytes, memory_bytes: int, sender: Connection) -> None:
    try:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
        outcome = check_here(verifier, data)
    except MemoryError:
        outcome = ("error", Kind.MALFORMED.value, TOO_BIG)
    try:
        sender.send_bytes(pickle.dumps(outcome))
    finally:
        sender.close()


def shared_slots() -> threading.BoundedSemaphore:
    """The turns every bounded check of this process takes, a child per document or a pooled worker."""
    return _slots


def verify_bounded(verifier: Verifier, data: bytes) -> VerificationReport:
    """``verifier.verify(data)`` in a child process; ServiceError(MALFORMED) when it runs out of time or
    memory, ServiceError(UNAVAILABLE) when no turn comes within the deadline. Blocking: call it from a
    worker thread in async code."""
    limits = verifier.limits
    check_input(data, limits)  # cheap refusals need no child
    slots = _slots  # waiting for a turn is not held against the document: its child gets the whole deadline
    if not slots.acquire(timeout=limits.timeout_seconds):
        raise ServiceError(Kind.UNAVAILABLE, BUSY)
    try:
        return _verify_in_child(verifier, data)
    finally:
        slots.release()


def _verify_in_child(verifier: Verifier, data: bytes) -> VerificationReport:
    limits = verifier.limits
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(verifier, data, limits.memory_bytes, sender), daemon=True)
    child.start()
    sender.close()
    try:
        if not receiver.poll(limits.timeout_seconds):
            raise malformed(
                f"checking this PDF took longer than {limits.timeout_seconds:g} s; refused as too complex"
            )
        try:
            outcome = pickle.loads(receiver.recv_bytes())  # noqa: S301 - our own forked child wrote it
        except (EOFError, OSError):
            raise malformed("the PDF could not be checked: the validator ran out of memory") from None
    finally:
        receiver.close()
        if child.is_alive():
            child.kill()
        child.join(5)
    return outcome_of(outcome)
