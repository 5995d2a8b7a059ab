"""The notifications service's logic without a broker: entrypoints called in-process through
``worker_factory`` on a real store and database, with a fake tickets service whose ``audience``
is a table (tickets, owners, followers, who may see what) and whose ``visible_tickets`` answers as the
caller (:meth:`FakeTickets.as_`), a fake permissions service, a manual
clock and a transport that keeps what it is given.

Events go in as the chassis would hand them over (JSON payloads, loaded by the handler with
the producer's contract), and every answer goes through JSON as it would on the wire.
"""

from __future__ import annotations

import datetime as dt
import email
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from typing import Any

import sqlalchemy as sa
from nameko.testing.services import worker_factory

from services.chassis.batches import BatchSubscription
from services.chassis.cache import EventFlushedCache
from services.chassis.clock import ManualClock
from services.chassis.db import SessionFactory, make_engine
from services.chassis.errors import Forbidden, NotFound, ValidationFailed
from services.chassis.identity import Caller
from services.notifications.directory import Directory
from services.notifications.sender import NotificationMailSender
from services.notifications.service import NotificationsService
from services.notifications.store import MailSettings, NotificationStore
from services.permissions import contract as permissions_contract
from services.permissions.contract import works_tickets
from services.tickets import contract as tickets_contract

START = dt.datetime(2026, 5, 4, 9, 0, tzinfo=dt.UTC)
BASE_URL = "https://desk.example.com"
ADMIN = Caller(1, "Ada Admin", frozenset({"super_admin"}), "everything")
AGENT = Caller(2, "Agnes Agent", frozenset({"service_access"}), "everything")
OTHER = Caller(3, "Otto Other", frozenset({"service_access"}), "everything")
FOLLOWER = Caller(4, "Fiona Follower", frozenset({"service_access"}), "everything")
ACCOUNT = Caller(6, "Alma Account", frozenset({"account_access", "service_access"}), "everything")
OWNED = Caller(7, "Olga Owned", frozenset({"service_access"}), "owned")
PEOPLE = (ADMIN, AGENT, OTHER, FOLLOWER, ACCOUNT, OWNED)


@dataclass
class FakeTicket:
    name: str
    owner_id: int | None = None
    followers: set[int] = field(default_factory=set)


class FakeTickets:
    """Answers ``audience`` from :attr:`tickets` and :attr:`hidden_from` (user -> ticket ids), and,
    asked as a caller (:meth:`as_`), ``visible_tickets`` by a stand-in for the one access rule:
    live tickets (not in :attr:`deleted`) not hidden from the caller, all of them for super admins
    and ``everything``, those they own for ``owned``; Forbidden without service or sales access.
    :attr:`down` makes ``visible_tickets`` raise it; :attr:`visibility_calls` keeps who asked
    about which ids."""

    def __init__(self) -> None:
        self.tickets: dict[int, FakeTicket] = {}
        self.hidden_from: dict[int, set[int]] = {}
        self.deleted: set[int] = set()
        self.calls: list[tuple[int, list[int], bool]] = []
        self.batches: list[int] = []
        self.visibility_calls: list[tuple[int, list[int]]] = []
        self.down: Exception | None = None

    def as_system(self) -> FakeTickets:
        return self

    def as_(self, caller: Caller | None) -> CallerTickets:
        return CallerTickets(self, caller)

    def visible_to(self, caller: Caller, ticket_ids: list[int]) -> list[int]:
        if self.down is not None:
            raise self.down
        if len(ticket_ids) > tickets_contract.MAX_BULK:  # as the tickets service
            raise ValidationFailed(errors={"ticket_ids": ["too many"]})
        self.visibility_calls.append((caller.user_id, list(ticket_ids)))
        if not works_tickets(caller):
            raise Forbidden("Tickets need service or sales access.")
        everything = caller.is_super_admin or caller.access_level == "everything"
        hidden = self.deleted | self.hidden_from.get(caller.user_id, set())
        return sorted(
            ticket_id
            for ticket_id in ticket_ids
            if (ticket := self.tickets.get(ticket_id)) is not None
            and ticket_id not in hidden
            and (everything or (caller.access_level == "owned" and ticket.owner_id == caller.user_id))
        )

    def audience(
        self,
        ticket_id: int,
        user_ids: list[int] | None = None,
        watchers: bool = False,
        as_of: str | None = None,
    ) -> dict[str, Any]:
        self.calls.append((ticket_id, list(user_ids or []), watchers))
        ticket = self.tickets.get(ticket_id)
        if ticket is None:
            raise NotFound(f"ticket {ticket_id} does not exist")
        wanted = set(user_ids or [])
        if watchers:
            wanted |= ticket.followers | ({ticket.owner_id} if ticket.owner_id else set())
        visible = sorted(uid for uid in wanted if ticket_id not in self.hidden_from.get(uid, set()))
        return {
            "id": ticket_id,
            "name": ticket.name,
            "owner_id": ticket.owner_id,
            "followers": sorted(ticket.followers) if watchers else [],
            "visible": visible,
        }

    def audiences(self, questions: list[dict[str, Any]]) -> list[dict[str, Any] | None]:
        self.batches.append(len(questions))
        answers: list[dict[str, Any] | None] = []
        for question in questions:
            try:
                answers.append(self.audience(**question))
            except NotFound:
                answers.append(None)
        return answers


