"""The helper that derives the tests' frozen instants from the real clock (tests.support.clock)."""

from __future__ import annotations

import datetime as dt

import pytest

from core.clock import VIETNAM
from tests.support.clock import SUNDAY, TUESDAY, upcoming

UTC = dt.UTC


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        # a Monday 08:00 in Vietnam: tomorrow 08:30 is just over a day ahead
        (dt.datetime(2026, 11, 23, 1, 0, tzinfo=UTC), dt.datetime(2026, 11, 24, 8, 30, tzinfo=VIETNAM)),
        # a Sunday 23:59 in Vietnam (16:59 UTC): still Sunday in UTC, but Tuesday is tomorrow-but-one
        (dt.datetime(2026, 11, 29, 16, 59, tzinfo=UTC), dt.datetime(2026, 12, 1, 8, 30, tzinfo=VIETNAM)),
        # a Monday 00:30 in Vietnam (Sunday 17:30 UTC): Tuesday 08:30 is 32 hours ahead
        (dt.datetime(2026, 11, 29, 17, 30, tzinfo=UTC), dt.datetime(2026, 12, 1, 8, 30, tzinfo=VIETNAM)),
        # a Monday 08:31 in Vietnam: tomorrow 08:30 is a minute short of a day, so the Tuesday after
        (dt.datetime(2026, 11, 30, 1, 31, tzinfo=UTC), dt.datetime(2026, 12, 8, 8, 30, tzinfo=VIETNAM)),
        # New Year's Eve in Vietnam: across the month and the year
        (dt.datetime(2026, 12, 31, 16, 0, tzinfo=UTC), dt.datetime(2027, 1, 5, 8, 30, tzinfo=VIETNAM)),
    ],
)
def test_the_next_tuesday_morning_in_vietnam(now: dt.datetime, expected: dt.datetime) -> None:
    found = upcoming(8, 30, weekday=TUESDAY, after=now)
    assert found == expected and found.utcoffset() == dt.timedelta(hours=7)
    assert dt.timedelta(days=1) <= found - now < dt.timedelta(days=8)


def test_without_a_weekday_it_is_the_first_such_time_a_day_ahead() -> None:
    late = dt.datetime(2026, 2, 28, 16, 30, tzinfo=UTC)  # 23:30 on the last day of February in Vietnam
    assert upcoming(9, after=late) == dt.datetime(2026, 3, 2, 9, 0, tzinfo=VIETNAM)
    assert upcoming(23, 45, after=late) == dt.datetime(2026, 3, 1, 23, 45, tzinfo=VIETNAM)
    assert upcoming(0, 0, weekday=SUNDAY, after=late) == dt.datetime(2026, 3, 8, 0, 0, tzinfo=VIETNAM)


def test_by_default_it_is_ahead_of_the_real_clock() -> None:
    before = dt.datetime.now(UTC)
    found = upcoming(8, 30, weekday=TUESDAY)
    assert found.weekday() == TUESDAY and (found.hour, found.minute) == (8, 30)
    assert before + dt.timedelta(days=1) <= found <= dt.datetime.now(UTC) + dt.timedelta(days=8)


def test_nonsense_is_refused() -> None:
    for hour, minute, weekday in [(24, 0, None), (8, 60, None), (8, 0, 7), (-1, 0, None)]:
        with pytest.raises(ValueError):
            upcoming(hour, minute, weekday=weekday)
