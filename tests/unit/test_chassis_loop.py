"""The chassis's background loop keeps its promises: first pass at once, then at least every poll
interval; wakes coalesced; a failing pass logged (rate-limited) and retried with bounded back-off,
never ending the loop nor turned into a spin by wakes; stop prompt when sleeping, patient (within a
bound) with a pass in flight; kill at once.

Intervals and back-off are checked with a recording ``wait`` (no real sleeping); wakes and stops with
real green threads and short times."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import eventlet
import pytest
from eventlet.event import Event

from services.chassis.loop import WakeableLoop


def spawn(fn: Callable[[], None], identifier: str | None = None) -> Any:
    return eventlet.spawn(fn)


class Outage(Exception):
    pass


class Script:
    """A pass that plays ``outcomes`` in order (an exception is raised, anything else returned), then
    returns None and says it ran out."""

    def __init__(self, *outcomes: Any) -> None:
        self.outcomes = list(outcomes)
        self.calls = 0
        self.done = Event()

    def __call__(self) -> float | None:
        self.calls += 1
        if not self.outcomes:
            if not self.done.ready():
                self.done.send(True)
            return None
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


class Waits:
    """A ``wait`` that records how long the loop asked to sleep and returns at once."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    def __call__(self, event: Event, seconds: float) -> None:
        self.seconds.append(seconds)
        eventlet.sleep(0)


@pytest.fixture
def loops() -> Iterator[list[WakeableLoop]]:
    made: list[WakeableLoop] = []
    yield made
    for loop in made:
        loop.kill()


def played(loop: WakeableLoop, script: Script) -> None:
    loop.start(spawn)
    with eventlet.Timeout(5):
        script.done.wait()
    loop.stop()


def test_the_first_pass_runs_at_once_then_every_poll_interval_or_sooner_when_a_pass_asks() -> None:
    waits, script = Waits(), Script(None, 0.3, 5.0, -1.0)
    played(WakeableLoop("test", script, poll_seconds=1.0, wait=waits), script)
    # asked 0.3: sooner; asked 5: no later than the poll interval; asked a negative wait: none
    assert waits.seconds[:6] == [0.0, 1.0, 0.3, 1.0, 0.0, 1.0]


def test_a_failing_pass_is_retried_after_a_doubling_bounded_pause_reset_by_a_success() -> None:
    waits, script = Waits(), Script(Outage(), Outage(), Outage(), Outage(), None, Outage())
    loop = WakeableLoop("test", script, poll_seconds=1.0, backoff=(0.2, 1.0), wait=waits)
    played(loop, script)
    # each failure: its pause, then the retry at once; the success waits the poll interval
    assert waits.seconds[:12] == [0.0, 0.2, 0.0, 0.4, 0.0, 0.8, 0.0, 1.0, 0.0, 1.0, 0.2, 0.0]
    assert script.calls >= 7, "the loop went on after the failures"


