"""The notifications service in a real container, on a real RabbitMQ and database, with a fake permissions.

Proves that a ``ticket_created`` event (dispatched to ``tickets.events`` as the tickets relay would,
with an ``event_id``)

* puts one ``ticket_created`` item in the feed of each super admin other than the creator, and
  none in anyone else's, even when the event is delivered twice;
* reaches a lone bootstrap admin for its own ticket;
* asks the permissions and tickets services as a signed *system* caller;
* is not lost while the permissions service is down: the handler fails, is retried, and takes
  effect once when permissions answers;
* reaches a super admin appointed before the ticket was created even while the announcement of
  the change has not arrived (the cached list of admins is never older than the event), and is
  still served from that cache when it is older than the cached answer;
* is shown, counted and marked read only while its reader may see the ticket: every read of the
  feed asks the tickets service's ``visible_tickets`` *as the reader* (their signed identity), and
  a hidden notification is left out of the page, the counts and the live clients' count, and is
  not found when marked read.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import eventlet
import pytest
from kombu import Connection
from nameko.containers import ServiceContainer
from nameko.standalone.rpc import ClusterRpcProxy
from nameko.testing.services import entrypoint_waiter

from deploy import dlq
from services.chassis.errors import NotFound
from services.chassis.events import queue_name
from services.chassis.identity import CONTEXT_KEY, Caller, sign
from services.chassis.rpc import CurrentCaller, require_caller, rpc
from services.notifications import contract as notifications_contract
from services.notifications.service import NotificationsService
from services.permissions import contract as permissions_contract
from services.tickets import contract as tickets_contract
from tests.broker import publish_event, wait_until
from tests.conftest import IDENTITY_SECRET

pytestmark = [pytest.mark.broker, pytest.mark.db]

QUEUE = queue_name(
    tickets_contract.SERVICE_NAME,
    tickets_contract.TICKET_CREATED,
    notifications_contract.SERVICE_NAME,
    "handle_ticket_created",
)
DIRECTORY: dict[str, Any] = {"super_admin_ids": [1, 2, 5], "user_count": 4}
ASKED: list[tuple[str, Caller]] = []
HIDDEN: set[int] = set()
"""Tickets the fake tickets service's ``visible_tickets`` hides from everyone."""
VISIBILITY: list[tuple[Caller, list[int]]] = []


class FakePermissions:
    """Answers the questions the notifications service asks, from ``DIRECTORY``."""

    name = permissions_contract.SERVICE_NAME
    caller = CurrentCaller()

    @rpc
    def super_admin_ids(self) -> list[int]:
        ASKED.append(("super_admin_ids", require_caller(self.caller)))
        return list(DIRECTORY["super_admin_ids"])

    @rpc
    def user_count(self) -> int:
        ASKED.append(("user_count", require_caller(self.caller)))
        return int(DIRECTORY["user_count"])

    @rpc
    def admin_directory(self) -> dict[str, Any]:
        ASKED.append(("admin_directory", require_caller(self.caller)))
        return {"super_admin_ids": list(DIRECTORY["super_admin_ids"]), "user_count": DIRECTORY["user_count"]}

    @rpc
    def access_records(self, user_ids: list[int]) -> list[dict[str, Any]]:
        ASKED.append(("access_records", require_caller(self.caller)))
        return [
            {"user_id": uid, "name": f"u{uid}", "email": f"u{uid}@example.com", "caller": {}}
            for uid in user_ids
        ]


class FakeTickets:
    """Answers ``audiences``: every ticket is ``ticket <id>``, has no followers, everyone may see it."""

    name = tickets_contract.SERVICE_NAME
    caller = CurrentCaller()

    @rpc
    def audiences(self, questions: list[dict[str, Any]]) -> list[dict[str, Any]]:
        ASKED.append(("audiences", require_caller(self.caller)))
        return [
            {
                "id": q["ticket_id"],
                "name": f"ticket {q['ticket_id']}",
                "owner_id": None,
                "followers": [],
                "visible": q["user_ids"],
            }
            for q in questions
        ]

    @rpc
    def visible_tickets(self, ticket_ids: list[int], closed: bool | None = None) -> list[int]:
        VISIBILITY.append((require_caller(self.caller), list(ticket_ids)))
        return [t for t in ticket_ids if t not in HIDDEN]