class CallerTickets:
    """The fake tickets service as one worker's client: ``visible_tickets`` asks as its caller,
    everything else (and :meth:`as_system`) is the system's."""

    def __init__(self, tickets: FakeTickets, caller: Caller | None) -> None:
        self._tickets = tickets
        self._caller = caller

    def as_system(self) -> FakeTickets:
        return self._tickets

    def visible_tickets(self, ticket_ids: list[int], closed: bool | None = None) -> list[int]:
        assert self._caller is not None, "visible_tickets needs a caller"
        return self._tickets.visible_to(self._caller, _wire(ticket_ids))

    def __getattr__(self, method: str) -> Any:
        return getattr(self._tickets, method)


def _takes_batches(handler: str) -> bool:
    entrypoints = getattr(getattr(NotificationsService, handler), "nameko_entrypoints", ())
    return any(isinstance(entrypoint, BatchSubscription) for entrypoint in entrypoints)


class FakePermissions:
    def __init__(self) -> None:
        self.people = {c.user_id: c for c in PEOPLE}
        self.asked: list[int] = []  # how many ids each access_records call named

    def as_system(self) -> FakePermissions:
        return self

    def super_admin_ids(self) -> list[int]:
        return sorted(uid for uid, c in self.people.items() if "super_admin" in c.permissions)

    def user_count(self) -> int:
        return len(self.people)

    def admin_directory(self) -> dict[str, Any]:
        return {"super_admin_ids": self.super_admin_ids(), "user_count": self.user_count()}

    def access_records(self, user_ids: list[int]) -> list[dict[str, Any]]:
        if len(user_ids) > permissions_contract.MAX_ACCESS_RECORDS:  # as the permissions service
            raise ValidationFailed(errors={"user_ids": ["too many"]})
        self.asked.append(len(user_ids))
        return [
            {"user_id": uid, "name": c.name, "email": f"user{uid}@example.com", "caller": c.to_wire()}
            for uid in user_ids
            if (c := self.people.get(uid)) is not None
        ]


class KeepingTransport:
    """A transport that keeps every message it is given."""

    blocking = False

    def __init__(self) -> None:
        self.sent: list[tuple[str, list[str], bytes]] = []

    def send(self, mail_from: str, recipients: list[str], raw: bytes) -> None:
        self.sent.append((mail_from, recipients, raw))

    def messages(self) -> list[EmailMessage]:
        return [email.message_from_bytes(raw, policy=policy.default) for _, _, raw in self.sent]


def _wire(value: Any) -> Any:
    return json.loads(json.dumps(value))


