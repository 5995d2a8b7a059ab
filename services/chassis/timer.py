"""Work a service does on a clock, with a stop that cannot outlast the supervisor's grace.

:func:`timer` replaces ``nameko.timer.timer`` in every service. nameko's timer stops by waiting for
the run in flight, however long it takes. A scheduled run that calls another service (the
retention schedule's housekeeping, the notification digests, the sweep that makes a pending
thread's ticket, a lifecycle job resumed) and is in flight while the callee stops waits for an
answer that never comes, up to its own deadline (30 s for retention's owners), so a suite stopped as
a whole was SIGKILLed after the supervisor's 10 s grace, and every stop of a test suite that caught
a run in flight took those 10 s.
"""

from __future__ import annotations

import logging
from typing import Any

import eventlet
from nameko.timer import Timer

from services.chassis.loop import STOP_SECONDS

log = logging.getLogger(__name__)


class BoundedTimer(Timer):
    """nameko's timer (``interval`` seconds between runs, the first an interval after start unless
    ``eager``; never two runs at once; a run that overran is followed by the next at once), with these
    promises on stop:

    * no run starts after :meth:`stop` is called;
    * a run in flight is let finish for ``stop_seconds`` (2 s, :data:`services.chassis.loop.STOP_SECONDS`),
      then its worker is killed: ``GreenletExit`` is raised where it waits (an RPC to a callee that
      has stopped, a pause, a database call on a green connection), so ``finally`` blocks and the
      worker's teardown run and an open transaction is rolled back;
    * so a scheduled method must be safe to stop anywhere. Each one here already must be: a SIGKILL
      can stop it anywhere too, and each is written to be finished by its next run (the fault tests
      prove it for retention's runs, lifecycle jobs and the pending-thread sweep).
    """

    def __init__(
        self, interval: float, eager: bool = False, stop_seconds: float = STOP_SECONDS, **kwargs: Any
    ):
        super().__init__(interval, eager=eager, **kwargs)
        self.stop_seconds = stop_seconds
        self.running: Any = None  # the worker context of the run in flight, if any

    def handle_timer_tick(self) -> None:
        self.running = self.container.spawn_worker(self, (), {}, handle_result=self.handle_result)

    def handle_result(self, worker_ctx: Any, result: Any, exc_info: Any) -> tuple[Any, Any]:
        self.running = None
        return super().handle_result(worker_ctx, result, exc_info)

    def stop(self) -> None:
        self.should_stop.send(True)
        with eventlet.Timeout(self.stop_seconds, False):
            self.gt.wait()
            return
        # nameko keeps each worker's green thread in this map (2.14), and only there
        worker = self.container._worker_threads.get(self.running)
        log.warning(
            "%s: the scheduled run of %s did not finish within %gs of the stop; ending it",
            self.container.service_name,
            self.method_name,
            self.stop_seconds,
        )
        if worker is not None:
            worker.kill()
        self.gt.kill()  # it waits for the killed run's result, which never comes


timer = BoundedTimer.decorator
"""``@timer(interval=seconds)`` on a service method: see :class:`BoundedTimer`."""
