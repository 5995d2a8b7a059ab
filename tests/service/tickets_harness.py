"""The tickets service's logic without a broker: its entrypoints called in-process through
nameko's ``worker_factory``, on a real store and database, with a fake permissions client.

What the broker adds (signed identities, deadlines, the wire format of errors) is tested
once in the chassis's integration tests and the access matrix; here each call still
goes through JSON both ways, as it would on the wire, so a test sees what a caller sees.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import sqlalchemy as sa
from nameko.testing.services import worker_factory

from services.chassis.cache import EventFlushedCache
from services.chassis.clock import SYSTEM_CLOCK, Clock
from services.chassis.db import SessionFactory, make_engine
from services.chassis.errors import NotFound, ServiceUnavailable, ValidationFailed
from services.chassis.identity import Caller, Verifier
from services.permissions import contract as permissions_contract
from services.tickets.people import AccessDirectory, Identities
from services.tickets.service import TicketsService
from services.tickets.store import TicketStore
from tests.conftest import IDENTITY_SECRET

ADMIN = Caller(1, "admin", frozenset({"super_admin"}), "everything")
AGENT = Caller(2, "agent", frozenset({"service_access"}), "everything")
SALES = Caller(3, "sales", frozenset({"sales_access"}), "owned", include_unassigned=True)
OWNED = Caller(4, "owned", frozenset({"service_access"}), "owned")
NOBODY = Caller(5, "no access", frozenset({"delete_tickets"}), "everything")
ACCOUNT = Caller(6, "account admin", frozenset({"account_access", "service_access"}), "everything")

PEOPLE = (ADMIN, AGENT, SALES, OWNED, NOBODY, ACCOUNT)
USERS: dict[int, dict[str, Any]] = {
    c.user_id: {"id": c.user_id, "name": c.name, "permissions": sorted(c.permissions)} for c in PEOPLE
}
SYSTEM = Caller(0, "system:notifications", system=True)


TEAMS = {1: {"id": 1, "name": "Support"}, 2: {"id": 2, "name": "Billing"}}


class FakePermissions:
    """Stands in for the permissions client: answers ``get_user`` from :data:`USERS`, ``get_team``
    from :data:`TEAMS` and ``access_records`` from :attr:`people` (change it to take someone's
    access away)."""

    def __init__(self) -> None:
        self.people: dict[int, Caller] = {c.user_id: c for c in PEOPLE}
        self.asked: list[list[int]] = []

    def as_system(self) -> FakePermissions:
        return self

    def get_user(self, user_id: int) -> dict[str, Any]:
        if user_id not in USERS:
            raise NotFound(f"user {user_id} does not exist")
        return USERS[user_id]

    def get_team(self, team_id: int) -> dict[str, Any]:
        if team_id not in TEAMS:
            raise NotFound(f"team {team_id} does not exist")
        return TEAMS[team_id]

    def access_records(self, user_ids: list[int]) -> list[dict[str, Any]]:
        if len(user_ids) > permissions_contract.MAX_ACCESS_RECORDS:  # as the permissions service
            raise ValidationFailed(errors={"user_ids": ["too many"]})
        self.asked.append(list(user_ids))
        return [
            {"user_id": uid, "name": c.name, "email": f"u{uid}@test", "caller": c.to_wire()}
            for uid in user_ids
            if (c := self.people.get(uid)) is not None
        ]


class FakeConversations:
    """Stands in for the conversations client the ticket search asks: ``matching_tickets`` answers
    from :attr:`texts` (ticket id -> its conversation's text; every term must be in it, as the
    real service's ``LIKE``), and raises :class:`ServiceUnavailable` while :attr:`down`."""

    def __init__(self) -> None:
        self.texts: dict[int, str] = {}
        self.down = False
        self.asked: list[list[str]] = []

    def as_system(self) -> FakeConversations:
        return self

    def with_timeout(self, timeout: float) -> FakeConversations:
        return self

    def matching_tickets(self, terms: list[str]) -> list[int]:
        self.asked.append(list(terms))
        if self.down:
            raise ServiceUnavailable("conversations is not answering")
        found = [tid for tid, text in self.texts.items() if all(t in text.lower() for t in terms)]
        return sorted(found, reverse=True)


def _wire(value: Any) -> Any:
    return json.loads(json.dumps(value))


class _Caller:
    """Calls the service's entrypoints as one caller: ``api.create_ticket({...})``."""

    def __init__(
        self,
        store: TicketStore,
        caller: Caller,
        permissions: FakePermissions,
        people: AccessDirectory,
        conversations: FakeConversations,
    ) -> None:
        identities = Identities()
        identities.verifier = Verifier(IDENTITY_SECRET)
        self._service = worker_factory(
            TicketsService,
            store=store,
            caller=caller,
            permissions=permissions,
            people=people,
            identities=identities,
            conversations=conversations,
        )

    def __getattr__(self, method: str) -> Callable[..., Any]:
        entrypoint = getattr(self._service, method)

        def call(*args: Any, **kwargs: Any) -> Any:
            return _wire(entrypoint(*_wire(args), **_wire(kwargs)))

        return call


class Tickets:
    """The service's logic on one database: ``as_(caller)`` calls it as that caller."""

    def __init__(self, url: str, clock: Clock = SYSTEM_CLOCK) -> None:
        self.engine = make_engine(url)
        self.clock = clock
        self.store = TicketStore(SessionFactory(self.engine), clock=clock)
        self.permissions = FakePermissions()
        self.conversations = FakeConversations()
        self.people = AccessDirectory()
        self.people.cache = EventFlushedCache(60.0)  # flushed by hand in tests (no broker here)

    def as_(self, caller: Caller) -> Any:
        return _Caller(self.store, caller, self.permissions, self.people, self.conversations)

    def events(self, event_type: str | None = None) -> list[tuple[str, dict[str, Any]]]:
        """Events recorded in the service's outbox, oldest first."""
        query = "SELECT event_type, payload FROM outbox ORDER BY id"
        with self.engine.connect() as conn:
            rows = conn.execute(sa.text(query)).all()
        found = [(r.event_type, json.loads(r.payload)) for r in rows]
        return [e for e in found if event_type is None or e[0] == event_type]


def local_tickets(make_db: Callable[[str], str], clock: Clock = SYSTEM_CLOCK) -> Iterator[Tickets]:
    """Body of the ``tickets`` fixture: a migrated database and the service's logic on it."""
    tickets = Tickets(make_db("tickets"), clock)
    yield tickets
    tickets.engine.dispose()
