"""Broker topology declared before any service runs: no event is dropped for want of a queue.

Proves, on a fresh vhost, that

* without the declaration an event published before its subscriber ever ran is dropped
  (RabbitMQ routes it nowhere) - the failure this step exists to prevent;
* ``deploy.topology.declare_all``, reading ``services.registry``, declares the notifications
  service's ``ticket_created`` queue (with its retry and dead-letter queues) before any service
  runs, so an event published while notifications is down waits there and is delivered when it
  starts;
* ``python -m deploy.dlq list`` then reports every dead-letter queue;
* a retry queue declared by an earlier version (other arguments) is replaced, its waiting
  retries moved back to the live queue, instead of failing the deploy step.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import amqp
import eventlet
import pytest
from kombu import Connection
from nameko.standalone.rpc import ClusterRpcProxy

from deploy import dlq
from deploy.topology import declare_all
from services.chassis.events import ORIGIN_HEADER, queue_name
from services.chassis.identity import CONTEXT_KEY, Caller, sign
from services.chassis.outbox import event_exchange
from services.chassis.rpc import rpc
from services.notifications import contract as notifications_contract
from services.notifications.service import NotificationsService
from services.permissions import contract as permissions_contract
from services.tickets import contract as tickets_contract
from tests.broker import publish_event
from tests.conftest import IDENTITY_SECRET

pytestmark = [pytest.mark.broker, pytest.mark.db]

ROOT = Path(__file__).resolve().parents[2]
QUEUE = queue_name(
    tickets_contract.SERVICE_NAME,
    tickets_contract.TICKET_CREATED,
    notifications_contract.SERVICE_NAME,
    "handle_ticket_created",
)


class FakeDirectory:
    """The permissions service as far as notifications needs it: one super admin, alone. As an
    earlier release's it has no ``admin_directory``: notifications asks it the two questions
    instead (a rolling upgrade), here on a real broker."""

    name = permissions_contract.SERVICE_NAME

    @rpc
    def super_admin_ids(self) -> list[int]:
        return [1]

    @rpc
    def user_count(self) -> int:
        return 1

    @rpc
    def access_records(self, user_ids: list[int]) -> list[dict[str, Any]]:
        return [
            {"user_id": uid, "name": "admin", "email": "admin@localhost", "caller": {}} for uid in user_ids
        ]


class FakeTickets:
    """The tickets service as far as notifications needs it: everyone may see every ticket."""

    name = tickets_contract.SERVICE_NAME

    @rpc
    def audiences(self, questions: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            {
                "id": q["ticket_id"],
                "name": "declared early",
                "owner_id": None,
                "followers": [],
                "visible": q["user_ids"],
            }
            for q in questions
        ]

    @rpc
    def visible_tickets(self, ticket_ids: list[int], closed: bool | None = None) -> list[int]:
        return list(ticket_ids)


def ticket_created(ticket_id: int) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "occurred_at": "2024-05-01T10:00:00+00:00",
        "ticket_id": ticket_id,
        "actor_id": 1,
        "pipeline_id": 1,
        "status": 1,
        "priority": "low",
        "name": "declared early",
    }


def admin_feed(amqp_uri: str) -> list[int]:
    identity = sign(Caller(user_id=1, name="admin"), IDENTITY_SECRET, 60.0)
    with ClusterRpcProxy({"AMQP_URI": amqp_uri}, context_data={CONTEXT_KEY: identity}, timeout=10) as proxy:
        page = proxy[notifications_contract.SERVICE_NAME].list_feed({"limit": 100})
    return [item["ticket_id"] for item in page["items"]]


def test_queue_declared_at_deploy_keeps_an_event_published_while_the_subscriber_is_down(
    container_factory: Any, service_config: Callable[..., dict[str, Any]], vhost_uri: str
) -> None:
    with Connection(vhost_uri) as conn:  # the exchange exists (the tickets relay declares it) ...
        event_exchange(tickets_contract.SERVICE_NAME)(conn.default_channel).declare()
    # ... but no queue is bound to it yet: this event is dropped.
    publish_event(
        vhost_uri, tickets_contract.SERVICE_NAME, tickets_contract.TICKET_CREATED, ticket_created(100)
    )

    assert declare_all(vhost_uri) >= 1
    with Connection(vhost_uri) as conn:
        assert [dlq.depth(conn, f"{QUEUE}{suffix}") for suffix in ("", ".retry", ".dead")] == [0, 0, 0]
        publish_event(
            vhost_uri, tickets_contract.SERVICE_NAME, tickets_contract.TICKET_CREATED, ticket_created(101)
        )
        eventlet.sleep(0.3)
        assert dlq.depth(conn, QUEUE) == 1, "the event must wait in the declared queue"

    config = service_config("notifications")
    for cls in (FakeDirectory, FakeTickets, NotificationsService):
        container = container_factory(cls, config)
        container.start()

    deadline = time.monotonic() + 20
    while not admin_feed(vhost_uri) and time.monotonic() < deadline:
        eventlet.sleep(0.1)
    eventlet.sleep(0.5)
    assert admin_feed(vhost_uri) == [101], "only the event published after the declaration survives"

    listed = subprocess.run(
        [sys.executable, "-m", "deploy.dlq", "list"],
        cwd=ROOT,
        env={**os.environ, "AMQP_URI": vhost_uri},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert listed.returncode == 0, listed.stderr
    assert f"0  {QUEUE}.dead" in listed.stdout


def test_retry_queue_of_an_earlier_version_is_replaced_and_its_waiting_retries_kept(vhost_uri: str) -> None:
    """Earlier versions dead-lettered retries through the default exchange; re-declaring with other
    arguments fails, so a second start on old data would stop at the topology step."""
    retry = f"{QUEUE}.retry"
    with Connection(vhost_uri) as conn:
        channel = conn.channel()
        channel.queue_declare(
            retry,
            durable=True,
            auto_delete=False,
            arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": QUEUE},
        )
        channel.basic_publish(
            amqp.Message(b'{"event_id": "waiting"}', content_type="application/json"),
            exchange="",
            routing_key=retry,
        )
        channel.close()

    assert declare_all(vhost_uri, [notifications_contract.SERVICE_NAME]) >= 1
    with Connection(vhost_uri) as conn:
        assert dlq.depth(conn, retry) == 0
        assert dlq.depth(conn, QUEUE) == 1, "the waiting retry must be back in the live queue"
        [moved] = dlq.peek(conn, QUEUE, 5)
        assert moved["headers"][ORIGIN_HEADER] == f"{tickets_contract.SERVICE_NAME}.events"
        declare_all(vhost_uri, [notifications_contract.SERVICE_NAME])  # idempotent from now on
