"""services.chassis.clock.isoformat: the one way a moment goes on the wire, the same text whichever
way it is written (orjson for UTC and naive moments, the standard library for the rest)."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from services.chassis.clock import aware, isoformat

OFFSETS = st.integers(min_value=-23 * 60, max_value=23 * 60).map(
    lambda minutes: dt.timezone(dt.timedelta(minutes=minutes))
)
MOMENTS = st.datetimes(min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30))


@given(MOMENTS)
def test_a_naive_moment_is_written_as_utc(moment: dt.datetime) -> None:
    assert isoformat(moment) == moment.replace(tzinfo=dt.UTC).isoformat()


@given(MOMENTS)
def test_a_utc_moment_is_written_as_the_standard_library_writes_it(moment: dt.datetime) -> None:
    utc = moment.replace(tzinfo=dt.UTC)
    assert isoformat(utc) == utc.isoformat()
    assert isoformat(moment.replace(tzinfo=dt.UTC)) == utc.isoformat()


@given(MOMENTS, OFFSETS)
def test_a_moment_at_another_offset_is_written_in_utc(moment: dt.datetime, offset: dt.timezone) -> None:
    there = moment.replace(tzinfo=offset)
    text = isoformat(there)
    assert text == aware(there).isoformat()
    assert text is not None and text.endswith("+00:00")
    assert dt.datetime.fromisoformat(text) == there


def test_the_edges_of_the_calendar_and_of_a_second() -> None:
    assert isoformat(None) is None
    assert isoformat(dt.datetime(1, 1, 1, tzinfo=dt.UTC)) == "0001-01-01T00:00:00+00:00"
    assert isoformat(dt.datetime(9999, 12, 31, 23, 59, 59, 999999)) == "9999-12-31T23:59:59.999999+00:00"
    assert isoformat(dt.datetime(2026, 1, 1, 0, 0, 0, 1, tzinfo=dt.UTC)) == "2026-01-01T00:00:00.000001+00:00"
    assert isoformat(dt.datetime(2026, 1, 1, 0, 0, 0, 100000)) == "2026-01-01T00:00:00.100000+00:00"
    assert isoformat(dt.datetime(2026, 1, 1, 0, 0, 0)) == "2026-01-01T00:00:00+00:00"
