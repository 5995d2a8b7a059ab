"""``make run``'s own broker node: only the suite gets in, and only a producer publishes its events.

The supervisor is started as ``make run`` starts it, without ``AMQP_URI``, so it runs its own
RabbitMQ node. Proves that

* ``guest`` is refused; each process logs in as its own user, and the whole suite works so (a
  ticket created over HTTP reaches the admin's feed through the tickets service's event);
* a ``ticket_created`` for a ticket that does not exist cannot be slipped into ``tickets.events``
  by any other user (the notifications service's, the gateway's, the deploy tools'), nor straight
  into the notifications service's queue, and never becomes a feed item;
* a service calls only the services it depends on (the notifications user may call
  ``permissions`` but not ``tickets``), and consumes only its own queues;
* the node's Erlang distribution port and its epmd listen on 127.0.0.1 only;
* the data folder, its databases, the identity secret and the broker credentials are readable by
  their owner only.
"""

from __future__ import annotations

import json
import stat
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import amqp
import eventlet
import pytest
from kombu import Connection

from deploy import credentials
from services.chassis.events import queue_name
from services.chassis.wire import PRODUCER_HEADER
from services.notifications import contract as notifications_contract
from services.tickets import contract as tickets_contract
from tests.e2e.conftest import Suite, wait_for

pytestmark = pytest.mark.e2e

GHOST_TICKET = 987654


def refusal(uri: str, action: Callable[[Any], Any]) -> str | None:
    """Run ``action(channel)`` as the URI's user; the broker's refusal, or None if it was allowed."""
    try:
        with Connection(uri, transport_options={"confirm_publish": True}) as conn:
            action(conn.default_channel)
    except (amqp.exceptions.AccessRefused, amqp.exceptions.NotAllowed) as error:
        return str(error)
    return None


def publish(exchange: str, routing_key: str, body: dict[str, Any], **headers: Any) -> Callable[[Any], None]:
    message = amqp.Message(
        json.dumps(body).encode(), content_type="application/json", application_headers=headers
    )
    return lambda channel: channel.basic_publish(message, exchange=exchange, routing_key=routing_key)


def ghost_ticket_created() -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "occurred_at": "2024-05-01T10:00:00+00:00",
        "ticket_id": GHOST_TICKET,
        "actor_id": 99,
        "pipeline_id": 1,
        "status": 1,
        "priority": "low",
        "name": "forged",
    }


def listening_addresses(port: int) -> set[str]:
    """Local addresses (hex, as /proc/net/tcp* shows them) listening on ``port``."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, _, hex_port = local.partition(":")
            if state == "0A" and int(hex_port, 16) == port:
                found.add(address)
    return found


LOOPBACK = {"0100007F", "00000000000000000000000001000000"}  # 127.0.0.1, ::1


def test_own_node_admits_only_the_suite_and_only_producers_publish(
    suite_factory: Callable[..., Suite],
) -> None:
    suite = suite_factory(None)
    assert suite.amqp_port is not None
    port = suite.amqp_port
    passwords = credentials.load(suite.data_dir / credentials.FILE_NAME)

    def uri(role: str) -> str:
        return credentials.amqp_uri(port, credentials.user_name(role), passwords[role])

    # -- only the suite gets in ------------------------------------------------------------------
    with pytest.raises(amqp.exceptions.AccessRefused):
        with Connection(f"amqp://guest:guest@127.0.0.1:{port}/") as conn:
            conn.connect()

    created = suite.request("POST", "/api/v1/tickets", json={"name": "least privilege"})
    assert created.status_code == 201, created.text
    ticket_id = created.json()["id"]
    assert wait_for(lambda: any(i["ticket_id"] == ticket_id for i in suite.feed()), 20.0)

    # -- only the producer publishes its events ---------------------------------------------------------
    tickets_events = f"{tickets_contract.SERVICE_NAME}.events"
    forged = {PRODUCER_HEADER: tickets_contract.SERVICE_NAME}
    for role in ("notifications", "gateway", "permissions", credentials.DEPLOY):
        refused = refusal(
            uri(role), publish(tickets_events, "ticket_created", ghost_ticket_created(), **forged)
        )
        assert refused and "ACCESS_REFUSED" in refused, f"{role} could publish to {tickets_events}"
    subscription = queue_name(
        tickets_contract.SERVICE_NAME,
        tickets_contract.TICKET_CREATED,
        notifications_contract.SERVICE_NAME,
        "handle_ticket_created",
    )
    for role in ("tickets", "gateway", "permissions"):
        # straight into the subscriber's queue, or into its redelivery exchange
        assert refusal(uri(role), publish("", subscription, ghost_ticket_created(), **forged))
        assert refusal(uri(role), publish("notifications.redelivery", subscription, ghost_ticket_created()))
    assert refusal(uri("tickets"), publish("permissions.events", "user_updated", {"event_id": "x"}))

    # -- calls only whom it depends on; consumes only its own queues -----------------------------------
    call: dict[str, Any] = {"args": [], "kwargs": {}}
    assert refusal(uri("notifications"), publish("nameko-rpc", "permissions.user_count", call)) is None
    refused = refusal(uri("notifications"), publish("nameko-rpc", "conversations.add_message", call))
    assert refused and "conversations.add_message" in refused  # notifications never calls conversations
    assert refusal(uri("gateway"), lambda channel: channel.basic_get(subscription))

    eventlet.sleep(2.0)  # time for a forged event, had one got through, to become a feed item
    assert not [i for i in suite.feed() if i["ticket_id"] == GHOST_TICKET], (
        "a forged event became a feed item"
    )

    # -- the node listens on loopback only -------------------------------------------------------------
    for what, number in (("AMQP", port), ("distribution", port + 20000), ("epmd", port + 20001)):
        addresses = listening_addresses(number)
        assert addresses, f"nothing listens on the {what} port {number}"
        assert addresses <= LOOPBACK, f"the {what} port {number} listens on {addresses}"

    # -- the data folder is its owner's alone -----------------------------------------------------------
    data = suite.data_dir
    private = [data / "identity.secret", data / credentials.FILE_NAME, *data.glob("*.db")]
    assert len(private) >= 7
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    loose = {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in private if p.stat().st_mode & 0o077}
    assert not loose, f"readable by others: {loose}"
