"""Time, as something a store or a rule is given rather than reads for itself.

Stores and domain code take a :class:`Clock` and ask it for ``now()``; production
wires :class:`SystemClock`, tests wire a :class:`ManualClock` and move it by hand, so
anything that depends on elapsed time (retention periods, SLA due times, token
expiry, throttles) is tested without sleeping. Every moment is an aware UTC
datetime; :func:`isoformat` is the one way a moment goes on the wire.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol


class Clock(Protocol):
    """Tells the time."""

    def now(self) -> dt.datetime:
        """The current moment, an aware datetime in UTC."""
        ...


class SystemClock:
    """The machine's clock."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


class ManualClock:
    """A clock that moves only when told to (for tests); starts at ``start`` or the real now."""

    def __init__(self, start: dt.datetime | None = None) -> None:
        self._now = aware(start) if start is not None else dt.datetime.now(dt.UTC)

    def now(self) -> dt.datetime:
        return self._now

    def set(self, moment: dt.datetime) -> None:
        self._now = aware(moment)

    def advance(self, seconds: float = 0.0, **delta: float) -> dt.datetime:
        """Move forward by ``seconds`` (and/or ``timedelta`` keywords); returns the new now."""
        self._now += dt.timedelta(seconds=seconds, **delta)
        return self._now


SYSTEM_CLOCK = SystemClock()


def aware(value: dt.datetime) -> dt.datetime:
    """``value`` as an aware UTC datetime (SQLite hands back naive UTC datetimes)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def isoformat(value: dt.datetime | None) -> str | None:
    """ISO 8601 with a UTC offset, or None."""
    if value is None:
        return None
    if value.tzinfo is dt.UTC:  # what PostgreSQL hands back in a UTC session: nothing to convert
        return value.isoformat()
    return aware(value).isoformat()
