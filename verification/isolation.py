"""Bounded verification: the validation runs in a forked child with a memory ceiling and a deadline, so a
hostile PDF (a decompression bomb, a pathological object graph) costs at most that, never the service."""

from __future__ import annotations

import asyncio
import multiprocessing
import pickle
import resource
from multiprocessing.connection import Connection

from core.errors import Kind, ServiceError, malformed
from verification.report import VerificationReport
from verification.validate import Verifier, check_input


def _child(verifier: Verifier, data: bytes, memory_bytes: int, sender: Connection) -> None:
    try:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
        outcome: object = asyncio.run(verifier.verify(data))
    except ServiceError as exc:
        outcome = exc
    except MemoryError:
        outcome = malformed("the PDF needs more memory to check than this service allows")
    except BaseException as exc:
        outcome = malformed(f"the PDF cannot be checked: {type(exc).__name__}")
    if isinstance(outcome, ServiceError):  # exceptions with keyword-only fields do not unpickle
        outcome = ("error", outcome.kind.value, outcome.message)
    try:
        sender.send_bytes(pickle.dumps(outcome))
    finally:
        sender.close()


def verify_bounded(verifier: Verifier, data: bytes) -> VerificationReport:
    """``verifier.verify(data)`` in a child process; ServiceError(MALFORMED) when it runs out of time or
    memory. Blocking: call it from a worker thread in async code."""
    limits = verifier.limits
    check_input(data, limits)  # cheap refusals need no child
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
    if isinstance(outcome, tuple) and outcome[:1] == ("error",):
        raise ServiceError(Kind(outcome[1]), outcome[2])
    if not isinstance(outcome, VerificationReport):
        raise ServiceError(Kind.INTERNAL, "the validator returned nothing")
    return outcome