def test_failures_are_logged_first_of_a_run_then_at_most_every_warn_every(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ticks = iter(range(4, 400, 4))  # each failure 4 s after the one before
    script = Script(Outage("a"), Outage("b"), Outage("c"), Outage("d"), None, Outage("e"))
    loop = WakeableLoop(
        "test loop", script, warn_every=10.0, wait=Waits(), monotonic=lambda: float(next(ticks))
    )
    with caplog.at_level(logging.WARNING, logger="services.chassis.loop"):
        played(loop, script)
    # a at 4 s (first), b and c within 10 s of it, d at 16 s; e starts a new run of failures
    assert [r.getMessage() for r in caplog.records] == [
        "test loop paused: a",
        "test loop paused: d",
        "test loop paused: e",
    ]


def test_wakes_before_a_pass_cost_one_pass_and_wakes_during_one_cost_one_more(
    loops: list[WakeableLoop],
) -> None:
    gate = Event()
    gate.send(True)
    started: list[float] = []

    def run_pass() -> None:
        started.append(time.monotonic())
        eventlet.sleep(0)  # a loop that failed to coalesce would spin here, not hang the test
        gate.wait()

    loop = WakeableLoop("test", run_pass, poll_seconds=60.0)
    loops.append(loop)
    loop.start(spawn)
    eventlet.sleep(0.05)
    assert len(started) == 1  # the first, at start; the next poll is a minute away

    for _ in range(5):
        loop.wake()
    eventlet.sleep(0.05)
    assert len(started) == 2

    gate = Event()  # the next pass holds until released
    wakers = [eventlet.spawn(loop.wake) for _ in range(5)]
    for waker in wakers:
        waker.wait()
    eventlet.sleep(0.05)
    assert len(started) == 3
    for _ in range(5):
        loop.wake()  # during the pass
    gate.send(True)
    eventlet.sleep(0.1)
    assert len(started) == 4


def test_wakes_a_pass_takes_cost_no_pass_after_it(loops: list[WakeableLoop]) -> None:
    seen: list[bool] = []
    gate = Event()
    started: list[float] = []

    def run_pass() -> None:
        started.append(time.monotonic())
        if len(started) == 2:
            gate.wait()  # woken meanwhile
            seen.append(loop.woken)
            loop.take_wake()  # ...and does that work itself
            seen.append(loop.woken)

    loop = WakeableLoop("test", run_pass, poll_seconds=60.0)
    loops.append(loop)
    loop.start(spawn)
    eventlet.sleep(0.05)
    assert not loop.woken
    loop.wake()
    eventlet.sleep(0.05)
    assert len(started) == 2
    loop.wake()
    gate.send(True)
    eventlet.sleep(0.1)
    assert seen == [True, False]
    assert len(started) == 2, "the wake taken by the pass ran no pass after it"
    loop.wake()
    eventlet.sleep(0.05)
    assert len(started) == 3, "later wakes still run passes"


def test_wakes_do_not_cut_the_pause_after_a_failure_short(loops: list[WakeableLoop]) -> None:
    calls: list[float] = []

    def failing() -> None:
        calls.append(time.monotonic())
        raise Outage("database away")

    loop = WakeableLoop("test", failing, backoff=(0.1, 0.1))
    loops.append(loop)
    loop.start(spawn)
    until = time.monotonic() + 0.5
    while time.monotonic() < until:  # a service committing busily meanwhile
        loop.wake()
        eventlet.sleep(0.001)
    assert 2 <= len(calls) <= 7, f"{len(calls)} passes in 0.5 s with a 0.1 s pause"


def test_stop_ends_a_sleeping_loop_at_once() -> None:
    script = Script()
    loop = WakeableLoop("test", script, poll_seconds=60.0)
    loop.start(spawn)
    eventlet.sleep(0.05)
    began = time.monotonic()
    loop.stop()
    assert time.monotonic() - began < 5, "not at its next poll, 60 s away"
    calls = script.calls
    loop.wake()
    eventlet.sleep(0.05)
    assert script.calls == calls == 1 and not loop.running


def test_stop_ends_a_loop_pausing_after_a_failure_at_once() -> None:
    script = Script(Outage())
    loop = WakeableLoop("test", script, backoff=(60.0, 60.0))
    loop.start(spawn)
    eventlet.sleep(0.05)
    began = time.monotonic()
    loop.stop()
    assert time.monotonic() - began < 5 and script.calls == 1, "not after its 60 s back-off"


def test_stop_lets_a_pass_in_flight_finish_and_runs_no_other() -> None:
    passes: list[str] = []

    def slow() -> None:
        passes.append("began")
        eventlet.sleep(0.3)
        passes.append("finished")

    loop = WakeableLoop("test", slow, poll_seconds=0.01)
    loop.start(spawn)
    eventlet.sleep(0.05)
    loop.wake()
    loop.stop()
    eventlet.sleep(0.1)
    assert passes == ["began", "finished"]


def test_stop_kills_a_pass_that_outlasts_the_bound() -> None:
    passes: list[str] = []

    def stuck() -> None:
        passes.append("began")
        try:
            Event().wait()
        finally:
            passes.append("ended")

    loop = WakeableLoop("test", stuck)
    loop.stop_seconds = 0.2
    loop.start(spawn)
    eventlet.sleep(0.05)
    began = time.monotonic()
    loop.stop()
    took = time.monotonic() - began
    assert 0.15 <= took < 1.0 and passes == ["began", "ended"]


def test_kill_ends_a_pass_in_flight_at_once() -> None:
    passes: list[str] = []

    def slow() -> None:
        passes.append("began")
        try:
            eventlet.sleep(5)
        finally:
            passes.append("ended")

    loop = WakeableLoop("test", slow)
    loop.start(spawn)
    eventlet.sleep(0.05)
    began = time.monotonic()
    loop.kill()
    assert time.monotonic() - began < 2.5 and passes == ["began", "ended"], "not at the pass's end, 5 s away"


def test_a_draining_pass_sees_the_loop_stopping() -> None:
    rounds: list[int] = []

    def drain() -> None:
        while loop.running:
            rounds.append(len(rounds))
            eventlet.sleep(0.01)

    loop = WakeableLoop("test", drain)
    loop.start(spawn)
    eventlet.sleep(0.1)
    began = time.monotonic()
    loop.stop()
    assert time.monotonic() - began < 5 and rounds