def ticket_created(ticket_id: int, actor_id: int, event_id: str | None = None) -> dict[str, Any]:
    return {
        "event_id": event_id or str(uuid.uuid4()),
        "occurred_at": "2024-05-01T10:00:00+00:00",
        "ticket_id": ticket_id,
        "actor_id": actor_id,
        "owner_id": None,
        "team_id": None,
        "pipeline_id": 1,
        "status": 1,
        "priority": "medium",
        "name": f"ticket {ticket_id}",
    }


def feed(amqp_uri: str, user_id: int) -> list[dict[str, Any]]:
    with as_user(amqp_uri, user_id) as notifications:
        page = notifications.list_feed({"limit": 100})
    return page["items"]


@contextlib.contextmanager
def as_user(amqp_uri: str, user_id: int) -> Iterator[Any]:
    """The notifications service, called with ``user_id``'s signed identity."""
    identity = sign(Caller(user_id=user_id, name=f"u{user_id}"), IDENTITY_SECRET, 60.0)
    with ClusterRpcProxy({"AMQP_URI": amqp_uri}, context_data={CONTEXT_KEY: identity}, timeout=10) as proxy:
        yield proxy[notifications_contract.SERVICE_NAME]


@pytest.fixture
def start(
    container_factory: Any, service_config: Callable[..., dict[str, Any]], vhost_uri: str
) -> Callable[[type], ServiceContainer]:
    ASKED.clear()
    HIDDEN.clear()
    VISIBILITY.clear()
    DIRECTORY.update(super_admin_ids=[1, 2, 5], user_count=4)
    config = service_config("notifications")

    def starter(service_cls: type) -> ServiceContainer:
        container: ServiceContainer = container_factory(service_cls, config)
        container.start()
        return container

    return starter


def test_ticket_created_reaches_each_other_super_admin_once_even_when_delivered_twice(
    start: Callable[[type], ServiceContainer], vhost_uri: str
) -> None:
    start(FakePermissions)
    start(FakeTickets)
    notifications = start(NotificationsService)
    event = ticket_created(ticket_id=77, actor_id=5)
    for _ in range(2):  # the second delivery is a redelivery: same event_id
        with entrypoint_waiter(notifications, "handle_ticket_created", timeout=15) as delivery:
            publish_event(vhost_uri, tickets_contract.SERVICE_NAME, tickets_contract.TICKET_CREATED, event)
        delivery.get()  # the duplicate is recognised and skipped, not failed (and retried, then parked)

    for admin in (1, 2):
        items = feed(vhost_uri, admin)
        assert [(i["type"], i["ticket_id"], i["read"]) for i in items] == [("ticket_created", 77, False)]
        assert items[0]["created_at"].endswith("+00:00")
    assert feed(vhost_uri, 5) == [], "the creator is not told of its own ticket"
    assert feed(vhost_uri, 3) == [], "users who are not super admins are not told"
    assert ASKED, "the permissions service was not asked"
    with Connection(vhost_uri) as conn:
        assert dlq.depth(conn, f"{QUEUE}.retry") == 0
        assert dlq.depth(conn, f"{QUEUE}.dead") == 0
    assert all(caller.system for _method, caller in ASKED), "the handler must ask as a system caller"
    assert {method for method, _caller in ASKED} >= {"admin_directory", "audiences"}


def test_lone_bootstrap_admin_hears_of_its_own_ticket(
    start: Callable[[type], ServiceContainer], vhost_uri: str
) -> None:
    DIRECTORY.update(super_admin_ids=[1], user_count=1)
    start(FakePermissions)
    start(FakeTickets)
    notifications = start(NotificationsService)
    with entrypoint_waiter(notifications, "handle_ticket_created", timeout=15):
        publish_event(
            vhost_uri,
            tickets_contract.SERVICE_NAME,
            tickets_contract.TICKET_CREATED,
            ticket_created(9, actor_id=1),
        )
    assert [i["ticket_id"] for i in feed(vhost_uri, 1)] == [9]


def test_event_is_retried_until_its_lookups_answer_then_takes_effect_once(
    start: Callable[[type], ServiceContainer], vhost_uri: str
) -> None:
    start(FakeTickets)
    notifications = start(NotificationsService)  # permissions is not running yet
    with entrypoint_waiter(notifications, "handle_ticket_created", timeout=15) as first_attempt:
        publish_event(
            vhost_uri,
            tickets_contract.SERVICE_NAME,
            tickets_contract.TICKET_CREATED,
            ticket_created(31, actor_id=5),
        )
    with pytest.raises(Exception, match="permissions"):
        first_attempt.get()
    start(FakePermissions)

    wait_until(lambda: bool(feed(vhost_uri, 1)), 20.0, "the retried event to take effect")
    eventlet.sleep(1.0)
    assert [i["ticket_id"] for i in feed(vhost_uri, 1)] == [31]
    assert [i["ticket_id"] for i in feed(vhost_uri, 2)] == [31]
    with Connection(vhost_uri) as conn:
        assert dlq.depth(conn, f"{QUEUE}.dead") == 0


