"""The tickets and conversations services (and retention) in one process, wired to each other
without a broker: each service's ``ServiceRpc`` dependency is a :class:`Link` that calls the
other's entrypoints through ``worker_factory`` (arguments and answers through JSON, errors as
their own classes), and :meth:`World.pump` plays the outbox relay and the subscriptions.

A service can be taken down (:attr:`World.down`): a call to it raises ServiceUnavailable, as
the chassis's client does while a service is unreachable; or its answers can be lost
(:attr:`World.lost`): the call runs, then the caller gets ServiceUnavailable anyway. All
stores share one ManualClock, so retention periods pass without sleeping.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from nameko.testing.services import worker_factory

from services.chassis.clock import ManualClock
from services.chassis.db import SessionFactory, make_engine
from services.chassis.errors import ServiceUnavailable
from services.chassis.identity import Caller
from services.conversations import contract as conversations_contract
from services.conversations.blobs import FolderBlobs
from services.conversations.service import ConversationsService
from services.conversations.store import ConversationStore
from services.retention.service import RetentionService
from services.retention.store import RetentionStore
from services.tickets.service import TicketsService
from services.tickets.store import TicketStore
from tests.service.conversations_harness import SUPPORT, mail
from tests.service.tickets_harness import USERS, FakePermissions

START = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)

SYSTEM = Caller(0, "system:test", system=True)
ADMIN = Caller(1, "admin", frozenset({"super_admin"}), "everything")
AGENT = Caller(2, "agent", frozenset({"service_access"}), "everything")
SEATED = Caller(7, "seated", frozenset({"service_access"}), "everything", seat=True)
DELETER = Caller(8, "deleter", frozenset({"service_access", "delete_tickets", "bulk_delete"}), "everything")
ACCOUNT = Caller(6, "account admin", frozenset({"account_access", "service_access"}), "everything")
OWNED = Caller(4, "owned", frozenset({"service_access", "delete_tickets"}), "owned")

for _c in (SEATED, DELETER):
    USERS.setdefault(_c.user_id, {"id": _c.user_id, "name": _c.name, "permissions": sorted(_c.permissions)})

__all__ = ["ACCOUNT", "ADMIN", "AGENT", "DELETER", "OWNED", "SEATED", "START", "SYSTEM", "World", "mail"]


def _wire(value: Any) -> Any:
    return json.loads(json.dumps(value))


class Link:
    """What a worker's ``ServiceRpc`` gives it: ``link.method(...)`` calls the other service as ``caller``."""

    def __init__(self, world: World, service: str, caller: Caller | None) -> None:
        self._world = world
        self._service = service
        self._caller = caller

    def as_system(self) -> Link:
        return Link(self._world, self._service, SYSTEM)

    def with_timeout(self, timeout: float) -> Link:
        return self

    def __getattr__(self, method: str) -> Callable[..., Any]:
        if method.startswith("_"):
            raise AttributeError(method)

        def call(*args: Any, **kwargs: Any) -> Any:
            if self._service in self._world.down:
                raise ServiceUnavailable(f"The {self._service} service is not available.")
            self._world.calls.append((self._service, method))
            instance = self._world.instance(self._service, self._caller)
            answer = _wire(getattr(instance, method)(*_wire(args), **_wire(kwargs)))
            if self._service in self._world.lost:  # it ran, but its answer never came back
                raise ServiceUnavailable("The broker connection was lost during the call.")
            return answer

        return call


class _Sweeper:
    """Stands in for a service the world does not run: its housekeeping sweeps nothing."""

    def __init__(self, world: World, name: str) -> None:
        self.world = world
        self.name = name

    def as_system(self) -> _Sweeper:
        return self

    def housekeep(self, cutoff: str, limit: int) -> dict[str, int]:
        self.world.housekept.append(self.name)
        return {"outbox": 0}


