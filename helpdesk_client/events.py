"""Durable consumption of a service's events from outside nameko.

Services publish events (through their outbox) to the topic exchange ``<service>.events``
with the event type as routing key and a JSON body that always has ``event_id``.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pika.exceptions
from kombu.utils.json import loads

from services.chassis import queues

log = logging.getLogger(__name__)

DEAD_SUFFIX = ".dead"


@dataclass(frozen=True)
class Event:
    """One delivered event: its type (routing key), decoded body and AMQP headers."""

    event_type: str
    payload: dict[str, Any]
    headers: dict[str, Any] = field(default_factory=dict)
    redelivered: bool = False

    @property
    def event_id(self) -> str | None:
        """The event's id (the same on every redelivery); keep it to ignore duplicates."""
        value = self.payload.get("event_id") or self.headers.get("nameko.event_id")
        return str(value) if value else None


EventCallback = Callable[[Event], None]


def event_exchange_name(source_service: str) -> str:
    """The topic exchange ``source_service`` publishes its events to."""
    return f"{source_service}.events"


class Subscription:
    """A durable queue bound to some of one service's events, and the loop that consumes it.

    Promises:

    * The queue ``queue_name`` (durable) and its bindings exist once the object is built, so
      every matching event published after that is kept until it is consumed.
    * A message is acked only after ``callback`` returns, so an event is never lost to a
      crash: at worst it is delivered again (check ``event.event_id``).
    * A callback that raises gets the event once more; if it raises again (or the body is
      not a JSON object) the event is parked in the durable queue ``<queue_name>.dead``.
    * Both queues are of the suite's kind (:mod:`services.chassis.queues`): ``queue_type``, else
      ``$HELPDESK_QUEUE_TYPE``, else classic. On a cluster use ``quorum``: the queues then live on
      a majority of the nodes, survive any one of them, and an event whose consumer keeps dying
      with it is parked after :data:`~services.chassis.queues.DELIVERY_LIMIT` deliveries.
      A queue's kind is fixed when it is first declared.

    Like the client, a subscription belongs to the one thread that runs it.
    """

    def __init__(
        self,
        connection: Any,
        source_service: str,
        event_types: tuple[str, ...],
        queue_name: str,
        callback: EventCallback,
        *,
        prefetch: int = 10,
        queue_type: str | None = None,
    ) -> None:
        if not event_types:
            raise ValueError("subscribe to at least one event type")
        if not queue_name:
            raise ValueError("a durable subscription needs a queue name")
        self.queue_name = queue_name
        self.dead_queue_name = queue_name + DEAD_SUFFIX
        self.event_types = event_types
        self._callback = callback
        self._connection = connection
        self._stopping = False
        self._handled = 0
        try:
            channel = connection.channel()
            exchange = event_exchange_name(source_service)
            # Declared exactly as the services declare it (durable topic), or this would fail.
            channel.exchange_declare(exchange, exchange_type="topic", durable=True)
            kind = queues.queue_type({queues.CONFIG_KEY: queue_type} if queue_type else None)
            channel.queue_declare(
                self.dead_queue_name, durable=True, arguments=queues.durable_arguments(kind)
            )
            channel.queue_declare(
                queue_name,
                durable=True,
                arguments=queues.durable_arguments(
                    kind, delivery_limit=queues.DELIVERY_LIMIT, dead_letter=("", self.dead_queue_name)
                ),
            )
            for event_type in event_types:
                channel.queue_bind(queue_name, exchange, routing_key=event_type)
            channel.basic_qos(prefetch_count=max(1, prefetch))
            channel.basic_consume(queue_name, self._on_message, auto_ack=False)
        except BaseException:
            self.close()
            raise
        self._channel = channel

    def run(self, max_events: int | None = None, time_limit: float | None = None) -> int:
        """Deliver events to the callback until ``stop()``, ``max_events`` or ``time_limit`` seconds.

        With neither limit it runs until ``stop()`` is called (from the callback) or the
        connection fails (the pika error propagates). Returns how many events were handled.
        """
        self._stopping = False
        self._handled = 0
        end = None if time_limit is None else time.monotonic() + time_limit
        while not self._stopping and (max_events is None or self._handled < max_events):
            wait = 1.0 if end is None else min(1.0, end - time.monotonic())
            if wait <= 0:
                break
            # Also services heartbeats while no event arrives.
            self._connection.process_data_events(time_limit=wait)
        return self._handled

    def stop(self) -> None:
        """Make ``run()`` return after the event being handled (safe to call from the callback)."""
        self._stopping = True

    def close(self) -> None:
        """Close the connection; unacked events go back to the queue."""
        self._stopping = True
        with contextlib.suppress(pika.exceptions.AMQPError):
            if self._connection.is_open:
                self._connection.close()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _on_message(self, channel: Any, method: Any, properties: Any, body: bytes) -> None:
        tag = method.delivery_tag
        try:
            payload = loads(body.decode("utf-8"))
            if not isinstance(payload, dict):
                raise ValueError("the event body is not a JSON object")
        except (UnicodeDecodeError, ValueError) as exc:
            log.error("%s: unreadable event parked in %s: %s", self.queue_name, self.dead_queue_name, exc)
            channel.basic_nack(tag, requeue=False)
            return
        event = Event(
            event_type=method.routing_key,
            payload=payload,
            headers=dict(properties.headers or {}),
            redelivered=bool(method.redelivered),
        )
        try:
            self._callback(event)
        except Exception:
            park = event.redelivered
            log.exception(
                "%s: callback failed for %s %s; %s",
                self.queue_name,
                event.event_type,
                event.event_id,
                f"parked in {self.dead_queue_name}" if park else "delivering it once more",
            )
            channel.basic_nack(tag, requeue=not park)
            return
        channel.basic_ack(tag)
        self._handled += 1
