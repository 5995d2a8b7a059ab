"""The conversations service's logic without a broker: entrypoints called in-process through
``worker_factory`` on a real store and database, with a fake tickets service whose access
rule is a table (who sees which ticket), a fake permissions service knowing the callers
below, a real blob folder, and mail given as raw bytes the way the SMTP edge hands it over."""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from nameko.testing.services import worker_factory

from services.chassis.db import SessionFactory, make_engine
from services.chassis.errors import NotFound, PreconditionFailed, ServiceUnavailable, ValidationFailed
from services.chassis.identity import Caller
from services.chassis.schema import load
from services.conversations.blobs import FolderBlobs
from services.conversations.service import ConversationsService
from services.conversations.store import ConversationStore
from services.tickets import contract as tickets_contract

ADMIN = Caller(1, "Ada Admin", frozenset({"super_admin"}), "everything")
AGENT = Caller(2, "Agnes Agent", frozenset({"service_access"}), "everything")
OWNED = Caller(4, "Olaf Owned", frozenset({"service_access"}), "owned")
ACCOUNT = Caller(6, "Alma Account", frozenset({"account_access", "service_access"}), "everything")
NOBODY = Caller(5, "Nora Nobody", frozenset({"delete_tickets"}), "everything")
OWNED_MOVER = Caller(7, "Otto Owned", frozenset({"account_access", "service_access"}), "owned")
SUPPORT = "support@helpdesk.test"


class FakePermissions:
    """Stands in for the permissions client: ``get_user`` knows the callers above, as
    :attr:`people` has them (change it to take someone's access away)."""

    def __init__(self) -> None:
        self.people = {c.user_id: c for c in (ADMIN, AGENT, OWNED, ACCOUNT, NOBODY, OWNED_MOVER)}

    def as_system(self) -> FakePermissions:
        return self

    def get_user(self, user_id: int) -> dict[str, Any]:
        if user_id not in self.people:
            raise NotFound(f"user {user_id} does not exist")
        person = self.people[user_id]
        return {"id": user_id, "name": person.name, "permissions": sorted(person.permissions)}


class FakeTickets:
    """Stands in for the tickets service: makes tickets (once per idempotency key) and answers
    ``visible_tickets`` from :attr:`hidden_from` (user id -> ticket ids that user may not see)."""

    def __init__(self) -> None:
        self.made: dict[str, dict[str, Any]] = {}
        self.created: list[dict[str, Any]] = []
        self.updates: list[tuple[int, dict[str, Any]]] = []
        self.hidden_from: dict[int, set[int]] = {}
        self.down = False
        self.refused_names: set[str] = set()
        self.caller: Caller | None = None
        self.names: dict[int, str] = {}
        self.closed: set[int] = set()
        self.owners: dict[int, int | None] = {}
        self.versions: dict[int, int] = {}
        self.meanwhile: list[dict[str, Any]] = []  # edits others make just before the next updates

    def as_(self, caller: Caller) -> FakeTickets:
        self.caller = caller
        return self

    def as_system(self) -> FakeTickets:
        return self

    def create_ticket(self, data: dict[str, Any], idempotency_key: str | None = None) -> dict[str, Any]:
        """As the tickets service: its own schema checks ``data`` (and any name in
        :attr:`refused_names` is refused too, for a rule the caller does not know)."""
        if self.down:
            raise ServiceUnavailable("tickets is down")
        load(tickets_contract.TicketCreateSchema, data)
        if data.get("name") in self.refused_names:
            raise ValidationFailed(errors={"name": ["is refused by this test"]})
        key = idempotency_key or uuid.uuid4().hex
        if key not in self.made:
            ticket = {"id": 100 + len(self.made), **data}
            self.made[key] = ticket
            self.created.append(ticket)
            self.names[ticket["id"]] = data["name"]
            self.owners[ticket["id"]] = data.get("owner_id")
        return self.made[key]

    def visible_tickets(self, ticket_ids: list[int], closed: bool | None = None) -> list[int]:
        assert self.caller is not None
        hidden = self.hidden_from.get(self.caller.user_id, set())
        found = [t for t in ticket_ids if t not in hidden and (t in self.names or t < 100)]
        return found if closed is None else [t for t in found if (t in self.closed) == closed]

    def get_ticket(self, ticket_id: int, mark_read: bool = True) -> dict[str, Any]:
        if ticket_id not in self.visible_tickets([ticket_id]):
            raise NotFound(f"ticket {ticket_id} does not exist")
        return {
            "id": ticket_id,
            "name": self.names.get(ticket_id, f"ticket {ticket_id}"),
            "owner_id": self.owners.get(ticket_id),
            "version": self.versions.get(ticket_id, 1),
        }

    def update_ticket(
        self, ticket_id: int, data: dict[str, Any], expected_versions: list[int] | None = None
    ) -> dict[str, Any]:
        """As the tickets service: a version other than ``expected_versions`` is 412 (an edit of
        :attr:`meanwhile` lands first, as someone else's)."""
        if self.meanwhile:
            self._apply(ticket_id, self.meanwhile.pop(0))
        if expected_versions is not None and self.versions.get(ticket_id, 1) not in expected_versions:
            raise PreconditionFailed(f"ticket {ticket_id} has changed")
        self.updates.append((ticket_id, data))
        self._apply(ticket_id, data)
        return {"id": ticket_id}

    def _apply(self, ticket_id: int, data: dict[str, Any]) -> None:
        if "owner_id" in data:
            self.owners[ticket_id] = data["owner_id"]
        self.versions[ticket_id] = self.versions.get(ticket_id, 1) + 1