def now_iso(offset: float = 0.0) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=offset)).isoformat()


def test_ticket_created_after_a_new_super_admin_reaches_them_before_the_change_is_announced(
    start: Callable[[type], ServiceContainer], vhost_uri: str
) -> None:
    """The permissions change is committed, but its ``user_updated`` event (another queue) has not
    reached notifications yet: a ticket created after the change must still reach the new admin."""
    DIRECTORY.update(super_admin_ids=[1], user_count=3)
    start(FakePermissions)
    start(FakeTickets)
    notifications = start(NotificationsService)
    with entrypoint_waiter(notifications, "handle_ticket_created", timeout=15):
        publish_event(
            vhost_uri, tickets_contract.SERVICE_NAME, tickets_contract.TICKET_CREATED, created_now(41)
        )
    asked_before = admin_lookups()

    DIRECTORY.update(super_admin_ids=[1, 2])  # user 2 made super admin; no event published (yet)
    eventlet.sleep(0.6)  # the ticket below is created after the change, on any clock
    with entrypoint_waiter(notifications, "handle_ticket_created", timeout=15):
        publish_event(
            vhost_uri, tickets_contract.SERVICE_NAME, tickets_contract.TICKET_CREATED, created_now(42)
        )
    assert [i["ticket_id"] for i in feed(vhost_uri, 2)] == [42], "the new admin missed a ticket"
    assert [i["ticket_id"] for i in feed(vhost_uri, 1)] == [42, 41]
    assert admin_lookups() > asked_before, "a ticket newer than the cached answer must ask again"

    # A ticket created before the last answer was fetched is served from the cache.
    asked_now = admin_lookups()
    with entrypoint_waiter(notifications, "handle_ticket_created", timeout=15):
        publish_event(
            vhost_uri,
            tickets_contract.SERVICE_NAME,
            tickets_contract.TICKET_CREATED,
            {**created_now(43), "occurred_at": now_iso(-5.0)},
        )
    assert admin_lookups() == asked_now, "the cache must still serve events older than its answer"
    assert [i["ticket_id"] for i in feed(vhost_uri, 2)] == [43, 42]


def test_the_feed_shows_counts_and_marks_only_what_its_reader_may_see_now_asking_as_the_reader(
    start: Callable[[type], ServiceContainer], vhost_uri: str
) -> None:
    start(FakePermissions)
    start(FakeTickets)
    notifications = start(NotificationsService)
    for ticket_id in (81, 82):
        with entrypoint_waiter(notifications, "handle_ticket_created", timeout=15):
            publish_event(
                vhost_uri,
                tickets_contract.SERVICE_NAME,
                tickets_contract.TICKET_CREATED,
                ticket_created(ticket_id, actor_id=5),
            )
    assert [i["ticket_id"] for i in feed(vhost_uri, 1)] == [82, 81]
    [hidden] = [i["id"] for i in feed(vhost_uri, 1) if i["ticket_id"] == 82]

    HIDDEN.add(82)  # the admin may no longer see ticket 82 (demoted, reassigned, in the bin...)
    VISIBILITY.clear()
    with as_user(vhost_uri, 1) as api:
        page = api.list_feed({"limit": 100})
        assert [i["ticket_id"] for i in page["items"]] == [81]
        assert (page["total"], page["unread"]) == (1, 1)
        assert api.unread_count() == {"unread": 1, "marked": 0}
        with pytest.raises(NotFound):
            api.mark_read(hidden)
        read = api.mark_read(page["items"][0]["id"])
        assert read["read"] is True and api.unread_count()["unread"] == 0
    assert VISIBILITY, "the tickets service was not asked"
    assert {(c.user_id, c.system) for c, _ids in VISIBILITY} == {(1, False)}, "asked as the reader"

    HIDDEN.clear()
    assert [(i["ticket_id"], i["read"]) for i in feed(vhost_uri, 1)] == [(82, False), (81, True)]


def admin_lookups() -> int:
    """How often the permissions service was asked who the super admins are."""
    return sum(1 for what, _ in ASKED if what in ("admin_directory", "super_admin_ids"))


def created_now(ticket_id: int) -> dict[str, Any]:
    return {**ticket_created(ticket_id, actor_id=3), "occurred_at": now_iso()}
