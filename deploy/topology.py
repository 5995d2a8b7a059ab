"""Declare every exchange and subscriber queue before any service publishes.

An event published to an exchange with no queue bound is dropped by RabbitMQ, so
``make run`` and every deployment run this once before the services start::

    python -m deploy.topology [service ...]

(``AMQP_URI``, else the deploy user of ``make run``'s own node: see ``deploy.credentials``;
``HELPDESK_QUEUE_TYPE=quorum`` on a cluster: see ``services.chassis.queues``.)

It imports each registered service's class (``services.registry``), finds its
:class:`Subscription` entrypoints, and declares their queues exactly as the
entrypoints will. This is a deploy tool, not chassis code: importing every service
is exactly what the chassis must never do.
"""

from __future__ import annotations

import importlib
import inspect
import sys
import time
from collections.abc import Iterable, Iterator

from amqp.exceptions import PreconditionFailed
from kombu import Connection, Producer

from deploy import credentials
from services import registry
from services.chassis.events import (
    ORIGIN_HEADER,
    RAW_CONTENT_TYPE,
    Subscription,
    declare_subscription,
    queue_name,
    redelivery_exchange,
    subscription_queues,
)
from services.chassis.outbox import event_exchange
from services.chassis.queues import queue_type
from services.chassis.rpc import rpc_exchange


def service_class(entry: registry.NamekoService) -> type:
    """The nameko service class the registry names (importing its module)."""
    return getattr(importlib.import_module(entry.module), entry.class_name)


def subscriptions(cls: type) -> Iterator[tuple[str, Subscription]]:
    """``(method name, entrypoint)`` of every :class:`Subscription` on the service class."""
    for attr, member in inspect.getmembers(cls, inspect.isfunction):
        for entrypoint in getattr(member, "nameko_entrypoints", ()):
            if isinstance(entrypoint, Subscription):
                yield attr, entrypoint


def service_subscriptions(names: Iterable[str] | None = None) -> Iterator[tuple[str, str, Subscription]]:
    """``(service name, method name, entrypoint)`` of every subscription of the named services (all
    registered services by default)."""
    for name in names if names is not None else [s.name for s in registry.SERVICES]:
        cls = service_class(registry.service(name))
        for method, sub in subscriptions(cls):
            yield cls.name, method, sub  # type: ignore[attr-defined]


def declare_all(amqp_uri: str, names: Iterable[str] | None = None) -> int:
    """Declare the RPC exchange, every service's event exchange and the named services' subscriber
    queues (all by default); returns how many subscriptions were declared.

    Services' own broker users may not declare what they do not own, so everything they bind to
    must exist before they start: this is where it is made.
    """
    found = list(service_subscriptions(names))
    kind = queue_type()
    with Connection(amqp_uri) as conn:
        conn.ensure_connection(max_retries=3)
        channel = conn.channel()
        rpc_exchange({})(channel).declare()
        for entry in registry.SERVICES:
            event_exchange(entry.name)(channel).declare()
        channel.close()
        for service, method, sub in found:
            try:
                declare_subscription(conn, sub.source_service, sub.event_type, service, method, kind=kind)
            except PreconditionFailed:
                moved = replace_retry_queue(conn, sub.source_service, sub.event_type, service, method)
                print(
                    f"topology: {queue_name(sub.source_service, sub.event_type, service, method)}.retry"
                    f" re-declared with the redelivery exchange ({moved} waiting retries moved back)"
                )
                declare_subscription(conn, sub.source_service, sub.event_type, service, method, kind=kind)
    return len(found)


def replace_retry_queue(conn: Connection, source: str, event_type: str, service: str, method: str) -> int:
    """Replace a retry queue declared by an earlier version (dead-lettering through the default
    exchange) with today's: its waiting messages go back to the live queue at once, through the
    service's redelivery exchange, marked as having come through the source's exchange (they did:
    nothing else could reach it then). Returns how many were moved."""
    main, retry, _dead = subscription_queues(source, event_type, service, method, kind=queue_type())
    channel = conn.channel()
    moved = 0
    try:
        redelivery = redelivery_exchange(service)
        redelivery(channel).declare()
        main(channel).declare()
        producer = Producer(channel, exchange=redelivery, auto_declare=False)
        while (message := channel.basic_get(retry.name, no_ack=False)) is not None:
            headers = {ORIGIN_HEADER: event_exchange(source).name, **(message.headers or {})}
            producer.publish(
                message.body,
                routing_key=main.name,
                headers=headers,
                content_type=message.properties.get("content_type") or RAW_CONTENT_TYPE,
                content_encoding=message.properties.get("content_encoding") or "binary",
                delivery_mode=2,
            )
            channel.basic_ack(message.delivery_tag)
            moved += 1
        channel.queue_delete(retry.name)
    finally:
        channel.close()
    return moved


def main(argv: list[str]) -> int:
    amqp_uri = credentials.default_amqp_uri()
    try:
        names = [registry.service(name).name for name in argv] or None
    except LookupError as exc:
        print(f"topology: {exc}", file=sys.stderr)
        return 2
    last: Exception | None = None
    for _ in range(30):
        try:
            count = declare_all(amqp_uri, names)
            print(f"topology: declared {count} subscriptions")
            return 0
        except OSError as exc:
            last = exc
            time.sleep(1)
    print(f"topology: broker at {amqp_uri} did not answer: {last}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
