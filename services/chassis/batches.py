"""Handling a subscription's backlog in batches, so the cost of an event falls as its queue grows.

:func:`subscribe_batch` is :func:`~services.chassis.events.subscribe` for a handler that takes a
list of event payloads. A handler that costs a lookup over RPC and a transaction per call pays
them once per batch: under load the queue grows, the batches grow with it, and the consumer
catches up instead of falling further behind; an idle queue still hands over each event at once,
as a batch of one.

It keeps every promise of :class:`~services.chassis.events.Subscription` (durable queues, the
envelope check, bounded retries, the dead-letter queue) and adds these:

* each event that passes the envelope check reaches the handler in a batch of at most
  ``max_batch`` events, in the order they arrived; a refused one is parked alone, as before;
* at most ``concurrency`` batches are handled at once; events arriving meanwhile wait in memory
  and make up the next batch. The subscription's consumer has a prefetch of its own,
  ``max_batch * (concurrency + 1)`` (not the container's ``max_workers``), so a backlog fills every
  batch, a full next batch is waiting when one ends, and no more events wait in memory than that;
* with ``gather_seconds``, a batch starts no sooner than that after the one before it started:
  under a flood each batch takes in what arrived over that span instead of what arrived while the
  last one ran (which shrinks as the machine has CPU to spare, so that the per-batch lookups and
  transactions multiply to fill it), while an event after a quiet spell still starts its batch at
  once. Events to be retried alone never wait for it;
* with ``gather_full_rate`` as well, that span shrinks with the rate events arrive at: the whole
  span at that many events a second (over the last :data:`RATE_WINDOW`) or more, a proportional
  share below it. Waiting buys CPU (fewer, larger batches) with latency, a good trade only when
  events come fast enough to keep the machine busy: one create at a time then waits for nothing,
  a flood is gathered in full;
* a batch is acknowledged only when its handler has returned, all its messages together;
* a batch whose handler raises is split: each of its events is handled again alone, and an event
  that fails alone is retried and then parked like any subscription's event. One poison event
  costs its batch-mates a second attempt, never their delivery, so a batch handler must be
  idempotent per event (every handler is: see ``mark_processed``) and must not stop at the first
  event it cannot handle;
* nothing unacknowledged is lost: events waiting in memory or in a batch when the container
  stops or the connection drops go back to the broker, which delivers them again.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from functools import partial
from typing import Any

from eventlet.hubs import get_hub
from nameko.exceptions import ContainerBeingKilled

from services.chassis.events import Subscription, describe

log = logging.getLogger(__name__)

DEFAULT_MAX_BATCH = 50
DEFAULT_CONCURRENCY = 2
"""Two batches at once: one can wait on its lookups or its commit while the other computes. A
handler whose batches contend for the same rows does better with one (the notifications service)."""

RATE_WINDOW = 1.0
"""Seconds of arrivals the rate that scales ``gather_seconds`` is counted over."""

Delivery = tuple[Any, Any]
"""An accepted event's decoded body and its kombu message."""


class BatchSubscription(Subscription):
    """A subscription whose handler takes a list of payloads (see the module docstring)."""

    def __init__(
        self,
        source_service: str,
        event_type: str,
        *,
        max_batch: int = DEFAULT_MAX_BATCH,
        concurrency: int = DEFAULT_CONCURRENCY,
        gather_seconds: float = 0.0,
        gather_full_rate: float = 0.0,
        **kwargs: Any,
    ) -> None:
        if max_batch < 1 or concurrency < 1:
            raise ValueError("max_batch and concurrency must be at least 1")
        if gather_seconds < 0 or gather_full_rate < 0:
            raise ValueError("gather_seconds and gather_full_rate must not be negative")
        self.max_batch = max_batch
        self.concurrency = concurrency
        self.gather_seconds = gather_seconds
        self.gather_full_rate = gather_full_rate
        self._arrivals: deque[float] = deque()
        self._last_start = -float("inf")
        self._timer: Any = None
        self.prefetch_count = max_batch * (concurrency + 1)
        """Read by :class:`~services.chassis.consuming.GuardedQueueConsumer`."""
        self._waiting: deque[Delivery] = deque()
        self._alone: deque[Delivery] = deque()
        self._running = 0
        super().__init__(source_service, event_type, **kwargs)

    def accept(self, body: Any, message: Any) -> None:
        if self.gather_full_rate:
            self._arrivals.append(time.monotonic())
        self._waiting.append((body, message))
        self._start_batches()

    def gather_span(self, now: float) -> float:
        """The least time between two batches' starts now: ``gather_seconds``, scaled by the rate
        of arrivals over the last :data:`RATE_WINDOW` against ``gather_full_rate`` when that is set."""
        if not self.gather_full_rate:
            return self.gather_seconds
        arrivals = self._arrivals
        while arrivals and arrivals[0] <= now - RATE_WINDOW:
            arrivals.popleft()
        rate = len(arrivals) / RATE_WINDOW
        return self.gather_seconds * min(1.0, rate / self.gather_full_rate)

    def stop(self) -> None:
        self._cancel_timer()
        super().stop()

    def kill(self) -> None:
        self._cancel_timer()
        super().kill()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _start_batches(self) -> None:
        """Start batches while there are events and room: events to be retried alone first; new
        ones once :meth:`gather_span` has passed since the last batch started."""
        while self._running < self.concurrency and (self._alone or self._waiting):
            if self._alone:
                batch = [self._alone.popleft()]
            else:
                now = time.monotonic()
                early = self._last_start + self.gather_span(now) - now
                if early > 0:
                    if self._timer is None:
                        self._timer = get_hub().schedule_call_global(early, self._gathered)
                    return
                self._last_start = now
                batch = [self._waiting.popleft() for _ in range(min(self.max_batch, len(self._waiting)))]
            self._running += 1
            try:
                self.container.spawn_worker(
                    self,
                    ([body for body, _message in batch],),
                    {},
                    context_data=self.unpack_message_headers(batch[0][1]),
                    handle_result=partial(self._batch_done, batch),
                )
            except ContainerBeingKilled:
                self._running -= 1
                for _body, message in batch:
                    self.queue_consumer.requeue_message(message)

    def _gathered(self) -> None:
        """The gathering span has passed (a hub timer: start the batches from a thread of the
        container's own)."""
        self._timer = None
        self.container.spawn_managed_thread(self._start_batches, identifier=f"{self.queue.name}.batches")

    def _batch_done(
        self, batch: list[Delivery], worker_ctx: Any, result: Any, exc_info: Any
    ) -> tuple[Any, Any]:
        """Settle a finished batch, then let the next ones start (from a thread of the container's
        own: this runs in the worker, which still holds its place in the worker pool)."""
        try:
            if exc_info is None:
                self.queue_consumer.ack_messages([message for _body, message in batch])
            elif len(batch) == 1:
                self.handle_message_processed(batch[0][1], result, exc_info)
            else:
                log.warning(
                    "%s: a batch of %d failed (%s); handling each event alone",
                    self.queue.name,
                    len(batch),
                    describe(exc_info[1]),
                )
                self._alone.extend(batch)
        finally:
            self._running -= 1
            self.container.spawn_managed_thread(self._start_batches, identifier=f"{self.queue.name}.batches")
        return result, exc_info


subscribe_batch = BatchSubscription.decorator
