"""A background loop beside a service's workers: it sleeps until woken or a poll interval passes, then
runs one pass.

Work that must follow a commit without holding up the request that made it (publishing the outbox,
sending queued mail) runs in such a loop; :class:`WakeableLoop` is it, once for the chassis. The
dependency that owns one creates it in ``__init__`` with the function that does one pass, and calls
:meth:`~WakeableLoop.start`, :meth:`~WakeableLoop.stop` and :meth:`~WakeableLoop.kill` from its own
``start``, ``stop`` and ``kill``.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable
from typing import Any

import eventlet
from eventlet.event import Event
from greenlet import GreenletExit

Pass = Callable[[], float | None]
"""One pass of a loop's work; it may return how many seconds to wait before the next (None: the poll
interval)."""

STOP_SECONDS = 2.0
"""How long :meth:`WakeableLoop.stop` lets a pass in flight run on: well inside the stop grace a
supervisor gives a process (10 s), so the service's own workers keep most of it."""

_log = logging.getLogger(__name__)


def wait_for(event: Event, seconds: float) -> None:
    """Block the calling green thread until ``event`` is sent or ``seconds`` have passed."""
    with eventlet.Timeout(seconds, False):
        event.wait()


class WakeableLoop:
    """Runs ``run_pass`` again and again in a green thread of the container, with these promises:

    * it runs in a managed thread of the container (so nameko knows it and kills it with the
      container), spawned by :meth:`start`, which the owning dependency calls from its ``start()``:
      after the container has set up every dependency. The first pass runs at once;
    * :meth:`wake`, from any green thread, makes a pass run soon. Wakes are coalesced: any number
      before a pass begins cost one pass, and any number during a pass cost one more after it
      (unless the pass takes them, :meth:`take_wake`, to do their work itself);
    * without a wake it runs at least every ``poll_seconds``, or sooner when a pass returns a shorter
      wait (longer ones are cut to ``poll_seconds``);
    * an exception from a pass never ends the loop: it is logged as a warning (the first of a run of
      failures, then at most once every ``warn_every`` seconds) and the pass is retried after a pause
      that starts at ``backoff[0]`` and doubles up to ``backoff[1]``; a pass that succeeds resets it;
    * :meth:`stop` ends the loop within ``stop_seconds``: a sleeping loop (between passes, or pausing
      after a failure) ends at once, a pass in flight is let finish and is killed only when it
      outlasts the bound. :meth:`kill` ends it at once (a container that is killed waits for
      nothing);
    * it never spins: between passes it waits on an event or a timeout, and the pause after a
      failure is not cut short by wakes (a service committing busily while its database or broker is
      away does not turn it into a tight retry loop).

    ``wait`` (how the loop sleeps) and ``monotonic`` (how it tells time for the warnings) are for tests.
    """

    stop_seconds = STOP_SECONDS

    def __init__(
        self,
        name: str,
        run_pass: Pass,
        *,
        poll_seconds: float = 1.0,
        backoff: tuple[float, float] = (0.2, 1.0),
        warn_every: float = 10.0,
        log: logging.Logger | None = None,
        wait: Callable[[Event, float], None] = wait_for,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.run_pass = run_pass
        self.poll_seconds = poll_seconds
        self.backoff = backoff
        self.warn_every = warn_every
        self.log = log or _log
        self._wait = wait
        self._monotonic = monotonic
        self._wake = Event()
        self._stopping = Event()
        self._running = False
        self._gt: Any = None

    @property
    def running(self) -> bool:
        """True from :meth:`start` until :meth:`stop` or :meth:`kill`; a pass that drains a backlog in
        several rounds checks it between rounds, so a stopping loop's pass ends soon."""
        return self._running

    def start(self, spawn: Callable[..., Any]) -> None:
        """Spawn the loop with ``spawn`` (the container's ``spawn_managed_thread``); once."""
        if self._running:
            return
        self._running = True
        self._stopping = Event()
        self._gt = spawn(self._run, identifier=self.name)

    def wake(self) -> None:
        """Have a pass run soon (see the class docstring)."""
        if not self._wake.ready():
            self._wake.send(True)

    @property
    def woken(self) -> bool:
        """Whether :meth:`wake` was called since the pass began (or since :meth:`take_wake`)."""
        return self._wake.ready()

    def take_wake(self) -> None:
        """Forget the wakes so far, for a pass about to do what they asked within itself (a relay
        about to read everything committed until now): they cost no pass after this one."""
        if self._wake.ready():
            self._wake = Event()

    def stop(self) -> None:
        """End the loop, letting a pass in flight finish for up to ``stop_seconds``."""
        self._halt()
        gt, self._gt = self._gt, None
        if gt is None:
            return
        if gt is not eventlet.getcurrent():
            with eventlet.Timeout(self.stop_seconds, False):
                with contextlib.suppress(GreenletExit):
                    gt.wait()
        gt.kill()

    def kill(self) -> None:
        """End the loop at once, a pass in flight with it."""
        self._halt()
        gt, self._gt = self._gt, None
        if gt is not None:
            gt.kill()

    def _halt(self) -> None:
        self._running = False
        if not self._stopping.ready():
            self._stopping.send(True)
        self.wake()

    def _run(self) -> None:
        low, high = self.backoff
        pause = low
        failing = False
        warned = -math.inf
        wait = 0.0
        while self._running:
            self._wait(self._wake, wait)
            if not self._running:
                return
            self._wake = Event()
            try:
                asked = self.run_pass()
            except Exception as exc:  # the database or the broker is away: the next pass retries
                now = self._monotonic()
                if not failing or now - warned >= self.warn_every:
                    warned = now
                    self.log.warning("%s paused: %s", self.name, exc)
                failing = True
                self._wait(self._stopping, pause)
                pause = min(pause * 2, high)
                wait = 0.0
            else:
                failing = False
                pause = low
                wait = self.poll_seconds if asked is None else max(0.0, min(self.poll_seconds, asked))
