"""Running the tickets service for component tests: one real container, its database,
a fake permissions service on the same broker vhost, and RPC clients acting as
given callers."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import sqlalchemy as sa
from nameko.standalone.rpc import ServiceRpcProxy

from services.chassis.errors import NotFound
from services.chassis.identity import CONTEXT_KEY, Caller, sign
from services.chassis.rpc import rpc
from services.permissions import contract as permissions_contract
from services.tickets import contract
from services.tickets.service import TicketsService
from tests.conftest import IDENTITY_SECRET

ADMIN = Caller(1, "admin", frozenset({"super_admin"}), "everything")
AGENT = Caller(2, "agent", frozenset({"service_access"}), "everything")
SALES = Caller(3, "sales", frozenset({"sales_access"}), "owned", include_unassigned=True)
OWNED = Caller(4, "owned", frozenset({"service_access"}), "owned")
NOBODY = Caller(5, "no access", frozenset({"delete_tickets"}), "everything")
ACCOUNT = Caller(6, "account admin", frozenset({"account_access", "service_access"}), "everything")

USERS: dict[int, dict[str, Any]] = {
    c.user_id: {"id": c.user_id, "name": c.name, "permissions": sorted(c.permissions)}
    for c in (ADMIN, AGENT, SALES, OWNED, NOBODY, ACCOUNT)
}


class FakePermissions:
    """Stands in for the permissions service: answers ``get_user`` from :data:`USERS`."""

    name = permissions_contract.SERVICE_NAME

    @rpc
    def get_user(self, user_id: int) -> dict[str, Any]:
        if user_id not in USERS:
            raise NotFound(f"user {user_id} does not exist")
        return USERS[user_id]


class Tickets:
    """The running service: ``as_(caller)`` gives an RPC proxy acting as that caller."""

    def __init__(self, config: dict[str, Any], stack: ExitStack) -> None:
        self.config = config
        self._stack = stack
        self._proxies: dict[Caller, Any] = {}
        self.engine = sa.create_engine(config["DB_URL"])
        stack.callback(self.engine.dispose)

    def as_(self, caller: Caller) -> Any:
        if caller not in self._proxies:
            proxy = ServiceRpcProxy(
                contract.SERVICE_NAME,
                self.config,
                context_data={CONTEXT_KEY: sign(caller, IDENTITY_SECRET, ttl=600)},
                timeout=30,
            )
            self._proxies[caller] = self._stack.enter_context(proxy)
        return self._proxies[caller]

    def events(self, event_type: str | None = None) -> list[tuple[str, dict[str, Any]]]:
        """Events recorded in the service's outbox, oldest first."""
        query = "SELECT event_type, payload FROM outbox ORDER BY id"
        with self.engine.connect() as conn:
            rows = conn.execute(sa.text(query)).all()
        found = [(r.event_type, json.loads(r.payload)) for r in rows]
        return [e for e in found if event_type is None or e[0] == event_type]


def running_tickets(
    container_factory: Callable[..., Any], service_config: Callable[..., dict[str, Any]]
) -> Iterator[Tickets]:
    """Body of each test module's ``tickets`` fixture: start both containers, yield the handle."""
    config = service_config("tickets")
    container_factory(TicketsService, config).start()
    container_factory(FakePermissions, config).start()
    with ExitStack() as stack:
        yield Tickets(config, stack)
