"""``GET /api/v1/stream`` in a real gateway container on a real RabbitMQ, with fake services behind it.

Proves that

* a client gets the ticket events it may see, as the tickets service's ``visible_to`` says now,
  and never one it may not; its own notifications and unread changes, and nobody else's;
* a client that could see a ticket under its previous owner and cannot now is told
  ``ticket_hidden`` (the ticket's id, nothing else) and then nothing more of it; one that never
  could see it hears nothing; the same one ``visible_to`` call of the round answers both;
* ``Last-Event-ID`` resumes after a disconnection without loss, on the same gateway instance or
  on another one (by the broker event's key in the id, replaying the last seconds); an id the
  gateway cannot resume from (another run without a key it holds, or unknown) answers ``reset``
  first;
* a revoked token's stream is closed;
* hundreds of idle streams hold no worker (the gateway runs with ``max_workers`` 10) and do not
  stop ordinary requests; every stream hears of a change, and the visibility of a round of
  events is asked in one call for all of them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import eventlet
import pytest
import requests
from nameko.containers import ServiceContainer
from nameko.standalone.events import event_dispatcher

from deploy.ports import free_port
from gateway.service import GatewayService
from services.chassis.errors import Unauthenticated
from services.chassis.identity import Caller, Verifier, sign
from services.chassis.rpc import rpc
from services.notifications import contract as notifications_contract
from services.permissions import contract as permissions_contract
from services.tickets import contract as tickets_contract
from tests.conftest import IDENTITY_SECRET
from tests.sse import Event, SseClient

pytestmark = pytest.mark.broker

ALICE, BOB, CAROL = 21, 22, 23
TOKENS = {"alice-token": ALICE, "bob-token": BOB, "carol-token": CAROL}
REVOKED: set[str] = set()
VISIBILITY_CALLS: list[int] = []
PREVIOUS_OWNERS_ASKED: list[list[int | None]] = []
OWNERS: dict[int, int | None] = {}
"""Tickets with an owner, for the tests about owners (the others have none)."""


class FakePermissions:
    name = permissions_contract.SERVICE_NAME

    @rpc(public=True)
    def authenticate(self, token: str) -> dict[str, Any]:
        if token not in TOKENS or token in REVOKED:
            raise Unauthenticated("The API token is not valid.")
        caller = Caller(user_id=TOKENS[token], name="x", access_level="everything")
        return {"identity": sign(caller, IDENTITY_SECRET, 300.0), "user_id": TOKENS[token], "ttl": 300.0}


def may_see(user: int, owner: int | None) -> bool:
    """The rule of the tests about owners: Alice sees every ticket, Bob and Carol their own."""
    return user == ALICE or owner == user


class FakeTickets:
    """Alice may see every ticket; Bob only the odd ones, or his own (:data:`OWNERS`); Carol hers."""

    name = tickets_contract.SERVICE_NAME

    @rpc
    def visible_to(
        self, ticket_ids: list[int], identities: list[str], previous_owners: list[int | None] | None = None
    ) -> Any:
        VISIBILITY_CALLS.append(len(identities))
        verify = Verifier(IDENTITY_SECRET).verify
        users = [verify(identity).user_id for identity in identities]

        def sees(user: int, ticket_id: int) -> bool:
            if ticket_id in OWNERS:
                return may_see(user, OWNERS[ticket_id])
            return user == ALICE or (user == BOB and ticket_id % 2 == 1)

        visible = [[t for t in ticket_ids if sees(user, t)] for user in users]
        if previous_owners is None:
            return visible
        PREVIOUS_OWNERS_ASKED.append(list(previous_owners))
        before = [[o for o in previous_owners if may_see(user, o)] for user in users]
        return {"visible": visible, "previous_owners": before}


class FakeNotifications:
    name = notifications_contract.SERVICE_NAME

    @rpc
    def unread_count(self) -> dict[str, Any]:
        return {"unread": 3, "marked": 0}


class Desk:
    def __init__(self, port: int, amqp_uri: str, other_port: int = 0) -> None:
        self.port = port
        self.other_port = other_port  # a second gateway instance, when the test started one
        self.dispatch = event_dispatcher({"AMQP_URI": amqp_uri})

    def stream(self, token: str, port: int = 0, **kwargs: Any) -> SseClient:
        client = SseClient("127.0.0.1", port or self.port, token, **kwargs)
        assert client.status == 200 and client.headers["Content-Type"].startswith("text/event-stream")
        hello = client.next_event()
        assert hello is not None and hello["event"] == "hello"
        return client

    def ticket_event(
        self,
        ticket_id: int,
        event_type: str = tickets_contract.TICKET_UPDATED,
        changes: dict[str, list[Any]] | None = None,
        event_id: str = "",
    ) -> None:
        body = {
            "event_id": event_id or f"e{ticket_id}",
            "ticket_id": ticket_id,
            "actor_id": 1,
            "changes": changes or {},
        }
        self.dispatch(tickets_contract.SERVICE_NAME, event_type, body)

    def reassign(self, ticket_id: int, owner: int | None, event_id: str) -> None:
        """What the tickets service does: the new owner stored, then ``ticket_updated`` says so."""
        before = OWNERS.get(ticket_id)
        OWNERS[ticket_id] = owner
        self.ticket_event(ticket_id, changes={"owner_id": [before, owner]}, event_id=event_id)

    def notification(self, user_id: int, item_id: int) -> None:
        added = {"user_id": user_id, "unread": 4, "notification": {"id": item_id}, "grown": False}
        body = {"event_id": f"n{item_id}", "notifications": [added]}
        self.dispatch(notifications_contract.SERVICE_NAME, notifications_contract.NOTIFICATIONS_ADDED, body)


@pytest.fixture
def desk(container_factory: Any, vhost_uri: str) -> Iterator[Desk]:
    REVOKED.clear()
    VISIBILITY_CALLS.clear()
    PREVIOUS_OWNERS_ASKED.clear()
    OWNERS.clear()
    port = free_port()

    def start(service_cls: type, **extra: Any) -> ServiceContainer:
        config = {"AMQP_URI": vhost_uri, "IDENTITY_SECRET": IDENTITY_SECRET, "max_workers": 10, **extra}
        container: ServiceContainer = container_factory(service_cls, config)
        container.start()
        return container

    for cls in (FakePermissions, FakeTickets, FakeNotifications):
        start(cls)
    start(GatewayService, WEB_SERVER_ADDRESS=f"127.0.0.1:{port}")
    yield Desk(port, vhost_uri)


@pytest.fixture
def two_gateways(container_factory: Any, vhost_uri: str) -> Iterator[Desk]:
    """The fake services behind two gateway instances (as ``HELPDESK_SCALE=gateway=2`` runs them)."""
    REVOKED.clear()
    VISIBILITY_CALLS.clear()
    PREVIOUS_OWNERS_ASKED.clear()
    OWNERS.clear()
    ports = free_port(), free_port()
    for cls in (FakePermissions, FakeTickets, FakeNotifications):
        config = {"AMQP_URI": vhost_uri, "IDENTITY_SECRET": IDENTITY_SECRET, "max_workers": 10}
        container_factory(cls, config).start()
    for port in ports:
        config = {"AMQP_URI": vhost_uri, "IDENTITY_SECRET": IDENTITY_SECRET, "max_workers": 10}
        container_factory(GatewayService, {**config, "WEB_SERVER_ADDRESS": f"127.0.0.1:{port}"}).start()
    yield Desk(ports[0], vhost_uri, other_port=ports[1])


def ids_of(events: list[Event], kind: str) -> list[Any]:
    return [
        e["data"]["ticket_id"] if kind.startswith("ticket") else e["data"]["notification"]["id"]
        for e in events
        if e["event"] == kind
    ]


def test_a_client_sees_the_changes_it_may_see_and_its_own_notifications_only(desk: Desk) -> None:
    alice, bob = desk.stream("alice-token"), desk.stream("bob-token")
    for ticket_id in (1, 2, 3):
        desk.ticket_event(ticket_id)
    desk.notification(ALICE, 500)
    desk.ticket_event(4, tickets_contract.TICKET_CREATED)
    seen_by_alice = alice.events_until(lambda found: len(found) >= 5)
    seen_by_bob = bob.quiet(1.5)
    assert ids_of(seen_by_alice, "ticket_updated") == [1, 2, 3] and ids_of(
        seen_by_alice, "ticket_created"
    ) == [4]
    assert ids_of(seen_by_alice, "notification") == [500]
    assert ids_of(seen_by_bob, "ticket_updated") == [1, 3], "never a ticket Bob may not see"
    assert [e["event"] for e in seen_by_bob] == ["ticket_updated", "ticket_updated"], (
        "nor Alice's notification"
    )
    assert seen_by_alice[0]["data"]["type"] == "ticket_updated" and seen_by_alice[0]["id"].endswith("-e1")
    alice.close()
    bob.close()


def test_a_client_is_told_a_ticket_left_its_sight_and_one_that_never_saw_it_nothing(desk: Desk) -> None:
    OWNERS.update({10: BOB, 12: ALICE})
    alice, bob, carol = desk.stream("alice-token"), desk.stream("bob-token"), desk.stream("carol-token")
    VISIBILITY_CALLS.clear()
    desk.reassign(10, ALICE, "moved-10")  # Bob's ticket goes to Alice
    desk.reassign(12, None, "moved-12")  # Alice's goes to nobody: Bob and Carol never saw it
    desk.ticket_event(10, changes={"priority": ["low", "high"]}, event_id="later-10")

    seen_by_alice = alice.events_until(lambda found: len(found) >= 3)
    seen_by_bob = bob.events_until(lambda found: len(found) >= 1)
    seen_by_bob += bob.quiet(1.0)
    seen_by_carol = carol.quiet(1.5)

    assert [(e["event"], e["data"]["ticket_id"]) for e in seen_by_alice] == [
        ("ticket_updated", 10),
        ("ticket_updated", 12),
        ("ticket_updated", 10),
    ]
    assert [(e["event"], e["data"]) for e in seen_by_bob] == [
        ("ticket_hidden", {"type": "ticket_hidden", "ticket_id": 10})
    ], "told once, nothing else about it, and nothing more of it (the later change is withheld)"
    assert seen_by_bob[0]["id"].endswith("-moved-10"), "named by the broker event it stands for"
    assert seen_by_carol == [], "a client that never could see a ticket hears nothing of it"
    assert PREVIOUS_OWNERS_ASKED and max(VISIBILITY_CALLS) == 3, "asked with the round's one call"
    for stream in (alice, bob, carol):
        stream.close()


def test_last_event_id_resumes_without_loss_and_an_unknown_one_resets(desk: Desk) -> None:
    first = desk.stream("bob-token")
    desk.ticket_event(1)
    [got] = first.events_until(lambda found: len(found) >= 1)
    first.close()
    for ticket_id in (3, 4, 5):  # while Bob is away
        desk.ticket_event(ticket_id)
    eventlet.sleep(0.5)
    again = desk.stream("bob-token", last_event_id=got["id"])
    desk.ticket_event(7)
    assert ids_of(again.events_until(lambda found: len(found) >= 3), "ticket_updated") == [3, 5, 7]
    again.close()

    stranger = SseClient("127.0.0.1", desk.port, "bob-token", last_event_id="0123456789ab-12")
    assert stranger.next_event()["event"] == "hello"  # type: ignore[index]
    assert stranger.next_event()["event"] == "reset"  # type: ignore[index]
    stranger.close()


def test_a_stream_resumes_on_another_gateway_instance_without_loss(two_gateways: Desk) -> None:
    """A client whose gateway went away reconnects to the other instance with the id it last got:
    it gets what it missed (and at most the last seconds' messages again), not a reset."""
    desk = two_gateways
    first = desk.stream("bob-token")
    desk.ticket_event(1)
    desk.notification(BOB, 600)
    got = first.events_until(lambda found: len(found) >= 2)
    first.close()
    for ticket_id in (3, 4, 5):  # while Bob is away
        desk.ticket_event(ticket_id)
    desk.notification(BOB, 601)
    eventlet.sleep(0.5)
    again = desk.stream("bob-token", port=desk.other_port, last_event_id=got[-1]["id"])
    desk.ticket_event(7)
    resumed = again.events_until(lambda found: any(e["data"].get("ticket_id") == 7 for e in found))
    again.close()
    assert "reset" not in [e["event"] for e in resumed]
    updated, notified = ids_of(resumed, "ticket_updated"), ids_of(resumed, "notification")
    assert updated[-3:] == [3, 5, 7] and set(updated) <= {1, 3, 5, 7}, updated
    assert notified[-1:] == [601] and set(notified) <= {600, 601}, notified
    keys = [e["id"].split("-", 2)[2] for e in resumed]
    assert len(keys) == len(set(keys)), "each message once per stream, named by its broker event"

    unknown = SseClient("127.0.0.1", desk.other_port, "bob-token", last_event_id="0123456789ab-3-nope")
    assert unknown.next_event()["event"] == "hello"  # type: ignore[index]
    assert unknown.next_event()["event"] == "reset"  # type: ignore[index]
    unknown.close()


def test_a_revoked_token_closes_its_stream(desk: Desk) -> None:
    alice = desk.stream("alice-token")
    REVOKED.add("alice-token")
    desk.dispatch(
        permissions_contract.SERVICE_NAME,
        permissions_contract.TOKEN_REVOKED,
        {"event_id": "r1", "token_id": 1, "user_id": ALICE},
    )
    eventlet.sleep(0.5)
    desk.ticket_event(1)
    assert alice.quiet(2.0) == [] and alice.ended, "the gateway ended the stream"
    alice.close()
    refused = SseClient("127.0.0.1", desk.port, "alice-token")
    assert refused.status == 401
    refused.close()


def test_hundreds_of_idle_streams_hold_no_worker_and_each_hears_of_a_change(desk: Desk) -> None:
    streams = [SseClient("127.0.0.1", desk.port, "alice-token" if i % 2 else "bob-token") for i in range(300)]
    assert all(s.status == 200 for s in streams)
    began = time.monotonic()
    for _ in range(20):  # max_workers is 10: a worker held per stream would block these
        assert requests.get(f"http://127.0.0.1:{desk.port}/healthz", timeout=5).status_code == 200
    assert time.monotonic() - began < 5
    VISIBILITY_CALLS.clear()
    desk.ticket_event(9)

    def heard(stream: SseClient) -> bool:
        return any(
            e["event"] == "ticket_updated"
            for e in stream.events_until(lambda found: any(e["event"] == "ticket_updated" for e in found), 10)
        )

    assert all(eventlet.GreenPool(100).imap(heard, streams))
    assert len(VISIBILITY_CALLS) <= 3 and max(VISIBILITY_CALLS) == 2, "one call for both identities"
    for stream in streams:
        stream.close()