def _wire(value: Any) -> Any:
    return json.loads(json.dumps(value))


class _Api:
    """The service's entrypoints as one caller; arguments and answers go through JSON."""

    def __init__(self, world: Conversations, caller: Caller) -> None:
        self._world = world
        self._caller = caller

    def __getattr__(self, method: str) -> Callable[..., Any]:
        service = self._world.service(self._caller)
        entrypoint = getattr(service, method)

        def call(*args: Any, **kwargs: Any) -> Any:
            return _wire(entrypoint(*_wire(args), **_wire(kwargs)))

        return call


class Conversations:
    """The service's logic on one database, with a fake tickets service."""

    def __init__(self, url: str, blob_dir: Path) -> None:
        self.engine = make_engine(url)
        self.store = ConversationStore(SessionFactory(self.engine))
        self.blobs = FolderBlobs(blob_dir)
        self.tickets = FakeTickets()
        self.permissions = FakePermissions()
        self.config = {"MAIL_FROM": SUPPORT, "DATA_DIR": str(blob_dir)}

    def service(self, caller: Caller | None) -> Any:
        tickets = self.tickets.as_(caller) if caller is not None else self.tickets
        return worker_factory(
            ConversationsService,
            store=self.store,
            blobs=self.blobs,
            caller=caller,
            tickets=tickets,
            permissions=self.permissions,
            config=self.config,
        )

    def as_(self, caller: Caller) -> Any:
        return _Api(self, caller)

    def deliver(self, raw: bytes, mail_from: str = "customer@example.com") -> None:
        """What the SMTP edge's ``mail_received`` event carries, handed to the handler."""
        payload = {
            "event_id": str(uuid.uuid4()),
            "occurred_at": dt.datetime.now(dt.UTC).isoformat(),
            "edge_id": str(uuid.uuid4()),
            "received_at": dt.datetime.now(dt.UTC).isoformat(),
            "mail_from": mail_from,
            "rcpt_tos": [SUPPORT],
            "peer": "127.0.0.1:1234",
            "raw_b64": base64.b64encode(raw).decode("ascii"),
        }
        self.service(None).handle_mail_received(payload)

    def events(self, event_type: str | None = None) -> list[tuple[str, dict[str, Any]]]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT event_type, payload FROM outbox ORDER BY id")).all()
        found = [(r.event_type, json.loads(r.payload)) for r in rows]
        return [e for e in found if event_type is None or e[0] == event_type]

    def outgoing(self) -> list[Any]:
        """The outgoing mail queue; ``raw`` as bytes (PostgreSQL hands BYTEA back as a memoryview)."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT * FROM outgoing_mail ORDER BY id")).all()
        return [SimpleNamespace(**{**row._mapping, "raw": bytes(row.raw)}) for row in rows]


def local_conversations(make_db: Callable[[str], str], tmp_path: Path) -> Iterator[Conversations]:
    world = Conversations(make_db("conversations"), tmp_path / "blobs")
    yield world
    world.engine.dispose()


def mail(
    *,
    subject: str = "Printer on fire",
    body: str = "Hello,\nthe printer is on fire.\n",
    sender: str = "Cora Customer <customer@example.com>",
    message_id: str | None = None,
    in_reply_to: str | None = None,
    cc: str | None = None,
    extra: str = "",
) -> bytes:
    """A plain text mail as a customer's client writes it."""
    headers = [
        f"From: {sender}",
        f"To: Support <{SUPPORT}>",
        f"Subject: {subject}",
        f"Message-ID: <{message_id or uuid.uuid4().hex + '@example.com'}>",
        "Date: Tue, 01 Dec 2026 10:00:00 +0100",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
    ]
    if in_reply_to:
        headers += [f"In-Reply-To: <{in_reply_to}>", f"References: <{in_reply_to}>"]
    if cc:
        headers.append(f"Cc: {cc}")
    if extra:
        headers.append(extra)
    return ("\r\n".join(headers) + "\r\n\r\n" + body.replace("\n", "\r\n")).encode()
