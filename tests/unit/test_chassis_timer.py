"""The chassis's timer keeps its stop promises in a real nameko container (no broker: a timer is
its only entrypoint): a sleeping timer stops at once; a run in flight is let finish within the
bound; one that outlasts it is ended (its ``finally`` runs) and the container stops within the
bound all the same; no run starts after the stop."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import eventlet
import pytest
from eventlet.event import Event
from nameko.containers import ServiceContainer

from services.chassis.timer import BoundedTimer, timer

INTERVAL = 0.05
BOUND = 0.5
SLACK = 2.0  # a loaded machine's late wake-ups: these bounds are promises, not speed checks


class Record:
    def __init__(self) -> None:
        self.started = 0
        self.finished = 0
        self.ended_early = 0
        self.running = Event()


def service_running(record: Record, run_seconds: float | None, bound: float = BOUND) -> ServiceContainer:
    """A container whose one timer (stopping within ``bound``) records its runs; each run takes
    ``run_seconds`` (None: forever)."""

    class Ticking:
        name = "ticking"

        @timer(interval=INTERVAL, stop_seconds=bound)
        def tick(self) -> None:
            record.started += 1
            if not record.running.ready():
                record.running.send(True)
            try:
                eventlet.sleep(3600 if run_seconds is None else run_seconds)
                record.finished += 1
            finally:
                if record.finished < record.started:
                    record.ended_early += 1

    container = ServiceContainer(Ticking, config={})
    container.start()
    return container


def stop_seconds(container: ServiceContainer) -> float:
    began = time.monotonic()
    container.stop()
    return time.monotonic() - began


def test_every_service_schedules_with_the_chassis_timer() -> None:
    root = Path(__file__).resolve().parents[2]
    direct = [
        str(path.relative_to(root))
        for folder in ("services", "gateway")
        for path in (root / folder).rglob("*.py")
        if "nameko.timer import timer" in path.read_text() and path.name != "timer.py"
    ]
    assert not direct, f"nameko's own timer (a stop that waits for any run) in {direct}"


def test_a_sleeping_timer_stops_at_once() -> None:
    record = Record()
    container = service_running(record, run_seconds=0.0)
    assert record.running.wait() is True
    eventlet.sleep(INTERVAL / 2)
    assert stop_seconds(container) < SLACK
    runs = record.started
    eventlet.sleep(INTERVAL * 4)
    assert record.started == runs, "a run started after the stop"


def test_a_run_in_flight_is_let_finish_within_the_bound(caplog: pytest.LogCaptureFixture) -> None:
    record = Record()
    container = service_running(record, run_seconds=0.3, bound=0.3 + SLACK)
    assert record.running.wait() is True
    with caplog.at_level(logging.WARNING, logger="services.chassis.timer"):
        took = stop_seconds(container)
    assert took < 0.3 + SLACK, took
    assert (record.started, record.finished, record.ended_early) == (1, 1, 0)
    assert not caplog.records


def test_a_run_that_outlasts_the_bound_is_ended_and_the_stop_keeps_to_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    record = Record()
    container = service_running(record, run_seconds=None)
    assert record.running.wait() is True
    with caplog.at_level(logging.WARNING, logger="services.chassis.timer"):
        took = stop_seconds(container)
    assert BOUND <= took < BOUND + SLACK, took
    assert (record.started, record.finished, record.ended_early) == (1, 0, 1)
    assert any("did not finish within 0.5s" in r.getMessage() for r in caplog.records), caplog.text
    eventlet.sleep(INTERVAL * 4)
    assert record.started == 1, "a run started after the stop"


def test_nameko_would_have_waited_for_that_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """The case above is the one nameko's own timer gets wrong: its stop waits for the run."""
    from nameko.timer import Timer

    monkeypatch.setattr(BoundedTimer, "stop", Timer.stop)
    record = Record()
    container = service_running(record, run_seconds=None)
    assert record.running.wait() is True
    stopping = eventlet.spawn(container.stop)
    eventlet.sleep(BOUND + 0.5)
    assert not stopping.dead, "nameko's stop returned while the run was in flight"
    container.kill()
    stopping.kill()