class World:
    """Tickets and conversations (and, once built, retention) on their own databases, one clock."""

    def __init__(self, make_db: Callable[[str], str], tmp_path: Path) -> None:
        self.clock = ManualClock(START)
        self.tickets_engine = make_engine(make_db("tickets"))
        self.conversations_engine = make_engine(make_db("conversations"))
        self.tickets_store = TicketStore(SessionFactory(self.tickets_engine), clock=self.clock)
        self.conversations_store = ConversationStore(
            SessionFactory(self.conversations_engine), clock=self.clock
        )
        self.blobs = FolderBlobs(tmp_path / "blobs")
        self.config = {"MAIL_FROM": SUPPORT, "DATA_DIR": str(tmp_path)}
        self.down: set[str] = set()
        self.lost: set[str] = set()
        self.calls: list[tuple[str, str]] = []
        self.extra: dict[str, Callable[[Caller | None], Any]] = {}
        self.retention_engine: sa.Engine | None = None

    def close(self) -> None:
        self.tickets_engine.dispose()
        self.conversations_engine.dispose()
        if self.retention_engine is not None:
            self.retention_engine.dispose()

    def enable_retention(self, url: str, **config: Any) -> None:
        """Add the retention service (its own database, this world's clock); ``config`` as its YAML."""
        self.retention_engine = make_engine(url)
        self.retention_store = RetentionStore(SessionFactory(self.retention_engine), clock=self.clock)
        self.retention_config = {
            "SPAM_DAYS": 90,
            "BIN_DAYS": 90,
            "HOUSEKEEPING_DAYS": 30,
            "PURGE_PAUSE": 0,
            **config,
        }
        self.housekept: list[str] = []

        def housekeeping(name: str) -> Link:
            return _Sweeper(self, name)  # type: ignore[return-value]

        self.extra["retention"] = lambda caller: worker_factory(
            RetentionService,
            store=self.retention_store,
            config=self.retention_config,
            caller=caller,
            tickets=Link(self, "tickets", caller),
            conversations=Link(self, "conversations", caller),
            permissions=housekeeping("permissions"),
            notifications=housekeeping("notifications"),
        )

    def retention(self, caller: Caller) -> Link:
        return Link(self, "retention", caller)

    # -- calling -----------------------------------------------------------------------------------------
    def instance(self, service: str, caller: Caller | None) -> Any:
        if service == "tickets":
            return worker_factory(
                TicketsService,
                store=self.tickets_store,
                caller=caller,
                permissions=FakePermissions(),
                conversations=Link(self, "conversations", caller),
            )
        if service == "conversations":
            return worker_factory(
                ConversationsService,
                store=self.conversations_store,
                blobs=self.blobs,
                caller=caller,
                tickets=Link(self, "tickets", caller),
                config=self.config,
            )
        return self.extra[service](caller)

    def tickets(self, caller: Caller) -> Link:
        return Link(self, "tickets", caller)

    def conversations(self, caller: Caller) -> Link:
        return Link(self, "conversations", caller)

    # -- customers ---------------------------------------------------------------------------------------
    def deliver(self, raw: bytes, mail_from: str = "customer@example.com") -> None:
        """A mail as the SMTP edge hands it to conversations (then the events are pumped)."""
        payload = {
            "event_id": str(uuid.uuid4()),
            "occurred_at": self.clock.now().isoformat(),
            "edge_id": str(uuid.uuid4()),
            "received_at": self.clock.now().isoformat(),
            "mail_from": mail_from,
            "rcpt_tos": [SUPPORT],
            "peer": "127.0.0.1:1234",
            "raw_b64": base64.b64encode(raw).decode("ascii"),
        }
        self.instance("conversations", None).handle_mail_received(payload)
        self.pump()

    def email_ticket(
        self, *, subject: str = "Printer on fire", messages: int = 1, sender: str | None = None
    ) -> dict[str, Any]:
        """A ticket made by a customer's mail, with ``messages`` customer messages on its one thread."""
        first = f"{uuid.uuid4().hex}@example.com"
        who = sender or f"Cora <cora-{uuid.uuid4().hex[:6]}@example.com>"
        self.deliver(mail(subject=subject, message_id=first, sender=who))
        thread = self.thread_of_message(first)
        for n in range(messages - 1):
            self.deliver(
                mail(subject=f"Re: {subject}", message_id=f"{n}-{first}", in_reply_to=first, sender=who)
            )
        return {
            "ticket_id": thread["ticket_id"],
            "thread_id": thread["thread_id"],
            "message_id": first,
            "sender": who,
        }

    def customer_replies(self, *, message_id: str, sender: str) -> None:
        """The customer who sent ``message_id`` answers it (on its thread, wherever that is now)."""
        self.deliver(mail(subject="Re: more", in_reply_to=message_id, sender=sender))

    def thread_of_message(self, email_message_id: str) -> dict[str, Any]:
        with self.conversations_engine.connect() as conn:
            row = conn.execute(
                sa.text(
                    "SELECT t.id AS thread_id, t.ticket_id FROM messages m"
                    " JOIN threads t ON t.id = m.thread_id WHERE m.email_message_id = :mid"
                ),
                {"mid": email_message_id},
            ).one()
        return {"thread_id": row.thread_id, "ticket_id": row.ticket_id}

    # -- events ------------------------------------------------------------------------------------------
    def pump(self) -> int:
        """Relay every unpublished outbox row to the subscriptions of this world; returns how many."""

        def both(p: dict[str, Any]) -> None:
            self.instance("tickets", None).handle_message_added(p)
            self.instance("conversations", None).handle_message_added(p)  # the search document

        conversations = conversations_contract.SERVICE_NAME
        handlers: dict[tuple[str, str], Callable[[dict[str, Any]], None]] = {
            (conversations, conversations_contract.MESSAGE_ADDED): both,
            (conversations, conversations_contract.THREAD_ATTACHED): lambda p: self.instance(
                "conversations", None
            ).handle_thread_attached(p),
            (conversations, conversations_contract.THREAD_MOVED): lambda p: self.instance(
                "conversations", None
            ).handle_thread_moved(p),
        }
        sent = 0
        for service, engine in (
            ("conversations", self.conversations_engine),
            ("tickets", self.tickets_engine),
        ):
            with engine.begin() as conn:
                rows = conn.execute(
                    sa.text(
                        "SELECT id, event_type, payload FROM outbox WHERE published_at IS NULL ORDER BY id"
                    )
                ).all()
                if rows:
                    conn.execute(
                        sa.text(
                            "UPDATE outbox SET published_at = :now WHERE id <= :last AND published_at IS NULL"
                        ),
                        {"now": self.clock.now(), "last": rows[-1].id},
                    )
            for row in rows:
                handler = handlers.get((service, row.event_type))
                if handler is not None:
                    handler(json.loads(row.payload))
                sent += 1
        return sent

    def events(self, service: str, event_type: str | None = None) -> list[dict[str, Any]]:
        engine = self.tickets_engine if service == "tickets" else self.conversations_engine
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT event_type, payload FROM outbox ORDER BY id")).all()
        return [json.loads(r.payload) for r in rows if event_type is None or r.event_type == event_type]

    def resume(self) -> None:
        """One tick of the tickets service's resume sweep (leases run out first, as after a crash)."""
        self.clock.advance(seconds=11)
        self.instance("tickets", None).resume_jobs()
        self.pump()

    # -- looking inside ----------------------------------------------------------------------------------
    def threads(self) -> list[Any]:
        with self.conversations_engine.connect() as conn:
            return list(conn.execute(sa.text("SELECT * FROM threads ORDER BY id")).all())

    def tickets_rows(self) -> list[Any]:
        with self.tickets_engine.connect() as conn:
            return list(conn.execute(sa.text("SELECT * FROM tickets ORDER BY id")).all())

    def followers_rows(self) -> list[Any]:
        with self.tickets_engine.connect() as conn:
            return list(
                conn.execute(sa.text("SELECT * FROM ticket_followers ORDER BY ticket_id, user_id")).all()
            )

    def jobs(self) -> list[Any]:
        with self.tickets_engine.connect() as conn:
            return list(conn.execute(sa.text("SELECT * FROM jobs ORDER BY id")).all())


def local_world(make_db: Callable[[str], str], tmp_path: Path) -> Iterator[World]:
    world = World(make_db, tmp_path)
    yield world
    world.close()
