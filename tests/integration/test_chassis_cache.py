"""An EventFlushedCache attached to a BrokerLink is flushed by every identity event, over a real RabbitMQ.

The gateway's token cache and the notifications service's directory of super admins both rely on
it: a permission change must take effect at once everywhere. Proves that each event type of
``permissions.contract.IDENTITY_EVENTS``, published to ``permissions.events`` as the permissions
relay publishes it, empties the cache (one broadcast queue, one binding per event type: several
queue declarations of one name once left only the last binding in place), and that an event of
another type does not.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import eventlet
import pytest
from nameko.containers import ServiceContainer
from nameko.extensions import DependencyProvider
from nameko.testing.services import dummy
from nameko.testing.utils import get_extension

from services.chassis.cache import EventFlushedCache
from services.chassis.outbox import event_exchange
from services.chassis.rpc import BrokerLink
from services.permissions import contract as permissions_contract
from tests.broker import publish_event
from tests.conftest import IDENTITY_SECRET

pytestmark = pytest.mark.broker


class FlushedCache(DependencyProvider):
    """A cache attached to the container's BrokerLink exactly as the gateway and notifications do."""

    link = BrokerLink()

    def setup(self) -> None:
        self.cache = EventFlushedCache(max_age=600.0)
        self.cache.attach(
            self.link,
            event_exchange(permissions_contract.SERVICE_NAME).name,
            permissions_contract.IDENTITY_EVENTS,
        )

    def get_dependency(self, worker_ctx: Any) -> EventFlushedCache:
        return self.cache


class CacheHolder:
    name = "cache_holder"
    cache = FlushedCache()

    @dummy
    def noop(self) -> None:
        """nameko needs an entrypoint to start the container."""


def wait_until(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        eventlet.sleep(0.02)
    return True


@pytest.fixture
def cache(vhost_uri: str, container_factory: Any) -> EventFlushedCache:
    container: ServiceContainer = container_factory(
        CacheHolder, {"AMQP_URI": vhost_uri, "IDENTITY_SECRET": IDENTITY_SECRET}
    )
    container.start()
    link = get_extension(container, BrokerLink)
    assert link is not None and link.connected
    flushed: EventFlushedCache = get_extension(container, FlushedCache).cache
    return flushed


def announce(amqp_uri: str, event_type: str) -> None:
    publish_event(
        amqp_uri,
        permissions_contract.SERVICE_NAME,
        event_type,
        {"event_id": str(uuid.uuid4()), "occurred_at": "2024-01-01T00:00:00+00:00", "user_id": 1},
    )


def test_every_identity_event_flushes_the_cache(cache: EventFlushedCache, vhost_uri: str) -> None:
    missed = []
    for event_type in permissions_contract.IDENTITY_EVENTS:
        cache.put("identity", event_type, cache.generation)
        assert cache.get("identity") == event_type
        announce(vhost_uri, event_type)
        if not wait_until(lambda: cache.get("identity") is None, 5.0):
            missed.append(event_type)
    assert not missed, f"these identity events did not flush the cache: {missed}"


def test_an_event_of_another_type_leaves_the_cache_alone(cache: EventFlushedCache, vhost_uri: str) -> None:
    cache.put("identity", "kept", cache.generation)
    announce(vhost_uri, "user_viewed_a_page")
    announce(vhost_uri, permissions_contract.IDENTITY_EVENTS[0])  # a flush after it proves delivery
    assert wait_until(lambda: cache.get("identity") is None, 5.0)
    cache.put("identity", "kept", cache.generation)
    announce(vhost_uri, "user_viewed_a_page")
    eventlet.sleep(0.5)
    assert cache.get("identity") == "kept"
