"""Declare every exchange and subscriber queue before any service publishes.

An event published to an exchange with no queue bound is dropped by RabbitMQ, so
``make run`` and every deployment run this once before the services start::

    python -m deploy.topology [service ...]

It imports each registered service's class (``services.registry``), finds its
:class:`Subscription` entrypoints, and declares their queues exactly as the
entrypoints will. This is a deploy tool, not chassis code: importing every service
is exactly what the chassis must never do.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
import time
from collections.abc import Iterable, Iterator

from kombu import Connection

from services import registry
from services.chassis.events import Subscription, declare_subscription
from services.chassis.outbox import event_exchange


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
    """Declare every service's exchange and the named services' subscriber queues (all by default);
    returns how many subscriptions were declared."""
    found = list(service_subscriptions(names))
    with Connection(amqp_uri) as conn:
        conn.ensure_connection(max_retries=3)
        channel = conn.channel()
        for entry in registry.SERVICES:
            event_exchange(entry.name)(channel).declare()
        channel.close()
        for service, method, sub in found:
            declare_subscription(conn, sub.source_service, sub.event_type, service, method)
    return len(found)


def main(argv: list[str]) -> int:
    amqp_uri = os.environ.get("AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/")
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
