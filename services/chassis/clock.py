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

import orjson


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
    """ISO 8601 with a UTC offset, or None: the same text as ``aware(value).isoformat()``
    (``+00:00``, microseconds only when there are any).

    A UTC moment (what PostgreSQL hands back in a UTC session) or a naive one (SQLite's, UTC) is
    written by orjson, in C: 0.6 µs against 1.5 for ``isoformat()`` on an aware one, 0.2 against
    2.8 for a naive one made aware first. A page of 100 tickets writes about 700 of them.
    ``tests/unit/test_chassis_clock.py`` holds both ways to the same text over any moment."""
    if value is None:
        return None
    if value.tzinfo is None or value.tzinfo is dt.UTC:
        return orjson.dumps(value, option=orjson.OPT_NAIVE_UTC)[1:-1].decode()
    return aware(value).isoformat()
