"""An SLA breach, from the tickets service's timer to the notification feeds, on a real RabbitMQ.

The tickets service runs on a manual clock (its store is the only thing that reads the time
for SLAs), so the test moves time past the due moment instead of sleeping through it; the
timer, the outbox relay, the broker and the notifications service's subscription are real.
It proves that the breach is announced once, when its moment comes, and lands in the feed of
the ticket's owner and follower (and nobody else's), and that a breach nobody missed is not
announced.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Any

import eventlet
import pytest
from nameko.standalone.rpc import ClusterRpcProxy

from services.chassis.clock import ManualClock
from services.chassis.identity import CONTEXT_KEY, Caller, sign
from services.chassis.rpc import CurrentCaller, require_caller, rpc
from services.notifications import contract as notifications_contract
from services.notifications.service import NotificationsService
from services.permissions import contract as permissions_contract
from services.tickets import contract as tickets_contract
from services.tickets.service import TicketsService
from services.tickets.store import Store
from tests.conftest import IDENTITY_SECRET

pytestmark = [pytest.mark.broker, pytest.mark.db]

CLOCK = ManualClock()
ADMIN = Caller(1, "admin", frozenset({"super_admin"}), "everything")
OWNER = Caller(7, "owner", frozenset({"service_access"}), "everything", seat=True)
FOLLOWER = Caller(9, "follower", frozenset({"service_access"}), "everything", seat=True)
BYSTANDER = Caller(11, "bystander", frozenset({"service_access"}), "everything", seat=True)


class ManualClockStore(Store):
    clock = CLOCK


class TicketsOnAManualClock(TicketsService):
    """The tickets service whose SLA clocks read :data:`CLOCK`."""

    store = ManualClockStore()


class FakePermissions:
    """What tickets (a would-be owner) and notifications (the super admins) ask."""

    name = permissions_contract.SERVICE_NAME
    caller = CurrentCaller()

    @rpc
    def get_user(self, user_id: int) -> dict[str, Any]:
        require_caller(self.caller)
        return {"id": user_id, "permissions": ["service_access"]}

    @rpc
    def super_admin_ids(self) -> list[int]:
        return [ADMIN.user_id]

    @rpc
    def user_count(self) -> int:
        return 4

    @rpc
    def admin_directory(self) -> dict[str, Any]:
        return {"super_admin_ids": [ADMIN.user_id], "user_count": 4}

    @rpc
    def access_records(self, user_ids: list[int]) -> list[dict[str, Any]]:
        """Tickets' ``audience`` and notifications' addresses: the people this test knows."""
        require_caller(self.caller)
        known = {c.user_id: c for c in (ADMIN, OWNER, FOLLOWER, BYSTANDER)}
        return [
            {
                "user_id": uid,
                "name": known[uid].name,
                "email": f"{known[uid].name}@example.com",
                "caller": known[uid].to_wire(),
            }
            for uid in user_ids
            if uid in known
        ]


def proxy(amqp_uri: str, caller: Caller) -> ClusterRpcProxy:
    identity = sign(caller, IDENTITY_SECRET, 60.0)
    return ClusterRpcProxy({"AMQP_URI": amqp_uri}, context_data={CONTEXT_KEY: identity}, timeout=10)


def breaches_in_feed(amqp_uri: str, caller: Caller) -> list[int]:
    with proxy(amqp_uri, caller) as rpc_proxy:
        items = rpc_proxy[notifications_contract.SERVICE_NAME].list_feed({"limit": 100})["items"]
    return [i["ticket_id"] for i in items if i["type"] == "sla_breached"]


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> float:
    began = time.monotonic()
    while not predicate():
        if time.monotonic() - began > timeout:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        eventlet.sleep(0.05)
    return time.monotonic() - began


def test_a_breach_reaches_the_owner_and_followers_feeds_once(
    container_factory: Any, service_config: Callable[..., dict[str, Any]], vhost_uri: str
) -> None:
    CLOCK.set(dt.datetime.now(dt.UTC))
    for cls, service in (
        (FakePermissions, "permissions"),
        (NotificationsService, "notifications"),
        (TicketsOnAManualClock, "tickets"),
    ):
        container_factory(cls, service_config(service)).start()

    with proxy(vhost_uri, ADMIN) as admin:
        tickets = admin[tickets_contract.SERVICE_NAME]
        tickets.create_sla_policy({"name": "Standard", "first_reply_minutes": 30, "due_soon_minutes": 5})
        late = tickets.create_ticket({"name": "Printer on fire", "owner_id": OWNER.user_id})
        answered = tickets.create_ticket({"name": "Answered in time", "owner_id": OWNER.user_id})
    with proxy(vhost_uri, FOLLOWER) as follower:
        follower[tickets_contract.SERVICE_NAME].follow(late["id"])
    assert late["sla"]["state"] == "on_track"

    CLOCK.advance(minutes=29)
    with proxy(vhost_uri, OWNER) as owner:
        owner[tickets_contract.SERVICE_NAME].update_ticket(answered["id"], {"status": 4})  # closing fulfils
    eventlet.sleep(1.0)  # two timer ticks: nothing is due yet
    assert breaches_in_feed(vhost_uri, OWNER) == []

    CLOCK.advance(minutes=1, seconds=1)
    took = wait_for(lambda: bool(breaches_in_feed(vhost_uri, OWNER)), 10.0, "the breach in the owner's feed")
    assert took < 5.0
    wait_for(lambda: bool(breaches_in_feed(vhost_uri, FOLLOWER)), 5.0, "the breach in the follower's feed")
    eventlet.sleep(1.5)  # more timer ticks: still announced once
    assert breaches_in_feed(vhost_uri, OWNER) == [late["id"]]
    assert breaches_in_feed(vhost_uri, FOLLOWER) == [late["id"]]
    assert breaches_in_feed(vhost_uri, BYSTANDER) == []
    with proxy(vhost_uri, OWNER) as owner:
        shown = owner[tickets_contract.SERVICE_NAME].get_ticket(late["id"])
    assert shown["sla"]["state"] == "breached"