class Notifications:
    """The service's logic on one database."""

    def __init__(self, url: str, *, daily_cap: int = 1000) -> None:
        self.engine = make_engine(url)
        self.clock = ManualClock(START)
        settings = MailSettings(
            from_address="support@desk.example.com", base_url=BASE_URL, daily_cap=daily_cap
        )
        self.store = NotificationStore(SessionFactory(self.engine), clock=self.clock, mail=settings)
        self.tickets = FakeTickets()
        self.permissions = FakePermissions()
        self.directory = Directory()
        self.directory.cache = EventFlushedCache(60.0)
        self.transport = KeepingTransport()
        self.sender = NotificationMailSender.__new__(NotificationMailSender)
        self.sender.transport = self.transport
        self.sender._store = lambda: self.store  # type: ignore[method-assign]

    def _service(self, caller: Caller | None) -> Any:
        return worker_factory(
            NotificationsService,
            store=self.store,
            caller=caller,
            tickets=self.tickets.as_(caller),
            permissions=self.permissions,
            directory=self.directory,
        )

    def as_(self, caller: Caller) -> Any:
        service = self._service(caller)

        class Api:
            def __getattr__(self, method: str) -> Callable[..., Any]:
                entrypoint = getattr(service, method)
                return lambda *args, **kwargs: _wire(entrypoint(*_wire(args), **_wire(kwargs)))

        return Api()

    def handle(self, handler: str, payload: dict[str, Any]) -> None:
        """Deliver an event to ``handler`` as the chassis would (a JSON payload; a batch of one
        to a handler that takes batches)."""
        if _takes_batches(handler):
            self.handle_batch(handler, [payload])
        else:
            getattr(self._service(None), handler)(_wire(payload))

    def handle_batch(self, handler: str, payloads: list[dict[str, Any]]) -> None:
        """Deliver events to a batch handler as the chassis would (a list of JSON payloads)."""
        assert _takes_batches(handler), f"{handler} does not take batches"
        getattr(self._service(None), handler)([_wire(payload) for payload in payloads])

    def send_digests(self) -> None:
        self._service(None).send_digests()

    def send_mail(self) -> list[EmailMessage]:
        """Run the sender over everything due now; the messages it handed to the transport."""
        before = len(self.transport.sent)
        while self.sender.send_due():
            pass
        return self.transport.messages()[before:]

    def rows(self, query: str) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(sa.text(query)).all())

    def events(self, event_type: str | None = None) -> list[dict[str, Any]]:
        rows = self.rows("SELECT event_type, payload FROM outbox ORDER BY id")
        return [json.loads(r.payload) for r in rows if event_type is None or r.event_type == event_type]


def event_base(**fields: Any) -> dict[str, Any]:
    return {"event_id": str(uuid.uuid4()), "occurred_at": START.isoformat(), **fields}


def ticket_updated(
    ticket_id: int, actor_id: int, changes: dict[str, list[Any]], **extra: Any
) -> dict[str, Any]:
    return event_base(
        ticket_id=ticket_id, actor_id=actor_id, changes=changes, owner_id=None, version=2, **extra
    )


def message_added(ticket_id: int | None, kind: str, author_id: int | None, **extra: Any) -> dict[str, Any]:
    return event_base(
        thread_id=1,
        ticket_id=ticket_id,
        message_id=1,
        kind=kind,
        channel="email",
        author_id=author_id,
        auto=extra.pop("auto", None),
        mentions=extra.pop("mentions", []),
        at=START.isoformat(),
        **extra,
    )


def ticket_created(
    ticket_id: int, actor_id: int, owner_id: int | None = None, **extra: Any
) -> dict[str, Any]:
    return event_base(
        ticket_id=ticket_id,
        actor_id=actor_id,
        owner_id=owner_id,
        team_id=None,
        pipeline_id=1,
        status=1,
        priority="medium",
        name=f"ticket {ticket_id}",
        **extra,
    )


def local_notifications(make_db: Callable[[str], str], **kwargs: Any) -> Iterator[Notifications]:
    notifications = Notifications(make_db("notifications"), **kwargs)
    yield notifications
    notifications.engine.dispose()
