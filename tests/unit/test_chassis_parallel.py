"""``services.chassis.parallel``: ``together``'s calls at once and ``ahead``'s call started early, in the
caller's context, none outliving it."""

from __future__ import annotations

import contextvars
import time

import eventlet
import pytest

from services.chassis.parallel import ahead, together

REQUEST: contextvars.ContextVar[str | None] = contextvars.ContextVar("request", default=None)


def test_results_come_in_the_order_of_the_calls_and_the_calls_overlap() -> None:
    def slow(value: int, seconds: float) -> int:
        eventlet.sleep(seconds)
        return value

    began = time.monotonic()
    assert together(lambda: slow(1, 0.6), lambda: slow(2, 0.15), lambda: slow(3, 0.3)) == (1, 2, 3)
    assert time.monotonic() - began < 0.9, "made one after the other, they would take 1.05 s"


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


def test_ahead_runs_while_the_caller_works_and_answers_in_its_context() -> None:
    REQUEST.set("trace-2")
    asked: list[str | None] = []

    def call() -> str:
        asked.append(REQUEST.get())
        eventlet.sleep(0.45)
        return "matches"

    began = time.monotonic()
    with ahead(call) as answer:
        eventlet.sleep(0.45)  # the caller's own work
        assert answer() == "matches" and answer() == "matches"
    assert time.monotonic() - began < 0.75, "made one after the other, they would take 0.9 s"
    assert asked == ["trace-2"]


def test_ahead_raises_the_calls_failure_in_the_caller_only(capsys: pytest.CaptureFixture[str]) -> None:
    def call() -> None:
        raise ValueError("no answer")

    with ahead(call) as answer:
        for _ in range(2):
            with pytest.raises(ValueError, match="no answer"):
                answer()
    eventlet.sleep(0.01)
    assert "Traceback" not in capsys.readouterr().err  # the hub printed no unhandled failure


def test_a_call_ahead_that_nobody_waits_for_ends_with_the_block() -> None:
    finished: list[str] = []

    def call() -> None:
        eventlet.sleep(0.1)
        finished.append("call")

    with pytest.raises(RuntimeError), ahead(call):
        raise RuntimeError("the caller's own work failed")
    with ahead(call):
        pass
    eventlet.sleep(0.2)
    assert finished == []
