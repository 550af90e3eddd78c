"""Time comes from here so tests can freeze it. Display times are Asia/Ho_Chi_Minh (+07:00)."""

from __future__ import annotations

import datetime as dt
from typing import Protocol

VIETNAM = dt.timezone(dt.timedelta(hours=7), "ICT")


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """The current instant, timezone-aware, in UTC."""
        ...


class SystemClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


class FrozenClock:
    """A clock that only moves when told to."""

    def __init__(self, at: dt.datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FrozenClock needs a timezone-aware datetime")
        self._at = at.astimezone(dt.UTC)

    def now(self) -> dt.datetime:
        return self._at

    def advance(self, **delta: float) -> None:
        self._at += dt.timedelta(**delta)

    def set(self, at: dt.datetime) -> None:
        self._at = at.astimezone(dt.UTC)


def as_utc(value: dt.datetime) -> dt.datetime:
    """Databases such as SQLite hand back naive datetimes; Kyso stores UTC, so naive means UTC."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def display(value: dt.datetime) -> str:
    """ISO 8601 in Vietnam time, for what people read."""
    return as_utc(value).astimezone(VIETNAM).isoformat(timespec="seconds")
