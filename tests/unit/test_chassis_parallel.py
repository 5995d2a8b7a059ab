"""``services.chassis.parallel.together``: calls at once, in the caller's context, none outliving it."""

from __future__ import annotations

import contextvars
import time

import eventlet
import pytest

from services.chassis.parallel import together

REQUEST: contextvars.ContextVar[str | None] = contextvars.ContextVar("request", default=None)


def test_results_come_in_the_order_of_the_calls_and_the_calls_overlap() -> None:
    def slow(value: int, seconds: float) -> int:
        eventlet.sleep(seconds)
        return value

    began = time.monotonic()
    assert together(lambda: slow(1, 0.2), lambda: slow(2, 0.05), lambda: slow(3, 0.1)) == (1, 2, 3)
    assert time.monotonic() - began < 0.3, "made one after the other, they would take 0.35 s"


def test_each_call_sees_the_callers_context_and_its_changes_stay_its_own() -> None:
    REQUEST.set("trace-1")

    def read_and_change() -> str | None:
        seen = REQUEST.get()
        REQUEST.set("changed")
        return seen

    assert together(read_and_change, read_and_change) == ("trace-1", "trace-1")
    assert REQUEST.get() == "trace-1"


def test_the_first_failure_is_raised_only_after_every_call_ended() -> None:
    ended: list[str] = []

    def fails(name: str, seconds: float) -> None:
        eventlet.sleep(seconds)
        ended.append(name)
        raise ValueError(name)

    def succeeds() -> str:
        eventlet.sleep(0.15)
        ended.append("slow")
        return "done"

    with pytest.raises(ValueError, match="first"):
        together(lambda: fails("first", 0.05), succeeds, lambda: fails("second", 0.0))
    assert sorted(ended) == ["first", "second", "slow"]


def test_a_single_call_runs_in_the_callers_own_green_thread() -> None:
    caller = eventlet.getcurrent()
    assert together(eventlet.getcurrent) == (caller,)
    assert together() == ()


def test_a_killed_caller_takes_its_calls_with_it() -> None:
    finished: list[int] = []

    def call(n: int) -> None:
        eventlet.sleep(0.2)
        finished.append(n)

    caller = eventlet.spawn(together, lambda: call(1), lambda: call(2))
    eventlet.sleep(0.05)
    caller.kill()
    eventlet.sleep(0.3)
    assert finished == []
