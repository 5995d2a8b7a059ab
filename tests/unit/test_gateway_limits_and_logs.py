"""Token buckets, log redaction, request ids and the filters that keep expected errors quiet."""

from __future__ import annotations

import logging
import sys
from typing import Any

import pytest

from gateway.limits import Buckets, Limit, RateLimits, TooManyRequests
from gateway.logs import Throttled, redact, request_id
from services.chassis.errors import DeadlineExceeded, NotFound, ValidationFailed
from services.chassis.rpc import ExpectedErrorFilter


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_allows_its_burst_then_one_per_refill() -> None:
    clock = Clock()
    buckets = Buckets(Limit(rate=2.0, burst=3.0), clock=clock)
    assert [buckets.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a") == pytest.approx(0.5)
    assert buckets.take("b") == 0.0, "keys have their own buckets"
    clock.now += 0.5
    assert buckets.wait("a") == 0.0
    assert buckets.take("a") == 0.0
    assert buckets.take("a") == pytest.approx(0.5)


def test_rate_zero_switches_a_limit_off() -> None:
    buckets = Buckets(Limit(rate=0.0, burst=1.0))
    assert all(buckets.take("a") == 0.0 for _ in range(1000))


def test_full_buckets_are_forgotten_when_the_table_grows() -> None:
    clock = Clock()
    buckets = Buckets(Limit(rate=1.0, burst=2.0), clock=clock, max_keys=10)
    for i in range(10):
        buckets.take(f"k{i}")
    clock.now += 5
    buckets.take("new")
    assert len(buckets._buckets) == 1


@pytest.mark.parametrize(
    "raw", [{"rate": -1, "burst": 5}, {"rate": 1, "burst": 0}, {"rate": "nan", "burst": 1}]
)
def test_nonsense_limits_are_refused(raw: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        Limit.from_config(raw, Limit(1, 1))


def test_rate_limits_answer_429_with_whole_seconds() -> None:
    limits = RateLimits()
    limits.configure({"writes_per_token": {"rate": 0.25, "burst": 1}})
    limits.check_write("POST", "t")
    limits.check_write("GET", "t")
    with pytest.raises(TooManyRequests) as caught:
        limits.check_write("DELETE", "t")
    assert caught.value.status == 429 and caught.value.extra["retry_after"] == 4


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/api/v1/tickets?token=abc&q=x", "/api/v1/tickets?token=[redacted]&q=x"),
        ("/x?access_token=abc", "/x?access_token=[redacted]"),
        ("/x?%74oken=abc", "/x?%74oken=[redacted]"),
        ("/x?Password=abc", "/x?Password=[redacted]"),
        ("/x/hd_abcdefghijkl/y", "/x/hd_[redacted]/y"),
        ("/x?q=hd_abcdefghijkl", "/x?q=hd_[redacted]"),
        ("/x?q=a%0Ab\nc", "/x?q=a%0Ab\\x0ac"),
    ],
)
def test_redact_removes_credentials_and_escapes(target: str, expected: str) -> None:
    assert redact(target) == expected


def test_redact_shortens_long_targets() -> None:
    assert len(redact("/" + "a" * 5000)) < 600


@pytest.mark.parametrize("incoming", [None, "", "a b", "x" * 129, "é", "a\nb"])
def test_request_ids_are_generated_unless_sane(incoming: str | None) -> None:
    assert request_id(incoming) != incoming and len(request_id(incoming)) == 32


def test_a_sane_request_id_is_kept() -> None:
    assert request_id("abc-123_x.y:z") == "abc-123_x.y:z"


def _record(exc: BaseException) -> logging.LogRecord:
    try:
        raise exc
    except BaseException:
        info = sys.exc_info()
    return logging.LogRecord("nameko.containers", logging.WARNING, __file__, 1, "(expected) %s", ("w",), info)


@pytest.mark.parametrize("exc", [NotFound("gone"), ValidationFailed(errors={"a": ["b"]})])
def test_an_expected_4xx_is_one_info_line_without_traceback(exc: Exception) -> None:
    record = _record(exc)
    assert ExpectedErrorFilter().filter(record)
    assert record.levelno == logging.INFO and record.exc_info is None


def test_an_expected_5xx_is_a_warning_without_traceback() -> None:
    record = _record(DeadlineExceeded("late"))
    assert ExpectedErrorFilter().filter(record)
    assert record.levelno == logging.WARNING and record.exc_info is None


def test_a_real_fault_keeps_its_traceback() -> None:
    record = _record(KeyError("bug"))
    record.levelno = logging.ERROR
    assert ExpectedErrorFilter().filter(record)
    assert record.levelno == logging.ERROR and record.exc_info is not None


def test_throttled_warnings_say_how_many_were_held_back(caplog: pytest.LogCaptureFixture) -> None:
    throttled = Throttled(logging.getLogger("test.throttled"), interval=0.0)
    throttled.interval = 60.0
    for _ in range(5):
        throttled.warning("k", "bad thing from %s", "k")
    assert len(caplog.records) == 1
    throttled._last["k"] = (throttled._last["k"][0] - 61, throttled._last["k"][1])
    throttled.warning("k", "bad thing from %s", "k")
    assert "4 more like it" in caplog.records[-1].getMessage()
