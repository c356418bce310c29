"""Clocks: the system clock in production, a settable one in tests.

Domain logic never reads the wall clock; it is handed ``now`` by whoever owns the clock.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Anything that can tell the current UTC time."""

    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class SystemClock:
    """The wall clock."""

    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        return datetime.now(UTC)


class ManualClock:
    """A clock the tests move by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 1, tzinfo=UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """The time the clock was last set to."""
        with self._lock:
            return self._now

    def set(self, when: datetime) -> None:
        """Jump to ``when`` (must be timezone-aware)."""
        if when.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware datetime")
        with self._lock:
            self._now = when.astimezone(UTC)

    def advance(self, delta: timedelta) -> None:
        """Move forward by ``delta``."""
        with self._lock:
            self._now = self._now + delta


def as_utc(value: datetime) -> datetime:
    """Treat a naive datetime (SQLite hands these back) as UTC; convert aware ones to UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utc_iso(value: datetime) -> str:
    """A stable ISO-8601 UTC rendering with microseconds and a ``Z``."""
    return as_utc(value).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
