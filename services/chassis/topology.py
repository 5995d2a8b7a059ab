"""Declare every exchange and subscriber queue before any service publishes.

An event published to an exchange with no queue bound is dropped by RabbitMQ, so
``make run`` and every deployment run this once before the services start::

    python -m services.chassis.topology [service ...]

It imports each service module by name, finds its :class:`Subscription`
entrypoints, and declares their queues exactly as the entrypoints will.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
import time
from collections.abc import Iterable, Iterator

from kombu import Connection

from services.chassis.events import Subscription, declare_subscription
from services.chassis.outbox import event_exchange

SERVICES = ("permissions", "tickets", "conversations", "notifications", "retention")


def service_classes(names: Iterable[str]) -> Iterator[type]:
    for name in names:
        module = importlib.import_module(f"services.{name}.service")
        for _attr, value in vars(module).items():
            if inspect.isclass(value) and value.__module__ == module.__name__ and hasattr(value, "name"):
                yield value


def subscriptions(cls: type) -> Iterator[Subscription]:
    for _attr, member in inspect.getmembers(cls, inspect.isfunction):
        for entrypoint in getattr(member, "nameko_entrypoints", ()):
            if isinstance(entrypoint, Subscription):
                yield entrypoint


def declare_all(amqp_uri: str, names: Iterable[str] = SERVICES) -> int:
    """Declare exchanges and subscriber queues; returns how many subscriptions were declared."""
    count = 0
    with Connection(amqp_uri) as conn:
        conn.ensure_connection(max_retries=3)
        channel = conn.channel()
        for name in SERVICES:
            event_exchange(name)(channel).declare()
        channel.close()
        for cls in service_classes(names):
            for sub in subscriptions(cls):
                method = next(
                    attr
                    for attr, fn in inspect.getmembers(cls, inspect.isfunction)
                    if sub in getattr(fn, "nameko_entrypoints", ())
                )
                declare_subscription(conn, sub.source_service, sub.event_type, cls.name, method)  # type: ignore[attr-defined]
                count += 1
    return count


def main(argv: list[str]) -> int:
    amqp_uri = os.environ.get("AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/")
    names = argv or list(SERVICES)
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
