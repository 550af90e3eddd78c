"""Frozen instants for tests, derived from the real clock, so that no test depends on today's date.

The shared CA hierarchy (tests.conftest), the throwaway seals (tests.support.invitations) and their
certificates are issued with the real clock. A test that freezes its clock therefore freezes it a little
*after* now — well inside every certificate's validity — never on a date written into the test.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import time

from core.clock import VIETNAM

MONDAY, TUESDAY, WEDNESDAY, THURSDAY, FRIDAY, SATURDAY, SUNDAY = range(7)
LEAD = dt.timedelta(days=1)


def upcoming(
    hour: int,
    minute: int = 0,
    *,
    weekday: int | None = None,
    after: dt.datetime | None = None,
    lead: dt.timedelta = LEAD,
) -> dt.datetime:
    """The first ``hour:minute`` in Hồ Chí Minh City (on ``weekday``, 0 = Monday, if given) at least
    ``lead`` after ``after`` (default: now), as an aware datetime in Vietnam time.

    With the default lead it lies one to eight days ahead: later than anything the session issued with the
    real clock, whatever the hour of the run (also around midnight in Vietnam, UTC+7), and far inside the
    shortest certificate validity the tests rely on.
    """
    if not (0 <= hour < 24 and 0 <= minute < 60):
        raise ValueError(f"not a time of day: {hour}:{minute}")
    if weekday is not None and not 0 <= weekday < 7:
        raise ValueError(f"not a weekday: {weekday}")
    earliest = (after or dt.datetime.now(dt.UTC)).astimezone(VIETNAM) + lead
    candidate = dt.datetime.combine(earliest.date(), dt.time(hour, minute), tzinfo=VIETNAM)
    while candidate < earliest or (weekday is not None and candidate.weekday() != weekday):
        candidate += dt.timedelta(days=1)  # Vietnam keeps +07:00 all year: a day is always 24 hours
    return candidate


# Under libfaketime with a date offset (`make test-dates`) a *timed* wait on a lock or an event
# (``Thread.join(timeout)``, ``Event.wait(t)``, ``Semaphore.acquire(timeout=t)``) never times out: the
# deadline is computed from the faked monotonic clock and waited for by the kernel on the real one. It
# still returns when the thing it waits for happens. ``time.sleep`` works, so a test that expects a wait
# to run out sleeps instead (``join_for``) or, where the product's own timed wait is what it tests, skips.
UNDER_FAKETIME = "faketime" in os.environ.get("LD_PRELOAD", "") or "FAKETIME" in os.environ


def join_for(thread: threading.Thread, seconds: float) -> None:
    """``thread.join(seconds)`` that also runs out under libfaketime: sleep in short steps."""
    deadline = time.monotonic() + seconds
    while thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
